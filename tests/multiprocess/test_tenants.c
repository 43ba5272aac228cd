/*
 * tests/multiprocess/test_tenants.c - tenants that only the [tenant *]
 * template names, many of them in one process.
 *
 * Every tenant here has a name that appears in no section of the file.
 * Each case starts a few hundred of them in this process, enqueues to
 * each, waits for each job and stops them all, in inline (test) mode and
 * in process mode (a segment per tenant under /dev/shm, jobs run by a
 * worker thread through the segment). Along the way it checks what a
 * tenant costs the process: one scan thread for all of them (not one
 * each), no file descriptor per tenant, and that every one is scanned.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
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
#include "runtime/tenant_scanner.h"
#include "shm/os.h"
#include "shm/segment.h"
#include "testutil.h"

#define NAME_MAX_LEN 64

static char conf_path[128];
static char base[40];
static char (*names)[NAME_MAX_LEN];
static shmrt_job_id *ids;
static uint32_t ntenants;

/* A file with only the template: no tenant is listed by name. */
static void write_conf(const char *runtime_extra, const char *queue_extra)
{
	FILE *f;

	snprintf(conf_path, sizeof(conf_path), "/tmp/shmrt-tenants-%d.ini",
		 (int)getpid());
	f = fopen(conf_path, "w");
	assert_non_null(f);
	fprintf(f,
		"[runtime]\nmode = process\nparticipants = 8\n"
		"drain_timeout_ms = 2000\n%s"
		"[tenant *]\n"
		"[queue q]\nhandler = tt.echo\ncapacity = 64\nslot_size = 256\n"
		"workers = 0\n%s",
		runtime_extra, queue_extra);
	assert_int_equal(fclose(f), 0);
}

static int h_echo(void *ctx, struct shmrt_job_run *run)
{
	(void)ctx;
	run->out_len =
	    (size_t)snprintf(run->out, run->out_cap, "done:%.*s",
			     (int)run->payload_len, (const char *)run->payload);
	return SHMRT_HANDLER_OK;
}

static void make_names(uint32_t n)
{
	uint32_t i;

	snprintf(base, sizeof(base), "%.36s", tu_tenant());
	ntenants = n;
	names = calloc(n, sizeof(*names));
	ids = calloc(n, sizeof(*ids));
	assert_non_null(names);
	assert_non_null(ids);
	for (i = 0; i < n; i++)
		snprintf(names[i], sizeof(names[i]), "%s-%u", base, i);
}

static int setup(void **state)
{
	(void)state;
	assert_int_equal(shmrt_handler_register("tt.echo", h_echo, NULL), 0);
	return 0;
}

static int teardown(void **state)
{
	uint32_t i;

	(void)state;
	shmrt__tenants_reset();
	shmrt__registry_reset();
	for (i = 0; i < ntenants; i++)
		shmrt__seg_destroy(names[i]);
	free(names);
	free(ids);
	names = NULL;
	ids = NULL;
	ntenants = 0;
	unlink(conf_path);
	setenv("SHMRT_MODE", "inline", 1);
	return 0;
}

/* Open file descriptors of this process. */
static uint32_t count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	uint32_t n = 0;

	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* Threads of this process, from /proc/self/status. */
static uint32_t count_threads(void)
{
	char line[256];
	unsigned n = 0;
	FILE *f = fopen("/proc/self/status", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Threads: %u", &n) == 1)
			break;
	fclose(f);
	return n;
}

static bool segment_exists(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "/dev/shm/shmrt.%s", name);
	return access(path, F_OK) == 0;
}

/*
 * Start every tenant and check the process's cost: at most a few more
 * fds and threads than before, whatever the number of tenants, and one
 * scan thread serving all of them.
 */
static void start_all(void)
{
	uint32_t fds0 = count_fds(), thr0 = count_threads(), i, entries, th;

	for (i = 0; i < ntenants; i++)
		assert_int_equal(shmrt_tenant_start(conf_path, names[i]), 0);
	shmrt__scanner_counts(&entries, &th);
	assert_int_equal(entries, ntenants);
	assert_int_equal(th, 1);
	assert_true(count_threads() <= thr0 + 2);
	assert_true(count_fds() <= fds0 + 4);
}

/* Enqueue "tenant-i" to each tenant's queue. */
static void enqueue_all(void)
{
	char payload[NAME_MAX_LEN + 8];
	uint32_t i;

	for (i = 0; i < ntenants; i++) {
		int n = snprintf(payload, sizeof(payload), "p%u", i);

		assert_int_equal(shmrt_enqueue(names[i], "q", payload,
					       (size_t)n, NULL, &ids[i]),
				 0);
	}
}

/* Wait for each job: it succeeded with its own tenant's payload. */
static void wait_all(void)
{
	struct shmrt_job_info info;
	char out[256], want[64];
	uint32_t i;

	for (i = 0; i < ntenants; i++) {
		memset(out, 0, sizeof(out));
		assert_int_equal(shmrt_job_wait(names[i], ids[i], 10000, &info,
						out, sizeof(out) - 1),
				 0);
		assert_int_equal(info.state, SHMRT_JOB_SUCCEEDED);
		snprintf(want, sizeof(want), "done:p%u", i);
		assert_string_equal(out, want);
	}
}

/* Stop them all; the scan thread ends with the last one. */
static void stop_all(void)
{
	uint64_t deadline = tu_deadline_ms(5000);
	uint32_t i, entries, th;

	for (i = 0; i < ntenants; i++)
		assert_int_equal(shmrt_tenant_stop(names[i]), 0);
	for (;;) {
		shmrt__scanner_counts(&entries, &th);
		assert_int_equal(entries, 0);
		if (th == 0)
			break;
		assert_true(shmrt__os_now_ns() < deadline);
		shmrt__os_sleep_ns(1000000);
	}
}

/* Inline test mode: the waiting caller runs each tenant's job. */
static void test_inline_templated_tenants(void **state)
{
	(void)state;
	setenv("SHMRT_MODE", "inline", 1);
	write_conf("", "");
	make_names((uint32_t)tu_scaled(300, 20));
	start_all();
	enqueue_all();
	wait_all();
	stop_all();
}

/* A worker thread that runs each tenant's one job through its segment. */
static void *run_each_main(void *arg)
{
	char payload[256], out[256];
	long bad = 0;
	uint32_t i;

	(void)arg;
	for (i = 0; i < ntenants; i++) {
		struct shmrt__backend *be = shmrt__backend_lookup(names[i]);
		struct shmrt__consumer *c;

		if (be == NULL || be->ops->consumer_open(be, &c) != 0) {
			shmrt__backend_put(be);
			bad++;
			continue;
		}
		if (shmrt__qrt_run_one(be, c, 0, payload, out, sizeof(out),
				       tu_deadline_ms(10000)) != 0)
			bad++;
		be->ops->consumer_close(be, c);
		shmrt__backend_put(be);
	}
	return (void *)bad;
}

/* Process mode: a segment per name; waits are woken across threads. */
static void test_process_templated_tenants(void **state)
{
	pthread_t worker;
	void *bad;
	uint32_t i;

	(void)state;
	setenv("SHMRT_MODE", "process", 1);
	write_conf("", "");
	make_names((uint32_t)tu_scaled(300, 20));
	start_all();
	for (i = 0; i < ntenants; i++)
		assert_true(segment_exists(names[i]));
	enqueue_all();
	assert_int_equal(pthread_create(&worker, NULL, run_each_main, NULL), 0);
	wait_all();
	assert_int_equal(pthread_join(worker, &bad), 0);
	assert_null(bad);
	stop_all();
	for (i = 0; i < ntenants; i++)
		assert_false(segment_exists(names[i]));
}

/*
 * The one scan thread scans every tenant: each tenant's job is leased by
 * a worker seat that then never completes it (a handler that hangs), and
 * only a scan ends it (job_timeout_ms passed, attempts used up). Every
 * job must end, in every tenant, within a few scan intervals. The seats
 * stay joined until then: a seat that left would leave its record free
 * for another participant, which is not what a hung worker does.
 */
static void test_every_tenant_is_scanned(void **state)
{
	struct shmrt_job_info info;
	struct shmrt__backend **bes;
	struct shmrt__consumer **cs;
	struct shmrt__be_lease l;
	char buf[256];
	uint32_t i;

	(void)state;
	setenv("SHMRT_MODE", "process", 1);
	write_conf("scan_interval_ms = 20\n",
		   "job_timeout_ms = 50\nmax_attempts = 1\n");
	make_names((uint32_t)tu_scaled(100, 10));
	bes = calloc(ntenants, sizeof(*bes));
	cs = calloc(ntenants, sizeof(*cs));
	assert_non_null(bes);
	assert_non_null(cs);
	start_all();
	enqueue_all();
	for (i = 0; i < ntenants; i++) {
		bes[i] = shmrt__backend_lookup(names[i]);
		assert_non_null(bes[i]);
		assert_int_equal(bes[i]->ops->consumer_open(bes[i], &cs[i]), 0);
		assert_int_equal(bes[i]->ops->lease(bes[i], cs[i], 0, buf,
						    sizeof(buf),
						    tu_deadline_ms(5000), &l),
				 0);
	}
	for (i = 0; i < ntenants; i++) {
		assert_int_equal(shmrt_job_wait(names[i], ids[i], 10000, &info,
						buf, sizeof(buf)),
				 0);
		assert_int_equal(info.state, SHMRT_JOB_FAILED);
	}
	for (i = 0; i < ntenants; i++) {
		bes[i]->ops->consumer_close(bes[i], cs[i]);
		shmrt__backend_put(bes[i]);
	}
	free(bes);
	free(cs);
	stop_all();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_inline_templated_tenants,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_process_templated_tenants,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_every_tenant_is_scanned, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
