/*
 * src/shm/slot.c - job slots at the bottom of the job layers (slot.h).
 *
 * The invariant that makes crashes survivable: a job that is QUEUED is
 * either in its queue's ring or named by some participant's push_value /
 * pop_value intent (or sits in a cell a dead popper took, which scan
 * releases). scan re-publishes what a dead participant's intents name, so
 * a QUEUED job always gets back into the ring.
 */
#include "slot.h"

#include <shmrt/error.h>
#include <string.h>

#include "atomics.h"
#include "error_detail.h"
#include "os.h"

static const char *const state_names[] = {
	[SHMRT_JOB_QUEUED] = "queued",	     [SHMRT_JOB_RUNNING] = "running",
	[SHMRT_JOB_SUCCEEDED] = "succeeded", [SHMRT_JOB_FAILED] = "failed",
	[SHMRT_JOB_CANCELLED] = "cancelled",
};

const char *shmrt_job_state_name(int state)
{
	if (state < 0 || state >= (int)(sizeof(state_names) / sizeof(*state_names)) ||
	    state_names[state] == NULL)
		return "unknown";
	return state_names[state];
}

/*
 * Shared bytes are copied with relaxed atomic word accesses: a seqlock
 * reader may overlap a writer, and the re-check of the slot word discards
 * what it read then. Buffers in a slot are 8-byte aligned.
 */
void shmrt__slot_write(unsigned char *dst, const void *src, size_t n)
{
	const unsigned char *s = src;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, s + i, 8);
		ST_RLX((uint64_t *)(void *)(dst + i), w);
	}
	for (; i < n; i++)
		ST_RLX(dst + i, s[i]);
}

/*
 * Acquire loads (plain loads on x86): the seqlock re-check of the slot word
 * that follows a read must not move before any of them.
 */
void shmrt__slot_read(void *dst, const unsigned char *src, size_t n)
{
	unsigned char *d = dst;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w = LD_ACQ((const uint64_t *)(const void *)(src + i));

		memcpy(d + i, &w, 8);
	}
	for (; i < n; i++)
		d[i] = LD_ACQ(src + i);
}

/* Next generation of a slot: never 0, so no id or ref is ever 0. */
static uint32_t next_gen(uint32_t gen)
{
	return gen + 1 == 0 ? 1 : gen + 1;
}

/*
 * Find a FREE slot and CAS it to RESERVED(owner). Starts where the last
 * search left off, so with jobs finishing roughly in order the first probe
 * usually succeeds. No intent is needed: a slot RESERVED by a dead owner is
 * freed by scan.
 */
int shmrt__slot_alloc(const struct shmrt__qhandle *q, uint32_t owner,
		      uint32_t *slot_out, uint32_t *gen_out)
{
	uint64_t start = ADD_RLX(&q->ctl->alloc_hint, 1);
	uint32_t k;

	for (k = 0; k < q->capacity; k++) {
		uint32_t i = (uint32_t)((start + k) % q->capacity);
		struct shmrt__slot *s = shmrt__slot_at(q, i);
		uint64_t w = LD_RLX(&s->word);
		uint32_t gen;

		if (shmrt__w_state(w) != SHMRT__S_FREE)
			continue;
		gen = next_gen(shmrt__w_gen(w));
		if (!CAS_AR(&s->word, &w,
			 shmrt__w_make(gen, 0, owner, SHMRT__S_RESERVED)))
			continue;
		if (k > 0)
			ST_RLX(&q->ctl->alloc_hint, start + k);
		*slot_out = i;
		*gen_out = gen;
		return 0;
	}
	return SHMRT_E_FULL;
}

/* How long a re-publish waits for a ring tail cell a popper still holds. */
#define REPUBLISH_TRIES 100
#define REPUBLISH_PAUSE_NS 20000

bool shmrt__job_republish(struct shmrt__part *p,
			  const struct shmrt__qhandle *q, uint64_t ref,
			  bool wake)
{
	struct shmrt__ring r = shmrt__queue_ring(q);
	struct shmrt__ring_intent in = shmrt__part_intent(p->rec);
	int tries, rc = SHMRT_E_FULL;

	/* A claimant with a stale heartbeat is taken for hung (scan.h);
	 * callers may have waited for a lock before this push. */
	shmrt__part_heartbeat(p);
	for (tries = 0; tries < REPUBLISH_TRIES && rc == SHMRT_E_FULL;
	     tries++) {
		if ((rc = shmrt__ring_push(&r, &in, ref)) == SHMRT_E_FULL)
			shmrt__os_sleep_ns(REPUBLISH_PAUSE_NS);
	}
	if (rc == 0 && wake)
		shmrt__waitq_post(&q->ctl->jobs_wq);
	ST_RLX(&p->rec->push_value, 0);
	return rc == 0;
}

const struct shmrt__qhandle *shmrt__queue_of(const struct shmrt__seg *seg,
					     uint32_t qi)
{
	return qi < seg->nqueues ? &seg->q[qi] : NULL;
}

int shmrt__job_free_raw(const struct shmrt__qhandle *q, uint32_t slot,
			uint64_t expected)
{
	struct shmrt__slot *s = shmrt__slot_at(q, slot);
	uint64_t freed = shmrt__w_make(shmrt__w_gen(expected), 0,
				       SHMRT__OWNER_NONE, SHMRT__S_FREE);

	if (!CAS_AR(&s->word, &expected, freed))
		return 0;
	shmrt__ec_inc(&q->ctl->space_ec);
	return 1;
}

/* Decode and bounds-check an id; NULL when it cannot name a slot. */
struct shmrt__slot *shmrt__slot_of_id(const struct shmrt__seg *seg,
				      shmrt_job_id id,
				      const struct shmrt__qhandle **qout)
{
	uint32_t qi = shmrt__id_queue(id);
	uint32_t slot = shmrt__id_slot(id);
	const struct shmrt__qhandle *q = shmrt__queue_of(seg, qi);

	if (q == NULL || slot >= q->capacity || shmrt__id_gen(id) == 0)
		return NULL;
	*qout = q;
	return shmrt__slot_at(q, slot);
}

/*
 * Why the word w of id's slot no longer shows id's job: SHMRT_E_EXPIRED
 * when the job was there and its slot was freed since (released, past
 * retention, or evicted: its generation is the slot's, now FREE, or an
 * older one), SHMRT_E_NOJOB when the id names no job this slot has held.
 */
int shmrt__job_gone(shmrt_job_id id, uint64_t w)
{
	uint32_t gen = shmrt__w_gen(w), want = shmrt__id_gen(id);
	uint32_t st = shmrt__w_state(w);

	if ((gen == want && st == SHMRT__S_FREE) ||
	    (gen != want && (int32_t)(gen - want) > 0))
		return shmrt__fail(SHMRT_E_EXPIRED,
				   "job %llu: its result is no longer kept "
				   "(released, past retention, or evicted "
				   "for new work)",
				   (unsigned long long)id.v);
	return SHMRT_E_NOJOB;
}

/*
 * Seqlock read of a slot: fields read between two equal loads of the word
 * belong to that word's job. The fields are read with acquire loads so the
 * second load of the word stays after them (no fence: TSan cannot model
 * one, and on x86 an acquire load is a plain load).
 */
static int snapshot(const struct shmrt__qhandle *q, struct shmrt__slot *s,
		    shmrt_job_id id, struct shmrt_job_info *info, void *buf,
		    size_t bufsize)
{
	for (;;) {
		uint64_t w1 = LD_ACQ(&s->word), w2;
		uint32_t st = shmrt__w_state(w1);
		size_t n;

		if (shmrt__w_gen(w1) != shmrt__id_gen(id) ||
		    st == SHMRT__S_FREE || st == SHMRT__S_RESERVED)
			return shmrt__job_gone(id, w1);
		memset(info, 0, sizeof(*info));
		info->id = id;
		/* Transient states show as the state they come from. */
		info->state = st == SHMRT__S_COMPLETING	   ? SHMRT_JOB_RUNNING
			      : st == SHMRT__S_CANCELLING ? SHMRT_JOB_QUEUED
							  : (int)st;
		info->attempt = shmrt__w_attempt(w1);
		info->payload_len = LD_ACQ(&s->payload_len);
		info->result_len = shmrt__state_final(st) ? LD_ACQ(&s->result_len) : 0;
		info->enqueue_ns = LD_ACQ(&s->enqueue_ns);
		info->start_ns = LD_ACQ(&s->start_ns);
		info->finish_ns = shmrt__state_final(st) ? LD_ACQ(&s->finish_ns) : 0;
		if (info->payload_len > q->slot_size ||
		    info->result_len > q->slot_size)
			return shmrt__fail(SHMRT_E_CORRUPT,
					   "status: slot length out of bounds");
		n = info->result_len < bufsize ? info->result_len : bufsize;
		if (buf != NULL && n > 0)
			shmrt__slot_read(buf, shmrt__slot_result(q, s), n);
		w2 = LD_RLX(&s->word); /* after the acquire loads above */
		if (w1 == w2)
			return 0;
	}
}

int shmrt__job_status(const struct shmrt__seg *seg, shmrt_job_id id,
		      struct shmrt_job_info *info, void *buf, size_t bufsize)
{
	const struct shmrt__qhandle *q;
	struct shmrt__slot *s = shmrt__slot_of_id(seg, id, &q);

	if (s == NULL)
		return SHMRT_E_NOJOB;
	return snapshot(q, s, id, info, buf, bufsize);
}

int shmrt__job_wait(struct shmrt__seg *seg, shmrt_job_id id,
		    uint64_t deadline_ns, struct shmrt_job_info *info,
		    void *buf, size_t bufsize)
{
	const struct shmrt__qhandle *q;
	struct shmrt__slot *s = shmrt__slot_of_id(seg, id, &q);

	if (s == NULL)
		return SHMRT_E_NOJOB;
	for (;;) {
		uint32_t v = shmrt__ec_value(&s->done_ec);
		int rc = snapshot(q, s, id, info, buf, bufsize);

		if (rc != 0 || shmrt__state_final((uint32_t)info->state))
			return rc;
		if (shmrt__os_now_ns() >= deadline_ns)
			return SHMRT_E_TIMEDOUT;
		shmrt__ec_wait(&s->done_ec, v, deadline_ns);
	}
}
