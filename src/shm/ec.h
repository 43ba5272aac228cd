/*
 * src/shm/ec.h - event counts shared between processes.
 *
 * A thin layer over Concurrency Kit's ck_ec32 with futex ops that are NOT
 * process-private (see os.h), so a waiter in one process is woken by an
 * incrementer in another. Always the multiple-producer mode: any process may
 * increment, and ck_ec's single_producer mode is only correct with exactly
 * one incrementer in the whole system.
 *
 * Protocol (the usual event-count one):
 *   waiter:  v = shmrt__ec_value(ec); if (condition) done;
 *            shmrt__ec_wait(ec, v, deadline); re-check condition; loop.
 *   waker:   make the condition true; shmrt__ec_inc(ec).
 * shmrt__ec_inc makes a futex wake system call only when a waiter has
 * flagged the count; otherwise it is one atomic add.
 */
#ifndef SHMRT_EC_H
#define SHMRT_EC_H

#include <stdbool.h>
#include <stdint.h>

/* One 32-bit word; lives in the segment. Zero-initialized is valid. */
struct shmrt__ec {
	uint32_t counter;
};

/* The current value; an acquire read. */
uint32_t shmrt__ec_value(const struct shmrt__ec *ec);

/* Whether a waiter asked for a wake system call. */
bool shmrt__ec_has_waiters(const struct shmrt__ec *ec);

/* Increment (a release write) and wake every waiter if one is flagged. */
void shmrt__ec_inc(struct shmrt__ec *ec);

/*
 * Sleep until the value differs from `old` or CLOCK_MONOTONIC passes the
 * absolute `deadline_ns`. Returns 0 when the value changed, SHMRT_E_TIMEDOUT
 * on the deadline. Callers re-check their real condition afterwards.
 */
int shmrt__ec_wait(struct shmrt__ec *ec, uint32_t old, uint64_t deadline_ns);

/*
 * Safety nets, and how tests turn them off.
 *
 * A sleeper normally wakes up on its own even when no wake arrives: each
 * shmrt__ec_wait sleeps at most 1 s (SHMRT__EC_SLICE_NS). (ck_ec's own
 * backoff, which woke a sleeper after 2 ms, 16 ms, 128 ms, ..., is not
 * used: every sleep lasts to its deadline.) The cap bounds the cost of a
 * wake lost to any cause, and by the same token it hides a broken wake
 * from tests: a sleeper whose wake never comes still gets there within
 * a second.
 *
 * FOR TESTS ONLY: with SHMRT_TEST_NO_WAKE_NET=1 in the environment when a
 * process first waits (it is read once, then fixed for the process's
 * life), the net is off: a waiter sleeps on the futex until the
 * caller's deadline, and only a real futex wake (or a change of the count
 * before it fell asleep) ends the sleep early. A lost wake then costs the
 * whole deadline, which a test sees. Forked children inherit the setting;
 * exec'd ones read the same environment. Costs nothing on the fast path:
 * it is read only on the way to sleep, never by shmrt__ec_inc.
 *
 * shmrt__ec_net_enabled tells whether the nets are on in this process
 * (and reads the variable if nobody has yet); thread-safe.
 *
 * FOR TESTS ONLY, and only in the tests' build of the library
 * (shmrt_test_static, compiled with SHMRT_TEST_HOOKS; nothing shipped has
 * it): with SHMRT_TEST_NO_WAKE=1, also read once, shmrt__ec_inc still
 * moves the count and clears the waiter flag but makes no futex wake, so
 * a sleeper is never woken. It shows that the wake tests fail without the
 * wake (tests/CMakeLists.txt runs them so, and expects them to fail).
 */
bool shmrt__ec_net_enabled(void);

/* Whether SHMRT_TEST_NO_WAKE=1 is in force (tests' build only; else false). */
bool shmrt__ec_test_no_wake(void);

#endif /* SHMRT_EC_H */
