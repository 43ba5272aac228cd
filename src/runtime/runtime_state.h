/*
 * src/runtime/runtime_state.h - from configuration to mapped state.
 *
 * The runtime's view of a tenant's mapped state starts here: the segment
 * geometry and policy that a configuration asks for.
 */
#ifndef SHMRT_RUNTIME_STATE_H
#define SHMRT_RUNTIME_STATE_H

#include "runtime/conf.h"
#include "shm/segment.h"

/*
 * Fill segment creation parameters from a loaded configuration: one queue
 * per [queue] section with its capacity, slot size, attempts, timeout and
 * retry backoff; a lane table for a laned queue (lanes entries, default
 * capacity); an idempotency table when idempotency_ttl_ms > 0
 * (idempotency_keys entries, default capacity) with that TTL; a semaphore
 * named after the queue when semaphore_limit > 0; the participant count;
 * spin, retention and heartbeat timeout; mode 0600 (0660 and the group
 * when the tenant names one). `p` points into `conf` (names): keep conf
 * alive while p is used. Returns 0, or SHMRT_E_CONF naming the problem
 * (e.g. an unknown group, more than SHMRT__MAX_SEMS semaphores).
 */
int shmrt__state_params(const struct shmrt_conf *conf, uint32_t tenant,
			struct shmrt__seg_params *p);

#endif /* SHMRT_RUNTIME_STATE_H */
