/*
 * src/shm/lane.h - chat lanes: per-key ordering in a laned queue.
 *
 * Jobs with the same lane key run one at a time, in the order their
 * submits returned; different lanes run in parallel. A lane is an entry of
 * the queue's lane table (keytab.h, exact keys) holding a FIFO of job
 * slots, linked through slot.lane_next: head and tail in the entry's v[0]
 * and v[1]. Only a lane's head is ever in the queue's ring, so:
 *  - order: the next job is published only once the head has finished
 *    (succeeded, failed for good, or cancelled) and been unlinked;
 *  - one at a time: a job is leasable only while it is the head;
 *  - fairness: a finished head's successor goes to the back of the ring,
 *    behind every other lane's head, so lanes take turns whatever their
 *    length (round robin over the lanes with work).
 * A retried head goes back to the ring and keeps its lane blocked.
 *
 * All lane state changes under the queue's state lock (qstate.h). Each
 * change is journaled so that the next locker finishes it if the holder
 * dies; a lane whose head finished but whose worker died before unlinking
 * it is settled by scan (shmrt__lane_scan).
 */
#ifndef SHMRT_LANE_H
#define SHMRT_LANE_H

#include <stddef.h>
#include <stdint.h>

#include "participant.h"
#include "segment.h"

/*
 * Link the RESERVED slot (slot, gen), already filled (its lane_key set),
 * at the tail of its lane, make it QUEUED, and publish it if it is the
 * lane's head. Lock held. SHMRT_E_LANES when a new lane is needed and the
 * table is full (nothing changed).
 */
int shmrt__lane_append(struct shmrt__part *p, const struct shmrt__qhandle *q,
		       uint32_t slot, uint32_t gen);

/*
 * After job (slot, gen) of a laned queue reached a final state: unlink it
 * if it is its lane's head, and publish the next queued head. Takes the
 * lock. Idempotent.
 */
int shmrt__lane_finished(struct shmrt__part *p,
			 const struct shmrt__qhandle *q, uint32_t slot,
			 uint32_t gen);

/*
 * A finished job (slot, gen) is to be freed. Returns 1 when it is no
 * longer linked (free it now), 0 when it is still its lane's head (it is
 * marked, and freed when the lane moves past it), or an error
 * (SHMRT_E_BUSY: the lock was held past lock_deadline_ns). Takes the
 * lock.
 */
int shmrt__lane_unlink_for_free(struct shmrt__seg *seg,
				const struct shmrt__qhandle *q, uint32_t slot,
				uint32_t gen, uint64_t lock_deadline_ns);

/*
 * Lock held, `p` not NULL: publish every lane head that is queued and not
 * in the ring, and clear the queue's re-push flag. Returns how many.
 */
uint32_t shmrt__lane_repush_locked(struct shmrt__part *p,
				   const struct shmrt__qhandle *q);

/*
 * Lock held: finish or undo the journaled lane operation of a dead
 * holder (called by shmrt__qstate_lock's repair).
 */
void shmrt__lane_repair_locked(const struct shmrt__qhandle *q);

/*
 * For scan, lock held: settle every lane whose head has finished (its
 * worker died before unlinking it), and re-push heads that have no ring
 * ref. Returns the number of lanes settled plus heads re-pushed.
 */
uint32_t shmrt__lane_scan_locked(struct shmrt__part *p,
				 const struct shmrt__qhandle *q);

/* Lanes in use in queue q (stats). */
uint32_t shmrt__lane_count(const struct shmrt__qhandle *q);

#endif /* SHMRT_LANE_H */
