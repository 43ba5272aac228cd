/*
 * tests/fault/test_fencing.c - a worker that lost its lease cannot finish
 * the job: completions carry the attempt's token.
 *
 * A child process W1 leases a job and stops (alive) until the parent tells
 * it to finish. Meanwhile its lease is taken back:
 *  - lease expired: the queue's job_timeout_ns passes and a scan requeues
 *    the job; the parent (W2, another process) leases it again (attempt 2);
 *  - hung: the segment's heartbeat timeout passes without a heartbeat; a
 *    scan takes back W1's job and its semaphore permit (the semaphore's
 *    limit is 1, so W2 getting a permit proves it came back).
 * Then W1 completes (or fails with retry): SHMRT_E_STALE, and the job
 * keeps W2's result, attempt, lane and permits. Variants finish W1 before
 * and after W2, and after the job's slot was freed and reused by another
 * job (the token's generation fences it).
 *
 * The child reports through MAP_SHARED memory and its exit code; only the
 * parent asserts.
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
#include <unistd.h>

#include "shm/job.h"
#include "shm/lane.h"
#include "shm/os.h"
#include "shm/participant.h"
#include "shm/scan.h"
#include "shm/segment.h"
#include "shm/sem.h"
#include "testutil.h"

#define SLOT_SIZE  32
#define TIMEOUT_MS 50  /* the queues' job timeout */
#define HB_MS	   100 /* the heartbeat timeout (hung test) */
#define WAIT_MS	   10000

enum { Q_PLAIN, Q_LANESEM, Q_TINY, NQ };

enum {
	EX_OK = 0,
	EX_ATTACH = 2,
	EX_LEASE = 3,
	EX_DEADLINE = 4,
};

/* What W1 does when told to finish. */
enum w1_action { W1_COMPLETE = 1, W1_FAIL_RETRY = 2 };

struct shared {
	uint32_t leased; /* W1 holds its lease */
	uint32_t go;	 /* the parent's word: finish now (an action) */
	uint32_t finished;
	int32_t rc;	      /* what complete / fail returned */
	uint32_t permit_held; /* W1's permit still held just before */
	uint32_t attempt;
	uint64_t id;
	uint64_t permit;
};

struct ftest {
	char tenant[64];
	struct shared *sh;
	struct shmrt__seg seg;
	struct shmrt__part part;
	bool joined;
	pid_t w1;
	struct shmrt__scan_report rep;
};

static int w1_main(struct ftest *t, uint32_t qi)
{
	uint64_t give_up = tu_deadline_ms(WAIT_MS);
	unsigned char buf[SLOT_SIZE];
	struct shmrt__seg seg;
	struct shmrt__part part;
	struct shmrt__lease l;
	uint32_t go;
	int rc;

	if (shmrt__seg_attach(t->tenant, &seg) != 0 ||
	    shmrt__part_join(&seg, SHMRT__ROLE_WORKER, &part) != 0)
		return EX_ATTACH;
	if (shmrt__job_lease(&part, qi, buf, sizeof(buf), tu_deadline_ms(5000),
			     &l) != 0)
		return EX_LEASE;
	t->sh->id = l.id.v;
	t->sh->attempt = l.attempt;
	t->sh->permit = l.permit;
	__atomic_store_n(&t->sh->leased, 1, __ATOMIC_RELEASE);
	/* Stopped, and silent: no heartbeat from here on. */
	while ((go = __atomic_load_n(&t->sh->go, __ATOMIC_ACQUIRE)) == 0) {
		if (shmrt__os_now_ns() > give_up)
			return EX_DEADLINE;
		shmrt__os_sleep_ns(1000000);
	}
	t->sh->permit_held =
	    l.permit != 0 && shmrt__sem_held(&seg, seg.q[qi].sem, l.permit);
	if (go == W1_COMPLETE)
		rc = shmrt__job_complete(&part, &l, "first", 5);
	else
		rc = shmrt__job_fail(&part, &l, "w1 failed", 9, 1);
	t->sh->rc = rc;
	__atomic_store_n(&t->sh->finished, 1, __ATOMIC_RELEASE);
	shmrt__part_leave(&part);
	shmrt__seg_detach(&seg);
	return EX_OK;
}

/* Starts W1 on queue qi and waits until it holds its lease. */
static void start_w1(struct ftest *t, uint32_t qi)
{
	memset(t->sh, 0, sizeof(*t->sh));
	t->w1 = tu_fork(EX_ATTACH);
	if (t->w1 == 0)
		_exit(w1_main(t, qi));
	assert_true(tu_wait_value(&t->sh->leased, 1, WAIT_MS));
	assert_int_equal(t->sh->attempt, 1);
}

/* Tells W1 to finish; returns what its complete or fail returned. */
static int finish_w1(struct ftest *t, enum w1_action action)
{
	__atomic_store_n(&t->sh->go, (uint32_t)action, __ATOMIC_RELEASE);
	assert_true(tu_wait_value(&t->sh->finished, 1, WAIT_MS));
	assert_int_equal(tu_wait_child(t->w1, WAIT_MS), 0);
	t->w1 = 0;
	return t->sh->rc;
}

static void scan(struct ftest *t)
{
	assert_int_equal(shmrt__scan(&t->part, tu_deadline_ms(2000), &t->rep),
			 0);
}

/* Sleeps past W1's lease deadline and scans: the job is queued again. */
static void expire_w1(struct ftest *t)
{
	shmrt__os_sleep_ns((TIMEOUT_MS + 20) * 1000000ull);
	scan(t);
	assert_int_equal(t->rep.leases_expired, 1);
	assert_int_equal(t->rep.jobs_requeued, 1);
	assert_int_equal(t->rep.permits_reclaimed, 0); /* W1 is not hung */
}

/* The parent leases W1's job again (attempt 2). */
static void lease_again(struct ftest *t, uint32_t qi, struct shmrt__lease *l)
{
	unsigned char buf[SLOT_SIZE];

	assert_int_equal(shmrt__job_lease(&t->part, qi, buf, sizeof(buf),
					  tu_deadline_ms(2000), l),
			 0);
	assert_int_equal(l->id.v, t->sh->id);
	assert_int_equal(l->attempt, 2);
}

/* Job `id` succeeded with `result` at `attempt`. */
static void check_result(struct ftest *t, uint64_t id, const char *result,
			 uint32_t attempt)
{
	struct shmrt_job_info info;
	char buf[SLOT_SIZE + 1] = {0};
	shmrt_job_id jid = {id};

	assert_int_equal(shmrt__job_status(&t->seg, jid, &info, buf, SLOT_SIZE),
			 0);
	assert_int_equal(info.state, SHMRT_JOB_SUCCEEDED);
	assert_string_equal(buf, result);
	assert_int_equal(info.attempt, attempt);
}

static void setup(struct ftest *t, uint64_t heartbeat_timeout_ns,
		  uint32_t sem_limit)
{
	struct shmrt__seg_params p;
	uint32_t qi;

	t->sh = tu_shared_alloc(sizeof(*t->sh));
	assert_non_null(t->sh);
	tu_params_one_queue(&p, 16, SLOT_SIZE, 16);
	p.nqueues = NQ;
	p.queue[0].job_timeout_ns = TIMEOUT_MS * 1000000ull;
	for (qi = 1; qi < NQ; qi++)
		p.queue[qi] = p.queue[0];
	p.queue[Q_LANESEM].name = "lanesem";
	p.queue[Q_LANESEM].nlanes = 4;
	p.queue[Q_LANESEM].sem = 1;
	p.queue[Q_TINY].name = "tiny";
	p.queue[Q_TINY].capacity = 1;
	p.nsems = 1;
	p.sem[0].name = "s";
	p.sem[0].limit = sem_limit;
	p.tun.heartbeat_timeout_ns = heartbeat_timeout_ns;
	if (heartbeat_timeout_ns != 0) /* the hung test: no lease timeout */
		for (qi = 0; qi < NQ; qi++)
			p.queue[qi].job_timeout_ns = 0;
	assert_int_equal(shmrt__seg_create(t->tenant, &p, &t->seg), 0);
	assert_int_equal(
	    shmrt__part_join(&t->seg, SHMRT__ROLE_WORKER, &t->part), 0);
	t->joined = true;
}

static shmrt_job_id enqueue(struct ftest *t, uint32_t qi, const char *lane)
{
	struct shmrt__submit sub = {.payload = "job", .len = 3};
	shmrt_job_id id;

	if (lane != NULL) {
		sub.lane = lane;
		sub.lane_len = strlen(lane);
	}
	assert_int_equal(shmrt__job_submit(&t->part, qi, &sub, &id), 0);
	return id;
}

/* W1 finishes after W2 completed: stale, and W2's result stays. */
static void test_expired_then_late_complete(void **state)
{
	struct ftest *t = *state;
	struct shmrt__lease l;

	setup(t, 0, 2);
	enqueue(t, Q_PLAIN, NULL);
	start_w1(t, Q_PLAIN);
	expire_w1(t);
	lease_again(t, Q_PLAIN, &l);
	assert_int_equal(shmrt__job_complete(&t->part, &l, "second", 6), 0);
	assert_int_equal(finish_w1(t, W1_COMPLETE), SHMRT_E_STALE);
	check_result(t, t->sh->id, "second", 2);
	assert_int_equal(t->seg.q[Q_PLAIN].ctl->n_succeeded, 1);
}

/* W1 finishes while W2 still runs the job: stale; W2 then completes. */
static void test_expired_complete_during_rerun(void **state)
{
	struct ftest *t = *state;
	struct shmrt__lease l;

	setup(t, 0, 2);
	enqueue(t, Q_PLAIN, NULL);
	start_w1(t, Q_PLAIN);
	expire_w1(t);
	lease_again(t, Q_PLAIN, &l);
	assert_int_equal(finish_w1(t, W1_COMPLETE), SHMRT_E_STALE);
	assert_int_equal(shmrt__job_complete(&t->part, &l, "second", 6), 0);
	check_result(t, t->sh->id, "second", 2);
}

/* A stale fail with retry neither requeues nor fails the job. */
static void test_expired_fail_retry(void **state)
{
	struct ftest *t = *state;
	unsigned char buf[SLOT_SIZE];
	struct shmrt__lease l, l2;

	setup(t, 0, 2);
	enqueue(t, Q_PLAIN, NULL);
	start_w1(t, Q_PLAIN);
	expire_w1(t);
	lease_again(t, Q_PLAIN, &l);
	assert_int_equal(finish_w1(t, W1_FAIL_RETRY), SHMRT_E_STALE);
	/* Not queued again: nothing to lease. */
	assert_int_equal(
	    shmrt__job_lease(&t->part, Q_PLAIN, buf, sizeof(buf), 0, &l2),
	    SHMRT_E_AGAIN);
	assert_int_equal(shmrt__job_complete(&t->part, &l, "second", 6), 0);
	check_result(t, t->sh->id, "second", 2);
	assert_int_equal(t->seg.q[Q_PLAIN].ctl->n_retried, 0);
}

/* W1's slot was freed and reused meanwhile: the generation fences it. */
static void test_expired_slot_reused(void **state)
{
	struct ftest *t = *state;
	struct shmrt_job_info info;
	struct shmrt__lease l;
	shmrt_job_id first = {0}, next;

	setup(t, 0, 2);
	enqueue(t, Q_TINY, NULL);
	start_w1(t, Q_TINY);
	first.v = t->sh->id;
	expire_w1(t);
	lease_again(t, Q_TINY, &l);
	assert_int_equal(shmrt__job_complete(&t->part, &l, "second", 6), 0);
	assert_int_equal(shmrt__job_release(&t->seg, first), 0);
	next = enqueue(t, Q_TINY, NULL); /* capacity 1: the same slot */
	assert_int_equal(next.v >> 32, first.v >> 32);
	assert_true(next.v != first.v);
	assert_int_equal(finish_w1(t, W1_COMPLETE), SHMRT_E_STALE);
	assert_int_equal(shmrt__job_status(&t->seg, next, &info, NULL, 0), 0);
	assert_int_equal(info.state, SHMRT_JOB_QUEUED);
	assert_int_equal(info.attempt, 0);
	assert_int_equal(shmrt__job_status(&t->seg, first, &info, NULL, 0),
			 SHMRT_E_EXPIRED);
}

/*
 * On a laned queue with a semaphore: W1's stale complete does not move
 * the lane (the next job of the lane runs after W2's, once) and gives back
 * only W1's own permit.
 */
static void test_expired_lane_and_permit(void **state)
{
	struct ftest *t = *state;
	unsigned char buf[SLOT_SIZE];
	struct shmrt__lease l, l2;
	shmrt_job_id second;

	setup(t, 0, 2);
	enqueue(t, Q_LANESEM, "chat");
	second = enqueue(t, Q_LANESEM, "chat");
	start_w1(t, Q_LANESEM);
	expire_w1(t);
	assert_int_equal(shmrt__sem_in_use(&t->seg, 0), 1); /* W1's */
	lease_again(t, Q_LANESEM, &l);
	assert_int_equal(shmrt__sem_in_use(&t->seg, 0), 2);
	/* The lane's second job waits behind the re-run head. */
	assert_int_equal(
	    shmrt__job_lease(&t->part, Q_LANESEM, buf, sizeof(buf), 0, &l2),
	    SHMRT_E_AGAIN);
	assert_int_equal(finish_w1(t, W1_COMPLETE), SHMRT_E_STALE);
	assert_true(t->sh->permit_held);
	assert_int_equal(shmrt__sem_in_use(&t->seg, 0), 1); /* W2's */
	assert_true(shmrt__sem_held(&t->seg, 0, l.permit));
	/* Still only the head is leasable. */
	assert_int_equal(
	    shmrt__job_lease(&t->part, Q_LANESEM, buf, sizeof(buf), 0, &l2),
	    SHMRT_E_AGAIN);
	assert_int_equal(shmrt__job_complete(&t->part, &l, "second", 6), 0);
	check_result(t, t->sh->id, "second", 2);
	assert_int_equal(shmrt__job_lease(&t->part, Q_LANESEM, buf, sizeof(buf),
					  tu_deadline_ms(1000), &l2),
			 0);
	assert_int_equal(l2.id.v, second.v);
	assert_int_equal(shmrt__job_complete(&t->part, &l2, "third", 5), 0);
	assert_int_equal(shmrt__sem_in_use(&t->seg, 0), 0);
	assert_int_equal(shmrt__lane_count(&t->seg.q[Q_LANESEM]), 0);
}

/*
 * A hung worker (alive, no heartbeat for HB_MS) loses its job and its
 * permit to scan; with a limit of 1, W2 can only run the job because the
 * permit came back. W1's late complete is stale and leaves W2's permit.
 */
static void test_hung_worker(void **state)
{
	struct ftest *t = *state;
	unsigned char buf[SLOT_SIZE];
	struct shmrt__lease l;

	setup(t, HB_MS * 1000000ull, 1);
	enqueue(t, Q_LANESEM, "chat");
	start_w1(t, Q_LANESEM);
	/* Not hung yet: nothing is taken. */
	scan(t);
	assert_int_equal(t->rep.hung_participants, 0);
	assert_int_equal(
	    shmrt__job_lease(&t->part, Q_LANESEM, buf, sizeof(buf), 0, &l),
	    SHMRT_E_AGAIN);
	shmrt__os_sleep_ns((HB_MS + 30) * 1000000ull);
	shmrt__part_heartbeat(&t->part);
	scan(t);
	assert_int_equal(t->rep.hung_participants, 1);
	assert_int_equal(t->rep.permits_reclaimed, 1);
	assert_int_equal(t->rep.jobs_requeued, 1);
	assert_int_equal(t->rep.dead_participants, 0);
	assert_int_equal(shmrt__sem_in_use(&t->seg, 0), 0);
	lease_again(t, Q_LANESEM, &l);
	assert_int_equal(shmrt__sem_in_use(&t->seg, 0), 1);
	assert_int_equal(finish_w1(t, W1_COMPLETE), SHMRT_E_STALE);
	assert_false(t->sh->permit_held);
	assert_true(shmrt__sem_held(&t->seg, 0, l.permit));
	assert_int_equal(shmrt__sem_in_use(&t->seg, 0), 1);
	assert_int_equal(shmrt__job_complete(&t->part, &l, "second", 6), 0);
	check_result(t, t->sh->id, "second", 2);
	assert_int_equal(shmrt__sem_in_use(&t->seg, 0), 0);
	assert_int_equal(shmrt__lane_count(&t->seg.q[Q_LANESEM]), 0);
}

static int fx_setup(void **state)
{
	struct ftest *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -1;
	t->seg.fd = -1;
	snprintf(t->tenant, sizeof(t->tenant), "%s", tu_tenant());
	*state = t;
	return 0;
}

static int fx_teardown(void **state)
{
	struct ftest *t = *state;

	if (t->w1 > 0)
		tu_wait_child(t->w1, 0);
	if (t->joined)
		shmrt__part_leave(&t->part);
	shmrt__seg_detach(&t->seg);
	shmrt__seg_destroy(t->tenant);
	if (t->sh != NULL)
		tu_shared_free(t->sh, sizeof(*t->sh));
	free(t);
	return 0;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_expired_then_late_complete),
	    T(test_expired_complete_during_rerun),
	    T(test_expired_fail_retry),
	    T(test_expired_slot_reused),
	    T(test_expired_lane_and_permit),
	    T(test_hung_worker),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
