/*
 * tests/cli/test_runner_restart.c - killing `shmrt run` loses no job.
 *
 * The runner (the built binary, SHMRT_CLI_BIN) is SIGKILLed with
 * thousands of jobs queued; its workers follow it out. The segment keeps
 * the jobs, still takes enqueues, and the next `shmrt run` adopts it:
 * every accepted id ends succeeded. A runner that is alive, or a segment
 * whose layout the configuration no longer matches, is refused, and
 * nothing is removed; an external worker attached across the restart
 * keeps the same segment. A stop that leaves jobs or attached
 * participants behind keeps the segment for the next start to adopt.
 *
 * Children are spawned with posix_spawn and every wait has a deadline
 * (tu_wait_child kills a child that overruns).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <glob.h>
#include <shmrt/error.h>
#include <shmrt/runtime.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm/os.h"
#include "testutil.h"

extern char **environ;

#define OUT_MAX 8192
#define WAIT_ALL_MS 120000 /* every job of the restart test ends by then */

static char conf_path[256], out_path[256], err_path[256], run_path[256];
static char tenant[64], seg_path[128];
static pid_t runner, worker;
static char out[OUT_MAX], err[OUT_MAX];

/* Run `shmrt ARGS...` (NULL-terminated) to completion; out/err filled. */
static int shmrt(const char *arg, ...)
{
	char *argv[16];
	va_list ap;
	int n = 0, st;

	argv[n++] = "shmrt";
	va_start(ap, arg);
	for (; arg != NULL && n < 15; arg = va_arg(ap, const char *))
		argv[n++] = (char *)arg;
	va_end(ap);
	argv[n] = NULL;
	st = tu_wait_child(tu_spawn_cli(out_path, err_path, argv), 30000);
	tu_slurp(out_path, out, OUT_MAX);
	tu_slurp(err_path, err, OUT_MAX);
	return st;
}

static void write_conf(uint32_t workers, uint32_t capacity)
{
	FILE *f = fopen(conf_path, "w");

	assert_non_null(f);
	fprintf(f, "[runtime]\nmode = process\ndrain_timeout_ms = 1000\n"
		"retention_ms = 600000\nscan_interval_ms = 100\n"
		"[tenant %s]\n"
		"[queue slow]\nhandler = builtin.sleep\nworkers = %u\n"
		"capacity = %u\nslot_size = 64\nmax_attempts = 3\n", tenant,
		workers, capacity);
	assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
	(void)state;
	unsetenv("SHMRT_MODE"); /* CTest's test mode: these need processes */
	snprintf(tenant, sizeof(tenant), "%s", tu_tenant());
	snprintf(seg_path, sizeof(seg_path), "/dev/shm/shmrt.%s", tenant);
	snprintf(conf_path, sizeof(conf_path), "/tmp/%s.ini", tenant);
	snprintf(out_path, sizeof(out_path), "/tmp/%s.out", tenant);
	snprintf(err_path, sizeof(err_path), "/tmp/%s.err", tenant);
	snprintf(run_path, sizeof(run_path), "/tmp/%s.run", tenant);
	setenv("SHMRT_CONF", conf_path, 1);
	return 0;
}

static void kill_child(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
		*pid = 0;
	}
}

static int teardown(void **state)
{
	char *argv[] = { "shmrt", "destroy", "--force", NULL };

	(void)state;
	(void)shmrt_tenant_detach(tenant);
	kill_child(&runner);
	kill_child(&worker);
	tu_wait_child(tu_spawn_cli("/dev/null", "/dev/null", argv), 10000);
	unlink(conf_path);
	unlink(out_path);
	unlink(err_path);
	unlink(run_path);
	return 0;
}

/* `shmrt run` in the background; returns once it says it runs. */
static void start_runner(void)
{
	char *argv[] = { "shmrt", "run", NULL };
	uint64_t deadline = tu_deadline_ms(20000);
	int status;

	runner = tu_spawn_cli(run_path, err_path, argv);
	for (;;) {
		tu_slurp(run_path, out, OUT_MAX);
		if (strstr(out, "running (pid") != NULL)
			return;
		if (waitpid(runner, &status, WNOHANG) == runner) {
			runner = 0;
			tu_slurp(err_path, err, OUT_MAX);
			print_error("shmrt run exited: %s\n", err);
			fail();
		}
		assert_true(shmrt__os_now_ns() < deadline);
		shmrt__os_sleep_ns(10000000);
	}
}

/* SIGKILL the runner; its workers die with it (their parent-death
 * signal), having finished at most the job each was running. */
static void kill_runner(void)
{
	kill_child(&runner);
}

/* The runner's children (its worker processes), from every thread's
 * /proc/PID/task/TID/children list. Returns how many. */
static size_t runner_children(pid_t pid, pid_t *kids, size_t max)
{
	char pattern[64];
	glob_t g;
	size_t i, n = 0;
	long v;

	snprintf(pattern, sizeof(pattern), "/proc/%d/task/*/children",
		 (int)pid);
	if (glob(pattern, 0, NULL, &g) != 0)
		return 0;
	for (i = 0; i < g.gl_pathc; i++) {
		FILE *f = fopen(g.gl_pathv[i], "r");

		while (f != NULL && n < max && fscanf(f, "%ld", &v) == 1)
			kids[n++] = (pid_t)v;
		if (f != NULL)
			fclose(f);
	}
	globfree(&g);
	return n;
}

/* SIGKILL the runner and then its workers, mid-job: what they held is
 * left for the next runner's scan to reclaim. */
static void kill_runner_and_workers(void)
{
	uint64_t deadline = tu_deadline_ms(10000);
	pid_t w[16];
	size_t n, i;

	/* "running" is printed before the supervisor's first spawn. */
	while ((n = runner_children(runner, w, 16)) == 0 &&
	       tu_deadline_ms(0) < deadline)
		usleep(1000);
	assert_true(n > 0);
	kill_runner();
	for (i = 0; i < n; i++)
		kill(w[i], SIGKILL);
}

static void stop_runner(void)
{
	kill(runner, SIGTERM);
	assert_int_equal(tu_wait_child(runner, 30000), 0);
	runner = 0;
}

static shmrt_job_id enqueue_cli(const char *ms)
{
	unsigned long long v = 0;
	shmrt_job_id id;
	int st = shmrt("enqueue", "slow", "--data", ms, NULL);

	if (st != 0)
		print_error("shmrt enqueue: exit %d: %s\n", st, err);
	assert_int_equal(st, 0);
	assert_int_equal(sscanf(out, "%llu", &v), 1);
	id.v = v;
	return id;
}

/* Every id ends succeeded before the deadline; prints the first that
 * does not. */
static void expect_all_succeed(const shmrt_job_id *ids, size_t n)
{
	uint64_t deadline = tu_deadline_ms(WAIT_ALL_MS);
	struct shmrt_job_info info;
	size_t i;
	int rc;

	assert_int_equal(shmrt_tenant_attach(conf_path, tenant), 0);
	for (i = 0; i < n; i++) {
		uint64_t now = shmrt__os_now_ns();
		uint32_t left = now < deadline
					? (uint32_t)((deadline - now) / 1000000u)
					: 0;

		memset(&info, 0, sizeof(info));
		rc = shmrt_job_wait(tenant, ids[i], left, &info, NULL, 0);
		if (rc != 0 || info.state != SHMRT_JOB_SUCCEEDED) {
			print_error("job %zu of %zu (id %llu): %s %s, state "
				    "%s\n", i, n, (unsigned long long)ids[i].v,
				    rc != 0 ? shmrt_err_name(rc) : "ended",
				    rc != 0 ? shmrt_last_error() : "",
				    shmrt_job_state_name(info.state));
			fail();
		}
	}
	assert_int_equal(shmrt_tenant_detach(tenant), 0);
}

/* ------------------------------------------------------------- cases */

/*
 * 2,000 jobs of 3 ms on two workers: most are still queued when the
 * runner and its workers are killed (a running job is left to the next
 * runner's scan; three attempts allow for it). One more is enqueued while
 * no runner lives; the next runner adopts the segment and every one of
 * them succeeds.
 */
static void test_restart_adopts_queued_jobs(void **state)
{
	size_t n = (size_t)tu_scaled(2000, 200), i;
	shmrt_job_id *ids = calloc(n + 1, sizeof(*ids));
	struct shmrt_queue_stats st;

	(void)state;
	assert_non_null(ids);
	write_conf(2, 4096);
	start_runner();
	assert_int_equal(shmrt_tenant_attach(conf_path, tenant), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(shmrt_enqueue(tenant, "slow", "3", 1, NULL,
					       &ids[i]), 0);
	kill_runner_and_workers();
	assert_int_equal(shmrt_queue_get_stats(tenant, "slow", &st), 0);
	print_message("runner killed with %u of %zu jobs queued, %u "
		      "running\n", st.queued, n, st.running);
	assert_true(st.queued > n / 4); /* the restart has work to save */
	assert_int_equal(shmrt_tenant_detach(tenant), 0);
	ids[n] = enqueue_cli("3"); /* accepted while no runner lives */
	start_runner();
	expect_all_succeed(ids, n + 1);
	stop_runner();
	assert_int_equal(access(seg_path, F_OK), -1); /* a clean stop removes it */
	free(ids);
}

/* A second runner of a live tenant is refused and changes nothing. */
static void test_second_runner_refused(void **state)
{
	char want[64];

	(void)state;
	write_conf(1, 64);
	start_runner();
	assert_int_equal(shmrt("run", NULL), 1);
	snprintf(want, sizeof(want), "already run by pid %d", (int)runner);
	if (strstr(err, want) == NULL)
		print_error("stderr: %s\n", err);
	assert_non_null(strstr(err, want));
	enqueue_cli("1");
	assert_int_equal(shmrt("enqueue", "slow", "--data", "1", "--wait",
			       "--timeout", "10000", NULL), 0);
	stop_runner();
}

/*
 * A dead runner's segment whose layout the configuration no longer
 * matches is refused with the way out, and kept with its jobs: with the
 * configuration it was made with, the next runner adopts it.
 */
static void test_layout_change_refused_and_kept(void **state)
{
	shmrt_job_id ids[5];
	size_t i;

	(void)state;
	write_conf(0, 64); /* no workers: the jobs stay queued */
	start_runner();
	for (i = 0; i < 5; i++)
		ids[i] = enqueue_cli("1");
	kill_runner();
	write_conf(1, 128);
	assert_int_equal(shmrt("run", NULL), 1);
	if (strstr(err, "destroy --force") == NULL ||
	    strstr(err, "capacity 64") == NULL)
		print_error("stderr: %s\n", err);
	assert_non_null(strstr(err, "capacity 64"));
	assert_non_null(strstr(err, "destroy --force"));
	assert_int_equal(access(seg_path, F_OK), 0);
	write_conf(1, 64);
	start_runner();
	expect_all_succeed(ids, 5);
	stop_runner();
}

/*
 * An external worker attached across the restart keeps serving the same
 * segment: it runs what is enqueued while no runner lives, and after the
 * restart it sees the new runner's stop and leaves.
 */
static void test_external_worker_keeps_segment(void **state)
{
	char *argv[] = { "shmrt", "worker", "-q", "slow", NULL };
	char wout[300];
	shmrt_job_id ids[2];

	(void)state;
	write_conf(1, 64);
	start_runner();
	snprintf(wout, sizeof(wout), "%s.worker", out_path);
	worker = tu_spawn_cli(wout, "/dev/null", argv);
	kill_runner();
	ids[0] = enqueue_cli("1");
	expect_all_succeed(ids, 1); /* run by the external worker */
	start_runner();
	ids[1] = enqueue_cli("1");
	expect_all_succeed(ids, 2);
	stop_runner();
	assert_int_equal(tu_wait_child(worker, 20000), 0);
	worker = 0;
	unlink(wout);
}

/*
 * A stop whose drain deadline passes with jobs still queued keeps the
 * segment: the jobs were accepted, and the next start adopts them.
 */
static void test_stop_keeps_unfinished_jobs(void **state)
{
	shmrt_job_id ids[3];
	size_t i;

	(void)state;
	write_conf(0, 64); /* no workers: nothing drains */
	start_runner();
	for (i = 0; i < 3; i++)
		ids[i] = enqueue_cli("1");
	assert_int_equal(shmrt("stop", "--drain-timeout", "200", NULL), 1);
	assert_int_equal(tu_wait_child(runner, 20000), 1);
	runner = 0;
	tu_slurp(err_path, err, OUT_MAX);
	if (strstr(err, "the next start adopts it") == NULL)
		print_error("runner stderr: %s\n", err);
	assert_non_null(strstr(err, "the next start adopts it"));
	assert_int_equal(access(seg_path, F_OK), 0);
	write_conf(1, 64);
	start_runner();
	expect_all_succeed(ids, 3);
	stop_runner();
}

/*
 * A stop that a participant outlives (this process stays attached) keeps
 * the segment rather than stranding it: after the next start adopts it,
 * this process's enqueues work again, on the same segment.
 */
static void test_stop_keeps_segment_of_attached(void **state)
{
	struct shmrt_job_info info;
	shmrt_job_id id;

	(void)state;
	write_conf(1, 64);
	start_runner();
	assert_int_equal(shmrt_tenant_attach(conf_path, tenant), 0);
	assert_int_equal(shmrt_enqueue(tenant, "slow", "1", 1, NULL, &id), 0);
	kill(runner, SIGTERM);
	assert_int_equal(tu_wait_child(runner, 20000), 1); /* we stayed */
	runner = 0;
	assert_int_equal(access(seg_path, F_OK), 0);
	assert_int_equal(shmrt_enqueue(tenant, "slow", "1", 1, NULL, &id),
			 SHMRT_E_DRAINING);
	start_runner();
	assert_int_equal(shmrt_enqueue(tenant, "slow", "1", 1, NULL, &id), 0);
	assert_int_equal(shmrt_job_wait(tenant, id, 10000, &info, NULL, 0), 0);
	assert_int_equal(info.state, SHMRT_JOB_SUCCEEDED);
	assert_int_equal(shmrt_tenant_detach(tenant), 0);
	stop_runner();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_restart_adopts_queued_jobs,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_runner_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_layout_change_refused_and_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_external_worker_keeps_segment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_keeps_unfinished_jobs,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_stop_keeps_segment_of_attached, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
