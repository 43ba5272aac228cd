/*
 * src/shm/waitq.h - a wake-one event count shared between processes.
 *
 * Workers of a queue sleep on its waitq; every published job posts once
 * and wakes ONE sleeper (ck_ec wakes them all: with 6 sleeping workers,
 * each job woke 6 threads to find work for one). Two 32-bit words:
 *
 *   seq       the count: every post adds one; sleepers futex-wait on it.
 *   sleepers  how many waiters are between registering and leaving.
 *
 * Protocol:
 *   waiter: v = value(); re-check the condition; wait(v, deadline, mark);
 *           re-check; loop.
 *   poster: make the condition true; post().
 * wait() counts the waiter in `sleepers` and futex-waits on seq == v; post()
 * adds one to seq, then wakes one waiter if `sleepers` is not 0. Both are
 * sequentially consistent, so of "waiter counted itself, then the kernel
 * read seq" and "poster moved seq, then read sleepers" at least one sees
 * the other: either the poster wakes a sleeper, or the waiter finds seq
 * moved and does not sleep. A woken waiter always re-checks its condition
 * (it never returns to its caller without doing so), so the one wake a job
 * makes reaches a waiter that looks for that job.
 *
 * Crash safety: a waiter counts itself, then marks itself in a word of its
 * own participant record (`mark`, holding the queue index + 1), and clears
 * the mark by CAS before it uncounts itself. A waiter that dies
 * asleep leaves its mark; scan, finding the record's process dead, clears
 * the mark by the same CAS and uncounts it (shmrt__waitq_forget), so
 * `sleepers` never stays inflated (which would cost every later post a
 * futex syscall). Exactly one of the two CASes wins.
 *
 * No safety net: a waiter sleeps until a wake or its own deadline, so an
 * idle worker costs no wakeups (ec.h's 1 s cap is not applied here). Two
 * things can cost a job its wake, and both are bounded by the sleeping
 * workers' deadlines (the worker loop's poll, worker_loop.c), after which
 * they look at the queue again: a producer that dies between publishing
 * and posting, and a waiter that is stopped (SIGSTOP) while asleep and
 * is the one a post wakes. The tests' build honours SHMRT_TEST_NO_WAKE=1
 * here too: post moves seq but wakes nobody.
 */
#ifndef SHMRT_WAITQ_H
#define SHMRT_WAITQ_H

#include <stdint.h>

/* Lives in the segment. Zero-initialized is valid. */
struct shmrt__waitq {
	uint32_t seq;
	uint32_t sleepers;
};

/* The current count; an acquire read. */
uint32_t shmrt__waitq_value(const struct shmrt__waitq *wq);

/* Move the count and wake one waiter, if any is counted. */
void shmrt__waitq_post(struct shmrt__waitq *wq);

/* Move the count and wake every waiter (the tenant's state changed). */
void shmrt__waitq_post_all(struct shmrt__waitq *wq);

/*
 * Sleep until the count differs from `old`, a post wakes this waiter, or
 * CLOCK_MONOTONIC passes deadline_ns; callers re-check their condition.
 * `mark` is the caller's own participant word for scan (see above), 0 on
 * entry; `mark_value` is non-zero. Returns with *mark 0 again.
 */
void shmrt__waitq_wait(struct shmrt__waitq *wq, uint32_t old,
		       uint64_t deadline_ns, uint32_t *mark,
		       uint32_t mark_value);

/*
 * Scan's side: a dead waiter's mark still holds mark_value: clear it and
 * uncount the waiter. Returns 1 if this call uncounted it, else 0.
 */
int shmrt__waitq_forget(struct shmrt__waitq *wq, uint32_t *mark,
			uint32_t mark_value);

#endif /* SHMRT_WAITQ_H */
