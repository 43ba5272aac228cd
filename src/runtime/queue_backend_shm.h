/*
 * src/runtime/queue_backend_shm.h - the shared-memory ring backend.
 *
 * The tenant's queues are the rings and job slots of a shmrt segment
 * (src/shm). Named segments (/dev/shm/shmrt.<tenant>) are shared by every
 * process that attaches; the inline backend uses the same code on a
 * private memfd segment (queue_backend_inline.c).
 *
 * Producers, cancellers and scanners borrow a participant record from a
 * small per-backend pool (a participant is used by one thread at a time,
 * and joining per call would cost a table walk); workers get their own
 * record per consumer.
 */
#ifndef SHMRT_QUEUE_BACKEND_SHM_H
#define SHMRT_QUEUE_BACKEND_SHM_H

#include "runtime/queue_backend.h"

/*
 * Create tenant `tenant` (an index in conf) in /dev/shm/shmrt.<name>,
 * O_EXCL. A segment of that name whose creator has died is removed and
 * created afresh; a live one, or a file that is not a shmrt segment, is
 * an error (SHMRT_E_EXIST, or the attach refusal that says what it is).
 * The backend is the owner: its retire op removes the name.
 */
int shmrt__backend_shm_create(const struct shmrt_conf *conf, uint32_t tenant,
			      struct shmrt__backend **out);

/* Attach to the existing segment of tenant `tenant` (not the owner). */
int shmrt__backend_shm_attach(const struct shmrt_conf *conf, uint32_t tenant,
			      struct shmrt__backend **out);

/*
 * The same backend on a private memfd segment that only this process maps
 * (its `name` is "shm" until the caller renames it).
 */
int shmrt__backend_shm_private(const struct shmrt_conf *conf,
			       uint32_t tenant, struct shmrt__backend **out);

#endif /* SHMRT_QUEUE_BACKEND_SHM_H */
