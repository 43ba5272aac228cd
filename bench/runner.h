/*
 * bench/runner.h - a tenant as a user runs it: `shmrt run` on a
 * configuration file, its supervisor and its `shmrt worker` processes,
 * and this process attached to it through the public API
 * (shmrt_tenant_attach), so that the workloads enqueue, wait and release
 * exactly as an application does.
 *
 * The configuration is written to a fresh directory under $TMPDIR (or
 * /tmp) with a tenant section of its own ("bench-<pid>-<n>"), so a run
 * never touches a tenant of the user's. `shmrt run` is started through
 * this binary (`__child exec`), so it dies with the benchmark
 * (PR_SET_PDEATHSIG survives exec) and its output goes to a log file in
 * that directory. SHMRT_MODE is removed from its environment and from
 * this process's: the tenant runs in process mode, as the file says.
 */
#ifndef SHMRT_BENCH_RUNNER_H
#define SHMRT_BENCH_RUNNER_H

#include <stddef.h>
#include <sys/types.h>

#include "proc.h"

#define BRUN_MAX_WORKERS 16

struct brun {
	char tenant[BENCH_TENANT_MAX];
	char dir[256];	/* the temporary directory */
	char conf[300]; /* dir/shmrt.ini */
	char log[300];	/* dir/run.log: what shmrt run printed */
	struct bench_child runner;
	pid_t workers[BRUN_MAX_WORKERS]; /* the runner's children */
	int nworkers;
	int attached;
	char why[200]; /* why start failed */
};

/* brun_start: wait until every worker sleeps (not for spinning ones). */
#define BRUN_ASLEEP 1

/*
 * Write `conf_text` (the [runtime] and [queue] sections; no [tenant]
 * section) plus a [tenant] section of a fresh name, start `shmrt_exe run`
 * on it, attach this process, and wait (bounded) until the runner has
 * `nworkers` worker processes and, with BRUN_ASLEEP in flags, all of
 * them sleep. Returns 0, or -1 with r->why set (whatever started is
 * stopped again). Pair with brun_stop.
 */
int brun_start(struct brun *r, const char *shmrt_exe, const char *conf_text,
	       int nworkers, unsigned flags);

/*
 * The text of the configuration file `path` without its [tenant]
 * sections, into out (len bytes). Returns 0, or -1 if it cannot be read
 * or does not fit.
 */
int brun_conf_untenanted(const char *path, char *out, size_t len);

/*
 * Wait up to ms for every thread of every worker process to sleep in
 * the kernel. Returns 1 when they do, 0 at the deadline.
 */
int brun_workers_asleep(const struct brun *r, int ms);

/*
 * Detach, SIGTERM the runner (it drains and stops), wait for it with a
 * deadline (then SIGKILL), remove the segment name if it is left, and
 * the directory. Returns the runner's exit status (0 clean), or -1.
 * Safe after a failed start.
 */
int brun_stop(struct brun *r);

#endif /* SHMRT_BENCH_RUNNER_H */
