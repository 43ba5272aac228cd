/*
 * src/runtime/queue_backend_factory.h - one backend per tenant, cached.
 *
 * The factory picks a tenant's backend (from conf->mode and
 * conf->test_mode, which shmrt_conf_apply_env set from the environment
 * over the file's [runtime] mode), makes it, and keeps it in a per-process
 * cache keyed by tenant name. Lookups - one per enqueue, status, wait -
 * are lock-free (an RCU hash table, memb flavor); making and forgetting
 * backends take a mutex, so two racing gets of one tenant make one
 * backend.
 *
 * References: get and lookup return a referenced backend; pair each with
 * shmrt__backend_put. The cache holds one reference of its own until the
 * tenant is forgotten; the backend is closed when the last goes, so a
 * thread still waiting on a job of a forgotten tenant keeps its mapping.
 */
#ifndef SHMRT_QUEUE_BACKEND_FACTORY_H
#define SHMRT_QUEUE_BACKEND_FACTORY_H

#include <stdbool.h>

#include "runtime/queue_backend.h"

/* What a caller asks of the factory. */
struct shmrt__backend_spec {
	const struct shmrt_conf *conf;
	uint32_t tenant;   /* index in conf->tenant */
	bool attach;       /* use a tenant another process started */
	bool force_inline; /* degrade: inline on private memory */
};

/*
 * The backend of spec's tenant: the cached one if the tenant has one
 * (whatever the spec asks), else a new one, cached: with attach, the shm
 * backend attached to the tenant's segment; otherwise conf->mode's
 * backend (shm creating the segment, or inline, running jobs in the
 * waiting caller when conf->test_mode), or inline when force_inline. *made says whether this call made it. On failure returns
 * the cause's code with shmrt_last_error() naming the backend, the
 * tenant and the cause, e.g. "backend shm for tenant acme:
 * /dev/shm/shmrt.acme exists and is not usable: ...".
 */
int shmrt__backend_get(const struct shmrt__backend_spec *spec,
		       struct shmrt__backend **out, bool *made);

/* The cached backend of `tenant`, referenced, or NULL. Lock-free. */
struct shmrt__backend *shmrt__backend_lookup(const char *tenant);

/* Take one more reference to a backend the caller holds. */
void shmrt__backend_ref(struct shmrt__backend *be);

/* Drop a reference; the last one closes the backend. NULL is ignored. */
void shmrt__backend_put(struct shmrt__backend *be);

/*
 * Remove the tenant's backend from the cache (lookups no longer find it)
 * and drop the cache's reference. Returns 0, or SHMRT_E_NOENT when the
 * tenant has none.
 */
int shmrt__backend_forget(const char *tenant);

/* Forget every tenant (tests start from a clean cache with it). */
void shmrt__backend_factory_reset(void);

#endif /* SHMRT_QUEUE_BACKEND_FACTORY_H */
