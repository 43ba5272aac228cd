/*
 * src/shm/job.h - job slots and their lifecycle.
 *
 * Each queue has a fixed pool of `capacity` slots. A slot's 64-bit state
 * word is the single truth about its job:
 *
 *     generation(32) | attempt(12) | owner(16) | state(4)
 *
 * and every transition is one CAS on it:
 *
 *   FREE --alloc--> RESERVED(producer) --publish--> QUEUED --lease-->
 *   RUNNING(worker) --commit--> COMPLETING(worker) --> SUCCEEDED | FAILED
 *   RUNNING --retry / reclaim--> QUEUED (attempt kept; lease adds one)
 *   SUCCEEDED | FAILED --release, retention or eviction--> FREE
 *
 * Ring entries are only hints that point at a (slot, generation): a worker
 * owns a job only by winning the CAS QUEUED -> RUNNING, so a stale or
 * duplicated ring entry is harmless. That is what lets scan push a job
 * again whenever it cannot tell whether a dead process published it.
 *
 * Lease tokens: the RUNNING word (with owner and attempt) is the token. A
 * completion CASes from the token, so a worker whose lease was reclaimed
 * (and maybe re-leased, with a higher attempt) gets SHMRT_E_STALE and
 * changes nothing. Result bytes are written only in COMPLETING, which the
 * committer alone holds.
 *
 * All functions are safe to call concurrently from any thread of any
 * attached process; those taking a participant need the caller's own.
 */
#ifndef SHMRT_JOB_H_INTERNAL
#define SHMRT_JOB_H_INTERNAL

#include <shmrt/job.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "participant.h"
#include "segment.h"
#include "slot.h"

/* A leased job, as a worker holds it. */
struct shmrt__lease {
	shmrt_job_id id;
	uint32_t queue;
	uint32_t slot;
	uint64_t token;       /* the RUNNING word: the fencing token */
	uint64_t queued_word; /* the word the lease CAS replaced */
	uint64_t start_seen;  /* start_ns before the lease (lease_start) */
	uint64_t leased_ns;   /* when the lease was taken */
	uint32_t attempt;     /* 1 for the first run */
	uint32_t payload_len; /* bytes copied into the caller's buffer */
	uint64_t enqueue_ns;
	uint64_t permit;      /* semaphore permit token; 0 = none (sem.h) */
	uint32_t lane_key_len; /* 0: no lane */
	char lane_key[SHMRT__KEY_MAX];
};

/* What an enqueue asks for beyond the queue. */
struct shmrt__submit {
	const void *payload;
	size_t len;
	const char *lane; /* lane key (laned queues need one); NULL = none */
	size_t lane_len;  /* 1..SHMRT__KEY_MAX */
	const char *key;  /* idempotency key; NULL = none */
	size_t key_len;   /* 1..SHMRT__KEY_MAX */
	uint64_t deadline_ns; /* wait for space until; 0 = fail at once */
};

/* shmrt__job_submit's "the key already names a live job" result. */
#define SHMRT__SUBMIT_EXISTING 1

/*
 * Enqueue a copy of `payload` (len <= the queue's slot_size) on queue `qi`.
 * When the queue is full: with deadline_ns 0 returns SHMRT_E_FULL at once;
 * otherwise sleeps (on the queue's space event count) until a slot frees or
 * CLOCK_MONOTONIC passes deadline_ns, then SHMRT_E_FULL. Other errors:
 * SHMRT_E_TOOBIG, SHMRT_E_NOQUEUE, SHMRT_E_DRAINING (segment not ready).
 * On any error nothing was enqueued. On success the job is accepted: it
 * will end succeeded, failed or cancelled even if this process dies.
 * Wakes a sleeping worker only if one sleeps.
 */
int shmrt__job_enqueue(struct shmrt__part *p, uint32_t qi,
		       const void *payload, size_t len, uint64_t deadline_ns,
		       shmrt_job_id *out);

/*
 * shmrt__job_enqueue with a lane key and/or an idempotency key:
 *  - lane: jobs of one lane run one at a time, in the order their submits
 *    returned (lane.h). SHMRT_E_NOLANE without a key on a laned queue or
 *    with one on another queue; SHMRT_E_LANES when the lane table is full.
 *  - key: while the key is live (the queue's TTL, and its job still
 *    exists) a submit with the same key returns SHMRT__SUBMIT_EXISTING and
 *    the id of the job holding it, even when producers race (idem.h).
 *    SHMRT_E_KEYS when the table is full: never a silent duplicate.
 * SHMRT_E_KEYLEN for an empty or over-long key. Returns 0 for a new job.
 */
int shmrt__job_submit(struct shmrt__part *p, uint32_t qi,
		      const struct shmrt__submit *sub, shmrt_job_id *out);

/*
 * Cancel job `id`. A queued job becomes CANCELLED and never runs
 * (returns 0). A running job is asked to stop: a cancel request for its
 * generation is recorded for
 * the worker to see (shmrt__job_cancel_requested), and
 * SHMRT__CANCEL_REQUESTED is returned; it ends however its worker ends it.
 * SHMRT_E_STATE when the job is already finished, SHMRT_E_EXPIRED when it
 * was freed since, SHMRT_E_NOJOB for an unknown id.
 */
#define SHMRT__CANCEL_REQUESTED 1
int shmrt__job_cancel(struct shmrt__part *p, shmrt_job_id id);

/* Whether someone asked to cancel the leased job. */
bool shmrt__job_cancel_requested(const struct shmrt__seg *seg,
				 const struct shmrt__lease *l);

/*
 * Whether lease l still holds its job: false once scan took it back
 * (worker judged dead or hung, lease past its deadline). A handler checks
 * it before committing side effects; complete and fail are fenced anyway.
 */
bool shmrt__job_lease_valid(const struct shmrt__seg *seg,
			    const struct shmrt__lease *l);

/*
 * For scan: end job (q, slot) as CANCELLED if its word is still
 * `expected`, the CANCELLING word of a canceller that died. Returns 1 if
 * this call ended it, 0 otherwise.
 */
int shmrt__job_cancel_slot(struct shmrt__part *p, uint32_t qi, uint32_t slot,
			   uint64_t expected);

/*
 * Lease the oldest queued job of queue `qi`: copy its payload into `buf`
 * (bufsize must be >= the queue's slot_size) and fill *out. On a queue
 * with a semaphore, first takes a permit (waiting until deadline_ns); the
 * lease holds it until complete or fail. A retried job is not leased
 * before its backoff has passed. Spins for the
 * segment's spin time, then sleeps on the queue's wait queue (waitq.h)
 * until a job arrives or CLOCK_MONOTONIC passes deadline_ns
 * (SHMRT_E_TIMEDOUT). deadline_ns 0 means try once (SHMRT_E_AGAIN when
 * empty). A tenant that leaves READY ends the wait early with
 * SHMRT_E_AGAIN once the queue has nothing to lease (nor in backoff).
 */
int shmrt__job_lease(struct shmrt__part *p, uint32_t qi, void *buf,
		     size_t bufsize, uint64_t deadline_ns,
		     struct shmrt__lease *out);

/*
 * Finish a leased job successfully with `result` (len <= slot_size, else
 * SHMRT_E_TOOBIG and the lease is kept). SHMRT_E_STALE if the lease was
 * reclaimed. Wakes waiters on the job.
 */
int shmrt__job_complete(struct shmrt__part *p, const struct shmrt__lease *l,
			const void *result, size_t len);

/*
 * Report a leased job's failure with error text `err` (truncated to the
 * slot size). With `retry` and attempts left (queue max_attempts), the job
 * goes back to the queue and 1 is returned; otherwise it ends FAILED and 0
 * is returned. SHMRT_E_STALE if the lease was reclaimed.
 */
int shmrt__job_fail(struct shmrt__part *p, const struct shmrt__lease *l,
		    const char *err, size_t len, int retry);

/*
 * Free a finished job's slot now ("read, no longer needed"), instead of at
 * the end of its retention. SHMRT_E_STATE if the job is not finished,
 * SHMRT_E_EXPIRED if already freed.
 */
int shmrt__job_release(struct shmrt__seg *seg, shmrt_job_id id);

/*
 * Put job (q, slot) back on its queue if its word is still `expected`
 * (a RUNNING word, or QUEUED to re-publish a job whose ring entry may be
 * lost). Used by retries and by scan. Returns 1 if re-queued, 0 if the word
 * had moved on, or a negative error.
 */
int shmrt__job_requeue(struct shmrt__part *p, uint32_t qi, uint32_t slot,
		       uint64_t expected);

/*
 * End job (q, slot) as FAILED with error text err[0..len) (truncated to the
 * slot size) if its word is still `expected` (RUNNING, or the COMPLETING
 * word of a dead worker). Returns 1 if this call ended it, 0 if the word had
 * moved on.
 */
int shmrt__job_fail_slot(struct shmrt__part *p, uint32_t qi, uint32_t slot,
			 uint64_t expected, const char *err, size_t len);

/*
 * Free finished job (q, slot) if its word is still `expected`. Returns 1
 * if freed, 0 if the word had moved on; a laned job that is still its
 * lane's head is freed when its lane moves past it (returns 2).
 */
#define SHMRT__FREE_DEFERRED 2
int shmrt__job_free_slot(struct shmrt__seg *seg, uint32_t qi, uint32_t slot,
			 uint64_t expected);

/*
 * shmrt__job_free_slot that waits for a laned queue's state lock only
 * until lock_deadline_ns (SHMRT_E_BUSY after it): scan's bound.
 */
int shmrt__job_free_slot_until(struct shmrt__seg *seg, uint32_t qi,
			       uint32_t slot, uint64_t expected,
			       uint64_t lock_deadline_ns);

#endif /* SHMRT_JOB_H_INTERNAL */
