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
 * finds the tail cell still held (lane.c): the lock is taken with a
 * deadline all the same (SHMRT__QSTATE_LOCK_MS), and SHMRT_E_BUSY comes
 * back if a holder stays in it (for instance a stopped process).
 */
#ifndef SHMRT_QSTATE_H
#define SHMRT_QSTATE_H

#include "participant.h"
#include "segment.h"

#define SHMRT__QSTATE_LOCK_MS 5000

enum shmrt__journal_op {
	SHMRT__J_NONE = 0,
	SHMRT__J_LANE_APPEND = 1, /* linking (slot, gen) into lane entry */
	SHMRT__J_LANE_UNLINK = 2, /* unlinking (slot, gen) from lane entry */
};

/*
 * Take queue q's state lock (repairing first if a holder died).
 * `p` may be NULL (the caller then cannot push; the re-push flag stays
 * set for a participant to act on). Returns 0 or SHMRT_E_BUSY/_SYS.
 */
int shmrt__qstate_lock(struct shmrt__part *p, const struct shmrt__qhandle *q);
void shmrt__qstate_unlock(const struct shmrt__qhandle *q);

/* Who holds queue q's state lock: an owner word, or 0 (plock.h). */
uint64_t shmrt__qstate_holder(const struct shmrt__qhandle *q);

/* Journal a multi-store change (lock held); cleared by journal_clear. */
void shmrt__journal_set(const struct shmrt__qhandle *q, uint32_t op,
			uint32_t entry, uint32_t slot, uint32_t gen);
void shmrt__journal_clear(const struct shmrt__qhandle *q);

#endif /* SHMRT_QSTATE_H */
