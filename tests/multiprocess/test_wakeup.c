/*
 * tests/multiprocess/test_wakeup.c - sleepers in one process are woken by
 * wakers in another, and nobody pays for a wake when nobody sleeps.
 *
 * The segments use a tiny spin time, so a waiting child really goes to
 * sleep on the futex; the parent waits until the event count is flagged
 * ("someone sleeps") before it makes the condition true. Children report
 * through their exit code only; every wait has a deadline, and a lost wake
 * shows up as the child's distinct "timed out" code.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <shmrt/error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm/ec.h"
#include "shm/job.h"
#include "shm/os.h"
#include "shm/participant.h"
#include "shm/segment.h"
#include "testutil.h"

#define SLOT_SIZE	  64
#define SLEEP_DEADLINE_MS 10000 /* how long a child is willing to sleep */
#define CHILD_WAIT_MS	  30000
#define FLAG_WAIT_MS	  5000 /* for the child to fall asleep */
#define NSLEEPERS	  3

enum {
	EX_OK = 0,
	EX_ATTACH = 2,
	EX_JOIN = 3,
	EX_TIMEDOUT = 10, /* slept until its deadline: the wake was lost */
	EX_LEASE = 11,
	EX_PAYLOAD = 12,
	EX_STATE = 13,
	EX_RESULT = 14,
	EX_WAIT = 15,
	EX_ENQUEUE = 16,
	EX_NOT_TIMEDOUT = 17, /* a deadline was not honoured */
};

struct shared {
	uint64_t
	    woke_ns[NSLEEPERS];	 /* when each child got what it waited for */
	uint32_t got[NSLEEPERS]; /* payload each sleeper leased */
};

struct fx {
	char tenant[64];
	struct shmrt__seg seg;
	struct shmrt__part part;
	struct shared *sh;
	pid_t pids[NSLEEPERS]; /* 0 once reaped */
};

static int fx_setup_cap(void **state, uint32_t capacity)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct shmrt__seg_params p;

	if (f == NULL)
		return -1;
	snprintf(f->tenant, sizeof(f->tenant), "%s", tu_tenant());
	tu_params_one_queue(&p, capacity, SLOT_SIZE, 16);
	p.tun.spin_ns = 1000;
	f->sh = tu_shared_alloc(sizeof(*f->sh));
	if (f->sh == NULL || shmrt__seg_create(f->tenant, &p, &f->seg) != 0 ||
	    shmrt__part_join(&f->seg, SHMRT__ROLE_PRODUCER | SHMRT__ROLE_WORKER,
			     &f->part) != 0)
		return -1;
	*state = f;
	return 0;
}

static int fx_setup(void **state)
{
	return fx_setup_cap(state, 64);
}

static int fx_setup_small(void **state)
{
	return fx_setup_cap(state, 4);
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	int i;

	for (i = 0; i < NSLEEPERS; i++)
		if (f->pids[i] > 0)
			tu_wait_child(f->pids[i], 0);
	shmrt__part_leave(&f->part);
	shmrt__seg_detach(&f->seg);
	shmrt__seg_destroy(f->tenant);
	tu_shared_free(f->sh, sizeof(*f->sh));
	free(f);
	return 0;
}

/* ------------------------------------------------------------- helpers */

static int child_join(const char *tenant, struct shmrt__seg *seg,
		      struct shmrt__part *part)
{
	if (shmrt__seg_attach(tenant, seg) != 0)
		return EX_ATTACH;
	if (shmrt__part_join(seg, SHMRT__ROLE_PRODUCER | SHMRT__ROLE_WORKER,
			     part) != 0)
		return EX_JOIN;
	return EX_OK;
}

static pid_t spawn(struct fx *f, int (*fn)(struct fx *, int), int arg)
{
	pid_t pid;

	pid = tu_fork(1);
	if (pid == 0)
		_exit(fn(f, arg));
	f->pids[arg] = pid;
	return pid;
}

static int reap(struct fx *f, int i)
{
	int code = tu_wait_child(f->pids[i], CHILD_WAIT_MS);

	f->pids[i] = 0;
	return code;
}

/* Waits (bounded) until someone sleeps on `ec`; returns whether it did. */
static bool wait_for_sleeper(const struct shmrt__ec *ec)
{
	uint64_t deadline = tu_deadline_ms(FLAG_WAIT_MS);

	while (!shmrt__ec_has_waiters(ec)) {
		if (shmrt__os_now_ns() > deadline)
			return false;
		shmrt__os_sleep_ns(1000000);
	}
	return true;
}

static shmrt_job_id enqueue_u32(struct fx *f, uint32_t v)
{
	shmrt_job_id id;

	assert_int_equal(shmrt__job_enqueue(&f->part, 0, &v, sizeof(v), 0, &id),
			 0);
	return id;
}

static void print_latency(const char *what, uint64_t from, uint64_t to)
{
	print_message("%s woke %.1f us after the wake\n", what,
		      to > from ? (double)(to - from) / 1e3 : 0.0);
}

/* -------------------------------------------------- a sleeping consumer */

static int sleeper_main(struct fx *f, int me)
{
	unsigned char buf[SLOT_SIZE];
	struct shmrt__seg seg;
	struct shmrt__part part;
	struct shmrt__lease l;
	uint32_t v;
	int rc = child_join(f->tenant, &seg, &part);

	if (rc != EX_OK)
		return rc;
	rc = shmrt__job_lease(&part, 0, buf, sizeof(buf),
			      tu_deadline_ms(SLEEP_DEADLINE_MS), &l);
	f->sh->woke_ns[me] = shmrt__os_now_ns();
	if (rc == SHMRT_E_TIMEDOUT)
		return EX_TIMEDOUT;
	if (rc != 0)
		return EX_LEASE;
	if (l.payload_len != sizeof(v))
		return EX_PAYLOAD;
	memcpy(&v, buf, sizeof(v));
	f->sh->got[me] = v;
	if (shmrt__job_complete(&part, &l, NULL, 0) != 0)
		return EX_STATE;
	shmrt__part_leave(&part);
	shmrt__seg_detach(&seg);
	return EX_OK;
}

static void test_sleeping_consumer_is_woken(void **state)
{
	struct fx *f = *state;
	struct shmrt__ec *jobs = &f->seg.q[0].ctl->jobs_ec;
	uint64_t t;

	spawn(f, sleeper_main, 0);
	shmrt__os_sleep_ns(200 * 1000000ull);
	assert_true(wait_for_sleeper(jobs));
	t = shmrt__os_now_ns();
	enqueue_u32(f, 0xfeed);
	/* The enqueue saw the flag, cleared it and woke the sleeper. */
	assert_false(shmrt__ec_has_waiters(jobs));
	assert_int_equal(reap(f, 0), EX_OK);
	assert_int_equal(f->sh->got[0], 0xfeed);
	print_latency("consumer", t, f->sh->woke_ns[0]);
}

/* Each job goes to exactly one of several sleepers; none is left asleep. */
static void test_many_sleeping_consumers(void **state)
{
	struct fx *f = *state;
	uint32_t seen = 0;
	int i;

	for (i = 0; i < NSLEEPERS; i++)
		spawn(f, sleeper_main, i);
	shmrt__os_sleep_ns(200 * 1000000ull);
	assert_true(wait_for_sleeper(&f->seg.q[0].ctl->jobs_ec));
	for (i = 0; i < NSLEEPERS; i++)
		enqueue_u32(f, 1u << i);
	for (i = 0; i < NSLEEPERS; i++) {
		assert_int_equal(reap(f, i), EX_OK);
		seen |= f->sh->got[i];
	}
	assert_int_equal(seen, (1u << NSLEEPERS) - 1);
}

/* ------------------------------------------------ a job waiter elsewhere */

static shmrt_job_id waited_job;

static int job_waiter_main(struct fx *f, int me)
{
	struct shmrt_job_info info;
	struct shmrt__seg seg;
	char res[SLOT_SIZE] = {0};
	int rc;

	if (shmrt__seg_attach(f->tenant, &seg) != 0)
		return EX_ATTACH;
	rc =
	    shmrt__job_wait(&seg, waited_job, tu_deadline_ms(SLEEP_DEADLINE_MS),
			    &info, res, sizeof(res));
	f->sh->woke_ns[me] = shmrt__os_now_ns();
	if (rc == SHMRT_E_TIMEDOUT)
		return EX_TIMEDOUT;
	if (rc != 0)
		return EX_WAIT;
	if (info.state != SHMRT_JOB_SUCCEEDED)
		return EX_STATE;
	if (info.result_len != 5 || memcmp(res, "done!", 5) != 0)
		return EX_RESULT;
	shmrt__seg_detach(&seg);
	return EX_OK;
}

static void test_job_waiter_is_woken(void **state)
{
	struct fx *f = *state;
	unsigned char buf[SLOT_SIZE];
	struct shmrt__lease l;
	struct shmrt__ec *done;
	uint64_t t;

	waited_job = enqueue_u32(f, 7);
	assert_int_equal(shmrt__job_lease(&f->part, 0, buf, sizeof(buf), 0, &l),
			 0);
	done = &shmrt__slot_at(&f->seg.q[0], l.slot)->done_ec;
	spawn(f, job_waiter_main, 0);
	shmrt__os_sleep_ns(200 * 1000000ull);
	assert_true(wait_for_sleeper(done));
	t = shmrt__os_now_ns();
	assert_int_equal(shmrt__job_complete(&f->part, &l, "done!", 5), 0);
	assert_false(shmrt__ec_has_waiters(done));
	assert_int_equal(reap(f, 0), EX_OK);
	print_latency("job waiter", t, f->sh->woke_ns[0]);
}

/* --------------------------------------- a producer blocked on a full queue */

static int blocked_producer_main(struct fx *f, int me)
{
	struct shmrt__seg seg;
	struct shmrt__part part;
	shmrt_job_id id;
	uint32_t v = 99;
	int rc = child_join(f->tenant, &seg, &part);

	if (rc != EX_OK)
		return rc;
	rc = shmrt__job_enqueue(&part, 0, &v, sizeof(v),
				tu_deadline_ms(SLEEP_DEADLINE_MS), &id);
	f->sh->woke_ns[me] = shmrt__os_now_ns();
	if (rc == SHMRT_E_FULL)
		return EX_TIMEDOUT;
	if (rc != 0)
		return EX_ENQUEUE;
	shmrt__part_leave(&part);
	shmrt__seg_detach(&seg);
	return EX_OK;
}

/* Lease, complete and release one job; returns its payload. */
static uint32_t finish_one(struct fx *f)
{
	unsigned char buf[SLOT_SIZE];
	struct shmrt__lease l;
	uint32_t v;

	assert_int_equal(shmrt__job_lease(&f->part, 0, buf, sizeof(buf),
					  tu_deadline_ms(1000), &l),
			 0);
	memcpy(&v, buf, sizeof(v));
	assert_int_equal(shmrt__job_complete(&f->part, &l, NULL, 0), 0);
	assert_int_equal(shmrt__job_release(&f->seg, l.id), 0);
	return v;
}

static void test_blocked_producer_is_woken(void **state)
{
	struct fx *f = *state;
	struct shmrt__ec *space = &f->seg.q[0].ctl->space_ec;
	shmrt_job_id id;
	uint32_t i, v = 0;
	uint64_t t;

	for (i = 0; i < f->seg.q[0].capacity; i++)
		enqueue_u32(f, i);
	assert_int_equal(shmrt__job_enqueue(&f->part, 0, &v, sizeof(v), 0, &id),
			 SHMRT_E_FULL);
	spawn(f, blocked_producer_main, 0);
	shmrt__os_sleep_ns(200 * 1000000ull);
	assert_true(wait_for_sleeper(space));
	t = shmrt__os_now_ns();
	assert_int_equal(finish_one(f), 0);
	assert_int_equal(reap(f, 0), EX_OK);
	print_latency("producer", t, f->sh->woke_ns[0]);
	/* FIFO: the blocked producer's job comes after the first ones. */
	for (i = 1; i < f->seg.q[0].capacity; i++)
		assert_int_equal(finish_one(f), i);
	assert_int_equal(finish_one(f), 99);
}

/* --------------------------------------------------- no sleeper, no wake */

static void test_no_wake_without_sleeper(void **state)
{
	struct fx *f = *state;
	struct shmrt__queue *ctl = f->seg.q[0].ctl;
	uint32_t before = shmrt__ec_value(&ctl->jobs_ec);
	unsigned char buf[SLOT_SIZE];
	struct shmrt__lease l;

	assert_false(shmrt__ec_has_waiters(&ctl->jobs_ec));
	enqueue_u32(f, 5);
	/* The count moved (a sleeper would notice) but nobody was flagged. */
	assert_false(shmrt__ec_has_waiters(&ctl->jobs_ec));
	assert_int_not_equal(shmrt__ec_value(&ctl->jobs_ec), before);
	assert_int_equal(shmrt__job_lease(&f->part, 0, buf, sizeof(buf), 0, &l),
			 0);
	assert_int_equal(shmrt__job_complete(&f->part, &l, NULL, 0), 0);
	assert_int_equal(shmrt__job_release(&f->seg, l.id), 0);
	assert_false(shmrt__ec_has_waiters(&ctl->jobs_ec));
	assert_false(shmrt__ec_has_waiters(&ctl->space_ec));
	assert_false(shmrt__ec_has_waiters(
	    &shmrt__slot_at(&f->seg.q[0], l.slot)->done_ec));
}

/* ------------------------------------------------ deadlines are honoured */

static int deadline_main(struct fx *f, int me)
{
	unsigned char buf[SLOT_SIZE];
	struct shmrt_job_info info;
	struct shmrt__seg seg;
	struct shmrt__part part;
	struct shmrt__lease l;
	int rc = child_join(f->tenant, &seg, &part);

	(void)me;
	if (rc != EX_OK)
		return rc;
	if (shmrt__job_lease(&part, 0, buf, sizeof(buf), tu_deadline_ms(300),
			     &l) != SHMRT_E_TIMEDOUT)
		return EX_NOT_TIMEDOUT;
	if (shmrt__job_wait(&seg, waited_job, tu_deadline_ms(300), &info, NULL,
			    0) != SHMRT_E_TIMEDOUT)
		return EX_NOT_TIMEDOUT;
	return EX_OK;
}

/* Nobody wakes them: a lease and a job wait end at their deadline. */
static void test_sleepers_honour_deadlines(void **state)
{
	struct fx *f = *state;
	unsigned char buf[SLOT_SIZE];
	struct shmrt__lease l;

	waited_job = enqueue_u32(f, 1);
	assert_int_equal(shmrt__job_lease(&f->part, 0, buf, sizeof(buf), 0, &l),
			 0);
	spawn(f, deadline_main, 0);
	assert_int_equal(reap(f, 0), EX_OK);
	assert_int_equal(shmrt__job_complete(&f->part, &l, NULL, 0), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_sleeping_consumer_is_woken),
	    T(test_many_sleeping_consumers),
	    T(test_job_waiter_is_woken),
	    cmocka_unit_test_setup_teardown(test_blocked_producer_is_woken,
					    fx_setup_small, fx_teardown),
	    T(test_no_wake_without_sleeper),
	    T(test_sleepers_honour_deadlines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
