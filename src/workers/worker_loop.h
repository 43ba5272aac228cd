/*
 * src/workers/worker_loop.h - the one worker loop.
 *
 * Takes a seat in the tenant's backend (a participant in the segment),
 * leases jobs of one queue through the backend, runs each with the
 * handler the runtime's registry holds for the queue's kind (complete, or
 * fail with the queue's retry policy: shmrt__qrt_execute), heartbeats,
 * and leaves once the tenant is no longer ready and the queue is empty.
 * Worker processes and inline worker threads run the same loop; it never
 * knows which backend it is on. A handler's failure is an outcome like
 * any other: the loop counts it and takes the next job.
 */
#ifndef SHMRT_WORKER_LOOP_H
#define SHMRT_WORKER_LOOP_H

#include <stdint.h>

#include "runtime/queue_backend.h"

struct shmrt__heart;

struct shmrt__worker_stats {
	uint64_t succeeded;
	uint64_t failed;  /* handler errors, retried or final */
	uint64_t stale;   /* completions refused: the lease was reclaimed */
};

/* How a worker runs; zero-initialize, then set what is needed. */
struct shmrt__worker_opts {
	uint64_t poll_ns;     /* longest lease wait between checks; 0: 2 s */
	const int *stop;      /* read atomically; non-zero: leave between jobs */
	struct shmrt__heart *heart; /* NULL: heartbeats only between jobs */
};

/*
 * Run until the tenant leaves READY and queue `qi` is empty, or *stop
 * becomes non-zero (checked between jobs and at least every poll_ns).
 * With a heart, the seat is registered with it while the loop runs, so
 * the worker stays alive in the segment while a handler runs.
 * The caller holds a reference to `be` for the duration. Thread-safe:
 * each call takes its own seat. Returns 0, or a negative error (e.g.
 * SHMRT_E_NOPART, SHMRT_E_NOMEM); *st (may be NULL) gets the tallies.
 */
int shmrt__worker_run(struct shmrt__backend *be, uint32_t qi,
		      const struct shmrt__worker_opts *opts,
		      struct shmrt__worker_stats *st);

#endif /* SHMRT_WORKER_LOOP_H */
