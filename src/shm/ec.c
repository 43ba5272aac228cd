/*
 * src/shm/ec.c - ck_ec ops for cross-process event counts.
 */
#define _GNU_SOURCE
#include "ec.h"

#include <ck_ec.h>
#include <shmrt/error.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "os.h"

_Static_assert(sizeof(struct shmrt__ec) == sizeof(struct ck_ec32),
	       "shmrt__ec must overlay ck_ec32");

static int ec_gettime(const struct ck_ec_ops *ops, struct timespec *out)
{
	(void)ops;
	return clock_gettime(CLOCK_MONOTONIC, out);
}

static uint64_t timespec_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

/*
 * ck_ec passes the deadline of one backoff iteration (absolute, on the
 * clock of ec_gettime) or NULL; shmrt's own waits always bound it, so NULL
 * only shows up inside ck_ec's backoff and is capped at one second.
 */
static void ec_wait32(const struct ck_ec_wait_state *state,
		      const uint32_t *word, uint32_t expected,
		      const struct timespec *deadline)
{
	uint64_t limit;

	(void)state;
	if (deadline != NULL)
		limit = timespec_ns(deadline);
	else
		limit = shmrt__os_now_ns() + 1000000000u;
	shmrt__os_futex_wait(word, expected, limit);
}

/*
 * A boolean switch from the environment ("1" = on), read once and cached
 * in *cache: 0 = not read yet, 1 = off, 2 = on. Racing first readers
 * store the same answer, so relaxed atomics suffice.
 */
static bool env_switch(int *cache, const char *name)
{
	int s = __atomic_load_n(cache, __ATOMIC_RELAXED);

	if (s == 0) {
		const char *e = getenv(name);

		s = e != NULL && strcmp(e, "1") == 0 ? 2 : 1;
		__atomic_store_n(cache, s, __ATOMIC_RELAXED);
	}
	return s == 2;
}

bool shmrt__ec_test_no_wake(void)
{
#ifdef SHMRT_TEST_HOOKS
	static int no_wake;

	return env_switch(&no_wake, "SHMRT_TEST_NO_WAKE");
#else
	return false;
#endif
}

/* Called by ck_ec only when a waiter flagged the count (see ec.h). */
static void ec_wake32(const struct ck_ec_ops *ops, const uint32_t *word)
{
	(void)ops;
	if (!shmrt__ec_test_no_wake())
		shmrt__os_futex_wake_all(word);
}

static const struct ck_ec_ops shmrt__ec_ops = {
	.gettime = ec_gettime,
	.wait32 = ec_wait32,
	.wake32 = ec_wake32,
	/* 0 selects ck_ec's defaults for the spin and backoff. */
};

static const struct ck_ec_mode shmrt__ec_mode = {
	.ops = &shmrt__ec_ops,
	.single_producer = false,
};

static struct ck_ec32 *as_ck(const struct shmrt__ec *ec)
{
	return (struct ck_ec32 *)(uintptr_t)ec;
}

uint32_t shmrt__ec_value(const struct shmrt__ec *ec)
{
	return ck_ec32_value(as_ck(ec));
}

bool shmrt__ec_has_waiters(const struct shmrt__ec *ec)
{
	return ck_ec32_has_waiters(as_ck(ec));
}

void shmrt__ec_inc(struct shmrt__ec *ec)
{
	ck_ec32_inc(as_ck(ec), &shmrt__ec_mode);
}

bool shmrt__ec_net_enabled(void)
{
	static int no_net;

	return !env_switch(&no_net, "SHMRT_TEST_NO_WAKE_NET");
}

/*
 * ck_ec would sleep in backoff iterations (2 ms, 16 ms, 128 ms, 1 s, ...),
 * each a wakeup of an idle sleeper. Every iteration sleeps to the wait's
 * own deadline instead, so the only thing that ends a sleep early is a
 * futex wake (or a change of the word before the sleep begins). ck_ec's
 * docs call
 * moving an iteration's deadline later "a bad idea" because of its
 * single-producer mode, where an increment may drop the waiter flag;
 * shmrt uses the multiple-producer mode only, whose increments are
 * atomic read-modify-writes that always see the flag.
 */
static int sleep_to_deadline(const struct ck_ec_wait_state *state,
			     struct timespec *iteration_deadline)
{
	*iteration_deadline = *(const struct timespec *)state->data;
	return 0;
}

/*
 * Each sleep is also capped at SHMRT__EC_SLICE_NS, after which the caller
 * re-checks its condition (every caller loops): a safety net, not the wake
 * mechanism, so a wake lost to any cause (a waker that died between
 * making the condition true and waking) costs at most one slice. One
 * second: often enough for that rare loss, rare enough that a sleeper
 * costs nothing measurable (workers do not sleep here: waitq.h).
 */
#define SHMRT__EC_SLICE_NS 1000000000ull

int shmrt__ec_wait(struct shmrt__ec *ec, uint32_t old, uint64_t deadline_ns)
{
	struct timespec deadline;
	uint64_t until = deadline_ns;
	bool net = shmrt__ec_net_enabled();

	if (net) {
		uint64_t slice = shmrt__os_now_ns() + SHMRT__EC_SLICE_NS;

		if (slice < until)
			until = slice;
	}
	deadline.tv_sec = (time_t)(until / 1000000000u);
	deadline.tv_nsec = (long)(until % 1000000000u);
	if (ck_ec32_wait_pred(as_ck(ec), &shmrt__ec_mode, old,
			      sleep_to_deadline, &deadline, &deadline) != 0)
		return until == deadline_ns ? SHMRT_E_TIMEDOUT : 0;
	return 0;
}
