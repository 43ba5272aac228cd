/*
 * src/workers/workers.c - a tenant's workers: inline threads or a
 * supervisor of worker processes.
 *
 * One mutex serializes start, stop and info for every tenant of the
 * process (they are rare; a stop holds it for up to the drain deadline).
 */
#define _GNU_SOURCE
#include "workers.h"

#include <pthread.h>
#include <shmrt/error.h>
#include <shmrt/runtime.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/queue_backend_factory.h"
#include "shm/error_detail.h"
#include "shm/os.h"
#include "workers/heartbeat.h"
#include "workers/worker_loop.h"

struct wk_thread {
	pthread_t thread;
	struct shmrt__backend *be;
	uint32_t qi;
	struct shmrt__worker_opts opts;
	int done; /* release-stored when the loop returned */
};

struct wk_tenant {
	struct wk_tenant *next; /* in `tenants`, under wk_lock */
	char name[SHMRT_CONF_TENANT_MAX];
	int mode;
	struct shmrt__backend *be; /* our reference while on */
	uint64_t drain_ns;
	/* inline */
	struct shmrt__heart *heart;
	int stop;
	uint32_t nthreads;
	struct wk_thread *threads;
	/* process */
	struct shmrt__supervisor *sv;
};

/* Tenants with workers here: a list, so there is no fixed limit. */
static struct wk_tenant *tenants;
static pthread_mutex_t wk_lock = PTHREAD_MUTEX_INITIALIZER;

/* With wk_lock held: the tenant's record, or NULL. */
static struct wk_tenant *wk_find(const char *name)
{
	struct wk_tenant *w;

	for (w = tenants; w != NULL; w = w->next)
		if (strcmp(w->name, name) == 0)
			return w;
	return NULL;
}

/* With wk_lock held: unlink and free w. */
static void wk_forget(struct wk_tenant *w)
{
	struct wk_tenant **pp;

	for (pp = &tenants; *pp != NULL; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	free(w);
}

/* ---------------------------------------------------------------- inline */

static void *wk_thread_main(void *arg)
{
	struct wk_thread *t = arg;

	(void)shmrt__worker_run(t->be, t->qi, &t->opts, NULL);
	__atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static uint32_t wk_count(const struct shmrt_conf *c)
{
	uint32_t qi, n = 0;

	for (qi = 0; qi < c->nqueues; qi++)
		n += c->queue[qi].workers;
	return n;
}

static void wk_threads_join(struct wk_tenant *w)
{
	uint32_t i;

	__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i].thread, NULL);
	w->nthreads = 0;
	free(w->threads);
	w->threads = NULL;
	shmrt__heart_stop(w->heart);
	w->heart = NULL;
}

static int wk_threads_start(struct wk_tenant *w)
{
	const struct shmrt_conf *c = &w->be->conf;
	uint32_t qi, k;
	int rc;

	w->stop = 0;
	w->threads = calloc(wk_count(c) + 1, sizeof(*w->threads));
	if (w->threads == NULL)
		return shmrt__fail(SHMRT_E_NOMEM, "workers: out of memory");
	if ((rc = shmrt__heart_start(shmrt__heart_interval(w->be),
				     &w->heart)) != 0)
		goto fail;
	for (qi = 0; qi < c->nqueues; qi++)
		for (k = 0; k < c->queue[qi].workers; k++) {
			struct wk_thread *t = &w->threads[w->nthreads];

			t->be = w->be;
			t->qi = qi;
			t->opts.stop = &w->stop;
			t->opts.heart = w->heart;
			if (pthread_create(&t->thread, NULL, wk_thread_main,
					   t) != 0) {
				rc = shmrt__fail(SHMRT_E_SYS, "workers: "
						 "pthread_create failed");
				goto fail;
			}
			w->nthreads++;
		}
	return 0;
fail:
	wk_threads_join(w);
	return rc;
}

static uint32_t wk_threads_running(const struct wk_tenant *w)
{
	uint32_t i, n = 0;

	for (i = 0; i < w->nthreads; i++)
		n += !__atomic_load_n(&w->threads[i].done, __ATOMIC_ACQUIRE);
	return n;
}

/* Drain, then the stop flag at the deadline; joins every thread. */
static int wk_threads_stop(struct wk_tenant *w)
{
	uint64_t deadline = shmrt__os_now_ns() + w->drain_ns;
	int rc = 0;

	if (w->be->ops->state(w->be) == SHMRT__BE_READY)
		w->be->ops->set_state(w->be, SHMRT__BE_DRAINING);
	while (wk_threads_running(w) > 0) {
		if (shmrt__os_now_ns() >= deadline) {
			rc = SHMRT_E_TIMEDOUT;
			break;
		}
		shmrt__os_sleep_ns(1000000);
	}
	wk_threads_join(w);
	return rc;
}

/* ------------------------------------------------------------ interface */

int shmrt__workers_start(const char *tenant,
			 const struct shmrt__workers_opts *opts)
{
	static const struct shmrt__workers_opts none;
	struct shmrt__backend *be;
	struct wk_tenant *w;
	int rc = 0;

	if (opts == NULL)
		opts = &none;
	if (tenant == NULL || (be = shmrt__backend_lookup(tenant)) == NULL)
		return shmrt__fail(SHMRT_E_NOENT, "workers: tenant '%s' is not "
				   "started or attached in this process",
				   tenant ? tenant : "(null)");
	pthread_mutex_lock(&wk_lock);
	if (wk_find(tenant) != NULL)
		goto out; /* already on: idempotent */
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		rc = shmrt__fail(SHMRT_E_NOMEM, "workers: out of memory");
		goto out;
	}
	snprintf(w->name, sizeof(w->name), "%s", tenant);
	w->be = be;
	w->mode = be->mode;
	w->drain_ns = be->conf.drain_timeout_ms * 1000000u;
	if (w->mode == SHMRT_MODE_PROCESS)
		rc = shmrt__supervisor_start(be, &opts->process, &w->sv);
	else
		rc = wk_threads_start(w);
	if (rc == 0) {
		w->next = tenants;
		tenants = w;
		be = NULL; /* the record keeps the reference */
	} else {
		free(w);
	}
out:
	pthread_mutex_unlock(&wk_lock);
	shmrt__backend_put(be);
	return rc;
}

int shmrt__workers_stop(const char *tenant)
{
	struct wk_tenant *w;
	int rc = 0;

	if (tenant == NULL)
		return 0;
	pthread_mutex_lock(&wk_lock);
	if ((w = wk_find(tenant)) != NULL) {
		if (w->mode == SHMRT_MODE_PROCESS)
			rc = shmrt__supervisor_stop(w->sv, w->drain_ns);
		else
			rc = wk_threads_stop(w);
		shmrt__backend_put(w->be);
		wk_forget(w);
	}
	pthread_mutex_unlock(&wk_lock);
	if (rc != 0)
		rc = shmrt__fail(rc, "workers of %s: still busy at the drain "
				 "deadline; stopped them", tenant);
	return rc;
}

int shmrt__workers_get_info(const char *tenant,
			    struct shmrt__workers_info *info)
{
	struct shmrt__supervisor_info si;
	struct wk_tenant *w;
	int rc = 0;

	memset(info, 0, sizeof(*info));
	pthread_mutex_lock(&wk_lock);
	if (tenant == NULL || (w = wk_find(tenant)) == NULL) {
		rc = SHMRT_E_NOENT;
	} else if (w->mode == SHMRT_MODE_PROCESS) {
		shmrt__supervisor_get_info(w->sv, &si);
		info->mode = SHMRT_MODE_PROCESS;
		info->nworkers = si.nworkers;
		info->running = si.running;
		info->restarts = si.restarts;
		memcpy(info->pid, si.pid, sizeof(info->pid));
	} else {
		info->mode = SHMRT_MODE_INLINE;
		info->nworkers = w->nthreads;
		info->running = wk_threads_running(w);
	}
	pthread_mutex_unlock(&wk_lock);
	return rc;
}
