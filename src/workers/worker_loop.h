/*
 * src/workers/worker_loop.h - the one worker loop.
 *
 * Joins the segment as a participant, leases jobs of one queue, runs the
 * handler, completes or fails (with retry while attempts remain), heartbeats,
 * and leaves once the segment is no longer READY and the queue is empty.
 * Used by worker processes and (later) inline worker threads alike.
 */
#ifndef SHMRT_WORKER_LOOP_H
#define SHMRT_WORKER_LOOP_H

#include <stdint.h>

#include "shm/segment.h"
#include "workers/handlers.h"

struct shmrt__worker_stats {
	uint64_t succeeded;
	uint64_t failed;  /* handler errors, retried or final */
	uint64_t stale;   /* completions refused: the lease was reclaimed */
};

/*
 * Run until the segment leaves READY and queue `qi` is empty, or *stop
 * becomes non-zero (checked between jobs and at least every poll_ns).
 * Returns 0, or a negative error (e.g. SHMRT_E_NOPART).
 */
int shmrt__worker_run(struct shmrt__seg *seg, uint32_t qi,
		      shmrt__handler_fn fn, uint64_t poll_ns,
		      volatile int *stop, struct shmrt__worker_stats *st);

#endif /* SHMRT_WORKER_LOOP_H */
