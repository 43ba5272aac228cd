/*
 * src/shm/ring.c - Vyukov bounded MPMC ring with intent records.
 *
 * Fencing: every write into a cell after its claim is a CAS from the value
 * the claimant expects (value 0 -> ref, seq pos -> pos + 1 on push; value
 * ref -> 0, seq pos + 1 -> pos + ncells on pop), and a reaper does the
 * same CASes. So a claimant that was stopped, judged hung, and repaired
 * around (tombstone or release by scan) fails its late writes instead of
 * undoing the repair: a push claims another cell, a pop skips the cell.
 * Free cells hold value 0 (the popper clears it), and a published cell
 * whose value is 0 (cleared by such a late pop: an ABA on the same ref,
 * whose job that pop then holds) is skipped like a tombstone.
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

#include "atomics.h"
#include "pause.h"

/*
 * A cell whose sequence number is ahead of `pos` means another participant
 * took `pos` already: in a sane ring the position has then moved (the
 * acquire load of seq orders the claiming CAS before it), so reloading it
 * makes progress. If it has not moved, the cell is corrupt: report that
 * instead of spinning forever on a hostile segment.
 */
static bool advance(uint64_t *posp, uint64_t *pos)
{
	uint64_t now = LD_RLX(posp);

	if (now == *pos)
		return false;
	*pos = now;
	return true;
}

/* How often a push whose claim was tombstoned claims another cell. */
#define PUSH_RECLAIMS 64

/*
 * Fill the cell of claimed position `pos`: CAS its value from 0 (free
 * cells hold 0), then publish it by CAS of seq. A reaper that judged the
 * claimant dead or hung CASes the value to a tombstone instead; whoever
 * wins the value decides what the cell holds, and either side publishes
 * the seq (the loser's CAS simply fails). Returns whether `value` went in.
 */
static bool fill_claimed(struct shmrt__ring_cell *c, uint64_t pos,
			 uint64_t value)
{
	uint64_t empty = 0, expect = pos;
	bool won = CAS_AR(&c->value, &empty, value);

	CAS_AR(&c->seq, &expect, pos + 1);
	return won;
}

int shmrt__ring_push(const struct shmrt__ring *r,
		     const struct shmrt__ring_intent *in, uint64_t value)
{
	uint64_t pos = LD_RLX(r->enqueue_pos);
	unsigned reclaims = 0;

	for (;;) {
		struct shmrt__ring_cell *c = &r->cells[pos & r->mask];
		uint64_t seq = LD_ACQ(&c->seq);
		int64_t dif = (int64_t)(seq - pos);

		if (dif == 0) {
			ST_RLX(in->push_pos, pos);
			if (!CAS_AR(r->enqueue_pos, &pos, pos + 1))
				continue; /* pos holds the current tail */
			SHMRT__PAUSE("ring.push.claimed");
			if (fill_claimed(c, pos, value)) {
				ST_RLX(in->push_pos, SHMRT__POS_NONE);
				return 0;
			}
			/* Stopped past the heartbeat timeout, this claim was
			 * tombstoned by scan: the ring is consistent, and
			 * the value goes into a cell claimed anew. */
			if (++reclaims > PUSH_RECLAIMS)
				break;
			pos = LD_RLX(r->enqueue_pos);
		} else if (dif < 0) {
			ST_RLX(in->push_pos, SHMRT__POS_NONE);
			return SHMRT_E_FULL;
		} else if (!advance(r->enqueue_pos, &pos)) {
			break;
		}
	}
	ST_RLX(in->push_pos, SHMRT__POS_NONE);
	return SHMRT_E_CORRUPT;
}

/*
 * Empty the cell of claimed position `pos` and hand it to the next lap:
 * take its value by CAS to 0, then release seq by CAS. A reaper that
 * judged the claimant dead or hung may take the value first; the value
 * belongs to whoever took it. Returns whether *v (read here) is ours.
 */
static bool take_claimed(struct shmrt__ring_cell *c, uint64_t pos,
			 uint64_t ncells, uint64_t *v)
{
	uint64_t expect = pos + 1;
	bool won;

	*v = LD_ACQ(&c->value);
	won = *v != 0 && CAS_AR(&c->value, v, 0);
	CAS_AR(&c->seq, &expect, pos + ncells);
	return won;
}

/*
 * Claims one published cell; returns its value, which may be a tombstone.
 * A cell whose value is gone (taken by a reaper while this popper was
 * stopped) is skipped like a tombstone.
 */
static int pop_one(const struct shmrt__ring *r,
		   const struct shmrt__ring_intent *in, uint64_t *out)
{
	uint64_t pos = LD_RLX(r->dequeue_pos);

	for (;;) {
		struct shmrt__ring_cell *c = &r->cells[pos & r->mask];
		uint64_t seq = LD_ACQ(&c->seq);
		int64_t dif = (int64_t)(seq - (pos + 1));

		if (dif == 0) {
			uint64_t v;
			bool won;

			ST_RLX(in->pop_pos, pos);
			if (!CAS_AR(r->dequeue_pos, &pos, pos + 1))
				continue;
			SHMRT__PAUSE("ring.pop.claimed");
			/* The intent names the value before it is taken, so
			 * a popper that dies holding it loses nothing. */
			ST_RLX(in->pop_value, LD_ACQ(&c->value));
			won = take_claimed(c, pos, r->mask + 1, &v);
			ST_RLX(in->pop_pos, SHMRT__POS_NONE);
			*out = won ? v : SHMRT__REF_TOMBSTONE;
			return 0;
		} else if (dif < 0) {
			/* A stale intent would only delay a repair: clear it. */
			ST_RLX(in->pop_pos, SHMRT__POS_NONE);
			return SHMRT_E_AGAIN;
		} else if (!advance(r->dequeue_pos, &pos)) {
			ST_RLX(in->pop_pos, SHMRT__POS_NONE);
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
		ST_RLX(in->pop_value, 0);
	}
}

void shmrt__ring_mark(const struct shmrt__ring *r, uint32_t nslots,
		      unsigned char *bits)
{
	uint64_t pos = LD_ACQ(r->dequeue_pos), end = LD_ACQ(r->enqueue_pos);

	for (; pos < end && end - pos <= r->mask + 1; pos++) {
		const struct shmrt__ring_cell *c = &r->cells[pos & r->mask];
		uint64_t v;

		if (LD_ACQ(&c->seq) != pos + 1)
			continue;
		v = LD_RLX(&c->value);
		if (v != 0 && v != SHMRT__REF_TOMBSTONE && (uint32_t)v < nslots)
			bits[(uint32_t)v / 8] |=
				(unsigned char)(1u << ((uint32_t)v % 8));
	}
}

uint64_t shmrt__ring_depth(const struct shmrt__ring *r)
{
	uint64_t head = LD_RLX(r->dequeue_pos);
	uint64_t tail = LD_RLX(r->enqueue_pos);

	return tail > head ? tail - head : 0;
}

enum shmrt__ring_cell_state shmrt__ring_cell_state(const struct shmrt__ring *r,
						   uint64_t pos)
{
	uint64_t seq = LD_ACQ(&r->cells[pos & r->mask].seq);

	if (seq == pos && LD_ACQ(r->enqueue_pos) > pos)
		return SHMRT__CELL_UNPUBLISHED;
	if (seq == pos + 1 && LD_ACQ(r->dequeue_pos) > pos)
		return SHMRT__CELL_UNRELEASED;
	return SHMRT__CELL_OTHER;
}

int shmrt__ring_tombstone(const struct shmrt__ring *r, uint64_t pos)
{
	struct shmrt__ring_cell *c = &r->cells[pos & r->mask];

	if (shmrt__ring_cell_state(r, pos) != SHMRT__CELL_UNPUBLISHED)
		return SHMRT_E_STATE;
	/* Races the claimant's own fill_claimed: one of the two values goes
	 * in, and the cell is published either way. (If the cell moved on
	 * meanwhile, a stray tombstone in a free cell only makes its next
	 * claimant publish it and claim again.) */
	return fill_claimed(c, pos, SHMRT__REF_TOMBSTONE) ? 0 : SHMRT_E_STATE;
}

int shmrt__ring_release(const struct shmrt__ring *r, uint64_t pos,
			uint64_t *value)
{
	struct shmrt__ring_cell *c = &r->cells[pos & r->mask];

	if (shmrt__ring_cell_state(r, pos) != SHMRT__CELL_UNRELEASED)
		return SHMRT_E_STATE;
	return take_claimed(c, pos, r->mask + 1, value) ? 0 : SHMRT_E_STATE;
}
