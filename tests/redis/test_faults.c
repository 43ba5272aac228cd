/*
 * tests/redis/test_faults.c - the redis backend under faults, each
 * bounded: kill -9 of workers that hold jobs, lanes and permits; a worker
 * stopped past its lease and resumed; the server stopped or restarted
 * under running workers; kill -9 of the server with appendonly yes and
 * appendfsync always.
 *
 * Workers are `shmrt worker` processes with the probe handler library
 * (probe_handlers.c), some in their own mount namespace; only this
 * process asserts.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <shmrt/error.h>
#include <shmrt/runtime.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "redis_fixture.h"
#include "shm/os.h"
#include "testutil.h"

#define WAIT_MS TU_RT_WAIT_MS
#define MAX_PROBES 4096
#define MAX_WORKERS TU_RT_WORKERS
#define MAX_IDS 4096

static struct tu_probe probes[MAX_PROBES];

static size_t probes_of(const struct tu_rt *t)
{
	return tu_probe_read(t->probe, probes, MAX_PROBES);
}

/* The pids that started a job and have not ended it, up to max, and
 * (job != NULL) those jobs. */
static int holders_jobs(const struct tu_rt *t, pid_t *pid,
			unsigned long long *job, int max)
{
	size_t n = probes_of(t), i, j;
	int k = 0;

	for (i = 0; i < n && k < max; i++) {
		bool ended = false;

		if (probes[i].kind != 'S')
			continue;
		for (j = i + 1; j < n; j++)
			ended |= probes[j].kind == 'E' &&
				 probes[j].id == probes[i].id &&
				 probes[j].token == probes[i].token;
		if (!ended) {
			if (job != NULL)
				job[k] = probes[i].id;
			pid[k++] = probes[i].pid;
		}
	}
	return k;
}

static int holders(const struct tu_rt *t, pid_t *pid, int max)
{
	return holders_jobs(t, pid, NULL, max);
}

/* The job pid started and has not ended, per the probe file; 0: none. */
static unsigned long long held_job(const struct tu_rt *t, pid_t pid)
{
	unsigned long long job[MAX_WORKERS];
	pid_t h[MAX_WORKERS];
	int n = holders_jobs(t, h, job, MAX_WORKERS), i;

	for (i = 0; i < n; i++)
		if (h[i] == pid)
			return job[i];
	return 0;
}

/* utime + stime of a process, in ms (/proc/PID/stat fields 14, 15). */
static uint64_t cpu_ms(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	long hz = sysconf(_SC_CLK_TCK);

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	tu_slurp(path, buf, sizeof(buf));
	p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
				"%*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (ut + st) * 1000u / (uint64_t)(hz > 0 ? hz : 100);
}

/* --------------------------------------------------------- dead workers */

/*
 * Up to max workers frozen (SIGSTOP) in the middle of a job: a holder
 * is stopped first, then checked again (a job it ended between the look
 * and the stop does not count: it is resumed). Returns how many; job[i]
 * is the job out[i] holds.
 */
static int hold_and_freeze(const struct tu_rt *t, pid_t *out,
			   unsigned long long *job, int max)
{
	pid_t cand[MAX_WORKERS];
	int n = 0, k, i, j, m;

	for (k = 0; k < 1000 && n < max; k++) {
		usleep(5000);
		m = holders(t, cand, MAX_WORKERS);
		for (i = 0; i < m && n < max; i++) {
			bool dup = false;

			for (j = 0; j < n; j++)
				dup |= out[j] == cand[i];
			if (dup || kill(cand[i], SIGSTOP) != 0)
				continue;
			if (tu_wait_stopped(cand[i], 5000) != 0)
				continue;
			out[n] = cand[i];
			if ((job[n] = held_job(t, cand[i])) != 0)
				n++;
			else
				kill(cand[i], SIGCONT);
		}
	}
	return n;
}


static bool was_killed(pid_t pid, const pid_t *killed, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (killed[i] == pid)
			return true;
	return false;
}

/*
 * Per lane, in probe order: a start only after the lane's previous run
 * ended - at its E line, or, for a run whose worker was killed, at the
 * kill. Returns the number of violations.
 */
static int lane_overlaps(size_t n, const pid_t *killed, int nk,
			 uint64_t kill_ns)
{
	unsigned long long busy_until[3] = { 0 };
	int bad = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		int l = probes[i].lane[0] - 'a';

		if (l < 0 || l > 2)
			return 1000;
		if (probes[i].kind == 'S') {
			bad += probes[i].ns < busy_until[l];
			busy_until[l] = was_killed(probes[i].pid, killed, nk)
						? kill_ns
						: UINT64_MAX;
		} else {
			busy_until[l] = probes[i].ns;
		}
	}
	return bad;
}

/*
 * kill -9 of two workers while each holds a job, its lane and one of the
 * queue's two permits: the reaper takes all three back once the lease
 * (400 ms) expires; every job ends succeeded, completed by a live worker;
 * no lane ran two jobs at once; the permits were never exceeded.
 */
static void test_kill9_workers_holding_jobs_lanes_permits(void **state)
{
	static const char *lanes[] = { "a", "b", "c" };
	struct shmrt_queue_stats st;
	struct shmrt_job_info info;
	struct tu_rt t;
	shmrt_job_id id[3][6];
	unsigned long long held[2];
	pid_t killed[2];
	uint64_t kill_ns, done_ns;
	char buf[64], want[32];
	int l, k, nk = 0;

	(void)state;
	tu_rt_open(&t, "heartbeat_timeout_ms = 400\nscan_interval_ms = 50\n",
		    "[queue chat]\nhandler = probe\nlaned = true\n"
		    "semaphore_limit = 2\n");
	for (k = 0; k < 6; k++)
		for (l = 0; l < 3; l++)
			id[l][k] = tu_rt_put(&t, "chat", "150 ok k", lanes[l]);
	tu_rt_worker(&t, "chat", false);
	tu_rt_worker(&t, "chat", true);
	tu_rt_worker(&t, "chat", true);
	nk = hold_and_freeze(&t, killed, held, 2);
	assert_int_equal(nk, 2);
	for (k = 0; k < nk; k++)
		kill(killed[k], SIGKILL);
	kill_ns = shmrt__os_now_ns();
	for (k = 0; k < t.nworkers; k++)
		if (was_killed(t.worker[k], killed, nk)) {
			assert_int_equal(tu_wait_child(t.worker[k], WAIT_MS),
					 128 + SIGKILL);
			t.worker[k] = 0;
		}
	tu_rt_worker(&t, "chat", true);
	for (l = 0; l < 3; l++)
		for (k = 0; k < 6; k++)
			tu_rt_wait(&t, id[l][k], SHMRT_JOB_SUCCEEDED, &info,
				   buf, sizeof(buf));
	/* The jobs the dead held were completed by live workers. */
	for (k = 0; k < nk; k++) {
		tu_rt_wait(&t, (shmrt_job_id){ held[k] }, SHMRT_JOB_SUCCEEDED,
			   &info, buf, sizeof(buf));
		snprintf(want, sizeof(want), "pid=%d ", (int)killed[k]);
		assert_null(strstr(buf, want));
		assert_true(info.attempt >= 2);
	}
	done_ns = shmrt__os_now_ns();
	printf("all 18 jobs ended %.0f ms after the kill\n",
	       (double)(done_ns - kill_ns) / 1e6);
	assert_int_equal(lane_overlaps(probes_of(&t), killed, nk, kill_ns), 0);
	assert_int_equal(shmrt_queue_get_stats(t.name, "chat", &st), 0);
	assert_int_equal(st.reclaimed, 2);
	assert_int_equal(st.succeeded, 18);
	tu_rt_close(&t);
}

/* ------------------------------------------------------ paused worker */

/* Until the probe file has `n` lines of kind `kind`; how many it has. */
static int probes_wait(const struct tu_rt *t, char kind, int n)
{
	size_t m, i;
	int k, seen = 0;

	for (k = 0; k < 1000 && seen < n; k++) {
		usleep(10000);
		m = probes_of(t);
		for (i = 0, seen = 0; i < m; i++)
			seen += probes[i].kind == kind;
	}
	return seen;
}

/*
 * A worker stopped (SIGSTOP) past its lease loses the job to another
 * worker. Resumed while the other still runs the job, it completes
 * first - with its old token, which the server refuses: the job is
 * RUNNING, but under a newer lease. The result is the other worker's,
 * and the job succeeded once. (Attempt 1 sleeps 300 ms, attempt 2
 * 1500 ms, so the stale completion comes first.)
 */
static void test_stopped_worker_is_fenced(void **state)
{
	struct shmrt_queue_stats st;
	struct shmrt_job_info info;
	struct tu_rt t;
	shmrt_job_id id;
	pid_t w1, w2, held[1];
	char buf[64], want[32];

	(void)state;
	tu_rt_open(&t, "heartbeat_timeout_ms = 300\nscan_interval_ms = 50\n",
		    "[queue q]\nhandler = probe\n");
	w1 = tu_rt_worker(&t, "q", true);
	id = tu_rt_put(&t, "q", "300/1500 ok p", NULL);
	assert_int_equal(probes_wait(&t, 'S', 1), 1);
	kill(w1, SIGSTOP);
	assert_int_equal(holders(&t, held, 1), 1);
	assert_int_equal(held[0], w1);
	w2 = tu_rt_worker(&t, "q", false);
	assert_int_equal(probes_wait(&t, 'S', 2), 2); /* w2 has it now */
	kill(w1, SIGCONT);
	assert_int_equal(probes_wait(&t, 'E', 1), 1); /* w1 ended first */
	tu_rt_wait(&t, id, SHMRT_JOB_SUCCEEDED, &info, buf, sizeof(buf));
	snprintf(want, sizeof(want), "pid=%d ", (int)w2);
	assert_non_null(strstr(buf, want));
	assert_int_equal(info.attempt, 2);
	assert_int_equal(shmrt_queue_get_stats(t.name, "q", &st), 0);
	assert_int_equal(st.succeeded, 1);
	assert_int_equal(st.reclaimed, 1);
	id = tu_rt_put(&t, "q", "0 ok after", NULL); /* w1 goes on serving */
	tu_rt_wait(&t, id, SHMRT_JOB_SUCCEEDED, &info, buf, sizeof(buf));
	tu_rt_close(&t);
}

/* ------------------------------------------------- server unavailable */

/* Until n worker seats of the tenant are registered in the server. */
static void seats_wait(const struct tu_rt *t, long long n)
{
	char cmd[160];
	int k;

	snprintf(cmd, sizeof(cmd), "ZCARD shmrt:{%s}:workers", t->name);
	for (k = 0; k < 1000 && tu_redis_num(&tu_srv, cmd) < n; k++)
		usleep(10000);
	assert_true(tu_redis_num(&tu_srv, cmd) >= n);
}

/* While the server is away for `ms`: CPU the workers burn, in ms. */
static uint64_t outage_cpu(const struct tu_rt *t, uint64_t ms)
{
	uint64_t before = 0, after = 0;
	int k;

	for (k = 0; k < t->nworkers; k++)
		before += cpu_ms(t->worker[k]);
	usleep((useconds_t)(ms * 1000u));
	for (k = 0; k < t->nworkers; k++)
		after += cpu_ms(t->worker[k]);
	return after - before;
}

/*
 * The server stopped (SIGSTOP), then restarted: producers get an error
 * by their timeout, workers back off (no busy loop) and go on when it is
 * back; nothing crashes, and the tenant drains (every job ends; a job
 * leased by a reply the outage lost is taken back when its lease ends).
 */
static void test_server_unavailable(void **state)
{
	struct shmrt_enqueue_opts o = { 0 };
	struct shmrt_job_info info;
	struct tu_rt t;
	shmrt_job_id id, no;
	uint64_t t0, took, burnt;
	char buf[64];
	int rc;

	(void)state;
	/* A lease whose reply the outage swallowed (a worker's call that
	 * timed out while the server was stopped runs when it resumes) is
	 * taken back after heartbeat_timeout_ms: keep it well below the
	 * drain timeout. */
	tu_rt_open(&t, "heartbeat_timeout_ms = 1500\nscan_interval_ms = 50\n"
			"drain_timeout_ms = 15000\n",
		    "[queue q]\nhandler = probe\n");
	tu_rt_worker(&t, "q", false);
	tu_rt_worker(&t, "q", true);
	seats_wait(&t, 2); /* both joined before the outage */
	id = tu_rt_put(&t, "q", "0 ok before", NULL);
	tu_rt_wait(&t, id, SHMRT_JOB_SUCCEEDED, &info, buf, sizeof(buf));

	kill(tu_srv.pid, SIGSTOP);
	o.timeout_ms = 500;
	t0 = shmrt__os_now_ns();
	rc = shmrt_enqueue(t.name, "q", "0 ok x", 6, &o, &no);
	took = (shmrt__os_now_ns() - t0) / 1000000u;
	printf("enqueue during SIGSTOP: %s after %llu ms\n",
	       shmrt_err_name(rc), (unsigned long long)took);
	assert_int_equal(rc, SHMRT_E_BACKEND);
	assert_true(took < 500 + 2000 + 1000); /* timeout + one reply wait */
	burnt = outage_cpu(&t, 2000);
	printf("workers burnt %llu ms CPU in 2 s of SIGSTOP\n",
	       (unsigned long long)burnt);
	assert_true(burnt < 300);
	kill(tu_srv.pid, SIGCONT);
	id = tu_rt_put(&t, "q", "0 ok after-stop", NULL);
	tu_rt_wait(&t, id, SHMRT_JOB_SUCCEEDED, &info, buf, sizeof(buf));

	tu_redis_stop(&tu_srv);
	t0 = shmrt__os_now_ns();
	rc = shmrt_enqueue(t.name, "q", "0 ok x", 6, &o, &no);
	took = (shmrt__os_now_ns() - t0) / 1000000u;
	assert_int_equal(rc, SHMRT_E_BACKEND);
	assert_true(took >= 400 && took < 1500); /* retried until timeout */
	burnt = outage_cpu(&t, 2000);
	printf("workers burnt %llu ms CPU in 2 s with the server down\n",
	       (unsigned long long)burnt);
	assert_true(burnt < 300);
	assert_int_equal(tu_redis_restart(&tu_srv), 0);
	id = tu_rt_put(&t, "q", "0 ok after-restart", NULL);
	tu_rt_wait(&t, id, SHMRT_JOB_SUCCEEDED, &info, buf, sizeof(buf));
	tu_rt_close(&t);
}

/* --------------------------------------------------- server kill -9 */

struct producer {
	const char *tenant;
	int stop;
	uint32_t n;
	uint32_t errors;
	shmrt_job_id id[MAX_IDS];
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	shmrt_job_id id;

	while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE) && p->n < MAX_IDS) {
		if (shmrt_enqueue(p->tenant, "q", "0 ok aof", 8, NULL, &id) ==
		    0) {
			p->id[p->n] = id;
			/* the main thread reads n while this runs */
			__atomic_store_n(&p->n, p->n + 1, __ATOMIC_RELEASE);
		} else {
			p->errors++;
		}
	}
	return NULL;
}

/*
 * kill -9 of the server (appendonly yes, appendfsync always) under a
 * producer, then a restart: every job whose enqueue returned is there,
 * and ends once workers come.
 */
static void test_server_kill9_keeps_acknowledged_jobs(void **state)
{
	struct shmrt_job_info info;
	struct producer *p = calloc(1, sizeof(*p));
	struct tu_rt t;
	pthread_t th;
	char buf[64];
	uint32_t i, before;

	(void)state;
	assert_non_null(p);
	tu_rt_open(&t, "", "[queue q]\nhandler = probe\ncapacity = 100000\n");
	p->tenant = t.name;
	assert_int_equal(pthread_create(&th, NULL, produce, p), 0);
	usleep(300000);
	before = __atomic_load_n(&p->n, __ATOMIC_RELAXED);
	tu_redis_kill9(&tu_srv);
	usleep(300000);
	__atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	printf("%u jobs acknowledged (%u before the kill), %u enqueues "
	       "failed\n", p->n, before, p->errors);
	assert_true(p->n > 0 && p->errors > 0);
	assert_int_equal(tu_redis_restart(&tu_srv), 0);
	for (i = 0; i < p->n; i++)
		if (shmrt_job_status(t.name, p->id[i], &info, NULL, 0) != 0)
			fail_msg("job %llu, acknowledged, is gone: %s",
				 (unsigned long long)p->id[i].v,
				 shmrt_last_error());
	tu_rt_worker(&t, "q", true);
	tu_rt_worker(&t, "q", false);
	for (i = 0; i < p->n; i++)
		tu_rt_wait(&t, p->id[i], SHMRT_JOB_SUCCEEDED, &info, buf,
			   sizeof(buf));
	tu_rt_close(&t);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill9_workers_holding_jobs_lanes_permits),
		cmocka_unit_test(test_stopped_worker_is_fenced),
		cmocka_unit_test(test_server_unavailable),
		cmocka_unit_test(test_server_kill9_keeps_acknowledged_jobs),
	};

	return cmocka_run_group_tests(tests, tu_redis_group_setup_aof,
				      tu_redis_group_teardown);
}
