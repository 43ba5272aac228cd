/*
 * src/cli/demo.c - `shmrt demo`: the README's main job.
 *
 * Starts the tenant in process mode (shmrt_tenant_start) with its worker
 * processes under a supervisor (workers/workers.h: `shmrt worker`
 * processes, started with posix_spawn), sends a mixed workload through
 * shmrt_enqueue (chat messages over many conversations, each its own
 * lane; uploads; exams; profile updates with repeated idempotency keys; a
 * few jobs that fail), kills one worker with SIGKILL mid-job (scan
 * requeues its job, the supervisor starts a new worker), shows progress
 * while the jobs run, prints a per-queue summary, checks that every
 * conversation's turns ran in the order they were sent, and stops:
 * workers drain and leave, the tenant stops and its segment is removed.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <shmrt/error.h>
#include <shmrt/runtime.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "workers/handlers.h"
#include "workers/workers.h"

#define DEMO_MAX_JOBS 4096
#define DEMO_CONVERSATIONS 50
#define DEMO_TURNS 2000

struct demo {
	const struct shmrt_conf *conf;
	const char *tenant;
	shmrt_job_id jobs[DEMO_MAX_JOBS];
	uint32_t queue[DEMO_MAX_JOBS]; /* each job's queue index */
	int lane[DEMO_MAX_JOBS]; /* chat: the conversation; -1: not chat */
	uint32_t njobs;
	uint32_t deduplicated; /* enqueues answered with an existing job */
	uint64_t t0;
	bool engine; /* the jobs live in a server (redis), not a segment */
};

static double since(const struct demo *d)
{
	return (double)(cli_now_ns() - d->t0) / 1e9;
}

static void submit(struct demo *d, const char *queue, int lane_no,
		   const char *key, const void *data, size_t len)
{
	char lane[32];
	struct shmrt_enqueue_opts o = { .key = key, .timeout_ms = 5000 };
	int rc;

	if (d->njobs == DEMO_MAX_JOBS)
		return;
	if (lane_no >= 0) {
		snprintf(lane, sizeof(lane), "conv-%02d", lane_no);
		o.lane = lane;
	}
	rc = shmrt_enqueue(d->tenant, queue, data, len, &o,
			   &d->jobs[d->njobs]);
	if (rc == 0) {
		d->queue[d->njobs] =
			(uint32_t)shmrt_conf_queue_index(d->conf, queue);
		d->lane[d->njobs++] = lane_no;
	}
	else if (rc == SHMRT_ENQUEUE_EXISTING)
		d->deduplicated++;
	else
		cli_error("demo", "enqueue %s: %s", queue, shmrt_last_error());
}

static void submit_workload(struct demo *d)
{
	char buf[2048];
	char key[32];
	int i, n;

	for (i = 0; i < DEMO_TURNS; i++) {
		n = snprintf(buf, sizeof(buf), "conv-%02d msg %d: hello",
			     i % DEMO_CONVERSATIONS, i);
		submit(d, "chat", i % DEMO_CONVERSATIONS, NULL, buf, (size_t)n);
	}
	for (i = 0; i < 5; i++) {
		n = snprintf(buf, sizeof(buf), "fail:conversation %d is closed",
			     i);
		submit(d, "chat", i, NULL, buf, (size_t)n);
	}
	memset(buf, 'u', sizeof(buf));
	for (i = 0; i < 100; i++)
		submit(d, "upload", -1, NULL, buf, 1024 + (size_t)i);
	for (i = 0; i < 100; i++) {
		memset(buf, 'a' + i % 26, 1000);
		submit(d, "exam", -1, NULL, buf, 1000);
	}
	/* Each update is sent twice, as a client retrying would: the
	 * idempotency key makes the second one return the first job. */
	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "update-%d", i / 2);
		n = snprintf(buf, sizeof(buf), "user-%d name=v%d", (i / 2) % 60,
			     i / 2);
		submit(d, "profile", -1, key, buf, (size_t)n);
	}
	printf("[%5.2fs] enqueued %u jobs (%u duplicate submits answered "
	       "with the existing job)\n", since(d), d->njobs,
	       d->deduplicated);
}

/* Whether pid is one of the supervisor's worker processes. */
static bool supervised(const struct shmrt__workers_info *wi, int32_t pid)
{
	uint32_t k;

	for (k = 0; k < wi->nworkers && k < 256; k++)
		if (wi->pid[k] > 0 && (int32_t)wi->pid[k] == pid)
			return true;
	return false;
}

/*
 * A worker process whose job has been running for at least a millisecond
 * (so a SIGKILL now lands in the middle of it), and that job's queue.
 */
/*
 * With the jobs in a server, which worker holds which job is not visible
 * here, but the supervisor starts each queue's workers in queue order,
 * one queue after another: a queue with as many jobs running as it has
 * workers has every one of them in the middle of a job.
 */
static pid_t engine_busy_worker(struct demo *d, uint32_t *queue)
{
	struct shmrt__workers_info wi;
	struct shmrt_queue_stats c;
	uint32_t qi, first = 0, n;

	if (shmrt__workers_get_info(d->tenant, &wi) != 0)
		return 0;
	for (qi = 0; qi < d->conf->nqueues; first += n, qi++) {
		n = d->conf->queue[qi].workers;
		if (n > 0 && first < wi.nworkers && first < 256 &&
		    wi.pid[first] > 0 &&
		    shmrt_queue_get_stats(d->tenant, d->conf->queue[qi].name,
					  &c) == 0 &&
		    c.running >= n) {
			*queue = qi;
			return wi.pid[first];
		}
	}
	return 0;
}

static pid_t busy_worker(struct demo *d, uint32_t *queue)
{
	struct shmrt_worker_info w[64];
	struct shmrt__workers_info wi;
	uint64_t now = cli_now_ns();
	int i, n;

	if (d->engine)
		return engine_busy_worker(d, queue);
	if (shmrt__workers_get_info(d->tenant, &wi) != 0 ||
	    (n = shmrt_tenant_workers(d->tenant, w, 64)) < 0)
		return 0;
	for (i = 0; i < n && i < 64; i++) {
		struct shmrt_job_info info;

		if (w[i].state != SHMRT_WORKER_BUSY ||
		    !supervised(&wi, w[i].pid) ||
		    shmrt_job_status(d->tenant, w[i].job, &info, NULL,
				     0) != 0 ||
		    info.state != SHMRT_JOB_RUNNING ||
		    now < info.start_ns + 1000000u)
			continue;
		*queue = (uint32_t)w[i].queue;
		return (pid_t)w[i].pid;
	}
	return 0;
}

/* Jobs taken back from dead workers so far, over every queue. */
static uint64_t reclaimed(struct demo *d)
{
	struct shmrt_queue_stats c;
	uint64_t n = 0;
	uint32_t qi;

	for (qi = 0; qi < d->conf->nqueues; qi++)
		if (shmrt_queue_get_stats(d->tenant, d->conf->queue[qi].name,
					  &c) == 0)
			n += c.reclaimed;
	return n;
}

/* SIGKILL a worker in the middle of a job; the supervisor replaces it,
 * and its job goes back to its queue. */
static void kill_one_worker(struct demo *d)
{
	struct shmrt__workers_info wi;
	uint64_t deadline = cli_now_ns() + 2000000000u;
	uint64_t before = reclaimed(d);
	uint32_t queue = 0;
	pid_t pid;

	while ((pid = busy_worker(d, &queue)) == 0 && cli_now_ns() < deadline)
		cli_sleep_ms(1);
	if (pid == 0)
		return;
	kill(pid, SIGKILL);
	printf("[%5.2fs] killed worker %d (%s) with SIGKILL in the middle of "
	       "a job\n", since(d), (int)pid,
	       queue < d->conf->nqueues ? d->conf->queue[queue].name : "?");
	deadline = cli_now_ns() + 3000000000u;
	do {
		cli_sleep_ms(5);
		shmrt__workers_get_info(d->tenant, &wi);
	} while ((wi.restarts == 0 || wi.running < wi.nworkers ||
		  reclaimed(d) == before) &&
		 cli_now_ns() < deadline);
	printf("[%5.2fs] supervisor: %llu restart(s), %u/%u workers "
	       "running; %llu job(s) taken back from the dead worker\n",
	       since(d), (unsigned long long)wi.restarts, wi.running,
	       wi.nworkers, (unsigned long long)(reclaimed(d) - before));
}

/* Jobs of the tenant that ended (succeeded, failed, cancelled). */
static uint64_t ended(struct demo *d, char *line, size_t cap)
{
	struct shmrt_queue_stats c;
	uint64_t done = 0, q;
	size_t at = 0;
	uint32_t qi;

	line[0] = '\0';
	for (qi = 0; qi < d->conf->nqueues; qi++) {
		if (shmrt_queue_get_stats(d->tenant, d->conf->queue[qi].name,
					  &c) != 0)
			continue;
		q = c.succeeded + c.failed + c.cancelled;
		done += q;
		if (at < cap)
			at += (size_t)snprintf(line + at, cap - at,
					       " %s %llu", 
					       d->conf->queue[qi].name,
					       (unsigned long long)q);
	}
	return done;
}

/* Progress every 200 ms until every job ended or the deadline. */
static void show_progress(struct demo *d)
{
	uint64_t deadline = cli_now_ns() + 60000000000ull, done;
	uint64_t next = 0;
	char line[256];

	for (;;) {
		done = ended(d, line, sizeof(line));
		if (done >= d->njobs || cli_now_ns() >= deadline ||
		    cli_now_ns() >= next) {
			printf("[%5.2fs] progress: %llu/%u jobs ended (%s )\n",
			       since(d), (unsigned long long)done, d->njobs,
			       line + 1);
			fflush(stdout);
			next = cli_now_ns() + 200000000u;
		}
		if (done >= d->njobs || cli_now_ns() >= deadline)
			return;
		cli_sleep_ms(10);
	}
}

struct queue_summary {
	uint32_t jobs, succeeded, failed;
	uint32_t n;
	double start_us[DEMO_MAX_JOBS];
	double finish_us[DEMO_MAX_JOBS];
};

/* Per conversation: the last turn's time, for the order check. */
struct lane_check {
	uint64_t last_ran, last_finish;
	uint32_t turns, inversions;
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

/*
 * A chat turn ran in order if it started after the previous turn of its
 * conversation (enqueue order) finished: the chat handler stamps its
 * result with the time it ran ("ran_ns=N"; failed turns have only the
 * job's start time).
 */
static void check_turn(struct lane_check *lc, const struct shmrt_job_info *i,
		       const char *result, size_t len)
{
	unsigned long long ran = i->start_ns;
	char head[32];

	snprintf(head, sizeof(head), "%.*s", (int)(len < 31 ? len : 31),
		 result);
	if (i->state == SHMRT_JOB_SUCCEEDED &&
	    sscanf(head, "ran_ns=%llu", &ran) != 1)
		ran = 0;
	if (lc->turns > 0 && (ran <= lc->last_ran || ran < lc->last_finish))
		lc->inversions++;
	lc->turns++;
	lc->last_ran = ran;
	lc->last_finish = i->finish_ns;
}

/* Collects every job, tallies it, frees its slot. Returns #unfinished. */
static uint32_t collect(struct demo *d, struct queue_summary *qs,
			struct lane_check *lanes)
{
	char result[128];
	uint32_t i, missing = 0;

	for (i = 0; i < d->njobs; i++) {
		struct shmrt_job_info info;
		struct queue_summary *s = &qs[d->queue[i]];

		s->jobs++;
		if (shmrt_job_wait(d->tenant, d->jobs[i], 1000, &info, result,
				   sizeof(result)) != 0) {
			missing++;
			continue;
		}
		if (info.state == SHMRT_JOB_SUCCEEDED)
			s->succeeded++;
		else
			s->failed++;
		if (d->lane[i] >= 0)
			check_turn(&lanes[d->lane[i]], &info, result,
				   info.result_len < sizeof(result)
					   ? info.result_len
					   : sizeof(result));
		s->start_us[s->n] = (double)(info.start_ns - info.enqueue_ns) / 1e3;
		s->finish_us[s->n++] = (double)(info.finish_ns - info.enqueue_ns) / 1e3;
		shmrt_job_release(d->tenant, d->jobs[i]);
	}
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

/* Prints the order check; returns the number of conversations broken. */
static uint32_t report_order(const struct lane_check *lanes)
{
	uint32_t i, broken = 0, turns = 0;

	for (i = 0; i < DEMO_CONVERSATIONS; i++) {
		turns += lanes[i].turns;
		if (lanes[i].inversions > 0) {
			broken++;
			printf("chat order BROKEN in conv-%02u: %u turns out of "
			       "order\n", i, lanes[i].inversions);
		}
	}
	printf("\nchat order: %s in %u/%u conversations (%u turns checked: "
	       "each started after the previous one of its conversation "
	       "finished)\n", broken ? "NOT held" : "held",
	       DEMO_CONVERSATIONS - broken, DEMO_CONVERSATIONS, turns);
	return broken;
}

/* Workers drain and leave; the tenant stops and removes its segment. */
static bool stop_all(struct demo *d)
{
	char path[128];
	int rc = shmrt__workers_stop(d->tenant);

	if (rc != 0)
		cli_error("demo", "workers: %s", shmrt_last_error());
	if (shmrt_tenant_stop(d->tenant) != 0) {
		cli_error("demo", "stop: %s", shmrt_last_error());
		rc = -1;
	}
	snprintf(path, sizeof(path), "/dev/shm/shmrt.%s", d->tenant);
	if (d->engine) {
		printf("[%5.2fs] stopped: workers drained and left, tenant "
		       "stopped (its finished jobs expire in redis after "
		       "retention_ms)\n", since(d));
		return rc == 0;
	}
	if (access(path, F_OK) == 0) {
		cli_error("demo", "%s is still there", path);
		rc = -1;
	}
	printf("[%5.2fs] stopped: workers drained and left, tenant stopped, "
	       "%s removed\n", since(d), path);
	return rc == 0;
}

static int start_all(struct demo *d)
{
	struct shmrt_tenant_info info;
	struct shmrt__workers_info wi;
	struct stat st;
	char path[128];

	if (shmrt_tenant_start(d->conf->path, d->tenant) != 0 ||
	    shmrt_tenant_get_info(d->tenant, &info) != 0) {
		cli_error("demo", "%s", shmrt_last_error());
		return -1;
	}
	snprintf(path, sizeof(path), "/dev/shm/shmrt.%s", d->tenant);
	d->engine = strcmp(info.backend, "redis") == 0;
	if (d->engine && info.mode == SHMRT_MODE_PROCESS) {
		printf("[%5.2fs] started tenant %s on backend redis (%s), %u "
		       "queues\n", since(d), d->tenant, d->conf->redis,
		       info.nqueues);
	} else if (info.mode != SHMRT_MODE_PROCESS || stat(path, &st) != 0) {
		cli_error("demo", "tenant %s runs %s: the demo needs its "
			  "segment in /dev/shm", d->tenant, info.backend);
		shmrt_tenant_stop(d->tenant);
		return -1;
	} else {
		printf("[%5.2fs] started tenant %s: segment %s, %u queues, "
		       "%lld KiB\n", since(d), d->tenant, path, info.nqueues,
		       (long long)st.st_size / 1024);
	}
	if (shmrt__workers_start(d->tenant, NULL) != 0) {
		cli_error("demo", "%s", shmrt_last_error());
		shmrt_tenant_stop(d->tenant);
		return -1;
	}
	shmrt__workers_get_info(d->tenant, &wi);
	printf("[%5.2fs] supervisor started %u worker processes\n", since(d),
	       wi.nworkers);
	return 0;
}

static int run_demo(struct demo *d)
{
	static struct queue_summary qs[SHMRT_CONF_MAX_QUEUES];
	static struct lane_check lanes[DEMO_CONVERSATIONS];
	uint32_t missing, broken;
	bool stopped;

	d->t0 = cli_now_ns();
	if (start_all(d) != 0)
		return CLI_FAILED;
	submit_workload(d);
	kill_one_worker(d);
	show_progress(d);
	missing = collect(d, qs, lanes);
	print_summary(d, qs);
	broken = report_order(lanes);
	stopped = stop_all(d);
	printf("%u jobs unfinished; demo %s\n", missing,
	       missing == 0 && broken == 0 && stopped ? "passed" : "FAILED");
	return missing == 0 && broken == 0 && stopped ? CLI_OK : CLI_FAILED;
}

static const char demo_usage[] =
	"usage: shmrt demo [-c FILE]\n"
	"Runs the demo workload on the first tenant of the configuration in\n"
	"process mode: worker processes under a supervisor, chat, upload,\n"
	"exam and profile jobs, one worker killed mid-job; shows progress,\n"
	"a per-queue summary and the per-conversation order check, then\n"
	"stops and removes the segment.\n"
	"Exit: 0 every job ended and chat order held, 1 otherwise, 2 usage.\n";

int cli_demo(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "conf", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct demo d;
	static struct cli_target t;
	int c;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': t.conf_arg = optarg; break;
		case 'h': fputs(demo_usage, stdout); return CLI_OK;
		default: fputs(demo_usage, stderr); return CLI_USAGE;
		}
	}
	if (optind != argc)
		return cli_usage_error(demo_usage, "unexpected argument '%s'",
				       argv[optind]);
	/* The demo shows worker processes: process mode, whatever the
	 * environment says (still single-threaded here). */
	setenv("SHMRT_MODE", "process", 1);
	if ((c = cli_target_load("demo", &t)) != CLI_OK)
		return c;
	if (shmrt_conf_queue_index(&t.conf, "chat") < 0 ||
	    shmrt_conf_queue_index(&t.conf, "upload") < 0 ||
	    shmrt_conf_queue_index(&t.conf, "exam") < 0 ||
	    shmrt_conf_queue_index(&t.conf, "profile") < 0)
		return cli_usage_error(demo_usage, "%s lacks one of the demo's "
				       "queues chat, upload, exam, profile",
				       t.conf.path);
	shmrt__handlers_register();
	d.conf = &t.conf;
	d.tenant = t.tenant;
	return run_demo(&d);
}
