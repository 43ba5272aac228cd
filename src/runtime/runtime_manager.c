/*
 * src/runtime/runtime_manager.c - tenant start and stop.
 *
 * Start order: configuration (the tenant's [tenant NAME] section or the
 * [tenant *] template), then the backend from the factory (which makes
 * the segment and the state in it, or adopts the segment of a runner that
 * died), then the tenant joins the process's scan thread. Stop is the
 * reverse, through the segment: draining (enqueues refused), running jobs
 * finish (the caller runs them in test mode), stopped, the other
 * participants leave (a scan declares the dead ones), the creator removes
 * the name - unless a job or a live participant outlived the drain: then
 * the segment stays for the next start to adopt - and the backend is
 * forgotten and closed with its last reference.
 */
#define _GNU_SOURCE
#include "runtime_manager.h"

#include <pthread.h>
#include <shmrt/error.h>
#include <shmrt/runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/conf.h"
#include "runtime/queue_backend_factory.h"
#include "runtime/queue_backend_shm.h"
#include "runtime/queue_runtime.h"
#include "runtime/tenant_scanner.h"
#include "shm/error_detail.h"
#include "shm/log.h"
#include "shm/os.h"

/* One tenant name's record. Fields below `lock` change only under it. */
struct tenant_rec {
	char name[SHMRT_CONF_TENANT_MAX];
	pthread_mutex_t lock;
	bool running;
	struct shmrt__backend *be; /* our reference while running */
	uint64_t drain_timeout_ns;
	bool scanned; /* started here: in the process's scanner */
	struct shmrt__scan_entry scan;
};

/*
 * Every name this process has started or attached, in an array of
 * pointers that grows by doubling. A record lives as long as the process
 * (about 200 bytes per distinct name), so a pointer stays valid without
 * reference counts. Looked up at start and stop only, never per job.
 */
static struct tenant_rec **recs;
static uint32_t nrecs, caprecs;
static pthread_mutex_t recs_lock = PTHREAD_MUTEX_INITIALIZER;

static struct tenant_rec *rec_new(const char *name)
{
	struct tenant_rec *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	memcpy(r->name, name, strlen(name) + 1);
	pthread_mutex_init(&r->lock, NULL);
	return r;
}

/* With recs_lock held: room for one more record pointer. */
static bool recs_grow(void)
{
	uint32_t cap = caprecs ? caprecs * 2 : 64;
	struct tenant_rec **n;

	if (nrecs < caprecs)
		return true;
	n = realloc(recs, cap * sizeof(*n));
	if (n == NULL)
		return false;
	recs = n;
	caprecs = cap;
	return true;
}

/* The record of `name`, made on first use; NULL when out of memory. */
static struct tenant_rec *rec_get(const char *name, bool make)
{
	struct tenant_rec *r = NULL;
	uint32_t i;

	pthread_mutex_lock(&recs_lock);
	for (i = 0; i < nrecs && r == NULL; i++)
		if (strcmp(recs[i]->name, name) == 0)
			r = recs[i];
	if (r == NULL && make && recs_grow() && (r = rec_new(name)) != NULL)
		recs[nrecs++] = r;
	pthread_mutex_unlock(&recs_lock);
	return r;
}

/* A copy of the record pointers (the array may move while a reset walks
 * it); *n entries, NULL when there are none or memory is short. */
static struct tenant_rec **recs_snapshot(uint32_t *n)
{
	struct tenant_rec **copy = NULL;

	pthread_mutex_lock(&recs_lock);
	*n = nrecs;
	if (nrecs > 0 && (copy = malloc(nrecs * sizeof(*copy))) != NULL)
		memcpy(copy, recs, nrecs * sizeof(*copy));
	if (copy == NULL)
		*n = 0;
	pthread_mutex_unlock(&recs_lock);
	return copy;
}

/* ---------------------------------------------------------------- start */

/*
 * Load the configuration, narrowed to the tenant (its [tenant NAME]
 * section or the [tenant *] template): the tenant is then index 0.
 */
static int conf_open(const char *conf_path, const char *tenant,
		     struct shmrt_conf **out)
{
	struct shmrt_conf *conf = malloc(sizeof(*conf));
	int rc;

	if (conf == NULL)
		return shmrt__fail(SHMRT_E_NOMEM, "start: out of memory");
	rc = shmrt_conf_load(shmrt_conf_path(conf_path), conf, NULL, 0);
	if (rc == 0)
		rc = shmrt_conf_apply_env(conf, NULL, 0);
	if (rc == 0)
		rc = shmrt_conf_select_tenant(conf, tenant);
	if (rc != 0) {
		free(conf);
		return rc;
	}
	*out = conf;
	return 0;
}

/*
 * The backend, or with on_init_error = degrade the inline one; then
 * `degraded` (degraded_len bytes) says why, for a log message once the
 * caller holds no lock. A configuration error (SHMRT_E_CONF) never
 * degrades.
 */
static int backend_open(const struct shmrt_conf *conf, uint32_t ti,
			bool attach, struct shmrt__backend **be,
			char *degraded, size_t degraded_len)
{
	struct shmrt__backend_spec spec = { conf, ti, attach, false };
	bool made;
	int rc = shmrt__backend_get(&spec, be, &made);

	if (rc == 0 || attach || rc == SHMRT_E_CONF ||
	    conf->on_init_error != SHMRT_CONF_ON_ERROR_DEGRADE)
		return rc;
	snprintf(degraded, degraded_len, "tenant %s: %s; on_init_error = "
		 "degrade: running inline on private memory instead",
		 conf->tenant[ti].name, shmrt_last_error());
	spec.force_inline = true;
	return shmrt__backend_get(&spec, be, &made);
}

static int tenant_open(const char *conf_path, const char *tenant,
		       bool attach)
{
	struct shmrt_conf *conf = NULL;
	struct tenant_rec *r;
	char degraded[768] = "";
	int rc;

	if ((rc = conf_open(conf_path, tenant, &conf)) != 0)
		return rc;
	r = rec_get(conf->tenant[0].name, true);
	if (r == NULL) {
		rc = shmrt__fail(SHMRT_E_NOMEM, "start %s: out of memory",
				 conf->tenant[0].name);
		free(conf);
		return rc;
	}
	pthread_mutex_lock(&r->lock);
	if (!r->running) {
		rc = backend_open(conf, 0, attach, &r->be, degraded,
				  sizeof(degraded));
		if (rc == 0) {
			r->running = true;
			r->drain_timeout_ns = conf->drain_timeout_ms * 1000000u;
			/* A tenant started here is scanned by the process's
			 * scan thread; without one, only by hand. */
			r->scanned = r->be->owner &&
				     shmrt__scanner_add(&r->scan, r->be,
							conf->scan_interval_ms) == 0;
		}
	}
	pthread_mutex_unlock(&r->lock);
	free(conf);
	if (rc == 0 && degraded[0] != '\0')
		shmrt__log(SHMRT_LOG_WARN, "%s", degraded);
	return rc;
}

int shmrt_tenant_start(const char *conf_path, const char *tenant)
{
	return tenant_open(conf_path, tenant, false);
}

int shmrt_tenant_attach(const char *conf_path, const char *tenant)
{
	return tenant_open(conf_path, tenant, true);
}

/* ----------------------------------------------------------------- stop */

/* Until deadline: queued and running jobs finish (run here if sync). */
static int drain_jobs(struct shmrt__backend *be, uint64_t deadline)
{
	for (;;) {
		if (shmrt__qrt_busy(be) == 0)
			return 0;
		if (shmrt__os_now_ns() >= deadline)
			return SHMRT_E_TIMEDOUT;
		if (be->sync)
			(void)shmrt__qrt_run_pending(be, deadline);
		else
			shmrt__os_sleep_ns(1000000);
	}
}

/* Until deadline: every other participant leaves or is found dead. */
static int drain_participants(struct shmrt__backend *be, uint64_t deadline)
{
	for (;;) {
		if (be->ops->peers(be) == 0)
			return 0;
		if (shmrt__os_now_ns() >= deadline)
			return SHMRT_E_TIMEDOUT;
		(void)be->ops->scan(be, deadline, NULL);
		shmrt__os_sleep_ns(2000000);
	}
}

/* The whole stop of a running record; called with r->lock held. */
static int stop_locked(struct tenant_rec *r)
{
	struct shmrt__backend *be = r->be;
	bool kept;
	int rc = 0, rc2;

	if (r->scanned)
		shmrt__scanner_remove(&r->scan);
	r->scanned = false;
	if (be->ops->state(be) == SHMRT__BE_READY)
		be->ops->set_state(be, SHMRT__BE_DRAINING);
	if (be->ops->state(be) != SHMRT__BE_STOPPED) {
		rc = drain_jobs(be, shmrt__os_now_ns() + r->drain_timeout_ns);
		be->ops->set_state(be, SHMRT__BE_STOPPED);
	}
	rc2 = drain_participants(be, shmrt__os_now_ns() + r->drain_timeout_ns);
	if (rc == 0)
		rc = rc2;
	/* The name goes only with nothing left behind it: a job still queued
	 * or running, or a participant still attached, keeps the segment for
	 * the next start to adopt (unlinked, they would be stranded). */
	kept = (shmrt__qrt_busy(be) > 0 || rc2 != 0) &&
	       be->mode == SHMRT_MODE_PROCESS;
	if (be->owner && !kept)
		be->ops->retire(be);
	(void)shmrt__backend_forget(r->name);
	shmrt__backend_put(be);
	r->be = NULL;
	r->running = false;
	if (rc == 0 && kept)
		rc = SHMRT_E_TIMEDOUT;
	if (rc != 0)
		rc = shmrt__fail(rc, "stop %s: jobs or participants were still "
				 "active at the drain deadline (%llu ms)%s",
				 r->name,
				 (unsigned long long)(r->drain_timeout_ns /
						      1000000u),
				 kept ? "; the segment keeps them: the next "
					   "start adopts it, shmrt destroy "
					   "removes it"
					 : "");
	return rc;
}

int shmrt_tenant_stop(const char *tenant)
{
	struct tenant_rec *r;
	int rc = 0;

	if (tenant == NULL)
		return shmrt__fail(SHMRT_E_INVAL, "stop: tenant is NULL");
	if ((r = rec_get(tenant, false)) == NULL)
		return 0;
	pthread_mutex_lock(&r->lock);
	if (r->running)
		rc = stop_locked(r);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int shmrt_tenant_detach(const char *tenant)
{
	struct tenant_rec *r;
	int rc = 0;

	if (tenant == NULL)
		return shmrt__fail(SHMRT_E_INVAL, "detach: tenant is NULL");
	if ((r = rec_get(tenant, false)) == NULL)
		return 0;
	pthread_mutex_lock(&r->lock);
	if (r->running && r->be->owner) {
		rc = stop_locked(r);
	} else if (r->running) {
		(void)shmrt__backend_forget(r->name);
		shmrt__backend_put(r->be);
		r->be = NULL;
		r->running = false;
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int shmrt_tenant_get_info(const char *tenant, struct shmrt_tenant_info *info)
{
	struct shmrt__backend *be = shmrt__backend_lookup(tenant);

	if (be == NULL)
		return shmrt__fail(SHMRT_E_NOENT, "tenant '%s' is not started "
				   "or attached in this process",
				   tenant ? tenant : "(null)");
	memset(info, 0, sizeof(*info));
	info->mode = be->mode;
	info->owner = be->owner;
	info->degraded = be->degraded;
	info->sync = be->sync;
	info->nqueues = be->conf.nqueues;
	snprintf(info->backend, sizeof(info->backend), "%s", be->name);
	shmrt__backend_put(be);
	return 0;
}

/* ------------------------------------------- state, seen from anywhere */

int shmrt_tenant_get_state(const char *tenant)
{
	struct shmrt__backend *be;
	int rc;

	if ((rc = shmrt__qrt_backend(tenant, &be)) != 0)
		return rc;
	rc = be->ops->state(be);
	shmrt__backend_put(be);
	return rc;
}

int shmrt_tenant_drain(const char *tenant, uint32_t timeout_ms)
{
	uint64_t deadline = shmrt__os_now_ns() +
			    (uint64_t)timeout_ms * 1000000u;
	struct shmrt__backend *be;
	int rc;

	if ((rc = shmrt__qrt_backend(tenant, &be)) != 0)
		return rc;
	if (be->ops->state(be) == SHMRT__BE_READY)
		be->ops->set_state(be, SHMRT__BE_DRAINING);
	rc = drain_jobs(be, deadline);
	be->ops->set_state(be, SHMRT__BE_STOPPED);
	shmrt__backend_put(be);
	if (rc != 0)
		rc = shmrt__fail(rc, "drain %s: jobs were still queued or "
				 "running after %u ms", tenant, timeout_ms);
	return rc;
}

int shmrt_tenant_get_runner(const char *tenant,
			    struct shmrt_tenant_runner *out)
{
	struct shmrt__backend *be;
	bool alive = false;
	int rc;

	if (out == NULL)
		return shmrt__fail(SHMRT_E_INVAL, "tenant_get_runner: out is "
				   "NULL");
	memset(out, 0, sizeof(*out));
	if ((rc = shmrt__qrt_backend(tenant, &be)) != 0)
		return rc;
	be->ops->runner(be, &out->pid, &alive);
	out->alive = alive;
	shmrt__backend_put(be);
	return 0;
}

int shmrt_tenant_destroy(const char *tenant, int force)
{
	struct shmrt__backend *be = shmrt__backend_lookup(tenant);

	if (be != NULL) {
		shmrt__backend_put(be);
		return shmrt__fail(SHMRT_E_BUSY, "destroy %s: the tenant is "
				   "started or attached in this process: stop "
				   "or detach it first", tenant);
	}
	return shmrt__backend_shm_destroy(tenant, force != 0);
}

int shmrt__tenants_reset(void)
{
	uint32_t i, n;
	struct tenant_rec **all = recs_snapshot(&n);
	int rc = 0, r;

	for (i = 0; i < n; i++) {
		r = shmrt_tenant_stop(all[i]->name);
		if (rc == 0)
			rc = r;
	}
	free(all);
	shmrt__backend_factory_reset();
	return rc;
}
