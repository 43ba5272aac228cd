/*
 * src/shm/ring.c - Vyukov bounded MPMC ring with intent records.
 *
 * Intent ordering: the claimant stores its position in its intent record
 * (relaxed) before the acq_rel CAS that claims it. Anyone who acquires a
 * head/tail value past `pos` therefore also sees that intent (or a later
 * one), which is what lets scan tell a dead claimant's cell from a live
 * one's: the owner of a claimed, unfinished position always has that
 * position in its intent record until it finishes.
 */
#include "ring.h"

#include <shmrt/error.h>
#include <stdbool.h>

#define LD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define LDA(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define ST(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define STR(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define CAS(p, expp, v)                                                        \
	__atomic_compare_exchange_n((p), (expp), (v), false,                   \
				    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)

/*
 * A cell whose sequence number is ahead of `pos` means another participant
 * took `pos` already: in a sane ring the position has then moved (the
 * acquire load of seq orders the claiming CAS before it), so reloading it
 * makes progress. If it has not moved, the cell is corrupt: report that
 * instead of spinning forever on a hostile segment.
 */
static bool advance(uint64_t *posp, uint64_t *pos)
{
	uint64_t now = LD(posp);

	if (now == *pos)
		return false;
	*pos = now;
	return true;
}

int shmrt__ring_push(const struct shmrt__ring *r,
		     const struct shmrt__ring_intent *in, uint64_t value)
{
	uint64_t pos = LD(r->enqueue_pos);

	for (;;) {
		struct shmrt__ring_cell *c = &r->cells[pos & r->mask];
		uint64_t seq = LDA(&c->seq);
		int64_t dif = (int64_t)(seq - pos);

		if (dif == 0) {
			ST(in->push_pos, pos);
			if (CAS(r->enqueue_pos, &pos, pos + 1)) {
				ST(&c->value, value);
				STR(&c->seq, pos + 1);
				ST(in->push_pos, SHMRT__POS_NONE);
				return 0;
			}
			/* pos now holds the current tail; retry there. */
		} else if (dif < 0) {
			ST(in->push_pos, SHMRT__POS_NONE);
			return SHMRT_E_FULL;
		} else if (!advance(r->enqueue_pos, &pos)) {
			ST(in->push_pos, SHMRT__POS_NONE);
			return SHMRT_E_CORRUPT;
		}
	}
}

/* Claims one published cell; returns its value, which may be a tombstone. */
static int pop_one(const struct shmrt__ring *r,
		   const struct shmrt__ring_intent *in, uint64_t *out)
{
	uint64_t pos = LD(r->dequeue_pos);

	for (;;) {
		struct shmrt__ring_cell *c = &r->cells[pos & r->mask];
		uint64_t seq = LDA(&c->seq);
		int64_t dif = (int64_t)(seq - (pos + 1));

		if (dif == 0) {
			ST(in->pop_pos, pos);
			if (CAS(r->dequeue_pos, &pos, pos + 1)) {
				uint64_t v = LD(&c->value);

				ST(in->pop_value, v);
				STR(&c->seq, pos + r->mask + 1);
				ST(in->pop_pos, SHMRT__POS_NONE);
				*out = v;
				return 0;
			}
		} else if (dif < 0) {
			/* A stale intent would only delay a repair: clear it. */
			ST(in->pop_pos, SHMRT__POS_NONE);
			return SHMRT_E_AGAIN;
		} else if (!advance(r->dequeue_pos, &pos)) {
			ST(in->pop_pos, SHMRT__POS_NONE);
			return SHMRT_E_CORRUPT;
		}
	}
}

int shmrt__ring_pop(const struct shmrt__ring *r,
		    const struct shmrt__ring_intent *in, uint64_t *out)
{
	for (;;) {
		int rc = pop_one(r, in, out);

		if (rc != 0)
			return rc;
		if (*out != SHMRT__REF_TOMBSTONE)
			return 0;
		ST(in->pop_value, 0);
	}
}

void shmrt__ring_mark(const struct shmrt__ring *r, uint32_t nslots,
		      unsigned char *bits)
{
	uint64_t pos = LDA(r->dequeue_pos), end = LDA(r->enqueue_pos);

	for (; pos < end && end - pos <= r->mask + 1; pos++) {
		const struct shmrt__ring_cell *c = &r->cells[pos & r->mask];
		uint64_t v;

		if (LDA(&c->seq) != pos + 1)
			continue;
		v = LD(&c->value);
		if (v != SHMRT__REF_TOMBSTONE && (uint32_t)v < nslots)
			bits[(uint32_t)v / 8] |=
				(unsigned char)(1u << ((uint32_t)v % 8));
	}
}

uint64_t shmrt__ring_depth(const struct shmrt__ring *r)
{
	uint64_t head = LD(r->dequeue_pos);
	uint64_t tail = LD(r->enqueue_pos);

	return tail > head ? tail - head : 0;
}

enum shmrt__ring_cell_state shmrt__ring_cell_state(const struct shmrt__ring *r,
						   uint64_t pos)
{
	uint64_t seq = LDA(&r->cells[pos & r->mask].seq);

	if (seq == pos && LDA(r->enqueue_pos) > pos)
		return SHMRT__CELL_UNPUBLISHED;
	if (seq == pos + 1 && LDA(r->dequeue_pos) > pos)
		return SHMRT__CELL_UNRELEASED;
	return SHMRT__CELL_OTHER;
}

int shmrt__ring_tombstone(const struct shmrt__ring *r, uint64_t pos)
{
	struct shmrt__ring_cell *c = &r->cells[pos & r->mask];
	uint64_t expect = pos;

	if (shmrt__ring_cell_state(r, pos) != SHMRT__CELL_UNPUBLISHED)
		return SHMRT_E_STATE;
	/* The claimant is dead: no one else writes this cell's value now. */
	ST(&c->value, SHMRT__REF_TOMBSTONE);
	return CAS(&c->seq, &expect, pos + 1) ? 0 : SHMRT_E_STATE;
}

int shmrt__ring_release(const struct shmrt__ring *r, uint64_t pos,
			uint64_t *value)
{
	struct shmrt__ring_cell *c = &r->cells[pos & r->mask];
	uint64_t expect = pos + 1;

	if (shmrt__ring_cell_state(r, pos) != SHMRT__CELL_UNRELEASED)
		return SHMRT_E_STATE;
	*value = LD(&c->value);
	return CAS(&c->seq, &expect, pos + r->mask + 1) ? 0 : SHMRT_E_STATE;
}
