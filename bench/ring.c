/*
 * bench/ring.c - a raw ring without job semantics: Concurrency Kit's
 * ck_ring in memory shared by a producer and consumer processes.
 *
 * The entries are 64-byte structs copied in and out (CK_RING_PROTOTYPE),
 * like a 64-byte job payload. Both sides poll and yield the CPU after a
 * run of failed polls, so three processes on two cores still progress.
 * This is the ceiling for a cross-process queue: no slots, no states,
 * no wakeups, no crash tolerance. A zero sequence number stops a
 * consumer; each consumer checks what it receives, so a lost or
 * reordered entry fails the run instead of inflating it.
 */
#define _GNU_SOURCE
#include <ck_ring.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "proc.h"
#include "results.h"
#include "shm/os.h"

#define RING_SIZE     4096 /* entries, a power of two */
#define MAX_CONSUMERS 2
#define IDLE_MS	      10000 /* a side that sees no progress this long quits */
#define CHILD_EXIT_MS 20000

struct ring_entry {
	uint64_t seq;
	uint64_t payload[7];
};

CK_RING_PROTOTYPE(bench_ring, ring_entry)

struct ring_report {
	uint64_t count;
	uint64_t last_ns;
	uint64_t disorder; /* SPSC: entries out of sequence */
	uint32_t ready;
} __attribute__((aligned(64)));

struct ring_shared {
	struct ck_ring ring;
	uint32_t go __attribute__((aligned(64)));
	struct ring_report rep[MAX_CONSUMERS];
	struct ring_entry buf[RING_SIZE] __attribute__((aligned(64)));
};

/* Back off after failed polls: pause, then give the CPU away. */
static void backoff(uint32_t *fails)
{
	if (++*fails < 64)
		shmrt__os_cpu_relax();
	else
		sched_yield();
}

static bool ring_get(struct ring_shared *sh, int mpmc, struct ring_entry *e)
{
	return mpmc ? ck_ring_dequeue_mpmc_bench_ring(&sh->ring, sh->buf, e)
		    : ck_ring_dequeue_spsc_bench_ring(&sh->ring, sh->buf, e);
}

static bool ring_put(struct ring_shared *sh, int mpmc, struct ring_entry *e)
{
	return mpmc ? ck_ring_enqueue_mpmc_bench_ring(&sh->ring, sh->buf, e)
		    : ck_ring_enqueue_spsc_bench_ring(&sh->ring, sh->buf, e);
}

/* argv: "spsc"|"mpmc", consumer index */
int bench_ring_child(int argc, char **argv)
{
	struct ring_shared *sh;
	struct ring_report *rep;
	struct ring_entry e;
	uint64_t idle_since = 0, expect = 1;
	uint32_t fails = 0;
	int mpmc, idx;

	if (argc < 2)
		return BENCH_EX_USAGE;
	mpmc = strcmp(argv[0], "mpmc") == 0;
	idx = atoi(argv[1]);
	sh = bench_shared_child(0, NULL);
	if (sh == NULL || idx < 0 || idx >= MAX_CONSUMERS)
		return BENCH_EX_SETUP;
	rep = &sh->rep[idx];
	__atomic_store_n(&rep->ready, 1, __ATOMIC_RELEASE);
	for (;;) {
		if (!ring_get(sh, mpmc, &e)) {
			backoff(&fails);
			if ((fails & 1023) != 0)
				continue;
			if (idle_since == 0)
				idle_since = bench_now_ns();
			else if (bench_now_ns() - idle_since >
				 (uint64_t)IDLE_MS * 1000000u)
				return BENCH_EX_TIMEOUT;
			continue;
		}
		fails = 0;
		idle_since = 0;
		if (e.seq == 0)
			break;
		if (!mpmc && e.seq != expect)
			rep->disorder++;
		expect = e.seq + 1;
		rep->count++;
	}
	__atomic_store_n(&rep->last_ns, bench_now_ns(), __ATOMIC_RELEASE);
	return BENCH_EX_OK;
}

static int produce(struct ring_shared *sh, int mpmc, uint64_t n, int ncons)
{
	struct ring_entry e;
	uint64_t i;
	uint32_t fails = 0;
	uint64_t deadline = bench_deadline_ms(IDLE_MS);

	memset(&e, 0, sizeof(e));
	for (i = 1; i <= n + (uint64_t)ncons; i++) {
		e.seq = i <= n ? i : 0; /* then one stop per consumer */
		e.payload[0] = i;
		while (!ring_put(sh, mpmc, &e)) {
			backoff(&fails);
			if ((fails & 1023) == 0 && bench_now_ns() > deadline)
				return -1;
		}
		if (fails != 0) {
			fails = 0;
			deadline = bench_deadline_ms(IDLE_MS);
		}
	}
	return 0;
}

static int wait_ready(struct ring_shared *sh, int ncons)
{
	uint64_t deadline = bench_deadline_ms(IDLE_MS);
	int i;

	for (i = 0; i < ncons; i++)
		while (!__atomic_load_n(&sh->rep[i].ready, __ATOMIC_ACQUIRE)) {
			if (bench_now_ns() > deadline)
				return -1;
			shmrt__os_sleep_ns(100000);
		}
	return 0;
}

/* Spawn consumers, produce n entries, reap; 0 and the elapsed ns, or -1. */
static int ring_run(struct ring_shared *sh, int fd, int mpmc, int ncons,
		    uint64_t n, uint64_t *elapsed)
{
	struct bench_child kids[MAX_CONSUMERS] = { { 0 } };
	uint64_t t0 = 0, last = 0, total = 0;
	int i, rc = 0;

	memset(sh, 0, sizeof(*sh));
	ck_ring_init(&sh->ring, RING_SIZE);
	for (i = 0; i < ncons && rc == 0; i++) {
		char idx[16];
		const char *args[] = { mpmc ? "mpmc" : "spsc", idx, NULL };

		snprintf(idx, sizeof(idx), "%d", i);
		rc = bench_spawn(&kids[i], "ring", &fd, 1, args);
	}
	if (rc == 0)
		rc = wait_ready(sh, ncons);
	if (rc == 0) {
		t0 = bench_now_ns();
		rc = produce(sh, mpmc, n, ncons);
	}
	for (i = 0; i < ncons; i++)
		if (bench_child_wait(&kids[i], CHILD_EXIT_MS) != 0)
			rc = -1;
	for (i = 0; i < ncons; i++) {
		total += sh->rep[i].count;
		if (sh->rep[i].last_ns > last)
			last = sh->rep[i].last_ns;
		if (sh->rep[i].disorder != 0)
			rc = -1;
	}
	if (rc != 0 || total != n || last <= t0)
		return -1;
	*elapsed = last - t0;
	return 0;
}

int bench_ring_measure(int mpmc, int ncons, uint64_t n, uint64_t *elapsed)
{
	struct ring_shared *sh;
	int fd, rc;

	if (ncons < 1 || ncons > MAX_CONSUMERS)
		return -1;
	sh = bench_shared_new(sizeof(*sh), &fd);
	if (sh == NULL)
		return -1;
	rc = ring_run(sh, fd, mpmc, ncons, n, elapsed);
	bench_shared_free(sh, sizeof(*sh), fd);
	return rc;
}

void bench_ring_round(struct bench_ring_rounds *rr, const struct bench_cfg *c,
		      const char *what)
{
	uint64_t elapsed = 0, n = bench_n(c, 20000, BENCH_RING_ROUND);

	rr->rounds++;
	bench_progress("%s: ck_ring MPMC, round %d", what, rr->rounds);
	if (rr->failed || bench_ring_measure(1, 1, n, &elapsed) != 0) {
		rr->failed = 1;
		return;
	}
	rr->entries += n;
	rr->ns += elapsed;
}

void bench_ring_record(const struct bench_ring_rounds *rr, const char *group,
		       const char *row)
{
	if (rr->failed || rr->ns == 0)
		bench_record_failure(group, row, "ring run broke");
	else
		bench_record_rate(group, row,
				  (double)rr->entries / ((double)rr->ns / 1e9));
}

static void run_ring(int mpmc, int ncons, uint64_t n, const char *row)
{
	uint64_t elapsed = 0;

	if (bench_ring_measure(mpmc, ncons, n, &elapsed) == 0)
		bench_record_rate(G_TPUT_BASE, row,
				  (double)n / ((double)elapsed / 1e9));
	else
		bench_record_failure(G_TPUT_BASE, row,
				     "lost, reordered or stalled entries");
}

void bench_ring(const struct bench_cfg *c)
{
	uint64_t n = bench_n(c, 20000, 4000000);

	bench_group(G_TPUT_BASE, "throughput baselines: 1 producer process, "
				 "consumer processes, 64-byte entries");
	bench_progress("raw ring: ck_ring SPSC 1 -> 1");
	run_ring(0, 1, n, R_RING_SPSC);
	bench_progress("raw ring: ck_ring MPMC 1 -> 1");
	run_ring(1, 1, n, R_RING_MPMC);
	bench_progress("raw ring: ck_ring MPMC 1 -> 2");
	run_ring(1, 2, n, R_RING_MPMC2);
}
