/*
 * tests/multiprocess/test_tenant_admin.c - acting on a tenant from
 * outside the process that runs it, through the public API only:
 * shmrt_tenant_get_state, shmrt_tenant_drain, shmrt_tenant_get_runner
 * and shmrt_tenant_destroy (what `shmrt stop` and `shmrt destroy` use).
 *
 * The runner is the built `shmrt run` (SHMRT_CLI_BIN), a process of its
 * own; this process attaches to its tenant. Queues have no workers of
 * their own: jobs here run on a shmrt_worker_run thread or not at all.
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static char conf_path[256], shm_path[300];
static const char *tenant;
static pid_t runner;

static int setup(void **state)
{
	(void)state;
	setenv("SHMRT_MODE", "process", 1);
	tenant = tu_write_conf(conf_path, sizeof(conf_path),
			       "mode = process\ndrain_timeout_ms = 3000\n",
			       "[queue q]\nhandler = t.sleep\nworkers = 0\n");
	snprintf(shm_path, sizeof(shm_path), "/dev/shm/shmrt.%s", tenant);
	setenv("SHMRT_CONF", conf_path, 1);
	runner = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	shmrt_tenant_detach(tenant);
	if (runner > 0) {
		kill(runner, SIGKILL);
		waitpid(runner, NULL, 0);
	}
	shmrt_tenant_destroy(tenant, 1);
	unlink(shm_path);
	unlink(conf_path);
	return 0;
}

/* `shmrt run` in the background; returns once this process attached. */
static void start_runner(void)
{
	char *argv[] = { "shmrt", "run", NULL };
	uint64_t deadline = tu_deadline_ms(20000);
	struct timespec tick = { 0, 10000000 };

	runner = tu_spawn_cli("/dev/null", "/dev/null", argv);
	while (shmrt_tenant_attach(conf_path, tenant) != 0) {
		assert_true(tu_deadline_ms(0) < deadline);
		nanosleep(&tick, NULL);
	}
}

/* Sleeps payload milliseconds. */
static int h_sleep(void *ctx, struct shmrt_job_run *run)
{
	struct timespec ts = { 0, 0 };
	char num[16];
	size_t n = run->payload_len < 15 ? run->payload_len : 15;

	(void)ctx;
	memcpy(num, run->payload, n);
	num[n] = '\0';
	ts.tv_nsec = atol(num) % 1000 * 1000000L;
	nanosleep(&ts, NULL);
	run->out_len = 0;
	return SHMRT_HANDLER_OK;
}

static void *worker_main(void *arg)
{
	(void)arg;
	shmrt_worker_run(tenant, "q", NULL);
	return NULL;
}

/* The runner's pid, alive; its state READY; a SIGKILL makes it dead. */
static void test_runner_and_state(void **state)
{
	struct shmrt_tenant_runner run;

	(void)state;
	start_runner();
	assert_int_equal(shmrt_tenant_get_runner(tenant, &run), 0);
	assert_int_equal(run.pid, (int32_t)runner);
	assert_int_equal(run.alive, 1);
	assert_int_equal(shmrt_tenant_get_state(tenant), SHMRT_TENANT_READY);
	kill(runner, SIGKILL);
	assert_int_equal(tu_wait_child(runner, 10000), 128 + SIGKILL);
	runner = 0;
	assert_int_equal(shmrt_tenant_get_runner(tenant, &run), 0);
	assert_int_equal(run.alive, 0);
	assert_int_equal(shmrt_tenant_get_runner(tenant, NULL), SHMRT_E_INVAL);
	assert_int_equal(shmrt_tenant_get_state("no-such"), SHMRT_E_NOENT);
	assert_int_equal(shmrt_tenant_get_runner("no-such", &run),
			 SHMRT_E_NOENT);
}

/* Drain waits for the queued jobs (run here by a worker thread), then
 * the runner sees STOPPED, stops and exits 0. */
static void test_drain_stops_the_runner(void **state)
{
	struct shmrt_job_info info;
	pthread_t worker;
	shmrt_job_id id[5];
	int i;

	(void)state;
	start_runner();
	assert_int_equal(shmrt_handler_register("t.sleep", h_sleep, NULL), 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(shmrt_enqueue(tenant, "q", "20", 2, NULL,
					       &id[i]),
				 0);
	assert_int_equal(pthread_create(&worker, NULL, worker_main, NULL), 0);
	assert_int_equal(shmrt_tenant_drain(tenant, 10000), 0);
	for (i = 0; i < 5; i++) {
		assert_int_equal(shmrt_job_status(tenant, id[i], &info, NULL,
						  0),
				 0);
		assert_int_equal(info.state, SHMRT_JOB_SUCCEEDED);
	}
	assert_int_equal(shmrt_tenant_get_state(tenant), SHMRT_TENANT_STOPPED);
	assert_int_equal(shmrt_enqueue(tenant, "q", "1", 1, NULL, &id[0]),
			 SHMRT_E_DRAINING);
	assert_int_equal(pthread_join(worker, NULL), 0); /* it left */
	shmrt_tenant_detach(tenant);
	assert_int_equal(tu_wait_child(runner, 20000), 0);
	runner = 0;
	assert_int_equal(access(shm_path, F_OK), -1); /* removed */
	shmrt_handler_unregister("t.sleep");
}

/* With a job nobody runs, drain gives up at its deadline and still
 * stops the tenant. */
static void test_drain_deadline(void **state)
{
	shmrt_job_id id;

	(void)state;
	start_runner();
	assert_int_equal(shmrt_enqueue(tenant, "q", "1", 1, NULL, &id), 0);
	assert_int_equal(shmrt_tenant_drain(tenant, 50), SHMRT_E_TIMEDOUT);
	assert_int_equal(shmrt_tenant_get_state(tenant), SHMRT_TENANT_STOPPED);
	assert_int_equal(shmrt_tenant_drain("no-such", 50), SHMRT_E_NOENT);
}

/* Destroy refuses while the tenant is attached here and while its
 * runner lives; once it is dead, destroy removes it. */
static void test_destroy(void **state)
{
	(void)state;
	start_runner();
	assert_int_equal(shmrt_tenant_destroy(tenant, 0), SHMRT_E_BUSY);
	assert_non_null(strstr(shmrt_last_error(), "attached"));
	shmrt_tenant_detach(tenant);
	assert_int_equal(shmrt_tenant_destroy(tenant, 0), SHMRT_E_BUSY);
	assert_non_null(strstr(shmrt_last_error(), "alive"));
	kill(runner, SIGKILL);
	assert_int_equal(tu_wait_child(runner, 10000), 128 + SIGKILL);
	runner = 0;
	assert_int_equal(shmrt_tenant_destroy(tenant, 0), 0);
	assert_int_equal(access(shm_path, F_OK), -1);
	assert_int_equal(shmrt_tenant_destroy(tenant, 0), SHMRT_E_NOENT);
}

/* The runner is dead but a worker process is still attached: refused
 * until the worker is gone too. */
static void test_destroy_live_participant(void **state)
{
	char *argv[] = { "shmrt", "worker", "-q", "q", NULL };
	struct timespec tick = { 0, 10000000 };
	uint64_t deadline = tu_deadline_ms(20000);
	pid_t worker;

	(void)state;
	start_runner();
	worker = tu_spawn_cli("/dev/null", "/dev/null", argv);
	while (shmrt_tenant_workers(tenant, NULL, 0) != 1) {
		assert_true(tu_deadline_ms(0) < deadline);
		nanosleep(&tick, NULL);
	}
	shmrt_tenant_detach(tenant);
	kill(runner, SIGKILL);
	assert_int_equal(tu_wait_child(runner, 10000), 128 + SIGKILL);
	runner = 0;
	assert_int_equal(shmrt_tenant_destroy(tenant, 0), SHMRT_E_BUSY);
	assert_non_null(strstr(shmrt_last_error(), "gone, 1 live"));
	kill(worker, SIGKILL);
	assert_int_equal(tu_wait_child(worker, 10000), 128 + SIGKILL);
	assert_int_equal(shmrt_tenant_destroy(tenant, 0), 0);
	assert_int_equal(shmrt_tenant_destroy(tenant, 0), SHMRT_E_NOENT);
}

/* Not a segment (a planted FIFO): refused, unless forced. */
static void test_destroy_not_a_segment(void **state)
{
	(void)state;
	assert_int_equal(mkfifo(shm_path, 0600), 0);
	assert_int_equal(shmrt_tenant_destroy(tenant, 0), SHMRT_E_NOTREG);
	assert_int_equal(access(shm_path, F_OK), 0);
	assert_int_equal(shmrt_tenant_destroy(tenant, 1), 0);
	assert_int_equal(access(shm_path, F_OK), -1);
	assert_int_equal(shmrt_tenant_destroy("bad/name", 1), SHMRT_E_NAME);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_runner_and_state, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_drain_stops_the_runner,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain_deadline, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_destroy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_live_participant,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_not_a_segment,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
