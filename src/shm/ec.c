/*
 * src/shm/ec.c - ck_ec ops for cross-process event counts.
 */
#define _GNU_SOURCE
#include "ec.h"

#include <ck_ec.h>
#include <shmrt/error.h>
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

static void ec_wake32(const struct ck_ec_ops *ops, const uint32_t *word)
{
	(void)ops;
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

/*
 * Each sleep is capped at SHMRT__EC_SLICE_NS, after which the caller
 * re-checks its condition (every caller loops). This is a safety net, not
 * the wake mechanism: with 9 processes on 2 cores (multiprocess_ring_mpmc
 * 4x4) a sleeper was seen to miss a wake and sleep to its deadline; until
 * that is root-caused, a missed wake costs at most one slice.
 */
#define SHMRT__EC_SLICE_NS 50000000ull

int shmrt__ec_wait(struct shmrt__ec *ec, uint32_t old, uint64_t deadline_ns)
{
	struct timespec deadline;
	uint64_t slice = shmrt__os_now_ns() + SHMRT__EC_SLICE_NS;
	uint64_t until = deadline_ns < slice ? deadline_ns : slice;

	deadline.tv_sec = (time_t)(until / 1000000000u);
	deadline.tv_nsec = (long)(until % 1000000000u);
	if (ck_ec32_wait(as_ck(ec), &shmrt__ec_mode, old, &deadline) != 0)
		return until == deadline_ns ? SHMRT_E_TIMEDOUT : 0;
	return 0;
}
