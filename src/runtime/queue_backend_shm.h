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
 * O_EXCL. The backend is the owner: its retire op removes the name.
 *
 * A segment of that name whose creator (the runner) has died is adopted,
 * never removed: accepted jobs live in the segment, not in the runner.
 * Adopting validates it as attach does, requires the configuration's
 * layout, takes over as creator, scans (reclaiming what the dead runner
 * and its dead workers held) and sets it READY, whatever state the dead
 * runner left. Refused, and nothing removed:
 *  - the creator is alive: SHMRT_E_EXIST "tenant NAME is already run by
 *    pid N";
 *  - another layout (queues, capacities, slot sizes, participants...):
 *    SHMRT_E_LAYOUT naming the difference and how to replace it
 *    (`shmrt destroy --force`, which loses its jobs);
 *  - anything that is not a valid segment of ours (a FIFO, another
 *    owner, a bad header): that refusal, e.g. SHMRT_E_NOTREG
 *    "/dev/shm/shmrt.x is a FIFO, not a shmrt segment".
 * An adopted segment keeps the per-queue policies and tunables it was
 * made with (attempts, timeouts, retention...); to apply changed ones,
 * stop the tenant cleanly first.
 *
 * While no runner is alive the segment stays usable: its state is still
 * READY after a SIGKILL, so enqueue, status, wait and cancel work, and
 * the jobs wait in it; they run as soon as a worker is attached (an
 * external `shmrt worker` keeps running them meanwhile) or a new runner
 * adopts it. Nothing scans by itself until then (`shmrt scan` does). A
 * runner that died while stopping left it DRAINING or STOPPED: enqueues
 * are refused (SHMRT_E_DRAINING) until a runner adopts it.
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

/*
 * shmrt_tenant_destroy for a named segment: refuses (removing nothing)
 * while its creator or a participant lives (SHMRT_E_BUSY) or when it is
 * not a valid segment (the attach refusal), unless `force`; then unlinks
 * the name. SHMRT_E_NOENT when there is none.
 */
int shmrt__backend_shm_destroy(const char *tenant, bool force);

#endif /* SHMRT_QUEUE_BACKEND_SHM_H */
