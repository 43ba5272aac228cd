/*
 * src/shm/job.c - job slots: allocate, publish, lease, finish, free.
 *
 * The invariant that makes crashes survivable: a job that is QUEUED is
 * either in its queue's ring or named by some participant's push_value /
 * pop_value intent (or sits in a cell a dead popper took, which scan
 * releases). scan re-publishes what a dead participant's intents name, so
 * a QUEUED job always gets back into the ring.
 */
#include "job.h"

#include <shmrt/error.h>
#include <string.h>

#include "atomics.h"
#include "error_detail.h"
#include "evict.h"
#include "idem.h"
#include "lane.h"
#include "os.h"
#include "pause.h"
#include "qstate.h"
#include "sem.h"

static const char *const state_names[] = {
	[SHMRT_JOB_QUEUED] = "queued",	     [SHMRT_JOB_RUNNING] = "running",
	[SHMRT_JOB_SUCCEEDED] = "succeeded", [SHMRT_JOB_FAILED] = "failed",
	[SHMRT_JOB_CANCELLED] = "cancelled",
};

const char *shmrt_job_state_name(int state)
{
	if (state < 0 || state >= (int)(sizeof(state_names) / sizeof(*state_names)) ||
	    state_names[state] == NULL)
		return "unknown";
	return state_names[state];
}

/*
 * Shared bytes are copied with relaxed atomic word accesses: a seqlock
 * reader may overlap a writer, and the re-check of the slot word discards
 * what it read then. Buffers in a slot are 8-byte aligned.
 */
static void shared_write(unsigned char *dst, const void *src, size_t n)
{
	const unsigned char *s = src;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, s + i, 8);
		ST_RLX((uint64_t *)(void *)(dst + i), w);
	}
	for (; i < n; i++)
		ST_RLX(dst + i, s[i]);
}

/*
 * Acquire loads (plain loads on x86): the seqlock re-check of the slot word
 * that follows a read must not move before any of them.
 */
static void shared_read(void *dst, const unsigned char *src, size_t n)
{
	unsigned char *d = dst;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w = LD_ACQ((const uint64_t *)(const void *)(src + i));

		memcpy(d + i, &w, 8);
	}
	for (; i < n; i++)
		d[i] = LD_ACQ(src + i);
}

static bool is_final(uint32_t state)
{
	return shmrt__state_final(state);
}

/* Next generation of a slot: never 0, so no id or ref is ever 0. */
static uint32_t next_gen(uint32_t gen)
{
	return gen + 1 == 0 ? 1 : gen + 1;
}

/*
 * Find a FREE slot and CAS it to RESERVED(owner). Starts where the last
 * search left off, so with jobs finishing roughly in order the first probe
 * usually succeeds. No intent is needed: a slot RESERVED by a dead owner is
 * freed by scan.
 */
static int slot_alloc(const struct shmrt__qhandle *q, uint32_t owner,
		      uint32_t *slot_out, uint32_t *gen_out)
{
	uint64_t start = ADD_RLX(&q->ctl->alloc_hint, 1);
	uint32_t k;

	for (k = 0; k < q->capacity; k++) {
		uint32_t i = (uint32_t)((start + k) % q->capacity);
		struct shmrt__slot *s = shmrt__slot_at(q, i);
		uint64_t w = LD_RLX(&s->word);
		uint32_t gen;

		if (shmrt__w_state(w) != SHMRT__S_FREE)
			continue;
		gen = next_gen(shmrt__w_gen(w));
		if (!CAS_AR(&s->word, &w,
			 shmrt__w_make(gen, 0, owner, SHMRT__S_RESERVED)))
			continue;
		if (k > 0)
			ST_RLX(&q->ctl->alloc_hint, start + k);
		*slot_out = i;
		*gen_out = gen;
		return 0;
	}
	return SHMRT_E_FULL;
}

/*
 * slot_alloc; when the pool is full, first evict the oldest finished jobs
 * (evict.h), then sleep on space_ec until deadline_ns. Every freed slot
 * bumps space_ec, so a slot freed between the failed search and the wait
 * ends the wait at once.
 */
static int slot_alloc_wait(struct shmrt__seg *seg,
			   const struct shmrt__qhandle *q, uint32_t owner,
			   uint64_t deadline_ns, uint32_t *slot, uint32_t *gen)
{
	for (;;) {
		uint32_t v = shmrt__ec_value(&q->ctl->space_ec);
		int rc = slot_alloc(q, owner, slot, gen);

		if (rc != SHMRT_E_FULL)
			return rc;
		if (shmrt__evict_oldest(seg, q) > 0)
			continue;
		if (deadline_ns == 0 || shmrt__os_now_ns() >= deadline_ns)
			return SHMRT_E_FULL;
		shmrt__ec_wait(&q->ctl->space_ec, v, deadline_ns);
	}
}

/*
 * Publish a QUEUED job's ref through the ring, covered by the caller's
 * push_value intent, and wake a sleeping worker.
 */
static int publish(struct shmrt__part *p, const struct shmrt__qhandle *q,
		   uint64_t ref)
{
	struct shmrt__ring r = shmrt__queue_ring(q);
	struct shmrt__ring_intent in = shmrt__part_intent(p->rec);
	int rc = shmrt__ring_push(&r, &in, ref);

	if (rc == 0)
		shmrt__waitq_post(&q->ctl->jobs_wq);
	return rc;
}

/* How long a re-publish waits for a ring tail cell a popper still holds. */
#define REPUBLISH_TRIES 100
#define REPUBLISH_PAUSE_NS 20000

bool shmrt__job_republish(struct shmrt__part *p,
			  const struct shmrt__qhandle *q, uint64_t ref,
			  bool wake)
{
	struct shmrt__ring r = shmrt__queue_ring(q);
	struct shmrt__ring_intent in = shmrt__part_intent(p->rec);
	int tries, rc = SHMRT_E_FULL;

	/* A claimant with a stale heartbeat is taken for hung (scan.h);
	 * callers may have waited for a lock before this push. */
	shmrt__part_heartbeat(p);
	for (tries = 0; tries < REPUBLISH_TRIES && rc == SHMRT_E_FULL;
	     tries++) {
		if ((rc = shmrt__ring_push(&r, &in, ref)) == SHMRT_E_FULL)
			shmrt__os_sleep_ns(REPUBLISH_PAUSE_NS);
	}
	if (rc == 0 && wake)
		shmrt__waitq_post(&q->ctl->jobs_wq);
	ST_RLX(&p->rec->push_value, 0);
	return rc == 0;
}

static const struct shmrt__qhandle *queue_of(const struct shmrt__seg *seg,
					     uint32_t qi)
{
	return qi < seg->nqueues ? &seg->q[qi] : NULL;
}

/*
 * Fill a RESERVED slot; only its owner writes these fields now. Returns
 * the enqueue time, which is also the producer's heartbeat: a producer
 * about to claim a ring cell has a fresh one, so scan does not take it
 * for hung while it is merely working.
 */
static uint64_t slot_fill(const struct shmrt__qhandle *q,
			  struct shmrt__slot *s, const void *payload,
			  size_t len, const char *lane, size_t lane_len)
{
	uint64_t now = shmrt__os_now_ns();
	size_t i;

	for (i = 0; i < lane_len; i++)
		ST_RLX(&s->lane_key[i], lane[i]);
	ST_RLX(&s->lane_key_len, (uint32_t)lane_len);
	ST_RLX(&s->lane, SHMRT__NONE);
	ST_RLX(&s->lane_next, SHMRT__NONE);
	ST_RLX(&s->free_requested, 0u);
	ST_RLX(&s->not_before_ns, 0);
	shared_write(shmrt__slot_payload(q, s), payload, len);
	ST_RLX(&s->payload_len, (uint32_t)len);
	ST_RLX(&s->result_len, 0);
	ST_RLX(&s->enqueue_ns, now);
	ST_RLX(&s->start_ns, 0);
	ST_RLX(&s->finish_ns, 0);
	return now;
}

static int check_key(const char *what, size_t len)
{
	if (len == 0 || len > SHMRT__KEY_MAX)
		return shmrt__fail(SHMRT_E_KEYLEN,
				   "submit: %s key of %zu bytes (1..%u)", what,
				   len, SHMRT__KEY_MAX);
	return 0;
}

/* Everything a submit can be refused for before it touches the queue. */
static int submit_check(struct shmrt__part *p, const struct shmrt__qhandle *q,
			uint32_t qi, const struct shmrt__submit *sub)
{
	int rc;

	if (q == NULL)
		return shmrt__fail(SHMRT_E_NOQUEUE, "enqueue: no queue %u", qi);
	if (sub->len > q->slot_size)
		return shmrt__fail(SHMRT_E_TOOBIG,
				   "enqueue: payload of %zu bytes, queue %u "
				   "slot_size is %u",
				   sub->len, qi, q->slot_size);
	if ((sub->lane != NULL) != (q->lanes.nentries != 0))
		return shmrt__fail(SHMRT_E_NOLANE,
				   q->lanes.nentries
					   ? "submit: queue %u is laned: a lane "
					     "key is required"
					   : "submit: queue %u is not laned",
				   qi);
	if (sub->lane != NULL &&
	    (rc = check_key("lane", sub->lane_len)) != 0)
		return rc;
	if (sub->key != NULL && q->idem.nentries == 0)
		return shmrt__fail(SHMRT_E_INVAL,
				   "submit: queue %u keeps no idempotency keys",
				   qi);
	if (sub->key != NULL &&
	    (rc = check_key("idempotency", sub->key_len)) != 0)
		return rc;
	if (shmrt__seg_state(p->seg) != SHMRT__SEG_READY)
		return shmrt__fail(SHMRT_E_DRAINING,
				   "enqueue: %s is draining or stopped",
				   p->seg->shm_name);
	return 0;
}

static void slot_unreserve(const struct shmrt__qhandle *q,
			   struct shmrt__slot *s, uint32_t gen)
{
	ST_REL(&s->word, shmrt__w_make(gen, 0, SHMRT__OWNER_NONE, SHMRT__S_FREE));
	shmrt__ec_inc(&q->ctl->space_ec);
}

/*
 * Take back a job this submit made QUEUED but could not publish: a CAS
 * from its first QUEUED word, because while it was QUEUED and named by
 * our intent, scan may have published it for us (we were stopped past
 * the heartbeat timeout) and a worker leased it. Returns false when that
 * happened: the job is accepted and running, and must be reported so.
 */
static bool slot_take_back(const struct shmrt__qhandle *q,
			   struct shmrt__slot *s, uint32_t gen)
{
	uint64_t queued = shmrt__w_make(gen, 0, SHMRT__OWNER_NONE,
					SHMRT__S_QUEUED);

	if (!CAS_AR(&s->word, &queued,
		 shmrt__w_make(gen, 0, SHMRT__OWNER_NONE, SHMRT__S_FREE)))
		return false;
	shmrt__ec_inc(&q->ctl->space_ec);
	return true;
}

/*
 * The keyed part of a submit, under the queue's state lock: answer with
 * the key's live job, or record the key and accept the job: linked into
 * its lane (which publishes its head), or made QUEUED under the caller's
 * push intent, for the caller to publish. Returns 0 (accepted),
 * SHMRT__SUBMIT_EXISTING, or an error with nothing changed.
 */
static int submit_locked(struct shmrt__part *p, const struct shmrt__qhandle *q,
			 const struct shmrt__submit *sub, uint32_t slot,
			 uint32_t gen, shmrt_job_id *out)
{
	shmrt_job_id id = shmrt__id_make(q->index, slot, gen);
	uint64_t now = shmrt__os_now_ns();
	int rc;

	if (sub->key != NULL) {
		if (shmrt__idem_lookup(q, sub->key, sub->key_len, now, out))
			return SHMRT__SUBMIT_EXISTING;
		if ((rc = shmrt__idem_insert(q, sub->key, sub->key_len, id,
					     now)) != 0)
			return rc;
	}
	if (sub->lane != NULL) {
		rc = shmrt__lane_append(p, q, slot, gen);
		if (rc != 0 && sub->key != NULL)
			shmrt__idem_remove(q, sub->key, sub->key_len);
		return rc;
	}
	/* Keyed, not laned: QUEUED before the lock goes, so a racing
	 * submit of the key finds a live job, never a reservation. */
	ST_RLX(&p->rec->push_queue, q->index);
	ST_RLX(&p->rec->push_value, shmrt__ref_make(slot, gen));
	ST_REL(&shmrt__slot_at(q, slot)->word,
	    shmrt__w_make(gen, 0, SHMRT__OWNER_NONE, SHMRT__S_QUEUED));
	return 0;
}

int shmrt__job_submit(struct shmrt__part *p, uint32_t qi,
		      const struct shmrt__submit *sub, shmrt_job_id *out)
{
	const struct shmrt__qhandle *q = queue_of(p->seg, qi);
	struct shmrt__slot *s;
	uint32_t slot, gen;
	uint64_t ref;
	int rc;

	if ((rc = submit_check(p, q, qi, sub)) != 0)
		return rc;
	/* A key that names a live job needs no slot: answer before looking
	 * for one, so a full queue still answers repeated submits. */
	if (sub->key != NULL && (rc = shmrt__qstate_lock(p, q)) == 0) {
		rc = shmrt__idem_lookup(q, sub->key, sub->key_len,
					shmrt__os_now_ns(), out);
		shmrt__qstate_unlock(q);
		if (rc == 1) {
			ADD_RLX(&q->ctl->n_idem_hits, 1);
			return SHMRT__SUBMIT_EXISTING;
		}
	}
retry:
	rc = slot_alloc_wait(p->seg, q, p->index, sub->deadline_ns, &slot,
			     &gen);
	if (rc != 0)
		return shmrt__fail(rc,
				   "enqueue: queue %u is full: its %u slots hold "
				   "%s jobs",
				   qi, q->capacity,
				   LD_RLX(&q->ctl->retention_strict)
					   ? "queued, running or retained "
					     "(retention = strict)"
					   : "queued or running");
	s = shmrt__slot_at(q, slot);
	shmrt__part_heartbeat_at(p, slot_fill(q, s, sub->payload, sub->len,
					      sub->lane,
					      sub->lane != NULL ? sub->lane_len
								: 0));
	SHMRT__PAUSE("job.submit.filled");
	ref = shmrt__ref_make(slot, gen);
	if (sub->lane != NULL || sub->key != NULL) {
		if ((rc = shmrt__qstate_lock(p, q)) == 0) {
			rc = submit_locked(p, q, sub, slot, gen, out);
			shmrt__qstate_unlock(q);
		}
		if (rc != 0) {
			slot_unreserve(q, s, gen);
			if (rc == SHMRT__SUBMIT_EXISTING)
				ADD_RLX(&q->ctl->n_idem_hits, 1);
			return rc;
		}
		/* A lane publishes its own head. A keyed job was accepted
		 * under the lock: racing submits of its key may hold its id
		 * already, so it is never taken back. */
		if (sub->lane == NULL)
			shmrt__job_republish(p, q, ref, true);
		goto accepted;
	}
	/* From here until published, the intent names the job (see top). */
	ST_RLX(&p->rec->push_queue, qi);
	ST_RLX(&p->rec->push_value, ref);
	ST_REL(&s->word, shmrt__w_make(gen, 0, SHMRT__OWNER_NONE, SHMRT__S_QUEUED));
	if ((rc = publish(p, q, ref)) != 0) {
		SHMRT__PAUSE("job.submit.publish_failed");
		/* Not in the ring: take it back, unless it was leased. */
		if (!slot_take_back(q, s, gen)) {
			ST_RLX(&p->rec->push_value, 0);
			goto accepted;
		}
		ST_RLX(&p->rec->push_value, 0);
		/* The tail cell is still held by a (descheduled) popper from
		 * the last lap: with a deadline, wait for it like for a free
		 * slot. */
		if (rc == SHMRT_E_FULL && sub->deadline_ns != 0 &&
		    shmrt__os_now_ns() < sub->deadline_ns) {
			shmrt__os_sleep_ns(20000);
			goto retry;
		}
		return shmrt__fail(rc, "enqueue: ring of queue %u: %s", qi,
				   shmrt_strerror(rc));
	}
	ST_RLX(&p->rec->push_value, 0);
accepted:
	ADD_RLX(&q->ctl->n_enqueued, 1);
	*out = shmrt__id_make(qi, slot, gen);
	return 0;
}

int shmrt__job_enqueue(struct shmrt__part *p, uint32_t qi,
		       const void *payload, size_t len, uint64_t deadline_ns,
		       shmrt_job_id *out)
{
	struct shmrt__submit sub = {.payload = payload,
				    .len = len,
				    .deadline_ns = deadline_ns};

	return shmrt__job_submit(p, qi, &sub, out);
}

/*
 * Record the lease about to be taken in the participant's own record: the
 * job's id and deadline first, the token (RUNNING word) last, so scan
 * trusts them only next to the token they belong to (lease_expired and
 * holds_lease in scan.c). The token alone names no slot: two jobs of one
 * generation and attempt leased by one worker have the same RUNNING word,
 * and the id tells them apart. The stores come before the CAS that wins
 * the job, so they are never late: a lessee that loses the job writes
 * nothing into anyone else's lease. `now` is the lease pass's time
 * (lease_try); it is returned as the lease's start time.
 */
static uint64_t lease_stamp(struct shmrt__part *p,
			    const struct shmrt__qhandle *q, uint64_t running,
			    shmrt_job_id id, uint64_t now)
{
	uint64_t timeout = LD_RLX(&q->ctl->job_timeout_ns);

	ST_RLX(&p->rec->lease_token, 0);
	ST_REL(&p->rec->held_job, id.v);
	ST_REL(&p->rec->lease_deadline_ns, timeout ? now + timeout : 0);
	ST_REL(&p->rec->lease_token, running);
	return now;
}

/* The participant holds no lease (any more). */
static void lease_forget(struct shmrt__part *p)
{
	ST_RLX(&p->rec->lease_token, 0);
	ST_RLX(&p->rec->held_job, 0);
}

/*
 * Turn a popped ref into a lease: CAS the slot QUEUED(gen) -> RUNNING(me).
 * Returns 0 on success, SHMRT_E_AGAIN when the ref was stale (the job was
 * already leased through a duplicate ref, or the slot moved on).
 */
static int lease_ref(struct shmrt__part *p, const struct shmrt__qhandle *q,
		     uint64_t ref, uint64_t now, struct shmrt__lease *out)
{
	uint32_t slot = shmrt__ref_slot(ref), gen = shmrt__ref_gen(ref);
	struct shmrt__slot *s;
	uint64_t w, running;
	uint32_t attempt;

	if (slot >= q->capacity)
		return SHMRT_E_AGAIN; /* corrupt ref: drop it */
	s = shmrt__slot_at(q, slot);
	w = LD_RLX(&s->word);
	if (shmrt__w_state(w) != SHMRT__S_QUEUED || shmrt__w_gen(w) != gen)
		return SHMRT_E_AGAIN;
	attempt = shmrt__w_attempt(w) + 1;
	if (attempt > SHMRT__MAX_ATTEMPT)
		attempt = SHMRT__MAX_ATTEMPT;
	running = shmrt__w_make(gen, attempt, p->index, SHMRT__S_RUNNING);
	out->start_seen = LD_RLX(&s->start_ns);
	out->leased_ns = lease_stamp(p, q, running,
				     shmrt__id_make(q->index, slot, gen), now);
	if (!CAS_AR(&s->word, &w, running)) {
		/* Holding no lease shows: scan takes a hung waiter's permit
		 * only while its lease_token is 0 (scan.c permit_gone). */
		ST_RLX(&p->rec->lease_token, 0);
		return SHMRT_E_AGAIN;
	}
	SHMRT__PAUSE("job.lease.won");
	out->queued_word = w;
	out->queue = q->index;
	out->slot = slot;
	out->token = running;
	out->attempt = attempt;
	out->id = shmrt__id_make(q->index, slot, gen);
	return 0;
}

/*
 * After winning the lease: stamp its start and copy the payload out.
 * Returns false if the lease was lost meanwhile (stopped past the
 * heartbeat timeout, this worker's job was taken back): what was copied
 * may belong to another job, and the caller must not run it.
 */
static bool lease_start(struct shmrt__part *p, const struct shmrt__qhandle *q,
			void *buf, struct shmrt__lease *l)
{
	struct shmrt__slot *s = shmrt__slot_at(q, l->slot);
	uint64_t seen = l->start_seen;
	uint32_t len = LD_RLX(&s->payload_len);

	if (len > q->slot_size)
		len = q->slot_size; /* never trust a length from the segment */
	/* A CAS from the value seen before the lease: a lessee that lost
	 * the job meanwhile (the next one stamped it) writes nothing. */
	CAS_AR(&s->start_ns, &seen, l->leased_ns);
	l->payload_len = len;
	l->enqueue_ns = LD_RLX(&s->enqueue_ns);
	l->lane_key_len = LD_RLX(&s->lane_key_len);
	if (l->lane_key_len > SHMRT__KEY_MAX)
		l->lane_key_len = SHMRT__KEY_MAX;
	shared_read(l->lane_key, (const unsigned char *)s->lane_key,
		    l->lane_key_len);
	shared_read(buf, shmrt__slot_payload(q, s), len);
	if (LD_ACQ(&s->word) != l->token) {
		lease_forget(p);
		return false;
	}
	ADD_RLX(&q->ctl->n_started, 1);
	return true;
}

/* Refs a lease passes over (jobs in their retry backoff) per try. */
#define MAX_DEFER 32

/* Whether a popped ref names a queued job still in its retry backoff
 * (*not_before then holds when it ends). */
static bool in_backoff(const struct shmrt__qhandle *q, uint64_t ref,
		       uint64_t *not_before)
{
	uint32_t slot = shmrt__ref_slot(ref);
	struct shmrt__slot *s;
	uint64_t w;

	if (slot >= q->capacity)
		return false;
	s = shmrt__slot_at(q, slot);
	w = LD_ACQ(&s->word);
	*not_before = LD_RLX(&s->not_before_ns);
	return shmrt__w_state(w) == SHMRT__S_QUEUED &&
	       shmrt__w_gen(w) == shmrt__ref_gen(ref) && *not_before != 0 &&
	       *not_before > shmrt__os_now_ns();
}

/* Put a popped ref at the back of the ring again. */
/*
 * Put a popped ref at the back of the ring again. No wake: it is no new
 * work, and waking sleepers would only have them pass it around until its
 * backoff ends (the deferring lease sleeps until then itself).
 */
static void push_back(struct shmrt__part *p, const struct shmrt__qhandle *q,
		      uint64_t ref)
{
	ST_RLX(&p->rec->push_queue, q->index);
	ST_RLX(&p->rec->push_value, ref);
	ST_RLX(&p->rec->pop_value, 0);
	shmrt__job_republish(p, q, ref, false);
}

/*
 * One pass: SHMRT_E_AGAIN when nothing is leasable now. Jobs in their
 * backoff go to the back of the ring; *wake_ns gets the earliest end of a
 * backoff seen, and the pass ends when it meets the first deferred job
 * again (the ring holds nothing else) or after MAX_DEFER of them.
 */
static int lease_try(struct shmrt__part *p, const struct shmrt__qhandle *q,
		     void *buf, uint64_t now, struct shmrt__lease *out,
		     uint64_t *wake_ns)
{
	struct shmrt__ring r = shmrt__queue_ring(q);
	struct shmrt__ring_intent in = shmrt__part_intent(p->rec);
	uint32_t deferred = 0;
	uint64_t ref, first_deferred = 0, nb;
	bool repushed = false;

	/* Fresh before a cell is claimed: scan takes a claimant whose
	 * heartbeat is older than the timeout for hung (scan.h). `now` is
	 * the caller's clock read of this pass, also the lease's start. */
	shmrt__part_heartbeat_at(p, now);
	ST_RLX(&p->rec->pop_queue, q->index);
	for (;;) {
		int rc = shmrt__ring_pop(&r, &in, &ref);

		/* Lane heads flagged as missing from the ring are re-pushed
		 * once per pass: on a ring that refuses them (full, or
		 * corrupt) the pass must still end, and the caller's loop
		 * keeps its deadline. The lock is tried as briefly as scan
		 * tries it: a stopped holder must not hold up every lease
		 * (scan re-pushes the heads once it is free). */
		if (rc == SHMRT_E_AGAIN && q->lanes.nentries && !repushed &&
		    LD_RLX(&q->ctl->lane_repush) &&
		    shmrt__qstate_lock_until(p, q,
					     shmrt__qstate_brief_deadline()) ==
			    0) {
			uint32_t n = shmrt__lane_repush_locked(p, q);

			shmrt__qstate_unlock(q);
			repushed = true;
			if (n > 0)
				continue;
		}
		if (rc != 0)
			return rc;
		if (in_backoff(q, ref, &nb)) {
			bool seen = ref == first_deferred;

			push_back(p, q, ref);
			if (nb < *wake_ns)
				*wake_ns = nb;
			if (first_deferred == 0)
				first_deferred = ref;
			if (seen || ++deferred >= MAX_DEFER)
				return SHMRT_E_AGAIN;
			continue;
		}
		rc = lease_ref(p, q, ref, now, out);
		ST_RLX(&p->rec->pop_value, 0);
		if (rc == 0 && lease_start(p, q, buf, out))
			return 0;
	}
}

static uint64_t min3(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t m = a < b ? a : b;

	return m < c ? m : c;
}

/* Lease without the semaphore: spin, then sleep on jobs_wq (waitq.h). */
static int lease_wait(struct shmrt__part *p, const struct shmrt__qhandle *q,
		      void *buf, uint64_t deadline_ns, struct shmrt__lease *out)
{
	uint64_t now = shmrt__os_now_ns(), spin_until, wake = UINT64_MAX;
	uint64_t hb_half = LD_RLX(&p->seg->hdr->tun.heartbeat_timeout_ns) / 2;
	int rc;

	rc = lease_try(p, q, buf, now, out, &wake);
	if (rc != SHMRT_E_AGAIN || deadline_ns == 0)
		return rc;
	spin_until = now + LD_RLX(&p->seg->hdr->tun.spin_ns);
	if (spin_until > deadline_ns)
		spin_until = deadline_ns;
	for (;;) {
		uint32_t v;

		now = shmrt__os_now_ns();
		if (now < spin_until && wake == UINT64_MAX) {
			shmrt__os_cpu_relax();
		} else {
			if (now >= deadline_ns)
				return SHMRT_E_TIMEDOUT;
			/* Snapshot, re-check, then sleep: no lost wake. The
			 * pass heartbeats, and a sleeper wakes at least twice
			 * per heartbeat timeout, so scan never takes it for
			 * hung (nor the permit it holds, see sem.h). */
			v = shmrt__waitq_value(&q->ctl->jobs_wq);
			wake = UINT64_MAX;
			if ((rc = lease_try(p, q, buf, now, out, &wake)) !=
			    SHMRT_E_AGAIN)
				return rc;
			shmrt__waitq_wait(&q->ctl->jobs_wq, v,
					  min3(wake, deadline_ns,
					       hb_half ? now + hb_half
						       : UINT64_MAX),
					  &p->rec->sleeping, q->index + 1);
			now = shmrt__os_now_ns();
		}
		wake = UINT64_MAX;
		if ((rc = lease_try(p, q, buf, now, out, &wake)) !=
		    SHMRT_E_AGAIN)
			return rc;
		/* Nothing to lease, none in backoff, and the tenant is
		 * draining or stopped (set_state woke every sleeper): the
		 * caller decides whether to leave, now rather than at its
		 * deadline. */
		if (wake == UINT64_MAX &&
		    shmrt__seg_state(p->seg) != SHMRT__SEG_READY)
			return SHMRT_E_AGAIN;
	}
}

/*
 * Give back a job leased without a valid permit: back to its QUEUED word
 * (the attempt it did not run is not counted) and into the ring, unless
 * scan took it back first.
 */
static void lease_undo(struct shmrt__part *p, const struct shmrt__qhandle *q,
		       const struct shmrt__lease *l)
{
	uint64_t w = l->token;
	uint64_t ref = shmrt__ref_make(l->slot, shmrt__w_gen(l->token));

	ST_RLX(&p->rec->push_queue, q->index);
	ST_RLX(&p->rec->push_value, ref);
	lease_forget(p);
	if (CAS_AR(&shmrt__slot_at(q, l->slot)->word, &w, l->queued_word))
		shmrt__job_republish(p, q, ref, true);
	else
		ST_RLX(&p->rec->push_value, 0);
}

int shmrt__job_lease(struct shmrt__part *p, uint32_t qi, void *buf,
		     size_t bufsize, uint64_t deadline_ns,
		     struct shmrt__lease *out)
{
	const struct shmrt__qhandle *q = queue_of(p->seg, qi);
	uint64_t permit = 0;
	int rc;

	if (q == NULL)
		return shmrt__fail(SHMRT_E_NOQUEUE, "lease: no queue %u", qi);
	if (bufsize < q->slot_size)
		return shmrt__fail(SHMRT_E_INVAL,
				   "lease: buffer of %zu bytes < slot_size %u",
				   bufsize, q->slot_size);
	/* The permit first: a job is never held while its permit is
	 * awaited (its lease clock would run, its lane would stall). */
	for (;;) {
		if (q->sem != SHMRT__NONE &&
		    (rc = shmrt__sem_acquire(p, q->sem, deadline_ns,
					     &permit)) != 0)
			return rc;
		rc = lease_wait(p, q, buf, deadline_ns, out);
		if (rc != 0 && permit != 0)
			shmrt__sem_release(p->seg, q->sem, permit);
		if (rc != 0)
			return rc;
		/* The permit may have been taken back while this worker
		 * waited for the job (stopped past the heartbeat timeout):
		 * renewing it by CAS proves it is still ours, and makes
		 * scan's reclaim of the old value fail from here on. */
		if (permit == 0 ||
		    shmrt__sem_renew(p->seg, q->sem, p->index, &permit) == 0) {
			out->permit = permit;
			return 0;
		}
		lease_undo(p, q, out);
	}
}

/*
 * Win the right to write a finished job's result: RUNNING(token) ->
 * COMPLETING. Fails with SHMRT_E_STALE if the lease was reclaimed.
 */
static int commit_begin(struct shmrt__slot *s, uint64_t token)
{
	uint64_t w = token;
	uint64_t completing = (token & ~(uint64_t)0xf) | SHMRT__S_COMPLETING;

	return CAS_AR(&s->word, &w, completing) ? 0 : SHMRT_E_STALE;
}

/*
 * Write the result and publish the final state; moves the job's lane on,
 * then wakes the job's waiters.
 */
static void commit_end(struct shmrt__part *p, const struct shmrt__qhandle *q,
		       uint32_t slot, uint64_t token, uint32_t state,
		       const void *data, size_t len)
{
	struct shmrt__slot *s = shmrt__slot_at(q, slot);
	uint64_t final = shmrt__w_make(shmrt__w_gen(token),
				       shmrt__w_attempt(token),
				       SHMRT__OWNER_NONE, state);

	shared_write(shmrt__slot_result(q, s), data, len);
	ST_RLX(&s->result_len, (uint32_t)len);
	ST_RLX(&s->finish_ns, shmrt__os_now_ns());
	ST_REL(&s->word, final);
	ADD_RLX(state == SHMRT__S_SUCCEEDED	  ? &q->ctl->n_succeeded
	    : state == SHMRT__S_CANCELLED ? &q->ctl->n_cancelled
					  : &q->ctl->n_failed,
	    1);
	/* A lane that cannot be moved on now (lock busy) is settled by
	 * scan: the job is final either way. */
	if (q->lanes.nentries)
		shmrt__lane_finished(p, q, slot, shmrt__w_gen(token));
	shmrt__ec_inc(&s->done_ec);
	/* A finished job may be evicted: a producer waiting for space on a
	 * queue full of live jobs can take this slot now (evict.h). */
	if (LD_RLX(&q->ctl->retention_strict) == 0 &&
	    shmrt__ec_has_waiters(&q->ctl->space_ec))
		shmrt__ec_inc(&q->ctl->space_ec);
}

/* Give back a lease's permit; one taken back by scan is no error here. */
static void permit_release(struct shmrt__part *p,
			   const struct shmrt__qhandle *q,
			   const struct shmrt__lease *l)
{
	if (l->permit != 0 && q->sem != SHMRT__NONE)
		shmrt__sem_release(p->seg, q->sem, l->permit);
}

static const struct shmrt__qhandle *lease_queue(struct shmrt__part *p,
						const struct shmrt__lease *l)
{
	const struct shmrt__qhandle *q = queue_of(p->seg, l->queue);

	return q != NULL && l->slot < q->capacity ? q : NULL;
}

int shmrt__job_complete(struct shmrt__part *p, const struct shmrt__lease *l,
			const void *result, size_t len)
{
	const struct shmrt__qhandle *q = lease_queue(p, l);
	struct shmrt__slot *s;

	if (q == NULL)
		return SHMRT_E_INVAL;
	if (len > q->slot_size)
		return shmrt__fail(SHMRT_E_TOOBIG,
				   "complete: result of %zu bytes, slot_size %u",
				   len, q->slot_size);
	s = shmrt__slot_at(q, l->slot);
	if (commit_begin(s, l->token) != 0) {
		permit_release(p, q, l);
		lease_forget(p);
		return shmrt__fail(SHMRT_E_STALE,
				   "complete: lease of job %016llx was reclaimed",
				   (unsigned long long)l->id.v);
	}
	commit_end(p, q, l->slot, l->token, SHMRT__S_SUCCEEDED, result, len);
	permit_release(p, q, l);
	lease_forget(p);
	return 0;
}

int shmrt__job_fail(struct shmrt__part *p, const struct shmrt__lease *l,
		    const char *err, size_t len, int retry)
{
	const struct shmrt__qhandle *q = lease_queue(p, l);
	int rc;

	if (q == NULL)
		return SHMRT_E_INVAL;
	lease_forget(p);
	if (retry && l->attempt < LD_RLX(&q->ctl->max_attempts) &&
	    !shmrt__job_cancel_requested(p->seg, l)) {
		rc = shmrt__job_requeue(p, l->queue, l->slot, l->token);
		if (rc == 1)
			ADD_RLX(&q->ctl->n_retried, 1);
		permit_release(p, q, l);
		return rc == 0 ? SHMRT_E_STALE : rc;
	}
	rc = shmrt__job_fail_slot(p, l->queue, l->slot, l->token, err, len);
	permit_release(p, q, l);
	return rc == 1 ? 0 : rc == 0 ? SHMRT_E_STALE : rc;
}

int shmrt__job_requeue(struct shmrt__part *p, uint32_t qi, uint32_t slot,
		       uint64_t expected)
{
	const struct shmrt__qhandle *q = queue_of(p->seg, qi);
	struct shmrt__slot *s;
	uint32_t gen;
	uint64_t queued;

	if (q == NULL || slot >= q->capacity)
		return SHMRT_E_INVAL;
	s = shmrt__slot_at(q, slot);
	gen = shmrt__w_gen(expected);
	queued = shmrt__w_make(gen, shmrt__w_attempt(expected),
			       SHMRT__OWNER_NONE, SHMRT__S_QUEUED);
	/* A retry (of a running job) waits out the queue's backoff. The
	 * backoff is written while this call holds the job exclusively
	 * (COMPLETING), never before or after the CAS that decides: a
	 * requeuer that lost the job writes nothing into it. */
	if (shmrt__w_state(expected) == SHMRT__S_RUNNING &&
	    LD_RLX(&q->ctl->retry_backoff_ns) != 0) {
		uint64_t mine = shmrt__w_make(gen, shmrt__w_attempt(expected),
					      p->index, SHMRT__S_COMPLETING);

		SHMRT__PAUSE("job.requeue.before_cas");
		if (!CAS_AR(&s->word, &expected, mine))
			return 0;
		ST_RLX(&s->not_before_ns,
		   shmrt__os_now_ns() + LD_RLX(&q->ctl->retry_backoff_ns));
		expected = mine;
	}
	/* The intent first: from the CAS on, this job must reach the ring. */
	ST_RLX(&p->rec->push_queue, qi);
	ST_RLX(&p->rec->push_value, shmrt__ref_make(slot, gen));
	if (expected != queued && !CAS_AR(&s->word, &expected, queued)) {
		ST_RLX(&p->rec->push_value, 0);
		return 0;
	}
	shmrt__job_republish(p, q, shmrt__ref_make(slot, gen), true);
	return 1;
}

int shmrt__job_fail_slot(struct shmrt__part *p, uint32_t qi, uint32_t slot,
			 uint64_t expected, const char *err, size_t len)
{
	const struct shmrt__qhandle *q = queue_of(p->seg, qi);
	struct shmrt__slot *s;

	if (q == NULL || slot >= q->capacity)
		return SHMRT_E_INVAL;
	s = shmrt__slot_at(q, slot);
	/* A dead worker's COMPLETING slot is already exclusive to the reaper. */
	if (shmrt__w_state(expected) != SHMRT__S_COMPLETING &&
	    commit_begin(s, expected) != 0)
		return 0;
	if (len > q->slot_size)
		len = q->slot_size;
	commit_end(p, q, slot, expected, SHMRT__S_FAILED, err, len);
	return 1;
}

int shmrt__job_free_raw(const struct shmrt__qhandle *q, uint32_t slot,
			uint64_t expected)
{
	struct shmrt__slot *s = shmrt__slot_at(q, slot);
	uint64_t freed = shmrt__w_make(shmrt__w_gen(expected), 0,
				       SHMRT__OWNER_NONE, SHMRT__S_FREE);

	if (!CAS_AR(&s->word, &expected, freed))
		return 0;
	shmrt__ec_inc(&q->ctl->space_ec);
	return 1;
}

int shmrt__job_free_slot(struct shmrt__seg *seg, uint32_t qi, uint32_t slot,
			 uint64_t expected)
{
	return shmrt__job_free_slot_until(
		seg, qi, slot, expected,
		shmrt__os_now_ns() + SHMRT__QSTATE_LOCK_MS * 1000000ull);
}

int shmrt__job_free_slot_until(struct shmrt__seg *seg, uint32_t qi,
			       uint32_t slot, uint64_t expected,
			       uint64_t lock_deadline_ns)
{
	const struct shmrt__qhandle *q = queue_of(seg, qi);
	int rc;

	if (q == NULL || slot >= q->capacity)
		return SHMRT_E_INVAL;
	if (!is_final(shmrt__w_state(expected)))
		return shmrt__job_free_raw(q, slot, expected);
	if (LD_ACQ(&shmrt__slot_at(q, slot)->word) != expected)
		return 0;
	if (q->lanes.nentries != 0 &&
	    LD_RLX(&shmrt__slot_at(q, slot)->lane) != SHMRT__NONE) {
		rc = shmrt__lane_unlink_for_free(seg, q, slot,
						 shmrt__w_gen(expected),
						 lock_deadline_ns);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return SHMRT__FREE_DEFERRED;
	}
	return shmrt__job_free_raw(q, slot, expected);
}

/* Decode and bounds-check an id; NULL when it cannot name a slot. */
static struct shmrt__slot *slot_of_id(const struct shmrt__seg *seg,
				      shmrt_job_id id,
				      const struct shmrt__qhandle **qout)
{
	uint32_t qi = shmrt__id_queue(id);
	uint32_t slot = shmrt__id_slot(id);
	const struct shmrt__qhandle *q = queue_of(seg, qi);

	if (q == NULL || slot >= q->capacity || shmrt__id_gen(id) == 0)
		return NULL;
	*qout = q;
	return shmrt__slot_at(q, slot);
}

/*
 * Why the word w of id's slot no longer shows id's job: SHMRT_E_EXPIRED
 * when the job was there and its slot was freed since (released, past
 * retention, or evicted: its generation is the slot's, now FREE, or an
 * older one), SHMRT_E_NOJOB when the id names no job this slot has held.
 */
static int job_gone(shmrt_job_id id, uint64_t w)
{
	uint32_t gen = shmrt__w_gen(w), want = shmrt__id_gen(id);
	uint32_t st = shmrt__w_state(w);

	if ((gen == want && st == SHMRT__S_FREE) ||
	    (gen != want && (int32_t)(gen - want) > 0))
		return shmrt__fail(SHMRT_E_EXPIRED,
				   "job %016llx: its result is no longer kept "
				   "(released, past retention, or evicted "
				   "for new work)",
				   (unsigned long long)id.v);
	return SHMRT_E_NOJOB;
}

/*
 * Seqlock read of a slot: fields read between two equal loads of the word
 * belong to that word's job. The fields are read with acquire loads so the
 * second load of the word stays after them (no fence: TSan cannot model
 * one, and on x86 an acquire load is a plain load).
 */
static int snapshot(const struct shmrt__qhandle *q, struct shmrt__slot *s,
		    shmrt_job_id id, struct shmrt_job_info *info, void *buf,
		    size_t bufsize)
{
	for (;;) {
		uint64_t w1 = LD_ACQ(&s->word), w2;
		uint32_t st = shmrt__w_state(w1);
		size_t n;

		if (shmrt__w_gen(w1) != shmrt__id_gen(id) ||
		    st == SHMRT__S_FREE || st == SHMRT__S_RESERVED)
			return job_gone(id, w1);
		memset(info, 0, sizeof(*info));
		info->id = id;
		/* Transient states show as the state they come from. */
		info->state = st == SHMRT__S_COMPLETING	   ? SHMRT_JOB_RUNNING
			      : st == SHMRT__S_CANCELLING ? SHMRT_JOB_QUEUED
							  : (int)st;
		info->attempt = shmrt__w_attempt(w1);
		info->payload_len = LD_ACQ(&s->payload_len);
		info->result_len = is_final(st) ? LD_ACQ(&s->result_len) : 0;
		info->enqueue_ns = LD_ACQ(&s->enqueue_ns);
		info->start_ns = LD_ACQ(&s->start_ns);
		info->finish_ns = is_final(st) ? LD_ACQ(&s->finish_ns) : 0;
		if (info->payload_len > q->slot_size ||
		    info->result_len > q->slot_size)
			return shmrt__fail(SHMRT_E_CORRUPT,
					   "status: slot length out of bounds");
		n = info->result_len < bufsize ? info->result_len : bufsize;
		if (buf != NULL && n > 0)
			shared_read(buf, shmrt__slot_result(q, s), n);
		w2 = LD_RLX(&s->word); /* after the acquire loads above */
		if (w1 == w2)
			return 0;
	}
}

int shmrt__job_status(const struct shmrt__seg *seg, shmrt_job_id id,
		      struct shmrt_job_info *info, void *buf, size_t bufsize)
{
	const struct shmrt__qhandle *q;
	struct shmrt__slot *s = slot_of_id(seg, id, &q);

	if (s == NULL)
		return SHMRT_E_NOJOB;
	return snapshot(q, s, id, info, buf, bufsize);
}

int shmrt__job_wait(struct shmrt__seg *seg, shmrt_job_id id,
		    uint64_t deadline_ns, struct shmrt_job_info *info,
		    void *buf, size_t bufsize)
{
	const struct shmrt__qhandle *q;
	struct shmrt__slot *s = slot_of_id(seg, id, &q);

	if (s == NULL)
		return SHMRT_E_NOJOB;
	for (;;) {
		uint32_t v = shmrt__ec_value(&s->done_ec);
		int rc = snapshot(q, s, id, info, buf, bufsize);

		if (rc != 0 || is_final((uint32_t)info->state))
			return rc;
		if (shmrt__os_now_ns() >= deadline_ns)
			return SHMRT_E_TIMEDOUT;
		shmrt__ec_wait(&s->done_ec, v, deadline_ns);
	}
}

int shmrt__job_release(struct shmrt__seg *seg, shmrt_job_id id)
{
	const struct shmrt__qhandle *q;
	struct shmrt__slot *s = slot_of_id(seg, id, &q);
	uint64_t w;
	int rc;

	if (s == NULL)
		return SHMRT_E_NOJOB;
	w = LD_ACQ(&s->word);
	if (shmrt__w_gen(w) != shmrt__id_gen(id) ||
	    shmrt__w_state(w) == SHMRT__S_FREE ||
	    shmrt__w_state(w) == SHMRT__S_RESERVED)
		return job_gone(id, w);
	if (!is_final(shmrt__w_state(w)))
		return SHMRT_E_STATE;
	rc = shmrt__job_free_slot(seg, q->index,
				  shmrt__id_slot(id), w);
	if (rc == 0) /* freed (or reused) meanwhile */
		return job_gone(id, LD_ACQ(&s->word));
	return rc == 1 || rc == SHMRT__FREE_DEFERRED ? 0 : rc;
}

/*
 * Ask a running job (generation gen) to stop. The request names the
 * generation and only ever moves forward, so a canceller that read the
 * word long ago and writes only now cannot cancel the slot's next job,
 * nor hide a newer request.
 */
static void cancel_mark(struct shmrt__slot *s, uint32_t gen)
{
	uint32_t cur = LD_RLX(&s->cancel_gen);

	while ((int32_t)(gen - cur) > 0 && !CAS_AR(&s->cancel_gen, &cur, gen))
		;
}

static const char cancel_text[] = "cancelled";

/* End a job this caller holds exclusively (CANCELLING) as CANCELLED. */
static void cancel_end(struct shmrt__part *p, const struct shmrt__qhandle *q,
		       uint32_t slot, uint64_t mine)
{
	size_t len = sizeof(cancel_text) - 1;

	commit_end(p, q, slot, mine, SHMRT__S_CANCELLED, cancel_text,
		   len < q->slot_size ? len : q->slot_size);
}

int shmrt__job_cancel(struct shmrt__part *p, shmrt_job_id id)
{
	const struct shmrt__qhandle *q;
	struct shmrt__slot *s = slot_of_id(p->seg, id, &q);
	uint32_t slot = shmrt__id_slot(id);

	if (s == NULL)
		return SHMRT_E_NOJOB;
	for (;;) {
		uint64_t w = LD_ACQ(&s->word), mine;
		uint32_t st = shmrt__w_state(w);

		if (shmrt__w_gen(w) != shmrt__id_gen(id) || st == SHMRT__S_FREE ||
		    st == SHMRT__S_RESERVED)
			return job_gone(id, w);
		if (is_final(st))
			return shmrt__fail(SHMRT_E_STATE,
					   "cancel: job %016llx already %s",
					   (unsigned long long)id.v,
					   shmrt_job_state_name((int)st));
		if (st == SHMRT__S_CANCELLING)
			return 0; /* another canceller is ending it */
		if (st == SHMRT__S_RUNNING || st == SHMRT__S_COMPLETING) {
			SHMRT__PAUSE("job.cancel.running");
			cancel_mark(s, shmrt__w_gen(w));
			return SHMRT__CANCEL_REQUESTED;
		}
		/* QUEUED: win the slot like a lease would, then end it. Its
		 * ring ref, if any, is dropped at lease (stale word). Scan
		 * ends the job of a canceller that dies here as cancelled,
		 * never runs it (it may be a lane's waiting job). */
		mine = shmrt__w_make(shmrt__w_gen(w), shmrt__w_attempt(w),
				     p->index, SHMRT__S_CANCELLING);
		if (!CAS_AR(&s->word, &w, mine))
			continue;
		SHMRT__PAUSE("job.cancel.claimed");
		cancel_end(p, q, slot, mine);
		return 0;
	}
}

int shmrt__job_cancel_slot(struct shmrt__part *p, uint32_t qi, uint32_t slot,
			   uint64_t expected)
{
	const struct shmrt__qhandle *q = queue_of(p->seg, qi);

	if (q == NULL || slot >= q->capacity ||
	    shmrt__w_state(expected) != SHMRT__S_CANCELLING ||
	    LD_ACQ(&shmrt__slot_at(q, slot)->word) != expected)
		return 0;
	cancel_end(p, q, slot, expected);
	return 1;
}

bool shmrt__job_cancel_requested(const struct shmrt__seg *seg,
				 const struct shmrt__lease *l)
{
	const struct shmrt__qhandle *q = queue_of(seg, l->queue);

	return q != NULL && l->slot < q->capacity &&
	       LD_RLX(&shmrt__slot_at(q, l->slot)->cancel_gen) ==
		       shmrt__w_gen(l->token);
}

bool shmrt__job_lease_valid(const struct shmrt__seg *seg,
			    const struct shmrt__lease *l)
{
	const struct shmrt__qhandle *q = queue_of(seg, l->queue);

	return q != NULL && l->slot < q->capacity &&
	       LD_ACQ(&shmrt__slot_at(q, l->slot)->word) == l->token;
}
