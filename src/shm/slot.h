/*
 * src/shm/slot.h - job slots at the bottom of the job layers: the state
 * word and its packed neighbours (refs, ids), the slot's bytes, finding a
 * free slot, publishing a ref, freeing a slot, and reading a job's status.
 * Nothing here knows lanes, keys or semaphores; lane.c, idem.c and qstate.c
 * build on this file, and job.h (submit.c, lease.c, job.c) on all of them:
 *
 *     slot.c  <-  lane.c, idem.c, qstate.c  <-  submit.c, lease.c, job.c
 *
 * All functions are safe to call concurrently from any thread of any
 * attached process.
 */
#ifndef SHMRT_SLOT_H
#define SHMRT_SLOT_H

#include <shmrt/job.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "participant.h"
#include "segment.h"

/* Internal slot states (values of the 4-bit field). */
enum shmrt__slot_state {
	SHMRT__S_FREE = 0,
	SHMRT__S_RESERVED = 1,
	SHMRT__S_QUEUED = SHMRT_JOB_QUEUED,
	SHMRT__S_RUNNING = SHMRT_JOB_RUNNING,
	SHMRT__S_COMPLETING = 4,
	SHMRT__S_SUCCEEDED = SHMRT_JOB_SUCCEEDED,
	SHMRT__S_FAILED = SHMRT_JOB_FAILED,
	SHMRT__S_CANCELLED = SHMRT_JOB_CANCELLED,
	/* A QUEUED job its canceller holds exclusively while ending it:
	 * never run, and ended CANCELLED by scan if the canceller dies. */
	SHMRT__S_CANCELLING = 8,
};

#define SHMRT__OWNER_NONE 0xffffu
#define SHMRT__MAX_ATTEMPT 0xfffu

static inline uint32_t shmrt__w_state(uint64_t w) { return (uint32_t)(w & 0xf); }
static inline uint32_t shmrt__w_owner(uint64_t w) { return (uint32_t)((w >> 4) & 0xffff); }
static inline uint32_t shmrt__w_attempt(uint64_t w) { return (uint32_t)((w >> 20) & 0xfff); }
static inline uint32_t shmrt__w_gen(uint64_t w) { return (uint32_t)(w >> 32); }
static inline uint64_t shmrt__w_make(uint32_t gen, uint32_t attempt,
				     uint32_t owner, uint32_t state)
{
	return ((uint64_t)gen << 32) | ((uint64_t)(attempt & 0xfff) << 20) |
	       ((uint64_t)(owner & 0xffff) << 4) | (state & 0xf);
}

/* Whether a slot state is final (succeeded, failed, cancelled). */
static inline bool shmrt__state_final(uint32_t st)
{
	return st == SHMRT__S_SUCCEEDED || st == SHMRT__S_FAILED ||
	       st == SHMRT__S_CANCELLED;
}

/* Ring reference <-> (slot, generation): gen(32) | slot(32). */
static inline uint64_t shmrt__ref_make(uint32_t slot, uint32_t gen)
{
	return ((uint64_t)gen << 32) | slot;
}
static inline uint32_t shmrt__ref_slot(uint64_t ref) { return (uint32_t)ref; }
static inline uint32_t shmrt__ref_gen(uint64_t ref) { return (uint32_t)(ref >> 32); }

/* Job id <-> (queue, slot, generation): queue(8) | slot(24) | gen(32). */
static inline shmrt_job_id shmrt__id_make(uint32_t queue, uint32_t slot,
					  uint32_t gen)
{
	shmrt_job_id id = { ((uint64_t)queue << 56) |
			    ((uint64_t)(slot & 0xffffff) << 32) | gen };
	return id;
}
static inline uint32_t shmrt__id_queue(shmrt_job_id id) { return (uint32_t)(id.v >> 56); }
static inline uint32_t shmrt__id_slot(shmrt_job_id id) { return (uint32_t)(id.v >> 32) & 0xffffff; }
static inline uint32_t shmrt__id_gen(shmrt_job_id id) { return (uint32_t)id.v; }

/* The queue of index qi, or NULL when the segment has no such queue. */
const struct shmrt__qhandle *shmrt__queue_of(const struct shmrt__seg *seg,
					     uint32_t qi);

/*
 * Copy n bytes into (write) or out of (read) a slot's payload or result
 * area with relaxed atomic word accesses: a seqlock reader may overlap a
 * writer, and its re-check of the slot word discards what it read then.
 */
void shmrt__slot_write(unsigned char *dst, const void *src, size_t n);
void shmrt__slot_read(void *dst, const unsigned char *src, size_t n);

/*
 * Find a FREE slot of q and CAS it to RESERVED(owner), with the next
 * generation. SHMRT_E_FULL when every slot is taken (evict.h frees
 * finished ones; submit.c decides).
 */
int shmrt__slot_alloc(const struct shmrt__qhandle *q, uint32_t owner,
		      uint32_t *slot_out, uint32_t *gen_out);

/* The slot an id names (bounds-checked), or NULL; *qout its queue. */
struct shmrt__slot *shmrt__slot_of_id(const struct shmrt__seg *seg,
				      shmrt_job_id id,
				      const struct shmrt__qhandle **qout);

/*
 * Why word w of id's slot no longer shows id's job: SHMRT_E_EXPIRED (with
 * a detail) when the job was there and its slot was freed since,
 * SHMRT_E_NOJOB when the id names no job the slot has held.
 */
int shmrt__job_gone(shmrt_job_id id, uint64_t w);

/* For lane.c: the slot CAS of job_free_slot, on a slot known unlinked. */
int shmrt__job_free_raw(const struct shmrt__qhandle *q, uint32_t slot,
			uint64_t expected);

/*
 * Put an already QUEUED job's ref (back) into the ring, under the
 * caller's push_value intent, which this clears; `wake`: also wake a
 * sleeping worker (new work). The ring is "full" only while a descheduled
 * popper still holds the tail cell from the last lap: this waits a little
 * for it, and if it stays returns false with the job QUEUED and no ref,
 * for scan to publish (scan.h). A job is never dropped.
 */
bool shmrt__job_republish(struct shmrt__part *p,
			  const struct shmrt__qhandle *q, uint64_t ref,
			  bool wake);

/*
 * A consistent snapshot of job `id`; with `buf` non-NULL also copies up to
 * bufsize bytes of its result (or error text). Needs no participant.
 * SHMRT_E_EXPIRED once the job's slot was freed (released, past
 * retention, or evicted: evict.h), SHMRT_E_NOJOB for an id no job had.
 */
int shmrt__job_status(const struct shmrt__seg *seg, shmrt_job_id id,
		      struct shmrt_job_info *info, void *buf, size_t bufsize);

/*
 * Sleep on the job's own event count until it is finished (succeeded,
 * failed or cancelled) or CLOCK_MONOTONIC passes deadline_ns
 * (SHMRT_E_TIMEDOUT). Fills *info like shmrt__job_status.
 */
int shmrt__job_wait(struct shmrt__seg *seg, shmrt_job_id id,
		    uint64_t deadline_ns, struct shmrt_job_info *info,
		    void *buf, size_t bufsize);

#endif /* SHMRT_SLOT_H */
