/*
 * src/cli/demo.c - `shmrt demo`: the README's main job.
 *
 * Starts the tenant in process mode (shmrt_tenant_start), starts the
 * worker processes the configuration asks for (`shmrt worker`, via
 * posix_spawn), sends a mixed workload through shmrt_enqueue (chat
 * messages over many conversations, each its own lane; uploads; exams;
 * profile updates with repeated idempotency keys; a few jobs that fail),
 * kills one worker with SIGKILL mid-run and lets scan reclaim its job,
 * waits for every job, prints a per-queue summary, and stops the tenant
 * (drain, stop, remove the segment), which the workers follow.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <shmrt/error.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmrt/runtime.h>

#include "cli.h"
#include "shm/job.h"
#include "shm/os.h"

extern char **environ;

#define DEMO_MAX_WORKERS 64
#define DEMO_MAX_JOBS 4096

struct demo {
	const struct shmrt_conf *conf;
	const char *tenant;
	const char *conf_path;
	struct shmrt__seg seg; /* read-only view: which worker holds a job */
	pid_t workers[DEMO_MAX_WORKERS];
	uint32_t worker_queue[DEMO_MAX_WORKERS];
	uint32_t nworkers;
	shmrt_job_id jobs[DEMO_MAX_JOBS];
	uint32_t njobs;
	uint32_t deduplicated; /* enqueues answered with an existing job */
};

static pid_t spawn_worker(struct demo *d, uint32_t qi)
{
	char *argv[] = { "shmrt", "worker", "-c", (char *)d->conf_path,
			 "-t", (char *)d->tenant, "-q",
			 (char *)d->conf->queue[qi].name, NULL };
	pid_t pid;

	if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ) != 0)
		return -1;
	return pid;
}

static int start_workers(struct demo *d)
{
	uint32_t qi, k;

	for (qi = 0; qi < d->conf->nqueues; qi++)
		for (k = 0; k < d->conf->queue[qi].workers; k++) {
			pid_t pid;

			if (d->nworkers == DEMO_MAX_WORKERS ||
			    (pid = spawn_worker(d, qi)) < 0)
				return -1;
			d->worker_queue[d->nworkers] = qi;
			d->workers[d->nworkers++] = pid;
		}
	printf("started %u worker processes\n", d->nworkers);
	return 0;
}

static void submit(struct demo *d, const char *queue, const char *lane,
		   const char *key, const void *data, size_t len)
{
	struct shmrt_enqueue_opts o = { lane, key, 5000 };
	int rc;

	if (d->njobs == DEMO_MAX_JOBS)
		return;
	rc = shmrt_enqueue(d->tenant, queue, data, len, &o,
			   &d->jobs[d->njobs]);
	if (rc == 0)
		d->njobs++;
	else if (rc == SHMRT_ENQUEUE_EXISTING)
		d->deduplicated++;
	else
		fprintf(stderr, "enqueue %s: %s\n", queue, shmrt_last_error());
}

static void submit_workload(struct demo *d)
{
	char buf[2048];
	int i, n;


	char lane[32], key[32];
	for (i = 0; i < 2000; i++) {
		snprintf(lane, sizeof(lane), "conv-%02d", i % 50);
		n = snprintf(buf, sizeof(buf), "%s msg %d: hello", lane, i);
		submit(d, "chat", lane, NULL, buf, (size_t)n);
	}
	for (i = 0; i < 5; i++) {
		snprintf(lane, sizeof(lane), "conv-%02d", i);
		n = snprintf(buf, sizeof(buf), "fail:conversation %d is closed", i);
		submit(d, "chat", lane, NULL, buf, (size_t)n);
	}
	memset(buf, 'u', sizeof(buf));
	for (i = 0; i < 100; i++)
		submit(d, "upload", NULL, NULL, buf, 1024 + (size_t)i);
	for (i = 0; i < 100; i++) {
		memset(buf, 'a' + i % 26, 1000);
		submit(d, "exam", NULL, NULL, buf, 1000);
	}
	/* Each update is sent twice, as a client retrying would: the
	 * idempotency key makes the second one return the first job. */
	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "update-%d", i / 2);
		n = snprintf(buf, sizeof(buf), "user-%d name=v%d", (i / 2) % 60,
			     i / 2);
		submit(d, "profile", NULL, key, buf, (size_t)n);
	}
	printf("enqueued %u jobs (%u duplicate submits answered with the "
	       "existing job)\n", d->njobs, d->deduplicated);
}

/* The index of a worker process that holds a job right now, or -1. */
static int busy_worker(struct demo *d)
{
	uint32_t i, k;

	for (i = 0; i < d->seg.nparticipants; i++) {
		const struct shmrt__participant *r = &d->seg.parts[i];
		uint64_t owner = __atomic_load_n(&r->owner, __ATOMIC_ACQUIRE);

		if (owner == 0 || __atomic_load_n(&r->held_job, __ATOMIC_RELAXED) == 0)
			continue;
		for (k = 0; k < d->nworkers; k++)
			if ((uint32_t)d->workers[k] == (uint32_t)(owner >> 32))
				return (int)k;
	}
	return -1;
}

/* SIGKILL a worker in the middle of a job, then let scan reclaim it. */
static void kill_one_worker(struct demo *d)
{
	struct shmrt_scan_stats r;
	uint64_t deadline = shmrt__os_now_ns() + 1000000000u;
	int i;

	while ((i = busy_worker(d)) < 0 && shmrt__os_now_ns() < deadline)
		shmrt__os_cpu_relax();
	if (i < 0)
		return;
	kill(d->workers[i], SIGKILL);
	waitpid(d->workers[i], NULL, 0);
	memset(&r, 0, sizeof(r));
	shmrt_scan(d->tenant, &r);
	printf("killed worker %d (%s) with SIGKILL in the middle of a job; "
	       "scan: %u dead, %u jobs requeued, %u failed, %u ring cells "
	       "repaired\n",
	       (int)d->workers[i], d->conf->queue[d->worker_queue[i]].name,
	       r.dead_participants, r.jobs_requeued, r.jobs_failed,
	       r.cells_repaired);
	d->workers[i] = spawn_worker(d, d->worker_queue[i]);
}

struct queue_summary {
	uint32_t jobs, succeeded, failed;
	uint32_t n;
	double start_us[DEMO_MAX_JOBS];
	double finish_us[DEMO_MAX_JOBS];
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(double *v, uint32_t n, double p)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return v[(uint32_t)(p * (n - 1))];
}

/* Waits for every job, tallies it, frees its slot. Returns #unfinished. */
static uint32_t wait_all(struct demo *d, struct queue_summary *qs)
{
	uint64_t deadline = shmrt__os_now_ns() + 60000000000ull;
	uint32_t i, missing = 0;

	for (i = 0; i < d->njobs; i++) {
		struct shmrt_job_info info;
		struct queue_summary *s = &qs[d->jobs[i].v >> 56];

		s->jobs++;
		uint64_t now = shmrt__os_now_ns();

		if (shmrt_job_wait(d->tenant, d->jobs[i],
				   (uint32_t)((deadline > now ? deadline - now : 0) /
					      1000000u),
				   &info, NULL, 0) != 0) {
			missing++;
			continue;
		}
		if (info.state == SHMRT_JOB_SUCCEEDED)
			s->succeeded++;
		else
			s->failed++;
		s->start_us[s->n] = (double)(info.start_ns - info.enqueue_ns) / 1e3;
		s->finish_us[s->n++] = (double)(info.finish_ns - info.enqueue_ns) / 1e3;
		shmrt_job_release(d->tenant, d->jobs[i]);
		if ((i + 1) % 500 == 0 || i + 1 == d->njobs) {
			printf("\r  finished %u/%u jobs", i + 1, d->njobs);
			fflush(stdout);
		}
	}
	printf("\n");
	return missing;
}

static void print_summary(struct demo *d, struct queue_summary *qs)
{
	uint32_t qi;

	printf("\n%-8s %6s %9s %6s %7s %9s %6s %10s %10s %10s %10s\n",
	       "queue", "jobs", "succeeded", "failed", "retried", "reclaimed",
	       "dedup", "start p50", "start p99", "finish p50", "finish p99");
	for (qi = 0; qi < d->conf->nqueues; qi++) {
		struct queue_summary *s = &qs[qi];
		struct shmrt_queue_stats c;

		memset(&c, 0, sizeof(c));
		shmrt_queue_get_stats(d->tenant, d->conf->queue[qi].name, &c);
		printf("%-8s %6u %9u %6u %7llu %9llu %6llu %8.0fus %8.0fus "
		       "%8.0fus %8.0fus\n",
		       d->conf->queue[qi].name, s->jobs, s->succeeded,
		       s->failed, (unsigned long long)c.retried,
		       (unsigned long long)c.reclaimed,
		       (unsigned long long)c.deduplicated,
		       pct(s->start_us, s->n, 0.5), pct(s->start_us, s->n, 0.99),
		       pct(s->finish_us, s->n, 0.5),
		       pct(s->finish_us, s->n, 0.99));
	}
}

/*
 * Stop the tenant: it drains through the segment, which the workers see,
 * finish and leave; then reap them (SIGKILL after the drain deadline).
 */
static void stop_tenant(struct demo *d)
{
	uint64_t deadline = shmrt__os_now_ns() +
			    d->conf->drain_timeout_ms * 1000000u + 1000000000u;
	uint32_t i, left = 0;
	int rc = shmrt_tenant_stop(d->tenant);

	if (rc != 0)
		fprintf(stderr, "shmrt demo: stop: %s\n", shmrt_last_error());
	for (i = 0; i < d->nworkers; i++) {
		int status;

		while (waitpid(d->workers[i], &status, WNOHANG) == 0) {
			if (shmrt__os_now_ns() > deadline) {
				kill(d->workers[i], SIGKILL);
				waitpid(d->workers[i], &status, 0);
				left++;
				break;
			}
			shmrt__os_sleep_ns(2000000);
		}
	}
	printf("stopped the tenant and %u workers (%u had to be killed)\n",
	       d->nworkers, left);
}

static int run_demo(struct demo *d)
{
	static struct queue_summary qs[SHMRT__MAX_QUEUES];
	struct shmrt_tenant_info info;
	uint32_t missing;

	/* The demo shows worker processes: process mode, whatever the
	 * environment says (still single-threaded here). */
	setenv("SHMRT_MODE", "process", 1);
	if (shmrt_tenant_start(d->conf_path, d->tenant) != 0 ||
	    shmrt_tenant_get_info(d->tenant, &info) != 0) {
		fprintf(stderr, "shmrt demo: %s\n", shmrt_last_error());
		return CLI_FAILED;
	}
	if (info.mode != SHMRT_MODE_PROCESS ||
	    shmrt__seg_attach(d->tenant, &d->seg) != 0) {
		fprintf(stderr, "shmrt demo: tenant %s runs %s: the demo "
			"needs its segment in /dev/shm\n", d->tenant,
			info.backend);
		shmrt_tenant_stop(d->tenant);
		return CLI_FAILED;
	}
	printf("started tenant %s: segment /dev/shm/shmrt.%s, %u queues, "
	       "%zu KiB\n", d->tenant, d->tenant, d->seg.nqueues,
	       d->seg.size / 1024);
	if (start_workers(d) != 0)
		fprintf(stderr, "shmrt demo: could not start every worker\n");
	submit_workload(d);
	kill_one_worker(d);
	missing = wait_all(d, qs);
	print_summary(d, qs);
	shmrt__seg_detach(&d->seg);
	stop_tenant(d);
	printf("removed the segment; %u jobs unfinished\n", missing);
	return missing == 0 ? CLI_OK : CLI_FAILED;
}

static const char demo_usage[] =
	"usage: shmrt demo [-c FILE]\n"
	"Runs the demo workload on the first tenant of the configuration in\n"
	"process mode and prints a per-queue summary.\n";

int cli_demo(int argc, char **argv)
{
	static struct demo d;
	static struct shmrt_conf conf;
	const char *path = NULL;
	int c;

	while ((c = getopt(argc, argv, "c:h")) != -1) {
		if (c == 'c') {
			path = optarg;
		} else {
			fputs(demo_usage, c == 'h' ? stdout : stderr);
			return c == 'h' ? CLI_OK : CLI_USAGE;
		}
	}
	if ((c = cli_load_conf(path, &conf)) != CLI_OK)
		return c;
	d.conf = &conf;
	d.conf_path = conf.path;
	d.tenant = conf.tenant[0].name;
	return run_demo(&d);
}
