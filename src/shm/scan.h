/*
 * src/shm/scan.h - reclaiming what dead participants held.
 *
 * Scan is mechanism: it finds participants whose process is dead (pid +
 * process start time; a zombie is dead; liveness fails closed) or hung
 * (alive, heartbeat older than the segment's heartbeat timeout: stopped,
 * or stuck) and undoes or finishes what they were doing, then expires
 * leases and retained results past their time. Every repair is a CAS from
 * the value the holder claimed, so a hung holder that resumes finds its
 * late writes refused, and "hung" is re-checked at each repair:
 *
 *  1. ring cells: a dead or hung pusher's claimed-but-unpublished cell
 *     gets a tombstone; a dead or hung popper's taken-but-unreleased cell
 *     is released. A cell is touched only if no intent of a participant
 *     that is neither dead nor hung names it.
 *  2. jobs in flight: a job a dead participant was publishing or had just
 *     popped (its push_value / pop_value intent) is pushed again if its slot
 *     is still QUEUED (a duplicate ring entry is harmless; see job.h).
 *  3. slots: RESERVED by the dead -> FREE; RUNNING or COMPLETING by the
 *     dead, or RUNNING past its lease deadline -> QUEUED again (attempt
 *     kept) or FAILED "worker died" / "job timed out" when attempts are used
 *     up; CANCELLING by the dead -> CANCELLED; finished slots past the
 *     retention time -> FREE. (A slot RESERVED or COMPLETING by a hung
 *     owner stays its: it holds one job for as long as it is stopped.)
 *  4. semaphore permits: a dead or hung worker's job is taken back first,
 *     then the permit it ran under; the permits of the dead, and of hung
 *     participants that hold no lease (waiting for a job), come back at
 *     the end of the pass. A hung participant keeps its record and ring
 *     intents (it may resume in the middle of a ring operation);
 *  5. keyed state: each queue's state lock is taken, which repairs what a
 *     dead holder left (qstate.h); lanes whose head finished but was
 *     never unlinked are moved on; expired idempotency keys are removed.
 *     A live holder (a stopped one, say) that keeps the lock past
 *     SHMRT__QSTATE_SCAN_LOCK_MS makes scan skip that queue's keyed
 *     steps, and its laned jobs' expiry, for this pass (locks_busy);
 *  6. a QUEUED job that nothing names (no ref in the ring, no live
 *     intent; a lane head with no ref) is published again;
 *  7. the dead participants' records are freed.
 *
 * Only one reaper repairs at a time (the header's repair_lock, plock.h;
 * a reaper that dies holding it is taken over by the next, whose pass
 * redoes its idempotent steps). Scan is safe to run while everything
 * else runs, from any process, as often as wanted.
 *
 * Bound: everything a dead process held is reclaimed by the first scan that
 * starts after its death; what a stopped or stuck one held (ring cells,
 * permits, running jobs) by the first scan after its heartbeat is older
 * than the heartbeat timeout; a running job by the first scan after its
 * lease deadline. A pass waits at most SHMRT__QSTATE_SCAN_LOCK_MS per
 * queue for state locks, however long their holders are stopped.
 */
#ifndef SHMRT_SCAN_H
#define SHMRT_SCAN_H

#include <stdint.h>

#include "participant.h"

struct shmrt__scan_report {
	uint32_t dead_participants;
	uint32_t cells_tombstoned;
	uint32_t cells_released;
	uint32_t jobs_republished; /* queued jobs whose ring entry was pushed again */
	uint32_t jobs_requeued;    /* running jobs of the dead or timed out */
	uint32_t jobs_failed;      /* ... whose attempts were used up */
	uint32_t leases_expired;   /* running past their lease deadline */
	uint32_t slots_freed;      /* reservations of the dead */
	uint32_t jobs_expired;     /* finished jobs past retention */
	uint32_t hung_participants; /* alive, silent past the heartbeat timeout */
	uint32_t permits_reclaimed; /* semaphore permits of the dead or hung */
	uint32_t lanes_settled;    /* lanes moved past a finished head, heads re-pushed */
	uint32_t keys_expired;     /* idempotency keys past their TTL or job */
	uint32_t cancels_finished; /* queued jobs whose canceller died */
	uint32_t locks_busy; /* queues skipped: state lock held by a live holder */
	uint32_t sleepers_forgotten; /* dead workers still counted asleep */
};

/*
 * Run one scan as participant `reaper` (who needs the REAPER role only in
 * spirit: any participant may scan). Waits for the repair lock until
 * deadline_ns (SHMRT_E_BUSY after it). Fills *rep (may be NULL).
 */
int shmrt__scan(struct shmrt__part *reaper, uint64_t deadline_ns,
		struct shmrt__scan_report *rep);

#endif /* SHMRT_SCAN_H */
