/*
 * src/runtime/queue_runtime.h - running jobs through the registry.
 *
 * The public entry points (shmrt_enqueue, shmrt_job_status/wait/cancel/
 * release, shmrt_queue_get_stats, shmrt_failed_jobs, shmrt_scan: see
 * shmrt/runtime.h) live in queue_runtime.c. This header is what the
 * runtime manager and the workers layer use on top of a backend: how one
 * leased job is run (handler lookup, call, complete, or fail with the
 * queue's retry policy), the same code in a worker thread, a worker
 * process and the test mode's caller.
 */
#ifndef SHMRT_QUEUE_RUNTIME_H
#define SHMRT_QUEUE_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/queue_backend.h"

/* Outcomes of shmrt__qrt_execute. */
enum shmrt__qrt_outcome {
	SHMRT__RAN_OK = 0,     /* completed */
	SHMRT__RAN_FAILED = 1, /* failed for good */
	SHMRT__RAN_RETRY = 2,  /* failed, back on the queue for a retry */
};

/*
 * Run leased job `l` (its payload in `payload`) with the handler that is
 * registered for its queue's kind, writing into out[0..cap) (cap >= the
 * queue's slot size), then complete it, or fail it - retried while the
 * queue's attempts remain unless the handler returned
 * SHMRT_HANDLER_FAIL_FINAL. A kind with no handler fails the job for good
 * with that reason. Returns an outcome, or a negative error from the
 * backend (SHMRT_E_STALE: the lease was reclaimed; nothing changed).
 * Safe from any thread; the consumer is the caller's.
 */
int shmrt__qrt_execute(struct shmrt__backend *be, struct shmrt__consumer *c,
		       const struct shmrt__be_lease *l, const void *payload,
		       char *out, size_t cap);

/*
 * Lease one job of queue qi (waiting until deadline_ns; 0 = try once)
 * and execute it. payload and out hold the queue's slot size. Returns an
 * outcome, SHMRT_E_AGAIN / SHMRT_E_TIMEDOUT when there was none, or an
 * error.
 */
int shmrt__qrt_run_one(struct shmrt__backend *be, struct shmrt__consumer *c,
		       uint32_t qi, void *payload, char *out, size_t cap,
		       uint64_t deadline_ns);

/*
 * Run queued jobs of every queue in the calling thread until none is
 * left or running, or deadline_ns passes (SHMRT_E_TIMEDOUT). Used for
 * backends with `sync` (test mode) when a tenant drains. Returns 0 when
 * the queues are empty.
 */
int shmrt__qrt_run_pending(struct shmrt__backend *be, uint64_t deadline_ns);

/*
 * The backend of a tenant started or attached in this process, referenced
 * (pair with shmrt__backend_put); SHMRT_E_NOENT with a detail naming the
 * tenant when there is none. What every public entry point starts with.
 */
int shmrt__qrt_backend(const char *tenant, struct shmrt__backend **be);

/* Jobs queued or running in all queues of be (0 on error). */
uint64_t shmrt__qrt_busy(struct shmrt__backend *be);

#endif /* SHMRT_QUEUE_RUNTIME_H */
