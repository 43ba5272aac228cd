/*
 * tests/multiprocess/test_fire_and_forget.c - finished jobs never refuse
 * new work (issue 10, point 1).
 *
 * A producer that enqueues and never waits or releases, on the default
 * configuration (conf/shmrt.ini, its tenant renamed), pushes 100 times the
 * `profile` queue's capacity through a worker without one refusal: the
 * oldest finished jobs give up their slots (evict.h). The same run with
 * `retention = strict` on that queue is refused once the finished jobs fill
 * it, which is what the first run would do without eviction.
 *
 * Everything goes through the public API; the worker is a thread running
 * shmrt_worker_run in this process, on the tenant's segment. The wake
 * safety net is off (ec.h): a producer that waits for space while every
 * slot holds a live job must be woken when one of them finishes, or it
 * waits out its 2 s and is refused.
 */
#define _GNU_SOURCE /* setenv */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <shmrt/error.h>
#include <shmrt/runtime.h>
#include <shmrt/worker.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define DEFAULT_CONF SHMRT_SOURCE_DIR "/conf/shmrt.ini"
#define CAPACITY     1024 /* the profile queue's, in the default conf */
#define WAIT_MS	     2000 /* backpressure: an enqueue waits this long */

static char conf_path[96];
static char tenant[64];
static int stop_worker;

/* The default conf, its [tenant demo] renamed, with `extra` appended to
 * the [queue profile] section (the file's last). */
static void write_conf(const char *extra)
{
	char line[512];
	FILE *in = fopen(DEFAULT_CONF, "r"), *out;

	assert_non_null(in);
	snprintf(tenant, sizeof(tenant), "%s", tu_tenant());
	snprintf(conf_path, sizeof(conf_path), "/tmp/shmrt-faf-%d.ini",
		 (int)getpid());
	out = fopen(conf_path, "w");
	assert_non_null(out);
	while (fgets(line, sizeof(line), in) != NULL) {
		if (strcmp(line, "[tenant demo]\n") == 0)
			fprintf(out, "[tenant %s]\n", tenant);
		else
			fputs(line, out);
	}
	fprintf(out, "%s", extra);
	fclose(in);
	assert_int_equal(fclose(out), 0);
}

static int profile(void *ctx, struct shmrt_job_run *run)
{
	(void)ctx;
	memcpy(run->out, run->payload, run->payload_len);
	run->out_len = run->payload_len;
	return SHMRT_HANDLER_OK;
}

static void *worker(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)shmrt_worker_run(tenant, "profile",
						  &stop_worker);
}

struct run_result {
	uint32_t accepted, refused;
	int first_refusal;
	shmrt_job_id first;
	struct shmrt_queue_stats st;
};

/* Start the tenant and a worker, push `n` jobs and forget them. */
static void push(uint32_t n, struct run_result *r)
{
	struct shmrt_enqueue_opts o = { .timeout_ms = WAIT_MS };
	uint64_t deadline = tu_deadline_ms(20000);
	pthread_t t;
	void *wrc;
	uint32_t i;

	memset(r, 0, sizeof(*r));
	assert_int_equal(shmrt_handler_register("profile", profile, NULL), 0);
	assert_int_equal(shmrt_tenant_start(conf_path, tenant), 0);
	__atomic_store_n(&stop_worker, 0, __ATOMIC_RELEASE);
	assert_int_equal(pthread_create(&t, NULL, worker, NULL), 0);
	for (i = 0; i < n && r->refused == 0; i++) {
		shmrt_job_id id;
		int rc = shmrt_enqueue(tenant, "profile", "p", 1, &o, &id);

		if (rc != 0) {
			r->refused++;
			r->first_refusal = rc;
			break;
		}
		if (r->accepted++ == 0)
			r->first = id;
	}
	/* Let the worker finish what was accepted, so stop need not wait. */
	do {
		assert_int_equal(shmrt_queue_get_stats(tenant, "profile",
						       &r->st),
				 0);
	} while (r->st.queued + r->st.running > 0 &&
		 tu_deadline_ms(0) < deadline && usleep(1000) == 0);
	__atomic_store_n(&stop_worker, 1, __ATOMIC_RELEASE);
	assert_int_equal(pthread_join(t, &wrc), 0);
	assert_int_equal((int)(intptr_t)wrc, 0);
}

static int setup(void **state)
{
	(void)state;
	/* Real workers: not the suite's test mode, which runs jobs only in
	 * a waiting caller. */
	setenv("SHMRT_MODE", "process", 1);
	/* A producer waiting for space must be woken when a job finishes
	 * (it can be evicted then): no capped sleep may do it instead. */
	setenv("SHMRT_TEST_NO_WAKE_NET", "1", 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	shmrt_tenant_stop(tenant);
	unlink(conf_path);
	return 0;
}

static void test_fire_and_forget_is_never_refused(void **state)
{
	struct shmrt_job_info info;
	struct run_result r;

	(void)state;
	write_conf("");
	push(100 * CAPACITY, &r);
	assert_int_equal(r.refused, 0);
	assert_int_equal(r.accepted, 100 * CAPACITY);
	assert_true(r.st.evicted >= 100 * CAPACITY - 2 * CAPACITY);
	assert_int_equal(shmrt_job_status(tenant, r.first, &info, NULL, 0),
			 SHMRT_E_EXPIRED);
}

static void test_strict_retention_refuses_when_full(void **state)
{
	struct run_result r;

	(void)state;
	write_conf("retention = strict\n");
	push(2 * CAPACITY, &r);
	assert_int_equal(r.refused, 1);
	assert_int_equal(r.first_refusal, SHMRT_E_FULL);
	assert_int_equal(r.accepted, CAPACITY);
	assert_int_equal(r.st.evicted, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_fire_and_forget_is_never_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_strict_retention_refuses_when_full, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
