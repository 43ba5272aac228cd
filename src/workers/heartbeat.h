/*
 * src/workers/heartbeat.h - a thread that keeps a process's workers alive
 * in the segment while their handlers run.
 *
 * scan declares a participant hung when its heartbeat is older than
 * [runtime] heartbeat_timeout_ms, and takes its running jobs and permits
 * away. A worker heartbeats between jobs, but not while a long handler
 * runs; so each process that runs workers (a worker process, or a process
 * with inline worker threads) has one heart: a thread that refreshes the
 * heartbeat of every worker seat registered with it, every
 * heartbeat_timeout / 4. A handler that is truly stuck still loses its job
 * to the job's lease (job_timeout_ms), which the heart does not extend.
 *
 * Concurrency: add and remove may be called from any thread, concurrently
 * with each other and with the heart's beats; remove returns only once
 * the heart no longer touches the seat, so the caller may then close it.
 * A beat is one atomic store of a timestamp into the seat's record
 * (the backend's heartbeat op), which is safe next to the seat's owner
 * using it. Pair shmrt__heart_start with shmrt__heart_stop.
 */
#ifndef SHMRT_WORKERS_HEARTBEAT_H
#define SHMRT_WORKERS_HEARTBEAT_H

#include <stdint.h>

#include "runtime/queue_backend.h"

struct shmrt__heart;

/*
 * Start a heart that beats every interval_ns (at least 1 ms; a timeout
 * of 0 - never hung - still beats every second, which is harmless).
 * Returns 0 or SHMRT_E_NOMEM / SHMRT_E_SYS.
 */
int shmrt__heart_start(uint64_t interval_ns, struct shmrt__heart **out);

/* The interval for a backend: its heartbeat timeout / 4, or 1 s. */
uint64_t shmrt__heart_interval(const struct shmrt__backend *be);

/* Register seat c of be; SHMRT_E_NOMEM when the table is full. */
int shmrt__heart_add(struct shmrt__heart *h, struct shmrt__backend *be,
		     struct shmrt__consumer *c);

/* Unregister seat c; after return the heart no longer touches it. */
void shmrt__heart_remove(struct shmrt__heart *h, struct shmrt__consumer *c);

/* Stop the thread and free the heart (seats must be removed). NULL: no-op. */
void shmrt__heart_stop(struct shmrt__heart *h);

#endif /* SHMRT_WORKERS_HEARTBEAT_H */
