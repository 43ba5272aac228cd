/*
 * src/shm/idem.h - the idempotency store of a queue.
 *
 * An entry of the queue's idempotency table (keytab.h) maps a key to the
 * job that holds it (v[0], a job id) until it expires (v[1], CLOCK_MONOTONIC
 * ns). A key is live while it has not expired AND its job still exists: a
 * job freed at the end of its retention, or never published because its
 * producer died, frees its key.
 *
 * Racing producers: lookup, insert and the publication of the new job all
 * happen under the queue's state lock (qstate.h), so of several submits of
 * one key, in any processes, exactly one creates a job and the others get
 * its id. Every call here needs that lock held.
 */
#ifndef SHMRT_IDEM_H
#define SHMRT_IDEM_H

#include <shmrt/job.h>
#include <stddef.h>
#include <stdint.h>

#include "segment.h"

/*
 * The live job holding `key` into *out (returns 1), or 0 when none (an
 * expired or dead entry for the key is removed).
 */
int shmrt__idem_lookup(const struct shmrt__qhandle *q, const char *key,
		       size_t len, uint64_t now, shmrt_job_id *out);

/*
 * Record `key` -> id, live until now + the queue's TTL. The key must be
 * absent (lookup first). When the table is full, expired and dead entries
 * are purged first; SHMRT_E_KEYS if it is still full.
 */
int shmrt__idem_insert(const struct shmrt__qhandle *q, const char *key,
		       size_t len, shmrt_job_id id, uint64_t now);

/* Remove `key` (a submit that failed after inserting it). */
void shmrt__idem_remove(const struct shmrt__qhandle *q, const char *key,
			size_t len);

/* Remove every expired or dead entry; returns how many (scan). */
uint32_t shmrt__idem_expire(const struct shmrt__qhandle *q, uint64_t now);

#endif /* SHMRT_IDEM_H */
