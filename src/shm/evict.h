/*
 * src/shm/evict.h - finished jobs give up their slots to new work.
 *
 * A finished job keeps its slot for [runtime] retention_ms so its result
 * can be read. Retention is a promise about results, not a claim on
 * capacity: when a submit finds no free slot, the oldest finished jobs of
 * the queue are freed to make room (their status then reports
 * SHMRT_E_EXPIRED, as after retention). A queue created with strict
 * retention never evicts: its producers get SHMRT_E_FULL instead.
 *
 * Each eviction is the same fenced transition as a release: a CAS from the
 * exact finished word that was read (generation included), so an evictor
 * that stops for any time between choosing and freeing cannot free a job
 * that has moved on; a laned job goes through its lane (lane.h). Nothing is
 * held between calls, so a process that dies here leaves nothing to repair.
 */
#ifndef SHMRT_EVICT_H
#define SHMRT_EVICT_H

#include <stdint.h>

#include "segment.h"

/* At most this many finished jobs are freed by one eviction pass. */
#define SHMRT__EVICT_BATCH_MAX 64u

/*
 * The batch of one pass for a queue of `capacity` slots: capacity/16,
 * within 1..SHMRT__EVICT_BATCH_MAX. A batch amortizes the pass's walk over
 * every slot across that many submits.
 */
uint32_t shmrt__evict_batch(uint32_t capacity);

/*
 * Free up to shmrt__evict_batch(capacity) of queue q's finished jobs,
 * oldest finish first. Returns how many were freed (each counted in the
 * queue's n_evicted), 0 when the queue has strict retention or no finished
 * job could be freed. Safe from any thread of any attached process.
 */
uint32_t shmrt__evict_oldest(struct shmrt__seg *seg,
			     const struct shmrt__qhandle *q);

#endif /* SHMRT_EVICT_H */
