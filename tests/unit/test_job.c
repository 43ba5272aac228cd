/*
 * tests/unit/test_job.c - job slots: enqueue, lease, complete, fail, status,
 * wait, release, fencing of reclaimed leases, and scan.
 */
#define _GNU_SOURCE /* setenv */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <shmrt/error.h>
#include <shmrt/job.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm/evict.h"
#include "shm/job.h"
#include "shm/os.h"
#include "shm/participant.h"
#include "shm/scan.h"
#include "shm/segment.h"
#include "testutil.h"

#define SLOT 64u
#define MS 1000000ull
/*
 * How long a test waits for a wakeup that should come at once. Finishing
 * before it shows a wake arrived: after the deadline the operation would
 * re-check and succeed anyway, hiding a lost wake. main() turns the wake
 * safety nets off (ec.h), so nothing but the wake ends a sleep early.
 */
#define WAKE_DEADLINE_MS 10000u

/* A private one-queue segment, a producer and two workers. */
struct fx {
	struct shmrt__seg seg;
	struct shmrt__part prod;
	struct shmrt__part w1;
	struct shmrt__part w2;
	unsigned char buf[SLOT + 16];
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->seg.fd = -1;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	shmrt__part_leave(&f->prod);
	shmrt__part_leave(&f->w1);
	shmrt__part_leave(&f->w2);
	shmrt__seg_detach(&f->seg);
	free(f);
	return 0;
}

/* Each test picks its capacity: a small pool makes "full" easy to reach. */
static void fx_open_with(struct fx *f, uint32_t capacity, bool strict)
{
	struct shmrt__seg_params p;

	tu_params_one_queue(&p, capacity, SLOT, 8);
	p.queue[0].retention_strict = strict;
	assert_int_equal(shmrt__seg_create(NULL, &p, &f->seg), 0);
	assert_int_equal(shmrt__part_join(&f->seg, SHMRT__ROLE_PRODUCER,
					  &f->prod),
			 0);
	assert_int_equal(shmrt__part_join(&f->seg, SHMRT__ROLE_WORKER, &f->w1),
			 0);
	assert_int_equal(shmrt__part_join(&f->seg, SHMRT__ROLE_WORKER, &f->w2),
			 0);
}

static void fx_open(struct fx *f, uint32_t capacity)
{
	fx_open_with(f, capacity, false);
}

static shmrt_job_id enqueue_ok(struct fx *f, const char *payload)
{
	shmrt_job_id id = { 0 };

	assert_int_equal(shmrt__job_enqueue(&f->prod, 0, payload,
					    strlen(payload), 0, &id),
			 0);
	assert_int_not_equal(id.v, 0);
	return id;
}

static struct shmrt__lease lease_ok(struct fx *f, struct shmrt__part *w)
{
	struct shmrt__lease l;

	memset(&l, 0, sizeof(l));
	assert_int_equal(shmrt__job_lease(w, 0, f->buf, sizeof(f->buf), 0, &l),
			 0);
	return l;
}

static int status_of(struct fx *f, shmrt_job_id id, struct shmrt_job_info *i)
{
	memset(f->buf, 0, sizeof(f->buf));
	return shmrt__job_status(&f->seg, id, i, f->buf, sizeof(f->buf));
}

static uint64_t depth(struct fx *f)
{
	struct shmrt__ring r = shmrt__queue_ring(&f->seg.q[0]);

	return shmrt__ring_depth(&r);
}

static void fill_queue(struct fx *f, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		enqueue_ok(f, "filler");
}

/* ------------------------------------------------------------ happy path */

static void test_state_names(void **state)
{
	(void)state;
	assert_string_equal(shmrt_job_state_name(SHMRT_JOB_QUEUED), "queued");
	assert_string_equal(shmrt_job_state_name(SHMRT_JOB_RUNNING), "running");
	assert_string_equal(shmrt_job_state_name(SHMRT_JOB_SUCCEEDED),
			    "succeeded");
	assert_string_equal(shmrt_job_state_name(SHMRT_JOB_FAILED), "failed");
	assert_string_equal(shmrt_job_state_name(SHMRT_JOB_CANCELLED),
			    "cancelled");
	assert_string_equal(shmrt_job_state_name(0), "unknown");
	assert_string_equal(shmrt_job_state_name(4), "unknown");
	assert_string_equal(shmrt_job_state_name(-1), "unknown");
	assert_string_equal(shmrt_job_state_name(1000), "unknown");
}

static void check_queued(struct fx *f, shmrt_job_id id, uint32_t len)
{
	struct shmrt_job_info info;

	assert_int_equal(status_of(f, id, &info), 0);
	assert_int_equal(info.id.v, id.v);
	assert_int_equal(info.state, SHMRT_JOB_QUEUED);
	assert_int_equal(info.attempt, 0);
	assert_int_equal(info.payload_len, len);
	assert_int_equal(info.result_len, 0);
	assert_int_not_equal(info.enqueue_ns, 0);
	assert_int_equal(info.start_ns, 0);
	assert_int_equal(info.finish_ns, 0);
}

static void test_happy_path(void **state)
{
	static const unsigned char payload[] = { 'j', 0, 'o', 0xff, 'b' };
	struct fx *f = *state;
	struct shmrt_job_info info;
	struct shmrt__lease l;
	shmrt_job_id id;
	int rc;

	fx_open(f, 4);
	assert_int_equal(shmrt__job_enqueue(&f->prod, 0, payload,
					    sizeof(payload), 0, &id),
			 0);
	check_queued(f, id, sizeof(payload));
	assert_int_equal(shmrt__job_release(&f->seg, id), SHMRT_E_STATE);
	l = lease_ok(f, &f->w1);
	assert_int_equal(l.id.v, id.v);
	assert_int_equal(l.attempt, 1);
	assert_int_equal(l.payload_len, sizeof(payload));
	assert_memory_equal(f->buf, payload, sizeof(payload));
	assert_int_equal(status_of(f, id, &info), 0);
	assert_int_equal(info.state, SHMRT_JOB_RUNNING);
	assert_int_equal(info.attempt, 1);
	assert_true(info.start_ns >= info.enqueue_ns);
	assert_int_equal(shmrt__job_release(&f->seg, id), SHMRT_E_STATE);
	assert_int_equal(shmrt__job_complete(&f->w1, &l, "result\0x", 8), 0);
	assert_int_equal(shmrt__job_wait(&f->seg, id, tu_deadline_ms(5000),
					 &info, f->buf, sizeof(f->buf)),
			 0);
	assert_int_equal(info.state, SHMRT_JOB_SUCCEEDED);
	assert_string_equal(shmrt_job_state_name(info.state), "succeeded");
	assert_int_equal(info.result_len, 8);
	assert_memory_equal(f->buf, "result\0x", 8);
	assert_int_equal(info.attempt, 1);
	assert_int_equal(info.payload_len, sizeof(payload));
	assert_true(info.enqueue_ns != 0 && info.enqueue_ns <= info.start_ns);
	assert_true(info.start_ns <= info.finish_ns);
	assert_true(info.finish_ns <= shmrt__os_now_ns());
	/* Completing twice is refused (the lease ended) and changes nothing. */
	rc = shmrt__job_complete(&f->w1, &l, "again", 5);
	assert_true(rc == SHMRT_E_STALE || rc == SHMRT_E_STATE);
	assert_int_equal(status_of(f, id, &info), 0);
	assert_memory_equal(f->buf, "result\0x", 8);
	assert_int_equal(shmrt__job_release(&f->seg, id), 0);
	assert_int_equal(status_of(f, id, &info), SHMRT_E_EXPIRED);
	assert_int_equal(shmrt__job_release(&f->seg, id), SHMRT_E_EXPIRED);
}

/* An empty payload and result are jobs like any other. */
static void test_empty_payload_and_result(void **state)
{
	struct fx *f = *state;
	struct shmrt_job_info info;
	struct shmrt__lease l;
	shmrt_job_id id;

	fx_open(f, 2);
	id = enqueue_ok(f, "");
	l = lease_ok(f, &f->w1);
	assert_int_equal(l.payload_len, 0);
	assert_int_equal(shmrt__job_complete(&f->w1, &l, NULL, 0), 0);
	assert_int_equal(status_of(f, id, &info), 0);
	assert_int_equal(info.state, SHMRT_JOB_SUCCEEDED);
	assert_int_equal(info.result_len, 0);
}

/* Jobs come out in enqueue order, and exactly slot_size bytes fit. */
static void test_fifo_and_exact_slot_size(void **state)
{
	struct fx *f = *state;
	unsigned char big[SLOT];
	struct shmrt__lease l;
	shmrt_job_id id, ids[3];
	int i;

	fx_open(f, 4);
	memset(big, 0x5a, sizeof(big));
	ids[0] = enqueue_ok(f, "one");
	ids[1] = enqueue_ok(f, "two");
	assert_int_equal(shmrt__job_enqueue(&f->prod, 0, big, SLOT, 0, &id), 0);
	ids[2] = id;
	for (i = 0; i < 3; i++) {
		l = lease_ok(f, &f->w1);
		assert_int_equal(l.id.v, ids[i].v);
		assert_int_equal(shmrt__job_complete(&f->w1, &l, big, SLOT), 0);
	}
	assert_int_equal(l.payload_len, SLOT);
	assert_memory_equal(f->buf, big, SLOT);
}

/* ------------------------------------------------------- refusals */

static void test_payload_too_big(void **state)
{
	struct fx *f = *state;
	unsigned char big[SLOT + 1];
	struct shmrt__lease l;
	shmrt_job_id id = { 0 };

	fx_open(f, 4);
	memset(big, 1, sizeof(big));
	/* A previous lease in the same struct must not leak into the next. */
	enqueue_ok(f, "first");
	l = lease_ok(f, &f->w1);
	assert_int_equal(depth(f), 0);
	assert_int_equal(shmrt__job_enqueue(&f->prod, 0, big, sizeof(big), 0,
					    &id),
			 SHMRT_E_TOOBIG);
	assert_int_equal(id.v, 0);
	assert_int_equal(depth(f), 0);
	assert_int_equal(shmrt__job_lease(&f->w2, 0, f->buf, sizeof(f->buf), 0,
					  &l),
			 SHMRT_E_AGAIN);
	/* No slot was consumed: three more (of four) still fit. */
	fill_queue(f, 3);
}

static void test_unknown_queue(void **state)
{
	struct fx *f = *state;
	struct shmrt__lease l;
	shmrt_job_id id;

	fx_open(f, 2);
	assert_int_equal(shmrt__job_enqueue(&f->prod, 1, "x", 1, 0, &id),
			 SHMRT_E_NOQUEUE);
	assert_int_equal(shmrt__job_lease(&f->w1, 7, f->buf, sizeof(f->buf), 0,
					  &l),
			 SHMRT_E_NOQUEUE);
}

static void test_full_no_deadline(void **state)
{
	struct fx *f = *state;
	shmrt_job_id id = { 0 };

	fx_open(f, 3);
	fill_queue(f, 3);
	assert_int_equal(shmrt__job_enqueue(&f->prod, 0, "x", 1, 0, &id),
			 SHMRT_E_FULL);
	assert_int_equal(id.v, 0);
	assert_int_equal(depth(f), 3);
}

static void test_full_deadline_expires(void **state)
{
	struct fx *f = *state;
	shmrt_job_id id;
	uint64_t t0;

	fx_open(f, 2);
	fill_queue(f, 2);
	t0 = shmrt__os_now_ns();
	assert_int_equal(shmrt__job_enqueue(&f->prod, 0, "x", 1, t0 + 100 * MS,
					    &id),
			 SHMRT_E_FULL);
	assert_true(shmrt__os_now_ns() - t0 >= 100 * MS);
	assert_int_equal(depth(f), 2);
}

/* What frees room for a blocked producer, 50 ms after it blocked. */
struct waker {
	struct fx *f;
	int (*act)(struct waker *w);
	shmrt_job_id id;       /* act_release: the job to release */
	struct shmrt__lease l; /* act_finish: the lease to complete */
	uint64_t acted_ns;
	int rc;
};

static int act_release(struct waker *w)
{
	return shmrt__job_release(&w->f->seg, w->id);
}

static int act_finish(struct waker *w)
{
	return shmrt__job_complete(&w->f->w1, &w->l, "ok", 2);
}

static void *wake_later(void *arg)
{
	struct waker *w = arg;

	shmrt__os_sleep_ns(50 * MS);
	w->acted_ns = shmrt__os_now_ns();
	w->rc = w->act(w);
	return NULL;
}

/*
 * Enqueue "new" on the full queue with a deadline while `w` acts on
 * another thread: the enqueue must succeed after the act and long before
 * its deadline (the wake safety net is off). Returns the new job's id.
 */
static shmrt_job_id enqueue_woken_by(struct fx *f, struct waker *w)
{
	shmrt_job_id id = { 0 };
	uint64_t now, deadline;
	pthread_t t;
	int rc;

	w->f = f;
	w->rc = 1;
	assert_int_equal(shmrt__job_enqueue(&f->prod, 0, "x", 1, 0, &id),
			 SHMRT_E_FULL);
	assert_int_equal(pthread_create(&t, NULL, wake_later, w), 0);
	deadline = tu_deadline_ms(WAKE_DEADLINE_MS);
	rc = shmrt__job_enqueue(&f->prod, 0, "new", 3, deadline, &id);
	now = shmrt__os_now_ns();
	/* Join before asserting: the thread uses the fixture's mapping. */
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(w->rc, 0);
	assert_int_equal(rc, 0);
	assert_true(now >= w->acted_ns); /* it did wait for the act */
	assert_true(now < deadline);     /* and was woken by it */
	return id;
}

/*
 * A producer blocked on a full queue is woken by a slot being freed
 * (strict retention: the finished job holds its slot until released).
 */
static void test_full_deadline_woken_by_release(void **state)
{
	struct fx *f = *state;
	struct waker w = { .act = act_release };
	struct shmrt__lease l;

	fx_open_with(f, 2, true);
	w.id = enqueue_ok(f, "done soon");
	enqueue_ok(f, "waits");
	l = lease_ok(f, &f->w1);
	assert_int_equal(shmrt__job_complete(&f->w1, &l, "ok", 2), 0);
	check_queued(f, enqueue_woken_by(f, &w), 3);
}

static void test_enqueue_draining(void **state)
{
	struct fx *f = *state;
	shmrt_job_id id;

	fx_open(f, 2);
	shmrt__seg_set_state(&f->seg, SHMRT__SEG_DRAINING);
	assert_int_equal(shmrt__job_enqueue(&f->prod, 0, "x", 1, 0, &id),
			 SHMRT_E_DRAINING);
	shmrt__seg_set_state(&f->seg, SHMRT__SEG_STOPPED);
	assert_int_equal(shmrt__job_enqueue(&f->prod, 0, "x", 1,
					    tu_deadline_ms(50), &id),
			 SHMRT_E_DRAINING);
	assert_int_equal(depth(f), 0);
	shmrt__seg_set_state(&f->seg, SHMRT__SEG_READY);
	/* The refusals consumed no slot. */
	fill_queue(f, 2);
}

/* ------------------------------------------------------- ids */

/* After a slot is reused, the old id is unknown: never the new job. */
static void test_stale_id_after_reuse(void **state)
{
	struct fx *f = *state;
	struct shmrt_job_info info;
	struct shmrt__lease l;
	shmrt_job_id a, b;

	fx_open(f, 1);
	a = enqueue_ok(f, "job A");
	l = lease_ok(f, &f->w1);
	assert_int_equal(shmrt__job_complete(&f->w1, &l, "result A", 8), 0);
	assert_int_equal(shmrt__job_release(&f->seg, a), 0);
	assert_int_equal(status_of(f, a, &info), SHMRT_E_EXPIRED);
	b = enqueue_ok(f, "job B, longer");
	assert_int_not_equal(a.v, b.v);
	/* Capacity 1: the same slot, a new generation. */
	assert_int_equal((a.v >> 32) & 0xffffff, (b.v >> 32) & 0xffffff);
	l = lease_ok(f, &f->w1);
	assert_int_equal(shmrt__job_complete(&f->w1, &l, "result B", 8), 0);
	memset(f->buf, 0xee, sizeof(f->buf));
	assert_int_equal(shmrt__job_status(&f->seg, a, &info, f->buf,
					   sizeof(f->buf)),
			 SHMRT_E_EXPIRED);
	assert_int_equal(f->buf[0], 0xee); /* nothing of B was copied out */
	assert_int_equal(shmrt__job_wait(&f->seg, a, tu_deadline_ms(1000),
					 &info, NULL, 0),
			 SHMRT_E_EXPIRED);
	assert_int_equal(shmrt__job_release(&f->seg, a), SHMRT_E_EXPIRED);
	assert_int_equal(status_of(f, b, &info), 0);
	assert_int_equal(info.payload_len, 13);
	assert_memory_equal(f->buf, "result B", 8);
}

static void expect_nojob(struct fx *f, shmrt_job_id id, const char *what)
{
	struct shmrt_job_info info;
	int rc;

	if ((rc = shmrt__job_status(&f->seg, id, &info, f->buf,
				    sizeof(f->buf))) != SHMRT_E_NOJOB)
		fail_msg("status of %s: %s", what, shmrt_err_name(rc));
	if ((rc = shmrt__job_wait(&f->seg, id, tu_deadline_ms(1000), &info,
				  NULL, 0)) != SHMRT_E_NOJOB)
		fail_msg("wait on %s: %s", what, shmrt_err_name(rc));
	if ((rc = shmrt__job_release(&f->seg, id)) != SHMRT_E_NOJOB)
		fail_msg("release of %s: %s", what, shmrt_err_name(rc));
}

static void test_garbage_ids(void **state)
{
	struct fx *f = *state;
	struct shmrt__lease l;
	shmrt_job_id real, id0 = { 0 };
	uint32_t slot, gen;

	fx_open(f, 4);
	real = enqueue_ok(f, "real");
	l = lease_ok(f, &f->w1);
	assert_int_equal(shmrt__job_complete(&f->w1, &l, "r", 1), 0);
	slot = (uint32_t)(real.v >> 32) & 0xffffff;
	gen = (uint32_t)real.v;
	assert_int_not_equal(gen, 0);
	expect_nojob(f, id0, "id 0");
	expect_nojob(f, shmrt__id_make(1, slot, gen), "queue 1 of 1");
	expect_nojob(f, shmrt__id_make(255, slot, gen), "queue 255");
	expect_nojob(f, shmrt__id_make(0, 4, gen), "slot == capacity");
	expect_nojob(f, shmrt__id_make(0, 0xffffff, gen), "slot 0xffffff");
	expect_nojob(f, shmrt__id_make(0, slot, 0), "generation 0");
	expect_nojob(f, shmrt__id_make(0, slot, gen + 1), "future generation");
	expect_nojob(f, shmrt__id_make(0, (slot + 1) % 4, gen), "free slot");
	/* The real job is untouched by all of that. */
	assert_int_equal(shmrt__job_release(&f->seg, real), 0);
}

/* ------------------------------------------------------- failures */

static void test_fail_retry_then_exhausted(void **state)
{
	static const char err[] = "handler exploded";
	struct fx *f = *state;
	struct shmrt_job_info info;
	struct shmrt__lease l;
	shmrt_job_id id;
	uint32_t attempt;

	fx_open(f, 2); /* max_attempts 3 */
	id = enqueue_ok(f, "flaky");
	for (attempt = 1; attempt <= 2; attempt++) {
		l = lease_ok(f, &f->w1);
		assert_int_equal(l.attempt, attempt);
		assert_int_equal(l.id.v, id.v);
		assert_memory_equal(f->buf, "flaky", 5);
		assert_int_equal(shmrt__job_fail(&f->w1, &l, err, strlen(err), 1),
				 1);
		assert_int_equal(status_of(f, id, &info), 0);
		assert_int_equal(info.state, SHMRT_JOB_QUEUED);
		assert_int_equal(info.attempt, attempt);
		assert_int_equal(depth(f), 1);
	}
	l = lease_ok(f, &f->w2);
	assert_int_equal(l.attempt, 3);
	assert_int_equal(shmrt__job_fail(&f->w2, &l, err, strlen(err), 1), 0);
	assert_int_equal(shmrt__job_wait(&f->seg, id, tu_deadline_ms(1000),
					 &info, f->buf, sizeof(f->buf)),
			 0);
	assert_int_equal(info.state, SHMRT_JOB_FAILED);
	assert_string_equal(shmrt_job_state_name(info.state), "failed");
	assert_int_equal(info.attempt, 3);
	assert_int_equal(info.result_len, strlen(err));
	assert_memory_equal(f->buf, err, strlen(err));
	assert_int_equal(depth(f), 0);
	assert_int_equal(shmrt__job_lease(&f->w1, 0, f->buf, sizeof(f->buf), 0,
					  &l),
			 SHMRT_E_AGAIN);
}

/* Without retry a failure is final at once; long error text is cut. */
static void test_fail_no_retry(void **state)
{
	struct fx *f = *state;
	struct shmrt_job_info info;
	struct shmrt__lease l;
	char err[SLOT * 2];
	shmrt_job_id id;

	fx_open(f, 2);
	memset(err, 'e', sizeof(err));
	id = enqueue_ok(f, "doomed");
	l = lease_ok(f, &f->w1);
	assert_int_equal(shmrt__job_fail(&f->w1, &l, err, sizeof(err), 0), 0);
	assert_int_equal(status_of(f, id, &info), 0);
	assert_int_equal(info.state, SHMRT_JOB_FAILED);
	assert_int_equal(info.attempt, 1);
	assert_int_equal(info.result_len, SLOT);
	assert_memory_equal(f->buf, err, SLOT);
	assert_int_equal(shmrt__job_fail(&f->w1, &l, "x", 1, 1), SHMRT_E_STALE);
}

static void test_complete_result_too_big(void **state)
{
	struct fx *f = *state;
	struct shmrt_job_info info;
	unsigned char big[SLOT + 1];
	struct shmrt__lease l;
	shmrt_job_id id;

	fx_open(f, 2);
	memset(big, 7, sizeof(big));
	id = enqueue_ok(f, "job");
	l = lease_ok(f, &f->w1);
	assert_int_equal(shmrt__job_complete(&f->w1, &l, big, sizeof(big)),
			 SHMRT_E_TOOBIG);
	assert_int_equal(status_of(f, id, &info), 0);
	assert_int_equal(info.state, SHMRT_JOB_RUNNING);
	assert_int_equal(shmrt__job_complete(&f->w1, &l, big, SLOT), 0);
	assert_int_equal(status_of(f, id, &info), 0);
	assert_int_equal(info.state, SHMRT_JOB_SUCCEEDED);
	assert_int_equal(info.result_len, SLOT);
	assert_memory_equal(f->buf, big, SLOT);
}

/*
 * Fencing: the first worker's lease is reclaimed (as scan does on lease
 * expiry) and the job re-leased by a second worker; the first worker's
 * late completion is rejected and changes nothing.
 */
static void test_fencing_stale_lease(void **state)
{
	struct fx *f = *state;
	struct shmrt_job_info info;
	struct shmrt__lease l1, l2;
	shmrt_job_id id;

	fx_open(f, 2);
	id = enqueue_ok(f, "contested");
	l1 = lease_ok(f, &f->w1);
	assert_int_equal(shmrt__job_requeue(&f->prod, 0, l1.slot, l1.token), 1);
	assert_int_equal(status_of(f, id, &info), 0);
	assert_int_equal(info.state, SHMRT_JOB_QUEUED);
	/* The same token again: the word has moved on. */
	assert_int_equal(shmrt__job_requeue(&f->prod, 0, l1.slot, l1.token), 0);
	l2 = lease_ok(f, &f->w2);
	assert_int_equal(l2.id.v, id.v);
	assert_int_equal(l2.attempt, 2);
	assert_int_not_equal(l2.token, l1.token);
	assert_int_equal(shmrt__job_complete(&f->w1, &l1, "first", 5),
			 SHMRT_E_STALE);
	assert_int_equal(shmrt__job_fail(&f->w1, &l1, "first", 5, 1),
			 SHMRT_E_STALE);
	assert_int_equal(status_of(f, id, &info), 0);
	assert_int_equal(info.state, SHMRT_JOB_RUNNING);
	assert_int_equal(shmrt__job_complete(&f->w2, &l2, "second", 6), 0);
	assert_int_equal(shmrt__job_complete(&f->w1, &l1, "first", 5),
			 SHMRT_E_STALE);
	assert_int_equal(status_of(f, id, &info), 0);
	assert_int_equal(info.state, SHMRT_JOB_SUCCEEDED);
	assert_int_equal(info.result_len, 6);
	assert_memory_equal(f->buf, "second", 6);
	assert_int_equal(depth(f), 0);
}

/* ------------------------------------------------------- waiting */

static void test_wait_times_out(void **state)
{
	struct fx *f = *state;
	struct shmrt_job_info info;
	shmrt_job_id id;
	uint64_t t0;

	fx_open(f, 2);
	id = enqueue_ok(f, "nobody runs me");
	t0 = shmrt__os_now_ns();
	assert_int_equal(shmrt__job_wait(&f->seg, id, t0 + 50 * MS, &info,
					 NULL, 0),
			 SHMRT_E_TIMEDOUT);
	assert_true(shmrt__os_now_ns() - t0 >= 50 * MS);
	assert_int_equal(status_of(f, id, &info), 0);
	assert_int_equal(info.state, SHMRT_JOB_QUEUED);
}

struct waiter {
	struct shmrt__seg *seg;
	shmrt_job_id id;
	uint64_t deadline;
	int started; /* atomic */
	int rc;
	uint64_t returned_ns;
	struct shmrt_job_info info;
	char result[SLOT];
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	__atomic_store_n(&w->started, 1, __ATOMIC_RELEASE);
	w->rc = shmrt__job_wait(w->seg, w->id, w->deadline, &w->info,
				w->result, sizeof(w->result));
	w->returned_ns = shmrt__os_now_ns();
	return NULL;
}

/* A waiter in another thread is woken by the completion. */
static void test_wait_woken_by_complete(void **state)
{
	struct fx *f = *state;
	struct waiter w;
	struct shmrt__lease l;
	uint64_t completed_ns;
	pthread_t t;
	int rc;

	fx_open(f, 2);
	memset(&w, 0, sizeof(w));
	w.seg = &f->seg;
	w.rc = 1;
	w.deadline = tu_deadline_ms(WAKE_DEADLINE_MS);
	w.id = enqueue_ok(f, "watched");
	l = lease_ok(f, &f->w1);
	assert_int_equal(pthread_create(&t, NULL, wait_thread, &w), 0);
	while (!__atomic_load_n(&w.started, __ATOMIC_ACQUIRE))
		shmrt__os_sleep_ns(MS);
	shmrt__os_sleep_ns(50 * MS); /* let it go to sleep */
	completed_ns = shmrt__os_now_ns();
	rc = shmrt__job_complete(&f->w1, &l, "finished", 8);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(rc, 0);
	assert_int_equal(w.rc, 0);
	assert_int_equal(w.info.state, SHMRT_JOB_SUCCEEDED);
	assert_int_equal(w.info.result_len, 8);
	assert_memory_equal(w.result, "finished", 8);
	assert_true(w.returned_ns >= completed_ns);
	assert_true(w.returned_ns < w.deadline); /* woken, not timed out */
}

/* ------------------------------------------------------- leasing */

static void test_lease_empty(void **state)
{
	struct fx *f = *state;
	struct shmrt__lease l;
	uint64_t t0;

	fx_open(f, 2);
	/* Whatever the caller's struct held must not matter. */
	memset(&l, 0xa5, sizeof(l));
	assert_int_equal(shmrt__job_lease(&f->w1, 0, f->buf, sizeof(f->buf), 0,
					  &l),
			 SHMRT_E_AGAIN);
	t0 = shmrt__os_now_ns();
	assert_int_equal(shmrt__job_lease(&f->w1, 0, f->buf, sizeof(f->buf),
					  t0 + 50 * MS, &l),
			 SHMRT_E_TIMEDOUT);
	assert_true(shmrt__os_now_ns() - t0 >= 50 * MS);
	/* A buffer smaller than slot_size is refused before anything else. */
	enqueue_ok(f, "x");
	assert_int_equal(shmrt__job_lease(&f->w1, 0, f->buf, SLOT - 1, 0, &l),
			 SHMRT_E_INVAL);
	assert_int_equal(depth(f), 1);
}

struct late_producer {
	struct shmrt__part *p;
	shmrt_job_id id;
	int rc;
};

static void *enqueue_later(void *arg)
{
	struct late_producer *lp = arg;

	shmrt__os_sleep_ns(50 * MS);
	lp->rc = shmrt__job_enqueue(lp->p, 0, "late", 4, 0, &lp->id);
	return NULL;
}

/* A sleeping worker is woken by an enqueue from another thread. */
static void test_lease_woken_by_enqueue(void **state)
{
	struct fx *f = *state;
	struct late_producer lp = { .rc = 1 };
	struct shmrt__lease l;
	uint64_t deadline, now;
	pthread_t t;
	int rc;

	fx_open(f, 2);
	lp.p = &f->prod;
	assert_int_equal(pthread_create(&t, NULL, enqueue_later, &lp), 0);
	memset(&l, 0, sizeof(l));
	deadline = tu_deadline_ms(WAKE_DEADLINE_MS);
	rc = shmrt__job_lease(&f->w1, 0, f->buf, sizeof(f->buf), deadline, &l);
	now = shmrt__os_now_ns();
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(lp.rc, 0);
	assert_int_equal(rc, 0);
	assert_true(now < deadline); /* woken, not timed out */
	assert_int_equal(l.id.v, lp.id.v);
	assert_memory_equal(f->buf, "late", 4);
}

/* ------------------------------------------------------- scan */

static void test_scan_healthy(void **state)
{
	struct fx *f = *state;
	struct shmrt__scan_report rep, zero;
	struct shmrt_job_info info;
	struct shmrt__lease l;
	shmrt_job_id done, running, queued;

	fx_open(f, 4);
	done = enqueue_ok(f, "done");
	l = lease_ok(f, &f->w1);
	assert_int_equal(shmrt__job_complete(&f->w1, &l, "ok", 2), 0);
	running = enqueue_ok(f, "running");
	l = lease_ok(f, &f->w1);
	queued = enqueue_ok(f, "queued");
	memset(&zero, 0, sizeof(zero));
	memset(&rep, 0xff, sizeof(rep)); /* every field must be written */
	assert_int_equal(shmrt__scan(&f->w2, tu_deadline_ms(5000), &rep), 0);
	assert_memory_equal(&rep, &zero, sizeof(rep));
	assert_int_equal(status_of(f, done, &info), 0);
	assert_int_equal(info.state, SHMRT_JOB_SUCCEEDED);
	assert_int_equal(status_of(f, running, &info), 0);
	assert_int_equal(info.state, SHMRT_JOB_RUNNING);
	assert_int_equal(status_of(f, queued, &info), 0);
	assert_int_equal(info.state, SHMRT_JOB_QUEUED);
	assert_int_equal(depth(f), 1);
	assert_int_equal(shmrt__job_complete(&f->w1, &l, "ok", 2), 0);
	assert_int_equal(shmrt__scan(&f->w2, tu_deadline_ms(5000), NULL), 0);
}

/* A child joins and exits without leaving; returns its record index. */
static uint32_t dead_participant(struct fx *f)
{
	uint32_t *shared = tu_shared_alloc(sizeof(uint32_t));
	uint32_t idx;
	pid_t pid;

	assert_non_null(shared);
	*shared = UINT32_MAX;
	pid = tu_fork(1);
	if (pid == 0) {
		struct shmrt__part p;

		if (shmrt__part_join(&f->seg, SHMRT__ROLE_PRODUCER, &p) != 0)
			_exit(1);
		*shared = p.index;
		_exit(0); /* dies holding its record */
	}
	assert_int_equal(tu_wait_child(pid, 10000), 0); /* reaped: truly dead */
	idx = *shared;
	tu_shared_free(shared, sizeof(uint32_t));
	assert_true(idx < f->seg.nparticipants);
	return idx;
}

/* A reservation held by a dead participant is freed by scan. */
static void test_scan_frees_dead_reservation(void **state)
{
	struct fx *f = *state;
	struct shmrt__scan_report rep;
	struct shmrt__slot *s;
	shmrt_job_id id;
	uint64_t owner, w;
	uint32_t idx;

	fx_open(f, 1);
	idx = dead_participant(f);
	owner = __atomic_load_n(&f->seg.parts[idx].owner, __ATOMIC_ACQUIRE);
	assert_int_not_equal(owner, 0);
	assert_false(shmrt__part_owner_alive(owner));
	/* What the child would have left had it died inside enqueue. */
	s = shmrt__slot_at(&f->seg.q[0], 0);
	w = __atomic_load_n(&s->word, __ATOMIC_ACQUIRE);
	assert_int_equal(shmrt__w_state(w), SHMRT__S_FREE);
	__atomic_store_n(&s->word,
			 shmrt__w_make(shmrt__w_gen(w) + 1, 0, idx,
				       SHMRT__S_RESERVED),
			 __ATOMIC_RELEASE);
	assert_int_equal(shmrt__job_enqueue(&f->prod, 0, "x", 1, 0, &id),
			 SHMRT_E_FULL);
	assert_int_equal(shmrt__scan(&f->w1, tu_deadline_ms(5000), &rep), 0);
	assert_true(rep.dead_participants >= 1);
	assert_int_equal(rep.slots_freed, 1);
	assert_int_equal(rep.jobs_requeued + rep.jobs_failed, 0);
	assert_int_equal(shmrt__w_state(__atomic_load_n(&s->word,
							__ATOMIC_ACQUIRE)),
			 SHMRT__S_FREE);
	assert_int_equal(
		__atomic_load_n(&f->seg.parts[idx].owner, __ATOMIC_ACQUIRE), 0);
	id = enqueue_ok(f, "fits again");
	check_queued(f, id, 10);
	/* Nothing left to repair. */
	assert_int_equal(shmrt__scan(&f->w1, tu_deadline_ms(5000), &rep), 0);
	assert_int_equal(rep.dead_participants, 0);
	assert_int_equal(rep.slots_freed, 0);
}

#define FX(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)


/* ------------------------------------------------- eviction (evict.h) */

static shmrt_job_id run_one(struct fx *f, const char *payload)
{
	shmrt_job_id id = enqueue_ok(f, payload);
	struct shmrt__lease l = lease_ok(f, &f->w1);

	assert_int_equal(l.id.v, id.v);
	assert_int_equal(shmrt__job_complete(&f->w1, &l, payload,
					     strlen(payload)),
			 0);
	return id;
}

static uint64_t evicted(struct fx *f)
{
	return __atomic_load_n(&f->seg.q[0].ctl->n_evicted, __ATOMIC_RELAXED);
}

/*
 * A queue full of finished jobs takes new work: the job that finished
 * first gives up its slot, whatever slot it sits in, and only it.
 */
static void test_evict_takes_the_oldest_finished(void **state)
{
	struct fx *f = *state;
	struct shmrt_job_info info;
	shmrt_job_id a, b, c, d, x, y;

	fx_open(f, 4);
	a = run_one(f, "a");
	b = run_one(f, "b");
	c = run_one(f, "c");
	d = run_one(f, "d");
	/* x finishes last but sits in a's slot, the lowest one. */
	assert_int_equal(shmrt__job_release(&f->seg, a), 0);
	x = run_one(f, "x");
	assert_int_equal((x.v >> 32) & 0xffffff, (a.v >> 32) & 0xffffff);
	assert_int_equal(shmrt__job_enqueue(&f->prod, 0, "y", 1, 0, &y), 0);
	assert_int_equal(evicted(f), 1);
	assert_int_equal((y.v >> 32) & 0xffffff, (b.v >> 32) & 0xffffff);
	assert_int_equal(status_of(f, b, &info), SHMRT_E_EXPIRED);
	assert_non_null(strstr(shmrt_last_error(), "no longer kept"));
	assert_int_equal(status_of(f, c, &info), 0);
	assert_memory_equal(f->buf, "c", 1);
	assert_int_equal(status_of(f, d, &info), 0);
	assert_int_equal(status_of(f, x, &info), 0);
	assert_memory_equal(f->buf, "x", 1);
	assert_int_equal(status_of(f, y, &info), 0);
	assert_int_equal(info.state, SHMRT_JOB_QUEUED);
}

/* Queued and running jobs are never evicted: a queue full of them is full. */
static void test_evict_never_takes_live_jobs(void **state)
{
	struct fx *f = *state;
	struct shmrt__lease l;
	shmrt_job_id id = { 0 };

	fx_open(f, 2);
	enqueue_ok(f, "runs");
	enqueue_ok(f, "waits");
	l = lease_ok(f, &f->w1);
	assert_int_equal(shmrt__job_enqueue(&f->prod, 0, "x", 1, 0, &id),
			 SHMRT_E_FULL);
	assert_int_equal(evicted(f), 0);
	assert_int_equal(shmrt__job_complete(&f->w1, &l, "ok", 2), 0);
	assert_int_equal(shmrt__job_enqueue(&f->prod, 0, "x", 1, 0, &id), 0);
	assert_int_equal(evicted(f), 1);
}

/* retention = strict: finished jobs keep their slots; enqueue is refused. */
static void test_strict_retention_refuses(void **state)
{
	struct fx *f = *state;
	struct shmrt_job_info info;
	shmrt_job_id a, id = { 0 };

	fx_open_with(f, 1, true);
	a = run_one(f, "a");
	assert_int_equal(shmrt__job_enqueue(&f->prod, 0, "x", 1, 0, &id),
			 SHMRT_E_FULL);
	assert_non_null(strstr(shmrt_last_error(), "retention = strict"));
	assert_int_equal(evicted(f), 0);
	assert_int_equal(status_of(f, a, &info), 0);
	assert_int_equal(info.state, SHMRT_JOB_SUCCEEDED);
}

/* A fire-and-forget producer on a small queue: never refused. */
static void test_evict_fire_and_forget(void **state)
{
	struct fx *f = *state;
	uint32_t i;

	fx_open(f, 32);
	for (i = 0; i < 32 * 100; i++)
		run_one(f, "job");
	assert_true(evicted(f) >= 32 * 100 - 32);
	/* Batches: one walk over the slots frees capacity/16 jobs. */
	assert_int_equal(shmrt__evict_batch(32), 2);
	assert_int_equal(shmrt__evict_batch(1), 1);
	assert_int_equal(shmrt__evict_batch(1u << 20), SHMRT__EVICT_BATCH_MAX);
}

/*
 * A producer waiting on a queue full of live jobs is woken when one of
 * them finishes: the finished job can be evicted for it.
 */
static void test_full_deadline_woken_by_finish(void **state)
{
	struct fx *f = *state;
	struct waker w = { .act = act_finish };

	fx_open(f, 2);
	enqueue_ok(f, "runs");
	enqueue_ok(f, "waits");
	w.l = lease_ok(f, &f->w1);
	check_queued(f, enqueue_woken_by(f, &w), 3);
	assert_int_equal(evicted(f), 1);
}

int main(void)
{
	setenv("SHMRT_TEST_NO_WAKE_NET", "1", 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_names),
		FX(test_happy_path),
		FX(test_empty_payload_and_result),
		FX(test_fifo_and_exact_slot_size),
		FX(test_payload_too_big),
		FX(test_unknown_queue),
		FX(test_full_no_deadline),
		FX(test_full_deadline_expires),
		FX(test_full_deadline_woken_by_release),
		FX(test_enqueue_draining),
		FX(test_stale_id_after_reuse),
		FX(test_garbage_ids),
		FX(test_fail_retry_then_exhausted),
		FX(test_fail_no_retry),
		FX(test_complete_result_too_big),
		FX(test_fencing_stale_lease),
		FX(test_wait_times_out),
		FX(test_wait_woken_by_complete),
		FX(test_lease_empty),
		FX(test_lease_woken_by_enqueue),
		FX(test_scan_healthy),
		FX(test_scan_frees_dead_reservation),
		FX(test_evict_takes_the_oldest_finished),
		FX(test_evict_never_takes_live_jobs),
		FX(test_strict_retention_refuses),
		FX(test_evict_fire_and_forget),
		FX(test_full_deadline_woken_by_finish),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
