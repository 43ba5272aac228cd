/*
 * src/workers/worker_loop.h - the one worker loop.
 *
 * Takes a seat in the tenant's backend (a participant in the segment),
 * leases jobs of one queue through the backend, runs each with the
 * handler the runtime's registry holds for the queue's kind (complete, or
 * fail with the queue's retry policy: shmrt__qrt_execute), heartbeats,
 * and leaves once the tenant is no longer ready and the queue is empty.
 * Worker processes and inline worker threads run the same loop; it never
 * knows which backend it is on.
 */
#ifndef SHMRT_WORKER_LOOP_H
#define SHMRT_WORKER_LOOP_H

#include <stdint.h>

#include "runtime/queue_backend.h"

struct shmrt__worker_stats {
	uint64_t succeeded;
	uint64_t failed;  /* handler errors, retried or final */
	uint64_t stale;   /* completions refused: the lease was reclaimed */
};

/*
 * Run until the tenant leaves READY and queue `qi` is empty, or *stop
 * becomes non-zero (checked between jobs and at least every poll_ns).
 * The caller holds a reference to `be` for the duration.
 * Returns 0, or a negative error (e.g. SHMRT_E_NOPART, SHMRT_E_NOMEM).
 */
int shmrt__worker_run(struct shmrt__backend *be, uint32_t qi,
		      uint64_t poll_ns, volatile int *stop,
		      struct shmrt__worker_stats *st);

#endif /* SHMRT_WORKER_LOOP_H */
