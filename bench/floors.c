/*
 * bench/floors.c - the two floors every latency is measured against.
 *
 * Two processes hand one 32-bit word back and forth (ping-pong):
 *   - spin: each side polls the word; the handoff costs one cache-line
 *     transfer between cores. Nothing can be faster across processes.
 *   - futex: each side sleeps on the word (FUTEX_WAIT_BITSET, not
 *     process-private, through shmrt's own os layer) and is woken by the
 *     other's FUTEX_WAKE: the cost of a kernel wakeup. Before each ping
 *     the parent waits until the child is asleep in the kernel.
 * The parent reads the clock and writes 2i-1; the child, as soon as it
 * sees the word, reads the clock into the same cache line and answers
 * 2i. A sample is the one-way time between the two clock reads: the
 * same method as shmrt's enqueue->start (shmrt_latency.c), so the two
 * compare like for like. CLOCK_MONOTONIC is one clock for all processes.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "proc.h"
#include "results.h"
#include "shm/os.h"

#define STOP_WORD    0xffffffffu
#define WAIT_MS	     10000 /* one handoff never takes this long */
#define CHILD_WAIT_MS 20000

#define ASLEEP_MS     100

struct floor_shared {
	uint32_t word __attribute__((aligned(64)));
	uint32_t pad;
	uint64_t t_seen; /* the child's clock when it saw the ping */
	uint32_t ready __attribute__((aligned(64)));
};

static uint32_t load(const uint32_t *w)
{
	return __atomic_load_n(w, __ATOMIC_ACQUIRE);
}

static void store(uint32_t *w, uint32_t v)
{
	__atomic_store_n(w, v, __ATOMIC_RELEASE);
}

/* Spin until *w == want (or STOP). 0, or -1 past the deadline. */
static int spin_until(const uint32_t *w, uint32_t want, uint64_t deadline)
{
	uint32_t n = 0;

	for (;;) {
		uint32_t v = load(w);

		if (v == want || v == STOP_WORD)
			return 0;
		shmrt__os_cpu_relax();
		if ((++n & 0xffff) == 0 && bench_now_ns() > deadline)
			return -1;
	}
}

/* Sleep on the futex until *w == want (or STOP). */
static int futex_until(const uint32_t *w, uint32_t want, uint64_t deadline)
{
	for (;;) {
		uint32_t v = load(w);

		if (v == want || v == STOP_WORD)
			return 0;
		if (bench_now_ns() > deadline)
			return -1;
		shmrt__os_futex_wait(w, v, deadline);
	}
}

int bench_floors_child(int argc, char **argv)
{
	struct floor_shared *sh;
	int futex;
	uint32_t i;

	if (argc < 1)
		return BENCH_EX_USAGE;
	futex = strcmp(argv[0], "futex") == 0;
	sh = bench_shared_child(0, NULL);
	if (sh == NULL)
		return BENCH_EX_SETUP;
	store(&sh->ready, 1);
	for (i = 1;; i++) {
		uint64_t deadline = bench_deadline_ms(WAIT_MS);
		int rc = futex ? futex_until(&sh->word, 2 * i - 1, deadline)
			       : spin_until(&sh->word, 2 * i - 1, deadline);

		if (rc != 0)
			return BENCH_EX_TIMEOUT;
		__atomic_store_n(&sh->t_seen, bench_now_ns(), __ATOMIC_RELAXED);
		if (load(&sh->word) == STOP_WORD)
			return BENCH_EX_OK;
		store(&sh->word, 2 * i);
		if (futex)
			shmrt__os_futex_wake_all(&sh->word);
	}
}

/*
 * Wait (bounded) until the child sleeps in the kernel. Returns 0 on a
 * timeout, after which the caller stops asking (e.g. /proc hides it).
 */
static int wait_asleep(pid_t child)
{
	uint64_t deadline = bench_deadline_ms(ASLEEP_MS);

	while (bench_now_ns() < deadline)
		if (bench_task_sleeping(child))
			return 1;
	return 0;
}

/* Warmup + n pings; each sample is the one-way time of one ping. */
static int pingpong(struct floor_shared *sh, pid_t child, int futex,
		    uint64_t warmup, struct bench_samples *s)
{
	uint64_t total = warmup + s->cap, i;
	int by_state = 1;

	for (i = 1; i <= total; i++) {
		uint32_t ping = (uint32_t)(2 * i - 1);
		uint64_t deadline = bench_deadline_ms(WAIT_MS);
		uint64_t t0;
		int rc;

		if (futex && by_state && !wait_asleep(child))
			by_state = 0;
		t0 = bench_now_ns();
		store(&sh->word, ping);
		if (futex) {
			shmrt__os_futex_wake_all(&sh->word);
			rc = futex_until(&sh->word, ping + 1, deadline);
		} else {
			rc = spin_until(&sh->word, ping + 1, deadline);
		}
		if (rc != 0)
			return -1;
		if (i > warmup)
			bench_samples_add(s, __atomic_load_n(&sh->t_seen,
							     __ATOMIC_RELAXED) -
						     t0);
	}
	return 0;
}

int bench_floor_measure(int futex, uint64_t n, struct bench_samples *s)
{
	const char *args[] = { futex ? "futex" : "spin", NULL };
	struct bench_child child;
	struct bench_samples chunk;
	struct floor_shared *sh;
	uint64_t i;
	int fd, rc = -1;

	sh = bench_shared_new(sizeof(*sh), &fd);
	if (sh == NULL)
		return -1;
	if (bench_samples_init(&chunk, n) == 0 &&
	    bench_spawn(&child, "floor", &fd, 1, args) == 0) {
		if (spin_until(&sh->ready, 1, bench_deadline_ms(WAIT_MS)) == 0 &&
		    load(&sh->ready) == 1)
			rc = pingpong(sh, child.pid, futex, n / 10 + 100,
				      &chunk);
		store(&sh->word, STOP_WORD);
		shmrt__os_futex_wake_all(&sh->word);
		if (bench_child_wait(&child, CHILD_WAIT_MS) != 0)
			rc = -1;
	}
	for (i = 0; rc == 0 && i < chunk.n; i++)
		bench_samples_add(s, chunk.v[i]);
	bench_samples_free(&chunk);
	bench_shared_free(sh, sizeof(*sh), fd);
	return rc;
}

static void run_floor(int futex, uint64_t n, const char *row)
{
	struct bench_samples s;

	if (bench_samples_init(&s, n) != 0) {
		bench_record_failure(G_FLOORS, row, "out of memory");
		return;
	}
	if (bench_floor_measure(futex, n, &s) == 0)
		bench_record_latency(G_FLOORS, row, &s);
	else
		bench_record_failure(G_FLOORS, row, "%s ping-pong stalled",
				     futex ? "futex" : "spin");
	bench_samples_free(&s);
}

void bench_floors(const struct bench_cfg *c)
{
	bench_group(G_FLOORS, "floors: one-way handoff between two processes, "
			      "stamped on both sides");
	bench_progress("floors: spin ping-pong");
	run_floor(0, bench_n(c, 2000, 500000), R_SPIN_FLOOR);
	bench_progress("floors: futex ping-pong");
	run_floor(1, bench_n(c, 300, 50000), R_FUTEX_FLOOR);
}
