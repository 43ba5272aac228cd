/*
 * tests/unit/test_keyed.c - lanes, semaphores, idempotency keys, cancel and
 * retry backoff, in one process (the multi-process and kill tests are in
 * tests/multiprocess and tests/fault).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <shmrt/error.h>
#include <shmrt/job.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm/job.h"
#include "shm/keytab.h"
#include "shm/lane.h"
#include "shm/os.h"
#include "shm/participant.h"
#include "shm/qstate.h"
#include "shm/ring.h"
#include "shm/scan.h"
#include "shm/segment.h"
#include "shm/sem.h"
#include "testutil.h"

#define SLOT 64u
#define MS 1000000ull

struct fx {
	struct shmrt__seg seg;
	struct shmrt__part prod;
	struct shmrt__part w1;
	struct shmrt__part w2;
	struct shmrt__part w3;
	unsigned char buf[SLOT + 1]; /* a payload and its terminating NUL */
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

static void fx_close(struct fx *f)
{
	shmrt__part_leave(&f->prod);
	shmrt__part_leave(&f->w1);
	shmrt__part_leave(&f->w2);
	shmrt__part_leave(&f->w3);
	shmrt__seg_detach(&f->seg);
	memset(f, 0, sizeof(*f));
	f->seg.fd = -1;
}

static int fx_teardown(void **state)
{
	fx_close(*state);
	free(*state);
	return 0;
}

static void fx_open(struct fx *f, const struct shmrt__seg_params *p)
{
	assert_int_equal(shmrt__seg_create(NULL, p, &f->seg), 0);
	assert_int_equal(shmrt__part_join(&f->seg, SHMRT__ROLE_PRODUCER,
					  &f->prod),
			 0);
	assert_int_equal(shmrt__part_join(&f->seg, SHMRT__ROLE_WORKER, &f->w1),
			 0);
	assert_int_equal(shmrt__part_join(&f->seg, SHMRT__ROLE_WORKER, &f->w2),
			 0);
	assert_int_equal(shmrt__part_join(&f->seg, SHMRT__ROLE_WORKER, &f->w3),
			 0);
}

static void open_laned(struct fx *f, uint32_t capacity, uint32_t nlanes)
{
	struct shmrt__seg_params p;

	tu_params_one_queue(&p, capacity, SLOT, 8);
	p.queue[0].nlanes = nlanes;
	fx_open(f, &p);
}

/* Submit payload "<lane>:<n>" on lane `lane`. */
static int submit_lane(struct fx *f, const char *lane, int n,
		       shmrt_job_id *id)
{
	char pl[32];
	struct shmrt__submit sub = {0};

	snprintf(pl, sizeof(pl), "%s:%d", lane, n);
	sub.payload = pl;
	sub.len = strlen(pl);
	sub.lane = lane;
	sub.lane_len = strlen(lane);
	return shmrt__job_submit(&f->prod, 0, &sub, id);
}

/* Lease once (no wait) into l; returns the payload as a string. */
static const char *lease_now(struct fx *f, struct shmrt__part *w,
			     struct shmrt__lease *l, int *rc)
{
	memset(f->buf, 0, sizeof(f->buf));
	*rc = shmrt__job_lease(w, 0, f->buf, SLOT, 0, l);
	return (const char *)f->buf;
}

/* ------------------------------------------------------------------ lanes */

static void test_lane_key_rules(void **state)
{
	struct fx *f = *state;
	struct shmrt__seg_params p;
	struct shmrt__submit sub = {.payload = "x", .len = 1};
	char long_key[SHMRT__KEY_MAX + 1];
	shmrt_job_id id;

	open_laned(f, 16, 4);
	/* A laned queue needs a key, of 1..64 bytes. */
	assert_int_equal(shmrt__job_submit(&f->prod, 0, &sub, &id),
			 SHMRT_E_NOLANE);
	memset(long_key, 'k', sizeof(long_key));
	sub.lane = long_key;
	sub.lane_len = sizeof(long_key);
	assert_int_equal(shmrt__job_submit(&f->prod, 0, &sub, &id),
			 SHMRT_E_KEYLEN);
	sub.lane_len = 0;
	assert_int_equal(shmrt__job_submit(&f->prod, 0, &sub, &id),
			 SHMRT_E_KEYLEN);
	sub.lane_len = SHMRT__KEY_MAX; /* exactly 64 bytes is fine */
	assert_int_equal(shmrt__job_submit(&f->prod, 0, &sub, &id), 0);
	assert_int_equal(f->seg.q[0].ctl->n_enqueued, 1);
	fx_close(f);

	/* An unlaned queue refuses a lane key. */
	tu_params_one_queue(&p, 16, SLOT, 8);
	fx_open(f, &p);
	sub.lane = "a";
	sub.lane_len = 1;
	assert_int_equal(shmrt__job_submit(&f->prod, 0, &sub, &id),
			 SHMRT_E_NOLANE);
}

static void test_lane_one_at_a_time_in_order(void **state)
{
	struct fx *f = *state;
	struct shmrt__lease l1, l2;
	shmrt_job_id id[3];
	int i, rc;

	open_laned(f, 16, 4);
	for (i = 0; i < 3; i++)
		assert_int_equal(submit_lane(f, "chat-1", i, &id[i]), 0);
	assert_string_equal(lease_now(f, &f->w1, &l1, &rc), "chat-1:0");
	assert_int_equal(rc, 0);
	/* The lane is busy: nobody else gets its next job. */
	lease_now(f, &f->w2, &l2, &rc);
	assert_int_equal(rc, SHMRT_E_AGAIN);
	assert_int_equal(shmrt__job_complete(&f->w1, &l1, "ok", 2), 0);
	assert_string_equal(lease_now(f, &f->w2, &l2, &rc), "chat-1:1");
	assert_int_equal(rc, 0);
	assert_int_equal(l2.lane_key_len, 6);
	assert_memory_equal(l2.lane_key, "chat-1", 6);
	assert_int_equal(shmrt__job_complete(&f->w2, &l2, "ok", 2), 0);
	assert_string_equal(lease_now(f, &f->w1, &l1, &rc), "chat-1:2");
	assert_int_equal(shmrt__job_complete(&f->w1, &l1, "ok", 2), 0);
	lease_now(f, &f->w1, &l1, &rc);
	assert_int_equal(rc, SHMRT_E_AGAIN);
	/* Finished jobs no longer hold the lane; released, the lane goes. */
	assert_int_equal(shmrt__lane_count(&f->seg.q[0]), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(shmrt__job_release(&f->seg, id[i]), 0);
}

static void test_lanes_run_in_parallel(void **state)
{
	struct fx *f = *state;
	struct shmrt__lease la, lb;
	shmrt_job_id id;
	int rc;

	open_laned(f, 16, 4);
	assert_int_equal(submit_lane(f, "a", 0, &id), 0);
	assert_int_equal(submit_lane(f, "a", 1, &id), 0);
	assert_int_equal(submit_lane(f, "b", 0, &id), 0);
	assert_int_equal(shmrt__lane_count(&f->seg.q[0]), 2);
	assert_string_equal(lease_now(f, &f->w1, &la, &rc), "a:0");
	assert_string_equal(lease_now(f, &f->w2, &lb, &rc), "b:0");
	assert_int_equal(rc, 0);
	assert_int_equal(shmrt__job_complete(&f->w1, &la, NULL, 0), 0);
	assert_int_equal(shmrt__job_complete(&f->w2, &lb, NULL, 0), 0);
	assert_string_equal(lease_now(f, &f->w1, &la, &rc), "a:1");
	assert_int_equal(shmrt__job_complete(&f->w1, &la, NULL, 0), 0);
}

/* Keys that share a hash bucket stay two lanes (exact keys). */
static void test_lanes_are_exact_keys(void **state)
{
	struct fx *f = *state;
	struct shmrt__lease la, lb;
	shmrt_job_id id;
	int rc;

	/* One lane entry -> one bucket: every key collides. */
	open_laned(f, 16, 2);
	assert_int_equal(f->seg.q[0].lanes.bmask, 1);
	assert_int_equal(submit_lane(f, "x", 0, &id), 0);
	assert_int_equal(submit_lane(f, "y", 0, &id), 0);
	assert_int_equal(submit_lane(f, "x", 1, &id), 0);
	assert_string_equal(lease_now(f, &f->w1, &la, &rc), "x:0");
	assert_string_equal(lease_now(f, &f->w2, &lb, &rc), "y:0");
	assert_int_equal(rc, 0);
	lease_now(f, &f->w3, &lb, &rc);
	assert_int_equal(rc, SHMRT_E_AGAIN);
	assert_int_equal(shmrt__job_complete(&f->w1, &la, NULL, 0), 0);
}

/* A long lane does not starve a short one: lanes take turns. */
static void test_lanes_are_fair(void **state)
{
	struct fx *f = *state;
	struct shmrt__lease l;
	shmrt_job_id id;
	int i, rc, seen_b = -1;

	open_laned(f, 256, 8);
	for (i = 0; i < 100; i++)
		assert_int_equal(submit_lane(f, "long", i, &id), 0);
	assert_int_equal(submit_lane(f, "short", 0, &id), 0);
	for (i = 0; i < 101; i++) {
		const char *pl = lease_now(f, &f->w1, &l, &rc);

		assert_int_equal(rc, 0);
		if (strcmp(pl, "short:0") == 0)
			seen_b = i;
		assert_int_equal(shmrt__job_complete(&f->w1, &l, NULL, 0), 0);
	}
	/* long:0 was in the ring before short:0; long:1 goes behind it. */
	assert_int_equal(seen_b, 1);
}

static void test_lane_table_full(void **state)
{
	struct fx *f = *state;
	shmrt_job_id id;
	uint64_t before;

	open_laned(f, 16, 2);
	assert_int_equal(submit_lane(f, "a", 0, &id), 0);
	assert_int_equal(submit_lane(f, "b", 0, &id), 0);
	before = f->seg.q[0].ctl->n_enqueued;
	assert_int_equal(submit_lane(f, "c", 0, &id), SHMRT_E_LANES);
	assert_non_null(strstr(shmrt_last_error(), "lane table"));
	assert_int_equal(f->seg.q[0].ctl->n_enqueued, before);
	/* An existing lane still takes jobs, and the refused job's slot is
	 * free again: 14 more fit. */
	for (int i = 1; i < 15; i++)
		assert_int_equal(submit_lane(f, "a", i, &id), 0);
	assert_int_equal(submit_lane(f, "a", 99, &id), SHMRT_E_FULL);
}

/* A retried head runs again before the rest of its lane. */
static void test_lane_retry_keeps_order(void **state)
{
	struct fx *f = *state;
	struct shmrt__lease l;
	shmrt_job_id id;
	int rc;

	open_laned(f, 16, 4);
	assert_int_equal(submit_lane(f, "a", 0, &id), 0);
	assert_int_equal(submit_lane(f, "a", 1, &id), 0);
	assert_string_equal(lease_now(f, &f->w1, &l, &rc), "a:0");
	assert_int_equal(shmrt__job_fail(&f->w1, &l, "boom", 4, 1), 1);
	assert_string_equal(lease_now(f, &f->w2, &l, &rc), "a:0");
	assert_int_equal(l.attempt, 2);
	assert_int_equal(shmrt__job_fail(&f->w2, &l, "boom", 4, 0), 0);
	assert_string_equal(lease_now(f, &f->w1, &l, &rc), "a:1");
	assert_int_equal(shmrt__job_complete(&f->w1, &l, NULL, 0), 0);
}

static void test_lane_cancel_head_and_middle(void **state)
{
	struct fx *f = *state;
	struct shmrt__lease l;
	struct shmrt_job_info info;
	shmrt_job_id id[4];
	int i, rc;

	open_laned(f, 16, 4);
	for (i = 0; i < 4; i++)
		assert_int_equal(submit_lane(f, "a", i, &id[i]), 0);
	/* Cancelling the queued head lets the next one run. */
	assert_int_equal(shmrt__job_cancel(&f->prod, id[0]), 0);
	/* Cancelling one in the middle skips it later. */
	assert_int_equal(shmrt__job_cancel(&f->prod, id[2]), 0);
	assert_string_equal(lease_now(f, &f->w1, &l, &rc), "a:1");
	assert_int_equal(shmrt__job_complete(&f->w1, &l, NULL, 0), 0);
	assert_string_equal(lease_now(f, &f->w1, &l, &rc), "a:3");
	assert_int_equal(shmrt__job_complete(&f->w1, &l, NULL, 0), 0);
	assert_int_equal(shmrt__job_status(&f->seg, id[2], &info, NULL, 0), 0);
	assert_int_equal(info.state, SHMRT_JOB_CANCELLED);
	assert_int_equal(shmrt__lane_count(&f->seg.q[0]), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(shmrt__job_release(&f->seg, id[i]), 0);
}

/* Releasing a queued job in the middle of a lane is refused (not final);
 * releasing a cancelled one in the middle unlinks it at once. */
static void test_lane_release_middle(void **state)
{
	struct fx *f = *state;
	struct shmrt__lease l;
	shmrt_job_id id[3];
	int i, rc;

	open_laned(f, 16, 4);
	for (i = 0; i < 3; i++)
		assert_int_equal(submit_lane(f, "a", i, &id[i]), 0);
	assert_int_equal(shmrt__job_release(&f->seg, id[1]), SHMRT_E_STATE);
	assert_int_equal(shmrt__job_cancel(&f->prod, id[1]), 0);
	assert_int_equal(shmrt__job_release(&f->seg, id[1]), 0);
	assert_int_equal(shmrt__job_status(&f->seg, id[1], &(struct shmrt_job_info){0},
					   NULL, 0),
			 SHMRT_E_EXPIRED);
	assert_string_equal(lease_now(f, &f->w1, &l, &rc), "a:0");
	assert_int_equal(shmrt__job_complete(&f->w1, &l, NULL, 0), 0);
	assert_string_equal(lease_now(f, &f->w1, &l, &rc), "a:2");
	assert_int_equal(shmrt__job_complete(&f->w1, &l, NULL, 0), 0);
}

/*
 * A holder of the state lock that dies: the next locker repairs (and its
 * submit works), and a journaled append whose holder died after linking
 * is finished: the job is accepted and runs.
 */
static void test_lane_lock_holder_dies(void **state)
{
	struct fx *f = *state;
	struct shmrt__lease l;
	shmrt_job_id id;
	pid_t pid;
	int rc;

	open_laned(f, 16, 4);
	assert_int_equal(submit_lane(f, "a", 0, &id), 0);
	pid = tu_fork(1);
	if (pid == 0) {
		struct shmrt__part cp;
		const struct shmrt__qhandle *q = &f->seg.q[0];
		struct shmrt__slot *s;
		uint32_t slot = 5, e;

		if (shmrt__part_join(&f->seg, SHMRT__ROLE_PRODUCER, &cp) != 0)
			_exit(1);
		if (shmrt__qstate_lock(&cp, q) != 0)
			_exit(2);
		/* A submit of "a:1" cut short: slot reserved and filled,
		 * linked into lane "a" (tail not yet moved), not QUEUED. */
		s = shmrt__slot_at(q, slot);
		if (shmrt__w_state(s->word) != SHMRT__S_FREE)
			_exit(3);
		s->word = shmrt__w_make(1, 0, cp.index, SHMRT__S_RESERVED);
		memcpy(shmrt__slot_payload(q, s), "a:1", 3);
		s->payload_len = 3;
		memcpy(s->lane_key, "a", 1);
		s->lane_key_len = 1;
		s->lane_next = SHMRT__NONE;
		e = shmrt__keytab_find(&q->lanes, "a", 1,
				       shmrt__key_hash("a", 1));
		if (e == SHMRT__NONE)
			_exit(4);
		shmrt__journal_set(q, SHMRT__J_LANE_APPEND, e, slot, 1);
		s->lane = e;
		shmrt__slot_at(q, (uint32_t)q->lanes.entries[e].v[1])
			->lane_next = slot;
		_exit(0); /* holding the lock */
	}
	assert_int_equal(tu_wait_child(pid, 10000), 0);
	/* The next locker (this submit) repairs: a:1 is linked and QUEUED. */
	assert_int_equal(submit_lane(f, "a", 2, &id), 0);
	assert_string_equal(lease_now(f, &f->w1, &l, &rc), "a:0");
	assert_int_equal(shmrt__job_complete(&f->w1, &l, NULL, 0), 0);
	assert_string_equal(lease_now(f, &f->w1, &l, &rc), "a:1");
	assert_int_equal(shmrt__job_complete(&f->w1, &l, NULL, 0), 0);
	assert_string_equal(lease_now(f, &f->w1, &l, &rc), "a:2");
	assert_int_equal(shmrt__job_complete(&f->w1, &l, NULL, 0), 0);
	assert_int_equal(shmrt__lane_count(&f->seg.q[0]), 0);
}

/* A worker that died after finishing a head but before unlinking it:
 * scan moves the lane on. */
static void test_scan_settles_finished_head(void **state)
{
	struct fx *f = *state;
	struct shmrt__scan_report r;
	struct shmrt__lease l;
	const struct shmrt__qhandle *q;
	struct shmrt__slot *s;
	shmrt_job_id id;
	int rc;

	open_laned(f, 16, 4);
	q = &f->seg.q[0];
	assert_int_equal(submit_lane(f, "a", 0, &id), 0);
	assert_int_equal(submit_lane(f, "a", 1, &id), 0);
	assert_string_equal(lease_now(f, &f->w1, &l, &rc), "a:0");
	/* Finish it the way complete does, minus the lane step. */
	s = shmrt__slot_at(q, l.slot);
	s->word = shmrt__w_make(shmrt__w_gen(l.token), 1, SHMRT__OWNER_NONE,
				SHMRT__S_SUCCEEDED);
	lease_now(f, &f->w2, &l, &rc);
	assert_int_equal(rc, SHMRT_E_AGAIN);
	assert_int_equal(shmrt__scan(&f->prod, tu_deadline_ms(5000), &r), 0);
	assert_int_equal(r.lanes_settled, 1);
	assert_string_equal(lease_now(f, &f->w2, &l, &rc), "a:1");
	assert_int_equal(shmrt__job_complete(&f->w2, &l, NULL, 0), 0);
}

/* ------------------------------------------------------------- semaphores */

static void open_sem(struct fx *f, uint32_t limit, uint64_t hb_timeout_ns)
{
	struct shmrt__seg_params p;

	tu_params_one_queue(&p, 16, SLOT, 8);
	p.nsems = 1;
	p.sem[0].name = "q0";
	p.sem[0].limit = limit;
	p.queue[0].sem = 1;
	p.tun.heartbeat_timeout_ns = hb_timeout_ns;
	fx_open(f, &p);
}

static void test_sem_caps_leases(void **state)
{
	struct fx *f = *state;
	struct shmrt__lease l1, l2, l3;
	shmrt_job_id id;
	int i, rc;

	open_sem(f, 2, 0);
	assert_int_equal(shmrt__seg_sem_index(&f->seg, "q0"), 0);
	assert_int_equal(shmrt__seg_sem_index(&f->seg, "nope"), -1);
	for (i = 0; i < 4; i++)
		assert_int_equal(shmrt__job_enqueue(&f->prod, 0, "j", 1, 0, &id),
				 0);
	lease_now(f, &f->w1, &l1, &rc);
	assert_int_equal(rc, 0);
	lease_now(f, &f->w2, &l2, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(shmrt__sem_in_use(&f->seg, 0), 2);
	/* A third worker waits for a permit, even with jobs queued. */
	rc = shmrt__job_lease(&f->w3, 0, f->buf, sizeof(f->buf),
			      tu_deadline_ms(20), &l3);
	assert_int_equal(rc, SHMRT_E_TIMEDOUT);
	assert_int_equal(shmrt__job_complete(&f->w1, &l1, NULL, 0), 0);
	lease_now(f, &f->w3, &l3, &rc);
	assert_int_equal(rc, 0);
	/* fail (with or without retry) gives the permit back too. */
	assert_int_equal(shmrt__job_fail(&f->w2, &l2, "x", 1, 1), 1);
	assert_int_equal(shmrt__job_fail(&f->w3, &l3, "x", 1, 0), 0);
	assert_int_equal(shmrt__sem_in_use(&f->seg, 0), 0);
}

/* A dead holder's permit comes back at the next scan. */
static void test_sem_dead_holder(void **state)
{
	struct fx *f = *state;
	struct shmrt__scan_report r;
	struct shmrt__lease l;
	shmrt_job_id id;
	pid_t pid;
	int rc;

	open_sem(f, 1, 0);
	assert_int_equal(shmrt__job_enqueue(&f->prod, 0, "j", 1, 0, &id), 0);
	pid = tu_fork(1);
	if (pid == 0) {
		struct shmrt__part cp;
		struct shmrt__lease cl;
		unsigned char b[SLOT];

		if (shmrt__part_join(&f->seg, SHMRT__ROLE_WORKER, &cp) != 0)
			_exit(1);
		if (shmrt__job_lease(&cp, 0, b, sizeof(b), 0, &cl) != 0)
			_exit(2);
		_exit(0); /* dies holding the job and the permit */
	}
	assert_int_equal(tu_wait_child(pid, 10000), 0);
	assert_int_equal(shmrt__sem_in_use(&f->seg, 0), 1);
	assert_int_equal(shmrt__scan(&f->prod, tu_deadline_ms(5000), &r), 0);
	assert_int_equal(r.permits_reclaimed, 1);
	assert_int_equal(r.jobs_requeued, 1);
	assert_int_equal(shmrt__sem_in_use(&f->seg, 0), 0);
	lease_now(f, &f->w1, &l, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(l.attempt, 2);
	assert_int_equal(shmrt__job_complete(&f->w1, &l, NULL, 0), 0);
}

/*
 * A hung worker (alive, silent past the heartbeat timeout) loses its job
 * and its permit; when it wakes, its completion is refused and its
 * release cannot free anyone else's permit.
 */
static void test_hung_worker_fenced(void **state)
{
	struct fx *f = *state;
	struct shmrt__scan_report r;
	struct shmrt__lease hung, l;
	struct shmrt_job_info info;
	char res[8] = {0};
	shmrt_job_id id;
	int rc;

	open_sem(f, 1, 50 * MS);
	assert_int_equal(shmrt__job_enqueue(&f->prod, 0, "j", 1, 0, &id), 0);
	lease_now(f, &f->w1, &hung, &rc);
	assert_int_equal(rc, 0);
	shmrt__part_heartbeat(&f->w1);
	shmrt__part_heartbeat(&f->w2);
	shmrt__os_sleep_ns(80 * MS);
	/* The others are alive and well (a participant silent for that
	 * long counts as hung, and loses whatever it holds: nothing here). */
	shmrt__part_heartbeat(&f->w2);
	shmrt__part_heartbeat(&f->w3);
	assert_int_equal(shmrt__scan(&f->prod, tu_deadline_ms(5000), &r), 0);
	assert_int_equal(r.hung_participants, 1);
	assert_int_equal(r.permits_reclaimed, 1);
	assert_int_equal(r.jobs_requeued, 1);
	assert_int_equal(r.dead_participants, 0);
	lease_now(f, &f->w2, &l, &rc);
	assert_int_equal(rc, 0);
	/* The hung worker wakes up: fenced. */
	assert_int_equal(shmrt__job_complete(&f->w1, &hung, "old", 3),
			 SHMRT_E_STALE);
	assert_true(shmrt__sem_held(&f->seg, 0, l.permit));
	assert_int_equal(shmrt__job_complete(&f->w2, &l, "new", 3), 0);
	assert_int_equal(shmrt__job_status(&f->seg, id, &info, res, sizeof(res)),
			 0);
	assert_string_equal(res, "new");
	assert_int_equal(shmrt__sem_in_use(&f->seg, 0), 0);
}

struct sleeper {
	struct fx *f;
	int rc;
};

static void *sleeping_lease(void *arg)
{
	struct sleeper *sl = arg;
	struct shmrt__lease l;
	unsigned char b[SLOT];

	sl->rc = shmrt__job_lease(&sl->f->w1, 0, b, sizeof(b),
				  tu_deadline_ms(1500), &l);
	return NULL;
}

/*
 * A worker asleep in lease, holding its permit, heartbeats: scans during
 * its sleep never take it for hung nor take its permit. (With a 400 ms
 * timeout it wakes every 200 ms; ck_ec's own backoff would sleep 1 s past
 * 146 ms if its wait were not clamped to the deadline, ec.c.)
 */
static void test_sleeping_worker_is_not_hung(void **state)
{
	struct fx *f = *state;
	struct sleeper sl = {f, 0};
	uint32_t hung = 0, reclaimed = 0, held_seen = 0;
	pthread_t t;
	int i;

	open_sem(f, 1, 400 * MS);
	assert_int_equal(pthread_create(&t, NULL, sleeping_lease, &sl), 0);
	for (i = 0; i < 25; i++) {
		struct shmrt__scan_report r;

		shmrt__os_sleep_ns(50 * MS);
		shmrt__part_heartbeat(&f->w2);
		shmrt__part_heartbeat(&f->w3);
		assert_int_equal(shmrt__scan(&f->prod, tu_deadline_ms(5000), &r),
				 0);
		hung += r.hung_participants;
		reclaimed += r.permits_reclaimed;
		held_seen += shmrt__sem_in_use(&f->seg, 0);
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(sl.rc, SHMRT_E_TIMEDOUT);
	assert_int_equal(hung, 0);
	assert_int_equal(reclaimed, 0);
	assert_true(held_seen >= 10); /* it did hold the permit meanwhile */
	assert_int_equal(shmrt__sem_in_use(&f->seg, 0), 0);
}

/* ------------------------------------------------------ idempotency keys */

static void open_idem(struct fx *f, uint32_t nidem, uint64_t ttl_ns)
{
	struct shmrt__seg_params p;

	tu_params_one_queue(&p, 16, SLOT, 8);
	p.queue[0].nidem = nidem;
	p.queue[0].idem_ttl_ns = ttl_ns;
	fx_open(f, &p);
}

static int submit_key(struct fx *f, const char *key, shmrt_job_id *id)
{
	struct shmrt__submit sub = {.payload = key, .len = strlen(key),
				    .key = key, .key_len = strlen(key)};

	return shmrt__job_submit(&f->prod, 0, &sub, id);
}

static void test_idem_same_key_same_job(void **state)
{
	struct fx *f = *state;
	shmrt_job_id a, b, c;
	struct shmrt__lease l;
	int rc;

	open_idem(f, 8, 60000 * MS);
	assert_int_equal(submit_key(f, "user-1", &a), 0);
	assert_int_equal(submit_key(f, "user-1", &b), SHMRT__SUBMIT_EXISTING);
	assert_int_equal(a.v, b.v);
	assert_int_equal(submit_key(f, "user-2", &c), 0);
	assert_true(c.v != a.v);
	assert_int_equal(f->seg.q[0].ctl->n_enqueued, 2);
	assert_int_equal(f->seg.q[0].ctl->n_idem_hits, 1);
	/* Still the same job while it runs and after it finished. */
	lease_now(f, &f->w1, &l, &rc);
	assert_int_equal(submit_key(f, "user-1", &b), SHMRT__SUBMIT_EXISTING);
	assert_int_equal(shmrt__job_complete(&f->w1, &l, NULL, 0), 0);
	assert_int_equal(submit_key(f, "user-1", &b), SHMRT__SUBMIT_EXISTING);
	/* Once its job is freed, the key is free. */
	assert_int_equal(shmrt__job_release(&f->seg, a), 0);
	assert_int_equal(submit_key(f, "user-1", &b), 0);
	assert_true(b.v != a.v);
}

static void test_idem_ttl(void **state)
{
	struct fx *f = *state;
	struct shmrt__scan_report r;
	shmrt_job_id a, b;

	open_idem(f, 8, 30 * MS);
	assert_int_equal(submit_key(f, "k", &a), 0);
	shmrt__os_sleep_ns(40 * MS);
	assert_int_equal(submit_key(f, "k", &b), 0);
	assert_true(a.v != b.v);
	shmrt__os_sleep_ns(40 * MS);
	assert_int_equal(shmrt__scan(&f->prod, tu_deadline_ms(5000), &r), 0);
	assert_int_equal(r.keys_expired, 1);
	assert_int_equal(shmrt__keytab_used(&f->seg.q[0].idem), 0);
}

static void test_idem_table_full(void **state)
{
	struct fx *f = *state;
	shmrt_job_id id;
	char key[16];
	int i;

	open_idem(f, 4, 60000 * MS);
	for (i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(submit_key(f, key, &id), 0);
	}
	assert_int_equal(submit_key(f, "k9", &id), SHMRT_E_KEYS);
	assert_non_null(strstr(shmrt_last_error(), "idempotency table"));
	assert_int_equal(f->seg.q[0].ctl->n_enqueued, 4);
	/* Known keys still answer; a job without a key still goes in. */
	assert_int_equal(submit_key(f, "k2", &id), SHMRT__SUBMIT_EXISTING);
	assert_int_equal(shmrt__job_enqueue(&f->prod, 0, "x", 1, 0, &id), 0);
}

static void test_idem_needs_a_table(void **state)
{
	struct fx *f = *state;
	struct shmrt__seg_params p;
	shmrt_job_id id;

	tu_params_one_queue(&p, 16, SLOT, 8);
	fx_open(f, &p);
	assert_int_equal(submit_key(f, "k", &id), SHMRT_E_INVAL);
	assert_int_equal(f->seg.q[0].ctl->n_enqueued, 0);
}

/* ------------------------------------------------ cancel and retry backoff */

static void test_cancel(void **state)
{
	struct fx *f = *state;
	struct shmrt__seg_params p;
	struct shmrt__lease l;
	struct shmrt_job_info info;
	shmrt_job_id queued, running;
	int rc;

	tu_params_one_queue(&p, 16, SLOT, 8);
	fx_open(f, &p);
	assert_int_equal(shmrt__job_enqueue(&f->prod, 0, "r", 1, 0, &running),
			 0);
	assert_int_equal(shmrt__job_enqueue(&f->prod, 0, "q", 1, 0, &queued),
			 0);
	assert_string_equal(lease_now(f, &f->w1, &l, &rc), "r");
	/* Queued: cancelled at once, never runs, waiters wake. */
	assert_int_equal(shmrt__job_cancel(&f->prod, queued), 0);
	assert_int_equal(shmrt__job_wait(&f->seg, queued, tu_deadline_ms(5000),
					 &info, NULL, 0),
			 0);
	assert_int_equal(info.state, SHMRT_JOB_CANCELLED);
	lease_now(f, &f->w2, &l, &rc);
	assert_int_equal(rc, SHMRT_E_AGAIN);
	/* Running: the worker is told; it then ends the job itself. */
	assert_int_equal(shmrt__job_cancel(&f->prod, running),
			 SHMRT__CANCEL_REQUESTED);
	lease_now(f, &f->w2, &l, &rc);
	assert_int_equal(rc, SHMRT_E_AGAIN);
	assert_int_equal(shmrt__job_status(&f->seg, running, &info, NULL, 0), 0);
	assert_int_equal(info.state, SHMRT_JOB_RUNNING);
	/* Finished: nothing to cancel. */
	assert_int_equal(shmrt__job_cancel(&f->prod, queued), SHMRT_E_STATE);
	assert_int_equal(shmrt__job_cancel(&f->prod, (shmrt_job_id){12345}),
			 SHMRT_E_NOJOB);
}

static void test_cancel_flag_and_no_retry(void **state)
{
	struct fx *f = *state;
	struct shmrt__seg_params p;
	struct shmrt__lease l;
	struct shmrt_job_info info;
	shmrt_job_id id;
	int rc;

	tu_params_one_queue(&p, 16, SLOT, 8);
	fx_open(f, &p);
	assert_int_equal(shmrt__job_enqueue(&f->prod, 0, "r", 1, 0, &id), 0);
	lease_now(f, &f->w1, &l, &rc);
	assert_false(shmrt__job_cancel_requested(&f->seg, &l));
	assert_int_equal(shmrt__job_cancel(&f->prod, id),
			 SHMRT__CANCEL_REQUESTED);
	assert_true(shmrt__job_cancel_requested(&f->seg, &l));
	/* A cancelled job is not retried, whatever the worker asks. */
	assert_int_equal(shmrt__job_fail(&f->w1, &l, "stopped", 7, 1), 0);
	assert_int_equal(shmrt__job_status(&f->seg, id, &info, NULL, 0), 0);
	assert_int_equal(info.state, SHMRT_JOB_FAILED);
}

static void test_retry_backoff(void **state)
{
	struct fx *f = *state;
	struct shmrt__seg_params p;
	struct shmrt__lease l;
	shmrt_job_id id;
	uint64_t failed_at, leased_at;
	int rc;

	tu_params_one_queue(&p, 16, SLOT, 8);
	p.queue[0].retry_backoff_ns = 100 * MS;
	fx_open(f, &p);
	assert_int_equal(shmrt__job_enqueue(&f->prod, 0, "r", 1, 0, &id), 0);
	lease_now(f, &f->w1, &l, &rc);
	assert_int_equal(rc, 0);
	failed_at = shmrt__os_now_ns();
	assert_int_equal(shmrt__job_fail(&f->w1, &l, "again", 5, 1), 1);
	/* Not leasable during the backoff ... */
	lease_now(f, &f->w2, &l, &rc);
	assert_int_equal(rc, SHMRT_E_AGAIN);
	/* ... and a waiting lease gets it once the backoff has passed. */
	rc = shmrt__job_lease(&f->w2, 0, f->buf, sizeof(f->buf),
			      tu_deadline_ms(5000), &l);
	leased_at = shmrt__os_now_ns();
	assert_int_equal(rc, 0);
	assert_int_equal(l.attempt, 2);
	assert_true(leased_at - failed_at >= 100 * MS);
	assert_true(leased_at - failed_at < 2000 * MS);
	assert_int_equal(shmrt__job_complete(&f->w2, &l, NULL, 0), 0);
}

/* ------------------------------------------------ jobs nothing names */

/* Take a queued job's ref out of the ring as a popper that then forgets
 * it would (no lease, intent cleared). */
static void lose_ref(struct fx *f, struct shmrt__part *w)
{
	struct shmrt__ring r = shmrt__queue_ring(&f->seg.q[0]);
	struct shmrt__ring_intent in = shmrt__part_intent(w->rec);
	uint64_t ref;

	assert_int_equal(shmrt__ring_pop(&r, &in, &ref), 0);
	w->rec->pop_value = 0;
}

/* A QUEUED job with no ref and no intent naming it: scan publishes it. */
static void test_scan_republishes_unnamed_job(void **state)
{
	struct fx *f = *state;
	struct shmrt__seg_params p;
	struct shmrt__scan_report r;
	struct shmrt__lease l;
	shmrt_job_id id;
	int rc;

	tu_params_one_queue(&p, 16, SLOT, 8);
	fx_open(f, &p);
	assert_int_equal(shmrt__job_enqueue(&f->prod, 0, "j", 1, 0, &id), 0);
	lose_ref(f, &f->w1);
	lease_now(f, &f->w2, &l, &rc);
	assert_int_equal(rc, SHMRT_E_AGAIN);
	assert_int_equal(shmrt__scan(&f->prod, tu_deadline_ms(5000), &r), 0);
	assert_int_equal(r.jobs_republished, 1);
	lease_now(f, &f->w2, &l, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(l.id.v, id.v);
	assert_int_equal(shmrt__job_complete(&f->w2, &l, NULL, 0), 0);
	/* Nothing else to do: a second scan publishes nothing. */
	assert_int_equal(shmrt__scan(&f->prod, tu_deadline_ms(5000), &r), 0);
	assert_int_equal(r.jobs_republished, 0);
}

/* The same for a lane head: scan's lane pass publishes it again. */
static void test_scan_republishes_unnamed_lane_head(void **state)
{
	struct fx *f = *state;
	struct shmrt__scan_report r;
	struct shmrt__lease l;
	shmrt_job_id id;
	int rc;

	open_laned(f, 16, 4);
	assert_int_equal(submit_lane(f, "a", 0, &id), 0);
	assert_int_equal(submit_lane(f, "a", 1, &id), 0);
	lose_ref(f, &f->w1);
	lease_now(f, &f->w2, &l, &rc);
	assert_int_equal(rc, SHMRT_E_AGAIN);
	assert_int_equal(shmrt__scan(&f->prod, tu_deadline_ms(5000), &r), 0);
	assert_int_equal(r.lanes_settled, 1);
	assert_string_equal(lease_now(f, &f->w2, &l, &rc), "a:0");
	assert_int_equal(shmrt__job_complete(&f->w2, &l, NULL, 0), 0);
	assert_string_equal(lease_now(f, &f->w2, &l, &rc), "a:1");
	assert_int_equal(shmrt__job_complete(&f->w2, &l, NULL, 0), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

/*
 * A laned queue full of finished jobs takes new work too (evict.h): the
 * oldest give up their slots through their lanes, and the lanes go on in
 * order.
 */
static void test_laned_queue_evicts_finished_jobs(void **state)
{
	struct fx *f = *state;
	struct shmrt_job_info info;
	struct shmrt__lease l;
	shmrt_job_id id[4], next;
	int i, rc;

	open_laned(f, 4, 4);
	assert_int_equal(submit_lane(f, "a", 0, &id[0]), 0);
	assert_int_equal(submit_lane(f, "a", 1, &id[1]), 0);
	assert_int_equal(submit_lane(f, "b", 0, &id[2]), 0);
	assert_int_equal(submit_lane(f, "b", 1, &id[3]), 0);
	for (i = 0; i < 4; i++) {
		lease_now(f, &f->w1, &l, &rc);
		assert_int_equal(rc, 0);
		assert_int_equal(shmrt__job_complete(&f->w1, &l, NULL, 0), 0);
	}
	assert_int_equal(submit_lane(f, "a", 2, &next), 0);
	assert_int_equal(shmrt__job_status(&f->seg, id[0], &info, NULL, 0),
			 SHMRT_E_EXPIRED);
	assert_string_equal(lease_now(f, &f->w1, &l, &rc), "a:2");
	assert_int_equal(rc, 0);
	assert_int_equal(l.id.v, next.v);
	assert_int_equal(shmrt__job_complete(&f->w1, &l, NULL, 0), 0);
	assert_int_equal(submit_lane(f, "b", 2, &next), 0);
	assert_string_equal(lease_now(f, &f->w1, &l, &rc), "b:2");
	assert_int_equal(rc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_lane_key_rules),
		T(test_laned_queue_evicts_finished_jobs),
		T(test_lane_one_at_a_time_in_order),
		T(test_lanes_run_in_parallel),
		T(test_lanes_are_exact_keys),
		T(test_lanes_are_fair),
		T(test_lane_table_full),
		T(test_lane_retry_keeps_order),
		T(test_lane_cancel_head_and_middle),
		T(test_lane_release_middle),
		T(test_lane_lock_holder_dies),
		T(test_scan_settles_finished_head),
		T(test_sem_caps_leases),
		T(test_sem_dead_holder),
		T(test_hung_worker_fenced),
		T(test_sleeping_worker_is_not_hung),
		T(test_idem_same_key_same_job),
		T(test_idem_ttl),
		T(test_idem_table_full),
		T(test_idem_needs_a_table),
		T(test_cancel),
		T(test_cancel_flag_and_no_retry),
		T(test_retry_backoff),
		T(test_scan_republishes_unnamed_job),
		T(test_scan_republishes_unnamed_lane_head),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
