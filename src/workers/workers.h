/*
 * src/workers/workers.h - start and stop a tenant's workers.
 *
 * On top of the runtime: after shmrt_tenant_start (or attach), start the
 * workers the configuration asks for ([queue] workers per queue), in the
 * tenant's mode: inline, that many threads of this process running the
 * worker loop, with one heart; process, a supervisor of that many worker
 * processes (supervisor.h). Stop asks them to drain through the segment
 * (the tenant becomes draining: they finish what is queued and leave),
 * waits up to [runtime] drain_timeout_ms, then stops them (threads: a
 * stop flag, honoured between jobs; processes: SIGTERM, then SIGKILL).
 * The tenant itself stays started: shmrt_tenant_stop follows.
 *
 * Start and stop are idempotent (a second start returns 0 and changes
 * nothing; a stop of a tenant without workers here returns 0) and safe
 * from several threads at once: they are serialized per process.
 */
#ifndef SHMRT_WORKERS_WORKERS_H
#define SHMRT_WORKERS_WORKERS_H

#include <stdint.h>
#include <sys/types.h>

#include "workers/supervisor.h"

struct shmrt__workers_opts {
	/* process mode: see struct shmrt__supervisor_opts */
	struct shmrt__supervisor_opts process;
};

struct shmrt__workers_info {
	int mode;          /* enum shmrt_mode */
	uint32_t nworkers; /* threads or worker process slots */
	uint32_t running;  /* threads not yet returned, or live processes */
	uint64_t restarts; /* process mode: crashed workers restarted */
	pid_t pid[256];    /* process mode: the slots' pids (0: none) */
};

/* Start the tenant's workers; opts may be NULL. SHMRT_E_NOENT when the
 * tenant is not started or attached here; SHMRT_E_NOMEM, SHMRT_E_SYS. */
int shmrt__workers_start(const char *tenant,
			 const struct shmrt__workers_opts *opts);

/* Stop them (see above). 0, or SHMRT_E_TIMEDOUT when the drain deadline
 * passed and workers had to be stopped (they are stopped all the same). */
int shmrt__workers_stop(const char *tenant);

/* What runs now; SHMRT_E_NOENT when the tenant has no workers here. */
int shmrt__workers_get_info(const char *tenant,
			    struct shmrt__workers_info *info);

#endif /* SHMRT_WORKERS_WORKERS_H */
