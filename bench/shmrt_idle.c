/*
 * bench/shmrt_idle.c - what an idle tenant costs the machine.
 *
 * The default configuration (conf/shmrt.ini, with a [tenant] section of
 * the benchmark's own instead of its tenants) runs under `shmrt run`:
 * the runner (supervisor, scans) and its worker processes. Once all the
 * workers sleep, the benchmark detaches, lets it settle, and reads, for
 * the runner and every worker, over INTERVAL:
 *
 *   wakeups  voluntary + nonvoluntary context switches of every thread
 *            (/proc/PID/task/TID/status), per second: each is one time
 *            a thread was put to sleep or off the CPU, so one wakeup;
 *   CPU      on-CPU time of every thread (/proc/PID/task/TID/schedstat,
 *            in ns), as % of one vCPU; utime + stime of /proc/PID/stat
 *            (10 ms ticks: too coarse for 0.1% over a few seconds) is
 *            given beside it.
 *
 * Nothing is enqueued. The goal (issue 10, point 3): under 10 wakeups
 * per second in all, and under 0.1% of a vCPU.
 */
#define _GNU_SOURCE
#include <shmrt/shmrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "procfs.h"
#include "results.h"
#include "runner.h"
#include "shm/os.h"

#define CONF_MAX (64 * 1024)

/* Worker processes a configuration asks for: [queue] workers, default 1. */
static int conf_workers(const char *text)
{
	const char *line = text;
	int total = 0, in_queue = 0, cur = 0;

	for (; line != NULL && *line != '\0'; line = strchr(line, '\n')) {
		line += *line == '\n';
		if (*line == '[') {
			total += in_queue ? cur : 0;
			in_queue = strncmp(line, "[queue ", 7) == 0;
			cur = 1;
		} else if (in_queue && strncmp(line, "workers", 7) == 0 &&
			   strchr(line, '=') != NULL) {
			cur = atoi(strchr(line, '=') + 1);
		}
	}
	return total + (in_queue ? cur : 0);
}

struct idle_usage {
	struct bench_proc_usage runner, workers;
	uint64_t t_ns;
};

static int sample(const struct brun *r, struct idle_usage *u)
{
	int i;

	memset(u, 0, sizeof(*u));
	u->t_ns = bench_now_ns();
	if (bench_proc_usage_add(r->runner.pid, &u->runner) != 0)
		return -1;
	for (i = 0; i < r->nworkers; i++)
		if (bench_proc_usage_add(r->workers[i], &u->workers) != 0)
			return -1;
	return 0;
}

static void record(const struct brun *r, const struct idle_usage *a,
		   const struct idle_usage *b)
{
	double secs = (double)(b->t_ns - a->t_ns) / 1e9;
	double run_w = (double)(b->runner.ctxt - a->runner.ctxt) / secs;
	double wrk_w = (double)(b->workers.ctxt - a->workers.ctxt) / secs;
	double ns = (double)(b->runner.run_ns + b->workers.run_ns -
			     a->runner.run_ns - a->workers.run_ns);
	double ticks = (double)(b->runner.ticks + b->workers.ticks -
				a->runner.ticks - a->workers.ticks);
	struct bench_result *row;

	row = bench_record_value(G_IDLE, R_IDLE_WAKE, "/s", run_w + wrk_w);
	bench_note(row, "over %.1f s: runner %.0f/s (%d threads), %d workers "
			"%.0f/s (%d threads)",
		   secs, run_w, b->runner.threads, r->nworkers, wrk_w,
		   b->workers.threads);
	row = bench_record_value(G_IDLE, R_IDLE_CPU, "% vCPU",
				 ns / 1e9 / secs * 100);
	bench_note(row, "%s; utime+stime %.2f%% (%.0f ticks of %ld/s)",
		   b->runner.no_schedstat || b->workers.no_schedstat
			   ? "schedstat missing for some threads"
			   : "on-CPU time from schedstat",
		   ticks / (double)sysconf(_SC_CLK_TCK) / secs * 100, ticks,
		   sysconf(_SC_CLK_TCK));
}

void bench_shmrt_idle(const struct bench_cfg *c)
{
	uint64_t settle_ms = bench_n(c, 200, 1000);
	uint64_t interval_ms = bench_n(c, 500, 5000);
	struct idle_usage a, b;
	struct brun r;
	char *conf = malloc(CONF_MAX);

	bench_group(G_IDLE, "an idle tenant: the default conf under shmrt "
			    "run (runner and worker processes), nothing "
			    "enqueued");
	if (conf == NULL || brun_conf_untenanted(c->conf, conf, CONF_MAX) != 0) {
		bench_record_failure(G_IDLE, R_IDLE_WAKE, "cannot read %s",
				     c->conf);
		free(conf);
		return;
	}
	bench_progress("idle tenant: starting %s", c->conf);
	if (brun_start(&r, c->shmrt_exe, conf, conf_workers(conf)) != 0) {
		bench_record_failure(G_IDLE, R_IDLE_WAKE, "%s", r.why);
		free(conf);
		return;
	}
	free(conf);
	shmrt_tenant_detach(r.tenant);
	r.attached = 0;
	shmrt__os_sleep_ns(settle_ms * 1000000ull);
	bench_progress("idle tenant: %llu ms idle",
		       (unsigned long long)interval_ms);
	if (sample(&r, &a) == 0) {
		shmrt__os_sleep_ns(interval_ms * 1000000ull);
		if (sample(&r, &b) == 0)
			record(&r, &a, &b);
		else
			bench_record_failure(G_IDLE, R_IDLE_WAKE,
					     "a process of the tenant exited "
					     "while it was idle");
	} else {
		bench_record_failure(G_IDLE, R_IDLE_WAKE,
				     "a process of the tenant is gone");
	}
	if (brun_stop(&r) != 0)
		bench_record_failure(G_IDLE, "shmrt run",
				     "did not stop cleanly");
}
