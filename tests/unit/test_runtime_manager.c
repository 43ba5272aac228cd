/*
 * tests/unit/test_runtime_manager.c - tenant start and stop: test mode
 * selects inline, the non-test path selects process, fail vs degrade on
 * an induced init failure, idempotent and concurrent start/stop, and a
 * stop while jobs run drains them first.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <shmrt/shmrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/handler_registry.h"
#include "runtime/queue_backend_factory.h"
#include "runtime/queue_runtime.h"
#include "runtime/runtime_manager.h"
#include "shm/os.h"
#include "shm/segment.h"
#include "testutil.h"

static char conf_path[64];
static char tenant[64];

static void write_conf(const char *runtime_extra, const char *queues)
{
	FILE *f;

	snprintf(tenant, sizeof(tenant), "%s", tu_tenant());
	snprintf(conf_path, sizeof(conf_path), "/tmp/shmrt-rtm-%d.ini",
		 (int)getpid());
	f = fopen(conf_path, "w");
	assert_non_null(f);
	fprintf(f, "[runtime]\nmode = process\n%s[tenant %s]\n%s",
		runtime_extra, tenant, queues);
	assert_int_equal(fclose(f), 0);
}

static int teardown(void **state)
{
	(void)state;
	shmrt__tenants_reset();
	shmrt__registry_reset();
	shmrt__seg_destroy(tenant);
	unlink(conf_path);
	return 0;
}

static bool segment_exists(void)
{
	char path[128];

	snprintf(path, sizeof(path), "/dev/shm/shmrt.%s", tenant);
	return access(path, F_OK) == 0;
}

static void test_test_mode_selects_inline(void **state)
{
	struct shmrt_tenant_info info;

	(void)state;
	setenv("SHMRT_MODE", "inline", 1);
	write_conf("", "[queue q]\nhandler = h\n");
	assert_int_equal(shmrt_tenant_start(conf_path, tenant), 0);
	assert_int_equal(shmrt_tenant_get_info(tenant, &info), 0);
	assert_int_equal(info.mode, SHMRT_MODE_INLINE);
	assert_string_equal(info.backend, "inline");
	assert_true(info.sync);
	assert_false(info.degraded);
	assert_false(segment_exists());
	assert_int_equal(shmrt_tenant_stop(tenant), 0);
	assert_int_equal(shmrt_tenant_get_info(tenant, &info), SHMRT_E_NOENT);
}

static void test_non_test_selects_process(void **state)
{
	struct shmrt_tenant_info info;

	(void)state;
	unsetenv("SHMRT_MODE");
	write_conf("", "[queue q]\nhandler = h\n");
	assert_int_equal(shmrt_tenant_start(conf_path, tenant), 0);
	assert_int_equal(shmrt_tenant_get_info(tenant, &info), 0);
	assert_int_equal(info.mode, SHMRT_MODE_PROCESS);
	assert_string_equal(info.backend, "shm");
	assert_true(info.owner);
	assert_false(info.sync);
	assert_true(segment_exists());
	assert_int_equal(shmrt_tenant_stop(tenant), 0);
	assert_false(segment_exists()); /* the creator removes the name */
}

/* /dev/shm/shmrt.<tenant> taken by a file that is not a segment. */
static void take_segment_name(void)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/dev/shm/shmrt.%s", tenant);
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "squatter", 8), 8);
	close(fd);
}

static void test_init_failure_fail(void **state)
{
	struct shmrt_tenant_info info;

	(void)state;
	unsetenv("SHMRT_MODE");
	write_conf("on_init_error = fail\n", "[queue q]\nhandler = h\n");
	take_segment_name();
	assert_true(shmrt_tenant_start(conf_path, tenant) < 0);
	assert_non_null(strstr(shmrt_last_error(), "backend shm for tenant"));
	assert_int_equal(shmrt_tenant_get_info(tenant, &info), SHMRT_E_NOENT);
}

static void test_init_failure_degrade(void **state)
{
	struct shmrt_tenant_info info;
	shmrt_job_id id;

	(void)state;
	unsetenv("SHMRT_MODE");
	write_conf("on_init_error = degrade\n", "[queue q]\nhandler = h\n");
	take_segment_name();
	assert_int_equal(shmrt_tenant_start(conf_path, tenant), 0);
	assert_int_equal(shmrt_tenant_get_info(tenant, &info), 0);
	assert_int_equal(info.mode, SHMRT_MODE_INLINE);
	assert_true(info.degraded);
	assert_string_equal(info.backend, "inline");
	assert_int_equal(shmrt_enqueue(tenant, "q", "x", 1, NULL, &id), 0);
	/* The squatter's file is not ours to remove. */
	assert_int_equal(shmrt_tenant_stop(tenant) <= 0, 1);
	assert_true(segment_exists());
}

static void test_start_stop_idempotent(void **state)
{
	(void)state;
	setenv("SHMRT_MODE", "inline", 1);
	write_conf("", "[queue q]\nhandler = h\n");
	assert_int_equal(shmrt_tenant_stop(tenant), 0);
	assert_int_equal(shmrt_tenant_start(conf_path, tenant), 0);
	assert_int_equal(shmrt_tenant_start(conf_path, tenant), 0);
	assert_int_equal(shmrt_tenant_attach(conf_path, tenant), 0);
	assert_int_equal(shmrt_tenant_stop(tenant), 0);
	assert_int_equal(shmrt_tenant_stop(tenant), 0);
	assert_int_equal(shmrt_tenant_start(conf_path, tenant), 0);
	assert_int_equal(shmrt_tenant_stop(tenant), 0);
}

/* Several threads start and stop two tenants at once. */
static char tenants2[2][64];

static void *churn_main(void *arg)
{
	long i, bad = 0, me = (long)(intptr_t)arg;

	for (i = 0; i < (long)tu_scaled(40, 5); i++) {
		const char *t = tenants2[(i + me) % 2];
		shmrt_job_id id;
		int rc;

		if (shmrt_tenant_start(conf_path, t) != 0)
			bad++;
		/* No workers in process mode: queued jobs outlive the
		 * zero drain deadline, which stop reports; the segment
		 * keeps them for the next start, so the queue fills. */
		rc = shmrt_enqueue(t, "q", "x", 1, NULL, &id);
		if (rc != 0 && rc != SHMRT_E_NOENT &&
		    rc != SHMRT_E_DRAINING && rc != SHMRT_E_FULL)
			bad++;
		rc = shmrt_tenant_stop(t);
		if (rc != 0 && rc != SHMRT_E_TIMEDOUT)
			bad++;
	}
	return (void *)bad;
}

static void test_concurrent_start_stop(void **state)
{
	pthread_t t[4];
	FILE *f;
	void *bad;
	int i;

	(void)state;
	setenv("SHMRT_MODE", "process", 1);
	snprintf(tenants2[0], sizeof(tenants2[0]), "%s", tu_tenant());
	snprintf(tenants2[1], sizeof(tenants2[1]), "%s", tu_tenant());
	snprintf(tenant, sizeof(tenant), "%s", tenants2[0]);
	snprintf(conf_path, sizeof(conf_path), "/tmp/shmrt-rtm-%d.ini",
		 (int)getpid());
	f = fopen(conf_path, "w");
	assert_non_null(f);
	fprintf(f, "[runtime]\ndrain_timeout_ms = 0\n[tenant %s]\n"
		   "[tenant %s]\n[queue q]\nhandler = h\ncapacity = 64\n",
		tenants2[0], tenants2[1]);
	assert_int_equal(fclose(f), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, churn_main,
						(void *)(intptr_t)i),
				 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &bad), 0);
		assert_null(bad);
	}
	shmrt__seg_destroy(tenants2[1]);
}

/* A stop while jobs run waits for them (process mode, a worker thread). */
static int slow_done;

static int h_slow(void *ctx, struct shmrt_job_run *run)
{
	(void)ctx;
	shmrt__os_sleep_ns(20000000);
	__atomic_add_fetch(&slow_done, 1, __ATOMIC_RELAXED);
	run->out_len = 0;
	return SHMRT_HANDLER_OK;
}

static void *worker_main(void *arg)
{
	struct shmrt__backend *be = arg;
	struct shmrt__consumer *c;
	char payload[64], out[64];
	long bad = 0;

	if (be->ops->consumer_open(be, &c) != 0)
		return (void *)1;
	for (;;) {
		int rc = shmrt__qrt_run_one(be, c, 0, payload, out,
					    sizeof(out),
					    shmrt__os_now_ns() + 20000000u);

		/* Nothing to lease: the deadline, or (AGAIN) the tenant
		 * left READY while the worker slept. */
		bool idle = rc == SHMRT_E_TIMEDOUT || rc == SHMRT_E_AGAIN;

		if (idle && be->ops->state(be) != SHMRT__BE_READY)
			break;
		if (rc < 0 && !idle)
			bad++;
	}
	be->ops->consumer_close(be, c);
	shmrt__backend_put(be);
	return (void *)bad;
}

static void test_stop_drains_running_jobs(void **state)
{
	struct shmrt__backend *be;
	shmrt_job_id id;
	pthread_t w;
	void *bad;
	int i;

	(void)state;
	unsetenv("SHMRT_MODE");
	write_conf("drain_timeout_ms = 10000\n",
		   "[queue q]\nhandler = t.slow\nslot_size = 64\n");
	assert_int_equal(shmrt_handler_register("t.slow", h_slow, NULL), 0);
	assert_int_equal(shmrt_tenant_start(conf_path, tenant), 0);
	be = shmrt__backend_lookup(tenant);
	assert_non_null(be);
	slow_done = 0;
	for (i = 0; i < 10; i++)
		assert_int_equal(shmrt_enqueue(tenant, "q", "x", 1, NULL, &id),
				 0);
	assert_int_equal(pthread_create(&w, NULL, worker_main, be), 0);
	assert_int_equal(shmrt_tenant_stop(tenant), 0);
	/* Every job ran before stop returned; enqueue is refused now. */
	assert_int_equal(__atomic_load_n(&slow_done, __ATOMIC_RELAXED), 10);
	assert_int_equal(shmrt_enqueue(tenant, "q", "x", 1, NULL, &id),
			 SHMRT_E_NOENT);
	assert_int_equal(pthread_join(w, &bad), 0);
	assert_null(bad);
}

/* Draining refuses new work with SHMRT_E_DRAINING; test mode's stop runs
 * the queued jobs in the caller. */
static void test_draining_refuses_and_sync_stop_runs_jobs(void **state)
{
	struct shmrt__backend *be;
	shmrt_job_id id;
	int i;

	(void)state;
	setenv("SHMRT_MODE", "inline", 1);
	write_conf("", "[queue q]\nhandler = t.slow\nslot_size = 64\n");
	assert_int_equal(shmrt_handler_register("t.slow", h_slow, NULL), 0);
	assert_int_equal(shmrt_tenant_start(conf_path, tenant), 0);
	slow_done = 0;
	for (i = 0; i < 3; i++)
		assert_int_equal(shmrt_enqueue(tenant, "q", "x", 1, NULL, &id),
				 0);
	be = shmrt__backend_lookup(tenant);
	be->ops->set_state(be, SHMRT__BE_DRAINING);
	assert_int_equal(shmrt_enqueue(tenant, "q", "x", 1, NULL, &id),
			 SHMRT_E_DRAINING);
	shmrt__backend_put(be);
	assert_int_equal(shmrt_tenant_stop(tenant), 0);
	assert_int_equal(slow_done, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_test_mode_selects_inline, teardown),
	    cmocka_unit_test_teardown(test_non_test_selects_process, teardown),
	    cmocka_unit_test_teardown(test_init_failure_fail, teardown),
	    cmocka_unit_test_teardown(test_init_failure_degrade, teardown),
	    cmocka_unit_test_teardown(test_start_stop_idempotent, teardown),
	    cmocka_unit_test_teardown(test_concurrent_start_stop, teardown),
	    cmocka_unit_test_teardown(test_stop_drains_running_jobs, teardown),
	    cmocka_unit_test_teardown(
		test_draining_refuses_and_sync_stop_runs_jobs, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
