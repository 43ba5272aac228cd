/*
 * tests/fault/test_lock_holders.c - the segment's locks (each queue's
 * state lock, the header's repair lock) with corrupt bytes and with a
 * stopped holder.
 *
 * test_corrupt_lock_bytes: for each kind of garbage (all ones, the bytes
 * of a robust PI pthread mutex held by a thread that does not exist, an
 * owner word naming a dead pid, pid 1 with another start time, random
 * bytes), written over every lock of a live segment, a forked child
 * submits a laned job and a keyed job and runs a scan: each call takes
 * the lock over, the process never aborts. The child does the calls so
 * that an abort (glibc asserted in pthread_mutex_timedlock on the PI
 * bytes) shows as the child's exit status, and this test reports it
 * instead of dying.
 *
 * test_stopped_holder_does_not_stall_scan: a process takes a laned
 * queue's state lock and stops (SIGSTOP). The queue has cancelled jobs
 * past retention still linked into their lane, each of whose frees
 * needs that lock. Scan returns far below the 5 s lock wait (it waits
 * SHMRT__QSTATE_SCAN_LOCK_MS for the queue, skips it, counts locks_busy
 * 1), leaves the lock to its holder, and still does the other queue's
 * keyed work. After SIGCONT the holder finishes, the next scan frees the
 * jobs, and the lane moves on.
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
#include <sys/wait.h>
#include <unistd.h>

#include "shm/job.h"
#include "shm/os.h"
#include "shm/participant.h"
#include "shm/qstate.h"
#include "shm/scan.h"
#include "shm/segment.h"
#include "testutil.h"

#define MS 1000000ull
#define SLOT 32u
#define QL 0 /* laned queue */
#define QK 1 /* keyed queue */
#define NCANCELLED 3

static void open_seg(struct shmrt__seg *seg, uint64_t retention_ns)
{
	struct shmrt__seg_params p;

	tu_params_one_queue(&p, 16, SLOT, 8);
	p.nqueues = 2;
	p.queue[QL].nlanes = 4;
	p.queue[QK] = p.queue[QL];
	p.queue[QK].name = "q1";
	p.queue[QK].nlanes = 0;
	p.queue[QK].nidem = 8;
	p.queue[QK].idem_ttl_ns = 60000 * MS;
	p.tun.retention_ns = retention_ns;
	assert_int_equal(shmrt__seg_create(NULL, &p, seg), 0);
}

static int submit(struct shmrt__part *p, uint32_t qi, const char *lane,
		  const char *key, shmrt_job_id *id)
{
	struct shmrt__submit sub = { 0 };

	sub.payload = "x";
	sub.len = 1;
	sub.lane = lane;
	sub.lane_len = lane != NULL ? strlen(lane) : 0;
	sub.key = key;
	sub.key_len = key != NULL ? strlen(key) : 0;
	return shmrt__job_submit(p, qi, &sub, id);
}

/* Garbage for a lock: `len` bytes of `word`, repeated over its bytes. */
struct garbage {
	const char *what;
	uint32_t word[5];
	size_t len;
};

/* Every lock of the segment gets garbage g. */
static void corrupt_locks(struct shmrt__seg *seg, const struct garbage *g)
{
	unsigned char *locks[3] = {
		(unsigned char *)&seg->hdr->repair_lock,
		(unsigned char *)&seg->q[QL].ctl->state_lock,
		(unsigned char *)&seg->q[QK].ctl->state_lock,
	};
	size_t size = sizeof(seg->hdr->repair_lock), i, k;

	for (k = 0; k < 3; k++)
		for (i = 0; i < size; i++)
			locks[k][i] =
				((const unsigned char *)g->word)[i % g->len];
}

/* In a child: the calls that take the locks. Exit 0 when all worked. */
static int use_locks(struct shmrt__seg *seg)
{
	struct shmrt__part p;
	struct shmrt__scan_report rep;
	shmrt_job_id id;

	if (shmrt__part_join(seg, SHMRT__ROLE_PRODUCER, &p) != 0)
		return 1;
	if (submit(&p, QL, "lane", NULL, &id) != 0)
		return 2;
	if (submit(&p, QK, NULL, "key", &id) != 0)
		return 3;
	if (shmrt__scan(&p, tu_deadline_ms(5000), &rep) != 0)
		return 4;
	shmrt__part_leave(&p);
	return 0;
}

/* A pid that no process has: a child's, once it is reaped. */
static uint32_t dead_pid(void)
{
	pid_t pid = tu_fork(0);

	if (pid == 0)
		_exit(0);
	assert_int_equal(tu_wait_child(pid, 10000), 0);
	return (uint32_t)pid;
}

/*
 * The PI case, in glibc's x86-64 layout (__lock at 0, __kind at 16):
 * a lock word naming a thread that does not exist, and the kind of a
 * robust, process-shared, priority-inheriting mutex (0x80 | 0x20 |
 * 0x10). pthread_mutex_timedlock gets ESRCH from the kernel and asserts
 * `e != ESRCH || !robust`. As an owner word it is pid 0: no process.
 */
static void test_corrupt_lock_bytes(void **state)
{
	uint32_t dead = dead_pid();
	uint32_t start1 = (uint32_t)shmrt__os_proc_start_time(1);
	const struct garbage garbage[] = {
		{ "all ones", { UINT32_MAX }, 4 },
		{ "robust PI mutex, dead tid", { dead, 0, 0, 0, 0xb0 }, 20 },
		{ "dead pid", { 4242, dead }, 8 },
		{ "pid 1, other start time", { start1 + 1, 1 }, 8 },
		{ "random", { 0xf00dcafe, 0x5a3c96e1 }, 8 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		struct shmrt__seg seg;
		pid_t pid;
		int code;

		open_seg(&seg, 60000 * MS);
		corrupt_locks(&seg, &garbage[i]);
		pid = tu_fork(90);
		if (pid == 0)
			_exit(use_locks(&seg));
		code = tu_wait_child(pid, 30000);
		if (code != 0)
			print_error("%s: child exit %d (%d = abort)\n",
				    garbage[i].what, code, 128 + SIGABRT);
		assert_int_equal(code, 0);
		shmrt__seg_detach(&seg);
	}
}

/* The child: take queue QL's state lock, say so, stop, then release. */
static int hold_and_stop(struct shmrt__seg *seg, uint32_t *held)
{
	struct shmrt__part p;

	if (shmrt__part_join(seg, SHMRT__ROLE_PRODUCER, &p) != 0)
		return 1;
	if (shmrt__qstate_lock(&p, &seg->q[QL]) != 0)
		return 2;
	__atomic_store_n(held, 1u, __ATOMIC_RELEASE);
	raise(SIGSTOP);
	shmrt__qstate_unlock(&seg->q[QL]);
	shmrt__part_leave(&p);
	return 0;
}

/* Lane "a": a head, then NCANCELLED cancelled jobs still linked. */
static void fill_lane(struct shmrt__part *p)
{
	shmrt_job_id id;
	int i;

	assert_int_equal(submit(p, QL, "a", NULL, &id), 0);
	for (i = 0; i < NCANCELLED; i++) {
		assert_int_equal(submit(p, QL, "a", NULL, &id), 0);
		assert_int_equal(shmrt__job_cancel(p, id), 0);
	}
}

static void test_stopped_holder_does_not_stall_scan(void **state)
{
	struct shmrt__seg seg;
	struct shmrt__part p;
	struct shmrt__scan_report rep;
	struct shmrt__lease l;
	uint32_t *held = tu_shared_alloc(sizeof(*held));
	char buf[SLOT];
	shmrt_job_id id;
	uint64_t t0, took;
	pid_t pid;

	(void)state;
	open_seg(&seg, 0); /* finished jobs expire at once */
	assert_int_equal(shmrt__part_join(&seg, SHMRT__ROLE_WORKER, &p), 0);
	fill_lane(&p);
	pid = tu_fork(90);
	if (pid == 0)
		_exit(hold_and_stop(&seg, held));
	assert_int_equal(tu_wait_stopped(pid, 10000), 0);
	assert_true(__atomic_load_n(held, __ATOMIC_ACQUIRE));
	/* The keyed queue is not held: its key lives on regardless. */
	assert_int_equal(submit(&p, QK, NULL, "k", &id), 0);

	t0 = shmrt__os_now_ns();
	assert_int_equal(shmrt__scan(&p, tu_deadline_ms(60000), &rep), 0);
	took = shmrt__os_now_ns() - t0;
	print_message("scan with a stopped holder: %llu ms\n",
		      (unsigned long long)(took / MS));
	assert_true(took < 1000 * MS);
	assert_int_equal(rep.locks_busy, 1);
	assert_int_equal(rep.jobs_expired, 0); /* the laned ones wait */
	assert_int_equal(shmrt__qstate_holder(&seg.q[QL]) >> 32,
			 (uint64_t)pid); /* never taken over */

	kill(pid, SIGCONT);
	assert_int_equal(tu_wait_child(pid, 10000), 0);
	assert_int_equal(shmrt__scan(&p, tu_deadline_ms(5000), &rep), 0);
	assert_int_equal(rep.locks_busy, 0);
	assert_int_equal(rep.jobs_expired, NCANCELLED);
	/* The lane moves on: its head runs, and after it the lane is gone. */
	assert_int_equal(shmrt__job_lease(&p, QL, buf, sizeof(buf), 0, &l), 0);
	assert_int_equal(shmrt__job_complete(&p, &l, NULL, 0), 0);
	assert_int_equal(submit(&p, QL, "a", NULL, &id), 0);
	shmrt__part_leave(&p);
	shmrt__seg_detach(&seg);
	tu_shared_free(held, sizeof(*held));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corrupt_lock_bytes),
		cmocka_unit_test(test_stopped_holder_does_not_stall_scan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
