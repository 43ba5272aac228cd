/*
 * tests/multiprocess/test_worker_run.c - the embedder's worker loop and
 * the inspection calls, through the public API only:
 *
 *  - shmrt_worker_run on threads runs the jobs, and returns when *stop
 *    is set, and when the tenant drains;
 *  - shmrt_tenant_workers lists those threads, idle and busy (with the
 *    job they hold and its queue);
 *  - shmrt_queue_get_latency's figures equal the ones computed here from
 *    every job's own timestamps (shmrt_job_status), leave out a job that
 *    never ran, and are all zero for a queue with none.
 *
 * The tenant runs inline but not in test mode (conf mode = inline,
 * SHMRT_MODE unset): jobs run only on the threads the test starts.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <shmrt/shmrt.h>
#include <shmrt/worker.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define NTHREADS 2

static char conf_path[256];
static const char *tenant;

/* Set to release h_block's run; counts runs of every handler. */
static uint32_t release_block;
static uint32_t runs;

static int h_echo(void *ctx, struct shmrt_job_run *run)
{
	(void)ctx;
	__atomic_add_fetch(&runs, 1, __ATOMIC_RELAXED);
	tu_copy_payload(run);
	return SHMRT_HANDLER_OK;
}

/* Holds its worker until release_block is 1 (10 s at most). */
static int h_block(void *ctx, struct shmrt_job_run *run)
{
	(void)ctx;
	(void)tu_wait_value(&release_block, 1, 10000);
	return h_echo(ctx, run);
}

static int setup(void **state)
{
	(void)state;
	unsetenv("SHMRT_MODE");
	__atomic_store_n(&release_block, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&runs, 0, __ATOMIC_RELAXED);
	tenant = tu_write_conf(conf_path, sizeof(conf_path),
			       "mode = inline\ndrain_timeout_ms = 10000\n",
			       "[queue echo]\nhandler = t.echo\nworkers = 0\n"
			       "[queue block]\nhandler = t.block\nworkers = 0\n"
			       "[queue idle]\nhandler = t.echo\nworkers = 0\n");
	assert_int_equal(shmrt_handler_register("t.echo", h_echo, NULL), 0);
	assert_int_equal(shmrt_handler_register("t.block", h_block, NULL), 0);
	assert_int_equal(shmrt_tenant_start(conf_path, tenant), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	__atomic_store_n(&release_block, 1, __ATOMIC_RELEASE);
	shmrt_tenant_stop(tenant);
	shmrt_handler_unregister("t.echo");
	shmrt_handler_unregister("t.block");
	unlink(conf_path);
	return 0;
}

/* ------------------------------------------------------------- workers */

struct worker {
	pthread_t thread;
	const char *queue;
	const int *stop;
	int rc;
	uint32_t done; /* 1 once shmrt_worker_run returned */
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	w->rc = shmrt_worker_run(tenant, w->queue, w->stop);
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void start_workers(struct worker *w, size_t n, const char *queue,
			  const int *stop)
{
	size_t i;

	for (i = 0; i < n; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].queue = queue;
		w[i].stop = stop;
		w[i].rc = -1000;
		assert_int_equal(pthread_create(&w[i].thread, NULL,
						worker_main, &w[i]),
				 0);
	}
}

/* Asserts that every worker returned 0 within timeout_ms. A worker that
 * does not return fails the test (its thread is left to the exit). */
static void join_workers(struct worker *w, size_t n, int timeout_ms)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!tu_wait_value(&w[i].done, 1, timeout_ms))
			fail_msg("shmrt_worker_run on %s did not return "
				 "within %d ms", w[i].queue, timeout_ms);
		assert_int_equal(pthread_join(w[i].thread, NULL), 0);
		assert_int_equal(w[i].rc, 0);
	}
}

/* Waits until the tenant lists `n` workers; returns how many it lists. */
static int wait_workers(struct shmrt_worker_info *out, size_t max, int n)
{
	uint64_t deadline = tu_deadline_ms(10000);
	struct timespec tick = { 0, 5000000 };
	int got;

	while ((got = shmrt_tenant_workers(tenant, out, max)) != n &&
	       got >= 0 && tu_deadline_ms(0) < deadline)
		nanosleep(&tick, NULL);
	return got;
}

/*
 * Waits until the n workers listed are all idle but one, busy with job
 * `id` of queue `qi`. (A worker that has just finished a job shows busy
 * until it lets go of the lease, a moment after the job's waiter woke.)
 */
static bool wait_one_busy(struct shmrt_worker_info *wi, size_t n,
			  shmrt_job_id id, int32_t qi)
{
	uint64_t deadline = tu_deadline_ms(10000);
	struct timespec tick = { 0, 5000000 };
	size_t i, busy, idle;

	do {
		if (shmrt_tenant_workers(tenant, wi, n) != (int)n)
			return false;
		for (i = busy = idle = 0; i < n; i++) {
			busy += wi[i].state == SHMRT_WORKER_BUSY &&
				wi[i].job.v == id.v && wi[i].queue == qi;
			idle += wi[i].state == SHMRT_WORKER_IDLE &&
				wi[i].job.v == 0 && wi[i].queue == -1;
		}
		if (busy == 1 && idle == n - 1)
			return true;
		nanosleep(&tick, NULL);
	} while (tu_deadline_ms(0) < deadline);
	return false;
}

static void enqueue_wait(const char *queue, size_t n, shmrt_job_id *ids)
{
	struct shmrt_job_info info;
	char data[32];
	size_t i;
	int len;

	for (i = 0; i < n; i++) {
		len = snprintf(data, sizeof(data), "job %zu", i);
		assert_int_equal(shmrt_enqueue(tenant, queue, data, (size_t)len,
					       NULL, &ids[i]),
				 0);
	}
	for (i = 0; i < n; i++) {
		assert_int_equal(shmrt_job_wait(tenant, ids[i], 10000, &info,
						NULL, 0),
				 0);
		assert_int_equal(info.state, SHMRT_JOB_SUCCEEDED);
	}
}

/* Threads run the jobs; setting *stop makes each return 0, even while
 * the tenant stays ready and a worker is in the middle of a job. */
static void test_worker_run_returns_on_stop(void **state)
{
	struct shmrt_worker_info wi[8];
	struct worker w[NTHREADS + 1];
	shmrt_job_id ids[20], blocked;
	int stop = 0;
	size_t i;

	(void)state;
	start_workers(w, NTHREADS, "echo", &stop);
	start_workers(&w[NTHREADS], 1, "block", &stop);
	enqueue_wait("echo", 20, ids);
	assert_int_equal(__atomic_load_n(&runs, __ATOMIC_RELAXED), 20);
	assert_int_equal(shmrt_enqueue(tenant, "block", "b", 1, NULL,
				       &blocked),
			 0);
	/* three seats: two idle on echo, one busy with `blocked` */
	assert_int_equal(wait_workers(wi, 8, NTHREADS + 1), NTHREADS + 1);
	assert_true(wait_one_busy(wi, NTHREADS + 1, blocked, 1)); /* "block" */
	for (i = 0; i < NTHREADS + 1; i++)
		assert_int_equal(wi[i].pid, (int32_t)getpid());
	/* room for one: still says three */
	assert_int_equal(shmrt_tenant_workers(tenant, wi, 1), NTHREADS + 1);
	assert_int_equal(shmrt_tenant_workers(tenant, NULL, 0), NTHREADS + 1);
	assert_int_equal(shmrt_tenant_workers(tenant, NULL, 1), SHMRT_E_INVAL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	join_workers(w, NTHREADS, 5000); /* idle: they leave at once */
	__atomic_store_n(&release_block, 1, __ATOMIC_RELEASE);
	join_workers(&w[NTHREADS], 1, 5000); /* finishes its job first */
	assert_int_equal(shmrt_tenant_workers(tenant, wi, 8), 0);
}

/* With no stop flag, the threads return once the tenant drains: stop
 * waits for them, and they run every queued job before they leave. */
static void test_worker_run_returns_on_drain(void **state)
{
	struct worker w[NTHREADS];
	struct shmrt_worker_info wi[8];
	shmrt_job_id id;
	size_t i, n = 50;

	(void)state;
	start_workers(w, NTHREADS, "echo", NULL);
	assert_int_equal(wait_workers(wi, 8, NTHREADS), NTHREADS);
	for (i = 0; i < n; i++)
		assert_int_equal(shmrt_enqueue(tenant, "echo", "x", 1, NULL,
					       &id),
				 0);
	assert_int_equal(shmrt_tenant_stop(tenant), 0);
	join_workers(w, NTHREADS, 10000);
	assert_int_equal(__atomic_load_n(&runs, __ATOMIC_RELAXED), n);
}

static void test_worker_run_errors(void **state)
{
	(void)state;
	assert_int_equal(shmrt_worker_run("no-such-tenant", "echo", NULL),
			 SHMRT_E_NOENT);
	assert_int_equal(shmrt_worker_run(tenant, "nope", NULL),
			 SHMRT_E_NOQUEUE);
	assert_int_equal(shmrt_tenant_workers("no-such-tenant", NULL, 0),
			 SHMRT_E_NOENT);
}

/* ------------------------------------------------------------- latency */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The figures shmrt_queue_get_latency must give for sorted v[0..n). */
static void expect_latency(const struct shmrt_latency *l, uint64_t *v,
			   size_t n)
{
	uint64_t sum = 0;
	size_t i;

	qsort(v, n, sizeof(*v), cmp_u64);
	for (i = 0; i < n; i++)
		sum += v[i];
	assert_int_equal(l->count, n);
	assert_int_equal(l->sum_ns, sum);
	/* nearest rank over 10: p50 is the 5th, p90 the 9th, p99 the 10th */
	assert_int_equal(l->p50_ns, v[4]);
	assert_int_equal(l->p90_ns, v[8]);
	assert_int_equal(l->p99_ns, v[9]);
	assert_int_equal(l->max_ns, v[9]);
}

static void test_queue_latency(void **state)
{
	struct shmrt_queue_latency lat;
	struct shmrt_job_info info;
	struct worker w[1];
	shmrt_job_id ids[10], never;
	uint64_t wait[10], total[10];
	int stop = 0;
	size_t i;

	(void)state;
	/* A job cancelled while queued ends without running: left out. */
	assert_int_equal(shmrt_enqueue(tenant, "echo", "c", 1, NULL, &never),
			 0);
	assert_int_equal(shmrt_job_cancel(tenant, never), 0);
	start_workers(w, 1, "echo", &stop);
	enqueue_wait("echo", 10, ids);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	join_workers(w, 1, 5000);
	for (i = 0; i < 10; i++) {
		assert_int_equal(shmrt_job_status(tenant, ids[i], &info, NULL,
						  0),
				 0);
		/* a lease stamps the start with the clock its pass read
		 * before it found the job, which may precede the enqueue:
		 * such a wait counts as 0 */
		wait[i] = info.start_ns > info.enqueue_ns
				  ? info.start_ns - info.enqueue_ns
				  : 0;
		total[i] = info.finish_ns - info.enqueue_ns;
	}
	assert_int_equal(shmrt_queue_get_latency(tenant, "echo", &lat), 0);
	expect_latency(&lat.wait, wait, 10);
	expect_latency(&lat.total, total, 10);
	/* no finished job: no data, all zero */
	memset(&lat, 0xff, sizeof(lat));
	assert_int_equal(shmrt_queue_get_latency(tenant, "idle", &lat), 0);
	assert_int_equal(lat.wait.count, 0);
	assert_int_equal(lat.total.count, 0);
	assert_int_equal(lat.total.p99_ns, 0);
	assert_int_equal(lat.wait.sum_ns, 0);
	assert_int_equal(shmrt_queue_get_latency(tenant, "nope", &lat),
			 SHMRT_E_NOQUEUE);
	assert_int_equal(shmrt_queue_get_latency(tenant, "echo", NULL),
			 SHMRT_E_INVAL);
	assert_int_equal(shmrt_queue_get_latency("no-such-tenant", "echo",
						 &lat),
			 SHMRT_E_NOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_worker_run_returns_on_stop,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_worker_run_returns_on_drain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_worker_run_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_queue_latency, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
