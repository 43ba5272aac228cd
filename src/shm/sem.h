/*
 * src/shm/sem.h - named counting semaphores: concurrency caps across
 * processes.
 *
 * A semaphore is `limit` permit words in the segment (layout.h). Acquire
 * CASes a free word (0) to the holder's token; release CASes it back. The
 * token names the holder's participant record, so scan gives back the
 * permits of a dead (or hung) holder, and a holder whose permit was taken
 * back cannot release someone else's: its token is no longer there.
 * Waiting for a permit sleeps on the semaphore's event count, which every
 * release increments. Lock-free; no system call unless someone sleeps.
 */
#ifndef SHMRT_SEM_H
#define SHMRT_SEM_H

#include <stdbool.h>
#include <stdint.h>

#include "participant.h"
#include "segment.h"

/*
 * Take a permit of semaphore `si` for participant p; its token goes to
 * *token. Sleeps until one is free or CLOCK_MONOTONIC passes deadline_ns
 * (SHMRT_E_TIMEDOUT); deadline_ns 0 tries once (SHMRT_E_AGAIN).
 */
int shmrt__sem_acquire(struct shmrt__part *p, uint32_t si,
		       uint64_t deadline_ns, uint64_t *token);

/*
 * Prove that `*token` still holds its permit and make it new: CAS the
 * permit word to a fresh token of participant `part`, stored in *token.
 * A lease renews its permit once it holds its job, so a reclaim that
 * scan decided on the old value fails. SHMRT_E_STALE (and *token
 * unchanged) when the permit was taken back meanwhile.
 */
int shmrt__sem_renew(struct shmrt__seg *seg, uint32_t si, uint32_t part,
		     uint64_t *token);

/* Give back the permit held by `token`; SHMRT_E_STALE if it was taken back. */
int shmrt__sem_release(struct shmrt__seg *seg, uint32_t si, uint64_t token);

/* Whether `token` still holds its permit. */
bool shmrt__sem_held(const struct shmrt__seg *seg, uint32_t si,
		     uint64_t token);

/* Permits held now (stats). */
uint32_t shmrt__sem_in_use(const struct shmrt__seg *seg, uint32_t si);

/*
 * Give back every permit whose holder is gone: for each held permit,
 * gone(ctx, holder's record) is asked after the permit word was read,
 * and the word is CASed from that value, so a holder that renewed or
 * released it in between keeps what it has now. A permit whose token
 * names no record is corrupt and given back too. Returns how many.
 */
uint32_t shmrt__sem_reclaim(struct shmrt__seg *seg,
			    bool (*gone)(void *ctx, uint32_t part), void *ctx);

/*
 * Give back the permits of semaphore si that participant `part` holds
 * while still(ctx) says they are still to be taken: asked after each
 * permit word was read, which is then CASed from that value. For scan,
 * right after it took back the job those permits were for. Returns how
 * many.
 */
uint32_t shmrt__sem_take_from(struct shmrt__seg *seg, uint32_t si,
			      uint32_t part, bool (*still)(void *ctx),
			      void *ctx);

/* The semaphore named `name`, or -1. */
int shmrt__seg_sem_index(const struct shmrt__seg *seg, const char *name);

#endif /* SHMRT_SEM_H */
