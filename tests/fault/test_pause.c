/*
 * tests/fault/test_pause.c - a process frozen (or killed) at an exact
 * point inside a race window, one scenario per defect of the crash and
 * pause model.
 *
 * A child arms a pause point (src/shm/pause.h) and runs one engine call;
 * at the point it stops itself with SIGSTOP (or dies with SIGKILL). While
 * it is frozen the parent does what the scenario needs: waits past the
 * heartbeat timeout, scans, leases, cancels, reuses slots. Then it
 * resumes the child (SIGCONT) and checks that the child's late writes were
 * refused and nothing was lost, doubled or wedged. Children report through
 * their exit code and shared memory; only the parent asserts.
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
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm/job.h"
#include "shm/os.h"
#include "shm/participant.h"
#include "shm/pause.h"
#include "shm/ring.h"
#include "shm/scan.h"
#include "shm/segment.h"
#include "shm/sem.h"
#include "testutil.h"

#define SLOT_SIZE 32
#define HB_MS	  100	/* the segment's heartbeat timeout */
#define WAIT_MS	  10000 /* every wait of the test, at most */

enum { Q_PLAIN, Q_LANE, Q_SEM, Q_TINY, Q_BACKOFF, NQ };

#define TINY_TIMEOUT_MS 300   /* Q_TINY's job timeout */
#define BACKOFF_MS	5000  /* Q_BACKOFF's retry backoff */

enum {
	EX_OK = 0,
	EX_ATTACH = 2,
	EX_RC = 3,      /* the call returned something unexpected */
	EX_LEASED = 4,  /* leased a job it must not have */
	EX_ORPHAN = 5,
};

/* What a child tells the parent. */
struct shared {
	int32_t rc;
	uint32_t ready; /* the child reached its waiting point */
	uint32_t go;	/* the parent's word: go on */
	uint64_t id;
	struct shmrt__scan_report rep;
};

struct ptest {
	char tenant[64];
	struct shared *sh;
	struct shmrt__seg seg;
	struct shmrt__part part; /* the parent's: worker, producer, reaper */
};

/* A child's body, run attached and joined; returns its exit code. */
typedef int (*child_fn)(struct ptest *t, struct shmrt__part *p);

static int setup(void **state)
{
	struct ptest *t = calloc(1, sizeof(*t));
	struct shmrt__seg_params p;
	uint32_t qi;

	assert_non_null(t);
	t->sh = tu_shared_alloc(sizeof(*t->sh));
	assert_non_null(t->sh);
	snprintf(t->tenant, sizeof(t->tenant), "%s", tu_tenant());
	tu_params_one_queue(&p, 4, SLOT_SIZE, 16);
	p.nqueues = NQ;
	for (qi = 1; qi < NQ; qi++)
		p.queue[qi] = p.queue[0];
	p.queue[Q_PLAIN].name = "plain";
	p.queue[Q_LANE].name = "lane";
	p.queue[Q_LANE].capacity = 8;
	p.queue[Q_LANE].nlanes = 4;
	p.queue[Q_SEM].name = "sem";
	p.queue[Q_SEM].capacity = 8;
	p.queue[Q_SEM].sem = 1;
	p.queue[Q_TINY].name = "tiny";
	p.queue[Q_TINY].capacity = 1;
	p.queue[Q_TINY].job_timeout_ns = TINY_TIMEOUT_MS * 1000000ull;
	p.queue[Q_BACKOFF].name = "backoff";
	p.queue[Q_BACKOFF].capacity = 1;
	p.queue[Q_BACKOFF].retry_backoff_ns = BACKOFF_MS * 1000000ull;
	p.nsems = 1;
	p.sem[0].name = "cap";
	p.sem[0].limit = 1;
	p.tun.heartbeat_timeout_ns = HB_MS * 1000000ull;
	assert_int_equal(shmrt__seg_create(t->tenant, &p, &t->seg), 0);
	assert_int_equal(shmrt__part_join(&t->seg, SHMRT__ROLE_WORKER |
						       SHMRT__ROLE_PRODUCER |
						       SHMRT__ROLE_REAPER,
					  &t->part),
			 0);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct ptest *t = *state;

	shmrt__part_leave(&t->part);
	shmrt__seg_destroy(t->tenant);
	shmrt__seg_detach(&t->seg);
	tu_shared_free(t->sh, sizeof(*t->sh));
	free(t);
	return 0;
}

/* Fork a child that arms `point` (NULL: none), attaches, joins, runs fn. */
static pid_t spawn(struct ptest *t, const char *point,
		   enum shmrt__pause_action action, child_fn fn)
{
	pid_t pid = tu_fork(EX_ORPHAN);

	if (pid == 0) {
		struct shmrt__seg seg;
		struct shmrt__part part;
		struct ptest mine = *t;

		if (point != NULL)
			shmrt__pause_arm(point, 1, action);
		if (shmrt__seg_attach(t->tenant, &seg) != 0 ||
		    shmrt__part_join(&seg, SHMRT__ROLE_WORKER |
						   SHMRT__ROLE_PRODUCER,
				     &part) != 0)
			_exit(EX_ATTACH);
		mine.seg = seg;
		_exit(fn(&mine, &part));
	}
	return pid;
}

static void resume_and_reap(pid_t pid, int expect_exit)
{
	assert_int_equal(kill(pid, SIGCONT), 0);
	assert_int_equal(tu_wait_child(pid, WAIT_MS), expect_exit);
}

/* Until the participants silent since now count as hung. */
static void past_heartbeat_timeout(void)
{
	shmrt__os_sleep_ns(HB_MS * 3 / 2 * 1000000ull);
}

static void scan(struct ptest *t, struct shmrt__scan_report *rep)
{
	assert_int_equal(shmrt__scan(&t->part, tu_deadline_ms(WAIT_MS), rep),
			 0);
}

static shmrt_job_id enqueue(struct ptest *t, uint32_t qi, const char *lane)
{
	struct shmrt__submit sub = {.payload = "job", .len = 3};
	shmrt_job_id id;

	if (lane != NULL) {
		sub.lane = lane;
		sub.lane_len = strlen(lane);
	}
	assert_int_equal(shmrt__job_submit(&t->part, qi, &sub, &id), 0);
	return id;
}

static int lease(struct ptest *t, uint32_t qi, uint64_t ms,
		 struct shmrt__lease *l)
{
	unsigned char buf[SLOT_SIZE];

	return shmrt__job_lease(&t->part, qi, buf, sizeof(buf),
				ms ? tu_deadline_ms(ms) : 0, l);
}

static int state_of(struct ptest *t, shmrt_job_id id)
{
	struct shmrt_job_info info;

	assert_int_equal(shmrt__job_status(&t->seg, id, &info, NULL, 0), 0);
	return info.state;
}

/*
 * The ring of queue qi still works all the way round, three laps: no
 * cell was left claimed, unpublished or handed to the wrong lap.
 */
static void assert_ring_sound(struct ptest *t, uint32_t qi)
{
	const struct shmrt__qhandle *q = &t->seg.q[qi];
	uint64_t laps = 3 * (q->ring_mask + 1), i;
	struct shmrt__lease l;

	/* Drop refs a resumed participant pushed again (duplicates). */
	while (lease(t, qi, 0, &l) == 0)
		assert_int_equal(shmrt__job_complete(&t->part, &l, "x", 1), 0);
	for (i = 0; i < laps; i++) {
		shmrt_job_id id = enqueue(t, qi, NULL);

		assert_int_equal(lease(t, qi, 1000, &l), 0);
		assert_int_equal(l.id.v, id.v);
		assert_int_equal(shmrt__job_complete(&t->part, &l, "x", 1), 0);
		assert_int_equal(shmrt__job_release(&t->seg, id), 0);
	}
	assert_int_equal(lease(t, qi, 0, &l), SHMRT_E_AGAIN);
	assert_int_equal(__atomic_load_n(&q->ctl->enqueue_pos, __ATOMIC_ACQUIRE),
			 __atomic_load_n(&q->ctl->dequeue_pos, __ATOMIC_ACQUIRE));
}

/* ------------------------------------------- defect 1: fail-closed liveness */

static int child_lease_then_complete(struct ptest *t, struct shmrt__part *p)
{
	unsigned char buf[SLOT_SIZE];
	struct shmrt__lease l;

	if (shmrt__job_lease(p, Q_PLAIN, buf, sizeof(buf),
			     tu_deadline_ms(WAIT_MS), &l) != 0)
		return EX_RC;
	t->sh->id = l.id.v;
	__atomic_store_n(&t->sh->ready, 1, __ATOMIC_RELEASE);
	if (!tu_wait_value(&t->sh->go, 1, WAIT_MS))
		return EX_RC;
	return shmrt__job_complete(p, &l, "done", 4) == 0 ? EX_OK : EX_RC;
}

static int child_enqueue_plain(struct ptest *t, struct shmrt__part *p)
{
	shmrt_job_id id;
	int rc = shmrt__job_enqueue(p, Q_PLAIN, "p", 1, 0, &id);

	t->sh->rc = rc;
	t->sh->id = id.v;
	return rc == 0 ? EX_OK : EX_RC;
}

static uint32_t owned_records(const struct ptest *t)
{
	uint32_t i, n = 0;

	for (i = 0; i < t->seg.nparticipants; i++)
		n += __atomic_load_n(&t->seg.parts[i].owner,
				     __ATOMIC_ACQUIRE) != 0;
	return n;
}

/*
 * A scan that cannot read /proc (out of file descriptors) takes nobody
 * for dead: the running job, the records and the claimed cell stay.
 */
static void test_scan_without_fds_takes_nobody_for_dead(void **state)
{
	struct ptest *t = *state;
	struct shmrt__scan_report rep;
	struct rlimit saved, none = {0, 0};
	pid_t w, p;
	shmrt_job_id job = enqueue(t, Q_PLAIN, NULL);

	/* Only liveness is under test: nobody is hung. */
	__atomic_store_n(&t->seg.hdr->tun.heartbeat_timeout_ns, 0,
			 __ATOMIC_RELEASE);
	w = spawn(t, NULL, SHMRT__PAUSE_STOP, child_lease_then_complete);
	assert_true(tu_wait_value(&t->sh->ready, 1, WAIT_MS));
	p = spawn(t, "ring.push.claimed", SHMRT__PAUSE_STOP,
		  child_enqueue_plain);
	assert_int_equal(tu_wait_stopped(p, WAIT_MS), 0);
	assert_int_equal(owned_records(t), 3);

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	none.rlim_max = saved.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &none), 0);
	rep.dead_participants = 99;
	assert_int_equal(shmrt__scan(&t->part, tu_deadline_ms(WAIT_MS), &rep),
			 0);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);

	assert_int_equal(rep.dead_participants, 0);
	assert_int_equal(rep.cells_tombstoned, 0);
	assert_int_equal(rep.jobs_requeued + rep.jobs_failed, 0);
	assert_int_equal(owned_records(t), 3);
	assert_int_equal(state_of(t, job), SHMRT_JOB_RUNNING);

	resume_and_reap(p, EX_OK);
	__atomic_store_n(&t->sh->go, 1, __ATOMIC_RELEASE);
	assert_int_equal(tu_wait_child(w, WAIT_MS), EX_OK);
	assert_int_equal(state_of(t, job), SHMRT_JOB_SUCCEEDED);
	assert_ring_sound(t, Q_PLAIN);
}

/* ---------------------------- defect 1 and pause: a stopped claimant */

/*
 * A producer stopped between claiming a cell and publishing it blocks
 * the queue's consumers only until the heartbeat timeout: scan tombstones
 * the cell and publishes the job; when the producer resumes, its late
 * publish fails, it reports the job accepted, and the ring stays sound.
 */
static void test_stopped_producer_claim_is_tombstoned(void **state)
{
	struct ptest *t = *state;
	struct shmrt__scan_report rep;
	struct shmrt__lease l;
	pid_t p = spawn(t, "ring.push.claimed", SHMRT__PAUSE_STOP,
			child_enqueue_plain);

	assert_int_equal(tu_wait_stopped(p, WAIT_MS), 0);
	/* Blocked behind the claimed cell. */
	assert_int_equal(lease(t, Q_PLAIN, 0, &l), SHMRT_E_AGAIN);
	past_heartbeat_timeout();
	scan(t, &rep);
	assert_int_equal(rep.cells_tombstoned, 1);
	assert_true(rep.jobs_republished >= 1);
	assert_int_equal(lease(t, Q_PLAIN, 1000, &l), 0);
	assert_int_equal(shmrt__job_complete(&t->part, &l, "x", 1), 0);

	resume_and_reap(p, EX_OK);
	assert_int_equal(t->sh->id, l.id.v);
	assert_int_equal(state_of(t, l.id), SHMRT_JOB_SUCCEEDED);
	assert_ring_sound(t, Q_PLAIN);
}

static int child_lease_once(struct ptest *t, struct shmrt__part *p)
{
	unsigned char buf[SLOT_SIZE];
	struct shmrt__lease l;
	int rc = shmrt__job_lease(p, Q_PLAIN, buf, sizeof(buf), 0, &l);

	t->sh->rc = rc;
	return rc == SHMRT_E_AGAIN ? EX_OK : rc == 0 ? EX_LEASED : EX_RC;
}

/*
 * A worker stopped between claiming a cell and taking its job: scan
 * releases the cell and publishes the job again; the resumed worker's
 * late release fails and it takes nothing.
 */
static void test_stopped_popper_claim_is_released(void **state)
{
	struct ptest *t = *state;
	struct shmrt__scan_report rep;
	struct shmrt__lease l;
	shmrt_job_id job = enqueue(t, Q_PLAIN, NULL);
	pid_t w = spawn(t, "ring.pop.claimed", SHMRT__PAUSE_STOP,
			child_lease_once);

	assert_int_equal(tu_wait_stopped(w, WAIT_MS), 0);
	past_heartbeat_timeout();
	scan(t, &rep);
	assert_int_equal(rep.cells_released, 1);
	assert_true(rep.jobs_republished >= 1);
	assert_int_equal(lease(t, Q_PLAIN, 1000, &l), 0);
	assert_int_equal(l.id.v, job.v);
	assert_int_equal(shmrt__job_complete(&t->part, &l, "x", 1), 0);

	resume_and_reap(w, EX_OK);
	assert_ring_sound(t, Q_PLAIN);
}

/* ---------------------------------------- defect 2: a canceller dies */

static uint64_t cancel_target;

static int child_cancel(struct ptest *t, struct shmrt__part *p)
{
	shmrt_job_id id = {cancel_target};
	int rc = shmrt__job_cancel(p, id);

	t->sh->rc = rc;
	return EX_OK;
}

/*
 * A canceller killed while it holds a lane's waiting job: scan ends the
 * job cancelled; it never runs, least of all beside its lane's head.
 */
static void test_dead_canceller_never_runs_a_waiting_lane_job(void **state)
{
	struct ptest *t = *state;
	struct shmrt__scan_report rep;
	struct shmrt__lease head, l;
	shmrt_job_id a1 = enqueue(t, Q_LANE, "a");
	shmrt_job_id a2 = enqueue(t, Q_LANE, "a");
	pid_t c;

	assert_int_equal(lease(t, Q_LANE, 1000, &head), 0);
	assert_int_equal(head.id.v, a1.v);
	cancel_target = a2.v;
	c = spawn(t, "job.cancel.claimed", SHMRT__PAUSE_KILL, child_cancel);
	assert_int_equal(tu_wait_child(c, WAIT_MS), 128 + SIGKILL);

	scan(t, &rep);
	assert_int_equal(rep.cancels_finished, 1);
	assert_int_equal(state_of(t, a2), SHMRT_JOB_CANCELLED);
	assert_int_equal(lease(t, Q_LANE, 200, &l), SHMRT_E_TIMEDOUT);
	assert_int_equal(shmrt__job_complete(&t->part, &head, "x", 1), 0);
	assert_int_equal(lease(t, Q_LANE, 0, &l), SHMRT_E_AGAIN);
}

/* ----------------------------------- defect 3: a publish that fails */

/*
 * A submit whose publish found the ring full is stopped before it takes
 * its job back; scan publishes the job and a worker leases it. The
 * resumed submit must see that and report the job accepted, never free
 * the slot under the worker.
 */
static void test_failed_publish_never_frees_a_leased_job(void **state)
{
	struct ptest *t = *state;
	const struct shmrt__qhandle *q = &t->seg.q[Q_PLAIN];
	struct shmrt__ring r = shmrt__queue_ring(q);
	struct shmrt__ring_intent in = shmrt__part_intent(t->part.rec);
	struct shmrt__scan_report rep;
	struct shmrt__lease l;
	uint64_t junk = shmrt__ref_make(0, 0x7777), v;
	uint64_t i;
	pid_t p;

	/* Stale refs fill the ring (a lease drops them). */
	for (i = 0; i <= q->ring_mask; i++)
		assert_int_equal(shmrt__ring_push(&r, &in, junk), 0);
	p = spawn(t, "job.submit.publish_failed", SHMRT__PAUSE_STOP,
		  child_enqueue_plain);
	assert_int_equal(tu_wait_stopped(p, WAIT_MS), 0);
	assert_int_equal(shmrt__ring_pop(&r, &in, &v), 0);
	__atomic_store_n(&t->part.rec->pop_value, 0, __ATOMIC_RELEASE);
	past_heartbeat_timeout();
	scan(t, &rep);
	assert_true(rep.jobs_republished >= 1);
	assert_int_equal(lease(t, Q_PLAIN, 1000, &l), 0);

	resume_and_reap(p, EX_OK);
	assert_int_equal(t->sh->rc, 0);
	assert_int_equal(t->sh->id, l.id.v);
	assert_int_equal(state_of(t, l.id), SHMRT_JOB_RUNNING);
	assert_int_equal(shmrt__job_complete(&t->part, &l, "x", 1), 0);
	assert_int_equal(state_of(t, l.id), SHMRT_JOB_SUCCEEDED);
	assert_ring_sound(t, Q_PLAIN);
}

/* ---------------------------------------- defect 4: a stale permit */

static int child_lease_sem(struct ptest *t, struct shmrt__part *p)
{
	unsigned char buf[SLOT_SIZE];
	struct shmrt__lease l;
	int rc = shmrt__job_lease(p, Q_SEM, buf, sizeof(buf),
				  tu_deadline_ms(WAIT_MS), &l);

	t->sh->rc = rc;
	if (rc != 0)
		return EX_RC;
	t->sh->id = l.id.v;
	return shmrt__job_complete(p, &l, "w1", 2) == 0 ? EX_OK : EX_RC;
}

/*
 * A worker stopped while it waits for a job holding the queue's only
 * permit loses the permit; when it resumes and finds a job, it must not
 * run it beside the worker that holds the permit now.
 */
static void test_permit_taken_from_a_stopped_waiter_is_never_used(void **state)
{
	struct ptest *t = *state;
	uint32_t si = t->seg.q[Q_SEM].sem;
	struct shmrt__scan_report rep;
	struct shmrt__lease l1;
	shmrt_job_id j2;
	uint64_t until, give_up = tu_deadline_ms(WAIT_MS);
	pid_t w1 = spawn(t, NULL, SHMRT__PAUSE_STOP, child_lease_sem);

	while (shmrt__sem_in_use(&t->seg, si) != 1) {
		assert_true(shmrt__os_now_ns() < give_up);
		shmrt__os_sleep_ns(200000);
	}
	shmrt__os_sleep_ns(20000000); /* asleep in its lease */
	assert_int_equal(kill(w1, SIGSTOP), 0);
	assert_int_equal(tu_wait_stopped(w1, WAIT_MS), 0);
	past_heartbeat_timeout();
	scan(t, &rep);
	assert_int_equal(rep.permits_reclaimed, 1);

	enqueue(t, Q_SEM, NULL);
	assert_int_equal(lease(t, Q_SEM, 1000, &l1), 0);
	j2 = enqueue(t, Q_SEM, NULL);
	assert_int_equal(kill(w1, SIGCONT), 0);
	/* W1 finds j2, finds its permit gone, gives j2 back and waits for
	 * a permit: it must not run j2 while this lease holds the permit. */
	until = tu_deadline_ms(300);
	while (shmrt__os_now_ns() < until) {
		int status;

		assert_int_equal(waitpid(w1, &status, WNOHANG), 0);
		assert_int_equal(shmrt__sem_in_use(&t->seg, si), 1);
		shmrt__os_sleep_ns(2000000);
	}
	assert_int_equal(state_of(t, j2), SHMRT_JOB_QUEUED);
	assert_int_equal(shmrt__job_complete(&t->part, &l1, "x", 1), 0);
	assert_int_equal(tu_wait_child(w1, WAIT_MS), EX_OK);
	assert_int_equal(t->sh->id, j2.v);
	assert_int_equal(state_of(t, j2), SHMRT_JOB_SUCCEEDED);
}

/* --------------------------------------- defect 5: stale verdicts */

static int child_silent_then_lease(struct ptest *t, struct shmrt__part *p)
{
	unsigned char buf[SLOT_SIZE];
	struct shmrt__lease l;

	__atomic_store_n(&t->sh->ready, 1, __ATOMIC_RELEASE);
	if (!tu_wait_value(&t->sh->go, 1, WAIT_MS))
		return EX_RC;
	if (shmrt__job_lease(p, Q_SEM, buf, sizeof(buf),
			     tu_deadline_ms(1000), &l) != 0)
		return EX_RC;
	t->sh->id = l.id.v;
	__atomic_store_n(&t->sh->ready, 2, __ATOMIC_RELEASE);
	if (!tu_wait_value(&t->sh->go, 2, WAIT_MS))
		return EX_RC;
	return shmrt__job_complete(p, &l, "w", 1) == 0 ? EX_OK : EX_RC;
}

static int child_scan(struct ptest *t, struct shmrt__part *p)
{
	return shmrt__scan(p, tu_deadline_ms(WAIT_MS), &t->sh->rep) == 0
		       ? EX_OK
		       : EX_RC;
}

/*
 * A scan judges a silent worker hung, then stops; the worker wakes up,
 * heartbeats and leases a job with the queue's permit; the scan goes on.
 * Acting on its old verdict it would fail that job "worker hung" and
 * take its permit: it must re-check, and leave both alone.
 */
static void test_hung_verdict_is_rechecked_when_acted_on(void **state)
{
	struct ptest *t = *state;
	shmrt_job_id job = enqueue(t, Q_SEM, NULL);
	pid_t w = spawn(t, NULL, SHMRT__PAUSE_STOP, child_silent_then_lease);
	pid_t r;

	assert_true(tu_wait_value(&t->sh->ready, 1, WAIT_MS));
	past_heartbeat_timeout();
	r = spawn(t, "scan.verdicts_taken", SHMRT__PAUSE_STOP, child_scan);
	assert_int_equal(tu_wait_stopped(r, WAIT_MS), 0);
	__atomic_store_n(&t->sh->go, 1, __ATOMIC_RELEASE);
	assert_true(tu_wait_value(&t->sh->ready, 2, WAIT_MS));
	resume_and_reap(r, EX_OK);

	assert_true(t->sh->rep.hung_participants >= 1);
	assert_int_equal(t->sh->rep.permits_reclaimed, 0);
	assert_int_equal(t->sh->rep.jobs_requeued + t->sh->rep.jobs_failed, 0);
	assert_int_equal(t->sh->id, job.v);
	assert_int_equal(state_of(t, job), SHMRT_JOB_RUNNING);
	__atomic_store_n(&t->sh->go, 2, __ATOMIC_RELEASE);
	assert_int_equal(tu_wait_child(w, WAIT_MS), EX_OK);
	assert_int_equal(state_of(t, job), SHMRT_JOB_SUCCEEDED);
}

static int child_join_leave(struct ptest *t, struct shmrt__part *p)
{
	(void)t;
	shmrt__part_heartbeat(p);
	shmrt__part_leave(p);
	return EX_OK;
}

static int child_join_only(struct ptest *t, struct shmrt__part *p)
{
	(void)t;
	shmrt__part_leave(p);
	return EX_OK;
}

/*
 * A record that changes hands does not carry its previous occupant's
 * heartbeat: a participant caught between claiming the record and its
 * first heartbeat is not hung.
 */
static void test_new_participant_is_not_born_hung(void **state)
{
	struct ptest *t = *state;
	struct shmrt__scan_report rep;
	uint32_t i;
	pid_t a, b;

	/* Leave one record free, so both children get the same one. */
	for (i = 0; i < t->seg.nparticipants; i++) {
		uint64_t free_owner = 0;

		if (i == t->part.index)
			continue;
		__atomic_compare_exchange_n(&t->seg.parts[i].owner,
					    &free_owner, 1ull << 32, false,
					    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
	}
	__atomic_store_n(&t->seg.parts[(t->part.index + 1) %
					t->seg.nparticipants].owner,
			 0, __ATOMIC_RELEASE);
	a = spawn(t, NULL, SHMRT__PAUSE_STOP, child_join_leave);
	assert_int_equal(tu_wait_child(a, WAIT_MS), EX_OK);
	past_heartbeat_timeout();
	b = spawn(t, "part.join.claimed", SHMRT__PAUSE_STOP, child_join_only);
	assert_int_equal(tu_wait_stopped(b, WAIT_MS), 0);
	/* The records filled in above (pid 1, start time unknown) are
	 * alive and have no heartbeat: neither dead nor hung. */
	scan(t, &rep);
	assert_int_equal(rep.hung_participants, 0);
	resume_and_reap(b, EX_OK);
}

/* -------------------------------------- defect 6: late writes to slots */

static int child_cancel_expect_requested(struct ptest *t,
					 struct shmrt__part *p)
{
	shmrt_job_id id = {cancel_target};
	int rc = shmrt__job_cancel(p, id);

	t->sh->rc = rc;
	return rc == SHMRT__CANCEL_REQUESTED ? EX_OK : EX_RC;
}

/* (a) A late cancel of a finished job does not cancel the slot's next. */
static void test_late_cancel_spares_the_slots_next_job(void **state)
{
	struct ptest *t = *state;
	struct shmrt__lease l1, l2;
	shmrt_job_id j1 = enqueue(t, Q_TINY, NULL), j2;
	pid_t c;

	assert_int_equal(lease(t, Q_TINY, 1000, &l1), 0);
	cancel_target = j1.v;
	c = spawn(t, "job.cancel.running", SHMRT__PAUSE_STOP,
		  child_cancel_expect_requested);
	assert_int_equal(tu_wait_stopped(c, WAIT_MS), 0);
	assert_int_equal(shmrt__job_complete(&t->part, &l1, "x", 1), 0);
	assert_int_equal(shmrt__job_release(&t->seg, j1), 0);
	j2 = enqueue(t, Q_TINY, NULL);
	assert_int_equal(lease(t, Q_TINY, 1000, &l2), 0);
	assert_int_equal(l2.slot, l1.slot);
	resume_and_reap(c, EX_OK);

	assert_false(shmrt__job_cancel_requested(&t->seg, &l2));
	assert_int_equal(shmrt__job_fail(&t->part, &l2, "e", 1, 1), 1);
	/* A cancel of the new job itself still counts. */
	assert_int_equal(lease(t, Q_TINY, 1000, &l2), 0);
	assert_int_equal(shmrt__job_cancel(&t->part, j2),
			 SHMRT__CANCEL_REQUESTED);
	assert_true(shmrt__job_cancel_requested(&t->seg, &l2));
	assert_int_equal(shmrt__job_fail(&t->part, &l2, "e", 1, 1), 0);
	assert_int_equal(state_of(t, j2), SHMRT_JOB_FAILED);
}

static int child_lease_tiny(struct ptest *t, struct shmrt__part *p)
{
	unsigned char buf[SLOT_SIZE];
	struct shmrt__lease l;
	int rc = shmrt__job_lease(p, Q_TINY, buf, sizeof(buf),
				  tu_deadline_ms(300), &l);

	t->sh->rc = rc;
	return rc == SHMRT_E_TIMEDOUT ? EX_OK : rc == 0 ? EX_LEASED : EX_RC;
}

/*
 * (b) A worker stopped right after winning a lease loses it (hung); the
 * job's next lessee owns start time, token and deadline: the resumed
 * worker writes none of them, does not run the job, and the next lease's
 * timeout still fires.
 */
static void test_lost_lease_writes_nothing_into_the_next(void **state)
{
	struct ptest *t = *state;
	struct shmrt__scan_report rep;
	struct shmrt_job_info info;
	struct shmrt__lease l2;
	shmrt_job_id job = enqueue(t, Q_TINY, NULL);
	pid_t w1 = spawn(t, "job.lease.won", SHMRT__PAUSE_STOP,
			 child_lease_tiny);

	assert_int_equal(tu_wait_stopped(w1, WAIT_MS), 0);
	past_heartbeat_timeout();
	scan(t, &rep);
	assert_int_equal(rep.jobs_requeued, 1);
	assert_int_equal(lease(t, Q_TINY, 1000, &l2), 0);
	assert_int_equal(l2.id.v, job.v);
	assert_int_equal(l2.attempt, 2);
	resume_and_reap(w1, EX_OK);

	assert_true(shmrt__job_lease_valid(&t->seg, &l2));
	assert_int_equal(shmrt__job_status(&t->seg, job, &info, NULL, 0), 0);
	assert_int_equal(info.start_ns, l2.leased_ns);
	shmrt__os_sleep_ns((TINY_TIMEOUT_MS + 50) * 1000000ull);
	scan(t, &rep);
	assert_int_equal(rep.leases_expired, 1);
	assert_false(shmrt__job_lease_valid(&t->seg, &l2));
	assert_int_equal(shmrt__job_complete(&t->part, &l2, "x", 1),
			 SHMRT_E_STALE);
}

static int child_lease_then_retry(struct ptest *t, struct shmrt__part *p)
{
	unsigned char buf[SLOT_SIZE];
	struct shmrt__lease l;
	int rc;

	if (shmrt__job_lease(p, Q_BACKOFF, buf, sizeof(buf),
			     tu_deadline_ms(WAIT_MS), &l) != 0)
		return EX_RC;
	shmrt__pause_arm("job.requeue.before_cas", 1, SHMRT__PAUSE_STOP);
	rc = shmrt__job_fail(p, &l, "again", 5, 1);
	t->sh->rc = rc;
	return rc == SHMRT_E_STALE ? EX_OK : EX_RC;
}

/*
 * (c) A worker stopped inside its retry, its job taken back and the slot
 * reused: the resumed retry must not put the new job into a backoff.
 */
static void test_late_retry_does_not_delay_the_slots_next_job(void **state)
{
	struct ptest *t = *state;
	struct shmrt__scan_report rep;
	struct shmrt__lease l;
	shmrt_job_id j1 = enqueue(t, Q_BACKOFF, NULL), j2;
	pid_t w1 = spawn(t, NULL, SHMRT__PAUSE_STOP, child_lease_then_retry);

	assert_int_equal(tu_wait_stopped(w1, WAIT_MS), 0);
	past_heartbeat_timeout();
	scan(t, &rep);
	assert_int_equal(rep.jobs_requeued, 1);
	assert_int_equal(shmrt__job_cancel(&t->part, j1), 0);
	assert_int_equal(shmrt__job_release(&t->seg, j1), 0);
	j2 = enqueue(t, Q_BACKOFF, NULL);
	resume_and_reap(w1, EX_OK);

	assert_int_equal(lease(t, Q_BACKOFF, 1000, &l), 0);
	assert_int_equal(l.id.v, j2.v);
	assert_int_equal(shmrt__job_complete(&t->part, &l, "x", 1), 0);
}

/* ------------------------------ defects 7, 8: corrupt segment values */

static int child_submit_lane(struct ptest *t, struct shmrt__part *p)
{
	struct shmrt__submit sub = {.payload = "l", .len = 1, .lane = "a",
				    .lane_len = 1};
	shmrt_job_id id;
	int rc = shmrt__job_submit(p, Q_LANE, &sub, &id);

	t->sh->rc = rc;
	return rc == SHMRT_E_CORRUPT ? EX_OK : EX_RC;
}

/* A lane key length scribbled over between fill and link: an error. */
static void test_corrupt_lane_key_len_is_an_error(void **state)
{
	struct ptest *t = *state;
	const struct shmrt__qhandle *q = &t->seg.q[Q_LANE];
	struct shmrt__lease l;
	uint32_t slot, hit = 0;
	pid_t p = spawn(t, "job.submit.filled", SHMRT__PAUSE_STOP,
			child_submit_lane);

	assert_int_equal(tu_wait_stopped(p, WAIT_MS), 0);
	for (slot = 0; slot < q->capacity; slot++) {
		struct shmrt__slot *s = shmrt__slot_at(q, slot);

		if (shmrt__w_state(__atomic_load_n(&s->word,
						   __ATOMIC_ACQUIRE)) ==
		    SHMRT__S_RESERVED) {
			__atomic_store_n(&s->lane_key_len, 100000u,
					 __ATOMIC_RELEASE);
			hit++;
		}
	}
	assert_int_equal(hit, 1);
	resume_and_reap(p, EX_OK);
	/* Nothing was accepted, and the queue goes on. */
	enqueue(t, Q_LANE, "b");
	assert_int_equal(lease(t, Q_LANE, 1000, &l), 0);
	assert_int_equal(shmrt__job_complete(&t->part, &l, "x", 1), 0);
	assert_int_equal(lease(t, Q_LANE, 0, &l), SHMRT_E_AGAIN);
}

static int child_lease_lane_timed(struct ptest *t, struct shmrt__part *p)
{
	unsigned char buf[SLOT_SIZE];
	struct shmrt__lease l;
	uint64_t start = shmrt__os_now_ns();
	int rc = shmrt__job_lease(p, Q_LANE, buf, sizeof(buf),
				  tu_deadline_ms(300), &l);

	t->sh->rc = rc;
	if (rc == 0)
		return EX_LEASED;
	return shmrt__os_now_ns() - start < 2000000000ull ? EX_OK : EX_RC;
}

/*
 * A laned queue whose ring refuses pushes while poppers see it empty (a
 * corrupt segment), with lane heads flagged for re-push: a lease keeps
 * its deadline instead of looping.
 */
static void test_lease_on_a_corrupt_laned_ring_keeps_its_deadline(void **state)
{
	struct ptest *t = *state;
	const struct shmrt__qhandle *q = &t->seg.q[Q_LANE];
	uint64_t pos = __atomic_load_n(&q->ctl->dequeue_pos, __ATOMIC_ACQUIRE);
	pid_t w;

	/* Head cell unpublished (empty for pops), tail cell a lap behind
	 * (full for pushes). */
	__atomic_store_n(&q->cells[pos & q->ring_mask].seq, pos,
			 __ATOMIC_RELEASE);
	__atomic_store_n(&q->cells[(pos + 1) & q->ring_mask].seq, pos,
			 __ATOMIC_RELEASE);
	__atomic_store_n(&q->ctl->enqueue_pos, pos + 1, __ATOMIC_RELEASE);
	enqueue(t, Q_LANE, "a"); /* accepted; its head cannot be pushed */
	assert_int_equal(__atomic_load_n(&q->ctl->lane_repush,
					 __ATOMIC_ACQUIRE),
			 1);
	w = spawn(t, NULL, SHMRT__PAUSE_STOP, child_lease_lane_timed);
	assert_int_equal(tu_wait_child(w, 5000), EX_OK);
	assert_true(t->sh->rc == SHMRT_E_TIMEDOUT ||
		    t->sh->rc == SHMRT_E_CORRUPT);
}

/* ------------------------------------------- eviction is fenced (evict.h) */

static int child_enqueue_backoff(struct ptest *t, struct shmrt__part *p)
{
	shmrt_job_id id = { 0 };
	int rc = shmrt__job_enqueue(p, Q_BACKOFF, "e", 1, 0, &id);

	t->sh->rc = rc;
	t->sh->id = id.v;
	return rc == SHMRT_E_FULL ? EX_OK : EX_RC;
}

/*
 * An evicting producer frozen after it chose the oldest finished job; its
 * slot is released and taken by a new job, which a worker leases. When
 * the producer resumes, its eviction must fail (it names the old job) and
 * its enqueue find the queue full: the running job keeps its slot.
 */
static void test_stopped_evictor_spares_the_slots_next_job(void **state)
{
	struct ptest *t = *state;
	struct shmrt__lease l;
	shmrt_job_id old, next;
	pid_t p;

	old = enqueue(t, Q_BACKOFF, NULL);
	assert_int_equal(lease(t, Q_BACKOFF, 1000, &l), 0);
	assert_int_equal(shmrt__job_complete(&t->part, &l, "x", 1), 0);
	p = spawn(t, "evict.chosen", SHMRT__PAUSE_STOP, child_enqueue_backoff);
	assert_int_equal(tu_wait_stopped(p, WAIT_MS), 0);
	assert_int_equal(shmrt__job_release(&t->seg, old), 0);
	next = enqueue(t, Q_BACKOFF, NULL);
	assert_int_equal(lease(t, Q_BACKOFF, 1000, &l), 0);
	assert_int_equal(l.id.v, next.v);

	resume_and_reap(p, EX_OK);
	assert_int_equal(t->sh->rc, SHMRT_E_FULL);
	assert_int_equal(state_of(t, next), SHMRT_JOB_RUNNING);
	assert_int_equal(shmrt__job_complete(&t->part, &l, "y", 1), 0);
	assert_int_equal(state_of(t, next), SHMRT_JOB_SUCCEEDED);
	assert_int_equal(__atomic_load_n(&t->seg.q[Q_BACKOFF].ctl->n_evicted,
					 __ATOMIC_RELAXED),
			 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_scan_without_fds_takes_nobody_for_dead),
		T(test_stopped_producer_claim_is_tombstoned),
		T(test_stopped_popper_claim_is_released),
		T(test_dead_canceller_never_runs_a_waiting_lane_job),
		T(test_failed_publish_never_frees_a_leased_job),
		T(test_permit_taken_from_a_stopped_waiter_is_never_used),
		T(test_hung_verdict_is_rechecked_when_acted_on),
		T(test_new_participant_is_not_born_hung),
		T(test_late_cancel_spares_the_slots_next_job),
		T(test_lost_lease_writes_nothing_into_the_next),
		T(test_late_retry_does_not_delay_the_slots_next_job),
		T(test_corrupt_lane_key_len_is_an_error),
		T(test_lease_on_a_corrupt_laned_ring_keeps_its_deadline),
		T(test_stopped_evictor_spares_the_slots_next_job),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
