/*
 * src/shm/lease.c - lease: take a permit, pop a ref, win the job by CAS
 * and copy its payload; spin, then sleep on the queue's wait queue (job.h).
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
	/* The pass read its clock once, before it popped: a job enqueued
	 * after that read starts when it was enqueued, never before. */
	l->enqueue_ns = LD_RLX(&s->enqueue_ns);
	if (l->leased_ns < l->enqueue_ns)
		l->leased_ns = l->enqueue_ns;
	/* A CAS from the value seen before the lease: a lessee that lost
	 * the job meanwhile (the next one stamped it) writes nothing. */
	CAS_AR(&s->start_ns, &seen, l->leased_ns);
	l->payload_len = len;
	l->lane_key_len = LD_RLX(&s->lane_key_len);
	if (l->lane_key_len > SHMRT__KEY_MAX)
		l->lane_key_len = SHMRT__KEY_MAX;
	shmrt__slot_read(l->lane_key, (const unsigned char *)s->lane_key,
			 l->lane_key_len);
	shmrt__slot_read(buf, shmrt__slot_payload(q, s), len);
	if (LD_ACQ(&s->word) != l->token) {
		shmrt__part_lease_forget(p);
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
	shmrt__part_lease_forget(p);
	if (CAS_AR(&shmrt__slot_at(q, l->slot)->word, &w, l->queued_word))
		shmrt__job_republish(p, q, ref, true);
	else
		ST_RLX(&p->rec->push_value, 0);
}

int shmrt__job_lease(struct shmrt__part *p, uint32_t qi, void *buf,
		     size_t bufsize, uint64_t deadline_ns,
		     struct shmrt__lease *out)
{
	const struct shmrt__qhandle *q = shmrt__queue_of(p->seg, qi);
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

bool shmrt__job_cancel_requested(const struct shmrt__seg *seg,
				 const struct shmrt__lease *l)
{
	const struct shmrt__qhandle *q = shmrt__queue_of(seg, l->queue);

	return q != NULL && l->slot < q->capacity &&
	       LD_RLX(&shmrt__slot_at(q, l->slot)->cancel_gen) ==
		       shmrt__w_gen(l->token);
}

bool shmrt__job_lease_valid(const struct shmrt__seg *seg,
			    const struct shmrt__lease *l)
{
	const struct shmrt__qhandle *q = shmrt__queue_of(seg, l->queue);

	return q != NULL && l->slot < q->capacity &&
	       LD_ACQ(&shmrt__slot_at(q, l->slot)->word) == l->token;
}
