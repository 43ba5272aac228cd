/*
 * tests/multiprocess/test_ring_mpmc.c - producer and consumer processes
 * move jobs through one queue: none lost, none duplicated, and each
 * consumer sees each producer's jobs in the order they were enqueued.
 *
 * Every child attaches to the segment by name. Consumers count each
 * (producer, seq) in a MAP_SHARED array and stop once the shared
 * "consumed" counter reaches the total. Children report only through
 * their exit code; the parent asserts.
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
#include "shm/segment.h"
#include "testutil.h"

#define CAPACITY	4096
#define SLOT_SIZE	64
#define MAX_PROCS	8
#define ENQUEUE_WAIT_MS 10000  /* a full queue waits this long per job */
#define LEASE_WAIT_MS	100    /* then the consumer re-checks "consumed" */
#define RUN_LIMIT_MS	120000 /* children give up after this */

/* Child exit codes: one per failure kind. */
enum {
	EX_OK = 0,
	EX_ATTACH = 2,
	EX_JOIN = 3,
	EX_ENQUEUE_FULL = 4, /* still full after ENQUEUE_WAIT_MS */
	EX_ENQUEUE = 5,
	EX_LEASE = 6,
	EX_PAYLOAD = 7, /* a payload that no producer wrote */
	EX_COMPLETE = 8,
	EX_RELEASE = 9,
	EX_DEADLINE = 10,   /* RUN_LIMIT_MS passed before all were consumed */
	EX_FULL_EARLY = 11, /* SHMRT_E_FULL before the enqueue's deadline */
	EX_ABORTED = 12,    /* stopped because another child failed */
};

struct payload {
	uint32_t producer;
	uint32_t pad;
	uint64_t seq;
};

/* Shared with the children (MAP_SHARED). */
struct shared {
	uint64_t consumed;
	struct tu_verdict verdict; /* the first failing child's */
	uint64_t fifo_violations[MAX_PROCS];
	uint64_t per_consumer[MAX_PROCS];
	uint32_t counts[]; /* [producer * per_producer + seq] */
};

struct run {
	char tenant[64];
	uint32_t nprod;
	uint32_t ncons;
	uint64_t per_producer;
	uint64_t total;
	size_t shared_size;
	struct shared *sh;
	struct shmrt__seg seg;
	pid_t pids[2 * MAX_PROCS]; /* 0 once reaped */
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

static int producer_main(const struct run *r, uint32_t id)
{
	struct shmrt__seg seg;
	struct shmrt__part part;
	struct payload pl = {.producer = id};
	shmrt_job_id job;
	int rc = child_attach(r, SHMRT__ROLE_PRODUCER, &seg, &part);

	if (rc != EX_OK)
		return rc;
	for (pl.seq = 0; pl.seq < r->per_producer; pl.seq++) {
		uint64_t deadline = tu_deadline_ms(ENQUEUE_WAIT_MS);

		if (tu_aborted(&r->sh->verdict))
			return EX_ABORTED;
		rc = shmrt__job_enqueue(&part, 0, &pl, sizeof(pl), deadline,
					&job);
		/* A full queue waits until the deadline (job.h). */
		if (rc == SHMRT_E_FULL && shmrt__os_now_ns() < deadline)
			return EX_FULL_EARLY;
		if (rc == SHMRT_E_FULL)
			return EX_ENQUEUE_FULL;
		if (rc != 0)
			return EX_ENQUEUE;
	}
	shmrt__part_leave(&part);
	shmrt__seg_detach(&seg);
	return EX_OK;
}

/* Checks and records one leased job; returns an exit code on failure. */
static int consume_one(struct run *r, uint32_t me, const struct payload *pl,
		       uint32_t len, uint64_t *last_seq)
{
	if (len != sizeof(*pl) || pl->producer >= r->nprod ||
	    pl->seq >= r->per_producer)
		return EX_PAYLOAD;
	/* last_seq holds seq + 1 of the producer's previous job, 0 = none. */
	if (pl->seq + 1 <= last_seq[pl->producer])
		__atomic_fetch_add(&r->sh->fifo_violations[me], 1,
				   __ATOMIC_RELAXED);
	last_seq[pl->producer] = pl->seq + 1;
	__atomic_fetch_add(
	    &r->sh->counts[pl->producer * r->per_producer + pl->seq], 1,
	    __ATOMIC_RELAXED);
	return EX_OK;
}

static int consumer_main(struct run *r, uint32_t me)
{
	uint64_t last_seq[MAX_PROCS] = {0};
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
		if ((rc = consume_one(r, me, &pl, l.payload_len, last_seq)) !=
		    0)
			return rc;
		if (shmrt__job_complete(&part, &l, &pl.seq, sizeof(pl.seq)) !=
		    0)
			return EX_COMPLETE;
		if (tu_release_finished(&seg, l.id) != 0)
			return EX_RELEASE;
		r->sh->per_consumer[me]++;
		__atomic_fetch_add(&r->sh->consumed, 1, __ATOMIC_ACQ_REL);
	}
	shmrt__part_leave(&part);
	shmrt__seg_detach(&seg);
	return EX_OK;
}

static pid_t spawn(struct run *r, int consumer, uint32_t id)
{
	pid_t pid = tu_fork(EX_ABORTED);

	if (pid == 0) {
		int rc = consumer ? consumer_main(r, id) : producer_main(r, id);

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

/* Runs even after a failed assertion: no child, segment or map is left. */
static int fx_teardown(void **state)
{
	struct run *r = *state;
	size_t i;

	for (i = 0; i < sizeof(r->pids) / sizeof(r->pids[0]); i++)
		if (r->pids[i] > 0)
			tu_wait_child(r->pids[i], 0);
	shmrt__seg_detach(&r->seg);
	shmrt__seg_destroy(r->tenant);
	if (r->sh != NULL)
		tu_shared_free(r->sh, r->shared_size);
	free(r);
	return 0;
}

static void run_setup(struct run *r, uint32_t nprod, uint32_t ncons,
		      uint64_t total)
{
	struct shmrt__seg_params p;

	r->nprod = nprod;
	r->ncons = ncons;
	r->per_producer = total / nprod;
	r->total = r->per_producer * nprod;
	r->shared_size = sizeof(struct shared) + r->total * sizeof(uint32_t);
	r->sh = tu_shared_alloc(r->shared_size);
	assert_non_null(r->sh);
	tu_params_one_queue(&p, CAPACITY, SLOT_SIZE, 4 * MAX_PROCS);
	assert_int_equal(shmrt__seg_create(r->tenant, &p, &r->seg), 0);
}

/* Every (producer, seq) consumed exactly once; prints the first misses. */
static void check_counts(const struct run *r)
{
	uint64_t i, lost = 0, dup = 0;

	for (i = 0; i < r->total; i++) {
		uint32_t c = r->sh->counts[i];

		if (c == 1)
			continue;
		if (c == 0)
			lost++;
		else
			dup++;
		if (lost + dup <= 5)
			print_message(
			    "producer %llu seq %llu consumed %u times\n",
			    (unsigned long long)(i / r->per_producer),
			    (unsigned long long)(i % r->per_producer), c);
	}
	assert_int_equal(lost, 0);
	assert_int_equal(dup, 0);
}

/* After the run: every slot free again, counters add up. */
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
	assert_int_equal(__atomic_load_n(&q->ctl->n_enqueued, __ATOMIC_RELAXED),
			 r->total);
	assert_int_equal(
	    __atomic_load_n(&q->ctl->n_succeeded, __ATOMIC_RELAXED), r->total);
}

/* Waits for every child; returns how many did not exit 0. */
static int reap_all(struct run *r)
{
	uint32_t i, n = r->ncons + r->nprod;
	int failed = 0;

	for (i = 0; i < n; i++) {
		int code = tu_wait_child(r->pids[i], RUN_LIMIT_MS + 30000);

		r->pids[i] = 0;
		if (code == 0)
			continue;
		print_message("%s %u exited with %d (see the EX_ codes)\n",
			      i < r->ncons ? "consumer" : "producer",
			      i < r->ncons ? i : i - r->ncons, code);
		failed++;
	}
	return failed;
}

static void run_mpmc(struct run *r, uint32_t nprod, uint32_t ncons,
		     uint64_t total)
{
	uint64_t t0 = shmrt__os_now_ns();
	uint32_t i;
	int failed;

	run_setup(r, nprod, ncons, total);
	for (i = 0; i < ncons; i++)
		r->pids[i] = spawn(r, 1, i);
	for (i = 0; i < nprod; i++)
		r->pids[ncons + i] = spawn(r, 0, i);
	failed = reap_all(r);
	print_message("%ux%u: %llu jobs in %.2f s; per consumer:", nprod, ncons,
		      (unsigned long long)r->total,
		      (double)(shmrt__os_now_ns() - t0) / 1e9);
	for (i = 0; i < ncons; i++)
		print_message(" %llu",
			      (unsigned long long)r->sh->per_consumer[i]);
	print_message("\n");
	if (failed)
		print_message("first failure: %s\n", r->sh->verdict.why);
	assert_int_equal(failed, 0);
	check_counts(r);
	for (i = 0; i < ncons; i++)
		assert_int_equal(r->sh->fifo_violations[i], 0);
	check_segment(r);
}

static void test_mpmc_2x2(void **state)
{
	run_mpmc(*state, 2, 2, tu_scaled(1000000, 20000));
}

static void test_mpmc_4x4(void **state)
{
	run_mpmc(*state, 4, 4, tu_scaled(1000000, 20000));
}

/* One producer: every consumer's whole stream is in enqueue order. */
static void test_mpmc_1x3(void **state)
{
	run_mpmc(*state, 1, 3, tu_scaled(200000, 10000));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_mpmc_2x2),
	    T(test_mpmc_4x4),
	    T(test_mpmc_1x3),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
