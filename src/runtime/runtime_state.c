/*
 * src/runtime/runtime_state.c - from configuration to mapped state.
 */
#define _GNU_SOURCE
#include "runtime_state.h"

#include <grp.h>
#include <shmrt/error.h>
#include <string.h>

#include "shm/error_detail.h"

static int tenant_mode(const struct shmrt_conf_tenant *t,
		       struct shmrt__seg_params *p)
{
	struct group *g;

	p->mode = 0600;
	if (t->group[0] == '\0')
		return 0;
	g = getgrnam(t->group);
	if (g == NULL)
		return shmrt__fail(SHMRT_E_CONF, "tenant %s: no group '%s'",
				   t->name, t->group);
	p->mode = 0660;
	p->gid = g->gr_gid;
	return 0;
}

/* A semaphore named after queue i, capping its concurrent jobs. */
static int queue_sem(const struct shmrt_conf_queue *cq, uint32_t i,
		     struct shmrt__seg_params *p)
{
	if (cq->semaphore_limit == 0)
		return 0;
	if (p->nsems == SHMRT__MAX_SEMS)
		return shmrt__fail(SHMRT_E_CONF,
				   "queue %s: semaphore_limit: at most %u queues "
				   "may have one",
				   cq->name, SHMRT__MAX_SEMS);
	if (cq->semaphore_limit > SHMRT__MAX_SEM_LIMIT)
		return shmrt__fail(SHMRT_E_CONF,
				   "queue %s: semaphore_limit %u is over %u",
				   cq->name, cq->semaphore_limit,
				   SHMRT__MAX_SEM_LIMIT);
	p->sem[p->nsems].name = cq->name;
	p->sem[p->nsems].limit = cq->semaphore_limit;
	p->queue[i].sem = ++p->nsems;
	return 0;
}

/* Lanes, idempotency keys and the semaphore of queue i. */
static int queue_keyed_state(const struct shmrt_conf_queue *cq, uint32_t i,
			     struct shmrt__seg_params *p)
{
	if (cq->laned)
		p->queue[i].nlanes = cq->lanes ? cq->lanes : cq->capacity;
	if (cq->idempotency_ttl_ms > 0) {
		p->queue[i].nidem = cq->idempotency_keys ? cq->idempotency_keys
							 : cq->capacity;
		p->queue[i].idem_ttl_ns = cq->idempotency_ttl_ms * 1000000u;
	}
	return queue_sem(cq, i, p);
}

int shmrt__state_params(const struct shmrt_conf *conf, uint32_t tenant,
			struct shmrt__seg_params *p)
{
	uint32_t i;
	int rc;

	memset(p, 0, sizeof(*p));
	if (tenant >= conf->ntenants)
		return shmrt__fail(SHMRT_E_CONF, "no tenant %u in %s", tenant,
				   conf->path);
	p->nqueues = conf->nqueues;
	p->nparticipants = conf->participants;
	for (i = 0; i < conf->nqueues; i++) {
		const struct shmrt_conf_queue *cq = &conf->queue[i];

		p->queue[i].name = cq->name;
		p->queue[i].capacity = cq->capacity;
		p->queue[i].slot_size = cq->slot_size;
		p->queue[i].max_attempts = cq->max_attempts;
		p->queue[i].job_timeout_ns = cq->job_timeout_ms * 1000000u;
		p->queue[i].retry_backoff_ns = cq->retry_backoff_ms * 1000000u;
		p->queue[i].retention_strict =
			cq->retention == SHMRT_CONF_RETENTION_STRICT;
		if ((rc = queue_keyed_state(cq, i, p)) != 0)
			return rc;
	}
	p->tun.spin_ns = conf->spin_us * 1000u;
	p->tun.retention_ns = conf->retention_ms * 1000000u;
	p->tun.heartbeat_timeout_ns = conf->heartbeat_timeout_ms * 1000000u;
	return tenant_mode(&conf->tenant[tenant], p);
}
