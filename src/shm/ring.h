/*
 * src/shm/ring.h - bounded MPMC ring of job references, crash-tolerant.
 *
 * Algorithm: Dmitry Vyukov's bounded MPMC queue. Each cell carries a 64-bit
 * sequence number; a position `pos` (64-bit, never wraps in practice) maps
 * to cell pos & mask. A cell is free for the producer of `pos` when
 * seq == pos, holds a value for the consumer of `pos` when seq == pos + 1,
 * and is handed to the next lap by seq = pos + ncells.
 *
 *   push: claim pos by CAS on enqueue_pos, CAS value 0 -> ref,
 *         CAS seq pos -> pos + 1
 *   pop:  claim pos by CAS on dequeue_pos, CAS value ref -> 0,
 *         CAS seq pos + 1 -> pos + ncells
 *
 * Concurrency: any number of pushers and poppers, in any processes, may run
 * at once; push and pop are lock-free and make no system call.
 *
 *   | operation pair      | concurrent? |
 *   |---------------------|-------------|
 *   | push / push         | yes         |
 *   | pop / pop           | yes         |
 *   | push / pop          | yes         |
 *   | repair / anything   | yes, for a position whose claimant is dead
 *   |                     | or hung (stopped): its late writes fail     |
 *
 * Ordering: a pop that returns a value happens-after the push that stored
 * it (release store of seq, acquire load of seq).
 *
 * Crash model (any participant may die at any instruction):
 *  - By construction: a dead pusher or popper never blocks other pushers or
 *    other poppers from claiming their own positions. No lock, no spin on
 *    another participant's progress (unlike ck_ring's MPMC enqueue, which
 *    waits for earlier claimants to publish).
 *  - Needs repair: a pusher that dies between claiming `pos` and publishing
 *    leaves cell `pos` unpublished, so poppers see the ring empty at `pos`
 *    (later values wait behind it); a popper that dies between claiming and
 *    releasing leaves the cell taken, so pushers see the ring full when they
 *    come round to it one lap later. Each participant writes its position
 *    into its intent record (struct shmrt__ring_intent, in its participant
 *    record) before the claiming CAS and clears it after, so scan finds the
 *    exact cell a dead or hung participant held, and:
 *      shmrt__ring_tombstone() publishes a tombstone poppers skip;
 *      shmrt__ring_release() frees a taken cell and returns its value.
 *    Both are CAS-guarded and idempotent, and so are the claimant's own
 *    writes after its claim: a claimant that was only stopped and resumes
 *    after the repair finds its CAS failed and claims anew (push) or skips
 *    the cell (pop), so the repair is never undone. The value the participant was
 *    moving is also in its intent (push_value / pop_value), so scan can push
 *    it again; the job slot's state word, not the ring, says whether it
 *    still needs to be queued (see job.h).
 */
#ifndef SHMRT_RING_H
#define SHMRT_RING_H

#include <stdint.h>

#include "layout.h"

/* Process-local ring handle: pointers and mask copied at attach. */
struct shmrt__ring {
	struct shmrt__ring_cell *cells;
	uint64_t mask; /* ncells - 1 */
	uint64_t *enqueue_pos;
	uint64_t *dequeue_pos;
};

/* The ring-related fields of a participant record (all in the segment). */
struct shmrt__ring_intent {
	uint64_t *push_value;
	uint64_t *push_pos;
	uint64_t *pop_pos;
	uint64_t *pop_value;
};

/*
 * Publish `value` (not 0, not SHMRT__REF_TOMBSTONE). The caller has stored
 * `value` in *in->push_value beforehand; push records the claimed position
 * in *in->push_pos and clears it when published. Returns 0, or
 * SHMRT_E_FULL when the cell at the tail is not free (nothing changed), or
 * SHMRT_E_CORRUPT when a cell's sequence number is impossible.
 */
int shmrt__ring_push(const struct shmrt__ring *r,
		     const struct shmrt__ring_intent *in, uint64_t value);

/*
 * Take the oldest value, skipping tombstones. On success stores the value in
 * *out and in *in->pop_value (the caller clears pop_value once the value is
 * safely owned elsewhere, e.g. the job leased) and returns 0; returns
 * SHMRT_E_AGAIN when the ring is empty at the head, SHMRT_E_CORRUPT when a
 * cell's sequence number is impossible.
 */
int shmrt__ring_pop(const struct shmrt__ring *r,
		    const struct shmrt__ring_intent *in, uint64_t *out);

/*
 * Mark in bits[] (one bit per slot index < nslots) every job reference
 * published between head and tail now. A snapshot: refs pushed or popped
 * meanwhile may be missed or included (repair uses it to find QUEUED jobs
 * with no ref, and a false "missing" only costs a duplicate ref).
 */
void shmrt__ring_mark(const struct shmrt__ring *r, uint32_t nslots,
		      unsigned char *bits);

/* Approximate number of cells between head and tail (stats only). */
uint64_t shmrt__ring_depth(const struct shmrt__ring *r);

/* Classification of a position for repair. */
enum shmrt__ring_cell_state {
	SHMRT__CELL_OTHER = 0,      /* nothing to repair at this position */
	SHMRT__CELL_UNPUBLISHED,    /* claimed by a pusher, not published */
	SHMRT__CELL_UNRELEASED,     /* claimed by a popper, not released */
};

enum shmrt__ring_cell_state shmrt__ring_cell_state(const struct shmrt__ring *r,
						   uint64_t pos);

/*
 * Publish a tombstone at an UNPUBLISHED position whose claimant is dead
 * or hung. Returns 0 if the tombstone went in, SHMRT_E_STATE if the cell
 * was no longer unpublished or its claimant's value went in first (then
 * this call published that value for it).
 */
int shmrt__ring_tombstone(const struct shmrt__ring *r, uint64_t pos);

/*
 * Release an UNRELEASED position whose claimant is dead or hung; the value
 * that sat in it is stored in *value (maybe a tombstone) and is the
 * caller's. Returns 0 if this call took the value, SHMRT_E_STATE otherwise
 * (the claimant took it, or the cell had moved on).
 */
int shmrt__ring_release(const struct shmrt__ring *r, uint64_t pos,
			uint64_t *value);

#endif /* SHMRT_RING_H */
