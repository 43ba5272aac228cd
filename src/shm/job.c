/*
 * src/shm/job.c - the end of a job: complete, fail, retry, cancel, and
 * free (release, retention, eviction) (job.h).
 */
#include "job.h"

#include <shmrt/error.h>
#include <string.h>

#include "atomics.h"
#include "error_detail.h"
#include "lane.h"
#include "os.h"
#include "pause.h"
#include "qstate.h"
#include "sem.h"


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

	shmrt__slot_write(shmrt__slot_result(q, s), data, len);
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
	const struct shmrt__qhandle *q = shmrt__queue_of(p->seg, l->queue);

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
		shmrt__part_lease_forget(p);
		return shmrt__fail(SHMRT_E_STALE,
				   "complete: lease of job %016llx was reclaimed",
				   (unsigned long long)l->id.v);
	}
	commit_end(p, q, l->slot, l->token, SHMRT__S_SUCCEEDED, result, len);
	permit_release(p, q, l);
	shmrt__part_lease_forget(p);
	return 0;
}

int shmrt__job_fail(struct shmrt__part *p, const struct shmrt__lease *l,
		    const char *err, size_t len, int retry)
{
	const struct shmrt__qhandle *q = lease_queue(p, l);
	int rc;

	if (q == NULL)
		return SHMRT_E_INVAL;
	shmrt__part_lease_forget(p);
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
	const struct shmrt__qhandle *q = shmrt__queue_of(p->seg, qi);
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
	const struct shmrt__qhandle *q = shmrt__queue_of(p->seg, qi);
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
	const struct shmrt__qhandle *q = shmrt__queue_of(seg, qi);
	int rc;

	if (q == NULL || slot >= q->capacity)
		return SHMRT_E_INVAL;
	if (!shmrt__state_final(shmrt__w_state(expected)))
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

int shmrt__job_release(struct shmrt__seg *seg, shmrt_job_id id)
{
	const struct shmrt__qhandle *q;
	struct shmrt__slot *s = shmrt__slot_of_id(seg, id, &q);
	uint64_t w;
	int rc;

	if (s == NULL)
		return SHMRT_E_NOJOB;
	w = LD_ACQ(&s->word);
	if (shmrt__w_gen(w) != shmrt__id_gen(id) ||
	    shmrt__w_state(w) == SHMRT__S_FREE ||
	    shmrt__w_state(w) == SHMRT__S_RESERVED)
		return shmrt__job_gone(id, w);
	if (!shmrt__state_final(shmrt__w_state(w)))
		return SHMRT_E_STATE;
	rc = shmrt__job_free_slot(seg, q->index,
				  shmrt__id_slot(id), w);
	if (rc == 0) /* freed (or reused) meanwhile */
		return shmrt__job_gone(id, LD_ACQ(&s->word));
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
	struct shmrt__slot *s = shmrt__slot_of_id(p->seg, id, &q);
	uint32_t slot = shmrt__id_slot(id);

	if (s == NULL)
		return SHMRT_E_NOJOB;
	for (;;) {
		uint64_t w = LD_ACQ(&s->word), mine;
		uint32_t st = shmrt__w_state(w);

		if (shmrt__w_gen(w) != shmrt__id_gen(id) || st == SHMRT__S_FREE ||
		    st == SHMRT__S_RESERVED)
			return shmrt__job_gone(id, w);
		if (shmrt__state_final(st))
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
	const struct shmrt__qhandle *q = shmrt__queue_of(p->seg, qi);

	if (q == NULL || slot >= q->capacity ||
	    shmrt__w_state(expected) != SHMRT__S_CANCELLING ||
	    LD_ACQ(&shmrt__slot_at(q, slot)->word) != expected)
		return 0;
	cancel_end(p, q, slot, expected);
	return 1;
}
