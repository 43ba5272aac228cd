/*
 * src/shm/submit.c - enqueue: reserve a slot (evicting finished jobs when
 * the queue is full), fill it, and accept it: linked into its lane, keyed,
 * or published through the ring (job.h).
 */
#include "job.h"

#include <shmrt/error.h>

#include "atomics.h"
#include "error_detail.h"
#include "evict.h"
#include "idem.h"
#include "lane.h"
#include "os.h"
#include "pause.h"
#include "qstate.h"


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
		int rc = shmrt__slot_alloc(q, owner, slot, gen);

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
	shmrt__slot_write(shmrt__slot_payload(q, s), payload, len);
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
	const struct shmrt__qhandle *q = shmrt__queue_of(p->seg, qi);
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
