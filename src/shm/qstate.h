/*
 * src/shm/qstate.h - the lock over a queue's keyed state (lane table,
 * idempotency table), with repair after a holder dies.
 *
 * One lock per queue (shmrt__queue.state_lock, plock.h), whose word
 * names the holder's process. Holders change the tables with plain
 * stores, and a holder that may leave a multi-store change half done
 * first writes what it is doing to the queue's journal. The next locker
 * after a holder died repairs before doing anything else: both tables'
 * chains are rebuilt (keytab.h), the journaled lane operation is
 * finished or undone (lane.c), and the queue is marked for a lane
 * re-push, so a lane head that the dead holder was about to publish
 * reaches the ring.
 *
 * Critical sections are short and never sleep, except a ring push that
 * finds the tail cell still held (lane.c; job.c's re-publish tries 100
 * times, 20 us apart: a few ms per lane head). A live
 * holder is never taken over, even a stopped one (its resumed plain
 * stores would corrupt the tables), so what others lose to a stopped
 * holder is bounded by their wait instead:
 *  - submits with a lane or key, lane moves after a finish and releases
 *    wait at most SHMRT__QSTATE_LOCK_MS per attempt, then get
 *    SHMRT_E_BUSY (a finished job's lane is then moved on by a later
 *    scan);
 *  - scan, and a lease's lane re-push, wait at most
 *    SHMRT__QSTATE_SCAN_LOCK_MS per queue and pass, then skip that
 *    queue's keyed steps for the pass (scan counts it), so a stopped
 *    holder never stalls a scan or a worker.
 */
#ifndef SHMRT_QSTATE_H
#define SHMRT_QSTATE_H

#include "participant.h"
#include "segment.h"

#define SHMRT__QSTATE_LOCK_MS 5000
#define SHMRT__QSTATE_SCAN_LOCK_MS 10

enum shmrt__journal_op {
	SHMRT__J_NONE = 0,
	SHMRT__J_LANE_APPEND = 1, /* linking (slot, gen) into lane entry */
	SHMRT__J_LANE_UNLINK = 2, /* unlinking (slot, gen) from lane entry */
};

/*
 * Take queue q's state lock (repairing first if a holder died), waiting
 * for a live holder until deadline_ns (CLOCK_MONOTONIC, absolute).
 * `p` may be NULL (the caller then cannot push; the re-push flag stays
 * set for a participant to act on). Returns 0, or SHMRT_E_BUSY when a
 * live holder kept it past the deadline. Pair with shmrt__qstate_unlock.
 */
int shmrt__qstate_lock_until(struct shmrt__part *p,
			     const struct shmrt__qhandle *q,
			     uint64_t deadline_ns);

/* The deadline of a brief try: SHMRT__QSTATE_SCAN_LOCK_MS from now (scan,
 * a lease's lane re-push). */
uint64_t shmrt__qstate_brief_deadline(void);

/* shmrt__qstate_lock_until with a deadline SHMRT__QSTATE_LOCK_MS away. */
int shmrt__qstate_lock(struct shmrt__part *p, const struct shmrt__qhandle *q);
void shmrt__qstate_unlock(const struct shmrt__qhandle *q);

/* Who holds queue q's state lock: an owner word, or 0 (plock.h). */
uint64_t shmrt__qstate_holder(const struct shmrt__qhandle *q);

/* Journal a multi-store change (lock held); cleared by journal_clear. */
void shmrt__journal_set(const struct shmrt__qhandle *q, uint32_t op,
			uint32_t entry, uint32_t slot, uint32_t gen);
void shmrt__journal_clear(const struct shmrt__qhandle *q);

#endif /* SHMRT_QSTATE_H */
