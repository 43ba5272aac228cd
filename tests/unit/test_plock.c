/*
 * tests/unit/test_plock.c - the owner-word lock (src/shm/plock.h) on its
 * own, in MAP_SHARED memory shared with forked children:
 *  - free: taken and given back, the word names our process;
 *  - unlock never clears a lock that is not ours;
 *  - values that name no live process (all ones, pid 0 or negative, a
 *    pid above the kernel's limit, a pid that just died, pid 1 with
 *    another start time) are taken over with SHMRT__LOCK_OWNER_DIED;
 *  - a live holder in another process is waited for and never taken
 *    over, even stopped: SHMRT_E_BUSY at the deadline;
 *  - another thread of our process holding it: BUSY, never OWNER_DIED;
 *  - a holder killed while we wait: OWNER_DIED within the re-check
 *    interval, far below the deadline (a dead holder wakes nobody);
 *  - an unlock wakes a sleeping waiter at once, not at the re-check;
 *  - mutual exclusion between threads and between processes: a counter
 *    incremented non-atomically under the lock ends exact.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <shmrt/error.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm/os.h"
#include "shm/participant.h"
#include "shm/plock.h"
#include "testutil.h"

#define MS 1000000ull

/* Shared with children: the lock, a handshake word, a counter. */
struct shared {
	struct shmrt__plock lock;
	uint32_t step;
	uint32_t pad;
	volatile uint64_t counter;
};

static struct shared *sh;

static int setup(void **state)
{
	(void)state;
	sh = tu_shared_alloc(sizeof(*sh));
	if (sh == NULL)
		return -1;
	shmrt__plock_init(&sh->lock);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_shared_free(sh, sizeof(*sh));
	return 0;
}

static void set_step(uint32_t s)
{
	__atomic_store_n(&sh->step, s, __ATOMIC_RELEASE);
}

/* Waits (up to 10 s) until the handshake word reaches `s`. */
static bool await_step(uint32_t s)
{
	uint64_t give_up = tu_deadline_ms(10000);

	while (__atomic_load_n(&sh->step, __ATOMIC_ACQUIRE) < s)
		if (shmrt__os_now_ns() > give_up)
			return false;
	return true;
}

static void put_owner(uint64_t owner)
{
	__atomic_store_n(&sh->lock.owner, owner, __ATOMIC_RELEASE);
}

/* A child that takes the lock, says so (step 1), and waits for step 2
 * to release it and exit. With `stop`, it stops itself while holding. */
static pid_t spawn_holder(bool stop)
{
	pid_t pid = tu_fork(90);

	if (pid == 0) {
		if (shmrt__plock_lock(&sh->lock, tu_deadline_ms(5000)) != 0)
			_exit(1);
		set_step(1);
		if (stop)
			raise(SIGSTOP);
		if (!await_step(2))
			_exit(2);
		_exit(shmrt__plock_unlock(&sh->lock) ? 0 : 3);
	}
	assert_true(await_step(1));
	return pid;
}

static void test_free_lock(void **state)
{
	(void)state;
	assert_int_equal(shmrt__plock_holder(&sh->lock), 0);
	assert_int_equal(shmrt__plock_lock(&sh->lock, 0), 0);
	assert_int_equal(shmrt__plock_holder(&sh->lock),
			 shmrt__part_owner_self());
	assert_true(shmrt__plock_unlock(&sh->lock));
	assert_int_equal(shmrt__plock_holder(&sh->lock), 0);
	assert_false(shmrt__plock_unlock(&sh->lock)); /* not held */
}

/* A holder whose lock was taken over must not clear the new holder's. */
static void test_unlock_only_ours(void **state)
{
	uint64_t other = ((uint64_t)1 << 32) | 12345u;

	(void)state;
	put_owner(other);
	assert_false(shmrt__plock_unlock(&sh->lock));
	assert_int_equal(shmrt__plock_holder(&sh->lock), other);
}

/* A pid that no process has: a child's, once it is reaped. */
static pid_t dead_pid(void)
{
	pid_t pid = tu_fork(0);

	if (pid == 0)
		_exit(0);
	assert_int_equal(tu_wait_child(pid, 10000), 0);
	return pid;
}

static void expect_taken_over(uint64_t garbage)
{
	uint64_t t0;

	put_owner(garbage);
	t0 = shmrt__os_now_ns();
	assert_int_equal(shmrt__plock_lock(&sh->lock, tu_deadline_ms(5000)),
			 SHMRT__LOCK_OWNER_DIED);
	/* Judged at once, not after a wait. */
	assert_true(shmrt__os_now_ns() - t0 < 1000 * MS);
	assert_int_equal(shmrt__plock_holder(&sh->lock),
			 shmrt__part_owner_self());
	assert_true(shmrt__plock_unlock(&sh->lock));
}

static void test_impossible_holders_taken_over(void **state)
{
	uint64_t start1 = shmrt__os_proc_start_time(1);
	uint64_t gone = (uint64_t)(uint32_t)dead_pid() << 32 | 7u;

	(void)state;
	expect_taken_over(UINT64_MAX);
	expect_taken_over(0x00000000deadbeefull);          /* pid 0 */
	expect_taken_over(0x80000000deadbeefull);          /* pid < 0 */
	expect_taken_over(((uint64_t)(1u << 22) + 1) << 32); /* > limit */
	expect_taken_over(gone);
	if (start1 != 0) /* pid 1 alive, with another start time */
		expect_taken_over((uint64_t)1 << 32 |
				  (((start1 & 0xffffffffu) + 1) & 0xffffffffu));
}

/* A live holder in another process, even a stopped one, is never taken
 * over: BUSY at the deadline; once it releases, the lock is ours. */
static void test_live_and_stopped_holders_wait(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < 2; i++) {
		bool stop = i == 1;
		pid_t pid = spawn_holder(stop);
		uint64_t t0 = shmrt__os_now_ns(), took;

		if (stop)
			assert_int_equal(tu_wait_stopped(pid, 10000), 0);
		assert_int_equal(shmrt__plock_lock(&sh->lock,
						   tu_deadline_ms(60)),
				 SHMRT_E_BUSY);
		took = shmrt__os_now_ns() - t0;
		assert_true(took >= 60 * MS && took < 2000 * MS);
		assert_int_equal(shmrt__plock_holder(&sh->lock) >> 32,
				 (uint64_t)pid);
		set_step(2);
		if (stop)
			kill(pid, SIGCONT);
		assert_int_equal(shmrt__plock_lock(&sh->lock,
						   tu_deadline_ms(5000)),
				 0);
		assert_true(shmrt__plock_unlock(&sh->lock));
		assert_int_equal(tu_wait_child(pid, 10000), 0);
		set_step(0);
	}
}

static void *hold_then_release(void *arg)
{
	(void)arg;
	if (shmrt__plock_lock(&sh->lock, tu_deadline_ms(5000)) != 0)
		return (void *)1;
	set_step(1);
	await_step(2);
	return shmrt__plock_unlock(&sh->lock) ? NULL : (void *)2;
}

/* Our own process holding it (another thread) is alive by definition. */
static void test_own_thread_holder_not_dead(void **state)
{
	pthread_t t;
	void *ret;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, hold_then_release, NULL), 0);
	assert_true(await_step(1));
	assert_int_equal(shmrt__plock_lock(&sh->lock, tu_deadline_ms(30)),
			 SHMRT_E_BUSY);
	set_step(2);
	assert_int_equal(pthread_join(t, &ret), 0);
	assert_null(ret);
	assert_int_equal(shmrt__plock_lock(&sh->lock, 0), 0);
	assert_true(shmrt__plock_unlock(&sh->lock));
}

struct killer {
	pid_t victim;
	uint64_t killed_ns;
};

static void *kill_after_50ms(void *arg)
{
	struct killer *k = arg;

	shmrt__os_sleep_ns(50 * MS);
	__atomic_store_n(&k->killed_ns, shmrt__os_now_ns(), __ATOMIC_RELEASE);
	kill(k->victim, SIGKILL);
	return NULL;
}

/* A holder that dies while we sleep on the lock wakes nobody: the
 * waiter's re-check finds it within SHMRT__PLOCK_RECHECK_NS. */
static void test_holder_killed_while_waited_for(void **state)
{
	struct killer k = { 0, 0 };
	pthread_t t;
	uint64_t noticed;

	(void)state;
	k.victim = spawn_holder(false);
	assert_int_equal(pthread_create(&t, NULL, kill_after_50ms, &k), 0);
	assert_int_equal(shmrt__plock_lock(&sh->lock, tu_deadline_ms(5000)),
			 SHMRT__LOCK_OWNER_DIED);
	noticed = shmrt__os_now_ns();
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(noticed - k.killed_ns < 1000 * MS);
	assert_true(shmrt__plock_unlock(&sh->lock));
	assert_int_equal(tu_wait_child(k.victim, 10000), 128 + SIGKILL);
}

/*
 * The unlock's wake reaches a sleeping waiter at once. Without it the
 * waiter would still get the lock at its next re-check (up to 10 ms
 * later), so the median latency over 15 rounds must be far below that.
 */
static void test_unlock_wakes_sleeper(void **state)
{
	uint64_t lat[15], t0;
	int i, j;

	(void)state;
	for (i = 0; i < 15; i++) {
		pid_t pid;

		set_step(0);
		pid = tu_fork(90);
		if (pid == 0) {
			if (!await_step(1))
				_exit(1);
			if (shmrt__plock_lock(&sh->lock,
					      tu_deadline_ms(5000)) != 0)
				_exit(2);
			sh->counter = shmrt__os_now_ns();
			_exit(shmrt__plock_unlock(&sh->lock) ? 0 : 3);
		}
		assert_int_equal(shmrt__plock_lock(&sh->lock, 0), 0);
		set_step(1);
		shmrt__os_sleep_ns(3 * MS); /* the child is asleep by now */
		t0 = shmrt__os_now_ns();
		assert_true(shmrt__plock_unlock(&sh->lock));
		assert_int_equal(tu_wait_child(pid, 10000), 0);
		lat[i] = sh->counter - t0;
	}
	for (i = 1; i < 15; i++)
		for (j = i; j > 0 && lat[j - 1] > lat[j]; j--) {
			uint64_t x = lat[j];

			lat[j] = lat[j - 1];
			lat[j - 1] = x;
		}
	print_message("wake latency median %llu us\n",
		      (unsigned long long)(lat[7] / 1000));
	assert_true(lat[7] < 2 * MS);
}

#define THREADS 3

/* Increments the counter `n` times under the lock, non-atomically, with
 * a pause between read and write so that a lapse would lose counts. */
static int count_under_lock(uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++) {
		uint64_t c;

		if (shmrt__plock_lock(&sh->lock, tu_deadline_ms(10000)) != 0)
			return 1;
		c = sh->counter;
		shmrt__os_cpu_relax();
		sh->counter = c + 1;
		if (!shmrt__plock_unlock(&sh->lock))
			return 2;
	}
	return 0;
}

static uint64_t rounds;

static void *counting_thread(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)count_under_lock(rounds);
}

/* THREADS threads of this process: 0 when every one counted fine. */
static int count_in_threads(void)
{
	pthread_t t[THREADS];
	int i, bad = 0;

	for (i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, counting_thread, NULL) != 0)
			return 10;
	for (i = 0; i < THREADS; i++) {
		void *ret;

		pthread_join(t[i], &ret);
		bad |= (int)(intptr_t)ret;
	}
	return bad;
}

static void test_threads_exclude_each_other(void **state)
{
	(void)state;
	rounds = tu_scaled(20000, 500);
	sh->counter = 0;
	assert_int_equal(count_in_threads(), 0);
	assert_int_equal(sh->counter, THREADS * rounds);
}

static void test_processes_exclude_each_other(void **state)
{
	pid_t pid[2];
	int i;

	(void)state;
	rounds = tu_scaled(20000, 500);
	sh->counter = 0;
	for (i = 0; i < 2; i++) {
		pid[i] = tu_fork(90);
		if (pid[i] == 0)
			_exit(count_in_threads());
	}
	for (i = 0; i < 2; i++)
		assert_int_equal(tu_wait_child(pid[i], 60000), 0);
	assert_int_equal(sh->counter, 2 * THREADS * rounds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_free_lock, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unlock_only_ours, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_impossible_holders_taken_over, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_live_and_stopped_holders_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_own_thread_holder_not_dead, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_holder_killed_while_waited_for, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unlock_wakes_sleeper,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_threads_exclude_each_other, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_processes_exclude_each_other, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
