/*
 * tests/multiprocess/test_workers_lifecycle.c - a tenant's workers, in
 * both modes: start and stop are idempotent (also from several threads at
 * once), workers run the jobs, a failing handler does not stop its
 * worker, and a worker keeps heartbeating while a long handler runs, so
 * scan does not take its job away as "hung".
 *
 * Process mode starts the built `shmrt` binary (SHMRT_CLI_BIN) as worker
 * processes; CTest's SHMRT_MODE=inline is overridden per case.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <shmrt/error.h>
#include <shmrt/runtime.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/runtime_manager.h"
#include "shm/os.h"
#include "testutil.h"
#include "workers/handlers.h"
#include "workers/workers.h"

static char conf_path[256];
static const char *tenant;

/* A conf with a unique tenant: echo (2 workers), fail (1 worker, one
 * attempt), sleep (1 worker); heartbeat timeout hb_ms. */
static void write_conf(const char *mode, uint32_t hb_ms)
{
	FILE *f;

	tenant = tu_tenant();
	snprintf(conf_path, sizeof(conf_path), "/tmp/%s.ini", tenant);
	f = fopen(conf_path, "w");
	assert_non_null(f);
	fprintf(f, "[runtime]\nmode = %s\nscan_interval_ms = 20\n"
		"heartbeat_timeout_ms = %u\ndrain_timeout_ms = 5000\n"
		"[tenant %s]\n"
		"[queue echo]\nhandler = builtin.echo\nworkers = 2\n"
		"[queue fail]\nhandler = builtin.fail\nworkers = 1\n"
		"max_attempts = 1\n"
		"[queue sleep]\nhandler = builtin.sleep\nworkers = 1\n",
		mode, hb_ms, tenant);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	assert_int_equal(shmrt__handlers_register(), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	shmrt__workers_stop(tenant);
	shmrt__tenants_reset();
	unlink(conf_path);
	setenv("SHMRT_MODE", "inline", 1);
	return 0;
}

static struct shmrt__workers_opts opts(void)
{
	struct shmrt__workers_opts o;

	memset(&o, 0, sizeof(o));
	o.process.exe = SHMRT_CLI_BIN;
	o.process.backoff_min_ns = 20000000u;
	o.process.term_timeout_ns = 1000000000u;
	return o;
}

static void start(const char *env_mode)
{
	struct shmrt__workers_opts o = opts();

	if (env_mode)
		setenv("SHMRT_MODE", env_mode, 1);
	else
		unsetenv("SHMRT_MODE");
	assert_int_equal(shmrt_tenant_start(conf_path, tenant), 0);
	assert_int_equal(shmrt__workers_start(tenant, &o), 0);
	assert_int_equal(shmrt__workers_start(tenant, &o), 0); /* idempotent */
}

static void run_jobs(uint32_t n)
{
	struct shmrt_job_info info;
	shmrt_job_id id[64];
	char buf[32];
	uint32_t i;
	int len;

	for (i = 0; i < n; i++) {
		len = snprintf(buf, sizeof(buf), "job %u", i);
		assert_int_equal(shmrt_enqueue(tenant, "echo", buf, (size_t)len,
					       NULL, &id[i]), 0);
	}
	for (i = 0; i < n; i++) {
		assert_int_equal(shmrt_job_wait(tenant, id[i], 20000, &info,
						buf, sizeof(buf)), 0);
		assert_int_equal(info.state, SHMRT_JOB_SUCCEEDED);
	}
}

static void check_pids_gone(const struct shmrt__workers_info *wi)
{
	uint32_t i;

	for (i = 0; i < wi->nworkers; i++)
		if (wi->pid[i] > 0)
			assert_true(kill(wi->pid[i], 0) != 0 && errno == ESRCH);
}

static void stop_twice(void)
{
	struct shmrt__workers_info wi;

	assert_int_equal(shmrt__workers_get_info(tenant, &wi), 0);
	assert_int_equal(shmrt__workers_stop(tenant), 0);
	assert_int_equal(shmrt__workers_stop(tenant), 0); /* no-op */
	assert_int_equal(shmrt__workers_get_info(tenant, &wi) == 0, 0);
	assert_int_equal(shmrt_tenant_stop(tenant), 0);
}

/* Inline: conf mode inline, no test mode: only the threads run jobs. */
static void test_inline_start_stop_idempotent(void **state)
{
	struct shmrt__workers_info wi;
	struct shmrt_tenant_info ti;

	(void)state;
	write_conf("inline", 30000);
	start(NULL);
	assert_int_equal(shmrt_tenant_get_info(tenant, &ti), 0);
	assert_int_equal(ti.mode, SHMRT_MODE_INLINE);
	assert_int_equal(ti.sync, 0);
	assert_int_equal(shmrt__workers_get_info(tenant, &wi), 0);
	assert_int_equal(wi.mode, SHMRT_MODE_INLINE);
	assert_int_equal(wi.nworkers, 4);
	run_jobs(32);
	stop_twice();
	/* Again, on a fresh tenant: start after stop works. */
	start(NULL);
	run_jobs(8);
	stop_twice();
}

static void test_process_start_stop_idempotent(void **state)
{
	struct shmrt__workers_info wi;
	uint64_t deadline;

	(void)state;
	write_conf("process", 30000);
	start("process");
	deadline = tu_deadline_ms(10000);
	do {
		assert_int_equal(shmrt__workers_get_info(tenant, &wi), 0);
	} while (wi.running < 4 && shmrt__os_now_ns() < deadline &&
		 (shmrt__os_sleep_ns(5000000), 1));
	assert_int_equal(wi.mode, SHMRT_MODE_PROCESS);
	assert_int_equal(wi.nworkers, 4);
	assert_int_equal(wi.running, 4);
	run_jobs(32);
	assert_int_equal(shmrt__workers_stop(tenant), 0);
	check_pids_gone(&wi);
	assert_int_equal(shmrt__workers_stop(tenant), 0);
	assert_int_equal(shmrt_tenant_stop(tenant), 0);
	assert_int_equal(wi.restarts, 0);
}

static void *start_stop_thread(void *arg)
{
	struct shmrt__workers_opts o = opts();
	int i;

	(void)arg;
	for (i = 0; i < 5; i++) {
		shmrt__workers_start(tenant, &o);
		shmrt__workers_stop(tenant);
	}
	shmrt__workers_start(tenant, &o);
	return NULL;
}

/* Starts and stops racing from four threads end in one set of workers. */
static void test_concurrent_start_stop(void **state)
{
	struct shmrt__workers_info wi;
	pthread_t t[4];
	int i;

	(void)state;
	write_conf("inline", 30000);
	unsetenv("SHMRT_MODE");
	assert_int_equal(shmrt_tenant_start(conf_path, tenant), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL,
						start_stop_thread, NULL), 0);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(shmrt__workers_get_info(tenant, &wi), 0);
	assert_int_equal(wi.nworkers, 4);
	assert_int_equal(shmrt__workers_stop(tenant), 0);
	assert_int_equal(shmrt_tenant_stop(tenant), 0);
}

/* Failures, then more jobs: the one fail worker takes them all. */
static void failing_handler_keeps_worker(const char *env_mode)
{
	struct shmrt__workers_info wi;
	struct shmrt_job_info info;
	shmrt_job_id id[20];
	char buf[64];
	uint32_t i;

	write_conf(env_mode ? env_mode : "inline", 30000);
	start(env_mode);
	for (i = 0; i < 20; i++)
		assert_int_equal(shmrt_enqueue(tenant, "fail", "broken", 6,
					       NULL, &id[i]), 0);
	for (i = 0; i < 20; i++) {
		assert_int_equal(shmrt_job_wait(tenant, id[i], 20000, &info,
						buf, sizeof(buf)), 0);
		assert_int_equal(info.state, SHMRT_JOB_FAILED);
		assert_int_equal(info.result_len, 6);
		assert_memory_equal(buf, "broken", 6);
	}
	assert_int_equal(shmrt__workers_get_info(tenant, &wi), 0);
	assert_int_equal(wi.running, wi.nworkers);
	assert_int_equal(wi.restarts, 0);
	run_jobs(8);
	stop_twice();
}

static void test_failing_handler_inline(void **state)
{
	(void)state;
	failing_handler_keeps_worker(NULL);
}

static void test_failing_handler_process(void **state)
{
	(void)state;
	failing_handler_keeps_worker("process");
}

/*
 * A handler that runs 4 heartbeat timeouts: the heart keeps the worker
 * alive in the segment, so the scanner (every 20 ms) does not reclaim the
 * job: it succeeds on its first attempt and nothing is reclaimed.
 */
static void long_handler_heartbeats(const char *env_mode)
{
	struct shmrt_queue_stats st;
	struct shmrt_job_info info;
	shmrt_job_id id;
	char buf[64];

	write_conf(env_mode ? env_mode : "inline", 250);
	start(env_mode);
	assert_int_equal(shmrt_enqueue(tenant, "sleep", "1000", 4, NULL, &id),
			 0);
	assert_int_equal(shmrt_job_wait(tenant, id, 20000, &info, buf,
					sizeof(buf)), 0);
	assert_int_equal(info.state, SHMRT_JOB_SUCCEEDED);
	assert_int_equal(info.attempt, 1);
	assert_int_equal(shmrt_queue_get_stats(tenant, "sleep", &st), 0);
	assert_int_equal(st.reclaimed, 0);
	stop_twice();
}

static void test_heartbeat_inline(void **state)
{
	(void)state;
	long_handler_heartbeats(NULL);
}

static void test_heartbeat_process(void **state)
{
	(void)state;
	long_handler_heartbeats("process");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_inline_start_stop_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_process_start_stop_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_start_stop,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_failing_handler_inline,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_failing_handler_process,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_heartbeat_inline, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_heartbeat_process, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
