/*
 * tests/unit/test_runtime_queue.c - the job entry points (queue_runtime)
 * in test mode: enqueue, wait, status, cancel, retries with backoff, the
 * failed-jobs view, lanes, idempotency keys, and the embedder's path from
 * conf/shmrt.ini.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <shmrt/shmrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/handler_registry.h"
#include "runtime/runtime_manager.h"
#include "shm/os.h"
#include "testutil.h"

static char conf_path[64];
static char tenant[64];

/* Writes a conf with one tenant (a fresh name) and the given queues. */
static void write_conf(const char *queues)
{
	FILE *f;

	snprintf(tenant, sizeof(tenant), "%s", tu_tenant());
	snprintf(conf_path, sizeof(conf_path), "/tmp/shmrt-rtq-%d.ini",
		 (int)getpid());
	f = fopen(conf_path, "w");
	assert_non_null(f);
	fprintf(f, "[runtime]\nmode = process\nretention_ms = 60000\n"
		   "[tenant %s]\n%s", tenant, queues);
	assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
	(void)state;
	setenv("SHMRT_MODE", "inline", 1); /* test mode */
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	assert_int_equal(shmrt__tenants_reset(), 0);
	shmrt__registry_reset();
	unlink(conf_path);
	return 0;
}

/* ------------------------------------------------------------ handlers */

static int runs;

static int h_echo(void *ctx, struct shmrt_job_run *run)
{
	(void)ctx;
	__atomic_add_fetch(&runs, 1, __ATOMIC_RELAXED);
	run->out_len = (size_t)snprintf(run->out, run->out_cap, "echo:%.*s",
					(int)run->payload_len,
					(const char *)run->payload);
	return SHMRT_HANDLER_OK;
}

/* Fails until attempt `*ctx`, recording when each attempt started. */
static uint64_t attempt_ns[8];

static int h_flaky(void *ctx, struct shmrt_job_run *run)
{
	uint32_t succeed_at = *(const uint32_t *)ctx;

	if (run->attempt < 8)
		attempt_ns[run->attempt] = shmrt__os_now_ns();
	if (run->attempt >= succeed_at) {
		run->out_len = (size_t)snprintf(run->out, run->out_cap, "ok");
		return SHMRT_HANDLER_OK;
	}
	run->out_len = (size_t)snprintf(run->out, run->out_cap,
					"attempt %u broke", run->attempt);
	return SHMRT_HANDLER_RETRY;
}

static int h_final(void *ctx, struct shmrt_job_run *run)
{
	(void)ctx;
	run->out_len = (size_t)snprintf(run->out, run->out_cap, "bad input");
	return SHMRT_HANDLER_FAIL_FINAL;
}

/* Appends the payload to a per-lane log, to check lane order. */
static char lane_log[4096];

static int h_log(void *ctx, struct shmrt_job_run *run)
{
	(void)ctx;
	snprintf(lane_log + strlen(lane_log), sizeof(lane_log) - strlen(lane_log),
		 "%.*s:%.*s ", (int)run->lane_len, run->lane,
		 (int)run->payload_len, (const char *)run->payload);
	run->out_len = 0;
	return SHMRT_HANDLER_OK;
}

/*
 * Records its fencing token and lease validity; on its first attempt it
 * also outlives its job timeout and has a scan take the lease back, then
 * looks again (a handler that checks before committing a side effect).
 */
static uint64_t fence_token[4];
static int fence_valid_before[4], fence_valid_after[4];

static int h_fenced(void *ctx, struct shmrt_job_run *run)
{
	const char *tenant_name = ctx;
	uint32_t a = run->attempt < 4 ? run->attempt : 3;

	fence_token[a] = run->token;
	fence_valid_before[a] = shmrt_job_run_lease_valid(run);
	if (run->attempt == 1) {
		shmrt__os_sleep_ns(60 * 1000000ull); /* past job_timeout_ms */
		assert_int_equal(shmrt_scan(tenant_name, NULL), 0);
	}
	fence_valid_after[a] = shmrt_job_run_lease_valid(run);
	run->out_len = (size_t)snprintf(run->out, run->out_cap, "a%u",
					run->attempt);
	return SHMRT_HANDLER_OK;
}

/* --------------------------------------------------------------- tests */

/*
 * A handler sees its lease's fencing token and whether it still holds the
 * lease: a run whose lease was taken back (here: past its job timeout)
 * learns it before committing, its result is refused, and the next
 * attempt has a greater token.
 */
static void test_handler_fencing(void **state)
{
	struct shmrt_job_info info;
	shmrt_job_id id;
	char buf[16];

	(void)state;
	write_conf("[queue q]\nhandler = t.fenced\njob_timeout_ms = 20\n"
		   "max_attempts = 3\n");
	assert_int_equal(shmrt_handler_register("t.fenced", h_fenced, tenant),
			 0);
	assert_int_equal(shmrt_tenant_start(conf_path, tenant), 0);
	assert_int_equal(shmrt_enqueue(tenant, "q", "x", 1, NULL, &id), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(shmrt_job_wait(tenant, id, 5000, &info, buf,
					sizeof(buf) - 1),
			 0);
	assert_int_equal(info.state, SHMRT_JOB_SUCCEEDED);
	assert_int_equal(info.attempt, 2);
	assert_string_equal(buf, "a2");
	assert_int_equal(fence_valid_before[1], 1);
	assert_int_equal(fence_valid_after[1], 0);
	assert_int_equal(fence_valid_before[2], 1);
	assert_int_equal(fence_valid_after[2], 1);
	assert_true(fence_token[1] != 0);
	assert_true(fence_token[2] > fence_token[1]);
}

static void test_enqueue_wait_status(void **state)
{
	struct shmrt_job_info info;
	struct shmrt_tenant_info ti;
	shmrt_job_id id;
	char buf[64];

	(void)state;
	write_conf("[queue q]\nhandler = t.echo\n");
	assert_int_equal(shmrt_handler_register("t.echo", h_echo, NULL), 0);
	assert_int_equal(shmrt_tenant_start(conf_path, tenant), 0);
	assert_int_equal(shmrt_tenant_get_info(tenant, &ti), 0);
	assert_true(ti.sync);
	assert_int_equal(ti.mode, SHMRT_MODE_INLINE);
	assert_int_equal(shmrt_enqueue(tenant, "q", "hi", 2, NULL, &id), 0);
	assert_int_equal(shmrt_job_status(tenant, id, &info, NULL, 0), 0);
	assert_int_equal(info.state, SHMRT_JOB_QUEUED);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(shmrt_job_wait(tenant, id, 5000, &info, buf,
					sizeof(buf) - 1),
			 0);
	assert_int_equal(info.state, SHMRT_JOB_SUCCEEDED);
	assert_int_equal(info.attempt, 1);
	assert_string_equal(buf, "echo:hi");
	assert_int_equal(shmrt_job_status(tenant, id, &info, NULL, 0), 0);
	assert_int_equal(info.state, SHMRT_JOB_SUCCEEDED);
	assert_int_equal(shmrt_job_release(tenant, id), 0);
	assert_int_equal(shmrt_job_status(tenant, id, &info, NULL, 0),
			 SHMRT_E_EXPIRED);
}

static void test_errors(void **state)
{
	struct shmrt_job_info info;
	shmrt_job_id id = { 12345 };
	struct shmrt_enqueue_opts o = { .lane = "" };
	uint32_t succeed_at = 2;

	(void)state;
	write_conf("[queue q]\nhandler = t.echo\nslot_size = 8\n"
		   "[queue r]\nhandler = t.flaky\nretry_backoff_ms = 60000\n");
	assert_int_equal(shmrt_enqueue(tenant, "q", "x", 1, NULL, &id),
			 SHMRT_E_NOENT);
	assert_non_null(strstr(shmrt_last_error(), "not started"));
	assert_int_equal(shmrt_tenant_start(conf_path, tenant), 0);
	assert_int_equal(shmrt_enqueue(tenant, "nope", "x", 1, NULL, &id),
			 SHMRT_E_NOQUEUE);
	assert_int_equal(shmrt_enqueue(tenant, "q", "123456789", 9, NULL, &id),
			 SHMRT_E_TOOBIG);
	assert_int_equal(shmrt_enqueue(tenant, "q", "x", 1, &o, &id),
			 SHMRT_E_KEYLEN);
	id.v = 12345;
	/* NOJOB and TIMEDOUT name the call and the job, not an older
	 * failure (the KEYLEN above). */
	assert_int_equal(shmrt_job_status(tenant, id, &info, NULL, 0),
			 SHMRT_E_NOJOB);
	assert_non_null(strstr(shmrt_last_error(), "status of job 12345 of "
			       "tenant "));
	assert_non_null(strstr(shmrt_last_error(), "never gave out"));
	assert_int_equal(shmrt_job_cancel(tenant, id), SHMRT_E_NOJOB);
	assert_non_null(strstr(shmrt_last_error(), "cancel job 12345"));
	assert_int_equal(shmrt_job_release(tenant, id), SHMRT_E_NOJOB);
	assert_non_null(strstr(shmrt_last_error(), "release job 12345"));
	assert_int_equal(shmrt_enqueue(tenant, "q", "x", 1, NULL, &id), 0);
	assert_int_equal(shmrt_enqueue(tenant, "q", "x", 1, &o, &id),
			 SHMRT_E_KEYLEN);
	/* A failed first attempt waits out a minute of backoff. */
	assert_int_equal(shmrt_handler_register("t.flaky", h_flaky,
						&succeed_at), 0);
	assert_int_equal(shmrt_enqueue(tenant, "r", "y", 1, NULL, &id), 0);
	assert_int_equal(shmrt_job_wait(tenant, id, 20, &info, NULL, 0),
			 SHMRT_E_TIMEDOUT);
	assert_non_null(strstr(shmrt_last_error(), "wait for job "));
	assert_non_null(strstr(shmrt_last_error(),
			       "not finished before the deadline"));
	assert_int_equal(shmrt_job_cancel(tenant, id), 0);
}

/* A queued job that is cancelled never runs. */
static void test_cancel_queued(void **state)
{
	struct shmrt_job_info info;
	shmrt_job_id a, b;

	(void)state;
	write_conf("[queue q]\nhandler = t.echo\n");
	assert_int_equal(shmrt_handler_register("t.echo", h_echo, NULL), 0);
	assert_int_equal(shmrt_tenant_start(conf_path, tenant), 0);
	runs = 0;
	assert_int_equal(shmrt_enqueue(tenant, "q", "a", 1, NULL, &a), 0);
	assert_int_equal(shmrt_enqueue(tenant, "q", "b", 1, NULL, &b), 0);
	assert_int_equal(shmrt_job_cancel(tenant, a), 0);
	assert_int_equal(shmrt_job_wait(tenant, b, 5000, &info, NULL, 0), 0);
	assert_int_equal(info.state, SHMRT_JOB_SUCCEEDED);
	assert_int_equal(shmrt_job_wait(tenant, a, 5000, &info, NULL, 0), 0);
	assert_int_equal(info.state, SHMRT_JOB_CANCELLED);
	assert_int_equal(runs, 1);
	assert_int_equal(shmrt_job_cancel(tenant, a), SHMRT_E_STATE);
}

/* Attempts 1 and 2 fail, 3 succeeds; each retry waits out the backoff. */
static void test_retry_backoff(void **state)
{
	static const uint32_t succeed_at = 3;
	struct shmrt_queue_stats st;
	struct shmrt_job_info info;
	shmrt_job_id id;

	(void)state;
	write_conf("[queue q]\nhandler = t.flaky\nmax_attempts = 3\n"
		   "retry_backoff_ms = 60\n");
	assert_int_equal(shmrt_handler_register("t.flaky", h_flaky,
						(void *)&succeed_at),
			 0);
	assert_int_equal(shmrt_tenant_start(conf_path, tenant), 0);
	memset(attempt_ns, 0, sizeof(attempt_ns));
	assert_int_equal(shmrt_enqueue(tenant, "q", "x", 1, NULL, &id), 0);
	assert_int_equal(shmrt_job_wait(tenant, id, 10000, &info, NULL, 0), 0);
	assert_int_equal(info.state, SHMRT_JOB_SUCCEEDED);
	assert_int_equal(info.attempt, 3);
	assert_true(attempt_ns[2] - attempt_ns[1] >= 60000000u);
	assert_true(attempt_ns[3] - attempt_ns[2] >= 60000000u);
	assert_int_equal(shmrt_queue_get_stats(tenant, "q", &st), 0);
	assert_int_equal(st.retried, 2);
	assert_int_equal(st.succeeded, 1);
}

/* The failed-jobs view lists jobs that failed for good, with the error
 * text of their last attempt; retried-then-succeeded jobs are not in it. */
static void test_failed_jobs_view(void **state)
{
	static const uint32_t never = 100;
	struct shmrt_failed_job f[4];
	struct shmrt_job_info info;
	shmrt_job_id a, b;
	int n;

	(void)state;
	write_conf("[queue flaky]\nhandler = t.flaky\nmax_attempts = 2\n"
		   "retry_backoff_ms = 0\n[queue final]\nhandler = t.final\n");
	assert_int_equal(shmrt_handler_register("t.flaky", h_flaky,
						(void *)&never),
			 0);
	assert_int_equal(shmrt_handler_register("t.final", h_final, NULL), 0);
	assert_int_equal(shmrt_tenant_start(conf_path, tenant), 0);
	assert_int_equal(shmrt_enqueue(tenant, "flaky", "x", 1, NULL, &a), 0);
	assert_int_equal(shmrt_enqueue(tenant, "final", "y", 1, NULL, &b), 0);
	assert_int_equal(shmrt_job_wait(tenant, a, 5000, &info, NULL, 0), 0);
	assert_int_equal(info.state, SHMRT_JOB_FAILED);
	assert_int_equal(shmrt_job_wait(tenant, b, 5000, &info, NULL, 0), 0);
	assert_int_equal(info.state, SHMRT_JOB_FAILED);
	assert_int_equal(info.attempt, 1);
	n = shmrt_failed_jobs(tenant, "flaky", f, 4);
	assert_int_equal(n, 1);
	assert_int_equal(f[0].id.v, a.v);
	assert_int_equal(f[0].attempts, 2);
	assert_string_equal(f[0].error, "attempt 2 broke");
	n = shmrt_failed_jobs(tenant, "final", f, 4);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].error, "bad input");
	assert_int_equal(shmrt_failed_jobs(tenant, "nope", f, 4),
			 SHMRT_E_NOQUEUE);
}

/* A kind nobody registered fails its jobs with a reason, for good. */
static void test_no_handler(void **state)
{
	struct shmrt_job_info info;
	shmrt_job_id id;
	char buf[128];

	(void)state;
	write_conf("[queue q]\nhandler = t.missing\n");
	assert_int_equal(shmrt_tenant_start(conf_path, tenant), 0);
	assert_int_equal(shmrt_enqueue(tenant, "q", "x", 1, NULL, &id), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(shmrt_job_wait(tenant, id, 5000, &info, buf,
					sizeof(buf) - 1),
			 0);
	assert_int_equal(info.state, SHMRT_JOB_FAILED);
	assert_non_null(strstr(buf, "no handler registered for kind "
				    "'t.missing'"));
}

static void test_lanes_and_keys(void **state)
{
	struct shmrt_enqueue_opts o = { .lane = NULL };
	struct shmrt_job_info info;
	shmrt_job_id ids[6], again;
	char payload[8];
	int i;

	(void)state;
	write_conf("[queue chat]\nhandler = t.log\nlaned = true\n"
		   "[queue prof]\nhandler = t.echo\nidempotency_ttl_ms = 60000\n");
	assert_int_equal(shmrt_handler_register("t.log", h_log, NULL), 0);
	assert_int_equal(shmrt_handler_register("t.echo", h_echo, NULL), 0);
	assert_int_equal(shmrt_tenant_start(conf_path, tenant), 0);
	assert_int_equal(shmrt_enqueue(tenant, "chat", "x", 1, NULL, &ids[0]),
			 SHMRT_E_NOLANE);
	lane_log[0] = '\0';
	for (i = 0; i < 6; i++) {
		o.lane = i % 2 ? "B" : "A";
		snprintf(payload, sizeof(payload), "%d", i);
		assert_int_equal(shmrt_enqueue(tenant, "chat", payload,
					       strlen(payload), &o, &ids[i]),
				 0);
	}
	assert_int_equal(shmrt_job_wait(tenant, ids[5], 5000, &info, NULL, 0),
			 0);
	assert_int_equal(shmrt_job_wait(tenant, ids[4], 5000, &info, NULL, 0),
			 0);
	assert_non_null(strstr(lane_log, "A:0"));
	assert_true(strstr(lane_log, "A:0") < strstr(lane_log, "A:2"));
	assert_true(strstr(lane_log, "A:2") < strstr(lane_log, "A:4"));
	assert_true(strstr(lane_log, "B:1") < strstr(lane_log, "B:3"));
	assert_true(strstr(lane_log, "B:3") < strstr(lane_log, "B:5"));
	o.lane = NULL;
	o.key = "user-7";
	assert_int_equal(shmrt_enqueue(tenant, "prof", "v1", 2, &o, &ids[0]), 0);
	assert_int_equal(shmrt_enqueue(tenant, "prof", "v2", 2, &o, &again),
			 SHMRT_ENQUEUE_EXISTING);
	assert_int_equal(again.v, ids[0].v);
}

/* The embedder's path: the shipped conf, a handler, enqueue, wait. */
static void test_embedder_shipped_conf(void **state)
{
	struct shmrt_enqueue_opts o = { .lane = "conversation-1" };
	char path[512], buf[64];
	struct shmrt_job_info info;
	const char *slash = strrchr(__FILE__, '/');
	shmrt_job_id id;

	(void)state;
	snprintf(path, sizeof(path), "%.*s/../../conf/shmrt.ini",
		 (int)(slash - __FILE__), __FILE__);
	if (access(path, R_OK) != 0)
		snprintf(path, sizeof(path), "conf/shmrt.ini");
	assert_int_equal(shmrt_handler_register("chat", h_echo, NULL), 0);
	assert_int_equal(shmrt_tenant_start(path, NULL), 0);
	assert_int_equal(shmrt_enqueue("demo", "chat", "hello", 5, &o, &id), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(shmrt_job_wait("demo", id, 5000, &info, buf,
					sizeof(buf) - 1),
			 0);
	assert_int_equal(info.state, SHMRT_JOB_SUCCEEDED);
	assert_string_equal(buf, "echo:hello");
	assert_int_equal(shmrt_tenant_stop("demo"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_handler_fencing, setup,
						teardown),
	    cmocka_unit_test_setup_teardown(test_enqueue_wait_status, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_queued, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_retry_backoff, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_failed_jobs_view, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_no_handler, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lanes_and_keys, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_embedder_shipped_conf, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
