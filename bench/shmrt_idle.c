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
 *
 * The same readers measure, over the same interval, a calibration
 * process that knows what it did: it burns 1 ms of CPU time, sleeps
 * 9 ms, and counts its rounds. Its wakeups must be about its rounds and
 * its CPU about its rounds in ms, or the row fails: a reader that
 * miscounts cannot report a quiet tenant.
 */
#define _GNU_SOURCE
#include <shmrt/shmrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "procfs.h"
#include "results.h"
#include "runner.h"
#include "shm/os.h"

#define CONF_MAX   (64 * 1024)
#define BURN_NS	   1000000ull /* calibration: CPU per round */
#define NAP_NS	   9000000ull /* calibration: sleep per round */
#define CHILD_MS   10000

struct tick_shared {
	uint64_t rounds;
	uint32_t ready, stop;
};

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The calibration process: burn BURN_NS of CPU, sleep NAP_NS, count. */
int bench_tick_child(int argc, char **argv)
{
	struct tick_shared *sh = bench_shared_child(0, NULL);

	(void)argc;
	(void)argv;
	if (sh == NULL)
		return BENCH_EX_SETUP;
	__atomic_store_n(&sh->ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) {
		uint64_t until = thread_cpu_ns() + BURN_NS;

		while (thread_cpu_ns() < until)
			;
		shmrt__os_sleep_ns(NAP_NS);
		__atomic_fetch_add(&sh->rounds, 1, __ATOMIC_RELEASE);
	}
	return BENCH_EX_OK;
}

struct tick {
	struct tick_shared *sh;
	int fd;
	struct bench_child child;
	uint64_t rounds[2];
	struct bench_proc_usage use[2];
};

static int tick_start(struct tick *t)
{
	uint64_t deadline = bench_deadline_ms(CHILD_MS);

	memset(t, 0, sizeof(*t));
	t->sh = bench_shared_new(sizeof(*t->sh), &t->fd);
	if (t->sh == NULL || bench_spawn(&t->child, "tick", &t->fd, 1, NULL))
		return -1;
	while (!__atomic_load_n(&t->sh->ready, __ATOMIC_ACQUIRE))
		if (bench_now_ns() > deadline)
			return -1;
		else
			shmrt__os_sleep_ns(1000000);
	return 0;
}

/* Sample i (0 or 1): the child's own count, then what /proc says. */
static int tick_sample(struct tick *t, int i)
{
	t->rounds[i] = __atomic_load_n(&t->sh->rounds, __ATOMIC_ACQUIRE);
	return bench_proc_usage_add(t->child.pid, &t->use[i]);
}

/*
 * Whether /proc agreed with the child: at least one voluntary switch
 * per round (its sleep), not many more (preemptions on a busy
 * machine), and about BURN_NS of CPU per round (when the kernel has
 * schedstat; without it the CPU row uses ticks and says so).
 */
static int tick_check(const struct tick *t, double secs)
{
	double k = (double)(t->rounds[1] - t->rounds[0]);
	double ctxt = (double)(t->use[1].ctxt - t->use[0].ctxt);
	double cpu = (double)(t->use[1].run_ns - t->use[0].run_ns);
	int no_cpu = t->use[1].no_schedstat;
	struct bench_result *r;
	int ok = k > 0 && ctxt >= k - 2 && ctxt <= 3 * k + 20 &&
		 (no_cpu || (cpu >= 0.8 * k * (double)BURN_NS &&
			     cpu <= 1.6 * k * (double)BURN_NS + 2e6));

	r = bench_record_value(G_IDLE, "calibration: 1 ms CPU, 9 ms sleep",
			       "/s", ctxt / secs);
	bench_note(r, "its own count: %.0f rounds/s; CPU %.2f%%, expected "
		      "%.2f%%: readers %s",
		   k / secs, cpu / 1e9 / secs * 100,
		   k * (double)BURN_NS / 1e9 / secs * 100,
		   ok ? "agree" : "DISAGREE");
	return ok ? 0 : -1;
}

static void tick_stop(struct tick *t)
{
	if (t->sh != NULL)
		__atomic_store_n(&t->sh->stop, 1, __ATOMIC_RELEASE);
	if (t->child.pid > 0)
		bench_child_wait(&t->child, CHILD_MS);
	if (t->sh != NULL)
		bench_shared_free(t->sh, sizeof(*t->sh), t->fd);
	t->sh = NULL;
}

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
	double tick_pct = ticks / (double)sysconf(_SC_CLK_TCK) / secs * 100;
	int no_cpu = b->runner.no_schedstat || b->workers.no_schedstat;
	struct bench_result *row;

	row = bench_record_value(G_IDLE, R_IDLE_WAKE, "/s", run_w + wrk_w);
	bench_note(row, "over %.1f s: runner %.0f/s (%d threads), %d workers "
			"%.0f/s (%d threads)",
		   secs, run_w, b->runner.threads, r->nworkers, wrk_w,
		   b->workers.threads);
	row = bench_record_value(G_IDLE, R_IDLE_CPU, "% vCPU",
				 no_cpu ? tick_pct : ns / 1e9 / secs * 100);
	bench_note(row, "%s; utime+stime %.2f%% (%.0f ticks of %ld/s)",
		   no_cpu ? "no schedstat in this kernel: from ticks"
			  : "on-CPU time from schedstat",
		   tick_pct, ticks, sysconf(_SC_CLK_TCK));
}

void bench_shmrt_idle(const struct bench_cfg *c)
{
	uint64_t settle_ms = bench_n(c, 200, 1000);
	uint64_t interval_ms = bench_n(c, 500, 5000);
	struct idle_usage a, b;
	struct tick t;
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
	if (brun_start(&r, c->shmrt_exe, conf, conf_workers(conf),
		       BRUN_ASLEEP) != 0) {
		bench_record_failure(G_IDLE, R_IDLE_WAKE, "%s", r.why);
		free(conf);
		return;
	}
	free(conf);
	shmrt_tenant_detach(r.tenant);
	r.attached = 0;
	if (tick_start(&t) != 0)
		bench_record_failure(G_IDLE, "calibration", "did not start");
	shmrt__os_sleep_ns(settle_ms * 1000000ull);
	bench_progress("idle tenant: %llu ms idle",
		       (unsigned long long)interval_ms);
	if (t.child.pid > 0 && tick_sample(&t, 0) == 0 && sample(&r, &a) == 0) {
		shmrt__os_sleep_ns(interval_ms * 1000000ull);
		if (sample(&r, &b) != 0 || tick_sample(&t, 1) != 0)
			bench_record_failure(G_IDLE, R_IDLE_WAKE,
					     "a process of the tenant exited "
					     "while it was idle");
		else if (tick_check(&t, (double)(b.t_ns - a.t_ns) / 1e9) != 0)
			bench_record_failure(G_IDLE, R_IDLE_WAKE,
					     "the /proc readers disagree with "
					     "the calibration process");
		else
			record(&r, &a, &b);
	} else {
		bench_record_failure(G_IDLE, R_IDLE_WAKE,
				     "a process of the tenant is gone");
	}
	tick_stop(&t);
	if (brun_stop(&r) != 0)
		bench_record_failure(G_IDLE, "shmrt run",
				     "did not stop cleanly");
}
