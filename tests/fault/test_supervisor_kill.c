/*
 * tests/fault/test_supervisor_kill.c - worker processes killed again and
 * again during a workload, under the supervisor.
 *
 * A laned chat-like queue records every run (builtin.record: one line
 * "JOB_ID LANE PAYLOAD" per run), an echo queue runs beside it, and a
 * crash queue's handler SIGKILLs its own worker. Jobs are sent in
 * rounds, and after each round a random worker process is SIGKILLed while
 * the jobs run. Then:
 *  - every accepted job ended: succeeded, or failed after max_attempts;
 *    none is lost (every wait returns);
 *  - per lane, the recorded runs, with a killed run's repeat folded into
 *    one, are exactly the lane's jobs in enqueue order;
 *  - builtin.crash jobs failed after their attempts, and the supervisor
 *    restarted every killed worker (all slots run at the end).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

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

#define NLANES 8
#define MAX_JOBS 4096
#define CHAT_ATTEMPTS 50
#define CRASH_ATTEMPTS 2

static char conf_path[256], record_path[256];
static const char *tenant;

struct job {
	shmrt_job_id id;
	int lane; /* -1: not on the chat queue */
	uint32_t seq; /* position in its lane */
	int crash;
};

static struct job jobs[MAX_JOBS];
static uint32_t njobs;

static void write_conf(void)
{
	FILE *f;

	tenant = tu_tenant();
	snprintf(conf_path, sizeof(conf_path), "/tmp/%s.ini", tenant);
	snprintf(record_path, sizeof(record_path), "/tmp/%s.rec", tenant);
	unlink(record_path);
	f = fopen(conf_path, "w");
	assert_non_null(f);
	fprintf(f, "[runtime]\nmode = process\nscan_interval_ms = 20\n"
		"participants = 128\n[tenant %s]\n"
		"[queue chat]\nhandler = builtin.record\nlaned = true\n"
		"workers = 3\nmax_attempts = %d\nretry_backoff_ms = 0\n"
		"record_file = %s\ncapacity = 4096\n"
		"[queue echo]\nhandler = builtin.echo\nworkers = 2\n"
		"max_attempts = %d\nretry_backoff_ms = 0\ncapacity = 4096\n"
		"[queue crash]\nhandler = builtin.crash\nworkers = 1\n"
		"max_attempts = %d\nretry_backoff_ms = 0\n",
		tenant, CHAT_ATTEMPTS, record_path, CHAT_ATTEMPTS,
		CRASH_ATTEMPTS);
	fclose(f);
}

static void submit(const char *queue, int lane, uint32_t seq, int crash)
{
	struct shmrt_enqueue_opts o = { .timeout_ms = 5000 };
	char lane_key[16], payload[32];
	int n;

	snprintf(lane_key, sizeof(lane_key), "L%d", lane);
	if (lane >= 0)
		o.lane = lane_key;
	n = snprintf(payload, sizeof(payload), "%u", seq);
	assert_int_equal(shmrt_enqueue(tenant, queue, payload, (size_t)n, &o,
				       &jobs[njobs].id), 0);
	jobs[njobs].lane = lane;
	jobs[njobs].seq = seq;
	jobs[njobs].crash = crash;
	njobs++;
}

/* Kill a random live worker process; returns whether one was killed. */
static int kill_one(void)
{
	struct shmrt__workers_info wi;
	uint32_t k;

	if (shmrt__workers_get_info(tenant, &wi) != 0 || wi.nworkers == 0)
		return 0;
	k = (uint32_t)rand() % wi.nworkers;
	if (wi.pid[k] <= 0)
		return 0;
	return kill(wi.pid[k], SIGKILL) == 0;
}

/* Per lane, the recorded sequence numbers, repeats folded, in order. */
static void check_record(uint32_t per_lane)
{
	uint32_t next[NLANES] = { 0 }, last[NLANES];
	unsigned long long id;
	char line[128];
	int lane, i;
	unsigned seq;
	FILE *f = fopen(record_path, "r");

	assert_non_null(f);
	for (i = 0; i < NLANES; i++)
		last[i] = UINT32_MAX;
	while (fgets(line, sizeof(line), f) != NULL) {
		assert_int_equal(sscanf(line, "%llu L%d %u", &id, &lane, &seq),
				 3);
		assert_true(lane >= 0 && lane < NLANES);
		if (seq == last[lane])
			continue; /* a killed run, run again */
		assert_int_equal(seq, next[lane]);
		last[lane] = seq;
		next[lane]++;
	}
	fclose(f);
	for (i = 0; i < NLANES; i++)
		assert_int_equal(next[i], per_lane);
}

static void test_kill_workers_repeatedly(void **state)
{
	struct shmrt__workers_opts o;
	struct shmrt__workers_info wi;
	struct shmrt_job_info info;
	uint32_t rounds = (uint32_t)tu_scaled(60, 8), batch = 5;
	uint32_t per_lane = rounds * batch, i, r, kills = 0;
	uint64_t deadline;

	(void)state;
	srand((unsigned)getpid());
	write_conf();
	setenv("SHMRT_MODE", "process", 1);
	assert_int_equal(shmrt__handlers_register(), 0);
	assert_int_equal(shmrt_tenant_start(conf_path, tenant), 0);
	memset(&o, 0, sizeof(o));
	o.process.exe = SHMRT_CLI_BIN;
	o.process.backoff_min_ns = 10000000u;
	o.process.backoff_max_ns = 100000000u;
	assert_int_equal(shmrt__workers_start(tenant, &o), 0);
	/* Rounds: a batch of jobs for every lane, then a kill while they
	 * run; the crash jobs go in early so their attempts overlap. */
	for (i = 0; i < 3; i++)
		submit("crash", -1, i, 1);
	deadline = tu_deadline_ms(60000);
	for (r = 0; r < rounds && shmrt__os_now_ns() < deadline; r++) {
		for (i = 0; i < batch * NLANES; i++) {
			uint32_t n = r * batch * NLANES + i;

			submit("chat", (int)(n % NLANES), n / NLANES, 0);
			if (n % 4 == 0)
				submit("echo", -1, n, 0);
		}
		shmrt__os_sleep_ns(5000000u + (uint64_t)(rand() % 25) * 1000000u);
		kills += (uint32_t)kill_one();
	}
	for (i = 0; i < njobs; i++) {
		assert_int_equal(shmrt_job_wait(tenant, jobs[i].id, 60000, &info,
						NULL, 0), 0);
		if (jobs[i].crash) {
			assert_int_equal(info.state, SHMRT_JOB_FAILED);
			assert_int_equal(info.attempt, CRASH_ATTEMPTS);
		} else if (info.state != SHMRT_JOB_SUCCEEDED) {
			assert_int_equal(info.state, SHMRT_JOB_FAILED);
			assert_int_equal(info.attempt, CHAT_ATTEMPTS);
		}
	}
	check_record(per_lane);
	deadline = tu_deadline_ms(10000);
	do {
		assert_int_equal(shmrt__workers_get_info(tenant, &wi), 0);
	} while (wi.running < wi.nworkers && shmrt__os_now_ns() < deadline &&
		 (shmrt__os_sleep_ns(5000000), 1));
	assert_int_equal(wi.running, wi.nworkers);
	assert_true(wi.restarts >= CRASH_ATTEMPTS * 3);
	print_message("%u jobs, %u kills by the test, %llu restarts\n", njobs,
		      kills, (unsigned long long)wi.restarts);
	shmrt__workers_stop(tenant);
	assert_int_equal(shmrt_tenant_stop(tenant), 0);
	unlink(conf_path);
	unlink(record_path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_workers_repeatedly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
