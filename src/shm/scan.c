/*
 * src/shm/scan.c - reclaim what dead participants held (see scan.h).
 *
 * Why touching a dead or hung participant's ring cell is safe: the owner
 * of a claimed, unfinished position keeps that position in its intent
 * record until it finishes (ring.c). So if the cell at `pos` is still
 * unfinished and no intent of a participant that is neither dead nor hung
 * names (queue, pos), its owner is dead or stopped; a dead one writes
 * nothing more, and a stopped one's late writes are CASes from the values
 * it claimed, which fail after the repair (ring.h).
 *
 * Verdicts: "dead" (the process is gone) never changes once true, so it is
 * taken once per pass. "Hung" (heartbeat older than the timeout) can stop
 * being true at any moment, so it is asked afresh at each repair, after
 * the word being repaired was read: a participant that heartbeats and then
 * takes a job makes the CAS from the old word fail.
 */
#define _GNU_SOURCE
#include "scan.h"

#include <errno.h>
#include <shmrt/error.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atomics.h"
#include "error_detail.h"
#include "idem.h"
#include "job.h"
#include "lane.h"
#include "os.h"
#include "pause.h"
#include "plock.h"
#include "qstate.h"
#include "sem.h"

struct scan_ctx {
	struct shmrt__part *reaper;
	struct shmrt__seg *seg;
	bool *dead; /* per participant record: the process is gone */
	uint64_t now;
	uint64_t keyed_busy; /* bit qi: queue qi's state lock held (live) */
	struct shmrt__scan_report *rep;
};

/* Hung at this moment (see the top of the file); never the reaper. */
static bool hung_now(const struct scan_ctx *c, uint32_t i)
{
	return i != c->reaper->index &&
	       shmrt__part_hung(c->seg, i, shmrt__os_now_ns());
}

static bool gone_now(const struct scan_ctx *c, uint32_t i)
{
	return c->dead[i] || hung_now(c, i);
}

/*
 * Whether scan may take a permit from record i. Of a hung participant,
 * only while it holds no lease (lease_token is set before the CAS that
 * wins a job, and read here after the permit word): a permit that covers
 * a job goes only with that job (reclaim), never before it, so no job
 * ever runs on a valid lease without its permit. The lease that follows
 * renews its permit by CAS (sem.h), which a reclaim decided here fails.
 */
static bool permit_gone(void *ctx, uint32_t i)
{
	const struct scan_ctx *c = ctx;

	return c->dead[i] ||
	       (LD_ACQ(&c->seg->parts[i].lease_token) == 0 && hung_now(c, i));
}

/*
 * The dead: the process is gone (liveness fails closed: only proof of
 * death counts, os.h). The hung are only counted here; what they hold is
 * taken back where each repair re-checks that they still are.
 */
static void find_dead(struct scan_ctx *c)
{
	uint32_t i;

	for (i = 0; i < c->seg->nparticipants; i++) {
		uint64_t owner = LD_ACQ(&c->seg->parts[i].owner);

		if (owner == 0 || i == c->reaper->index)
			continue;
		if (!shmrt__part_owner_alive(owner)) {
			c->dead[i] = true;
			c->rep->dead_participants++;
		} else if (hung_now(c, i)) {
			c->rep->hung_participants++;
		}
	}
	SHMRT__PAUSE("scan.verdicts_taken");
}

/*
 * Whether the push (or pop) intent of a participant that is neither dead
 * nor hung names (qi, pos).
 */
static bool live_claim(const struct scan_ctx *c, uint32_t qi, uint64_t pos,
		       bool push)
{
	uint32_t i;

	for (i = 0; i < c->seg->nparticipants; i++) {
		const struct shmrt__participant *r = &c->seg->parts[i];

		if (LD_ACQ(&r->owner) == 0 || gone_now(c, i))
			continue;
		if (push && LD_RLX(&r->push_pos) == pos && LD_RLX(&r->push_queue) == qi)
			return true;
		if (!push && LD_RLX(&r->pop_pos) == pos && LD_RLX(&r->pop_queue) == qi)
			return true;
	}
	return false;
}

/* Push a job's ref again if its slot is still QUEUED with that generation. */
static void republish(struct scan_ctx *c, uint32_t qi, uint64_t ref)
{
	const struct shmrt__qhandle *q = &c->seg->q[qi];
	uint32_t slot = shmrt__ref_slot(ref);
	uint64_t w;

	if (ref == 0 || ref == SHMRT__REF_TOMBSTONE || slot >= q->capacity)
		return;
	w = LD_ACQ(&shmrt__slot_at(q, slot)->word);
	if (shmrt__w_state(w) != SHMRT__S_QUEUED ||
	    shmrt__w_gen(w) != shmrt__ref_gen(ref))
		return;
	if (shmrt__job_requeue(c->reaper, qi, slot, w) == 1)
		c->rep->jobs_republished++;
}

static void repair_push(struct scan_ctx *c, struct shmrt__participant *r)
{
	uint32_t qi = LD_RLX(&r->push_queue);
	uint64_t pos = LD_RLX(&r->push_pos);
	struct shmrt__ring ring;

	if (qi >= c->seg->nqueues)
		return;
	ring = shmrt__queue_ring(&c->seg->q[qi]);
	if (pos != SHMRT__POS_NONE &&
	    shmrt__ring_cell_state(&ring, pos) == SHMRT__CELL_UNPUBLISHED &&
	    !live_claim(c, qi, pos, true) &&
	    shmrt__ring_tombstone(&ring, pos) == 0)
		c->rep->cells_tombstoned++;
	republish(c, qi, LD_RLX(&r->push_value));
}

static void repair_pop(struct scan_ctx *c, struct shmrt__participant *r)
{
	uint32_t qi = LD_RLX(&r->pop_queue);
	uint64_t pos = LD_RLX(&r->pop_pos);
	struct shmrt__ring ring;
	uint64_t v;

	if (qi >= c->seg->nqueues)
		return;
	ring = shmrt__queue_ring(&c->seg->q[qi]);
	if (pos != SHMRT__POS_NONE &&
	    shmrt__ring_cell_state(&ring, pos) == SHMRT__CELL_UNRELEASED &&
	    !live_claim(c, qi, pos, false) &&
	    shmrt__ring_release(&ring, pos, &v) == 0) {
		c->rep->cells_released++;
		republish(c, qi, v);
	}
	republish(c, qi, LD_RLX(&r->pop_value));
}

/*
 * A running job whose worker is gone or late: retry it or fail it.
 * Returns whether this call took it back.
 */
static bool reclaim(struct scan_ctx *c, uint32_t qi, uint32_t slot,
		    uint64_t w, const char *why)
{
	const struct shmrt__qhandle *q = &c->seg->q[qi];

	if (shmrt__w_attempt(w) >= LD_RLX(&q->ctl->max_attempts)) {
		if (shmrt__job_fail_slot(c->reaper, qi, slot, w, why,
					 strlen(why)) != 1)
			return false;
		c->rep->jobs_failed++;
		return true;
	}
	if (shmrt__job_requeue(c->reaper, qi, slot, w) != 1)
		return false;
	c->rep->jobs_requeued++;
	__atomic_fetch_add(&q->ctl->n_reclaimed, 1, __ATOMIC_RELAXED);
	return true;
}

/* A lease scan took back: (owner, token, job id). */
struct taken_lease {
	const struct scan_ctx *c;
	uint32_t owner;
	uint64_t w;
	shmrt_job_id id;
};

/*
 * Whether the owner's record still names the taken lease: then the
 * permits it holds are that lease's (asked after each permit word is
 * read; the worker stamps a new lease only after it gave its permit back
 * and took another). A worker that has moved on (its completion refused,
 * a new lease begun) names another id or token, and its permit covers a
 * job nobody took from it.
 */
static bool holds_lease(void *ctx)
{
	const struct taken_lease *t = ctx;
	const struct shmrt__participant *r = &t->c->seg->parts[t->owner];

	return LD_ACQ(&r->lease_token) == t->w && LD_ACQ(&r->held_job) == t->id.v &&
	       LD_ACQ(&r->lease_token) == t->w;
}

/*
 * The job of a dead or hung worker, and then the permit it ran under:
 * the permit goes only once the job is no longer the worker's, so the
 * job never runs on a valid lease without it. (A job whose lease merely
 * expired keeps its permit: its handler may still be running, and the
 * worker gives the permit back when its completion is refused.)
 */
static void reclaim_with_permit(struct scan_ctx *c, uint32_t qi,
				uint32_t slot, uint64_t w, const char *why)
{
	const struct shmrt__qhandle *q = &c->seg->q[qi];
	struct taken_lease t = {c, shmrt__w_owner(w), w,
				shmrt__id_make(qi, slot, shmrt__w_gen(w))};

	if (reclaim(c, qi, slot, w, why) && q->sem != SHMRT__NONE &&
	    t.owner < c->seg->nparticipants)
		c->rep->permits_reclaimed += shmrt__sem_take_from(
			c->seg, q->sem, t.owner, holds_lease, &t);
}

static bool owner_dead(const struct scan_ctx *c, uint32_t owner)
{
	/* An index out of range, or a freed record, holds nothing real. */
	return owner >= c->seg->nparticipants || c->dead[owner] ||
	       LD_ACQ(&c->seg->parts[owner].owner) == 0;
}

static bool owner_hung(const struct scan_ctx *c, uint32_t owner)
{
	return owner < c->seg->nparticipants && hung_now(c, owner);
}

/*
 * Whether lease `w` of participant `owner` is past its deadline. The
 * lessee keeps token and deadline in its own record (job.c lease_stamp);
 * the deadline counts only between two reads of the token that both
 * equal w (a seqlock whose sequence is the token).
 */
static bool lease_expired(const struct scan_ctx *c, uint32_t owner,
			  uint64_t w)
{
	const struct shmrt__participant *r;
	uint64_t deadline;

	if (owner >= c->seg->nparticipants)
		return false;
	r = &c->seg->parts[owner];
	if (LD_ACQ(&r->lease_token) != w)
		return false;
	deadline = LD_ACQ(&r->lease_deadline_ns);
	return LD_RLX(&r->lease_token) == w && deadline != 0 && c->now > deadline;
}

/* Queue qi's state lock was held past scan's wait: skip it this pass. */
static void keyed_skip(struct scan_ctx *c, uint32_t qi)
{
	c->keyed_busy |= 1ull << qi;
	c->rep->locks_busy++;
}

/* A finished job past retention; a linked lane job needs the lock. */
static void expire_finished(struct scan_ctx *c, uint32_t qi, uint32_t slot,
			    uint64_t w)
{
	int rc;

	if (((c->keyed_busy >> qi) & 1u) && c->seg->q[qi].lanes.nentries)
		return;
	rc = shmrt__job_free_slot_until(c->seg, qi, slot, w,
					shmrt__qstate_brief_deadline());
	if (rc == 1)
		c->rep->jobs_expired++;
	else if (rc == SHMRT_E_BUSY)
		keyed_skip(c, qi);
}

static void sweep_slot(struct scan_ctx *c, uint32_t qi, uint32_t slot)
{
	const struct shmrt__qhandle *q = &c->seg->q[qi];
	struct shmrt__slot *s = shmrt__slot_at(q, slot);
	uint64_t w = LD_ACQ(&s->word);
	uint32_t st = shmrt__w_state(w);
	uint64_t t;

	switch (st) {
	case SHMRT__S_RESERVED:
		/* A reservation already linked into a lane is a submit its
		 * producer died inside of: the lane lock's repair accepts
		 * it (qstate.h), so it is not freed here. */
		if (owner_dead(c, shmrt__w_owner(w)) &&
		    LD_RLX(&s->lane) == SHMRT__NONE &&
		    shmrt__job_free_slot(c->seg, qi, slot, w) == 1)
			c->rep->slots_freed++;
		break;
	case SHMRT__S_RUNNING:
	case SHMRT__S_COMPLETING:
		if (owner_dead(c, shmrt__w_owner(w))) {
			reclaim_with_permit(c, qi, slot, w, "worker died");
		} else if (st == SHMRT__S_RUNNING &&
			   owner_hung(c, shmrt__w_owner(w))) {
			reclaim_with_permit(c, qi, slot, w, "worker hung");
		} else if (st == SHMRT__S_RUNNING &&
			   lease_expired(c, shmrt__w_owner(w), w)) {
			c->rep->leases_expired++;
			reclaim(c, qi, slot, w, "job timed out");
		}
		break;
	case SHMRT__S_CANCELLING:
		/* Its canceller died ending it: end it as it asked. */
		if (owner_dead(c, shmrt__w_owner(w)) &&
		    shmrt__job_cancel_slot(c->reaper, qi, slot, w) == 1)
			c->rep->cancels_finished++;
		break;
	case SHMRT__S_SUCCEEDED:
	case SHMRT__S_FAILED:
	case SHMRT__S_CANCELLED:
		t = LD_RLX(&s->finish_ns);
		if (c->now > t + LD_RLX(&c->seg->hdr->tun.retention_ns))
			expire_finished(c, qi, slot, w);
		break;
	default:
		break;
	}
}

static void free_dead_records(struct scan_ctx *c)
{
	uint32_t i;

	for (i = 0; i < c->seg->nparticipants; i++) {
		struct shmrt__participant *r = &c->seg->parts[i];

		uint32_t qi;

		if (!c->dead[i])
			continue;
		/* A worker that died asleep is still counted (waitq.h). */
		qi = LD_RLX(&r->sleeping);
		if (qi != 0 && qi <= c->seg->nqueues)
			c->rep->sleepers_forgotten += (uint32_t)shmrt__waitq_forget(
				&c->seg->q[qi - 1].ctl->jobs_wq, &r->sleeping,
				qi);
		shmrt__part_reap(r);
	}
}

static void mark_ref(unsigned char *bits, uint32_t nslots, uint64_t ref)
{
	uint32_t slot = shmrt__ref_slot(ref);

	if (ref != 0 && ref != SHMRT__REF_TOMBSTONE && slot < nslots)
		bits[slot / 8] |= (unsigned char)(1u << (slot % 8));
}

/*
 * QUEUED jobs of an unlaned queue that nothing names: not in the ring, not
 * in any live participant's intent. A re-publish that found the ring tail
 * held too long leaves such a job (job.c); whatever the cause, it is
 * published again here, so a QUEUED job always reaches a worker. Racing
 * pushes and pops can only make a job look unnamed when it is not, which
 * costs a duplicate ref (dropped at lease). Laned queues: lane_scan does
 * the same for lane heads.
 */
static void sweep_unnamed(struct scan_ctx *c, uint32_t qi)
{
	const struct shmrt__qhandle *q = &c->seg->q[qi];
	struct shmrt__ring ring = shmrt__queue_ring(q);
	unsigned char *named = calloc(q->capacity / 8 + 1, 1);
	uint32_t i, slot;

	if (named == NULL)
		return; /* the next scan tries again */
	shmrt__ring_mark(&ring, q->capacity, named);
	for (i = 0; i < c->seg->nparticipants; i++) {
		const struct shmrt__participant *r = &c->seg->parts[i];

		if (LD_ACQ(&r->owner) == 0 || c->dead[i])
			continue;
		if (LD_RLX(&r->push_queue) == qi)
			mark_ref(named, q->capacity, LD_RLX(&r->push_value));
		if (LD_RLX(&r->pop_queue) == qi)
			mark_ref(named, q->capacity, LD_RLX(&r->pop_value));
	}
	for (slot = 0; slot < q->capacity; slot++) {
		uint64_t w = LD_ACQ(&shmrt__slot_at(q, slot)->word);

		if (shmrt__w_state(w) != SHMRT__S_QUEUED ||
		    (named[slot / 8] & (1u << (slot % 8))))
			continue;
		if (shmrt__job_requeue(c->reaper, qi, slot, w) == 1)
			c->rep->jobs_republished++;
	}
	free(named);
}

/*
 * Lanes whose head finished while its worker died; expired keys. A live
 * holder (perhaps a stopped one) keeping the lock past scan's short wait
 * costs this queue's keyed steps for one pass, never the scan its time.
 */
static void sweep_keyed(struct scan_ctx *c, uint32_t qi)
{
	const struct shmrt__qhandle *q = &c->seg->q[qi];

	if (q->lanes.nentries == 0 && q->idem.nentries == 0)
		return;
	if (shmrt__qstate_lock_until(c->reaper, q, shmrt__qstate_brief_deadline()) != 0) {
		keyed_skip(c, qi);
		return;
	}
	if (q->lanes.nentries)
		c->rep->lanes_settled += shmrt__lane_scan_locked(c->reaper, q);
	if (q->idem.nentries)
		c->rep->keys_expired += shmrt__idem_expire(q, c->now);
	shmrt__qstate_unlock(q);
}

static void scan_locked(struct scan_ctx *c)
{
	uint32_t i, qi, slot;

	find_dead(c);
	for (i = 0; i < c->seg->nparticipants; i++) {
		if (LD_ACQ(&c->seg->parts[i].owner) == 0 || !gone_now(c, i))
			continue;
		repair_push(c, &c->seg->parts[i]);
		repair_pop(c, &c->seg->parts[i]);
	}
	for (qi = 0; qi < c->seg->nqueues; qi++) {
		/* Keyed state first: taking its lock repairs what a dead
		 * holder left (qstate.h) before the slots are judged. */
		sweep_keyed(c, qi);
		for (slot = 0; slot < c->seg->q[qi].capacity; slot++)
			sweep_slot(c, qi, slot);
		if (c->seg->q[qi].lanes.nentries == 0)
			sweep_unnamed(c, qi);
	}
	/* After the jobs: the permits of the dead, and of the hung that
	 * wait for a job while holding one (permit_gone). */
	c->rep->permits_reclaimed +=
		shmrt__sem_reclaim(c->seg, permit_gone, c);
	free_dead_records(c);
}

int shmrt__scan(struct shmrt__part *reaper, uint64_t deadline_ns,
		struct shmrt__scan_report *rep)
{
	struct shmrt__scan_report local;
	struct scan_ctx c = { .reaper = reaper, .seg = reaper->seg };
	int rc;

	c.rep = rep != NULL ? rep : &local;
	memset(c.rep, 0, sizeof(*c.rep));
	c.dead = calloc(c.seg->nparticipants, sizeof(bool));
	if (c.dead == NULL)
		return SHMRT_E_NOMEM;

	c.now = shmrt__os_now_ns();
	rc = shmrt__plock_lock(&c.seg->hdr->repair_lock, deadline_ns);
	if (rc >= 0) {
		/* A dead reaper's half-done pass needs no undoing: every
		 * repair step is CAS-guarded and idempotent. */
		rc = 0;
		scan_locked(&c);
		shmrt__plock_unlock(&c.seg->hdr->repair_lock);
	} else {
		rc = shmrt__fail(rc, "scan %s: repair lock: %s",
				 c.seg->shm_name, shmrt_strerror(rc));
	}
	free(c.dead);
	return rc;
}
