/*
 * tests/unit/test_abi_growth.c - the growth rule of shmrt/shmrt.h: every
 * struct shmrt fills writes its reserved space as zero (here over 0xff
 * garbage), and shmrt_enqueue refuses options whose reserved space is
 * not zero. In test mode (SHMRT_MODE=inline): jobs run in the waiter.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <shmrt/shmrt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runtime/handler_registry.h"
#include "runtime/runtime_manager.h"
#include "testutil.h"

static char conf_path[64], tenant[64];

static int fails(void *ctx, struct shmrt_job_run *run)
{
	(void)ctx;
	run->out_len = (size_t)snprintf(run->out, run->out_cap, "no");
	return SHMRT_HANDLER_FAIL_FINAL;
}

static int setup(void **state)
{
	FILE *f;

	(void)state;
	snprintf(tenant, sizeof(tenant), "%s", tu_tenant());
	snprintf(conf_path, sizeof(conf_path), "/tmp/shmrt-abi-%d.ini",
		 (int)getpid());
	f = fopen(conf_path, "w");
	if (f == NULL)
		return -1;
	fprintf(f,
		"[runtime]\nmode = inline\n[tenant %s]\n[queue q]\n"
		"handler = abi.fails\nmax_attempts = 1\n",
		tenant);
	fclose(f);
	if (shmrt_handler_register("abi.fails", fails, NULL) != 0)
		return -1;
	return shmrt_tenant_start(conf_path, tenant);
}

static int teardown(void **state)
{
	(void)state;
	shmrt__tenants_reset();
	shmrt__registry_reset();
	unlink(conf_path);
	return 0;
}

#define ASSERT_ZERO(p)                                                         \
	do {                                                                   \
		static const char zero_[sizeof((p)->reserved)];                \
		assert_memory_equal((p)->reserved, zero_, sizeof(zero_));      \
	} while (0)

static void test_filled_structs_zero_reserved(void **state)
{
	struct shmrt_job_info info;
	struct shmrt_tenant_info ti;
	struct shmrt_queue_stats qs;
	struct shmrt_failed_job fj[2];
	struct shmrt_scan_stats ss;
	struct shmrt_queue_latency ql;
	struct shmrt_worker_info wi[1];
	struct shmrt_tenant_runner tr;
	shmrt_job_id id;

	(void)state;
	assert_int_equal(shmrt_enqueue(tenant, "q", "x", 1, NULL, &id), 0);
	memset(&info, 0xff, sizeof(info));
	assert_int_equal(shmrt_job_wait(tenant, id, 5000, &info, NULL, 0), 0);
	assert_int_equal(info.state, SHMRT_JOB_FAILED);
	ASSERT_ZERO(&info);
	memset(&info, 0xff, sizeof(info));
	assert_int_equal(shmrt_job_status(tenant, id, &info, NULL, 0), 0);
	ASSERT_ZERO(&info);
	memset(&ti, 0xff, sizeof(ti));
	assert_int_equal(shmrt_tenant_get_info(tenant, &ti), 0);
	ASSERT_ZERO(&ti);
	memset(&qs, 0xff, sizeof(qs));
	assert_int_equal(shmrt_queue_get_stats(tenant, "q", &qs), 0);
	ASSERT_ZERO(&qs);
	memset(fj, 0xff, sizeof(fj));
	assert_int_equal(shmrt_failed_jobs(tenant, "q", fj, 2), 1);
	ASSERT_ZERO(&fj[0]);
	memset(&ss, 0xff, sizeof(ss));
	assert_int_equal(shmrt_scan(tenant, &ss), 0);
	ASSERT_ZERO(&ss);
	memset(&ql, 0xff, sizeof(ql));
	assert_int_equal(shmrt_queue_get_latency(tenant, "q", &ql), 0);
	ASSERT_ZERO(&ql);
	memset(wi, 0xff, sizeof(wi));
	assert_true(shmrt_tenant_workers(tenant, wi, 1) >= 0);
	memset(&tr, 0xff, sizeof(tr));
	assert_int_equal(shmrt_tenant_get_runner(tenant, &tr), 0);
	ASSERT_ZERO(&tr);
}

static void test_enqueue_opts_reserved_must_be_zero(void **state)
{
	struct shmrt_enqueue_opts o;
	shmrt_job_id id;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.reserved[6] = 1;
	assert_int_equal(shmrt_enqueue(tenant, "q", "x", 1, &o, &id),
			 SHMRT_E_INVAL);
	assert_non_null(strstr(shmrt_last_error(), "reserved"));
	o.reserved[6] = 0;
	assert_int_equal(shmrt_enqueue(tenant, "q", "x", 1, &o, &id), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_filled_structs_zero_reserved,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_enqueue_opts_reserved_must_be_zero, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
