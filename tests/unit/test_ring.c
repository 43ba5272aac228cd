/*
 * tests/unit/test_ring.c - the bounded MPMC ring: order, bounds, wrap-around,
 * intents, repair of dead claimants, and a threaded stress.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <shmrt/error.h>
#include <stdlib.h>
#include <string.h>

#include "shm/participant.h"
#include "shm/ring.h"
#include "shm/segment.h"
#include "testutil.h"

#define CAPACITY 8u /* -> 16 ring cells */

/* A private one-queue segment and one joined participant. */
struct fx {
	struct shmrt__seg seg;
	struct shmrt__part part;
	struct shmrt__ring r;
	struct shmrt__ring_intent in;
	uint64_t ncells;
};

static int fx_setup(void **state)
{
	struct shmrt__seg_params p;
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->seg.fd = -1;
	*state = f;
	tu_params_one_queue(&p, CAPACITY, 16, 8);
	if (shmrt__seg_create(NULL, &p, &f->seg) != 0)
		return -1;
	if (shmrt__part_join(&f->seg, SHMRT__ROLE_PRODUCER |
					      SHMRT__ROLE_WORKER,
			     &f->part) != 0)
		return -1;
	f->r = shmrt__queue_ring(&f->seg.q[0]);
	f->in = shmrt__part_intent(f->part.rec);
	f->ncells = f->r.mask + 1;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	if (f->part.rec != NULL)
		shmrt__part_leave(&f->part);
	shmrt__seg_detach(&f->seg);
	free(f);
	return 0;
}

static uint64_t ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* Push as the ring's contract asks: the value goes into the intent first. */
static int push(struct fx *f, uint64_t v)
{
	__atomic_store_n(f->in.push_value, v, __ATOMIC_RELAXED);
	return shmrt__ring_push(&f->r, &f->in, v);
}

static uint64_t pop_ok(struct fx *f)
{
	uint64_t v = 0;

	assert_int_equal(shmrt__ring_pop(&f->r, &f->in, &v), 0);
	return v;
}

/* Claim a position by hand, as a participant that dies right after would. */
static uint64_t claim_by_hand(uint64_t *posp)
{
	uint64_t pos = ld(posp);

	assert_true(__atomic_compare_exchange_n(posp, &pos, pos + 1, false,
						__ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE));
	return pos;
}

static void test_geometry(void **state)
{
	struct fx *f = *state;

	assert_int_equal(f->ncells, 16);
	assert_int_equal(ld(f->r.enqueue_pos), 0);
	assert_int_equal(ld(f->r.dequeue_pos), 0);
	assert_int_equal(shmrt__ring_depth(&f->r), 0);
}

static void test_push_pop_fifo(void **state)
{
	struct fx *f = *state;
	uint64_t v;

	for (v = 1; v <= 10; v++)
		assert_int_equal(push(f, v * 1000 + 7), 0);
	assert_int_equal(shmrt__ring_depth(&f->r), 10);
	for (v = 1; v <= 10; v++)
		assert_int_equal(pop_ok(f), v * 1000 + 7);
	assert_int_equal(shmrt__ring_depth(&f->r), 0);
}

static void test_pop_empty_again(void **state)
{
	struct fx *f = *state;
	uint64_t v = 12345;

	assert_int_equal(shmrt__ring_pop(&f->r, &f->in, &v), SHMRT_E_AGAIN);
	assert_int_equal(ld(f->r.dequeue_pos), 0);
	assert_int_equal(ld(f->in.pop_pos), SHMRT__POS_NONE);
	/* Empty again after one value came and went. */
	assert_int_equal(push(f, 5), 0);
	assert_int_equal(pop_ok(f), 5);
	assert_int_equal(shmrt__ring_pop(&f->r, &f->in, &v), SHMRT_E_AGAIN);
	assert_int_equal(ld(f->r.dequeue_pos), 1);
}

/* FULL exactly at ncells pushes, and the refused push changes nothing. */
static void test_push_until_full(void **state)
{
	struct fx *f = *state;
	struct shmrt__ring_cell before[64];
	size_t bytes;
	uint64_t n = 0, epos, dpos, v;

	while (push(f, n + 1) == 0) {
		n++;
		assert_true(n <= f->ncells);
	}
	assert_int_equal(n, f->ncells);
	bytes = (size_t)f->ncells * sizeof(before[0]);
	assert_true(f->ncells <= 64);
	memcpy(before, f->r.cells, bytes);
	epos = ld(f->r.enqueue_pos);
	dpos = ld(f->r.dequeue_pos);
	assert_int_equal(push(f, 999), SHMRT_E_FULL);
	assert_int_equal(ld(f->in.push_pos), SHMRT__POS_NONE);
	assert_int_equal(ld(f->r.enqueue_pos), epos);
	assert_int_equal(ld(f->r.dequeue_pos), dpos);
	assert_memory_equal(before, f->r.cells, bytes);
	for (v = 1; v <= n; v++)
		assert_int_equal(pop_ok(f), v);
	assert_int_equal(shmrt__ring_pop(&f->r, &f->in, &v), SHMRT_E_AGAIN);
}

/*
 * Batches of varying size, sometimes leaving a value behind so the head
 * and tail drift against the lap boundary, until positions are far past
 * ten laps.
 */
static void test_wrap_many_laps(void **state)
{
	struct fx *f = *state;
	uint64_t next_push = 1, next_pop = 1, i;

	for (i = 0; ld(f->r.enqueue_pos) < 12 * f->ncells; i++) {
		uint64_t room = f->ncells - (next_push - next_pop);
		uint64_t batch = i % f->ncells + 1, k, keep;

		if (batch > room)
			batch = room;
		for (k = 0; k < batch; k++)
			assert_int_equal(push(f, next_push++), 0);
		assert_int_equal(shmrt__ring_depth(&f->r), next_push - next_pop);
		keep = i % 3 == 0 ? 1 : 0;
		while (next_push - next_pop > keep)
			assert_int_equal(pop_ok(f), next_pop++);
	}
	while (next_pop < next_push)
		assert_int_equal(pop_ok(f), next_pop++);
	assert_true(ld(f->r.dequeue_pos) > 10 * f->ncells);
	assert_int_equal(shmrt__ring_depth(&f->r), 0);
}

static void test_intents_cleared(void **state)
{
	struct fx *f = *state;
	uint64_t v = 0, k;

	assert_int_equal(ld(f->in.push_pos), SHMRT__POS_NONE);
	assert_int_equal(ld(f->in.pop_pos), SHMRT__POS_NONE);
	for (k = 1; k <= 3 * f->ncells; k++) {
		assert_int_equal(push(f, k << 8), 0);
		assert_int_equal(ld(f->in.push_pos), SHMRT__POS_NONE);
		assert_int_equal(shmrt__ring_pop(&f->r, &f->in, &v), 0);
		assert_int_equal(v, k << 8);
		assert_int_equal(ld(f->in.pop_pos), SHMRT__POS_NONE);
		/* pop_value stays set: the caller clears it once it owns v. */
		assert_int_equal(ld(f->in.pop_value), k << 8);
	}
}

/*
 * A pusher that died between claiming and publishing: the values behind its
 * cell wait until the cell is tombstoned, and pushers are not blocked.
 */
static void test_dead_pusher_tombstone(void **state)
{
	struct fx *f = *state;
	uint64_t hole, v = 0;

	assert_int_equal(push(f, 11), 0);
	assert_int_equal(pop_ok(f), 11);
	hole = claim_by_hand(f->r.enqueue_pos);
	assert_int_equal(push(f, 42), 0); /* not blocked by the hole */
	assert_int_equal(push(f, 43), 0);
	assert_int_equal(shmrt__ring_pop(&f->r, &f->in, &v), SHMRT_E_AGAIN);
	assert_int_equal(ld(f->r.dequeue_pos), hole);
	assert_int_equal(shmrt__ring_cell_state(&f->r, hole),
			 SHMRT__CELL_UNPUBLISHED);
	assert_int_equal(shmrt__ring_cell_state(&f->r, hole + 1),
			 SHMRT__CELL_OTHER);
	/* Repair touches only an unpublished cell. */
	assert_int_equal(shmrt__ring_tombstone(&f->r, hole + 1), SHMRT_E_STATE);
	assert_int_equal(shmrt__ring_tombstone(&f->r, hole + 5), SHMRT_E_STATE);
	assert_int_equal(shmrt__ring_tombstone(&f->r, hole), 0);
	assert_int_equal(pop_ok(f), 42);
	assert_int_equal(pop_ok(f), 43);
	assert_int_equal(shmrt__ring_tombstone(&f->r, hole), SHMRT_E_STATE);
	assert_int_equal(shmrt__ring_pop(&f->r, &f->in, &v), SHMRT_E_AGAIN);
	assert_int_equal(ld(f->r.dequeue_pos), hole + 3);
	/* The tombstoned cell is usable on the next lap. */
	for (v = 0; v < f->ncells; v++)
		assert_int_equal(push(f, 100 + v), 0);
	for (v = 0; v < f->ncells; v++)
		assert_int_equal(pop_ok(f), 100 + v);
}

/*
 * A popper that died between claiming and releasing: other poppers go on,
 * pushers find the ring full one lap later, and release frees the cell.
 */
static void test_dead_popper_release(void **state)
{
	struct fx *f = *state;
	uint64_t taken, v = 0, n = 0, k;

	assert_int_equal(push(f, 71), 0);
	assert_int_equal(push(f, 72), 0);
	taken = claim_by_hand(f->r.dequeue_pos);
	assert_int_equal(shmrt__ring_cell_state(&f->r, taken),
			 SHMRT__CELL_UNRELEASED);
	assert_int_equal(pop_ok(f), 72); /* not blocked by the taken cell */
	assert_int_equal(shmrt__ring_cell_state(&f->r, taken + 1),
			 SHMRT__CELL_OTHER);
	assert_int_equal(shmrt__ring_release(&f->r, taken + 1, &v),
			 SHMRT_E_STATE);
	while (push(f, 1000 + n) == 0)
		n++;
	/*
	 * Positions 2 .. ncells-1 were free; position ncells maps to the
	 * taken cell, which still waits for its dead popper.
	 */
	assert_int_equal(n, f->ncells - 2);
	assert_int_equal(shmrt__ring_release(&f->r, taken, &v), 0);
	assert_int_equal(v, 71);
	assert_int_equal(shmrt__ring_cell_state(&f->r, taken), SHMRT__CELL_OTHER);
	v = 0;
	assert_int_equal(shmrt__ring_release(&f->r, taken, &v), SHMRT_E_STATE);
	assert_int_equal(push(f, 2000), 0);
	for (k = 0; k < n; k++)
		assert_int_equal(pop_ok(f), 1000 + k);
	assert_int_equal(pop_ok(f), 2000);
	assert_int_equal(shmrt__ring_pop(&f->r, &f->in, &v), SHMRT_E_AGAIN);
}

/* Nothing to repair on a fresh ring, whatever the position. */
static void test_cell_state_fresh(void **state)
{
	struct fx *f = *state;
	uint64_t pos, v;

	for (pos = 0; pos < 2 * f->ncells; pos++) {
		assert_int_equal(shmrt__ring_cell_state(&f->r, pos),
				 SHMRT__CELL_OTHER);
		assert_int_equal(shmrt__ring_tombstone(&f->r, pos),
				 SHMRT_E_STATE);
		assert_int_equal(shmrt__ring_release(&f->r, pos, &v),
				 SHMRT_E_STATE);
	}
	assert_int_equal(shmrt__ring_pop(&f->r, &f->in, &v), SHMRT_E_AGAIN);
}

/* ---------------------------------------------------------------- stress */

#define NPUSH 2
#define NPOP 2

struct stress {
	struct shmrt__seg *seg;
	uint64_t n;          /* values per pusher */
	uint32_t *counts[NPUSH];
	uint64_t popped;     /* atomic */
	uint32_t pushers_done; /* atomic */
	uint64_t errors;     /* atomic: threads never assert */
	uint64_t order_errors;
};

struct stress_arg {
	struct stress *s;
	uint32_t id;
};

static void stress_error(uint64_t *counter)
{
	__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

static void *pusher(void *arg)
{
	struct stress_arg *a = arg;
	struct stress *s = a->s;
	struct shmrt__part part;
	struct shmrt__ring r = shmrt__queue_ring(&s->seg->q[0]);
	struct shmrt__ring_intent in;
	uint64_t seq;

	if (shmrt__part_join(s->seg, SHMRT__ROLE_PRODUCER, &part) != 0) {
		stress_error(&s->errors);
		return NULL;
	}
	in = shmrt__part_intent(part.rec);
	for (seq = 0; seq < s->n; seq++) {
		/* pusher id in the high half, sequence + 1 in the low: never 0 */
		uint64_t v = ((uint64_t)(a->id + 1) << 32) | (seq + 1);
		int rc;

		__atomic_store_n(in.push_value, v, __ATOMIC_RELAXED);
		while ((rc = shmrt__ring_push(&r, &in, v)) == SHMRT_E_FULL)
			sched_yield();
		if (rc != 0)
			stress_error(&s->errors);
	}
	__atomic_store_n(in.push_value, 0, __ATOMIC_RELAXED);
	shmrt__part_leave(&part);
	__atomic_fetch_add(&s->pushers_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Checks one popped value; per pusher, one popper sees it in order. */
static void stress_take(struct stress *s, uint64_t v, uint64_t *last)
{
	uint64_t who = (v >> 32) - 1, seq = (v & 0xffffffffu) - 1;

	if (who >= NPUSH || seq >= s->n) {
		stress_error(&s->errors);
		return;
	}
	if (seq + 1 <= last[who])
		stress_error(&s->order_errors);
	last[who] = seq + 1;
	__atomic_fetch_add(&s->counts[who][seq], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&s->popped, 1, __ATOMIC_RELAXED);
}

static void *popper(void *arg)
{
	struct stress_arg *a = arg;
	struct stress *s = a->s;
	struct shmrt__part part;
	struct shmrt__ring r = shmrt__queue_ring(&s->seg->q[0]);
	struct shmrt__ring_intent in;
	uint64_t last[NPUSH] = { 0 };
	uint64_t total = s->n * NPUSH;

	if (shmrt__part_join(s->seg, SHMRT__ROLE_WORKER, &part) != 0) {
		stress_error(&s->errors);
		return NULL;
	}
	in = shmrt__part_intent(part.rec);
	while (__atomic_load_n(&s->popped, __ATOMIC_RELAXED) < total) {
		uint32_t done = __atomic_load_n(&s->pushers_done,
						__ATOMIC_ACQUIRE);
		uint64_t v;
		int rc = shmrt__ring_pop(&r, &in, &v);

		/*
		 * Once every pusher returned, everything is published: an
		 * empty ring then means a value was lost. Stop, don't hang.
		 */
		if (rc == SHMRT_E_AGAIN && done == NPUSH)
			break;
		if (rc == SHMRT_E_AGAIN) {
			sched_yield();
			continue;
		}
		if (rc != 0) {
			stress_error(&s->errors);
			break;
		}
		stress_take(s, v, last);
		__atomic_store_n(in.pop_value, 0, __ATOMIC_RELAXED);
	}
	shmrt__part_leave(&part);
	return NULL;
}

static void run_stress(struct stress *s)
{
	struct stress_arg args[NPUSH + NPOP];
	pthread_t t[NPUSH + NPOP];
	uint32_t i;

	for (i = 0; i < NPUSH + NPOP; i++) {
		args[i].s = s;
		args[i].id = i < NPUSH ? i : i - NPUSH;
		assert_int_equal(pthread_create(&t[i], NULL,
						i < NPUSH ? pusher : popper,
						&args[i]),
				 0);
	}
	for (i = 0; i < NPUSH + NPOP; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
}

static void test_mpmc_stress(void **state)
{
	struct fx *f = *state;
	struct stress s;
	uint64_t seq, v, bad = 0;
	uint32_t i;

	memset(&s, 0, sizeof(s));
	s.seg = &f->seg;
	s.n = tu_scaled(200000, 2000);
	for (i = 0; i < NPUSH; i++) {
		s.counts[i] = calloc(s.n, sizeof(uint32_t));
		assert_non_null(s.counts[i]);
	}
	run_stress(&s);
	for (i = 0; i < NPUSH; i++) {
		for (seq = 0; seq < s.n; seq++)
			if (s.counts[i][seq] != 1)
				bad++;
		free(s.counts[i]);
	}
	assert_int_equal(s.errors, 0);
	assert_int_equal(s.order_errors, 0);
	assert_int_equal(s.popped, s.n * NPUSH);
	assert_int_equal(bad, 0); /* every value popped exactly once */
	assert_int_equal(shmrt__ring_pop(&f->r, &f->in, &v), SHMRT_E_AGAIN);
	assert_int_equal(ld(f->r.enqueue_pos), s.n * NPUSH);
	assert_int_equal(ld(f->r.dequeue_pos), s.n * NPUSH);
}

#define FX(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX(test_geometry),
		FX(test_push_pop_fifo),
		FX(test_pop_empty_again),
		FX(test_push_until_full),
		FX(test_wrap_many_laps),
		FX(test_intents_cleared),
		FX(test_dead_pusher_tombstone),
		FX(test_dead_popper_release),
		FX(test_cell_state_fresh),
		FX(test_mpmc_stress),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
