/*
 * tests/multiprocess/test_wakeup.c - sleepers in one process are woken by
 * wakers in another, and nobody pays for a wake when nobody sleeps.
 *
 * What wakes a sleeper here must be the wake itself. ec.h's safety nets (a
 * 50 ms cap on every sleep, ck_ec's backoff) would wake it anyway and hide
 * a wake that does nothing, so main() turns them off
 * (SHMRT_TEST_NO_WAKE_NET=1, before anything waits; children inherit it):
 * an unwoken sleeper sleeps until its deadline (sleep_ms, 10 s).
 *
 * Each wake test runs rounds of: the child goes to sleep; the parent waits
 * until it really sleeps (the event count is flagged and /proc/PID/syscall
 * shows the child blocked in futex on that very word, so the wake cannot
 * be overtaken by the child's last look at the count); the parent notes
 * the time and makes the condition true; the child notes when it woke. A
 * child that slept until its deadline exits with EX_LOST. The parent
 * asserts the child's exit code and that the 99th percentile of the wake
 * latencies is below P99_BOUND_MS, far below the 50 ms cap: a sanity
 * bound, not a speed target (a wake takes tens of microseconds here). It
 * cannot see ck_ec's backoff, whose first self-wake comes after 2 ms;
 * test_lost_wake_stays_lost checks that the nets really are off. With
 * the futex wake made a no-op every wake test below fails: CTest's
 * multiprocess_wakeup_no_wake runs this program with SHMRT_TEST_NO_WAKE=1
 * (ec.h) and requires it.
 *
 * Children report through their exit code only; every wait has a deadline.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <shmrt/error.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm/ec.h"
#include "shm/job.h"
#include "shm/os.h"
#include "shm/participant.h"
#include "shm/scan.h"
#include "shm/segment.h"
#include "testutil.h"

#define SLOT_SIZE	  64
#define SLEEP_DEADLINE_MS 10000 /* how long a child is willing to sleep */
#define CHILD_WAIT_MS	  30000
#define FLAG_WAIT_MS	  5000	 /* for the child to fall asleep */
#define POLL_NS		  50000	 /* the polling loops' pause */
#define P99_BOUND_MS	  20	 /* the ec.c net is 50 ms */
#define ROUNDS		  100
#define MIN_ROUNDS	  20
#define NSLEEPERS	  3

enum {
	EX_OK = 0,
	EX_ATTACH = 2,
	EX_JOIN = 3,
	EX_LOST = 10, /* slept until its deadline: the wake was lost */
	EX_LEASE = 11,
	EX_PAYLOAD = 12,
	EX_STATE = 13,
	EX_RESULT = 14,
	EX_WAIT = 15,
	EX_ENQUEUE = 16,
	EX_NOT_TIMEDOUT = 17, /* a deadline was not honoured */
	EX_GO = 18,	      /* the parent never started the round */
	EX_STOPPED = 19,      /* the parent gave up (it asserts why) */
};

/*
 * How long a child is willing to sleep: SLEEP_DEADLINE_MS, or
 * SHMRT_TEST_SLEEP_MS. Every wake test that fails costs this much;
 * multiprocess_wakeup_no_wake, where every wake is lost, shortens it.
 */
static uint64_t sleep_ms = SLEEP_DEADLINE_MS;

struct shared {
	uint64_t base[NSLEEPERS]; /* where each child mapped the segment */
	uint32_t go;		  /* rounds the parent has started */
	uint32_t stop;		  /* the parent gave up: leave */
	uint32_t done;		  /* rounds the child has finished */
	shmrt_job_id job[ROUNDS]; /* job waiter: each round's job */
	uint64_t woke_ns[ROUNDS]; /* when the child got what it waited for */
	uint32_t got[NSLEEPERS];  /* payload each of many sleepers leased */
};

struct fx {
	char tenant[64];
	struct shmrt__seg seg;
	struct shmrt__part part;
	struct shared *sh;
	uint32_t rounds;
	struct shmrt__lease held; /* the parent's lease of this round */
	pid_t pids[NSLEEPERS];	  /* 0 once reaped */
};

#define LOADA(p)     __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORER(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

static int fx_setup_params(void **state, struct shmrt__seg_params *p)
{
	struct fx *f = calloc(1, sizeof(*f));
	uint64_t n = tu_scaled(ROUNDS, MIN_ROUNDS);

	if (f == NULL)
		return -1;
	snprintf(f->tenant, sizeof(f->tenant), "%s", tu_tenant());
	f->rounds = (uint32_t)(n < ROUNDS ? n : ROUNDS);
	p->tun.spin_ns = 1000;
	f->sh = tu_shared_alloc(sizeof(*f->sh));
	if (f->sh == NULL || shmrt__seg_create(f->tenant, p, &f->seg) != 0 ||
	    shmrt__part_join(&f->seg, SHMRT__ROLE_PRODUCER | SHMRT__ROLE_WORKER,
			     &f->part) != 0)
		return -1;
	*state = f;
	return 0;
}

static int fx_setup(void **state)
{
	struct shmrt__seg_params p;

	tu_params_one_queue(&p, 64, SLOT_SIZE, 16);
	return fx_setup_params(state, &p);
}

/* Strict retention: finished jobs keep their slots (evict.h), so a
 * producer waits for a release, the wake under test. */
static int fx_setup_small(void **state)
{
	struct shmrt__seg_params p;

	tu_params_one_queue(&p, 4, SLOT_SIZE, 16);
	p.queue[0].retention_strict = true;
	return fx_setup_params(state, &p);
}

/* q0 needs a permit of semaphore "one", whose limit is 1. */
static int fx_setup_sem(void **state)
{
	struct shmrt__seg_params p;

	tu_params_one_queue(&p, 64, SLOT_SIZE, 16);
	p.nsems = 1;
	p.sem[0].name = "one";
	p.sem[0].limit = 1;
	p.queue[0].sem = 1;
	return fx_setup_params(state, &p);
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	int i;

	for (i = 0; i < NSLEEPERS; i++)
		if (f->pids[i] > 0)
			tu_wait_child(f->pids[i], 0);
	shmrt__part_leave(&f->part);
	shmrt__seg_detach(&f->seg);
	shmrt__seg_destroy(f->tenant);
	tu_shared_free(f->sh, sizeof(*f->sh));
	free(f);
	return 0;
}

/* ------------------------------------------------------- child helpers */

static int child_attach(struct fx *f, int me, struct shmrt__seg *seg)
{
	if (shmrt__seg_attach(f->tenant, seg) != 0)
		return EX_ATTACH;
	STORER(&f->sh->base[me], (uint64_t)(uintptr_t)seg->base);
	return EX_OK;
}

static int child_join(struct fx *f, int me, struct shmrt__seg *seg,
		      struct shmrt__part *part)
{
	int rc = child_attach(f, me, seg);

	if (rc != EX_OK)
		return rc;
	if (shmrt__part_join(seg, SHMRT__ROLE_PRODUCER | SHMRT__ROLE_WORKER,
			     part) != 0)
		return EX_JOIN;
	return EX_OK;
}

/* Waits (bounded) until the parent starts round r: EX_OK, or why not. */
static int child_await_round(struct fx *f, uint32_t r)
{
	uint64_t deadline = tu_deadline_ms(CHILD_WAIT_MS);

	while (LOADA(&f->sh->go) <= r) {
		if (LOADA(&f->sh->stop))
			return EX_STOPPED;
		if (shmrt__os_now_ns() > deadline)
			return EX_GO;
		shmrt__os_sleep_ns(POLL_NS);
	}
	return EX_OK;
}

/* Notes when round r's sleep ended; EX_LOST if it lasted to `deadline`. */
static int child_woke(struct fx *f, uint32_t r, uint64_t deadline)
{
	uint64_t now = shmrt__os_now_ns();

	f->sh->woke_ns[r] = now;
	return now >= deadline ? EX_LOST : EX_OK;
}

/* ------------------------------------------------------ parent helpers */

static pid_t spawn(struct fx *f, int (*fn)(struct fx *, int), int arg)
{
	pid_t pid;

	pid = tu_fork(1);
	if (pid == 0)
		_exit(fn(f, arg));
	f->pids[arg] = pid;
	return pid;
}

static int reap(struct fx *f, int i)
{
	int code = tu_wait_child(f->pids[i], CHILD_WAIT_MS);

	f->pids[i] = 0;
	return code;
}

/* Whether `pid` has ended (without reaping it). */
static bool child_ended(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) ==
		   0 &&
	       si.si_pid == pid;
}

/*
 * Whether the main thread of `pid` is blocked in the futex system call on
 * address `addr` (of its own address space): /proc/PID/syscall then reads
 * "<SYS_futex> 0x<addr> ...".
 */
static bool in_futex_on(pid_t pid, uint64_t addr)
{
	char path[64], buf[256];
	unsigned long long a;
	long nr;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return sscanf(buf, "%ld %llx", &nr, &a) == 2 && nr == SYS_futex &&
	       a == addr;
}

/*
 * Waits (bounded) until child `me` sleeps on futex word `word` (the
 * parent's mapping of it; an event count's counter, or a waitq's seq):
 * the child is blocked in futex on its own address of the same word.
 */
static bool wait_asleep(struct fx *f, int me, const uint32_t *word)
{
	uint64_t deadline = tu_deadline_ms(FLAG_WAIT_MS);
	uint64_t off = (uint64_t)((const unsigned char *)word - f->seg.base);

	for (;;) {
		uint64_t base = LOADA(&f->sh->base[me]);

		if (base != 0 && in_futex_on(f->pids[me], base + off))
			return true;
		if (shmrt__os_now_ns() > deadline || child_ended(f->pids[me]))
			return false;
		shmrt__os_sleep_ns(POLL_NS);
	}
}

/* Waits (bounded) until the child has finished n rounds. */
static bool wait_done(struct fx *f, uint32_t n)
{
	uint64_t deadline = tu_deadline_ms(sleep_ms + FLAG_WAIT_MS);

	while (LOADA(&f->sh->done) < n) {
		if (shmrt__os_now_ns() > deadline || child_ended(f->pids[0]))
			return false;
		shmrt__os_sleep_ns(POLL_NS);
	}
	return true;
}

static shmrt_job_id enqueue_u32(struct fx *f, uint32_t v)
{
	shmrt_job_id id;

	assert_int_equal(shmrt__job_enqueue(&f->part, 0, &v, sizeof(v), 0, &id),
			 0);
	return id;
}

/* The parent leases the next job without waiting; returns its payload. */
static uint32_t hold_one(struct fx *f)
{
	unsigned char buf[SLOT_SIZE];
	uint32_t v;

	assert_int_equal(
	    shmrt__job_lease(&f->part, 0, buf, sizeof(buf), 0, &f->held), 0);
	assert_int_equal(f->held.payload_len, sizeof(v));
	memcpy(&v, buf, sizeof(v));
	return v;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Index of the 99th percentile of n sorted samples. */
static uint32_t p99_index(uint32_t n)
{
	return (uint32_t)(99ull * (n - 1) / 100);
}

/* ------------------------------------------------------- rounds driver */

/*
 * One kind of sleeper and its waker. `arm` (optional) runs before the
 * child may sleep in round r; `word` names the futex word the child sleeps on
 * (after arm); `wake` makes the child's condition true; `after`
 * (optional) runs once the child has finished the round.
 */
struct wake_case {
	const char *what;
	int (*child)(struct fx *f, int me);
	void (*arm)(struct fx *f, uint32_t r);
	const uint32_t *(*word)(struct fx *f);
	void (*wake)(struct fx *f, uint32_t r);
	void (*after)(struct fx *f, uint32_t r);
};

static void print_latencies(const char *what, uint64_t *lat, uint32_t n)
{
	if (n == 0)
		return;
	qsort(lat, n, sizeof(*lat), cmp_u64);
	print_message("%s: %u rounds, wake latency p50 %.1f us, p99 %.1f us, "
		      "max %.1f us\n",
		      what, n, (double)lat[n / 2] / 1e3,
		      (double)lat[p99_index(n)] / 1e3,
		      (double)lat[n - 1] / 1e3);
}

static void run_rounds(struct fx *f, const struct wake_case *c)
{
	const uint64_t bound = P99_BOUND_MS * 1000000ull;
	const uint32_t n = f->rounds, allowed = n - 1 - p99_index(n);
	uint64_t lat[ROUNDS];
	uint32_t r, slow = 0;
	int code;

	assert_false(shmrt__ec_net_enabled());
	spawn(f, c->child, 0);
	for (r = 0; r < n; r++) {
		uint64_t t, woke;

		if (c->arm != NULL)
			c->arm(f, r);
		STORER(&f->sh->go, r + 1);
		if (!wait_asleep(f, 0, c->word(f)))
			break;
		t = shmrt__os_now_ns();
		c->wake(f, r);
		if (!wait_done(f, r + 1))
			break;
		woke = f->sh->woke_ns[r];
		lat[r] = woke > t ? woke - t : 0;
		if (c->after != NULL)
			c->after(f, r);
		/* Past `allowed` slow rounds the percentile is decided. */
		if (lat[r] >= bound && ++slow > allowed) {
			r++;
			break;
		}
	}
	STORER(&f->sh->stop, 1u);
	code = reap(f, 0);
	print_latencies(c->what, lat, r);
	if (code != EX_OK && code != EX_STOPPED)
		print_message("%s: the child exited with %d%s after %u rounds\n",
			      c->what, code,
			      code == EX_LOST ? " (slept until its deadline: "
						"the wake was lost)"
					      : "",
			      r);
	if (code != EX_STOPPED)
		assert_int_equal(code, EX_OK);
	/* p99 < bound: at most `allowed` rounds at or above it. */
	assert_true(slow <= allowed);
	assert_int_equal(r, n);
}

/* ------------------------- a sleeping consumer, woken by an enqueue */

/*
 * Each round: wait for the parent's word, lease (sleeping until the wake)
 * the job whose payload is mul * r + add, complete and release it.
 */
static int lease_rounds(struct fx *f, int me, uint32_t mul, uint32_t add)
{
	unsigned char buf[SLOT_SIZE];
	struct shmrt__seg seg;
	struct shmrt__part part;
	struct shmrt__lease l;
	uint32_t r, v;
	int rc = child_join(f, me, &seg, &part);

	for (r = 0; rc == EX_OK && r < f->rounds; r++) {
		uint64_t deadline = tu_deadline_ms(sleep_ms);

		if ((rc = child_await_round(f, r)) != EX_OK)
			break;
		rc = shmrt__job_lease(&part, 0, buf, sizeof(buf), deadline, &l);
		if (rc == SHMRT_E_TIMEDOUT || child_woke(f, r, deadline))
			return EX_LOST;
		if (rc != 0)
			return EX_LEASE;
		memcpy(&v, buf, sizeof(v));
		if (l.payload_len != sizeof(v) || v != mul * r + add)
			return EX_PAYLOAD;
		/* (a permit waiter's complete gives the permit back for the
		 * parent's next round) */
		if (shmrt__job_complete(&part, &l, NULL, 0) != 0 ||
		    shmrt__job_release(&seg, l.id) != 0)
			return EX_STATE;
		STORER(&f->sh->done, r + 1);
	}
	return rc;
}

/* Job r, woken by its enqueue. */
static int consumer_main(struct fx *f, int me)
{
	return lease_rounds(f, me, 1, 0);
}

static const uint32_t *jobs_word(struct fx *f)
{
	return &f->seg.q[0].ctl->jobs_wq.seq;
}

static void wake_by_enqueue(struct fx *f, uint32_t r)
{
	enqueue_u32(f, r);
}

static void test_sleeping_consumer_is_woken(void **state)
{
	static const struct wake_case c = {
	    .what = "consumer (jobs_wq, enqueue)",
	    .child = consumer_main,
	    .word = jobs_word,
	    .wake = wake_by_enqueue,
	};

	run_rounds(*state, &c);
}

/* ------------------------ a job waiter, woken by the job's completion */

static int job_waiter_main(struct fx *f, int me)
{
	struct shmrt_job_info info;
	struct shmrt__seg seg;
	char res[SLOT_SIZE];
	uint32_t r;
	int rc = child_attach(f, me, &seg);

	for (r = 0; rc == EX_OK && r < f->rounds; r++) {
		uint64_t deadline = tu_deadline_ms(sleep_ms);

		if ((rc = child_await_round(f, r)) != EX_OK)
			break;
		rc = shmrt__job_wait(&seg, f->sh->job[r], deadline, &info, res,
				     sizeof(res));
		if (rc == SHMRT_E_TIMEDOUT || child_woke(f, r, deadline))
			return EX_LOST;
		if (rc != 0)
			return EX_WAIT;
		if (info.state != SHMRT_JOB_SUCCEEDED)
			return EX_STATE;
		if (info.result_len != 5 || memcmp(res, "done!", 5) != 0)
			return EX_RESULT;
		STORER(&f->sh->done, r + 1);
	}
	return rc;
}

/* A job of the parent's, leased: the child waits for it to finish. */
static void arm_running_job(struct fx *f, uint32_t r)
{
	f->sh->job[r] = enqueue_u32(f, r);
	assert_int_equal(hold_one(f), r);
}

static const uint32_t *held_done_word(struct fx *f)
{
	return &shmrt__slot_at(&f->seg.q[0], f->held.slot)->done_ec.counter;
}

static void wake_by_complete(struct fx *f, uint32_t r)
{
	(void)r;
	assert_int_equal(shmrt__job_complete(&f->part, &f->held, "done!", 5),
			 0);
}

static void release_held(struct fx *f, uint32_t r)
{
	(void)r;
	assert_int_equal(shmrt__job_release(&f->seg, f->held.id), 0);
}

static void test_job_waiter_is_woken(void **state)
{
	static const struct wake_case c = {
	    .what = "job waiter (done_ec, complete)",
	    .child = job_waiter_main,
	    .arm = arm_running_job,
	    .word = held_done_word,
	    .wake = wake_by_complete,
	    .after = release_held,
	};

	run_rounds(*state, &c);
}

/* -------------- a producer blocked on a full queue, woken by a free slot */

#define CHILD_JOB(r) (1000u + (r))

static int blocked_producer_main(struct fx *f, int me)
{
	struct shmrt__seg seg;
	struct shmrt__part part;
	shmrt_job_id id;
	uint32_t r, v;
	int rc = child_join(f, me, &seg, &part);

	for (r = 0; rc == EX_OK && r < f->rounds; r++) {
		uint64_t deadline = tu_deadline_ms(sleep_ms);

		if ((rc = child_await_round(f, r)) != EX_OK)
			break;
		v = CHILD_JOB(r);
		rc = shmrt__job_enqueue(&part, 0, &v, sizeof(v), deadline, &id);
		if (rc == SHMRT_E_FULL || child_woke(f, r, deadline))
			return EX_LOST;
		if (rc != 0)
			return EX_ENQUEUE;
		STORER(&f->sh->done, r + 1);
	}
	return rc;
}

/*
 * Every slot is taken: lease and complete the oldest job (its slot stays
 * taken for the retention time), checking FIFO order: first the parent's
 * jobs 0..capacity-1, then the child's.
 */
static void arm_full_queue(struct fx *f, uint32_t r)
{
	uint32_t cap = f->seg.q[0].capacity;

	assert_int_equal(hold_one(f), r < cap ? r : CHILD_JOB(r - cap));
	assert_int_equal(shmrt__job_complete(&f->part, &f->held, NULL, 0), 0);
}

static const uint32_t *space_word(struct fx *f)
{
	return &f->seg.q[0].ctl->space_ec.counter;
}

static void test_blocked_producer_is_woken(void **state)
{
	static const struct wake_case c = {
	    .what = "blocked producer (space_ec, release)",
	    .child = blocked_producer_main,
	    .arm = arm_full_queue,
	    .word = space_word,
	    .wake = release_held,
	};
	struct fx *f = *state;
	uint32_t i, v = 0;
	shmrt_job_id id;

	for (i = 0; i < f->seg.q[0].capacity; i++)
		enqueue_u32(f, i);
	assert_int_equal(shmrt__job_enqueue(&f->part, 0, &v, sizeof(v), 0, &id),
			 SHMRT_E_FULL);
	run_rounds(f, &c);
}

/* ------------- a permit waiter, woken by the holder giving the permit back */

/* Job 2r + 1, woken when the parent gives the only permit back. */
static int permit_waiter_main(struct fx *f, int me)
{
	return lease_rounds(f, me, 2, 1);
}

/* The parent leases job 2r with the only permit; job 2r+1 waits for it. */
static void arm_permit_held(struct fx *f, uint32_t r)
{
	enqueue_u32(f, 2 * r);
	assert_int_equal(hold_one(f), 2 * r);
	assert_true(f->held.permit != 0);
	enqueue_u32(f, 2 * r + 1);
}

static const uint32_t *sem_word(struct fx *f)
{
	return &f->seg.sem[0].ctl->ec.counter;
}

/* Completing the parent's job gives its permit back. */
static void wake_by_permit_release(struct fx *f, uint32_t r)
{
	(void)r;
	assert_int_equal(shmrt__job_complete(&f->part, &f->held, NULL, 0), 0);
}

static void test_permit_waiter_is_woken(void **state)
{
	static const struct wake_case c = {
	    .what = "permit waiter (sem ec, permit release)",
	    .child = permit_waiter_main,
	    .arm = arm_permit_held,
	    .word = sem_word,
	    .wake = wake_by_permit_release,
	    .after = release_held,
	};

	run_rounds(*state, &c);
}

/* ------------------------------------------------ many sleeping consumers */

static int sleeper_main(struct fx *f, int me)
{
	unsigned char buf[SLOT_SIZE];
	struct shmrt__seg seg;
	struct shmrt__part part;
	struct shmrt__lease l;
	uint64_t deadline;
	uint32_t v;
	int rc = child_join(f, me, &seg, &part);

	if (rc != EX_OK)
		return rc;
	deadline = tu_deadline_ms(sleep_ms);
	rc = shmrt__job_lease(&part, 0, buf, sizeof(buf), deadline, &l);
	if (rc == SHMRT_E_TIMEDOUT || shmrt__os_now_ns() >= deadline)
		return EX_LOST;
	if (rc != 0)
		return EX_LEASE;
	if (l.payload_len != sizeof(v))
		return EX_PAYLOAD;
	memcpy(&v, buf, sizeof(v));
	f->sh->got[me] = v;
	if (shmrt__job_complete(&part, &l, NULL, 0) != 0)
		return EX_STATE;
	return EX_OK;
}

/* Each job goes to exactly one of several sleepers; none is left asleep. */
static void test_many_sleeping_consumers(void **state)
{
	struct fx *f = *state;
	uint32_t seen = 0;
	int i;

	assert_false(shmrt__ec_net_enabled());
	for (i = 0; i < NSLEEPERS; i++)
		spawn(f, sleeper_main, i);
	for (i = 0; i < NSLEEPERS; i++)
		assert_true(wait_asleep(f, i, jobs_word(f)));
	for (i = 0; i < NSLEEPERS; i++)
		enqueue_u32(f, 1u << i);
	for (i = 0; i < NSLEEPERS; i++) {
		assert_int_equal(reap(f, i), EX_OK);
		seen |= f->sh->got[i];
	}
	assert_int_equal(seen, (1u << NSLEEPERS) - 1);
}

/* Voluntary context switches of process `pid` so far (0 if unreadable). */
static uint64_t voluntary_switches(pid_t pid)
{
	char path[64], line[128];
	unsigned long long n = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "voluntary_ctxt_switches: %llu", &n) == 1)
			break;
	fclose(fp);
	return n;
}

/* The index of a child that has ended, waiting up to FLAG_WAIT_MS; -1. */
static int first_ended(struct fx *f)
{
	uint64_t deadline = tu_deadline_ms(FLAG_WAIT_MS);
	int i;

	while (shmrt__os_now_ns() < deadline) {
		for (i = 0; i < NSLEEPERS; i++)
			if (f->pids[i] > 0 && child_ended(f->pids[i]))
				return i;
		shmrt__os_sleep_ns(POLL_NS);
	}
	return -1;
}

/*
 * One job wakes one sleeper (waitq.h): of NSLEEPERS workers asleep on the
 * queue, one leases the job and the others never leave their futex wait
 * (their voluntary context switches do not move). Waking them all would
 * switch each of them in, to find nothing and sleep again.
 */
static void test_one_job_wakes_one_sleeper(void **state)
{
	struct fx *f = *state;
	uint64_t before[NSLEEPERS];
	uint32_t seen = 0;
	int i, won;

	assert_false(shmrt__ec_net_enabled());
	for (i = 0; i < NSLEEPERS; i++)
		spawn(f, sleeper_main, i);
	for (i = 0; i < NSLEEPERS; i++)
		assert_true(wait_asleep(f, i, jobs_word(f)));
	assert_int_equal(LOADA(&f->seg.q[0].ctl->jobs_wq.sleepers),
			 NSLEEPERS);
	for (i = 0; i < NSLEEPERS; i++)
		before[i] = voluntary_switches(f->pids[i]);
	enqueue_u32(f, 1u);
	won = first_ended(f);
	assert_true(won >= 0);
	shmrt__os_sleep_ns(50 * 1000000ull);
	for (i = 0; i < NSLEEPERS; i++) {
		if (i == won)
			continue;
		assert_int_equal(voluntary_switches(f->pids[i]), before[i]);
		assert_true(wait_asleep(f, i, jobs_word(f)));
	}
	for (i = 1; i < NSLEEPERS; i++)
		enqueue_u32(f, 1u << i);
	for (i = 0; i < NSLEEPERS; i++) {
		assert_int_equal(reap(f, i), EX_OK);
		seen |= f->sh->got[i];
	}
	assert_int_equal(seen, (1u << NSLEEPERS) - 1);
	assert_int_equal(LOADA(&f->seg.q[0].ctl->jobs_wq.sleepers), 0);
}

/*
 * A worker killed while asleep stays counted as a sleeper until scan
 * finds its process dead and uncounts it (waitq.h), once.
 */
static void test_dead_sleeper_is_uncounted(void **state)
{
	struct fx *f = *state;
	struct shmrt__scan_report rep;

	spawn(f, sleeper_main, 0);
	assert_true(wait_asleep(f, 0, jobs_word(f)));
	assert_int_equal(LOADA(&f->seg.q[0].ctl->jobs_wq.sleepers), 1);
	assert_int_equal(kill(f->pids[0], SIGKILL), 0);
	assert_int_equal(reap(f, 0), 128 + SIGKILL);
	assert_int_equal(LOADA(&f->seg.q[0].ctl->jobs_wq.sleepers), 1);
	assert_int_equal(shmrt__scan(&f->part, tu_deadline_ms(CHILD_WAIT_MS),
				     &rep),
			 0);
	assert_int_equal(rep.dead_participants, 1);
	assert_int_equal(rep.sleepers_forgotten, 1);
	assert_int_equal(LOADA(&f->seg.q[0].ctl->jobs_wq.sleepers), 0);
	assert_int_equal(shmrt__scan(&f->part, tu_deadline_ms(CHILD_WAIT_MS),
				     &rep),
			 0);
	assert_int_equal(rep.sleepers_forgotten, 0);
}

/* ------------------------------------- without the nets, lost means lost */

/* Past ck_ec's backoff steps (2, 16, 128 ms) and ec.c's 50 ms cap. */
#define LOST_HOLD_MS 300

static int ec_sleeper_main(struct fx *f, int me)
{
	struct shmrt__seg seg;
	struct shmrt__ec *ec;
	uint64_t deadline;
	uint32_t v;
	int rc = child_attach(f, me, &seg);

	if (rc != EX_OK)
		return rc;
	ec = &seg.q[0].ctl->space_ec;
	v = shmrt__ec_value(ec);
	deadline = tu_deadline_ms(sleep_ms);
	rc = shmrt__ec_wait(ec, v, deadline);
	if (child_woke(f, 0, deadline))
		return EX_LOST;
	if (rc != 0)
		return EX_WAIT;
	STORER(&f->sh->done, 1u);
	return EX_OK;
}

/*
 * The switch the tests above rely on: with the nets off, a sleeper whose
 * wake is lost stays asleep (here LOST_HOLD_MS of a sleep_ms sleep) instead
 * of waking itself within 2 ms (ck_ec's first backoff step, far below any
 * latency bound a test could assert) or 50 ms; the real wake then ends
 * the sleep. The lost wake is a bare increment of the count: the word
 * changes, nobody calls futex wake.
 */
static void test_lost_wake_stays_lost(void **state)
{
	struct fx *f = *state;
	struct shmrt__ec *ec = &f->seg.q[0].ctl->space_ec;
	uint64_t off = (uint64_t)((unsigned char *)ec - f->seg.base);
	uint64_t until;

	assert_false(shmrt__ec_net_enabled());
	spawn(f, ec_sleeper_main, 0);
	assert_true(wait_asleep(f, 0, &ec->counter));
	__atomic_fetch_add(&ec->counter, 1u, __ATOMIC_RELEASE);
	until = tu_deadline_ms(LOST_HOLD_MS);
	while (shmrt__os_now_ns() < until) {
		assert_int_equal(LOADA(&f->sh->done), 0);
		shmrt__os_sleep_ns(1000000);
	}
	assert_true(in_futex_on(f->pids[0], LOADA(&f->sh->base[0]) + off));
	assert_int_equal(LOADA(&f->sh->done), 0);
	shmrt__ec_inc(ec);
	assert_int_equal(reap(f, 0), EX_OK);
	assert_int_equal(LOADA(&f->sh->done), 1);
}

/* --------------------------------------------------- no sleeper, no wake */

static void test_no_wake_without_sleeper(void **state)
{
	struct fx *f = *state;
	struct shmrt__queue *ctl = f->seg.q[0].ctl;
	uint32_t before = shmrt__waitq_value(&ctl->jobs_wq);
	unsigned char buf[SLOT_SIZE];
	struct shmrt__lease l;

	assert_int_equal(LOADA(&ctl->jobs_wq.sleepers), 0);
	enqueue_u32(f, 5);
	/* The count moved (a sleeper would notice); nobody was counted. */
	assert_int_equal(LOADA(&ctl->jobs_wq.sleepers), 0);
	assert_int_not_equal(shmrt__waitq_value(&ctl->jobs_wq), before);
	assert_int_equal(shmrt__job_lease(&f->part, 0, buf, sizeof(buf), 0, &l),
			 0);
	assert_int_equal(shmrt__job_complete(&f->part, &l, NULL, 0), 0);
	assert_int_equal(shmrt__job_release(&f->seg, l.id), 0);
	assert_int_equal(LOADA(&ctl->jobs_wq.sleepers), 0);
	assert_false(shmrt__ec_has_waiters(&ctl->space_ec));
	assert_false(shmrt__ec_has_waiters(
	    &shmrt__slot_at(&f->seg.q[0], l.slot)->done_ec));
}

/* ------------------------------------------------ deadlines are honoured */

static int deadline_main(struct fx *f, int me)
{
	unsigned char buf[SLOT_SIZE];
	struct shmrt_job_info info;
	struct shmrt__seg seg;
	struct shmrt__part part;
	struct shmrt__lease l;
	int rc = child_join(f, me, &seg, &part);

	if (rc != EX_OK)
		return rc;
	if (shmrt__job_lease(&part, 0, buf, sizeof(buf), tu_deadline_ms(300),
			     &l) != SHMRT_E_TIMEDOUT)
		return EX_NOT_TIMEDOUT;
	if (shmrt__job_wait(&seg, f->sh->job[0], tu_deadline_ms(300), &info,
			    NULL, 0) != SHMRT_E_TIMEDOUT)
		return EX_NOT_TIMEDOUT;
	return EX_OK;
}

/* Nobody wakes them: a lease and a job wait end at their deadline. */
static void test_sleepers_honour_deadlines(void **state)
{
	struct fx *f = *state;

	arm_running_job(f, 0);
	spawn(f, deadline_main, 0);
	assert_int_equal(reap(f, 0), EX_OK);
	assert_int_equal(shmrt__job_complete(&f->part, &f->held, NULL, 0), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_sleeping_consumer_is_woken),
	    T(test_many_sleeping_consumers),
	    T(test_one_job_wakes_one_sleeper),
	    T(test_dead_sleeper_is_uncounted),
	    T(test_job_waiter_is_woken),
	    cmocka_unit_test_setup_teardown(test_blocked_producer_is_woken,
					    fx_setup_small, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_permit_waiter_is_woken,
					    fx_setup_sem, fx_teardown),
	    T(test_lost_wake_stays_lost),
	    T(test_no_wake_without_sleeper),
	    T(test_sleepers_honour_deadlines),
	};

	const char *ms = getenv("SHMRT_TEST_SLEEP_MS");

	/* Well past LOST_HOLD_MS, and a number. */
	if (ms != NULL && (sleep_ms = strtoull(ms, NULL, 10)) < 1000) {
		fprintf(stderr, "SHMRT_TEST_SLEEP_MS=%s: want >= 1000\n", ms);
		return 1;
	}
	/* Before anything waits: the safety nets off (ec.h), for this
	 * process and the children it forks. */
	if (setenv("SHMRT_TEST_NO_WAKE_NET", "1", 1) != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
