/*
 * src/shm/evict.c - finished jobs give up their slots to new work.
 *
 * One pass walks every slot once and keeps the `batch` oldest finished
 * jobs in a max-heap on finish time (the root is the youngest kept, the
 * first to drop when an older one turns up), then frees them oldest
 * first. The walk costs O(capacity); freeing a batch of capacity/16 per
 * walk makes it about 16 slot reads per evicting submit.
 */
#include "evict.h"

#include "atomics.h"
#include "job.h"
#include "layout.h"
#include "pause.h"

struct victim {
	uint64_t finish_ns;
	uint64_t word; /* the finished word the free CASes from */
	uint32_t slot;
};

struct victims {
	struct victim v[SHMRT__EVICT_BATCH_MAX];
	uint32_t n, max;
};

uint32_t shmrt__evict_batch(uint32_t capacity)
{
	uint32_t b = capacity / 16;

	return b < 1 ? 1 : b > SHMRT__EVICT_BATCH_MAX ? SHMRT__EVICT_BATCH_MAX : b;
}

static void swap(struct victim *a, struct victim *b)
{
	struct victim t = *a;

	*a = *b;
	*b = t;
}

static void sift_up(struct victims *h, uint32_t i)
{
	while (i > 0 && h->v[(i - 1) / 2].finish_ns < h->v[i].finish_ns) {
		swap(&h->v[(i - 1) / 2], &h->v[i]);
		i = (i - 1) / 2;
	}
}

static void sift_down(struct victims *h, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, big = i;

		if (l < h->n && h->v[l].finish_ns > h->v[big].finish_ns)
			big = l;
		if (r < h->n && h->v[r].finish_ns > h->v[big].finish_ns)
			big = r;
		if (big == i)
			return;
		swap(&h->v[i], &h->v[big]);
		i = big;
	}
}

/* Keep `c` if it is among the h->max oldest seen so far. */
static void offer(struct victims *h, struct victim c)
{
	if (h->n < h->max) {
		h->v[h->n] = c;
		sift_up(h, h->n++);
	} else if (c.finish_ns < h->v[0].finish_ns) {
		h->v[0] = c;
		sift_down(h, 0);
	}
}

/* Take the heap's youngest out (the caller frees in reverse order). */
static struct victim pop_youngest(struct victims *h)
{
	struct victim top = h->v[0];

	h->v[0] = h->v[--h->n];
	sift_down(h, 0);
	return top;
}

static void choose(const struct shmrt__qhandle *q, struct victims *h)
{
	uint32_t i;

	for (i = 0; i < q->capacity; i++) {
		struct shmrt__slot *s = shmrt__slot_at(q, i);
		uint64_t w = LD_ACQ(&s->word);

		if (!shmrt__state_final(shmrt__w_state(w)))
			continue;
		offer(h, (struct victim){ LD_RLX(&s->finish_ns), w, i });
	}
}

/* One pass: choose, then free oldest first. *chosen: how many were chosen. */
static uint32_t evict_pass(struct shmrt__seg *seg,
			   const struct shmrt__qhandle *q, uint32_t *chosen)
{
	struct victims h = { .n = 0, .max = shmrt__evict_batch(q->capacity) };
	struct victim order[SHMRT__EVICT_BATCH_MAX];
	uint32_t n, freed = 0;

	choose(q, &h);
	for (n = 0; h.n > 0; n++)
		order[n] = pop_youngest(&h);
	*chosen = n;
	SHMRT__PAUSE("evict.chosen");
	while (n-- > 0) {
		/* 1: freed; 0: moved on meanwhile; a lane head that is
		 * still needed is freed when its lane moves past it. */
		if (shmrt__job_free_slot(seg, q->index, order[n].slot,
					 order[n].word) == 1)
			freed++;
	}
	return freed;
}

uint32_t shmrt__evict_oldest(struct shmrt__seg *seg,
			     const struct shmrt__qhandle *q)
{
	uint32_t freed = 0, chosen = 0, pass;

	if (LD_RLX(&q->ctl->retention_strict) != 0)
		return 0;
	/* A pass whose every choice moved on meanwhile (released, or
	 * evicted by another producer) looks once more. */
	for (pass = 0; pass < 2 && freed == 0; pass++) {
		freed = evict_pass(seg, q, &chosen);
		if (chosen == 0)
			break;
	}
	if (freed > 0)
		ADD_RLX(&q->ctl->n_evicted, freed);
	return freed;
}
