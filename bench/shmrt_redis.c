/*
 * bench/shmrt_redis.c - shmrt on the redis backend, through the public
 * API, on the redis-server scripts/bench.sh starts (persistence off), in
 * the same run as the raw redis and rq baselines.
 *
 * The workers are one peer process (this binary again) in its own mount
 * namespace with a private /dev/shm, so nothing can pass through shared
 * memory: a second host as far as shmrt can tell. It attaches to the
 * tenant and runs shmrt_worker_run on WORKERS threads with a handler
 * that stamps its result with the CLOCK_MONOTONIC time it ran.
 *
 *   latency     one job at a time: enqueue -> the handler's start, both
 *               read on this host's one monotonic clock.
 *   throughput  PRODUCERS threads enqueue n jobs as fast as they can;
 *               the rate is n over first enqueue to the last success
 *               seen in the queue's counters.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <shmrt/error.h>
#include <shmrt/runtime.h>
#include <shmrt/worker.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "bench.h"
#include "proc.h"
#include "results.h"
#include "stats.h"

#define WORKERS	  4
#define PRODUCERS 4
#define WAIT_MS	  30000

struct rb_run {
	const char *tenant;
	uint64_t n;
	int failed;
};

/* ----------------------------------------------------------- the peer */

static int stamp(void *ctx, struct shmrt_job_run *run)
{
	int n;

	(void)ctx;
	n = snprintf(run->out, run->out_cap, "ran_ns=%llu",
		     (unsigned long long)bench_now_ns());
	run->out_len = n < 0 ? 0 : (size_t)n;
	return SHMRT_HANDLER_OK;
}

/* A private mount namespace with an empty /dev/shm; false if not root. */
static int second_host(void)
{
	if (unshare(CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("shmrt-bench", "/dev/shm", "tmpfs", 0, "size=1m") != 0)
		return 0;
	return 1;
}

static void *serve(void *tenant)
{
	return (void *)(intptr_t)shmrt_worker_run(tenant, "q", NULL);
}

/* argv: conf, tenant. Serves until the tenant drains. */
int bench_shmrt_redis_child(int argc, char **argv)
{
	pthread_t t[WORKERS];
	int i, rc = 0;

	if (argc < 2)
		return BENCH_EX_USAGE;
	(void)second_host(); /* the parent notes whether it worked */
	if (shmrt_handler_register("bench.stamp", stamp, NULL) != 0 ||
	    shmrt_tenant_attach(argv[0], argv[1]) != 0) {
		fprintf(stderr, "bench redis peer: %s\n", shmrt_last_error());
		return BENCH_EX_SETUP;
	}
	for (i = 0; i < WORKERS; i++)
		if (pthread_create(&t[i], NULL, serve, argv[1]) != 0)
			return BENCH_EX_SETUP;
	for (i = 0; i < WORKERS; i++) {
		void *v;

		pthread_join(t[i], &v);
		rc |= (int)(intptr_t)v;
	}
	shmrt_tenant_detach(argv[1]);
	return rc == 0 ? BENCH_EX_OK : BENCH_EX_SETUP;
}

/* --------------------------------------------------------- the runner */

static int conf_write(char *path, size_t cap, int port)
{
	FILE *f;

	snprintf(path, cap, "/tmp/shmrt-bench-redis-%d.ini", (int)getpid());
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fprintf(f, "[runtime]\nbackend = redis\nredis = 127.0.0.1:%d\n"
		"heartbeat_timeout_ms = 5000\nretention_ms = 5000\n"
		"drain_timeout_ms = 10000\n[tenant bench-redis-%d]\n"
		"[queue q]\nhandler = bench.stamp\ncapacity = 4194304\n"
		"slot_size = 128\nworkers = 0\n", port, (int)getpid());
	return fclose(f);
}

/* One job at a time: enqueue -> handler start, on this host's clock. */
static int run_latency(const char *tenant, uint64_t n,
		       struct bench_samples *s)
{
	char out[64];
	struct shmrt_job_info info;
	unsigned long long ran;
	shmrt_job_id id;
	uint64_t i, t0;

	for (i = 0; i < n; i++) {
		t0 = bench_now_ns();
		if (shmrt_enqueue(tenant, "q", "x", 1, NULL, &id) != 0 ||
		    shmrt_job_wait(tenant, id, WAIT_MS, &info, out,
				   sizeof(out) - 1) != 0 ||
		    info.state != SHMRT_JOB_SUCCEEDED)
			return -1;
		out[info.result_len < sizeof(out) - 1 ? info.result_len
						      : sizeof(out) - 1] = '\0';
		if (sscanf(out, "ran_ns=%llu", &ran) != 1 || ran < t0)
			return -1;
		if (i >= n / 10)
			bench_samples_add(s, ran - t0);
		(void)shmrt_job_release(tenant, id);
	}
	return 0;
}

static void *produce(void *arg)
{
	struct rb_run *r = arg;
	shmrt_job_id id;
	uint64_t i;

	for (i = 0; i < r->n; i++)
		if (shmrt_enqueue(r->tenant, "q", "j", 1, NULL, &id) != 0) {
			r->failed = 1;
			break;
		}
	return NULL;
}

/* n jobs from PRODUCERS threads; the elapsed ns until all succeeded. */
static int run_rate(const char *tenant, uint64_t n, uint64_t *elapsed)
{
	struct rb_run r[PRODUCERS];
	struct shmrt_queue_stats st;
	pthread_t t[PRODUCERS];
	uint64_t t0, base, deadline;
	int i, failed = 0;

	if (shmrt_queue_get_stats(tenant, "q", &st) != 0)
		return -1;
	base = st.succeeded;
	t0 = bench_now_ns();
	for (i = 0; i < PRODUCERS; i++) {
		r[i].tenant = tenant;
		r[i].n = n / PRODUCERS;
		r[i].failed = 0;
		if (pthread_create(&t[i], NULL, produce, &r[i]) != 0)
			return -1;
	}
	for (i = 0; i < PRODUCERS; i++) {
		pthread_join(t[i], NULL);
		failed |= r[i].failed;
	}
	deadline = bench_deadline_ms(WAIT_MS * 4);
	while (!failed && shmrt_queue_get_stats(tenant, "q", &st) == 0 &&
	       st.succeeded < base + n / PRODUCERS * PRODUCERS) {
		if (bench_now_ns() > deadline)
			return -1;
		usleep(1000);
	}
	*elapsed = bench_now_ns() - t0;
	return failed ? -1 : 0;
}

static void record(int lat_rc, struct bench_samples *s, int rate_rc,
		   uint64_t n, uint64_t elapsed)
{
	struct bench_result *r;

	if (lat_rc != 0) {
		bench_record_failure(G_RB, R_RB_LAT, "%s", shmrt_last_error());
	} else {
		r = bench_record_latency(G_RB, R_RB_LAT, s);
		bench_ref(r, G_IPC, R_REDIS_PING, "redis ping");
	}
	if (rate_rc != 0) {
		bench_record_failure(G_RB, R_RB_TPUT, "%s", shmrt_last_error());
		return;
	}
	r = bench_record_rate(G_RB, R_RB_TPUT,
			      (double)n / ((double)elapsed / 1e9));
	bench_ref(r, G_TPUT_BASE, R_RQ_RATE, "rq");
	bench_ref(r, G_TPUT_BASE, R_REDIS_PIPE, "redis pipelined");
	bench_ref(r, G_TPUT_BASE, R_REDIS_SINGLE, "redis");
}

void bench_shmrt_redis(const struct bench_cfg *c)
{
	char conf[128], tenant[48];
	const char *args[] = { conf, tenant, NULL };
	struct bench_child peer;
	struct bench_samples s;
	uint64_t n = bench_n(c, 2000, 20000), elapsed = 0;
	int lat_rc = -1, rate_rc = -1;

	bench_group(G_RB, "shmrt on the redis backend: public API, workers in "
			  "another mount namespace (a second host)");
	if (c->redis_port <= 0) {
		bench_record_skip(G_RB, R_RB_TPUT, "no redis-server: pass "
				  "--redis-port or run scripts/bench.sh");
		return;
	}
	snprintf(tenant, sizeof(tenant), "bench-redis-%d", (int)getpid());
	if (conf_write(conf, sizeof(conf), c->redis_port) != 0 ||
	    shmrt_tenant_start(conf, tenant) != 0) {
		bench_record_failure(G_RB, R_RB_TPUT, "start: %s",
				     shmrt_last_error());
		return;
	}
	if (bench_spawn(&peer, "redis-worker", NULL, 0, args) != 0) {
		bench_record_failure(G_RB, R_RB_TPUT, "peer did not start");
		shmrt_tenant_stop(tenant);
		return;
	}
	bench_samples_init(&s, bench_n(c, 200, 5000));
	bench_progress("shmrt redis backend: latency");
	lat_rc = run_latency(tenant, bench_n(c, 200, 5000), &s);
	bench_progress("shmrt redis backend: throughput");
	if (lat_rc == 0)
		rate_rc = run_rate(tenant, n, &elapsed);
	record(lat_rc, &s, rate_rc, n / PRODUCERS * PRODUCERS, elapsed);
	shmrt_tenant_stop(tenant);
	if (bench_child_wait(&peer, WAIT_MS) != 0)
		bench_record_failure(G_RB, "peer exit", "the worker process "
				     "did not drain");
	bench_samples_free(&s);
	unlink(conf);
}
