/*
 * tests/fault/test_stop_storm.c - a SIGSTOP/SIGCONT storm over a plain, a
 * laned, a keyed and a semaphore queue, with a small heartbeat timeout, so
 * that scan keeps judging stopped participants hung and repairing around
 * them while they may resume at any moment.
 *
 * Children: producers and workers for each queue (two producers per queue;
 * two workers per queue, three on the semaphore queue) and one reaper that
 * runs shmrt__scan every 10-20 ms and sums the reports. The parent is the
 * storm: every few milliseconds it SIGSTOPs a random producer or worker
 * for a random time, short (0-30 ms) or well past the heartbeat timeout
 * (up to 400 ms). Some children also arm a pause point (ring.push.claimed,
 * job.submit.filled, ring.pop.claimed, job.lease.won) at a random pass and
 * stop themselves there; the parent sees the stop (waitpid WUNTRACED) and
 * keeps them stopped 100-400 ms, which makes scan reach ring-cell repair
 * (tombstones and releases) reliably. Children never assert: they log to
 * MAP_SHARED memory, only after the engine call returned, and exit with a
 * code.
 *
 * Checked by the parent after the storm (everything resumed, producers
 * done, all accepted jobs finished within FINISH_MS, workers and reaper
 * gone):
 *  - semaphore cap: the intervals [lease returned, before complete] of
 *    the completions that succeeded (a successful completion proves the
 *    lease was valid throughout, and a valid lease keeps its permit)
 *    never overlap more than SEM_LIMIT deep;
 *  - lane order: each lane is owned by one producer, which numbers its
 *    jobs k = 0, 1, ...; per lane, the successful runs ordered by the
 *    ticket each worker took right after its lease returned have strictly
 *    increasing k, and their intervals never overlap;
 *  - nothing lost or doubled: every job whose submit returned 0 completed
 *    successfully exactly once (workers always succeed, max_attempts is
 *    high); a refused submit never ran;
 *  - keys: every submit of a key that returned 0 or SUBMIT_EXISTING got
 *    the same job id (keys never expire here), a key made one job, and
 *    that job succeeded with the key as its result;
 *  - moves on: all accepted jobs finished within FINISH_MS of the last
 *    SIGCONT, the segment holds no unfinished slot, lane or permit, and
 *    every queue's ring works for three laps;
 *  - reached: the scan reports summed show hung participants, tombstoned
 *    and released cells, requeued jobs and reclaimed permits.
 *
 * The seed is printed; SHMRT_TEST_SEED replays the stop schedule and the
 * draws (timing still varies). SHMRT_TEST_SCALE scales the storm's length.
 *
 * test_scan_takes_the_permit_of_a_later_lease freezes one interleaving
 * the storm can only hit by chance: scan takes a hung worker's job back,
 * the worker resumes and leases another job with a fresh permit; scan
 * must then leave that permit alone (it took every permit of the worker
 * once: two jobs ran under a limit of one).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <shmrt/error.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm/job.h"
#include "shm/lane.h"
#include "shm/os.h"
#include "shm/participant.h"
#include "shm/pause.h"
#include "shm/scan.h"
#include "shm/segment.h"
#include "shm/sem.h"
#include "testutil.h"

#define SLOT_SIZE     32
#define NPARTICIPANTS 64
#define HB_MS	      50   /* the segment's heartbeat timeout */
#define MAX_ATTEMPTS  4000 /* never used up: every job ends succeeded */
#define SEM_LIMIT     2
#define JOB_CAP	      (1u << 17) /* job numbers per queue */
#define KEYSPACE      2048	 /* keys of the keyed queue */
#define KRECENT	      16	 /* a resubmit picks one of the last keys */
#define NL	      8		 /* lanes of the laned queue */
#define BACKLOG	      32	 /* accepted, unfinished jobs per queue */
#define MAX_KIDS      32
#define STOP_MAX_MS   400
#define SHORT_MAX_MS  30
#define MAX_STOPPED   8	    /* children stopped at once by the storm */
#define FINISH_MS     10000 /* bound: accepted jobs end after the storm */
#define EXIT_MS	      10000 /* children leave once told */
#define PAUSE_SPAN    40    /* a pauser stops within this many passes */

enum { Q_PLAIN, Q_LANE, Q_KEY, Q_SEM, NQ };

static const char *const qnames[NQ] = {"plain", "lane", "keyed", "sem"};
static const uint32_t nprod[NQ] = {2, 2, 2, 2};
static const uint32_t nwork[NQ] = {2, 2, 2, 3};

enum {
	EX_OK = 0,
	EX_ATTACH = 2,
	EX_JOIN = 3,
	EX_SUBMIT = 4,
	EX_LEASE = 5,
	EX_PAYLOAD = 6,
	EX_COMPLETE = 7,
	EX_RELEASE = 8,
	EX_SCAN = 9,
	EX_ORPHAN = 10,
};

enum { R_PRODUCER, R_WORKER, R_REAPER };
enum { SUB_NONE = 0, SUB_ACCEPTED = 1, SUB_REFUSED = 2 };

struct payload {
	uint32_t q;
	uint32_t job; /* job number; the key on the keyed queue */
	uint32_t lane;
	uint32_t k; /* the lane's sequence number */
};

struct shared {
	struct tu_verdict verdict;
	uint32_t prod_stop, work_stop, reap_stop, no_pause;
	uint32_t next_job[NQ];
	uint32_t next_key;
	uint64_t accepted[NQ];
	uint64_t finished[NQ];
	uint64_t refused[NQ];
	uint64_t stale[NQ];
	uint64_t existing;
	uint64_t key_mismatch;
	uint64_t ticket;
	uint32_t self_stops[MAX_KIDS]; /* bumped by the parent */
	/* the reaper's */
	struct shmrt__scan_report rep;
	uint64_t scans;
	uint64_t max_scan_ns;
	/* per key */
	uint64_t key_id[KEYSPACE];
	uint32_t created[KEYSPACE];
	/* per job */
	uint64_t ids[NQ][JOB_CAP];
	uint8_t sub[NQ][JOB_CAP];
	uint8_t done[NQ][JOB_CAP];
	uint32_t runs[NQ][JOB_CAP];
	/* the successful run of each job */
	uint64_t ticket_of[NQ][JOB_CAP];
	uint64_t t0[NQ][JOB_CAP];
	uint64_t t1[NQ][JOB_CAP];
	uint32_t lane_of[JOB_CAP];
	uint32_t k_of[JOB_CAP];
};

struct kid {
	pid_t pid;
	int role;
	uint32_t q;
	uint32_t inst; /* among the producers (workers) of its queue */
	bool pauser;
	bool stopped;
	bool exited;
	int code;
	uint64_t until;
};

struct stest {
	char tenant[64];
	uint64_t seed;
	uint64_t rng;
	struct shared *sh;
	struct shmrt__seg seg;
	struct shmrt__part part;
	bool joined;
	struct kid kids[MAX_KIDS];
	uint32_t nkids;
	uint32_t nstopped;
	uint64_t stops_short, stops_long, self_stops;
	uint32_t child_failures;
};

/* ------------------------------------------------------------ helpers */

static void add64(uint64_t *p, uint64_t v)
{
	__atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

static uint64_t ld64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static bool flag(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE) != 0;
}

static void rep_add(struct shmrt__scan_report *sum,
		    const struct shmrt__scan_report *r)
{
	const uint32_t *src = (const uint32_t *)(const void *)r;
	uint32_t *dst = (uint32_t *)(void *)sum;
	size_t i;

	for (i = 0; i < sizeof(*r) / sizeof(uint32_t); i++)
		dst[i] += src[i];
}

static bool rep_busy(const struct shmrt__scan_report *r)
{
	return r->dead_participants || r->cells_tombstoned ||
	       r->cells_released || r->jobs_republished || r->jobs_requeued ||
	       r->jobs_failed || r->leases_expired || r->slots_freed ||
	       r->permits_reclaimed || r->lanes_settled;
}

static void sleep_us(uint64_t us)
{
	shmrt__os_sleep_ns(us * 1000u);
}

/* ------------------------------------------------------------ children */

struct child {
	struct stest *t;
	uint32_t me; /* index in t->kids */
	struct kid cfg;
	uint64_t rng;
	struct shmrt__seg seg;
	struct shmrt__part part;
	/* pause points */
	bool armed;
	uint32_t seen_stops;
	uint32_t since_arm;
};

static const char *const prod_points[] = {"ring.push.claimed",
					  "job.submit.filled"};
static const char *const work_points[] = {"ring.pop.claimed", "job.lease.won"};

/*
 * A pauser keeps one point armed at a random pass: re-armed after each
 * stop the parent saw (self_stops), or after 4 spans without one; disarmed
 * once the storm is over.
 */
static void child_pause(struct child *c)
{
	const char *const *points =
	    c->cfg.role == R_PRODUCER ? prod_points : work_points;
	uint32_t s;

	if (!c->cfg.pauser)
		return;
	if (flag(&c->t->sh->no_pause)) {
		if (c->armed)
			shmrt__pause_arm(NULL, 0, SHMRT__PAUSE_STOP);
		c->armed = false;
		return;
	}
	s = __atomic_load_n(&c->t->sh->self_stops[c->me], __ATOMIC_ACQUIRE);
	if (c->armed && s == c->seen_stops && ++c->since_arm < 4 * PAUSE_SPAN)
		return;
	c->seen_stops = s;
	c->since_arm = 0;
	c->armed = true;
	shmrt__pause_arm(points[tu_rnd(&c->rng) % 2],
			 1 + (unsigned)(tu_rnd(&c->rng) % PAUSE_SPAN),
			 SHMRT__PAUSE_STOP);
}

static int child_join(struct child *c, uint32_t role)
{
	uint64_t give_up = tu_deadline_ms(5000);

	if (shmrt__seg_attach(c->t->tenant, &c->seg) != 0)
		return EX_ATTACH;
	while (shmrt__part_join(&c->seg, role, &c->part) != 0) {
		if (shmrt__os_now_ns() > give_up)
			return EX_JOIN;
		shmrt__os_sleep_ns(1000000);
	}
	return EX_OK;
}

/* Whether queue q has BACKLOG accepted jobs not yet finished. */
static bool backlogged(const struct shared *sh, uint32_t q)
{
	return ld64(&sh->accepted[q]) > ld64(&sh->finished[q]) + BACKLOG;
}

/* A keyed submit; the key is drawn like racing clients would. */
static int keyed_submit(struct child *c)
{
	struct shared *sh = c->t->sh;
	uint32_t top = __atomic_load_n(&sh->next_key, __ATOMIC_RELAXED);
	struct payload pl = {.q = Q_KEY};
	struct shmrt__submit sub = {.payload = &pl, .len = sizeof(pl)};
	uint64_t zero = 0;
	shmrt_job_id id;
	char key[16];
	int rc;

	if (tu_rnd(&c->rng) % 4 == 0 && top < KEYSPACE) {
		pl.job = __atomic_fetch_add(&sh->next_key, 1, __ATOMIC_RELAXED);
		if (pl.job >= KEYSPACE)
			pl.job = KEYSPACE - 1;
	} else if (top == 0) {
		pl.job = 0;
	} else {
		uint32_t span;

		top = top > KEYSPACE ? KEYSPACE : top;
		span = top < KRECENT ? top : KRECENT;
		pl.job = top - 1 - (uint32_t)(tu_rnd(&c->rng) % span);
	}
	sub.key = key;
	sub.key_len = (size_t)snprintf(key, sizeof(key), "g%u", pl.job);
	sub.deadline_ns = tu_deadline_ms(200);
	rc = shmrt__job_submit(&c->part, Q_KEY, &sub, &id);
	if (rc == SHMRT_E_FULL) {
		add64(&sh->refused[Q_KEY], 1);
		return EX_OK;
	}
	if (rc != 0 && rc != SHMRT__SUBMIT_EXISTING)
		return EX_SUBMIT;
	if (rc == 0) {
		__atomic_fetch_add(&sh->created[pl.job], 1, __ATOMIC_RELAXED);
		__atomic_store_n(&sh->ids[Q_KEY][pl.job], id.v,
				 __ATOMIC_RELAXED);
		__atomic_store_n(&sh->sub[Q_KEY][pl.job], SUB_ACCEPTED,
				 __ATOMIC_RELEASE);
		add64(&sh->accepted[Q_KEY], 1);
	} else {
		add64(&sh->existing, 1);
	}
	if (!__atomic_compare_exchange_n(&sh->key_id[pl.job], &zero, id.v,
					 false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE) &&
	    zero != id.v)
		add64(&sh->key_mismatch, 1);
	return EX_OK;
}

/*
 * A numbered submit on the plain, laned or semaphore queue. A laned
 * producer owns lanes inst, inst + nprod, ... and numbers each lane's
 * accepted jobs in submit order.
 */
static int numbered_submit(struct child *c, uint32_t *kn)
{
	struct shared *sh = c->t->sh;
	uint32_t q = c->cfg.q;
	struct payload pl = {.q = q};
	struct shmrt__submit sub = {.payload = &pl, .len = sizeof(pl)};
	shmrt_job_id id;
	char lane[8];
	int rc;

	pl.job = __atomic_fetch_add(&sh->next_job[q], 1, __ATOMIC_RELAXED);
	if (pl.job >= JOB_CAP)
		return -1; /* enough */
	if (q == Q_LANE) {
		uint32_t own = NL / nprod[q];

		pl.lane =
		    c->cfg.inst + nprod[q] * (uint32_t)(tu_rnd(&c->rng) % own);
		pl.k = kn[pl.lane];
		sub.lane = lane;
		sub.lane_len =
		    (size_t)snprintf(lane, sizeof(lane), "L%u", pl.lane);
	}
	sub.deadline_ns = tu_deadline_ms(200);
	rc = shmrt__job_submit(&c->part, q, &sub, &id);
	if (rc == SHMRT_E_FULL) {
		__atomic_store_n(&sh->sub[q][pl.job], SUB_REFUSED,
				 __ATOMIC_RELEASE);
		add64(&sh->refused[q], 1);
		return EX_OK;
	}
	if (rc != 0)
		return EX_SUBMIT;
	__atomic_store_n(&sh->ids[q][pl.job], id.v, __ATOMIC_RELAXED);
	__atomic_store_n(&sh->sub[q][pl.job], SUB_ACCEPTED, __ATOMIC_RELEASE);
	add64(&sh->accepted[q], 1);
	if (q == Q_LANE)
		kn[pl.lane]++;
	return EX_OK;
}

static int producer_main(struct child *c)
{
	uint32_t kn[NL] = {0};
	int rc = child_join(c, SHMRT__ROLE_PRODUCER);

	if (rc != EX_OK)
		return rc;
	while (!flag(&c->t->sh->prod_stop)) {
		child_pause(c);
		if (backlogged(c->t->sh, c->cfg.q)) {
			sleep_us(200);
			continue;
		}
		if (c->cfg.q == Q_KEY) {
			rc = keyed_submit(c);
			sleep_us(100 + tu_rnd(&c->rng) % 200);
		} else {
			rc = numbered_submit(c, kn);
			if (c->cfg.q == Q_PLAIN)
				sleep_us(tu_rnd(&c->rng) % 100);
		}
		if (rc < 0)
			break;
		if (rc != EX_OK)
			return rc;
		/* The semaphore queue runs dry now and then: its workers
		 * wait for jobs holding permits. */
		if (c->cfg.q == Q_SEM && tu_rnd(&c->rng) % 3 == 0)
			sleep_us(500 + tu_rnd(&c->rng) % 2500);
	}
	shmrt__part_leave(&c->part);
	shmrt__seg_detach(&c->seg);
	return EX_OK;
}

/* Runs a leased job; logs it only once its completion succeeded. */
static int work_one(struct child *c, const struct shmrt__lease *l,
		    const unsigned char *buf)
{
	struct shared *sh = c->t->sh;
	uint64_t ticket, t0, t1, hold = 0;
	struct payload pl;
	int rc;

	t0 = shmrt__os_now_ns();
	ticket = __atomic_fetch_add(&sh->ticket, 1, __ATOMIC_ACQ_REL);
	memcpy(&pl, buf, sizeof(pl));
	if (l->payload_len != sizeof(pl) || pl.q != l->queue ||
	    pl.job >= (pl.q == Q_KEY ? KEYSPACE : JOB_CAP) || pl.lane >= NL)
		return EX_PAYLOAD;
	__atomic_fetch_add(&sh->runs[pl.q][pl.job], 1, __ATOMIC_RELAXED);
	if (pl.q == Q_SEM)
		hold = 200 + tu_rnd(&c->rng) % 800;
	else if (pl.q == Q_LANE)
		hold = tu_rnd(&c->rng) % 300;
	if (hold)
		sleep_us(hold);
	t1 = shmrt__os_now_ns();
	rc = shmrt__job_complete(&c->part, l, &pl.job, sizeof(pl.job));
	if (rc == SHMRT_E_STALE) {
		add64(&sh->stale[pl.q], 1);
		return EX_OK;
	}
	if (rc != 0)
		return EX_COMPLETE;
	if (__atomic_fetch_add(&sh->done[pl.q][pl.job], 1, __ATOMIC_ACQ_REL) ==
	    0) {
		sh->ticket_of[pl.q][pl.job] = ticket;
		sh->t0[pl.q][pl.job] = t0;
		sh->t1[pl.q][pl.job] = t1;
		if (pl.q == Q_LANE) {
			sh->lane_of[pl.job] = pl.lane;
			sh->k_of[pl.job] = pl.k;
		}
	}
	add64(&sh->finished[pl.q], 1);
	/* Keyed jobs stay: their keys stay live for the whole test. */
	if (pl.q != Q_KEY && shmrt__job_release(&c->seg, l->id) != 0)
		return EX_RELEASE;
	return EX_OK;
}

static int worker_main(struct child *c)
{
	unsigned char buf[SLOT_SIZE];
	struct shmrt__lease l;
	int rc = child_join(c, SHMRT__ROLE_WORKER);

	if (rc != EX_OK)
		return rc;
	for (;;) {
		child_pause(c);
		rc = shmrt__job_lease(&c->part, c->cfg.q, buf, sizeof(buf),
				      tu_deadline_ms(50), &l);
		if (rc == SHMRT_E_TIMEDOUT) {
			if (flag(&c->t->sh->work_stop))
				break;
			continue;
		}
		if (rc != 0)
			return EX_LEASE;
		if ((rc = work_one(c, &l, buf)) != EX_OK)
			return rc;
	}
	shmrt__part_leave(&c->part);
	shmrt__seg_detach(&c->seg);
	return EX_OK;
}

static int reaper_main(struct child *c)
{
	struct shared *sh = c->t->sh;
	int rc = child_join(c, SHMRT__ROLE_REAPER);

	if (rc != EX_OK)
		return rc;
	while (!flag(&sh->reap_stop)) {
		struct shmrt__scan_report r;
		uint64_t t0 = shmrt__os_now_ns(), took;

		shmrt__part_heartbeat(&c->part);
		if (shmrt__scan(&c->part, tu_deadline_ms(30000), &r) != 0)
			return EX_SCAN;
		took = shmrt__os_now_ns() - t0;
		rep_add(&sh->rep, &r);
		sh->scans++;
		if (took > sh->max_scan_ns)
			sh->max_scan_ns = took;
		sleep_us(10000 + tu_rnd(&c->rng) % 10000);
	}
	shmrt__part_leave(&c->part);
	shmrt__seg_detach(&c->seg);
	return EX_OK;
}

static void child_main(struct stest *t, uint32_t me)
{
	struct child c;
	int rc;

	memset(&c, 0, sizeof(c));
	c.t = t;
	c.me = me;
	c.cfg = t->kids[me];
	c.rng = t->seed ^ (0x9e3779b97f4a7c15ull * (me + 1));
	if (c.rng == 0)
		c.rng = 1;
	rc = c.cfg.role == R_PRODUCER ? producer_main(&c)
	     : c.cfg.role == R_WORKER ? worker_main(&c)
				      : reaper_main(&c);
	tu_child_exit(&t->sh->verdict, rc, EX_OK, EX_OK);
}

/* ------------------------------------------------------------ the storm */

static void add_kid(struct stest *t, int role, uint32_t q, uint32_t inst,
		    bool pauser)
{
	struct kid *k = &t->kids[t->nkids];

	assert_true(t->nkids < MAX_KIDS);
	k->role = role;
	k->q = q;
	k->inst = inst;
	k->pauser = pauser;
	t->nkids++;
}

static void kid_exited(struct stest *t, struct kid *k, int status)
{
	k->exited = true;
	k->stopped = false;
	k->code =
	    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (k->code != EX_OK) {
		print_message("child %d (%s of %s) ended with %d\n",
			      (int)k->pid,
			      k->role == R_PRODUCER ? "producer"
			      : k->role == R_WORKER ? "worker"
						    : "reaper",
			      qnames[k->q], k->code);
		t->child_failures++;
	}
}

/* How long the storm keeps a child stopped that stopped itself. */
static uint64_t self_stop_ns(struct stest *t, bool storm)
{
	if (!storm)
		return 0;
	return (2 * HB_MS + tu_rnd(&t->rng) % (STOP_MAX_MS - 2 * HB_MS)) *
	       1000000ull;
}

/*
 * Collects what happened to the children: exits, and stops the parent did
 * not cause (pause points), which it answers with a stop of its own
 * length (none once the storm is over).
 */
static void poll_kids(struct stest *t, bool storm)
{
	uint32_t i;

	for (i = 0; i < t->nkids; i++) {
		struct kid *k = &t->kids[i];
		int status;
		pid_t r;

		if (k->exited)
			continue;
		r = waitpid(k->pid, &status, WNOHANG | WUNTRACED);
		if (r != k->pid)
			continue;
		if (!WIFSTOPPED(status)) {
			if (k->stopped)
				t->nstopped--;
			kid_exited(t, k, status);
			continue;
		}
		if (k->stopped)
			continue; /* ours */
		k->stopped = true;
		t->nstopped++;
		k->until = shmrt__os_now_ns() + self_stop_ns(t, storm);
		t->self_stops++;
		__atomic_fetch_add(&t->sh->self_stops[i], 1, __ATOMIC_RELEASE);
	}
}

static void resume_kid(struct stest *t, struct kid *k)
{
	assert_int_equal(kill(k->pid, SIGCONT), 0);
	k->stopped = false;
	t->nstopped--;
}

static void resume_due(struct stest *t, bool all)
{
	uint64_t now = shmrt__os_now_ns();
	uint32_t i;

	for (i = 0; i < t->nkids; i++)
		if (t->kids[i].stopped && (all || now >= t->kids[i].until))
			resume_kid(t, &t->kids[i]);
}

/* SIGSTOP child k and wait until it is stopped (or gone). */
static void stop_kid(struct stest *t, struct kid *k)
{
	uint64_t give_up = tu_deadline_ms(5000);
	uint64_t ms;
	int status;

	assert_int_equal(kill(k->pid, SIGSTOP), 0);
	for (;;) {
		pid_t r = waitpid(k->pid, &status, WNOHANG | WUNTRACED);

		if (r == k->pid && !WIFSTOPPED(status)) {
			kid_exited(t, k, status);
			return;
		}
		if (r == k->pid)
			break;
		if (r < 0 && errno != EINTR)
			fail_msg("waitpid %d: %s", (int)k->pid,
				 strerror(errno));
		if (shmrt__os_now_ns() > give_up)
			fail_msg("child %d did not stop", (int)k->pid);
		sleep_us(100);
	}
	if (tu_rnd(&t->rng) % 2) {
		ms = tu_rnd(&t->rng) % SHORT_MAX_MS;
		t->stops_short++;
	} else {
		ms = HB_MS + 10 + tu_rnd(&t->rng) % (STOP_MAX_MS - HB_MS - 10);
		t->stops_long++;
	}
	k->stopped = true;
	t->nstopped++;
	k->until = shmrt__os_now_ns() + ms * 1000000ull;
}

static void storm(struct stest *t, uint64_t ms)
{
	uint64_t end = tu_deadline_ms(ms);

	while (shmrt__os_now_ns() < end) {
		poll_kids(t, true);
		resume_due(t, false);
		if (t->nstopped < MAX_STOPPED && tu_rnd(&t->rng) % 4 == 0) {
			struct kid *k = &t->kids[tu_rnd(&t->rng) % t->nkids];

			if (k->role != R_REAPER && !k->stopped && !k->exited)
				stop_kid(t, k);
		}
		sleep_us(1000);
	}
}

/* Until every child of `role` has exited, resuming any that stops. */
static void wait_role(struct stest *t, int role, uint64_t ms)
{
	uint64_t give_up = tu_deadline_ms(ms);

	for (;;) {
		uint32_t i, left = 0;

		poll_kids(t, false);
		resume_due(t, true);
		for (i = 0; i < t->nkids; i++)
			left += t->kids[i].role == role && !t->kids[i].exited;
		if (left == 0)
			return;
		if (shmrt__os_now_ns() > give_up)
			fail_msg("%u children (role %d) still running %llu ms "
				 "after they were told to leave",
				 left, role, (unsigned long long)ms);
		sleep_us(1000);
	}
}

static bool all_finished(const struct stest *t)
{
	uint32_t q;

	for (q = 0; q < NQ; q++)
		if (ld64(&t->sh->finished[q]) < ld64(&t->sh->accepted[q]))
			return false;
	return true;
}

/* Every accepted job finishes within FINISH_MS once all are resumed. */
static uint64_t wait_finished(struct stest *t)
{
	uint64_t t0 = shmrt__os_now_ns(), give_up = tu_deadline_ms(FINISH_MS);
	uint32_t q;

	while (!all_finished(t)) {
		poll_kids(t, false);
		resume_due(t, true);
		if (shmrt__os_now_ns() > give_up) {
			for (q = 0; q < NQ; q++)
				print_message(
				    "queue %s: accepted %llu, finished "
				    "%llu\n",
				    qnames[q],
				    (unsigned long long)ld64(
					&t->sh->accepted[q]),
				    (unsigned long long)ld64(
					&t->sh->finished[q]));
			fail_msg("accepted jobs not finished %d ms after the "
				 "storm",
				 FINISH_MS);
		}
		sleep_us(1000);
	}
	return shmrt__os_now_ns() - t0;
}

/* ------------------------------------------------------------ checks */

/* Prints every slot that is neither free nor finished; returns how many. */
static uint32_t print_unfinished(const struct shmrt__seg *seg, uint32_t qi)
{
	const struct shmrt__qhandle *q = &seg->q[qi];
	uint32_t i, n = 0;

	for (i = 0; i < q->capacity; i++) {
		uint64_t w = __atomic_load_n(&shmrt__slot_at(q, i)->word,
					     __ATOMIC_ACQUIRE);
		uint32_t st = shmrt__w_state(w);

		if (st == SHMRT__S_FREE || shmrt__state_final(st))
			continue;
		if (++n <= 5)
			print_message("queue %s slot %u: state %u owner %u "
				      "attempt %u\n",
				      qnames[qi], i, st, shmrt__w_owner(w),
				      shmrt__w_attempt(w));
	}
	return n;
}

/* Numbered jobs: accepted ones succeeded once, refused ones never ran. */
static void check_numbered(struct stest *t, uint32_t q)
{
	struct shared *sh = t->sh;
	uint32_t n = sh->next_job[q] < JOB_CAP ? sh->next_job[q] : JOB_CAP;
	uint32_t j, bad = 0;

	for (j = 0; j < n; j++) {
		uint8_t sub = sh->sub[q][j], done = sh->done[q][j];
		uint32_t runs = sh->runs[q][j];

		if ((sub == SUB_ACCEPTED && done == 1 && runs >= 1) ||
		    (sub == SUB_REFUSED && done == 0 && runs == 0))
			continue;
		if (++bad <= 5)
			print_message("queue %s job %u: submit %s, completed "
				      "%u times, ran %u times\n",
				      qnames[q], j,
				      sub == SUB_ACCEPTED  ? "accepted"
				      : sub == SUB_REFUSED ? "refused"
							   : "never returned",
				      done, runs);
	}
	if (bad)
		fail_msg("queue %s: %u jobs lost, doubled or run unaccepted",
			 qnames[q], bad);
}

/* One job per key, the same id for every submit, which succeeded once. */
static void check_keys(struct stest *t)
{
	struct shared *sh = t->sh;
	uint32_t g, bad = 0;

	for (g = 0; g < KEYSPACE; g++) {
		shmrt_job_id id = {sh->key_id[g]};
		struct shmrt_job_info info;
		uint32_t res = UINT32_MAX;
		int rc = -1;

		if (id.v != 0)
			rc = shmrt__job_status(&t->seg, id, &info, &res,
					       sizeof(res));
		if (sh->created[g] == 0 && id.v == 0 && sh->runs[Q_KEY][g] == 0)
			continue;
		if (sh->created[g] == 1 && id.v == sh->ids[Q_KEY][g] &&
		    sh->done[Q_KEY][g] == 1 && rc == 0 &&
		    info.state == SHMRT_JOB_SUCCEEDED && res == g)
			continue;
		if (++bad <= 5)
			print_message("key %u: id %016llx (created as "
				      "%016llx), status %s, state %d, result "
				      "%u, created %u, completed %u, ran %u\n",
				      g, (unsigned long long)id.v,
				      (unsigned long long)sh->ids[Q_KEY][g],
				      rc == -1 ? "-" : shmrt_err_name(rc),
				      rc == 0 ? info.state : -1, res,
				      sh->created[g], sh->done[Q_KEY][g],
				      sh->runs[Q_KEY][g]);
	}
	if (bad)
		fail_msg("%u keys with more than one job, or a job lost", bad);
	assert_int_equal(sh->key_mismatch, 0);
}

static const struct shared *sort_sh;
static uint32_t sort_q;

static int by_ticket(const void *a, const void *b)
{
	uint64_t x = sort_sh->ticket_of[sort_q][*(const uint32_t *)a];
	uint64_t y = sort_sh->ticket_of[sort_q][*(const uint32_t *)b];

	return x < y ? -1 : x > y;
}

/* Per lane, successful runs by ticket: k strictly increasing, no overlap. */
static void check_lanes(struct stest *t)
{
	struct shared *sh = t->sh;
	uint32_t n =
	    sh->next_job[Q_LANE] < JOB_CAP ? sh->next_job[Q_LANE] : JOB_CAP;
	uint32_t *jobs = calloc(n + 1, sizeof(*jobs));
	uint32_t lane, j, m, bad = 0;

	assert_non_null(jobs);
	sort_sh = sh;
	sort_q = Q_LANE;
	for (lane = 0; lane < NL; lane++) {
		for (j = 0, m = 0; j < n; j++)
			if (sh->done[Q_LANE][j] == 1 && sh->lane_of[j] == lane)
				jobs[m++] = j;
		qsort(jobs, m, sizeof(*jobs), by_ticket);
		for (j = 1; j < m; j++) {
			uint32_t a = jobs[j - 1], b = jobs[j];

			if (sh->k_of[b] > sh->k_of[a] &&
			    sh->t1[Q_LANE][a] <= sh->t0[Q_LANE][b])
				continue;
			if (++bad <= 5)
				print_message(
				    "lane %u: job %u (k %u, ticket %llu, ran "
				    "%llu..%llu) then job %u (k %u, ticket "
				    "%llu, ran %llu..%llu)\n",
				    lane, a, sh->k_of[a],
				    (unsigned long long)
					sh->ticket_of[Q_LANE][a],
				    (unsigned long long)sh->t0[Q_LANE][a],
				    (unsigned long long)sh->t1[Q_LANE][a], b,
				    sh->k_of[b],
				    (unsigned long long)
					sh->ticket_of[Q_LANE][b],
				    (unsigned long long)sh->t0[Q_LANE][b],
				    (unsigned long long)sh->t1[Q_LANE][b]);
		}
	}
	free(jobs);
	if (bad)
		fail_msg("%u lane order or overlap violations", bad);
}

struct edge {
	uint64_t t;
	int d; /* +1 start, -1 end */
};

static int by_time(const void *a, const void *b)
{
	const struct edge *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->d - y->d; /* ends first at a tie */
}

/* At no instant more than SEM_LIMIT successful runs of the sem queue. */
static uint32_t check_sem_cap(struct stest *t)
{
	struct shared *sh = t->sh;
	uint32_t n =
	    sh->next_job[Q_SEM] < JOB_CAP ? sh->next_job[Q_SEM] : JOB_CAP;
	struct edge *e = calloc(2 * (size_t)n + 1, sizeof(*e));
	uint32_t j, m = 0, depth = 0, max = 0;
	uint64_t at = 0;

	assert_non_null(e);
	for (j = 0; j < n; j++) {
		if (sh->done[Q_SEM][j] != 1)
			continue;
		e[m++] = (struct edge){sh->t0[Q_SEM][j], 1};
		e[m++] = (struct edge){sh->t1[Q_SEM][j], -1};
	}
	qsort(e, m, sizeof(*e), by_time);
	for (j = 0; j < m; j++) {
		depth += (uint32_t)e[j].d;
		if (depth > max) {
			max = depth;
			at = e[j].t;
		}
	}
	free(e);
	if (max > SEM_LIMIT)
		fail_msg("%u jobs ran at once under a semaphore of limit %d "
			 "(at %llu ns)",
			 max, SEM_LIMIT, (unsigned long long)at);
	return max;
}

static void scan_until_quiet(struct stest *t)
{
	int n;

	for (n = 0; n < 100; n++) {
		struct shmrt__scan_report r;

		assert_int_equal(
		    shmrt__scan(&t->part, tu_deadline_ms(10000), &r), 0);
		if (!rep_busy(&r))
			return;
	}
	fail_msg("scan still repairing after 100 rounds");
}

static void check_segment(struct stest *t)
{
	uint32_t q, unfinished = 0;

	for (q = 0; q < NQ; q++)
		unfinished += print_unfinished(&t->seg, q);
	assert_int_equal(unfinished, 0);
	assert_int_equal(shmrt__lane_count(&t->seg.q[Q_LANE]), 0);
	assert_int_equal(shmrt__sem_in_use(&t->seg, 0), 0);
}

/* The ring of queue q works all the way round, three laps. */
static void check_ring(struct stest *t, uint32_t qi)
{
	const struct shmrt__qhandle *q = &t->seg.q[qi];
	uint64_t laps = 3 * (q->ring_mask + 1), i;
	unsigned char buf[SLOT_SIZE];
	struct shmrt__lease l;
	int rc;

	/* Drop refs a resumed participant pushed again (duplicates). */
	while ((rc = shmrt__job_lease(&t->part, qi, buf, sizeof(buf), 0, &l)) ==
	       0)
		fail_msg("queue %s: a job was left after the drain",
			 qnames[qi]);
	assert_int_equal(rc, SHMRT_E_AGAIN);
	for (i = 0; i < laps; i++) {
		struct shmrt__submit sub = {.payload = "r", .len = 1};
		shmrt_job_id id;

		if (qi == Q_LANE) {
			sub.lane = "ring";
			sub.lane_len = 4;
		}
		assert_int_equal(shmrt__job_submit(&t->part, qi, &sub, &id), 0);
		assert_int_equal(shmrt__job_lease(&t->part, qi, buf,
						  sizeof(buf),
						  tu_deadline_ms(5000), &l),
				 0);
		assert_int_equal(l.id.v, id.v);
		assert_int_equal(shmrt__job_complete(&t->part, &l, "x", 1), 0);
		assert_int_equal(shmrt__job_release(&t->seg, id), 0);
	}
	assert_int_equal(
	    shmrt__job_lease(&t->part, qi, buf, sizeof(buf), 0, &l),
	    SHMRT_E_AGAIN);
	assert_int_equal(
	    __atomic_load_n(&q->ctl->enqueue_pos, __ATOMIC_ACQUIRE),
	    __atomic_load_n(&q->ctl->dequeue_pos, __ATOMIC_ACQUIRE));
}

static void print_report(const struct stest *t)
{
	const struct shmrt__scan_report *r = &t->sh->rep;

	print_message(
	    "scans %llu (longest %.1f ms): hung %u, dead %u, tombstoned %u, "
	    "released %u, republished %u, requeued %u, failed %u, leases "
	    "expired %u, slots freed %u, permits reclaimed %u, lanes settled "
	    "%u, keys expired %u\n",
	    (unsigned long long)t->sh->scans, (double)t->sh->max_scan_ns / 1e6,
	    r->hung_participants, r->dead_participants, r->cells_tombstoned,
	    r->cells_released, r->jobs_republished, r->jobs_requeued,
	    r->jobs_failed, r->leases_expired, r->slots_freed,
	    r->permits_reclaimed, r->lanes_settled, r->keys_expired);
}

/* ------------------------------------------------------------ the test */

static void setup_segment(struct stest *t)
{
	struct shmrt__seg_params p;
	uint32_t q;

	tu_params_one_queue(&p, 256, SLOT_SIZE, NPARTICIPANTS);
	p.queue[0].max_attempts = MAX_ATTEMPTS;
	p.nqueues = NQ;
	for (q = 0; q < NQ; q++) {
		p.queue[q] = p.queue[0];
		p.queue[q].name = qnames[q];
	}
	p.queue[Q_LANE].nlanes = 4 * NL;
	p.queue[Q_KEY].capacity = KEYSPACE + 64;
	p.queue[Q_KEY].nidem = KEYSPACE + 64;
	p.queue[Q_KEY].idem_ttl_ns = 3600ull * 1000000000u;
	p.queue[Q_SEM].capacity = 128;
	p.queue[Q_SEM].sem = 1;
	p.nsems = 1;
	p.sem[0].name = "cap";
	p.sem[0].limit = SEM_LIMIT;
	p.tun.retention_ns = 3600ull * 1000000000u;
	p.tun.heartbeat_timeout_ns = HB_MS * 1000000ull;
	assert_int_equal(shmrt__seg_create(t->tenant, &p, &t->seg), 0);
	assert_int_equal(shmrt__part_join(&t->seg,
					  SHMRT__ROLE_WORKER |
					      SHMRT__ROLE_PRODUCER |
					      SHMRT__ROLE_REAPER,
					  &t->part),
			 0);
	t->joined = true;
}

static void spawn_all(struct stest *t)
{
	uint32_t q, i;

	/* Instance 0 of each kind and queue stops itself at pause points
	 * (a laned producer only before the lock: see job.submit.filled);
	 * the others only when the storm stops them. */
	for (q = 0; q < NQ; q++) {
		for (i = 0; i < nprod[q]; i++)
			add_kid(t, R_PRODUCER, q, i, i == 0 && q != Q_LANE);
		for (i = 0; i < nwork[q]; i++)
			add_kid(t, R_WORKER, q, i, i == 0);
	}
	add_kid(t, R_REAPER, 0, 0, false);
	for (i = 0; i < t->nkids; i++) {
		pid_t pid = tu_fork(EX_ORPHAN);

		if (pid == 0)
			child_main(t, i);
		t->kids[i].pid = pid;
	}
}

static void test_stop_storm(void **state)
{
	struct stest *t = *state;
	uint64_t ms = tu_scaled(8000, 2000), t0 = shmrt__os_now_ns();
	uint64_t finish_ns, stale = 0, runs = 0;
	const struct shmrt__scan_report *r;
	uint32_t q, depth;

	t->seed = tu_pick_seed();
	t->rng = t->seed ? t->seed : 1;
	print_message("seed %llu (SHMRT_TEST_SEED replays it), storm of %llu "
		      "ms, heartbeat timeout %d ms\n",
		      (unsigned long long)t->seed, (unsigned long long)ms,
		      HB_MS);
	t->sh = tu_shared_alloc(sizeof(*t->sh));
	assert_non_null(t->sh);
	setup_segment(t);
	spawn_all(t);

	storm(t, ms);

	/* Everything resumed; producers leave, the rest must finish. */
	__atomic_store_n(&t->sh->no_pause, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&t->sh->prod_stop, 1, __ATOMIC_RELEASE);
	resume_due(t, true);
	wait_role(t, R_PRODUCER, EXIT_MS);
	finish_ns = wait_finished(t);
	__atomic_store_n(&t->sh->work_stop, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&t->sh->reap_stop, 1, __ATOMIC_RELEASE);
	wait_role(t, R_WORKER, EXIT_MS);
	wait_role(t, R_REAPER, EXIT_MS);
	if (t->child_failures)
		print_message("first child failure: %s\n", t->sh->verdict.why);
	assert_int_equal(t->child_failures, 0);

	for (q = 0; q < NQ; q++) {
		stale += t->sh->stale[q];
		runs += t->sh->finished[q];
	}
	print_message(
	    "%.2f s; stops: %llu short, %llu past the heartbeat "
	    "timeout, %llu at pause points; jobs accepted "
	    "%llu/%llu/%llu/%llu (plain/lane/keyed/sem), refused "
	    "%llu, keyed submits answered with the existing job "
	    "%llu, stale completions %llu; all finished %.0f ms "
	    "after the storm\n",
	    (double)(shmrt__os_now_ns() - t0) / 1e9,
	    (unsigned long long)t->stops_short,
	    (unsigned long long)t->stops_long,
	    (unsigned long long)t->self_stops,
	    (unsigned long long)t->sh->accepted[Q_PLAIN],
	    (unsigned long long)t->sh->accepted[Q_LANE],
	    (unsigned long long)t->sh->accepted[Q_KEY],
	    (unsigned long long)t->sh->accepted[Q_SEM],
	    (unsigned long long)(t->sh->refused[0] + t->sh->refused[1] +
				 t->sh->refused[2] + t->sh->refused[3]),
	    (unsigned long long)t->sh->existing, (unsigned long long)stale,
	    (double)finish_ns / 1e6);
	print_report(t);
	(void)runs;

	for (q = 0; q < NQ; q++)
		if (q != Q_KEY)
			check_numbered(t, q);
	check_keys(t);
	check_lanes(t);
	depth = check_sem_cap(t);
	print_message("semaphore queue: at most %u of %d ran at once\n", depth,
		      SEM_LIMIT);

	scan_until_quiet(t);
	check_segment(t);
	for (q = 0; q < NQ; q++)
		check_ring(t, q);
	check_segment(t);

	/* The storm reached the repairs of the stopped. */
	r = &t->sh->rep;
	assert_true(r->hung_participants > 0);
	assert_true(r->cells_tombstoned > 0);
	assert_true(r->cells_released > 0);
	assert_true(r->jobs_requeued > 0);
	assert_true(r->permits_reclaimed > 0);
}

/* ------------------------------------- a permit taken with the wrong job */

#define R_HB_MS	  100
#define R_WAIT_MS 10000

/* What the reproduction's children report. */
struct rshared {
	uint32_t ready; /* the worker: 1 = holds J, 2 = holds K */
	uint32_t go;	/* the parent: 1 = finish J, 2 = finish K */
	int32_t rc_j;	/* the worker's complete of J */
	int32_t rc_k;	/* its complete of K */
	uint64_t id_j, id_k;
	uint32_t k_valid_at_end; /* the lease on K was valid before complete */
	struct shmrt__scan_report rep;
};

struct rtest {
	char tenant[64];
	struct rshared *sh;
	struct shmrt__seg seg;
	struct shmrt__part part;
	bool joined;
	pid_t kids[2];
};

static bool rwait_value(const uint32_t *word, uint32_t value,
			struct shmrt__part *beat)
{
	uint64_t give_up = tu_deadline_ms(R_WAIT_MS);

	while (__atomic_load_n(word, __ATOMIC_ACQUIRE) != value) {
		if (shmrt__os_now_ns() > give_up)
			return false;
		if (beat != NULL)
			shmrt__part_heartbeat(beat);
		shmrt__os_sleep_ns(500000);
	}
	return true;
}

static int rattach(struct rtest *t, uint32_t role, struct shmrt__seg *seg,
		   struct shmrt__part *part)
{
	if (shmrt__seg_attach(t->tenant, seg) != 0 ||
	    shmrt__part_join(seg, role, part) != 0)
		return EX_ATTACH;
	return EX_OK;
}

/*
 * The worker: leases J and waits (the parent stops it there past the
 * heartbeat timeout); told to go on, completes J (stale: scan took it
 * back), leases again, which gives K with a fresh permit, and holds K,
 * heartbeating, until told to complete it.
 */
static int rworker_main(struct rtest *t)
{
	unsigned char buf[SLOT_SIZE];
	struct shmrt__seg seg;
	struct shmrt__part part;
	struct shmrt__lease l;
	int rc = rattach(t, SHMRT__ROLE_WORKER, &seg, &part);

	if (rc != EX_OK)
		return rc;
	if (shmrt__job_lease(&part, 0, buf, sizeof(buf),
			     tu_deadline_ms(R_WAIT_MS), &l) != 0)
		return EX_LEASE;
	t->sh->id_j = l.id.v;
	__atomic_store_n(&t->sh->ready, 1, __ATOMIC_RELEASE);
	if (!rwait_value(&t->sh->go, 1, NULL))
		return EX_ORPHAN;
	t->sh->rc_j = shmrt__job_complete(&part, &l, "j", 1);
	if (shmrt__job_lease(&part, 0, buf, sizeof(buf),
			     tu_deadline_ms(R_WAIT_MS), &l) != 0)
		return EX_LEASE;
	t->sh->id_k = l.id.v;
	__atomic_store_n(&t->sh->ready, 2, __ATOMIC_RELEASE);
	if (!rwait_value(&t->sh->go, 2, &part))
		return EX_ORPHAN;
	t->sh->k_valid_at_end = shmrt__job_lease_valid(&seg, &l);
	t->sh->rc_k = shmrt__job_complete(&part, &l, "k", 1);
	shmrt__part_leave(&part);
	shmrt__seg_detach(&seg);
	return EX_OK;
}

/* The scanner: stops itself at its first ring push, inside a repair. */
static int rscanner_main(struct rtest *t)
{
	struct shmrt__seg seg;
	struct shmrt__part part;
	int rc;

	shmrt__pause_arm("ring.push.claimed", 1, SHMRT__PAUSE_STOP);
	if ((rc = rattach(t, SHMRT__ROLE_REAPER, &seg, &part)) != EX_OK)
		return rc;
	rc = shmrt__scan(&part, tu_deadline_ms(R_WAIT_MS), &t->sh->rep);
	shmrt__part_leave(&part);
	shmrt__seg_detach(&seg);
	return rc == 0 ? EX_OK : EX_SCAN;
}

static shmrt_job_id renqueue(struct rtest *t, const char *what)
{
	shmrt_job_id id;

	assert_int_equal(
	    shmrt__job_enqueue(&t->part, 0, what, strlen(what), 0, &id), 0);
	return id;
}

static int rstate(struct rtest *t, shmrt_job_id id)
{
	struct shmrt_job_info info;

	assert_int_equal(shmrt__job_status(&t->seg, id, &info, NULL, 0), 0);
	return info.state;
}

static void rwait_ready(struct rtest *t, uint32_t value)
{
	uint64_t give_up = tu_deadline_ms(R_WAIT_MS);

	while (__atomic_load_n(&t->sh->ready, __ATOMIC_ACQUIRE) != value) {
		if (shmrt__os_now_ns() > give_up)
			fail_msg("the worker did not reach step %u", value);
		shmrt__os_sleep_ns(200000);
	}
}

/*
 * Scan takes back a hung worker's job J, and then the permit J ran under.
 * If the worker resumes between the two, finds its completion of J stale
 * (its permit given back), and leases another job K with a fresh permit
 * (renewed, so its lease is valid), that permit is K's and must stay:
 * scan takes a permit only while the worker's record still names J's
 * lease (token and job id). Taking every permit of the worker (as scan
 * once did) left K running without one, beside a second job, under a
 * semaphore of limit 1.
 *
 * Frozen at the exact point: the scanner stops at its first ring push,
 * which is the re-publish of J inside reclaim_with_permit, after J was
 * taken back and before take_from. K sits in the ring ahead of that cell,
 * so the resumed worker can lease it meanwhile.
 */
static void test_scan_takes_the_permit_of_a_later_lease(void **state)
{
	struct rtest *t = *state;
	unsigned char buf[SLOT_SIZE];
	struct shmrt__lease l;
	shmrt_job_id j, k;
	int rc;

	j = renqueue(t, "J");
	t->kids[0] = tu_fork(EX_ORPHAN);
	if (t->kids[0] == 0)
		_exit(rworker_main(t));
	rwait_ready(t, 1);
	assert_int_equal(t->sh->id_j, j.v);
	assert_int_equal(kill(t->kids[0], SIGSTOP), 0);
	assert_int_equal(tu_wait_stopped(t->kids[0], R_WAIT_MS), 0);
	shmrt__os_sleep_ns(R_HB_MS * 3 / 2 * 1000000ull); /* now hung */
	k = renqueue(t, "K");

	t->kids[1] = tu_fork(EX_ORPHAN);
	if (t->kids[1] == 0)
		_exit(rscanner_main(t));
	assert_int_equal(tu_wait_stopped(t->kids[1], R_WAIT_MS), 0);
	/* J was taken back ("worker hung"); its permit not yet. */
	assert_int_equal(rstate(t, j), SHMRT_JOB_QUEUED);
	assert_int_equal(shmrt__sem_in_use(&t->seg, 0), 1);

	/* The worker resumes: J is stale, it gives back its permit, takes
	 * a fresh one and leases K (ahead of the scanner's claimed cell). */
	__atomic_store_n(&t->sh->go, 1, __ATOMIC_RELEASE);
	assert_int_equal(kill(t->kids[0], SIGCONT), 0);
	rwait_ready(t, 2);
	assert_int_equal(t->sh->rc_j, SHMRT_E_STALE);
	assert_int_equal(t->sh->id_k, k.v);
	assert_int_equal(rstate(t, k), SHMRT_JOB_RUNNING);
	assert_int_equal(shmrt__sem_in_use(&t->seg, 0), 1);

	/* The scan goes on and ends. */
	assert_int_equal(kill(t->kids[1], SIGCONT), 0);
	assert_int_equal(tu_wait_child(t->kids[1], R_WAIT_MS), EX_OK);
	t->kids[1] = 0;
	print_message("scan: hung %u, requeued %u, permits reclaimed %u; K "
		      "running: %s, permits in use: %u of 1\n",
		      t->sh->rep.hung_participants, t->sh->rep.jobs_requeued,
		      t->sh->rep.permits_reclaimed,
		      rstate(t, k) == SHMRT_JOB_RUNNING ? "yes" : "no",
		      shmrt__sem_in_use(&t->seg, 0));

	/* While K runs on its valid lease, no other job may start. */
	rc = shmrt__job_lease(&t->part, 0, buf, sizeof(buf), 0, &l);
	if (rc == 0) {
		/* Both complete successfully: two jobs ran at once. */
		assert_int_equal(shmrt__job_complete(&t->part, &l, "p", 1), 0);
		__atomic_store_n(&t->sh->go, 2, __ATOMIC_RELEASE);
		assert_int_equal(tu_wait_child(t->kids[0], R_WAIT_MS), EX_OK);
		t->kids[0] = 0;
		fail_msg("semaphore of limit 1: job %016llx was leased and "
			 "completed (%s) while the worker's lease on K "
			 "(%016llx) was valid (%u) and then completed with %s: "
			 "scan took K's permit with J",
			 (unsigned long long)l.id.v,
			 l.id.v == j.v ? "it is J" : "another job",
			 (unsigned long long)k.v, t->sh->k_valid_at_end,
			 shmrt_err_name(t->sh->rc_k));
	}
	assert_int_equal(rc, SHMRT_E_AGAIN);
	__atomic_store_n(&t->sh->go, 2, __ATOMIC_RELEASE);
	assert_int_equal(tu_wait_child(t->kids[0], R_WAIT_MS), EX_OK);
	t->kids[0] = 0;
	assert_int_equal(t->sh->rc_k, 0);
	assert_int_equal(rstate(t, k), SHMRT_JOB_SUCCEEDED);
	/* J runs once the permit is back. */
	assert_int_equal(shmrt__job_lease(&t->part, 0, buf, sizeof(buf),
					  tu_deadline_ms(R_WAIT_MS), &l),
			 0);
	assert_int_equal(l.id.v, j.v);
	assert_int_equal(shmrt__job_complete(&t->part, &l, "p", 1), 0);
}

static int rx_setup(void **state)
{
	struct rtest *t = calloc(1, sizeof(*t));
	struct shmrt__seg_params p;

	if (t == NULL)
		return -1;
	t->sh = tu_shared_alloc(sizeof(*t->sh));
	if (t->sh == NULL)
		return -1;
	t->seg.fd = -1;
	snprintf(t->tenant, sizeof(t->tenant), "%s", tu_tenant());
	tu_params_one_queue(&p, 8, SLOT_SIZE, 16);
	p.queue[0].name = "sem";
	p.queue[0].max_attempts = 10;
	p.queue[0].sem = 1;
	p.nsems = 1;
	p.sem[0].name = "one";
	p.sem[0].limit = 1;
	p.tun.heartbeat_timeout_ns = R_HB_MS * 1000000ull;
	if (shmrt__seg_create(t->tenant, &p, &t->seg) != 0 ||
	    shmrt__part_join(&t->seg, SHMRT__ROLE_WORKER | SHMRT__ROLE_PRODUCER,
			     &t->part) != 0)
		return -1;
	t->joined = true;
	*state = t;
	return 0;
}

static int rx_teardown(void **state)
{
	struct rtest *t = *state;
	uint32_t i;

	for (i = 0; i < 2; i++)
		if (t->kids[i] > 0) {
			kill(t->kids[i], SIGKILL);
			tu_wait_child(t->kids[i], 5000);
		}
	if (t->joined)
		shmrt__part_leave(&t->part);
	shmrt__seg_detach(&t->seg);
	shmrt__seg_destroy(t->tenant);
	tu_shared_free(t->sh, sizeof(*t->sh));
	free(t);
	return 0;
}

static int fx_setup(void **state)
{
	struct stest *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -1;
	t->seg.fd = -1;
	snprintf(t->tenant, sizeof(t->tenant), "%s", tu_tenant());
	*state = t;
	return 0;
}

static int fx_teardown(void **state)
{
	struct stest *t = *state;
	uint32_t i;

	for (i = 0; i < t->nkids; i++)
		if (t->kids[i].pid > 0 && !t->kids[i].exited) {
			kill(t->kids[i].pid, SIGKILL);
			tu_wait_child(t->kids[i].pid, 5000);
		}
	if (t->joined)
		shmrt__part_leave(&t->part);
	shmrt__seg_detach(&t->seg);
	shmrt__seg_destroy(t->tenant);
	if (t->sh != NULL)
		tu_shared_free(t->sh, sizeof(*t->sh));
	free(t);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_stop_storm, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_scan_takes_the_permit_of_a_later_lease, rx_setup,
		rx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
