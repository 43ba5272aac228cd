/*
 * tests/cli/test_metrics.c - what `shmrt stat` and `shmrt status` print
 * for machines:
 *
 *  - `stat --prometheus` passes `promtool check metrics` (Debian's
 *    prometheus package; scripts/setup.sh installs it, and the test is
 *    skipped with a message only where promtool is absent), with the
 *    latencies as a summary with _sum and _count, and a queue without
 *    finished jobs (NaN quantiles) in the same output;
 *  - `stat --json` writes null, not 0.0, for a percentile with no data;
 *  - `status --json` passes valid UTF-8 ("é") through, escapes control
 *    characters, and writes U+FFFD for bytes that are not UTF-8.
 *
 * This process starts the tenant in process mode and runs its jobs with
 * shmrt_worker_run on a thread; the CLI attaches from outside.
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
#include <unistd.h>

#include "testutil.h"

#define OUT_MAX 65536

static char conf_path[256], out_path[256], err_path[256];
static const char *tenant;
static char out[OUT_MAX];
static int stop_workers;
static pthread_t worker;

/* Fails with the payload as its error text. */
static int h_fail(void *ctx, struct shmrt_job_run *run)
{
	(void)ctx;
	tu_copy_payload(run);
	return SHMRT_HANDLER_FAIL_FINAL;
}

static int h_ok(void *ctx, struct shmrt_job_run *run)
{
	(void)ctx;
	run->out_len = 0;
	return SHMRT_HANDLER_OK;
}

static void *worker_main(void *arg)
{
	(void)arg;
	shmrt_worker_run(tenant, "work", &stop_workers);
	return NULL;
}

static int setup(void **state)
{
	(void)state;
	setenv("SHMRT_MODE", "process", 1);
	tenant = tu_write_conf(conf_path, sizeof(conf_path),
			       "mode = process\ndrain_timeout_ms = 5000\n",
			       "[queue work]\nhandler = t.work\nworkers = 0\n"
			       "[queue empty]\nhandler = t.work\n"
			       "workers = 0\n");
	snprintf(out_path, sizeof(out_path), "/tmp/%s.out", tenant);
	snprintf(err_path, sizeof(err_path), "/tmp/%s.err", tenant);
	setenv("SHMRT_CONF", conf_path, 1);
	assert_int_equal(shmrt_handler_register("t.work", h_ok, NULL), 0);
	assert_int_equal(shmrt_tenant_start(conf_path, tenant), 0);
	stop_workers = 0;
	assert_int_equal(pthread_create(&worker, NULL, worker_main, NULL), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	__atomic_store_n(&stop_workers, 1, __ATOMIC_RELEASE);
	pthread_join(worker, NULL);
	shmrt_tenant_stop(tenant);
	shmrt_handler_unregister("t.work");
	unlink(conf_path);
	unlink(out_path);
	unlink(err_path);
	return 0;
}

/* Runs `shmrt ARGS...` (60 s at most); its stdout goes to out[]. */
static int shmrt(const char *arg, ...)
{
	char *argv[8] = { "shmrt" };
	va_list ap;
	int n = 1, st;

	va_start(ap, arg);
	for (; arg != NULL && n < 7; arg = va_arg(ap, const char *))
		argv[n++] = (char *)arg;
	va_end(ap);
	st = tu_wait_child(tu_spawn_cli(out_path, err_path, argv), 60000);
	tu_slurp(out_path, out, sizeof(out));
	return st;
}

/* Runs n jobs of queue work to the end; returns the last one's id. */
static shmrt_job_id run_jobs(const char *data, size_t len, int n)
{
	struct shmrt_job_info info;
	shmrt_job_id id = { 0 };
	int i;

	for (i = 0; i < n; i++) {
		assert_int_equal(shmrt_enqueue(tenant, "work", data, len, NULL,
					       &id),
				 0);
		assert_int_equal(shmrt_job_wait(tenant, id, 10000, &info, NULL,
						0),
				 0);
	}
	return id;
}

/* Skips the test when promtool is not installed (CI installs it). */
static void need_promtool(void)
{
	if (system("command -v promtool >/dev/null 2>&1") != 0) {
		print_message("promtool not found (Debian package prometheus; "
			      "scripts/setup.sh installs it): skipped\n");
		skip();
	}
}

static void test_prometheus_passes_promtool(void **state)
{
	char cmd[600];

	(void)state;
	need_promtool();
	run_jobs("x", 1, 20);
	assert_int_equal(shmrt("stat", "--prometheus", NULL), 0);
	assert_non_null(strstr(out, "# TYPE shmrt_job_latency_seconds "
				    "summary\n"));
	assert_non_null(strstr(out, "shmrt_job_latency_seconds_count{"
				    "tenant=\""));
	assert_non_null(strstr(out, "queue=\"work\",phase=\"total\"} 20\n"));
	assert_non_null(strstr(out, "shmrt_job_latency_seconds_sum{tenant=\""));
	/* the queue without jobs: no data is NaN, not 0 */
	assert_non_null(strstr(out, "queue=\"empty\",phase=\"wait\","
				    "quantile=\"0.5\"} NaN\n"));
	assert_non_null(strstr(out, "# TYPE shmrt_jobs_cancelled_total "
				    "counter\n"));
	assert_non_null(strstr(out, "# TYPE shmrt_queue_finished gauge\n"));
	snprintf(cmd, sizeof(cmd), "timeout -s KILL 60 promtool check metrics "
		 "< %s > %s 2>&1", out_path, err_path);
	if (system(cmd) != 0) {
		tu_slurp(err_path, out, sizeof(out));
		fail_msg("promtool check metrics rejected the output:\n%s",
			 out);
	}
}

static void test_json_null_without_data(void **state)
{
	(void)state;
	run_jobs("x", 1, 3);
	assert_int_equal(shmrt("stat", "--json", NULL), 0);
	assert_non_null(strstr(out, "{\"name\":\"empty\","));
	assert_non_null(strstr(out, "\"latency_jobs\":0,\"wait_ms_p50\":null,"
				    "\"wait_ms_p99\":null,\"total_ms_p50\":"
				    "null,\"total_ms_p99\":null}"));
	/* the queue with jobs has numbers */
	assert_non_null(strstr(out, "\"latency_jobs\":3,\"wait_ms_p50\":"));
	assert_null(strstr(out, "\"latency_jobs\":3,\"wait_ms_p50\":null"));
}

static void test_json_utf8(void **state)
{
	/* "é", a control byte, a 4-byte character, a lone continuation
	 * byte, an overlong '/', a surrogate, a cut sequence */
	static const char text[] = "caf\xc3\xa9 \x01 \xf0\x9d\x84\x9e \x80 "
				   "\xc0\xaf \xed\xa0\x80 \xe2\x82";
	char id[32];

	(void)state;
	assert_int_equal(shmrt_handler_register("t.work", h_fail, NULL), 0);
	snprintf(id, sizeof(id), "%llu", (unsigned long long)
		 run_jobs(text, sizeof(text) - 1, 1).v);
	assert_int_equal(shmrt("status", id, "--json", NULL), 1);
	assert_non_null(strstr(out, "\"result\":\"caf\xc3\xa9 \\u0001 "
				    "\xf0\x9d\x84\x9e \\ufffd "
				    "\\ufffd\\ufffd \\ufffd\\ufffd\\ufffd "
				    "\\ufffd\\ufffd\"}"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_prometheus_passes_promtool,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_null_without_data,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_utf8, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
