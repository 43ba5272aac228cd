/*
 * tests/fault/test_kill_keyed.c - SIGKILLs against lanes, semaphores and
 * idempotency keys: what a dead process held comes back through scan and
 * the state lock's repair, and lane order and key uniqueness survive.
 *
 * test_kill_holders: four queues, one per kind of holding:
 *   "plain"   a running job,
 *   "lane"    a running job that is its lane's head (the lane is held),
 *   "sem"     a running job and a permit of semaphore "s2" (limit 2),
 *   "lanesem" all three (semaphore "s3", limit 2).
 * One producer per queue (never killed) keeps a backlog of jobs on a few
 * lanes; two consumers per queue lease, hold the job for 0.1-0.6 ms and
 * complete it. A consumer announces that it holds a job (hold[inst] =
 * HOLDING) and before completing takes the right to go on with a CAS
 * HOLDING -> BUSY; the parent instead CASes HOLDING -> DOOMED and
 * SIGKILLs it, so each such kill provably lands while the victim holds
 * its job (and lane, and permit). Every third round the parent also kills
 * a consumer wherever it is (inside lease, complete, a permit wait), half
 * of these times one it sees holding a laned queue's state lock (moving a
 * lane on after a complete) if it sees one within 10 ms. Victims are confirmed
 * dead (waitid WNOWAIT) and left as zombies until the next round; the parent
 * scans every SCAN_EVERY_MS, as the runtime would. Checked, in MAP_SHARED
 * memory written by consumers (and the parent's own drain at the end): a lane
 * never has two jobs at once (lane_owner, a CAS from 0; a killed holder's mark
 * is cleared by the parent once it is dead, before any scan can give its job
 * away); a lane's jobs start in the producer's order, a job re-run after its
 * worker died repeating its place. At the end every accepted job is succeeded
 * or failed with the queue's max_attempts and "worker died"; no job succeeded
 * twice; every lane is gone (shmrt__lane_count 0), every permit is back
 * (shmrt__sem_in_use 0, and scan reclaimed at least one per kill on a
 * semaphore queue), every slot is free or finished.
 *
 * test_kill_keyed_producers: producers submit keyed jobs on a laned queue
 * ("lk", lane and idempotency key) and on a keyed queue ("k") and are
 * SIGKILLed every 1-4 ms, often while holding a queue's state lock (the
 * parent reads the lock's owner word before the kill and counts those).
 * Keys are drawn from a key space per queue, so live producers race on
 * keys and a replacement resubmits keys of its dead predecessor. Checked:
 * every submit of a key that returned got the same job id; no key ever has
 * two jobs; every job accepted ends succeeded, exactly once (none lost
 * behind a dead lock holder, none stuck in a lane); per (producer, lane)
 * the jobs ran in submit order.
 *
 * Seeds are printed; SHMRT_TEST_SEED replays the kill schedule and key
 * draws (timing still varies).
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
#include "shm/lane.h"
#include "shm/os.h"
#include "shm/participant.h"
#include "shm/qstate.h"
#include "shm/scan.h"
#include "shm/segment.h"
#include "shm/sem.h"
#include "testutil.h"

#define SLOT_SIZE     32
#define NPARTICIPANTS 96
#define MAX_ATTEMPTS  2
#define SCAN_EVERY_MS 20
#define MAX_INST      4096
#define NL	      6 /* lanes used per laned queue */
#define LANE_TABLE    16
#define EX_KILLED     (128 + SIGKILL)

enum {
	EX_OK = 0,
	EX_ATTACH = 2,
	EX_JOIN = 3,
	EX_SUBMIT = 4,
	EX_LEASE = 5,
	EX_PAYLOAD = 6,
	EX_COMPLETE = 7,
	EX_RELEASE = 8,
	EX_SEQCAP = 9,
	EX_DEADLINE = 10,
};

static void add64(uint64_t *p, uint64_t v)
{
	__atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

static void *shared_array(size_t n, size_t size)
{
	void *p = tu_shared_alloc(n * size);

	assert_non_null(p);
	return p;
}

/* Attach and join; a full participant table is retried (scan frees it). */
static int child_join(const char *tenant, uint32_t role, struct shmrt__seg *seg,
		      struct shmrt__part *part)
{
	uint64_t give_up = tu_deadline_ms(5000);

	if (shmrt__seg_attach(tenant, seg) != 0)
		return EX_ATTACH;
	while (shmrt__part_join(seg, role, part) != 0) {
		if (shmrt__os_now_ns() > give_up)
			return EX_JOIN;
		shmrt__os_sleep_ns(1000000);
	}
	return EX_OK;
}

/* Blocks until `pid` is dead (a zombie), without reaping it. */
static void confirm_dead(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) != 0)
		;
}

/* The pid of the process holding queue q's state lock, or 0. */
static pid_t lock_owner(const struct shmrt__qhandle *q)
{
	return (pid_t)(shmrt__qstate_holder(q) >> 32);
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

static void rep_print(const struct shmrt__scan_report *r)
{
	print_message("scan sums: dead %u, tombstoned %u, released %u, "
		      "republished %u, requeued %u, failed %u, slots freed "
		      "%u, permits reclaimed %u, lanes settled %u, keys "
		      "expired %u\n",
		      r->dead_participants, r->cells_tombstoned,
		      r->cells_released, r->jobs_republished, r->jobs_requeued,
		      r->jobs_failed, r->slots_freed, r->permits_reclaimed,
		      r->lanes_settled, r->keys_expired);
}

/* Prints every slot that is neither free nor finished; returns how many. */
static uint32_t print_unfinished(const struct shmrt__seg *seg, uint32_t qi)
{
	const struct shmrt__qhandle *q = &seg->q[qi];
	uint32_t i, n = 0;

	for (i = 0; i < q->capacity; i++) {
		const struct shmrt__slot *s = shmrt__slot_at(q, i);
		uint64_t w = __atomic_load_n(&s->word, __ATOMIC_ACQUIRE);
		uint32_t st = shmrt__w_state(w);

		if (st == SHMRT__S_FREE || shmrt__state_final(st))
			continue;
		if (++n <= 5)
			print_message(
			    "queue %u slot %u: state %u owner %u "
			    "attempt %u lane %u next %u\n",
			    qi, i, st, shmrt__w_owner(w), shmrt__w_attempt(w),
			    __atomic_load_n(&s->lane, __ATOMIC_RELAXED),
			    __atomic_load_n(&s->lane_next, __ATOMIC_RELAXED));
	}
	return n;
}

/* ============================================= test_kill_holders */

#define NQ	     4
#define SEQ_CAP	     (1u << 15) /* jobs per queue */
#define CAPACITY     256
#define BACKLOG	     24
#define CONS_PER_Q   2
#define HOLD_WAIT_MS 5000 /* for a holder of the wanted kind */
#define DRAIN_MS     15000

enum { Q_PLAIN, Q_LANE, Q_SEM, Q_LANESEM };

static const char *const qnames[NQ] = {"plain", "lane", "sem", "lanesem"};
static const bool q_laned[NQ] = {false, true, false, true};

enum { H_IDLE = 0, H_HOLDING = 1, H_BUSY = 2, H_DOOMED = 3 };

struct hpayload {
	uint32_t q;
	uint32_t seq;
	uint32_t lane;
	uint32_t k;
};

struct hshared {
	uint32_t stop; /* producers stop */
	uint64_t overlaps;
	uint64_t order_violations;
	uint64_t stale;
	uint64_t completed;
	uint32_t first_bad[4];	     /* q, lane, expected k + 1, k */
	uint32_t lane_owner[NQ][NL]; /* inst + 1 of the job's runner */
	uint32_t last_plus1[NQ][NL]; /* k + 1 of the lane's last start */
	uint32_t hold[MAX_INST];
	uint32_t produced[NQ];
	uint64_t ids[NQ][SEQ_CAP]; /* accepted jobs */
	uint8_t done[NQ][SEQ_CAP]; /* completes that returned 0 */
	uint8_t runs[NQ][SEQ_CAP];
};

struct htest {
	char tenant[64];
	uint64_t rng;
	struct hshared *sh;
	struct shmrt__seg seg;
	struct shmrt__part part;
	bool joined;
	uint32_t next_inst;
	pid_t producers[NQ];
	pid_t cons[NQ][CONS_PER_Q];
	uint32_t cons_inst[NQ][CONS_PER_Q];
	pid_t zombies[8];
	uint32_t nzombies;
	uint32_t child_failures;
	uint64_t holding_kills[NQ];
	uint64_t random_kills;
	uint64_t lock_kills;
	struct shmrt__scan_report rep;
	uint64_t last_scan;
};

static int hproducer_main(struct htest *t, uint32_t qi)
{
	uint32_t k[NL] = {0};
	uint64_t rng = t->rng ^ (0x9e3779b97f4a7c15ull * (qi + 1));
	struct shmrt__seg seg;
	struct shmrt__part part;
	struct hpayload pl = {.q = qi};
	const struct shmrt__queue *ctl;
	char lane[8];
	int rc = child_join(t->tenant, SHMRT__ROLE_PRODUCER, &seg, &part);

	if (rc != EX_OK)
		return rc;
	ctl = seg.q[qi].ctl;
	for (pl.seq = 0; !__atomic_load_n(&t->sh->stop, __ATOMIC_ACQUIRE);) {
		struct shmrt__submit sub = {.payload = &pl, .len = sizeof(pl)};
		shmrt_job_id id;
		uint64_t fin =
		    __atomic_load_n(&ctl->n_succeeded, __ATOMIC_RELAXED) +
		    __atomic_load_n(&ctl->n_failed, __ATOMIC_RELAXED);

		if (pl.seq >= SEQ_CAP)
			return EX_SEQCAP;
		if (pl.seq > fin + BACKLOG) {
			shmrt__os_sleep_ns(100000);
			continue;
		}
		pl.lane = (uint32_t)(tu_rnd(&rng) % NL);
		pl.k = k[pl.lane];
		if (q_laned[qi]) {
			sub.lane = lane;
			sub.lane_len = (size_t)snprintf(lane, sizeof(lane),
							"L%u", pl.lane);
		}
		sub.deadline_ns = tu_deadline_ms(50);
		rc = shmrt__job_submit(&part, qi, &sub, &id);
		if (rc == SHMRT_E_FULL)
			continue;
		if (rc != 0)
			return EX_SUBMIT;
		__atomic_store_n(&t->sh->ids[qi][pl.seq], id.v,
				 __ATOMIC_RELAXED);
		k[pl.lane]++;
		pl.seq++;
		__atomic_store_n(&t->sh->produced[qi], pl.seq,
				 __ATOMIC_RELEASE);
	}
	return EX_OK;
}

/* Lane checks at the start of a job; inst + 1 marks the lane as ours. */
static void lane_enter(struct htest *t, uint32_t inst,
		       const struct hpayload *pl)
{
	uint32_t zero = 0, lp;
	uint32_t *owner = &t->sh->lane_owner[pl->q][pl->lane];
	uint32_t *last = &t->sh->last_plus1[pl->q][pl->lane];

	if (!__atomic_compare_exchange_n(owner, &zero, inst + 1, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		add64(&t->sh->overlaps, 1);
	lp = __atomic_load_n(last, __ATOMIC_ACQUIRE);
	/* The next job, or the same one again (its worker died). */
	if (pl->k != lp && pl->k + 1 != lp &&
	    __atomic_fetch_add(&t->sh->order_violations, 1, __ATOMIC_RELAXED) ==
		0) {
		t->sh->first_bad[0] = pl->q;
		t->sh->first_bad[1] = pl->lane;
		t->sh->first_bad[2] = lp;
		t->sh->first_bad[3] = pl->k;
	}
	__atomic_store_n(last, pl->k + 1, __ATOMIC_RELEASE);
}

static void lane_leave(struct htest *t, uint32_t inst,
		       const struct hpayload *pl)
{
	uint32_t mine = inst + 1;

	__atomic_compare_exchange_n(&t->sh->lane_owner[pl->q][pl->lane], &mine,
				    0, false, __ATOMIC_ACQ_REL,
				    __ATOMIC_ACQUIRE);
}

/* Holds the job until its time is up, unless the parent dooms us. */
static void hold_job(struct htest *t, uint32_t inst, uint64_t *rng)
{
	uint64_t until = shmrt__os_now_ns() + 100000 + tu_rnd(rng) % 500000;
	uint32_t holding = H_HOLDING;

	__atomic_store_n(&t->sh->hold[inst], H_HOLDING, __ATOMIC_RELEASE);
	while (shmrt__os_now_ns() < until)
		shmrt__os_sleep_ns(50000);
	if (!__atomic_compare_exchange_n(&t->sh->hold[inst], &holding, H_BUSY,
					 false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		for (;;)
			pause(); /* doomed: the parent kills us here */
}

/* Runs one leased job; inst is MAX_INST for the parent's drain. */
static int hrun(struct htest *t, uint32_t inst, struct shmrt__seg *seg,
		struct shmrt__part *part, const struct shmrt__lease *l,
		const unsigned char *buf, uint64_t *rng)
{
	struct hpayload pl;
	int rc;

	memcpy(&pl, buf, sizeof(pl));
	if (l->payload_len != sizeof(pl) || pl.q != l->queue ||
	    pl.seq >= SEQ_CAP || pl.lane >= NL)
		return EX_PAYLOAD;
	if (q_laned[pl.q])
		lane_enter(t, inst, &pl);
	__atomic_fetch_add(&t->sh->runs[pl.q][pl.seq], 1, __ATOMIC_RELAXED);
	if (inst < MAX_INST)
		hold_job(t, inst, rng);
	if (q_laned[pl.q])
		lane_leave(t, inst, &pl);
	rc = shmrt__job_complete(part, l, &pl.seq, sizeof(pl.seq));
	if (rc == SHMRT_E_STALE) {
		add64(&t->sh->stale, 1);
	} else if (rc != 0) {
		return EX_COMPLETE;
	} else {
		__atomic_fetch_add(&t->sh->done[pl.q][pl.seq], 1,
				   __ATOMIC_RELAXED);
		add64(&t->sh->completed, 1);
		if (shmrt__job_release(seg, l->id) != 0)
			return EX_RELEASE;
	}
	if (inst < MAX_INST)
		__atomic_store_n(&t->sh->hold[inst], H_IDLE, __ATOMIC_RELEASE);
	return EX_OK;
}

static int hconsumer_main(struct htest *t, uint32_t qi, uint32_t inst)
{
	uint64_t rng = t->rng ^ (0x2545f4914f6cdd1dull * (inst + 7));
	unsigned char buf[SLOT_SIZE];
	struct shmrt__seg seg;
	struct shmrt__part part;
	struct shmrt__lease l;
	int rc = child_join(t->tenant, SHMRT__ROLE_WORKER, &seg, &part);

	if (rc != EX_OK)
		return rc;
	for (;;) {
		rc = shmrt__job_lease(&part, qi, buf, sizeof(buf),
				      tu_deadline_ms(50), &l);
		if (rc == SHMRT_E_TIMEDOUT)
			continue;
		if (rc != 0)
			return EX_LEASE;
		if ((rc = hrun(t, inst, &seg, &part, &l, buf, &rng)) != EX_OK)
			return rc;
	}
}

static pid_t hspawn_consumer(struct htest *t, uint32_t qi, uint32_t j)
{
	uint32_t inst = t->next_inst++;
	pid_t pid;

	assert_true(inst < MAX_INST);
	t->sh->hold[inst] = H_IDLE;
	pid = tu_fork(EX_ATTACH);
	if (pid == 0)
		_exit(hconsumer_main(t, qi, inst));
	t->cons[qi][j] = pid;
	t->cons_inst[qi][j] = inst;
	return pid;
}

static void hreap(struct htest *t, pid_t pid)
{
	int code = tu_wait_child(pid, 10000);

	if (code == EX_KILLED || code == EX_OK)
		return;
	print_message("child %d ended with %d\n", (int)pid, code);
	t->child_failures++;
}

static void hscan(struct htest *t)
{
	struct shmrt__scan_report r;

	assert_int_equal(shmrt__scan(&t->part, tu_deadline_ms(2000), &r), 0);
	rep_add(&t->rep, &r);
	t->last_scan = shmrt__os_now_ns();
}

static void hscan_if_due(struct htest *t)
{
	if (shmrt__os_now_ns() - t->last_scan >= SCAN_EVERY_MS * 1000000ull)
		hscan(t);
}

/* Did the victim die holding one of the queues' state locks? */
static bool holds_a_lock(const struct htest *t, pid_t pid)
{
	uint32_t qi;

	for (qi = 0; qi < t->seg.nqueues; qi++)
		if (lock_owner(&t->seg.q[qi]) == pid)
			return true;
	return false;
}

/*
 * Kills consumer j of queue qi (the caller already doomed it, or not),
 * clears its lane marks once it is dead, replaces it; reaps the zombies
 * of two rounds ago.
 */
static void hkill(struct htest *t, uint32_t qi, uint32_t j)
{
	pid_t victim = t->cons[qi][j];
	uint32_t inst = t->cons_inst[qi][j], q, lane;

	if (holds_a_lock(t, victim))
		t->lock_kills++;
	assert_int_equal(kill(victim, SIGKILL), 0);
	confirm_dead(victim);
	for (q = 0; q < NQ; q++)
		for (lane = 0; lane < NL; lane++)
			__atomic_compare_exchange_n(
			    &t->sh->lane_owner[q][lane], &(uint32_t){inst + 1},
			    0, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
	hspawn_consumer(t, qi, j);
	if (t->nzombies == 2) {
		hreap(t, t->zombies[0]);
		t->zombies[0] = t->zombies[1];
		t->nzombies = 1;
	}
	t->zombies[t->nzombies++] = victim;
}

/* Waits for a consumer of queue qi holding a job; dooms and kills it. */
static void kill_holder(struct htest *t, uint32_t qi)
{
	uint64_t give_up = tu_deadline_ms(HOLD_WAIT_MS);

	for (;;) {
		uint32_t j;

		for (j = 0; j < CONS_PER_Q; j++) {
			uint32_t holding = H_HOLDING;

			if (__atomic_compare_exchange_n(
				&t->sh->hold[t->cons_inst[qi][j]], &holding,
				H_DOOMED, false, __ATOMIC_ACQ_REL,
				__ATOMIC_ACQUIRE)) {
				hkill(t, qi, j);
				t->holding_kills[qi]++;
				return;
			}
		}
		if (shmrt__os_now_ns() > give_up)
			fail_msg("no consumer of queue %s held a job for %d ms",
				 qnames[qi], HOLD_WAIT_MS);
		hscan_if_due(t);
		shmrt__os_sleep_ns(50000);
	}
}

/*
 * Kills a consumer wherever it is (lease, complete, a permit wait): with
 * `in_lock`, the first one seen holding a laned queue's state lock within
 * 10 ms (finishing a lane head), else a random one.
 */
static void kill_random(struct htest *t, bool in_lock)
{
	uint64_t give_up = tu_deadline_ms(10);
	uint32_t qi = (uint32_t)(tu_rnd(&t->rng) % NQ);
	uint32_t j = (uint32_t)(tu_rnd(&t->rng) % CONS_PER_Q), q, c;

	while (in_lock && shmrt__os_now_ns() < give_up) {
		for (q = 0; q < NQ; q++) {
			pid_t owner = lock_owner(&t->seg.q[q]);

			for (c = 0; owner != 0 && c < NQ * CONS_PER_Q; c++)
				if (t->cons[c / CONS_PER_Q][c % CONS_PER_Q] ==
				    owner) {
					qi = c / CONS_PER_Q;
					j = c % CONS_PER_Q;
					goto found;
				}
		}
	}
	shmrt__os_sleep_ns(tu_rnd(&t->rng) % 300000);
found:
	hkill(t, qi, j);
	t->random_kills++;
}

static void hkilling_phase(struct htest *t, uint64_t per_kind)
{
	uint32_t order[NQ], i, j;
	uint64_t round;

	for (round = 0; round < per_kind * NQ; round++) {
		if (round % NQ == 0) {
			for (i = 0; i < NQ; i++)
				order[i] = i;
			for (i = NQ - 1; i > 0; i--) {
				uint32_t x = order[i];

				j = (uint32_t)(tu_rnd(&t->rng) % (i + 1));
				order[i] = order[j];
				order[j] = x;
			}
		}
		kill_holder(t, order[round % NQ]);
		if (round % 3 == 2)
			kill_random(t, round % 2 == 0);
		hscan_if_due(t);
	}
}

static void hstop_all(struct htest *t)
{
	uint32_t qi, j, q, lane;

	__atomic_store_n(&t->sh->stop, 1, __ATOMIC_RELEASE);
	for (qi = 0; qi < NQ; qi++) {
		hreap(t, t->producers[qi]);
		t->producers[qi] = 0;
	}
	for (qi = 0; qi < NQ; qi++)
		for (j = 0; j < CONS_PER_Q; j++) {
			kill(t->cons[qi][j], SIGKILL);
			confirm_dead(t->cons[qi][j]);
		}
	for (q = 0; q < NQ; q++)
		for (lane = 0; lane < NL; lane++)
			t->sh->lane_owner[q][lane] = 0;
	for (qi = 0; qi < NQ; qi++)
		for (j = 0; j < CONS_PER_Q; j++) {
			hreap(t, t->cons[qi][j]);
			t->cons[qi][j] = 0;
		}
	while (t->nzombies > 0)
		hreap(t, t->zombies[--t->nzombies]);
}

static void hscan_until_quiet(struct htest *t)
{
	int n;

	for (n = 0; n < 100; n++) {
		struct shmrt__scan_report r;

		assert_int_equal(
		    shmrt__scan(&t->part, tu_deadline_ms(2000), &r), 0);
		rep_add(&t->rep, &r);
		if (!rep_busy(&r))
			return;
	}
	fail_msg("scan still repairing after 100 rounds");
}

/* The parent leases every queue until all stay empty across scans. */
static void hdrain(struct htest *t)
{
	uint64_t give_up = tu_deadline_ms(DRAIN_MS), rng = 1;
	unsigned char buf[SLOT_SIZE];
	struct shmrt__lease l;
	int empty = 0;

	while (empty < 3) {
		uint32_t qi, got = 0;

		for (qi = 0; qi < NQ; qi++) {
			int rc;

			while ((rc = shmrt__job_lease(&t->part, qi, buf,
						      sizeof(buf), 0, &l)) ==
			       0) {
				assert_int_equal(hrun(t, MAX_INST, &t->seg,
						      &t->part, &l, buf, &rng),
						 EX_OK);
				got++;
			}
			assert_int_equal(rc, SHMRT_E_AGAIN);
		}
		if (got == 0) {
			empty++;
			shmrt__os_sleep_ns(5000000);
			hscan_until_quiet(t);
		} else {
			empty = 0;
		}
		if (shmrt__os_now_ns() > give_up) {
			for (qi = 0; qi < NQ; qi++)
				print_unfinished(&t->seg, qi);
			fail_msg("queues not drained after %d ms", DRAIN_MS);
		}
	}
}

/* Every accepted job succeeded once, or failed with max attempts. */
static void hcheck_jobs(struct htest *t, uint64_t *failed_jobs)
{
	uint32_t qi, seq, bad = 0;

	*failed_jobs = 0;
	for (qi = 0; qi < NQ; qi++) {
		uint32_t n = t->sh->produced[qi];

		for (seq = 0; seq < n; seq++) {
			shmrt_job_id id = {t->sh->ids[qi][seq]};
			struct shmrt_job_info info;
			char err[32] = {0};
			int rc;

			assert_true(t->sh->done[qi][seq] <= 1);
			if (t->sh->done[qi][seq] == 1)
				continue;
			rc = shmrt__job_status(&t->seg, id, &info, err,
					       sizeof(err) - 1);
			if (rc == 0 && info.state == SHMRT_JOB_SUCCEEDED)
				continue; /* killed between complete and log */
			if (rc == 0 && info.state == SHMRT_JOB_FAILED &&
			    info.attempt == MAX_ATTEMPTS &&
			    strcmp(err, "worker died") == 0) {
				(*failed_jobs)++;
				continue;
			}
			if (++bad <= 5)
				print_message(
				    "queue %s job %u: status %s, "
				    "state %s, attempt %u, '%s'\n",
				    qnames[qi], seq, shmrt_err_name(rc),
				    rc == 0 ? shmrt_job_state_name(info.state)
					    : "-",
				    rc == 0 ? info.attempt : 0, err);
		}
	}
	assert_int_equal(bad, 0);
}

static void hcheck_segment(struct htest *t)
{
	uint32_t qi, unfinished = 0;

	for (qi = 0; qi < NQ; qi++) {
		unfinished += print_unfinished(&t->seg, qi);
		assert_int_equal(shmrt__lane_count(&t->seg.q[qi]), 0);
	}
	assert_int_equal(unfinished, 0);
	assert_int_equal(shmrt__sem_in_use(&t->seg, 0), 0);
	assert_int_equal(shmrt__sem_in_use(&t->seg, 1), 0);
}

static void hsetup(struct htest *t, uint64_t seed)
{
	struct shmrt__seg_params p;
	uint32_t qi;

	t->rng = seed ? seed : 1;
	t->sh = shared_array(1, sizeof(*t->sh));
	tu_params_one_queue(&p, CAPACITY, SLOT_SIZE, NPARTICIPANTS);
	p.queue[0].max_attempts = MAX_ATTEMPTS;
	p.nqueues = NQ;
	for (qi = 0; qi < NQ; qi++) {
		p.queue[qi] = p.queue[0];
		p.queue[qi].name = qnames[qi];
		p.queue[qi].nlanes = q_laned[qi] ? LANE_TABLE : 0;
	}
	p.nsems = 2;
	p.sem[0].name = "s2";
	p.sem[0].limit = 2;
	p.sem[1].name = "s3";
	p.sem[1].limit = 2;
	p.queue[Q_SEM].sem = 1;
	p.queue[Q_LANESEM].sem = 2;
	assert_int_equal(shmrt__seg_create(t->tenant, &p, &t->seg), 0);
	assert_int_equal(
	    shmrt__part_join(&t->seg, SHMRT__ROLE_REAPER, &t->part), 0);
	t->joined = true;
	t->last_scan = shmrt__os_now_ns();
}

static void test_kill_holders(void **state)
{
	struct htest *t = *state;
	uint64_t seed = tu_pick_seed(), t0 = shmrt__os_now_ns(), failed_jobs;
	uint64_t per_kind = tu_scaled(200, 40);
	uint32_t qi, j;

	print_message("seed %llu (SHMRT_TEST_SEED replays it), %llu holding "
		      "kills per kind\n",
		      (unsigned long long)seed, (unsigned long long)per_kind);
	hsetup(t, seed);
	for (qi = 0; qi < NQ; qi++) {
		t->producers[qi] = tu_fork(EX_ATTACH);
		if (t->producers[qi] == 0)
			_exit(hproducer_main(t, qi));
		for (j = 0; j < CONS_PER_Q; j++)
			hspawn_consumer(t, qi, j);
	}
	hkilling_phase(t, per_kind);
	hstop_all(t);
	hscan_until_quiet(t);
	hdrain(t);
	hscan_until_quiet(t);
	hcheck_jobs(t, &failed_jobs);
	print_message("%.2f s; holding kills plain %llu, lane %llu, sem %llu, "
		      "lanesem %llu; random kills %llu (%llu in a state "
		      "lock); jobs %u/%u/%u/%u, completed %llu, failed after "
		      "%d attempts %llu, stale %llu\n",
		      (double)(shmrt__os_now_ns() - t0) / 1e9,
		      (unsigned long long)t->holding_kills[0],
		      (unsigned long long)t->holding_kills[1],
		      (unsigned long long)t->holding_kills[2],
		      (unsigned long long)t->holding_kills[3],
		      (unsigned long long)t->random_kills,
		      (unsigned long long)t->lock_kills, t->sh->produced[0],
		      t->sh->produced[1], t->sh->produced[2],
		      t->sh->produced[3], (unsigned long long)t->sh->completed,
		      MAX_ATTEMPTS, (unsigned long long)failed_jobs,
		      (unsigned long long)t->sh->stale);
	rep_print(&t->rep);
	if (t->sh->order_violations)
		print_message("first order violation: queue %u lane %u: last "
			      "k + 1 was %u, then k %u started\n",
			      t->sh->first_bad[0], t->sh->first_bad[1],
			      t->sh->first_bad[2], t->sh->first_bad[3]);
	assert_int_equal(t->child_failures, 0);
	for (qi = 0; qi < NQ; qi++)
		assert_true(t->holding_kills[qi] >= per_kind);
	assert_int_equal(t->sh->overlaps, 0);
	assert_int_equal(t->sh->order_violations, 0);
	assert_int_equal(t->sh->stale, 0);
	/* Permits of killed holders come back only through scan. */
	assert_true(t->rep.permits_reclaimed >=
		    t->holding_kills[Q_SEM] + t->holding_kills[Q_LANESEM]);
	hcheck_segment(t);
}

/* ====================================== test_kill_keyed_producers */

#define KQ	   2		     /* "lk": laned + keyed, "k": keyed */
#define KEYSPACE   16384	     /* keys per queue */
#define KPKEYS	   (KEYSPACE - 1)    /* the producers'; the last is ours */
#define KCAPACITY  (KEYSPACE + 1024) /* jobs are never released */
#define KRECENT	   16		     /* a resubmit picks one of the last keys */
#define KPAUSE_NS  20000	     /* between submits: keys last the phase */
#define KNL	   8		     /* lanes of "lk" */
#define KPROD	   2		     /* live producers */
#define KCONS	   2		     /* consumers per queue */
#define KSETTLE_MS 15000

struct kpayload {
	uint32_t inst;
	uint32_t key;
	uint32_t lane;
	uint32_t k; /* the producer's count of jobs it made on the lane */
};

struct kshared {
	uint32_t stop;	       /* consumers stop once the queues are empty */
	uint64_t key_mismatch; /* a submit answered with another key's job */
	uint64_t overlaps;
	uint64_t order_violations;
	uint64_t submits;
	uint64_t existing;
	uint64_t ran;
	uint32_t first_bad[4];
	uint32_t next_key[KQ];
	uint32_t lane_owner[KNL];
	uint32_t next_k[MAX_INST][KNL];
	uint64_t key_id[KQ][KEYSPACE];	/* the id every submit of it got */
	uint32_t created[KQ][KEYSPACE]; /* submits that returned 0 */
	uint32_t runs[KQ][KEYSPACE];
};

struct ktest {
	char tenant[64];
	uint64_t rng;
	struct kshared *sh;
	struct shmrt__seg seg;
	struct shmrt__part part;
	bool joined;
	uint32_t next_inst;
	pid_t prod[KPROD];
	pid_t cons[KQ * KCONS];
	pid_t zombie;
	uint32_t child_failures;
	uint64_t kills;
	uint64_t lock_kills;
	struct shmrt__scan_report rep;
};

static int ksubmit(struct ktest *t, struct shmrt__part *part,
		   struct kpayload *pl, uint32_t qi, uint32_t *kn)
{
	char key[16], lane[8];
	struct shmrt__submit sub = {.payload = pl, .len = sizeof(*pl)};
	uint64_t zero = 0;
	shmrt_job_id id;
	int rc;

	sub.key = key;
	sub.key_len = (size_t)snprintf(key, sizeof(key), "g%u", pl->key);
	if (qi == 0) {
		pl->lane = pl->key % KNL;
		pl->k = kn[pl->lane];
		sub.lane = lane;
		sub.lane_len =
		    (size_t)snprintf(lane, sizeof(lane), "L%u", pl->lane);
	}
	sub.deadline_ns = tu_deadline_ms(100);
	rc = shmrt__job_submit(part, qi, &sub, &id);
	add64(&t->sh->submits, 1);
	if (rc == SHMRT_E_FULL)
		return EX_OK; /* not expected: one job per key fits */
	if (rc != 0 && rc != SHMRT__SUBMIT_EXISTING)
		return EX_SUBMIT;
	if (rc == 0) {
		__atomic_fetch_add(&t->sh->created[qi][pl->key], 1,
				   __ATOMIC_RELAXED);
		if (qi == 0)
			kn[pl->lane]++;
	} else {
		add64(&t->sh->existing, 1);
	}
	if (!__atomic_compare_exchange_n(&t->sh->key_id[qi][pl->key], &zero,
					 id.v, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE) &&
	    zero != id.v)
		add64(&t->sh->key_mismatch, 1);
	return EX_OK;
}

static int kproducer_main(struct ktest *t, uint32_t inst)
{
	uint64_t rng = t->rng ^ (0x9e3779b97f4a7c15ull * (inst + 1));
	struct kpayload pl = {.inst = inst};
	uint32_t kn[KNL] = {0};
	struct shmrt__seg seg;
	struct shmrt__part part;
	uint64_t n;
	int rc = child_join(t->tenant, SHMRT__ROLE_PRODUCER, &seg, &part);

	if (rc != EX_OK)
		return rc;
	for (n = 0;; n++) {
		uint32_t qi = (uint32_t)(n & 1), *next = &t->sh->next_key[qi];
		uint32_t top = __atomic_load_n(next, __ATOMIC_RELAXED);
		uint64_t until = shmrt__os_now_ns() + KPAUSE_NS;

		/* A new key one time in four; else a recent one, which the
		 * other producer may be submitting too. */
		if (tu_rnd(&rng) % 4 == 0 && top < KPKEYS) {
			pl.key = __atomic_fetch_add(next, 1, __ATOMIC_RELAXED);
			if (pl.key >= KPKEYS)
				pl.key = KPKEYS - 1;
		} else if (top == 0) {
			pl.key = 0;
		} else {
			uint32_t span;

			top = top > KPKEYS ? KPKEYS : top;
			span = top < KRECENT ? top : KRECENT;
			pl.key = top - 1 - (uint32_t)(tu_rnd(&rng) % span);
		}
		if ((rc = ksubmit(t, &part, &pl, qi, kn)) != EX_OK)
			return rc;
		while (shmrt__os_now_ns() < until)
			shmrt__os_cpu_relax();
	}
}

static int krun(struct ktest *t, struct shmrt__part *part,
		const struct shmrt__lease *l, const unsigned char *buf)
{
	struct kpayload pl;
	uint32_t zero = 0, *next;

	memcpy(&pl, buf, sizeof(pl));
	if (l->payload_len != sizeof(pl) || pl.inst >= MAX_INST ||
	    pl.key >= KEYSPACE || pl.lane >= KNL)
		return EX_PAYLOAD;
	__atomic_fetch_add(&t->sh->runs[l->queue][pl.key], 1, __ATOMIC_RELAXED);
	if (l->queue == 0) {
		if (!__atomic_compare_exchange_n(
			&t->sh->lane_owner[pl.lane], &zero, 1, false,
			__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			add64(&t->sh->overlaps, 1);
		next = &t->sh->next_k[pl.inst][pl.lane];
		if (pl.k != *next &&
		    __atomic_fetch_add(&t->sh->order_violations, 1,
				       __ATOMIC_RELAXED) == 0) {
			t->sh->first_bad[0] = pl.inst;
			t->sh->first_bad[1] = pl.lane;
			t->sh->first_bad[2] = *next;
			t->sh->first_bad[3] = pl.k;
		}
		*next = pl.k + 1;
		__atomic_store_n(&t->sh->lane_owner[pl.lane], 0,
				 __ATOMIC_RELEASE);
	}
	add64(&t->sh->ran, 1);
	/* Not released: the key stays live (one job per key, ever). */
	return shmrt__job_complete(part, l, &pl.key, sizeof(pl.key)) == 0
		   ? EX_OK
		   : EX_COMPLETE;
}

static int kconsumer_main(struct ktest *t, uint32_t qi)
{
	uint64_t give_up = tu_deadline_ms(120000);
	unsigned char buf[SLOT_SIZE];
	struct shmrt__seg seg;
	struct shmrt__part part;
	struct shmrt__lease l;
	int rc = child_join(t->tenant, SHMRT__ROLE_WORKER, &seg, &part);

	if (rc != EX_OK)
		return rc;
	for (;;) {
		if (shmrt__os_now_ns() > give_up)
			return EX_DEADLINE;
		rc = shmrt__job_lease(&part, qi, buf, sizeof(buf),
				      tu_deadline_ms(50), &l);
		if (rc == SHMRT_E_TIMEDOUT) {
			if (__atomic_load_n(&t->sh->stop, __ATOMIC_ACQUIRE))
				break;
			continue;
		}
		if (rc != 0)
			return EX_LEASE;
		if ((rc = krun(t, &part, &l, buf)) != EX_OK)
			return rc;
	}
	shmrt__part_leave(&part);
	shmrt__seg_detach(&seg);
	return EX_OK;
}

static pid_t kspawn_producer(struct ktest *t)
{
	uint32_t inst = t->next_inst++;
	pid_t pid;

	assert_true(inst < MAX_INST);
	pid = tu_fork(EX_ATTACH);
	if (pid == 0)
		_exit(kproducer_main(t, inst));
	return pid;
}

static void kreap(struct ktest *t, pid_t pid)
{
	int code = tu_wait_child(pid, 10000);

	if (code == EX_KILLED || code == EX_OK)
		return;
	print_message("child %d ended with %d\n", (int)pid, code);
	t->child_failures++;
}

static void kscan(struct ktest *t)
{
	struct shmrt__scan_report r;

	assert_int_equal(shmrt__scan(&t->part, tu_deadline_ms(2000), &r), 0);
	rep_add(&t->rep, &r);
}

/* The producer that holds a state lock now, or -1. */
static int kholder(const struct ktest *t)
{
	uint32_t qi, i;

	for (qi = 0; qi < KQ; qi++) {
		pid_t owner = lock_owner(&t->seg.q[qi]);

		for (i = 0; owner != 0 && i < KPROD; i++)
			if (t->prod[i] == owner)
				return (int)i;
	}
	return -1;
}

/*
 * Kills a producer, noting whether it held a state lock: with `targeted`,
 * the first one seen holding one within 20 ms, else a random one.
 */
static void kkill_one(struct ktest *t, bool targeted)
{
	uint32_t which = (uint32_t)(tu_rnd(&t->rng) % KPROD), qi;
	uint64_t give_up = tu_deadline_ms(20);
	pid_t victim;
	int h;

	while (targeted && shmrt__os_now_ns() < give_up)
		if ((h = kholder(t)) >= 0) {
			which = (uint32_t)h;
			break;
		}
	victim = t->prod[which];

	for (qi = 0; qi < KQ; qi++)
		if (lock_owner(&t->seg.q[qi]) == victim) {
			t->lock_kills++;
			break;
		}
	assert_int_equal(kill(victim, SIGKILL), 0);
	confirm_dead(victim);
	t->kills++;
	t->prod[which] = kspawn_producer(t);
	if (t->zombie > 0)
		kreap(t, t->zombie);
	t->zombie = victim;
}

static void kkilling_phase(struct ktest *t, uint64_t min_kills,
			   uint64_t min_lock_kills)
{
	uint64_t give_up = tu_deadline_ms(30000), last_scan = 0;

	while (t->kills < min_kills || t->lock_kills < min_lock_kills) {
		uint64_t until = tu_deadline_ms(1 + tu_rnd(&t->rng) % 4);

		while (shmrt__os_now_ns() < until) {
			if (shmrt__os_now_ns() - last_scan >=
			    SCAN_EVERY_MS * 1000000ull) {
				kscan(t);
				last_scan = shmrt__os_now_ns();
			}
			shmrt__os_sleep_ns(200000);
		}
		kkill_one(t, t->kills % 2 == 1);
		if (shmrt__os_now_ns() > give_up)
			break;
	}
}

/* Scans until every slot is free or finished (consumers keep running). */
static void ksettle(struct ktest *t)
{
	uint64_t give_up = tu_deadline_ms(KSETTLE_MS);

	for (;;) {
		uint32_t qi, unfinished = 0;

		kscan(t);
		for (qi = 0; qi < KQ; qi++)
			unfinished += print_unfinished(&t->seg, qi) > 0;
		if (unfinished == 0)
			return;
		if (shmrt__os_now_ns() > give_up)
			fail_msg("jobs still unfinished %d ms after the last "
				 "kill",
				 KSETTLE_MS);
		shmrt__os_sleep_ns(20000000);
	}
}

/* One job per key, the same id for every submit, each ran once. */
static void kcheck_keys(struct ktest *t, uint64_t *jobs)
{
	uint32_t qi, g, bad = 0, succeeded = 0, i;

	*jobs = 0;
	for (qi = 0; qi < KQ; qi++) {
		const struct shmrt__qhandle *q = &t->seg.q[qi];

		for (g = 0; g < KEYSPACE; g++) {
			shmrt_job_id id = {t->sh->key_id[qi][g]};
			struct shmrt_job_info info;
			uint32_t res = UINT32_MAX;
			int rc = -1;

			if (id.v != 0)
				rc = shmrt__job_status(&t->seg, id, &info, &res,
						       sizeof(res));
			if (t->sh->runs[qi][g] <= 1 &&
			    t->sh->created[qi][g] <= 1 &&
			    (id.v == 0 ||
			     (rc == 0 && info.state == SHMRT_JOB_SUCCEEDED &&
			      res == g && t->sh->runs[qi][g] == 1)))
				continue;
			if (++bad <= 5)
				print_message(
				    "queue %u key %u: id %016llx status %s "
				    "state %d result %u, created %u, ran %u\n",
				    qi, g, (unsigned long long)id.v,
				    rc == -1 ? "-" : shmrt_err_name(rc),
				    rc == 0 ? info.state : -1, res,
				    t->sh->created[qi][g], t->sh->runs[qi][g]);
		}
		for (i = 0; i < q->capacity; i++)
			succeeded +=
			    shmrt__w_state(__atomic_load_n(
				&shmrt__slot_at(q, i)->word,
				__ATOMIC_ACQUIRE)) == SHMRT__S_SUCCEEDED;
		for (g = 0; g < KEYSPACE; g++)
			*jobs += t->sh->runs[qi][g];
	}
	assert_int_equal(bad, 0);
	/* Every job in the segment is some key's only job. */
	assert_int_equal(succeeded, *jobs);
}

static void ksetup(struct ktest *t, uint64_t seed)
{
	struct shmrt__seg_params p;

	t->rng = seed ? seed : 1;
	t->sh = shared_array(1, sizeof(*t->sh));
	tu_params_one_queue(&p, KCAPACITY, SLOT_SIZE, NPARTICIPANTS);
	p.nqueues = KQ;
	p.queue[0].name = "lk";
	p.queue[0].nlanes = 2 * KNL;
	p.queue[0].nidem = KEYSPACE;
	p.queue[0].idem_ttl_ns = 3600ull * 1000000000u;
	p.queue[1] = p.queue[0];
	p.queue[1].name = "k";
	p.queue[1].nlanes = 0;
	p.tun.retention_ns = 3600ull * 1000000000u;
	assert_int_equal(shmrt__seg_create(t->tenant, &p, &t->seg), 0);
	assert_int_equal(
	    shmrt__part_join(&t->seg, SHMRT__ROLE_REAPER, &t->part), 0);
	t->joined = true;
}

static void test_kill_keyed_producers(void **state)
{
	struct ktest *t = *state;
	uint64_t seed = tu_pick_seed(), t0 = shmrt__os_now_ns(), jobs;
	uint64_t min_kills = tu_scaled(300, 60);
	uint64_t min_lock_kills = tu_scaled(60, 10);
	struct kpayload pl = {.inst = MAX_INST - 1, .key = 0};
	uint32_t i, kn[KNL] = {0};

	print_message("seed %llu (SHMRT_TEST_SEED replays it), at least %llu "
		      "kills, %llu of them in a state lock\n",
		      (unsigned long long)seed, (unsigned long long)min_kills,
		      (unsigned long long)min_lock_kills);
	ksetup(t, seed);
	for (i = 0; i < KQ * KCONS; i++) {
		t->cons[i] = tu_fork(EX_ATTACH);
		if (t->cons[i] == 0)
			_exit(kconsumer_main(t, i % KQ));
	}
	for (i = 0; i < KPROD; i++)
		t->prod[i] = kspawn_producer(t);
	kkilling_phase(t, min_kills, min_lock_kills);
	for (i = 0; i < KPROD; i++) {
		kill(t->prod[i], SIGKILL);
		kreap(t, t->prod[i]);
		t->prod[i] = 0;
	}
	if (t->zombie > 0)
		kreap(t, t->zombie);
	t->zombie = 0;
	ksettle(t);
	/* The locks work after all this: a key still answers, a new one
	 * makes a job (which the consumers run). */
	for (i = 0; i < KQ; i++) {
		pl.key = KEYSPACE - 1; /* no producer ever submitted it */
		assert_int_equal(t->sh->key_id[i][pl.key], 0);
		assert_int_equal(ksubmit(t, &t->part, &pl, i, kn), EX_OK);
		assert_int_equal(t->sh->created[i][pl.key], 1);
		assert_int_equal(ksubmit(t, &t->part, &pl, i, kn), EX_OK);
		assert_int_equal(t->sh->created[i][pl.key], 1);
	}
	ksettle(t);
	__atomic_store_n(&t->sh->stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < KQ * KCONS; i++) {
		kreap(t, t->cons[i]);
		t->cons[i] = 0;
	}
	kcheck_keys(t, &jobs);
	print_message(
	    "%.2f s; %llu producer kills, %llu holding a state "
	    "lock; %llu submits (%llu answered with an existing "
	    "job), %llu jobs ran\n",
	    (double)(shmrt__os_now_ns() - t0) / 1e9,
	    (unsigned long long)t->kills, (unsigned long long)t->lock_kills,
	    (unsigned long long)t->sh->submits,
	    (unsigned long long)t->sh->existing, (unsigned long long)jobs);
	rep_print(&t->rep);
	if (t->sh->order_violations)
		print_message("first order violation: producer %u lane %u "
			      "expected k %u, got %u\n",
			      t->sh->first_bad[0], t->sh->first_bad[1],
			      t->sh->first_bad[2], t->sh->first_bad[3]);
	assert_int_equal(t->child_failures, 0);
	assert_true(t->kills >= min_kills);
	assert_true(t->lock_kills >= min_lock_kills);
	assert_int_equal(t->sh->key_mismatch, 0);
	assert_int_equal(t->sh->overlaps, 0);
	assert_int_equal(t->sh->order_violations, 0);
	assert_int_equal(shmrt__lane_count(&t->seg.q[0]), 0);
}

/* ------------------------------------------------------------ fixtures */

static int fx_setup_h(void **state)
{
	struct htest *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -1;
	t->seg.fd = -1;
	snprintf(t->tenant, sizeof(t->tenant), "%s", tu_tenant());
	*state = t;
	return 0;
}

static int fx_teardown_h(void **state)
{
	struct htest *t = *state;
	uint32_t qi, j;

	for (qi = 0; qi < NQ; qi++) {
		if (t->producers[qi] > 0)
			tu_wait_child(t->producers[qi], 0);
		for (j = 0; j < CONS_PER_Q; j++)
			if (t->cons[qi][j] > 0)
				tu_wait_child(t->cons[qi][j], 0);
	}
	while (t->nzombies > 0)
		tu_wait_child(t->zombies[--t->nzombies], 0);
	if (t->joined)
		shmrt__part_leave(&t->part);
	shmrt__seg_detach(&t->seg);
	shmrt__seg_destroy(t->tenant);
	if (t->sh != NULL)
		tu_shared_free(t->sh, sizeof(*t->sh));
	free(t);
	return 0;
}

static int fx_setup_k(void **state)
{
	struct ktest *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -1;
	t->seg.fd = -1;
	snprintf(t->tenant, sizeof(t->tenant), "%s", tu_tenant());
	*state = t;
	return 0;
}

static int fx_teardown_k(void **state)
{
	struct ktest *t = *state;
	uint32_t i;

	for (i = 0; i < KPROD; i++)
		if (t->prod[i] > 0)
			tu_wait_child(t->prod[i], 0);
	for (i = 0; i < KQ * KCONS; i++)
		if (t->cons[i] > 0)
			tu_wait_child(t->cons[i], 0);
	if (t->zombie > 0)
		tu_wait_child(t->zombie, 0);
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
	    cmocka_unit_test_setup_teardown(test_kill_holders, fx_setup_h,
					    fx_teardown_h),
	    cmocka_unit_test_setup_teardown(test_kill_keyed_producers,
					    fx_setup_k, fx_teardown_k),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
