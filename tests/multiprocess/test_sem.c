/*
 * tests/multiprocess/test_sem.c - semaphores cap concurrent jobs across
 * processes.
 *
 * test_sem_limit_two: a queue naming a semaphore of limit 2, 4 consumer
 * processes, jobs that hold their permit for HOLD_MS. Consumers count the
 * jobs they hold in MAP_SHARED memory (fetch_add once the lease returned,
 * fetch_sub just before complete, which gives the permit back), and the
 * highest count seen must be exactly 2: never 3 (the cap), and not 1
 * (the permits really are two). Each lease carries a permit that
 * shmrt__sem_held confirms while the job runs; the parent samples
 * shmrt__sem_in_use meanwhile (never above 2) and finds 0 at the end.
 *
 * test_sem_two_queues: two queues naming the same semaphore share its 2
 * permits.
 *
 * test_sem_wait: a permit waiter sleeps until its deadline
 * (SHMRT_E_TIMEDOUT) or until the holder in another process gives the
 * permit back, and then gets it. The safety nets are off (main, ec.h), so
 * a lost wake costs the waiter its whole 5 s deadline, not 50 ms, and
 * fails the 1 s bound (multiprocess_sem_no_wake checks it, with
 * SHMRT_TEST_NO_WAKE=1); test_wakeup guards the same wake round by round.
 *
 * Children report only through their exit code; the parent asserts.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <shmrt/error.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm/job.h"
#include "shm/os.h"
#include "shm/participant.h"
#include "shm/segment.h"
#include "shm/sem.h"
#include "testutil.h"

#define CAPACITY      1024
#define SLOT_SIZE     16
#define NCONS	      4
#define LIMIT	      2
#define HOLD_MS	      5
#define LEASE_WAIT_MS 20
#define RUN_LIMIT_MS  60000

enum {
	EX_OK = 0,
	EX_ATTACH = 2,
	EX_JOIN = 3,
	EX_LEASE = 4,
	EX_PAYLOAD = 5,
	EX_COMPLETE = 6,
	EX_RELEASE = 7,
	EX_DEADLINE = 8,
	EX_NOPERMIT = 9, /* a lease without a permit, or one not held */
	EX_ABORTED = 10,
};

struct shared {
	uint64_t consumed;
	struct tu_verdict verdict; /* the first failing child's */
	uint32_t cur;	 /* jobs held now, over every queue */
	uint32_t max;	 /* the most ever held at once */
	uint64_t at_max; /* leases that found the count at LIMIT */
	uint64_t per_consumer[NCONS];
	/* test_sem_wait */
	uint32_t holding;
	uint64_t release_ns; /* when the holder called complete */
	uint32_t counts[];   /* [job] */
};

struct run {
	char tenant[64];
	uint32_t nqueues;
	uint64_t total;
	size_t shared_size;
	struct shared *sh;
	struct shmrt__seg seg;
	struct shmrt__part part;
	bool joined;
	pid_t pids[NCONS];
};

static int child_attach(const struct run *r, struct shmrt__seg *seg,
			struct shmrt__part *part)
{
	if (shmrt__seg_attach(r->tenant, seg) != 0)
		return EX_ATTACH;
	if (shmrt__part_join(seg, SHMRT__ROLE_WORKER, part) != 0)
		return EX_JOIN;
	return EX_OK;
}

static void max_update(uint32_t *p, uint32_t v)
{
	uint32_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);

	while (v > cur &&
	       !__atomic_compare_exchange_n(p, &cur, v, false, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
}

/* Runs one leased job: holds it (and its permit) for HOLD_MS. */
static int run_job(struct run *r, uint32_t me, struct shmrt__seg *seg,
		   struct shmrt__part *part, const struct shmrt__lease *l,
		   uint32_t job)
{
	uint32_t si = seg->q[l->queue].sem, now;

	if (l->payload_len != sizeof(job) || job >= r->total)
		return EX_PAYLOAD;
	if (l->permit == 0 || !shmrt__sem_held(seg, si, l->permit))
		return EX_NOPERMIT;
	now = __atomic_add_fetch(&r->sh->cur, 1, __ATOMIC_ACQ_REL);
	max_update(&r->sh->max, now);
	if (now == LIMIT)
		__atomic_fetch_add(&r->sh->at_max, 1, __ATOMIC_RELAXED);
	shmrt__os_sleep_ns(HOLD_MS * 1000000ull);
	if (!shmrt__sem_held(seg, si, l->permit))
		return EX_NOPERMIT;
	__atomic_fetch_add(&r->sh->counts[job], 1, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&r->sh->cur, 1, __ATOMIC_ACQ_REL);
	if (shmrt__job_complete(part, l, &job, sizeof(job)) != 0)
		return EX_COMPLETE;
	if (tu_release_finished(seg, l->id) != 0)
		return EX_RELEASE;
	r->sh->per_consumer[me]++;
	__atomic_fetch_add(&r->sh->consumed, 1, __ATOMIC_ACQ_REL);
	return EX_OK;
}

/* Consumer `me` leases from queue me % nqueues. */
static int consumer_main(struct run *r, uint32_t me)
{
	uint64_t give_up = tu_deadline_ms(RUN_LIMIT_MS);
	uint32_t qi = me % r->nqueues;
	unsigned char buf[SLOT_SIZE];
	struct shmrt__seg seg;
	struct shmrt__part part;
	struct shmrt__lease l;
	int rc = child_attach(r, &seg, &part);

	if (rc != EX_OK)
		return rc;
	while (__atomic_load_n(&r->sh->consumed, __ATOMIC_ACQUIRE) < r->total) {
		uint32_t job;

		if (tu_aborted(&r->sh->verdict))
			return EX_ABORTED;
		if (shmrt__os_now_ns() > give_up)
			return EX_DEADLINE;
		rc = shmrt__job_lease(&part, qi, buf, sizeof(buf),
				      tu_deadline_ms(LEASE_WAIT_MS), &l);
		if (rc == SHMRT_E_TIMEDOUT)
			continue;
		if (rc != 0)
			return EX_LEASE;
		memcpy(&job, buf, sizeof(job));
		if ((rc = run_job(r, me, &seg, &part, &l, job)) != EX_OK)
			return rc;
	}
	shmrt__part_leave(&part);
	shmrt__seg_detach(&seg);
	return EX_OK;
}

/* Leases one job, says so, holds it HOLD_WAIT_MS, completes it. */
#define HOLD_WAIT_MS 300
static int holder_main(struct run *r)
{
	unsigned char buf[SLOT_SIZE];
	struct shmrt__seg seg;
	struct shmrt__part part;
	struct shmrt__lease l;
	int rc = child_attach(r, &seg, &part);

	if (rc != EX_OK)
		return rc;
	if (shmrt__job_lease(&part, 0, buf, sizeof(buf), tu_deadline_ms(5000),
			     &l) != 0)
		return EX_LEASE;
	if (l.permit == 0)
		return EX_NOPERMIT;
	__atomic_store_n(&r->sh->holding, 1, __ATOMIC_RELEASE);
	shmrt__os_sleep_ns(HOLD_WAIT_MS * 1000000ull);
	__atomic_store_n(&r->sh->release_ns, shmrt__os_now_ns(),
			 __ATOMIC_RELEASE);
	if (shmrt__job_complete(&part, &l, NULL, 0) != 0)
		return EX_COMPLETE;
	shmrt__part_leave(&part);
	shmrt__seg_detach(&seg);
	return EX_OK;
}

/* ------------------------------------------------------------- parent */

static pid_t spawn(struct run *r, int holder, uint32_t id)
{
	pid_t pid = tu_fork(EX_ABORTED);

	if (pid == 0) {
		int rc;

		rc = holder ? holder_main(r) : consumer_main(r, id);
		tu_child_exit(&r->sh->verdict, rc, EX_OK, EX_ABORTED);
	}
	return pid;
}

static int fx_setup(void **state)
{
	struct run *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return -1;
	snprintf(r->tenant, sizeof(r->tenant), "%s", tu_tenant());
	r->seg.fd = -1;
	*state = r;
	return 0;
}

static int fx_teardown(void **state)
{
	struct run *r = *state;
	size_t i;

	for (i = 0; i < NCONS; i++)
		if (r->pids[i] > 0)
			tu_wait_child(r->pids[i], 0);
	if (r->joined)
		shmrt__part_leave(&r->part);
	shmrt__seg_detach(&r->seg);
	shmrt__seg_destroy(r->tenant);
	if (r->sh != NULL)
		tu_shared_free(r->sh, r->shared_size);
	free(r);
	return 0;
}

/* A segment whose `nqueues` queues all name semaphore "upload". */
static void run_setup(struct run *r, uint32_t nqueues, uint32_t limit,
		      uint64_t total)
{
	static const char *const names[] = {"q0", "q1"};
	struct shmrt__seg_params p;
	uint32_t i;

	r->nqueues = nqueues;
	r->total = total;
	r->shared_size = sizeof(struct shared) + total * sizeof(uint32_t);
	r->sh = tu_shared_alloc(r->shared_size);
	assert_non_null(r->sh);
	tu_params_one_queue(&p, CAPACITY, SLOT_SIZE, 4 * NCONS);
	p.nqueues = nqueues;
	p.nsems = 1;
	p.sem[0].name = "upload";
	p.sem[0].limit = limit;
	for (i = 0; i < nqueues; i++) {
		p.queue[i] = p.queue[0];
		p.queue[i].name = names[i];
		p.queue[i].sem = 1;
	}
	assert_int_equal(shmrt__seg_create(r->tenant, &p, &r->seg), 0);
	assert_int_equal(shmrt__seg_sem_index(&r->seg, "upload"), 0);
	assert_int_equal(
	    shmrt__part_join(&r->seg, SHMRT__ROLE_PRODUCER, &r->part), 0);
	r->joined = true;
}

/* Waits for the children, sampling the permits in use meanwhile. */
static uint32_t reap_sampling(struct run *r, uint32_t n, int *failed)
{
	uint64_t give_up = tu_deadline_ms(RUN_LIMIT_MS + 30000);
	uint32_t i, max_in_use = 0, left = n;

	*failed = 0;
	while (left > 0) {
		uint32_t u = shmrt__sem_in_use(&r->seg, 0);

		if (u > max_in_use)
			max_in_use = u;
		for (i = 0; i < n; i++) {
			int code, status = 0;

			if (r->pids[i] <= 0)
				continue;
			if (waitpid(r->pids[i], &status, WNOHANG) == r->pids[i])
				code = WIFEXITED(status)
					   ? WEXITSTATUS(status)
					   : 128 + WTERMSIG(status);
			else if (shmrt__os_now_ns() < give_up)
				continue; /* still running */
			else
				code = tu_wait_child(r->pids[i], 0); /* kills */
			r->pids[i] = 0;
			left--;
			if (code == 0)
				continue;
			print_message("consumer %u exited with %d\n", i, code);
			(*failed)++;
		}
		shmrt__os_sleep_ns(200000);
	}
	if (*failed)
		print_message("first failure: %s\n", r->sh->verdict.why);
	return max_in_use;
}

static void run_limit(struct run *r, uint32_t nqueues)
{
	uint64_t t0, i;
	uint32_t max_in_use, job;
	int failed;
	shmrt_job_id id;

	run_setup(r, nqueues, LIMIT, tu_scaled(400, 60));
	for (i = 0; i < r->total; i++) {
		job = (uint32_t)i;
		assert_int_equal(shmrt__job_enqueue(&r->part,
						    (uint32_t)(i % nqueues),
						    &job, sizeof(job), 0, &id),
				 0);
	}
	t0 = shmrt__os_now_ns();
	for (i = 0; i < NCONS; i++)
		r->pids[i] = spawn(r, 0, (uint32_t)i);
	max_in_use = reap_sampling(r, NCONS, &failed);
	print_message("%llu jobs of %d ms on %u queue(s) in %.2f s (%.1f "
		      "at once on average); max held at once %u, leases at "
		      "the limit %llu, max permits in use sampled %u; per "
		      "consumer %llu %llu %llu %llu\n",
		      (unsigned long long)r->total, HOLD_MS, nqueues,
		      (double)(shmrt__os_now_ns() - t0) / 1e9,
		      (double)r->total * HOLD_MS * 1e6 /
			  (double)(shmrt__os_now_ns() - t0),
		      r->sh->max, (unsigned long long)r->sh->at_max, max_in_use,
		      (unsigned long long)r->sh->per_consumer[0],
		      (unsigned long long)r->sh->per_consumer[1],
		      (unsigned long long)r->sh->per_consumer[2],
		      (unsigned long long)r->sh->per_consumer[3]);
	assert_int_equal(failed, 0);
	assert_int_equal(r->sh->max, LIMIT);
	assert_true(max_in_use <= LIMIT);
	assert_int_equal(shmrt__sem_in_use(&r->seg, 0), 0);
	for (i = 0; i < r->total; i++)
		assert_int_equal(r->sh->counts[i], 1);
}

static void test_sem_limit_two(void **state)
{
	run_limit(*state, 1);
}

static void test_sem_two_queues(void **state)
{
	run_limit(*state, 2);
}

static void test_sem_wait(void **state)
{
	struct run *r = *state;
	uint64_t deadline = tu_deadline_ms(10000), t, ret;
	unsigned char buf[SLOT_SIZE];
	struct shmrt__lease l;
	uint32_t job = 0;
	shmrt_job_id id;
	int failed;

	run_setup(r, 1, 1, 2);
	assert_int_equal(
	    shmrt__job_enqueue(&r->part, 0, &job, sizeof(job), 0, &id), 0);
	job = 1;
	assert_int_equal(
	    shmrt__job_enqueue(&r->part, 0, &job, sizeof(job), 0, &id), 0);
	r->pids[0] = spawn(r, 1, 0);
	while (!__atomic_load_n(&r->sh->holding, __ATOMIC_ACQUIRE)) {
		assert_true(shmrt__os_now_ns() < deadline);
		shmrt__os_sleep_ns(100000);
	}
	assert_int_equal(shmrt__sem_in_use(&r->seg, 0), 1);
	/* A job is queued, but its permit is held: try once, then wait. */
	assert_int_equal(shmrt__job_lease(&r->part, 0, buf, sizeof(buf), 0, &l),
			 SHMRT_E_AGAIN);
	t = tu_deadline_ms(50);
	assert_int_equal(shmrt__job_lease(&r->part, 0, buf, sizeof(buf), t, &l),
			 SHMRT_E_TIMEDOUT);
	assert_true(shmrt__os_now_ns() >= t);
	/* Now until the holder gives it back. */
	assert_int_equal(shmrt__job_lease(&r->part, 0, buf, sizeof(buf),
					  tu_deadline_ms(5000), &l),
			 0);
	ret = shmrt__os_now_ns();
	t = __atomic_load_n(&r->sh->release_ns, __ATOMIC_ACQUIRE);
	print_message("permit waiter woke %.3f ms after the holder's complete "
		      "began\n",
		      t && ret >= t ? (double)(ret - t) / 1e6 : -1.0);
	assert_true(t != 0 && ret >= t);
	assert_true(ret - t < 1000000000ull);
	assert_true(l.permit != 0 && shmrt__sem_held(&r->seg, 0, l.permit));
	assert_int_equal(shmrt__job_complete(&r->part, &l, NULL, 0), 0);
	assert_int_equal(shmrt__sem_in_use(&r->seg, 0), 0);
	reap_sampling(r, 1, &failed);
	assert_int_equal(failed, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_sem_limit_two),
	    T(test_sem_two_queues),
	    T(test_sem_wait),
	};

	/* Before anything waits: no safety nets (ec.h), here and in the
	 * children. */
	if (setenv("SHMRT_TEST_NO_WAKE_NET", "1", 1) != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
