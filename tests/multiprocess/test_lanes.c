/*
 * tests/multiprocess/test_lanes.c - chat lanes across processes: per-lane
 * enqueue order, one job of a lane at a time, and fair turns between
 * lanes.
 *
 * test_lane_order: 4 producer processes submit jobs on 50 lanes (lane of
 * each job drawn from a seeded generator; the seed is printed and
 * SHMRT_TEST_SEED replays it) while 4 consumer processes run them. Each
 * payload carries (producer, seq, lane, k), k being the producer's own
 * count of jobs on that lane. Consumers check, in MAP_SHARED memory:
 *  - one at a time: running[lane] goes 0 -> 1 with a fetch_add at lease
 *    and back with a fetch_sub just before complete (the lane's next job
 *    may be published only once complete has finished the head); any
 *    fetch_add that finds a non-zero value is an overlap;
 *  - order: k equals next_k[lane][producer], which is then advanced, so a
 *    skipped, repeated or reordered job of a (lane, producer) is caught;
 *  - the lease names the job's lane key.
 * Every job is counted; the parent checks each ran exactly once, that
 * every lane was dropped again (shmrt__lane_count 0) and every slot freed.
 *
 * test_lane_fairness: the parent submits a backlog on lane "A" while 4
 * consumers run it (each A job holds its lane for HOLD_A_US), then one job
 * on lane "B". Counted from the moment B's submit begins, at most
 * FAIR_BOUND more A jobs may start before B does (see the bound's
 * comment).
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
#include <unistd.h>

#include "shm/job.h"
#include "shm/lane.h"
#include "shm/os.h"
#include "shm/participant.h"
#include "shm/segment.h"
#include "testutil.h"

#define CAPACITY	4096
#define SLOT_SIZE	32
#define NPROD		4
#define NCONS		4
#define NLANES		50
#define LANE_TABLE	64
#define ENQUEUE_WAIT_MS 10000
#define LEASE_WAIT_MS	100
#define RUN_LIMIT_MS	120000
#define HOLD_A_US	200
/*
 * Fairness bound. When B's submit returns (A jobs started during the
 * submit itself are counted too, at most one: they run one at a time, each
 * for HOLD_A_US), lane A has at most one ref in
 * the ring (its head; lanes publish only their head, and a finished head's
 * successor goes to the back, behind B), so in ring order at most one A job
 * comes before B. What the test observes is start order, and the consumer
 * that popped B may be descheduled before it records B's start while the
 * others run A jobs; each A job holds its lane for HOLD_A_US, so 100 A
 * starts mean B's consumer stalled for >= 20 ms. A FIFO without lanes'
 * round robin would start B only after the whole A backlog (>= 250 jobs
 * here, checked).
 */
#define FAIR_BOUND 100

enum {
	EX_OK = 0,
	EX_ATTACH = 2,
	EX_JOIN = 3,
	EX_ENQUEUE_FULL = 4,
	EX_ENQUEUE = 5,
	EX_LEASE = 6,
	EX_PAYLOAD = 7,
	EX_COMPLETE = 8,
	EX_RELEASE = 9,
	EX_DEADLINE = 10,
	EX_LANEKEY = 11, /* the lease names another lane than the payload */
	EX_ABORTED = 12,
};

struct payload {
	uint32_t producer;
	uint32_t seq;
	uint32_t lane;
	uint32_t k;
};

struct shared {
	uint64_t consumed;
	struct tu_verdict verdict; /* the first failing child's */
	uint64_t overlaps;	   /* a lane's job leased while one ran */
	uint64_t order_violations; /* k != next_k */
	uint64_t per_consumer[NCONS];
	uint32_t running[NLANES];
	uint32_t max_running[NLANES];
	uint32_t next_k[NLANES][NPROD];
	uint32_t first_bad[4]; /* lane, producer, expected k, got k */
	/* fairness test */
	uint64_t a_starts;
	uint64_t a_starts_at_b; /* a_starts when B started, + 1 (0 = not yet) */
	uint32_t counts[];	/* [producer * per_producer + seq] */
};

struct run {
	char tenant[64];
	uint64_t seed;
	uint64_t per_producer;
	uint64_t total;
	size_t shared_size;
	struct shared *sh;
	struct shmrt__seg seg;
	struct shmrt__part part;
	bool joined;
	pid_t pids[NPROD + NCONS]; /* 0 once reaped */
};

static size_t lane_name(char *buf, size_t size, uint32_t lane)
{
	return (size_t)snprintf(buf, size, "lane-%02u", lane);
}

static int child_attach(const struct run *r, uint32_t role,
			struct shmrt__seg *seg, struct shmrt__part *part)
{
	if (shmrt__seg_attach(r->tenant, seg) != 0)
		return EX_ATTACH;
	if (shmrt__part_join(seg, role, part) != 0)
		return EX_JOIN;
	return EX_OK;
}

/* --------------------------------------------------------- lane order */

static int producer_main(struct run *r, uint32_t me)
{
	uint32_t k[NLANES] = {0};
	uint64_t rng = r->seed ^ (0x9e3779b97f4a7c15ull * (me + 1));
	struct shmrt__seg seg;
	struct shmrt__part part;
	struct payload pl = {.producer = me};
	char lane[16];
	shmrt_job_id id;
	int rc = child_attach(r, SHMRT__ROLE_PRODUCER, &seg, &part);

	if (rc != EX_OK)
		return rc;
	for (pl.seq = 0; pl.seq < r->per_producer; pl.seq++) {
		struct shmrt__submit sub = {.payload = &pl, .len = sizeof(pl)};

		if (tu_aborted(&r->sh->verdict))
			return EX_ABORTED;
		pl.lane = (uint32_t)(tu_rnd(&rng) % NLANES);
		pl.k = k[pl.lane]++;
		sub.lane = lane;
		sub.lane_len = lane_name(lane, sizeof(lane), pl.lane);
		sub.deadline_ns = tu_deadline_ms(ENQUEUE_WAIT_MS);
		rc = shmrt__job_submit(&part, 0, &sub, &id);
		if (rc == SHMRT_E_FULL)
			return EX_ENQUEUE_FULL;
		if (rc != 0)
			return EX_ENQUEUE;
	}
	shmrt__part_leave(&part);
	shmrt__seg_detach(&seg);
	return EX_OK;
}

/* A little work for one job in eight, so overlaps would have a window. */
static void work(uint32_t seq)
{
	uint64_t until;

	if ((seq & 7) != 0)
		return;
	until = shmrt__os_now_ns() + 1000u * (2 + (seq >> 3) % 16);
	while (shmrt__os_now_ns() < until)
		shmrt__os_cpu_relax();
}

static void max_update(uint32_t *p, uint32_t v)
{
	uint32_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);

	while (v > cur &&
	       !__atomic_compare_exchange_n(p, &cur, v, false, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
}

/* Checks a leased job against its lane's state; records violations. */
static int order_check(struct run *r, const struct shmrt__lease *l,
		       const struct payload *pl)
{
	char lane[16];
	size_t n = lane_name(lane, sizeof(lane), pl->lane);
	uint32_t *next, expect, was;

	if (l->lane_key_len != n || memcmp(l->lane_key, lane, n) != 0)
		return EX_LANEKEY;
	was =
	    __atomic_fetch_add(&r->sh->running[pl->lane], 1, __ATOMIC_ACQ_REL);
	max_update(&r->sh->max_running[pl->lane], was + 1);
	if (was != 0)
		__atomic_fetch_add(&r->sh->overlaps, 1, __ATOMIC_RELAXED);
	next = &r->sh->next_k[pl->lane][pl->producer];
	expect = __atomic_load_n(next, __ATOMIC_ACQUIRE);
	if (pl->k != expect && __atomic_fetch_add(&r->sh->order_violations, 1,
						  __ATOMIC_RELAXED) == 0) {
		r->sh->first_bad[0] = pl->lane;
		r->sh->first_bad[1] = pl->producer;
		r->sh->first_bad[2] = expect;
		r->sh->first_bad[3] = pl->k;
	}
	__atomic_store_n(next, pl->k + 1, __ATOMIC_RELEASE);
	return EX_OK;
}

static int consume_one(struct run *r, uint32_t me, struct shmrt__seg *seg,
		       struct shmrt__part *part, const struct shmrt__lease *l,
		       const struct payload *pl)
{
	int rc;

	if (l->payload_len != sizeof(*pl) || pl->producer >= NPROD ||
	    pl->seq >= r->per_producer || pl->lane >= NLANES)
		return EX_PAYLOAD;
	if ((rc = order_check(r, l, pl)) != EX_OK)
		return rc;
	work(pl->seq);
	__atomic_fetch_add(
	    &r->sh->counts[pl->producer * r->per_producer + pl->seq], 1,
	    __ATOMIC_RELAXED);
	/* Before complete: complete is what lets the next one start. */
	__atomic_fetch_sub(&r->sh->running[pl->lane], 1, __ATOMIC_ACQ_REL);
	if (shmrt__job_complete(part, l, &pl->seq, sizeof(pl->seq)) != 0)
		return EX_COMPLETE;
	if (tu_release_finished(seg, l->id) != 0)
		return EX_RELEASE;
	r->sh->per_consumer[me]++;
	__atomic_fetch_add(&r->sh->consumed, 1, __ATOMIC_ACQ_REL);
	return EX_OK;
}

static int consumer_main(struct run *r, uint32_t me)
{
	uint64_t give_up = tu_deadline_ms(RUN_LIMIT_MS);
	unsigned char buf[SLOT_SIZE];
	struct shmrt__seg seg;
	struct shmrt__part part;
	struct shmrt__lease l;
	int rc = child_attach(r, SHMRT__ROLE_WORKER, &seg, &part);

	if (rc != EX_OK)
		return rc;
	while (__atomic_load_n(&r->sh->consumed, __ATOMIC_ACQUIRE) < r->total) {
		struct payload pl;

		if (tu_aborted(&r->sh->verdict))
			return EX_ABORTED;
		if (shmrt__os_now_ns() > give_up)
			return EX_DEADLINE;
		rc = shmrt__job_lease(&part, 0, buf, sizeof(buf),
				      tu_deadline_ms(LEASE_WAIT_MS), &l);
		if (rc == SHMRT_E_TIMEDOUT)
			continue;
		if (rc != 0)
			return EX_LEASE;
		memcpy(&pl, buf, sizeof(pl));
		if ((rc = consume_one(r, me, &seg, &part, &l, &pl)) != EX_OK)
			return rc;
	}
	shmrt__part_leave(&part);
	shmrt__seg_detach(&seg);
	return EX_OK;
}

/* -------------------------------------------------------- lane fairness */

static int fair_consumer_main(struct run *r)
{
	uint64_t give_up = tu_deadline_ms(RUN_LIMIT_MS);
	unsigned char buf[SLOT_SIZE];
	struct shmrt__seg seg;
	struct shmrt__part part;
	struct shmrt__lease l;
	int rc = child_attach(r, SHMRT__ROLE_WORKER, &seg, &part);

	if (rc != EX_OK)
		return rc;
	while (__atomic_load_n(&r->sh->consumed, __ATOMIC_ACQUIRE) < r->total) {
		if (tu_aborted(&r->sh->verdict))
			return EX_ABORTED;
		if (shmrt__os_now_ns() > give_up)
			return EX_DEADLINE;
		rc = shmrt__job_lease(&part, 0, buf, sizeof(buf),
				      tu_deadline_ms(LEASE_WAIT_MS), &l);
		if (rc == SHMRT_E_TIMEDOUT)
			continue;
		if (rc != 0)
			return EX_LEASE;
		if (l.lane_key_len != 1)
			return EX_LANEKEY;
		if (l.lane_key[0] == 'B') {
			uint64_t a =
			    __atomic_load_n(&r->sh->a_starts, __ATOMIC_ACQUIRE);

			__atomic_store_n(&r->sh->a_starts_at_b, a + 1,
					 __ATOMIC_RELEASE);
		} else {
			__atomic_fetch_add(&r->sh->a_starts, 1,
					   __ATOMIC_ACQ_REL);
			shmrt__os_sleep_ns(HOLD_A_US * 1000ull);
		}
		if (shmrt__job_complete(&part, &l, NULL, 0) != 0)
			return EX_COMPLETE;
		if (tu_release_finished(&seg, l.id) != 0)
			return EX_RELEASE;
		__atomic_fetch_add(&r->sh->consumed, 1, __ATOMIC_ACQ_REL);
	}
	shmrt__part_leave(&part);
	shmrt__seg_detach(&seg);
	return EX_OK;
}

/* ------------------------------------------------------------- parent */

enum role { R_PRODUCER, R_CONSUMER, R_FAIR_CONSUMER };

static pid_t spawn(struct run *r, enum role role, uint32_t id)
{
	pid_t pid = tu_fork(EX_ABORTED);

	if (pid == 0) {
		int rc;

		rc = role == R_PRODUCER	  ? producer_main(r, id)
		     : role == R_CONSUMER ? consumer_main(r, id)
					  : fair_consumer_main(r);
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

	for (i = 0; i < sizeof(r->pids) / sizeof(r->pids[0]); i++)
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

static void run_setup(struct run *r, uint64_t total)
{
	struct shmrt__seg_params p;

	r->seed = tu_pick_seed();
	r->per_producer = total / NPROD;
	r->total = r->per_producer * NPROD;
	r->shared_size = sizeof(struct shared) + r->total * sizeof(uint32_t);
	r->sh = tu_shared_alloc(r->shared_size);
	assert_non_null(r->sh);
	tu_params_one_queue(&p, CAPACITY, SLOT_SIZE, 4 * (NPROD + NCONS));
	p.queue[0].nlanes = LANE_TABLE;
	assert_int_equal(shmrt__seg_create(r->tenant, &p, &r->seg), 0);
}

static int reap_all(struct run *r)
{
	uint32_t i;
	int failed = 0;

	for (i = 0; i < NPROD + NCONS; i++) {
		int code;

		if (r->pids[i] <= 0)
			continue;
		code = tu_wait_child(r->pids[i], RUN_LIMIT_MS + 30000);
		r->pids[i] = 0;
		if (code == 0)
			continue;
		print_message("child %u exited with %d (see the EX_ codes)\n",
			      i, code);
		failed++;
	}
	if (failed)
		print_message("first failure: %s\n", r->sh->verdict.why);
	return failed;
}

/* Every slot free and every lane dropped once all jobs are released. */
static void check_segment(const struct run *r)
{
	const struct shmrt__qhandle *q = &r->seg.q[0];
	uint32_t i, busy = 0;

	for (i = 0; i < q->capacity; i++) {
		uint64_t w = __atomic_load_n(&shmrt__slot_at(q, i)->word,
					     __ATOMIC_ACQUIRE);

		if (shmrt__w_state(w) != SHMRT__S_FREE)
			busy++;
	}
	assert_int_equal(busy, 0);
	assert_int_equal(shmrt__lane_count(q), 0);
	assert_int_equal(
	    __atomic_load_n(&q->ctl->n_succeeded, __ATOMIC_RELAXED), r->total);
}

static void check_counts(const struct run *r)
{
	uint64_t i, bad = 0;

	for (i = 0; i < r->total; i++) {
		if (r->sh->counts[i] == 1)
			continue;
		if (++bad <= 5)
			print_message("producer %llu seq %llu ran %u times\n",
				      (unsigned long long)(i / r->per_producer),
				      (unsigned long long)(i % r->per_producer),
				      r->sh->counts[i]);
	}
	assert_int_equal(bad, 0);
}

static void test_lane_order(void **state)
{
	struct run *r = *state;
	uint64_t t0 = shmrt__os_now_ns();
	uint32_t i, maxrun = 0;

	run_setup(r, tu_scaled(40000, 1000));
	print_message("seed %llu (SHMRT_TEST_SEED replays it), %llu jobs on "
		      "%u lanes\n",
		      (unsigned long long)r->seed, (unsigned long long)r->total,
		      NLANES);
	for (i = 0; i < NCONS; i++)
		r->pids[i] = spawn(r, R_CONSUMER, i);
	for (i = 0; i < NPROD; i++)
		r->pids[NCONS + i] = spawn(r, R_PRODUCER, i);
	assert_int_equal(reap_all(r), 0);
	for (i = 0; i < NLANES; i++)
		if (r->sh->max_running[i] > maxrun)
			maxrun = r->sh->max_running[i];
	print_message("%llu jobs in %.2f s; per consumer %llu %llu %llu %llu; "
		      "max jobs of one lane at once: %u\n",
		      (unsigned long long)r->total,
		      (double)(shmrt__os_now_ns() - t0) / 1e9,
		      (unsigned long long)r->sh->per_consumer[0],
		      (unsigned long long)r->sh->per_consumer[1],
		      (unsigned long long)r->sh->per_consumer[2],
		      (unsigned long long)r->sh->per_consumer[3], maxrun);
	if (r->sh->order_violations)
		print_message("first order violation: lane %u producer %u "
			      "expected k %u, got %u\n",
			      r->sh->first_bad[0], r->sh->first_bad[1],
			      r->sh->first_bad[2], r->sh->first_bad[3]);
	assert_int_equal(r->sh->overlaps, 0);
	assert_int_equal(r->sh->order_violations, 0);
	assert_int_equal(maxrun, 1);
	check_counts(r);
	for (i = 0; i < NLANES; i++) {
		uint32_t p, n = 0;

		for (p = 0; p < NPROD; p++)
			n += r->sh->next_k[i][p];
		assert_true(n > 0); /* every lane was used */
	}
	check_segment(r);
}

static void test_lane_fairness(void **state)
{
	struct run *r = *state;
	uint64_t na = tu_scaled(2000, 500), a_at_submit, a_before_b;
	uint64_t t_b, i;
	struct shmrt__submit sub = {.lane = "A", .lane_len = 1};
	shmrt_job_id id;

	run_setup(r, 0);
	r->total = na + 1;
	assert_int_equal(
	    shmrt__part_join(&r->seg, SHMRT__ROLE_PRODUCER, &r->part), 0);
	r->joined = true;
	for (i = 0; i < NCONS; i++)
		r->pids[i] = spawn(r, R_FAIR_CONSUMER, (uint32_t)i);
	for (i = 0; i < na; i++) {
		sub.deadline_ns = tu_deadline_ms(ENQUEUE_WAIT_MS);
		assert_int_equal(shmrt__job_submit(&r->part, 0, &sub, &id), 0);
	}
	sub.lane = "B";
	sub.deadline_ns = tu_deadline_ms(ENQUEUE_WAIT_MS);
	/* Read before the submit: B can start before the submit returns. */
	a_at_submit = __atomic_load_n(&r->sh->a_starts, __ATOMIC_ACQUIRE);
	assert_int_equal(shmrt__job_submit(&r->part, 0, &sub, &id), 0);
	t_b = shmrt__os_now_ns();
	assert_int_equal(reap_all(r), 0);
	assert_true(r->sh->a_starts_at_b != 0);
	a_before_b = r->sh->a_starts_at_b - 1 - a_at_submit;
	print_message("lane A: %llu jobs; %llu had started when B's submit "
		      "began, %llu more before B started (bound %u); "
		      "the rest took %.1f ms\n",
		      (unsigned long long)na, (unsigned long long)a_at_submit,
		      (unsigned long long)a_before_b, FAIR_BOUND,
		      (double)(shmrt__os_now_ns() - t_b) / 1e6);
	/* A still had a long backlog when B came: the check means something. */
	assert_true(na - a_at_submit >= FAIR_BOUND + 150);
	assert_true(r->sh->a_starts_at_b - 1 >= a_at_submit);
	assert_true(a_before_b <= FAIR_BOUND);
	assert_int_equal(r->sh->a_starts, na);
	assert_int_equal(shmrt__lane_count(&r->seg.q[0]), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_lane_order),
	    T(test_lane_fairness),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
