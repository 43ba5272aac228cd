/*
 * tests/redis/test_semantics.c - the redis backend's semantics, one test
 * each, against a private redis-server (tests/redis_fixture.h).
 *
 * This process is the runner (shmrt_tenant_start with backend = redis)
 * and the producer; the workers are `shmrt worker` processes with the
 * probe handlers (probe_handlers.c), some of them in their own mount
 * namespace with a private /dev/shm: other hosts, as far as shmrt can
 * tell. What ran where and when comes from the probe file; only this
 * process asserts.
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

#include "redis_fixture.h"
#include "runtime/queue_backend_factory.h"
#include "shm/os.h"
#include "testutil.h"

#define MAX_PROBES 4096

static struct tu_probe probes[MAX_PROBES];
/* What the last tu_rt_wait saw. */
static struct shmrt_job_info winfo;

static size_t probes_of(const struct tu_rt *t)
{
	return tu_probe_read(t->probe, probes, MAX_PROBES);
}

/* ------------------------------------------------------------ lifecycle */

/*
 * enqueue returns the id of a stored job; status and cancel work before
 * any worker exists; a worker on another host runs it; wait blocks (it
 * returns within a few ms of the end, not at a poll tick); release
 * forgets it.
 */
static void test_job_lifecycle(void **state)
{
	struct tu_rt t;
	struct shmrt_job_info info;
	shmrt_job_id a, b;
	char buf[128], want[64];

	(void)state;
	tu_rt_open(&t, "", "[queue q]\nhandler = probe\n");
	a = tu_rt_put(&t, "q", "400 ok a", NULL);
	b = tu_rt_put(&t, "q", "0 ok b", NULL);
	assert_true(b.v > a.v);
	assert_int_equal(shmrt_job_status(t.name, a, &info, NULL, 0), 0);
	assert_int_equal(info.state, SHMRT_JOB_QUEUED);
	assert_int_equal(info.payload_len, 8);
	assert_int_equal(shmrt_job_release(t.name, a), SHMRT_E_STATE);
	assert_int_equal(shmrt_job_cancel(t.name, b), 0);
	assert_int_equal(shmrt_job_cancel(t.name, b), SHMRT_E_STATE);
	assert_int_equal(shmrt_job_status(t.name, b, &info, NULL, 0), 0);
	assert_int_equal(info.state, SHMRT_JOB_CANCELLED);
	assert_int_equal(shmrt_job_status(t.name, (shmrt_job_id){ 999999 },
					  &info, NULL, 0),
			 SHMRT_E_NOJOB);

	tu_rt_worker(&t, "q", true);
	tu_rt_wait(&t, a, SHMRT_JOB_SUCCEEDED, &winfo, buf, sizeof(buf));
	snprintf(want, sizeof(want), "pid=%d ", (int)t.worker[0]);
	assert_non_null(strstr(buf, want));
	assert_int_equal(shmrt_job_status(t.name, a, &info, NULL, 0), 0);
	assert_int_equal(info.attempt, 1);
	assert_true(info.finish_ns >= info.start_ns + 400000000ull);

	assert_int_equal(shmrt_job_release(t.name, a), 0);
	assert_int_equal(shmrt_job_status(t.name, a, &info, NULL, 0),
			 SHMRT_E_NOJOB);
	tu_rt_close(&t);
}

/* How late wait returns after the job ended, on this host's clock: the
 * probe's E line is written just before the worker completes. */
static void test_wait_blocks_not_polls(void **state)
{
	struct tu_rt t;
	char buf[128];
	uint64_t worst = 0, late;
	size_t n, i, k;
	shmrt_job_id id;

	(void)state;
	tu_rt_open(&t, "", "[queue q]\nhandler = probe\n");
	tu_rt_worker(&t, "q", false);
	for (k = 0; k < 5; k++) {
		id = tu_rt_put(&t, "q", "150 ok w", NULL);
		tu_rt_wait(&t, id, SHMRT_JOB_SUCCEEDED, &winfo, buf,
			   sizeof(buf));
		late = shmrt__os_now_ns();
		n = probes_of(&t);
		for (i = 0; i < n; i++)
			if (probes[i].kind == 'E' && probes[i].id == id.v)
				late -= probes[i].ns;
		worst = late > worst ? late : worst;
	}
	printf("wait returned at most %.1f ms after the handler ended\n",
	       (double)worst / 1e6);
	/* A poll would show up as its tick; blocking costs two round trips. */
	assert_true(worst < 100000000ull);
	tu_rt_close(&t);
}

/* ----------------------------------------------------------------- lanes */

/*
 * Jobs of one lane run one at a time in enqueue order on workers of
 * three hosts; lanes run in parallel.
 */
static void test_lanes_in_order(void **state)
{
	static const char *lanes[] = { "la", "lb", "lc", "ld" };
	unsigned long long end[4] = { 0 };
	int next[4] = { 0 }, seen = 0;
	struct tu_rt t;
	shmrt_job_id last[4];
	char buf[64], p[32];
	size_t n, i;
	int k, l;

	(void)state;
	tu_rt_open(&t, "", "[queue chat]\nhandler = probe\nlaned = true\n");
	tu_rt_worker(&t, "chat", false);
	tu_rt_worker(&t, "chat", true);
	tu_rt_worker(&t, "chat", true);
	for (k = 0; k < 12; k++)
		for (l = 0; l < 4; l++) {
			snprintf(p, sizeof(p), "5 ok %d", k);
			last[l] = tu_rt_put(&t, "chat", p, lanes[l]);
		}
	for (l = 0; l < 4; l++)
		tu_rt_wait(&t, last[l], SHMRT_JOB_SUCCEEDED, &winfo, buf,
			   sizeof(buf));
	n = probes_of(&t);
	assert_int_equal(n, 2 * 12 * 4);
	for (i = 0; i < n; i++) {
		for (l = 0; l < 4 && strcmp(probes[i].lane, lanes[l]) != 0; l++)
			;
		assert_true(l < 4);
		if (probes[i].kind == 'S') {
			/* in order, and after the lane's previous job ended */
			assert_int_equal(atoi(probes[i].tag), next[l]);
			assert_true(probes[i].ns >= end[l]);
			next[l]++;
		} else {
			end[l] = probes[i].ns;
			seen++;
		}
	}
	assert_int_equal(seen, 48);
	tu_rt_close(&t);
}

/* Lanes take turns: one lane's backlog does not starve another. */
static void test_lanes_take_turns(void **state)
{
	struct tu_rt t;
	shmrt_job_id b, a;
	char buf[64];
	size_t n, i, pos = 0, starts = 0;
	int k;

	(void)state;
	tu_rt_open(&t, "", "[queue chat]\nhandler = probe\nlaned = true\n");
	for (k = 0; k < 20; k++)
		a = tu_rt_put(&t, "chat", "20 ok a", "A");
	b = tu_rt_put(&t, "chat", "0 ok b", "B");
	tu_rt_worker(&t, "chat", true);
	tu_rt_wait(&t, b, SHMRT_JOB_SUCCEEDED, &winfo, buf, sizeof(buf));
	tu_rt_wait(&t, a, SHMRT_JOB_SUCCEEDED, &winfo, buf, sizeof(buf));
	n = probes_of(&t);
	for (i = 0; i < n; i++)
		if (probes[i].kind == 'S' && ++starts &&
		    strcmp(probes[i].lane, "B") == 0)
			pos = starts;
	/* A's head first, then B (A's next waits behind B in the ring). */
	assert_int_equal(pos, 2);
	tu_rt_close(&t);
}

/* ------------------------------------------------------------ semaphores */

/* Largest number of [S, E] intervals open at once. */
static int max_overlap(size_t n)
{
	int open = 0, most = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		open += probes[i].kind == 'S' ? 1 : -1;
		most = open > most ? open : most;
	}
	return most;
}

/* At most semaphore_limit jobs of the queue run at once, across hosts. */
static void test_semaphore_caps_across_hosts(void **state)
{
	struct tu_rt t;
	shmrt_job_id id[24];
	char buf[64];
	int k, most;

	(void)state;
	tu_rt_open(&t, "", "[queue up]\nhandler = probe\n"
			    "semaphore_limit = 2\n");
	for (k = 0; k < 5; k++)
		tu_rt_worker(&t, "up", k % 2 == 1);
	for (k = 0; k < 24; k++)
		id[k] = tu_rt_put(&t, "up", "40 ok s", NULL);
	for (k = 0; k < 24; k++)
		tu_rt_wait(&t, id[k], SHMRT_JOB_SUCCEEDED, &winfo, buf,
			   sizeof(buf));
	most = max_overlap(probes_of(&t));
	printf("at most %d jobs ran at once (limit 2, 5 workers)\n", most);
	assert_int_equal(most, 2);
	tu_rt_close(&t);
}

/* ----------------------------------------------------------- idempotency */

/* Racing producers (processes, each its own connection) with one key. */
static void test_idempotency_race(void **state)
{
	char *argv[] = { "shmrt", "enqueue", "-c", NULL, "-t", NULL, "q",
			 "--key", "order-17", "--data", "0 ok i", NULL };
	char out[8][128], err[128], text[8][64];
	struct shmrt_queue_stats st;
	struct tu_rt t;
	pid_t pid[8];
	int k;

	(void)state;
	tu_rt_open(&t, "", "[queue q]\nhandler = probe\n"
			    "idempotency_ttl_ms = 60000\n");
	argv[3] = t.conf;
	argv[5] = (char *)t.name;
	for (k = 0; k < 8; k++) {
		snprintf(out[k], sizeof(out[k]), "%s/%s.out%d", tu_srv.dir,
			 t.name, k);
		snprintf(err, sizeof(err), "%s/%s.err", tu_srv.dir, t.name);
		pid[k] = tu_spawn_cli(out[k], err, argv);
	}
	for (k = 0; k < 8; k++)
		assert_int_equal(tu_wait_child(pid[k], TU_RT_WAIT_MS), 0);
	for (k = 0; k < 8; k++) {
		tu_slurp(out[k], text[k], sizeof(text[k]));
		assert_true(atoll(text[k]) > 0);
		assert_int_equal(atoll(text[k]), atoll(text[0]));
	}
	assert_int_equal(shmrt_queue_get_stats(t.name, "q", &st), 0);
	assert_int_equal(st.enqueued, 1);
	assert_int_equal(st.deduplicated, 7);
	assert_int_equal(st.queued, 1);
	assert_int_equal(shmrt_job_cancel(t.name, (shmrt_job_id){
						     (uint64_t)atoll(text[0]) }),
			 0);
	tu_rt_close(&t);
}

/* The key lives for idempotency_ttl_ms; then the same key is a new job. */
static void test_idempotency_ttl(void **state)
{
	struct shmrt_enqueue_opts o = { 0 };
	struct tu_rt t;
	shmrt_job_id a, b;

	(void)state;
	tu_rt_open(&t, "", "[queue q]\nhandler = probe\n"
			    "idempotency_ttl_ms = 300\n");
	o.key = "k";
	assert_int_equal(shmrt_enqueue(t.name, "q", "x", 1, &o, &a), 0);
	assert_int_equal(shmrt_enqueue(t.name, "q", "x", 1, &o, &b),
			 SHMRT_ENQUEUE_EXISTING);
	assert_int_equal(a.v, b.v);
	usleep(450000);
	assert_int_equal(shmrt_enqueue(t.name, "q", "x", 1, &o, &b), 0);
	assert_true(b.v != a.v);
	assert_int_equal(shmrt_job_cancel(t.name, a), 0);
	assert_int_equal(shmrt_job_cancel(t.name, b), 0);
	tu_rt_close(&t);
}

/* ------------------------------------------------------ leases, retries */

/*
 * A job that runs four times longer than the lease keeps it: the
 * heartbeat extends it, the reaper (the runner scans every 50 ms) leaves
 * it alone, and it ends after one attempt.
 */
static void test_heartbeat_keeps_lease(void **state)
{
	struct shmrt_job_info info;
	struct tu_rt t;
	shmrt_job_id id;
	char buf[64];

	(void)state;
	tu_rt_open(&t, "heartbeat_timeout_ms = 300\nscan_interval_ms = 50\n",
		    "[queue q]\nhandler = probe\n");
	tu_rt_worker(&t, "q", true);
	id = tu_rt_put(&t, "q", "1200 ok h", NULL);
	tu_rt_wait(&t, id, SHMRT_JOB_SUCCEEDED, &winfo, buf, sizeof(buf));
	assert_int_equal(shmrt_job_status(t.name, id, &info, NULL, 0), 0);
	assert_int_equal(info.attempt, 1);
	assert_int_equal(probes_of(&t), 2);
	tu_rt_close(&t);
}

/*
 * A failing job is retried after retry_backoff_ms, with a new token each
 * time, until max_attempts; then it is in the failed-jobs view and the
 * counters say so.
 */
static void test_retry_backoff_failed_view(void **state)
{
	struct shmrt_failed_job f[4];
	struct shmrt_queue_stats st;
	struct tu_rt t;
	shmrt_job_id id;
	char buf[64];
	size_t n;

	(void)state;
	tu_rt_open(&t, "", "[queue q]\nhandler = probe\nmax_attempts = 3\n"
			    "retry_backoff_ms = 150\n");
	tu_rt_worker(&t, "q", false);
	tu_rt_worker(&t, "q", true);
	id = tu_rt_put(&t, "q", "0 fail r", NULL);
	tu_rt_wait(&t, id, SHMRT_JOB_FAILED, &winfo, buf, sizeof(buf));
	n = probes_of(&t);
	assert_int_equal(n, 6);
	assert_int_equal(probes[4].attempt, 3);
	assert_true(probes[2].ns >= probes[1].ns + 150000000ull);
	assert_true(probes[4].ns >= probes[3].ns + 150000000ull);
	assert_true(probes[2].token > probes[0].token);
	assert_true(probes[4].token > probes[2].token);
	assert_int_equal(shmrt_failed_jobs(t.name, "q", f, 4), 1);
	assert_int_equal(f[0].id.v, id.v);
	assert_int_equal(f[0].attempts, 3);
	assert_non_null(strstr(f[0].error, "pid="));
	assert_int_equal(shmrt_queue_get_stats(t.name, "q", &st), 0);
	assert_int_equal(st.retried, 2);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.succeeded, 0);
	assert_int_equal(st.finished, 1);
	tu_rt_close(&t);
}

/* --------------------------------------------------- drain, retention */

/*
 * Draining goes through the engine: new work is refused, the job that
 * runs finishes, and workers on both hosts see it and leave.
 */
static void test_drain_seen_by_every_host(void **state)
{
	struct shmrt__backend *be;
	struct tu_rt t;
	shmrt_job_id id, no;
	char buf[64];
	int k;

	(void)state;
	tu_rt_open(&t, "", "[queue q]\nhandler = probe\n");
	tu_rt_worker(&t, "q", false);
	tu_rt_worker(&t, "q", true);
	id = tu_rt_put(&t, "q", "300 ok d", NULL);
	be = shmrt__backend_lookup(t.name);
	assert_non_null(be);
	be->ops->set_state(be, SHMRT__BE_DRAINING);
	shmrt__backend_put(be);
	assert_int_equal(shmrt_enqueue(t.name, "q", "x", 1, NULL, &no),
			 SHMRT_E_DRAINING);
	tu_rt_wait(&t, id, SHMRT_JOB_SUCCEEDED, &winfo, buf, sizeof(buf));
	for (k = 0; k < t.nworkers; k++)
		assert_int_equal(tu_wait_child(t.worker[k], TU_RT_WAIT_MS), 0);
	t.nworkers = 0;
	assert_int_equal(shmrt_tenant_stop(t.name), 0);
}

/* Finished jobs expire by TTL after retention_ms. */
static void test_retention(void **state)
{
	struct shmrt_job_info info;
	struct shmrt_scan_stats sc;
	struct tu_rt t;
	shmrt_job_id id;

	(void)state;
	tu_rt_open(&t, "retention_ms = 300\n", "[queue q]\nhandler = probe\n");
	id = tu_rt_put(&t, "q", "0 ok x", NULL);
	assert_int_equal(shmrt_job_cancel(t.name, id), 0);
	assert_int_equal(shmrt_job_status(t.name, id, &info, NULL, 0), 0);
	usleep(500000);
	assert_int_equal(shmrt_job_status(t.name, id, &info, NULL, 0),
			 SHMRT_E_NOJOB);
	assert_int_equal(shmrt_scan(t.name, &sc), 0);
	tu_rt_close(&t);
}

/* ---------------------------------------------------------------- errors */

static void expect_start_error(const char *runtime, int code,
			       const char *needle)
{
	char conf[128];
	const char *name = tu_tenant();
	FILE *f;

	snprintf(conf, sizeof(conf), "%s/%s.ini", tu_srv.dir, name);
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "[runtime]\nbackend = redis\n%s\n[tenant %s]\n"
		"[queue q]\nhandler = probe\n", runtime, name);
	fclose(f);
	assert_int_equal(shmrt_tenant_start(conf, name), code);
	if (strstr(shmrt_last_error(), needle) == NULL ||
	    strstr(shmrt_last_error(), "backend redis") == NULL)
		fail_msg("error '%s' lacks '%s'", shmrt_last_error(), needle);
}

/* Errors name the backend and the cause; on_init_error applies. */
static void test_errors_name_backend_and_cause(void **state)
{
	struct shmrt_tenant_info ti;
	char line[128], conf[128];
	const char *name;
	FILE *f;

	(void)state;
	expect_start_error("redis = 127.0.0.1:1", SHMRT_E_BACKEND,
			   "cannot connect to redis 127.0.0.1:1: Connection "
			   "refused");
	snprintf(line, sizeof(line), "redis = %s\nredis_password_env = "
		 "SHMRT_TEST_NO_SUCH_VAR", tu_srv.addr);
	expect_start_error(line, SHMRT_E_CONF, "SHMRT_TEST_NO_SUCH_VAR, "
			   "which is not set");
	setenv("SHMRT_TEST_PW", "wrong", 1);
	snprintf(line, sizeof(line), "redis = %s\nredis_password_env = "
		 "SHMRT_TEST_PW", tu_srv.addr);
	expect_start_error(line, SHMRT_E_BACKEND, "refused the password");

	/* attach before any runner loaded the library */
	(void)tu_redis_num(&tu_srv, "FUNCTION FLUSH");
	name = tu_tenant();
	snprintf(conf, sizeof(conf), "%s/%s.ini", tu_srv.dir, name);
	tu_redis_conf(&tu_srv, conf, name, "", "[queue q]\nhandler = probe\n");
	assert_int_equal(shmrt_tenant_attach(conf, name), SHMRT_E_BACKEND);
	assert_non_null(strstr(shmrt_last_error(), "backend redis"));
	assert_non_null(strstr(shmrt_last_error(), "library is missing"));

	/* degrade: inline on private memory, said on stderr */
	name = tu_tenant();
	snprintf(conf, sizeof(conf), "%s/%s.ini", tu_srv.dir, name);
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "[runtime]\nbackend = redis\nredis = 127.0.0.1:1\n"
		"on_init_error = degrade\n[tenant %s]\n[queue q]\n"
		"handler = probe\n", name);
	fclose(f);
	assert_int_equal(shmrt_tenant_start(conf, name), 0);
	assert_int_equal(shmrt_tenant_get_info(name, &ti), 0);
	assert_string_equal(ti.backend, "inline");
	assert_true(ti.degraded);
	assert_int_equal(shmrt_tenant_stop(name), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_job_lifecycle),
		cmocka_unit_test(test_wait_blocks_not_polls),
		cmocka_unit_test(test_lanes_in_order),
		cmocka_unit_test(test_lanes_take_turns),
		cmocka_unit_test(test_semaphore_caps_across_hosts),
		cmocka_unit_test(test_idempotency_race),
		cmocka_unit_test(test_idempotency_ttl),
		cmocka_unit_test(test_heartbeat_keeps_lease),
		cmocka_unit_test(test_retry_backoff_failed_view),
		cmocka_unit_test(test_drain_seen_by_every_host),
		cmocka_unit_test(test_retention),
		cmocka_unit_test(test_errors_name_backend_and_cause),
	};

	return cmocka_run_group_tests(tests, tu_redis_group_setup,
				      tu_redis_group_teardown);
}
