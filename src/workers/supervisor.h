/*
 * src/workers/supervisor.h - worker processes of one tenant (process mode).
 *
 * The supervisor starts the worker processes the configuration asks for
 * ([queue] workers per queue; each runs `EXE worker -q QUEUE`), started
 * with posix_spawn - never a bare fork of this multi-threaded process.
 * A thread of its own reaps them; one that crashed (killed by a signal,
 * or a non-zero exit) is started again after a backoff that doubles on
 * each quick crash (it lived less than a second) from backoff_min up to
 * backoff_max, and a scan is run at once so the job it held is requeued
 * without waiting for the periodic scan. A worker that exits 0 (the
 * tenant drained) is not restarted. The workers die with the supervisor
 * (PR_SET_PDEATHSIG, set by the worker: spawning is done by the
 * supervisor's thread, which lives until stop).
 *
 * Stop: no more restarts; ask the workers to drain (the segment's
 * draining state: they finish the queued jobs and leave); after the drain
 * deadline SIGTERM (each finishes its job and leaves), then after
 * term_timeout SIGKILL. Returns when every worker is reaped.
 *
 * start/stop pair; stop and info may be called from any thread, info
 * concurrently with anything but stop's free.
 */
#ifndef SHMRT_WORKERS_SUPERVISOR_H
#define SHMRT_WORKERS_SUPERVISOR_H

#include <stdint.h>
#include <sys/types.h>

#include "runtime/queue_backend.h"

struct shmrt__supervisor;

struct shmrt__supervisor_opts {
	const char *exe;          /* the shmrt binary; NULL: /proc/self/exe */
	const char *handlers;     /* passed as --handlers, or NULL */
	uint64_t backoff_min_ns;  /* 0: 50 ms */
	uint64_t backoff_max_ns;  /* 0: 2 s */
	uint64_t term_timeout_ns; /* SIGTERM to SIGKILL; 0: 2 s */
};

/* What a supervisor reports. */
struct shmrt__supervisor_info {
	uint32_t nworkers;  /* worker slots */
	uint32_t running;   /* with a live process now */
	uint64_t restarts;  /* crashed workers started again */
	pid_t pid[256];     /* the first 256 slots' processes (0: none) */
};

/*
 * Start the workers of be's tenant (the caller started or attached it;
 * the supervisor takes its own reference to be). Returns 0, or
 * SHMRT_E_NOMEM / SHMRT_E_SYS / SHMRT_E_INVAL (no workers configured is
 * not an error: a supervisor of nothing).
 */
int shmrt__supervisor_start(struct shmrt__backend *be,
			    const struct shmrt__supervisor_opts *opts,
			    struct shmrt__supervisor **out);

/*
 * Stop as above, waiting at most drain_ns for the drain, then free the
 * supervisor. Returns 0, or SHMRT_E_TIMEDOUT when some worker had to be
 * signalled (it is reaped all the same).
 */
int shmrt__supervisor_stop(struct shmrt__supervisor *s, uint64_t drain_ns);

void shmrt__supervisor_get_info(struct shmrt__supervisor *s,
				struct shmrt__supervisor_info *info);

#endif /* SHMRT_WORKERS_SUPERVISOR_H */
