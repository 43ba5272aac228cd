/*
 * src/shm/scan.c - reclaim what dead participants held (see scan.h).
 *
 * Why touching a dead participant's ring cell is safe: the owner of a
 * claimed, unfinished position keeps that position in its intent record
 * until it finishes (ring.c). So if the cell at `pos` is still unfinished
 * and no live participant's intent names (queue, pos), its owner is dead and
 * nobody else will ever write that cell again this lap; the CAS-guarded
 * tombstone/release cannot race a live owner.
 */
#define _GNU_SOURCE
#include "scan.h"

#include <errno.h>
#include <shmrt/error.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error_detail.h"
#include "job.h"
#include "os.h"

#define LD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define LDA(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define ST(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

struct scan_ctx {
	struct shmrt__part *reaper;
	struct shmrt__seg *seg;
	bool *dead; /* per participant record */
	uint64_t now;
	struct shmrt__scan_report *rep;
};

/*
 * The repair lock, with a deadline. pthread_mutex_timedlock takes a
 * CLOCK_REALTIME deadline, so the monotonic one is converted. A previous
 * reaper that died holding the lock leaves EOWNERDEAD: the state the lock
 * protects is only "who repairs", so marking it consistent is enough.
 */
static int repair_lock(pthread_mutex_t *m, uint64_t deadline_ns)
{
	uint64_t now = shmrt__os_now_ns();
	uint64_t left = deadline_ns > now ? deadline_ns - now : 0;
	uint64_t wall = shmrt__os_wall_ns() + left;
	struct timespec ts = { (time_t)(wall / 1000000000u),
			       (long)(wall % 1000000000u) };
	int rc = pthread_mutex_timedlock(m, &ts);

	if (rc == EOWNERDEAD) {
		pthread_mutex_consistent(m);
		return 0;
	}
	if (rc == ETIMEDOUT)
		return SHMRT_E_BUSY;
	return rc == 0 ? 0 : SHMRT_E_SYS;
}

static void find_dead(struct scan_ctx *c)
{
	uint32_t i;

	for (i = 0; i < c->seg->nparticipants; i++) {
		uint64_t owner = LDA(&c->seg->parts[i].owner);

		if (owner != 0 && !shmrt__part_owner_alive(owner)) {
			c->dead[i] = true;
			c->rep->dead_participants++;
		}
	}
}

/* Whether a live participant's push (or pop) intent names (qi, pos). */
static bool live_claim(const struct scan_ctx *c, uint32_t qi, uint64_t pos,
		       bool push)
{
	uint32_t i;

	for (i = 0; i < c->seg->nparticipants; i++) {
		const struct shmrt__participant *r = &c->seg->parts[i];

		if (c->dead[i] || LDA(&r->owner) == 0)
			continue;
		if (push && LD(&r->push_pos) == pos && LD(&r->push_queue) == qi)
			return true;
		if (!push && LD(&r->pop_pos) == pos && LD(&r->pop_queue) == qi)
			return true;
	}
	return false;
}

/* Push a job's ref again if its slot is still QUEUED with that generation. */
static void republish(struct scan_ctx *c, uint32_t qi, uint64_t ref)
{
	const struct shmrt__qhandle *q = &c->seg->q[qi];
	uint32_t slot = (uint32_t)ref;
	uint64_t w;

	if (ref == 0 || ref == SHMRT__REF_TOMBSTONE || slot >= q->capacity)
		return;
	w = LDA(&shmrt__slot_at(q, slot)->word);
	if (shmrt__w_state(w) != SHMRT__S_QUEUED ||
	    shmrt__w_gen(w) != (uint32_t)(ref >> 32))
		return;
	if (shmrt__job_requeue(c->reaper, qi, slot, w) == 1)
		c->rep->jobs_republished++;
}

static void repair_push(struct scan_ctx *c, struct shmrt__participant *r)
{
	uint32_t qi = LD(&r->push_queue);
	uint64_t pos = LD(&r->push_pos);
	struct shmrt__ring ring;

	if (qi >= c->seg->nqueues)
		return;
	ring = shmrt__queue_ring(&c->seg->q[qi]);
	if (pos != SHMRT__POS_NONE &&
	    shmrt__ring_cell_state(&ring, pos) == SHMRT__CELL_UNPUBLISHED &&
	    !live_claim(c, qi, pos, true) &&
	    shmrt__ring_tombstone(&ring, pos) == 0)
		c->rep->cells_tombstoned++;
	republish(c, qi, LD(&r->push_value));
}

static void repair_pop(struct scan_ctx *c, struct shmrt__participant *r)
{
	uint32_t qi = LD(&r->pop_queue);
	uint64_t pos = LD(&r->pop_pos);
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
	republish(c, qi, LD(&r->pop_value));
}

/* A running job whose worker is gone or late: retry it or fail it. */
static void reclaim(struct scan_ctx *c, uint32_t qi, uint32_t slot,
		    uint64_t w, const char *why)
{
	const struct shmrt__qhandle *q = &c->seg->q[qi];

	if (shmrt__w_attempt(w) >= LD(&q->ctl->max_attempts)) {
		if (shmrt__job_fail_slot(c->reaper, qi, slot, w, why,
					 strlen(why)) == 1)
			c->rep->jobs_failed++;
	} else if (shmrt__job_requeue(c->reaper, qi, slot, w) == 1) {
		c->rep->jobs_requeued++;
		__atomic_fetch_add(&q->ctl->n_reclaimed, 1, __ATOMIC_RELAXED);
	}
}

static bool owner_dead(const struct scan_ctx *c, uint32_t owner)
{
	/* An index out of range, or a freed record, holds nothing real. */
	return owner >= c->seg->nparticipants || c->dead[owner] ||
	       LDA(&c->seg->parts[owner].owner) == 0;
}

static void sweep_slot(struct scan_ctx *c, uint32_t qi, uint32_t slot)
{
	const struct shmrt__qhandle *q = &c->seg->q[qi];
	struct shmrt__slot *s = shmrt__slot_at(q, slot);
	uint64_t w = LDA(&s->word);
	uint32_t st = shmrt__w_state(w);
	uint64_t t;

	switch (st) {
	case SHMRT__S_RESERVED:
		if (owner_dead(c, shmrt__w_owner(w)) &&
		    shmrt__job_free_slot(c->seg, qi, slot, w) == 1)
			c->rep->slots_freed++;
		break;
	case SHMRT__S_RUNNING:
	case SHMRT__S_COMPLETING:
		if (owner_dead(c, shmrt__w_owner(w))) {
			reclaim(c, qi, slot, w, "worker died");
		} else if (st == SHMRT__S_RUNNING &&
			   LDA(&s->lease_token) == w &&
			   (t = LD(&s->lease_deadline_ns)) != 0 && c->now > t) {
			c->rep->leases_expired++;
			reclaim(c, qi, slot, w, "job timed out");
		}
		break;
	case SHMRT__S_SUCCEEDED:
	case SHMRT__S_FAILED:
	case SHMRT__S_CANCELLED:
		t = LD(&s->finish_ns);
		if (c->now > t + LD(&c->seg->hdr->tun.retention_ns) &&
		    shmrt__job_free_slot(c->seg, qi, slot, w) == 1)
			c->rep->jobs_expired++;
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

		if (!c->dead[i])
			continue;
		ST(&r->push_value, 0);
		ST(&r->pop_value, 0);
		ST(&r->push_pos, SHMRT__POS_NONE);
		ST(&r->pop_pos, SHMRT__POS_NONE);
		ST(&r->held_job, 0);
		__atomic_store_n(&r->owner, 0, __ATOMIC_RELEASE);
	}
}

static void scan_locked(struct scan_ctx *c)
{
	uint32_t i, qi, slot;

	find_dead(c);
	for (i = 0; i < c->seg->nparticipants; i++) {
		if (!c->dead[i])
			continue;
		repair_push(c, &c->seg->parts[i]);
		repair_pop(c, &c->seg->parts[i]);
	}
	for (qi = 0; qi < c->seg->nqueues; qi++)
		for (slot = 0; slot < c->seg->q[qi].capacity; slot++)
			sweep_slot(c, qi, slot);
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
	rc = repair_lock(&c.seg->hdr->repair_lock, deadline_ns);
	if (rc == 0) {
		c.now = shmrt__os_now_ns();
		scan_locked(&c);
		pthread_mutex_unlock(&c.seg->hdr->repair_lock);
	} else {
		rc = shmrt__fail(rc, "scan %s: repair lock: %s",
				 c.seg->shm_name, shmrt_strerror(rc));
	}
	free(c.dead);
	return rc;
}
