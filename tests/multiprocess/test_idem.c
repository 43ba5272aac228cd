/*
 * tests/multiprocess/test_idem.c - idempotency keys across racing
 * producer processes.
 *
 * test_idem_race (and _laned, on a laned queue; each runs several rounds on
 * fresh segments): 4 producer processes wait
 * at a shared start line, then each submits the same NKEYS keys with
 * shmrt__job_submit (two in ascending order, one descending, one shuffled
 * by a seeded generator; SHMRT_TEST_SEED replays it) while 2 consumer
 * processes run the jobs. Each producer logs the id and return code it got
 * per key. Consumers complete each job with its key index as the result
 * and count its runs, but never release a job: a key is live only while
 * its job exists (idem.h). The parent checks: per key, exactly one submit
 * created the job and the three others got SHMRT__SUBMIT_EXISTING with the
 * same id; the NKEYS ids are distinct; exactly NKEYS jobs exist, each ran
 * once and succeeded with its own key's result. A later submit of a key
 * still answers with its job; once that job is released, the key makes a
 * new one.
 *
 * test_idem_ttl_and_full: a key expires after the queue's TTL; a full table
 * gives SHMRT_E_KEYS with nothing enqueued; scan removes expired keys.
 *
 * test_idem_existing_when_full: a full queue still answers a live key with
 * its job instead of SHMRT_E_FULL.
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
#include "shm/os.h"
#include "shm/participant.h"
#include "shm/scan.h"
#include "shm/segment.h"
#include "testutil.h"

#define NKEYS	      1000
#define NPROD	      4
#define NCONS	      2
#define CAPACITY      2048
#define SLOT_SIZE     16
#define IDEM_TABLE    2048
#define LANE_TABLE    32
#define NLANES	      10
#define LEASE_WAIT_MS 50
#define RUN_LIMIT_MS  60000

enum {
	EX_OK = 0,
	EX_ATTACH = 2,
	EX_JOIN = 3,
	EX_SUBMIT = 4, /* an error other than SHMRT__SUBMIT_EXISTING */
	EX_LEASE = 5,
	EX_PAYLOAD = 6,
	EX_COMPLETE = 7,
	EX_DEADLINE = 8,
	EX_ABORTED = 9,
};

struct shared {
	uint32_t go;		 /* the start line */
	uint32_t ready;		 /* producers at the start line */
	uint32_t producers_done; /* set by the parent */
	struct tu_verdict verdict; /* the first failing child's */
	uint64_t consumed;
	uint32_t runs[NKEYS];
	int32_t rc[NPROD][NKEYS];
	uint64_t ids[NPROD][NKEYS];
};

struct run {
	char tenant[64];
	uint64_t seed;
	bool laned;
	struct shared *sh;
	struct shmrt__seg seg;
	struct shmrt__part part;
	bool joined;
	pid_t pids[NPROD + NCONS];
};

static int child_attach(const struct run *r, uint32_t role,
			struct shmrt__seg *seg, struct shmrt__part *part)
{
	if (shmrt__seg_attach(r->tenant, seg) != 0)
		return EX_ATTACH;
	if (shmrt__part_join(seg, role, part) != 0)
		return EX_JOIN;
	return EX_OK;
}

/* Submits key `k` (its payload is k; on a laned queue, lane k % NLANES). */
static int submit_key(struct shmrt__part *part, bool laned, uint32_t k,
		      shmrt_job_id *id)
{
	char key[16], lane[16];
	struct shmrt__submit sub = {.payload = &k, .len = sizeof(k)};

	sub.key = key;
	sub.key_len = (size_t)snprintf(key, sizeof(key), "key-%04u", k);
	if (laned) {
		sub.lane = lane;
		sub.lane_len =
		    (size_t)snprintf(lane, sizeof(lane), "l%u", k % NLANES);
	}
	sub.deadline_ns = tu_deadline_ms(5000);
	return shmrt__job_submit(part, 0, &sub, id);
}

/* The order producer `me` submits the keys in. */
static void key_order(const struct run *r, uint32_t me, uint32_t *order)
{
	uint64_t rng = r->seed ^ (0x9e3779b97f4a7c15ull * (me + 1));
	uint32_t i;

	for (i = 0; i < NKEYS; i++)
		order[i] = me == 2 ? NKEYS - 1 - i : i;
	if (me != 3)
		return;
	for (i = NKEYS - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(tu_rnd(&rng) % (i + 1)), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
}

static int producer_main(struct run *r, uint32_t me)
{
	uint64_t give_up = tu_deadline_ms(RUN_LIMIT_MS);
	uint32_t order[NKEYS], i;
	struct shmrt__seg seg;
	struct shmrt__part part;
	int rc = child_attach(r, SHMRT__ROLE_PRODUCER, &seg, &part);

	if (rc != EX_OK)
		return rc;
	key_order(r, me, order);
	__atomic_fetch_add(&r->sh->ready, 1, __ATOMIC_ACQ_REL);
	while (!__atomic_load_n(&r->sh->go, __ATOMIC_ACQUIRE)) {
		if (shmrt__os_now_ns() > give_up)
			return EX_DEADLINE;
		shmrt__os_cpu_relax();
	}
	for (i = 0; i < NKEYS; i++) {
		uint32_t k = order[i];
		shmrt_job_id id = {0};

		if (tu_aborted(&r->sh->verdict))
			return EX_ABORTED;
		rc = submit_key(&part, r->laned, k, &id);
		r->sh->rc[me][k] = rc;
		r->sh->ids[me][k] = id.v;
		if (rc != 0 && rc != SHMRT__SUBMIT_EXISTING)
			return EX_SUBMIT;
	}
	shmrt__part_leave(&part);
	shmrt__seg_detach(&seg);
	return EX_OK;
}

static int consumer_main(struct run *r)
{
	uint64_t give_up = tu_deadline_ms(RUN_LIMIT_MS);
	unsigned char buf[SLOT_SIZE];
	struct shmrt__seg seg;
	struct shmrt__part part;
	struct shmrt__lease l;
	int rc = child_attach(r, SHMRT__ROLE_WORKER, &seg, &part);

	if (rc != EX_OK)
		return rc;
	for (;;) {
		uint32_t k;

		if (tu_aborted(&r->sh->verdict))
			return EX_ABORTED;
		if (shmrt__os_now_ns() > give_up)
			return EX_DEADLINE;
		rc = shmrt__job_lease(&part, 0, buf, sizeof(buf),
				      tu_deadline_ms(LEASE_WAIT_MS), &l);
		if (rc == SHMRT_E_TIMEDOUT) {
			/* Done once the producers are, and every key ran. */
			if (__atomic_load_n(&r->sh->producers_done,
					    __ATOMIC_ACQUIRE) &&
			    __atomic_load_n(&r->sh->consumed,
					    __ATOMIC_ACQUIRE) >= NKEYS)
				break;
			continue;
		}
		if (rc != 0)
			return EX_LEASE;
		memcpy(&k, buf, sizeof(k));
		if (l.payload_len != sizeof(k) || k >= NKEYS)
			return EX_PAYLOAD;
		__atomic_fetch_add(&r->sh->runs[k], 1, __ATOMIC_RELAXED);
		/* Not released: the key lives as long as its job. */
		if (shmrt__job_complete(&part, &l, &k, sizeof(k)) != 0)
			return EX_COMPLETE;
		__atomic_fetch_add(&r->sh->consumed, 1, __ATOMIC_ACQ_REL);
	}
	shmrt__part_leave(&part);
	shmrt__seg_detach(&seg);
	return EX_OK;
}

/* ------------------------------------------------------------- parent */

static pid_t spawn(struct run *r, int consumer, uint32_t id)
{
	pid_t pid = tu_fork(EX_ABORTED);

	if (pid == 0) {
		int rc;

		rc = consumer ? consumer_main(r) : producer_main(r, id);
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

	for (i = 0; i < NPROD + NCONS; i++)
		if (r->pids[i] > 0)
			tu_wait_child(r->pids[i], 0);
	if (r->joined)
		shmrt__part_leave(&r->part);
	shmrt__seg_detach(&r->seg);
	shmrt__seg_destroy(r->tenant);
	if (r->sh != NULL)
		tu_shared_free(r->sh, sizeof(*r->sh));
	free(r);
	return 0;
}

static void setup_segment(struct run *r, uint32_t capacity, uint32_t nidem,
			  uint64_t ttl_ns, bool laned)
{
	struct shmrt__seg_params p;

	tu_params_one_queue(&p, capacity, SLOT_SIZE, 4 * (NPROD + NCONS));
	p.queue[0].nidem = nidem;
	p.queue[0].idem_ttl_ns = ttl_ns;
	p.queue[0].nlanes = laned ? LANE_TABLE : 0;
	assert_int_equal(shmrt__seg_create(r->tenant, &p, &r->seg), 0);
	assert_int_equal(
	    shmrt__part_join(&r->seg, SHMRT__ROLE_PRODUCER, &r->part), 0);
	r->joined = true;
}

static int reap(struct run *r, uint32_t from, uint32_t to)
{
	uint32_t i;
	int failed = 0;

	for (i = from; i < to; i++) {
		int code = tu_wait_child(r->pids[i], RUN_LIMIT_MS + 30000);

		r->pids[i] = 0;
		if (code == 0)
			continue;
		print_message("child %u exited with %d\n", i, code);
		failed++;
	}
	if (failed)
		print_message("first failure: %s\n", r->sh->verdict.why);
	return failed;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Per key: one creator, the same id everywhere; ids distinct. */
static void check_ids(const struct run *r, uint64_t *ids)
{
	uint32_t k, p, bad = 0;

	for (k = 0; k < NKEYS; k++) {
		uint32_t created = 0, differ = 0;

		for (p = 0; p < NPROD; p++) {
			created += r->sh->rc[p][k] == 0;
			differ += r->sh->ids[p][k] != r->sh->ids[0][k];
			assert_true(r->sh->rc[p][k] == 0 ||
				    r->sh->rc[p][k] == SHMRT__SUBMIT_EXISTING);
		}
		if ((created != 1 || differ != 0) && ++bad <= 5)
			print_message("key %u: %u creators, %u other ids\n", k,
				      created, differ);
		ids[k] = r->sh->ids[0][k];
	}
	assert_int_equal(bad, 0);
	qsort(ids, NKEYS, sizeof(*ids), cmp_u64);
	for (k = 1; k < NKEYS; k++)
		assert_true(ids[k] != ids[k - 1]);
}

/* Exactly NKEYS jobs exist, each ran once with its own key's result. */
static void check_jobs(const struct run *r)
{
	const struct shmrt__qhandle *q = &r->seg.q[0];
	uint32_t k, i, used = 0;

	for (i = 0; i < q->capacity; i++)
		used += shmrt__w_state(__atomic_load_n(
			    &shmrt__slot_at(q, i)->word, __ATOMIC_ACQUIRE)) !=
			SHMRT__S_FREE;
	assert_int_equal(used, NKEYS);
	assert_int_equal(q->ctl->n_enqueued, NKEYS);
	assert_int_equal(q->ctl->n_idem_hits, (NPROD - 1) * NKEYS);
	for (k = 0; k < NKEYS; k++) {
		struct shmrt_job_info info;
		shmrt_job_id id = {r->sh->ids[0][k]};
		uint32_t res = UINT32_MAX;

		assert_int_equal(r->sh->runs[k], 1);
		assert_int_equal(
		    shmrt__job_status(&r->seg, id, &info, &res, sizeof(res)),
		    0);
		assert_int_equal(info.state, SHMRT_JOB_SUCCEEDED);
		assert_int_equal(info.attempt, 1);
		assert_int_equal(res, k);
	}
}

static void run_race(struct run *r, bool laned)
{
	uint64_t deadline = tu_deadline_ms(10000), t0;
	uint64_t *ids = malloc(NKEYS * sizeof(*ids));
	shmrt_job_id id, again;
	uint32_t i;

	assert_non_null(ids);
	r->seed = tu_pick_seed();
	r->laned = laned;
	r->sh = tu_shared_alloc(sizeof(*r->sh));
	assert_non_null(r->sh);
	print_message("seed %llu (SHMRT_TEST_SEED replays it)\n",
		      (unsigned long long)r->seed);
	setup_segment(r, CAPACITY, IDEM_TABLE, 600ull * 1000000000u, laned);
	for (i = 0; i < NCONS; i++)
		r->pids[NPROD + i] = spawn(r, 1, i);
	for (i = 0; i < NPROD; i++)
		r->pids[i] = spawn(r, 0, i);
	while (__atomic_load_n(&r->sh->ready, __ATOMIC_ACQUIRE) < NPROD &&
	       shmrt__os_now_ns() < deadline)
		shmrt__os_sleep_ns(100000);
	t0 = shmrt__os_now_ns();
	__atomic_store_n(&r->sh->go, 1, __ATOMIC_RELEASE);
	assert_int_equal(reap(r, 0, NPROD), 0);
	print_message("%u producers x %u keys submitted in %.1f ms\n", NPROD,
		      NKEYS, (double)(shmrt__os_now_ns() - t0) / 1e6);
	__atomic_store_n(&r->sh->producers_done, 1, __ATOMIC_RELEASE);
	assert_int_equal(reap(r, NPROD, NPROD + NCONS), 0);
	check_ids(r, ids);
	check_jobs(r);
	/* Still live: the same job again. */
	assert_int_equal(submit_key(&r->part, laned, 7, &again),
			 SHMRT__SUBMIT_EXISTING);
	assert_int_equal(again.v, r->sh->ids[0][7]);
	/* Its job released: the key is free, a new job is made. */
	id.v = r->sh->ids[0][7];
	assert_int_equal(shmrt__job_release(&r->seg, id), 0);
	assert_int_equal(submit_key(&r->part, laned, 7, &again), 0);
	assert_true(again.v != id.v);
	free(ids);
}

/* Several rounds on fresh segments: more chances for exact collisions. */
static void run_rounds(struct run *r, bool laned)
{
	uint64_t round, rounds = tu_scaled(5, 2);

	for (round = 0; round < rounds; round++) {
		if (r->sh != NULL)
			tu_shared_free(r->sh, sizeof(*r->sh));
		r->sh = NULL;
		if (r->joined)
			shmrt__part_leave(&r->part);
		r->joined = false;
		shmrt__seg_detach(&r->seg);
		shmrt__seg_destroy(r->tenant);
		run_race(r, laned);
	}
}

static void test_idem_race(void **state)
{
	run_rounds(*state, false);
}

static void test_idem_race_laned(void **state)
{
	run_rounds(*state, true);
}

#define TTL_MS 100

static void test_idem_ttl_and_full(void **state)
{
	struct run *r = *state;
	const struct shmrt__qhandle *q;
	struct shmrt__scan_report rep;
	shmrt_job_id id1, id2, id;
	uint64_t enq;
	uint32_t k;

	setup_segment(r, 64, 8, TTL_MS * 1000000ull, false);
	q = &r->seg.q[0];
	assert_int_equal(submit_key(&r->part, false, 1, &id1), 0);
	assert_int_equal(submit_key(&r->part, false, 1, &id),
			 SHMRT__SUBMIT_EXISTING);
	assert_int_equal(id.v, id1.v);
	shmrt__os_sleep_ns((TTL_MS + 20) * 1000000ull);
	/* Expired: a new job, although the first still exists. */
	assert_int_equal(submit_key(&r->part, false, 1, &id2), 0);
	assert_true(id2.v != id1.v);
	/* Fill the table (8 entries: key 1 and 7 more), then one more. */
	for (k = 2; k <= 8; k++)
		assert_int_equal(submit_key(&r->part, false, k, &id), 0);
	enq = q->ctl->n_enqueued;
	assert_int_equal(submit_key(&r->part, false, 9, &id), SHMRT_E_KEYS);
	assert_int_equal(q->ctl->n_enqueued, enq);
	/* A live key still answers while the table is full. */
	assert_int_equal(submit_key(&r->part, false, 8, &id),
			 SHMRT__SUBMIT_EXISTING);
	shmrt__os_sleep_ns((TTL_MS + 20) * 1000000ull);
	assert_int_equal(shmrt__scan(&r->part, tu_deadline_ms(2000), &rep), 0);
	assert_int_equal(rep.keys_expired, 8);
	assert_int_equal(submit_key(&r->part, false, 9, &id), 0);
}

/*
 * A full queue still answers a live key with its job: the answer needs no
 * slot (job.h: "while the key is live ... a submit with the same key
 * returns SHMRT__SUBMIT_EXISTING"). A client retrying a submit because the
 * system is overloaded is exactly when the queue is full.
 */
static void test_idem_existing_when_full(void **state)
{
	struct run *r = *state;
	struct shmrt__submit sub = {
	    .payload = "x", .len = 1, .key = "key-0000", .key_len = 8};
	shmrt_job_id first, id = {0};
	uint32_t k;
	int rc;

	setup_segment(r, 4, 16, 600ull * 1000000000u, false);
	assert_int_equal(submit_key(&r->part, false, 0, &first), 0);
	for (k = 1; k < 4; k++)
		assert_int_equal(submit_key(&r->part, false, k, &id), 0);
	/* The queue is full (4 of 4 slots); key 0 is live. */
	rc = shmrt__job_submit(&r->part, 0, &sub, &id);
	if (rc != SHMRT__SUBMIT_EXISTING)
		print_message("resubmit of a live key on a full queue: %s "
			      "(%d), expected SHMRT__SUBMIT_EXISTING\n",
			      rc < 0 ? shmrt_err_name(rc) : "0", rc);
	assert_int_equal(rc, SHMRT__SUBMIT_EXISTING);
	assert_int_equal(id.v, first.v);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_idem_race),
	    T(test_idem_race_laned),
	    T(test_idem_ttl_and_full),
	    T(test_idem_existing_when_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
