/*
 * src/runtime/queue_backend_factory.c - one backend per tenant, cached.
 *
 * Read path: shmrt__rcu_read_lock, cds_lfht_lookup, take a reference,
 * unlock. A reference taken inside the read-side section is safe because
 * the cache's own reference is dropped only after the node is unlinked
 * and a grace period has passed: no reader can still be looking at a
 * node whose count may reach zero.
 */
#define _GNU_SOURCE
#include "queue_backend_factory.h"

#include <pthread.h>
#include <shmrt/error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/queue_backend_inline.h"
#include "runtime/queue_backend_redis.h"
#include "runtime/queue_backend_shm.h"
#include "runtime/rcu_reader.h"
#include "shm/error_detail.h"

/*
 * Fixed bucket count (no auto-resize: liburcu resizes from a call_rcu
 * thread). 1,024 buckets keep chains short for a thousand tenants and
 * cost 16 KiB.
 */
#define CACHE_BUCKETS 1024
#define RESET_BATCH   256 /* backends a reset unlinks per grace period */

static struct cds_lfht *cache;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
/* Serializes making and forgetting; lookups never take it. */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static void cache_init(void)
{
	cache = shmrt__rcu_table_new(CACHE_BUCKETS);
}

static struct cds_lfht *cache_table(void)
{
	pthread_once(&cache_once, cache_init);
	return cache;
}

/*
 * liburcu publishes nodes with barriers ThreadSanitizer cannot see (it is
 * not instrumented); the acquire load of `published`, paired with the
 * release store before linking, is an edge it does see.
 */
static struct shmrt__backend *backend_of(struct cds_lfht_node *node)
{
	struct shmrt__backend *be =
	    caa_container_of(node, struct shmrt__backend, node);

	(void)__atomic_load_n(&be->published, __ATOMIC_ACQUIRE);
	return be;
}

static int match_tenant(struct cds_lfht_node *node, const void *key)
{
	return strcmp(backend_of(node)->tenant, key) == 0;
}

int shmrt__backend_queue(const struct shmrt__backend *be, const char *name)
{
	int i = shmrt_conf_queue_index(&be->conf, name);

	if (i < 0)
		return shmrt__fail(SHMRT_E_NOQUEUE, "tenant %s has no queue "
				   "'%s'", be->tenant, name ? name : "(null)");
	return i;
}

bool shmrt__backend_failed_entry(struct shmrt__backend *be, shmrt_job_id id,
				 struct shmrt_failed_job *f)
{
	struct shmrt_job_info info;
	size_t cap = sizeof(f->error) - 1;

	memset(f, 0, sizeof(*f));
	if (be->ops->status(be, id, &info, f->error, cap) != 0 ||
	    info.state != SHMRT_JOB_FAILED)
		return false;
	f->id = id;
	f->attempts = info.attempt;
	f->finish_ns = info.finish_ns;
	f->error_len = info.result_len;
	f->error[info.result_len < cap ? info.result_len : cap] = '\0';
	return true;
}

struct shmrt__backend *shmrt__backend_lookup(const char *tenant)
{
	struct cds_lfht *t = cache_table();
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;
	struct shmrt__backend *be = NULL;

	if (t == NULL || tenant == NULL)
		return NULL;
	shmrt__rcu_read_lock();
	cds_lfht_lookup(t, shmrt__rcu_hash_str(tenant), match_tenant, tenant,
			&it);
	node = cds_lfht_iter_get_node(&it);
	if (node != NULL) {
		be = backend_of(node);
		shmrt__backend_ref(be);
	}
	shmrt__rcu_read_unlock();
	return be;
}

void shmrt__backend_ref(struct shmrt__backend *be)
{
	__atomic_add_fetch(&be->refs, 1, __ATOMIC_RELAXED);
}

void shmrt__backend_put(struct shmrt__backend *be)
{
	if (be != NULL &&
	    __atomic_sub_fetch(&be->refs, 1, __ATOMIC_ACQ_REL) == 0)
		be->ops->close(be);
}

/* Make the backend the spec asks for; names it in any failure. */
static int backend_make(const struct shmrt__backend_spec *spec,
			struct shmrt__backend **out)
{
	const char *name = "shm";
	int rc;

	if (spec->conf->backend == SHMRT_CONF_BACKEND_REDIS &&
	    !spec->force_inline) {
		/* Attached or not, inline or process mode: the jobs live in
		 * the server; the mode says where this host's workers run. */
		int mode = spec->conf->mode == SHMRT_CONF_MODE_INLINE
				   ? SHMRT_MODE_INLINE
				   : SHMRT_MODE_PROCESS;

		name = "redis";
		rc = shmrt__backend_redis_open(spec->conf, spec->tenant,
					       !spec->attach, mode,
					       spec->conf->test_mode, out);
	} else if (spec->attach) {
		rc = shmrt__backend_shm_attach(spec->conf, spec->tenant, out);
	} else if (spec->force_inline) {
		name = "inline";
		rc = shmrt__backend_inline_open(spec->conf, spec->tenant,
						false, true, out);
	} else if (spec->conf->mode == SHMRT_CONF_MODE_PROCESS) {
		rc = shmrt__backend_shm_create(spec->conf, spec->tenant, out);
	} else {
		name = "inline";
		rc = shmrt__backend_inline_open(spec->conf, spec->tenant,
						spec->conf->test_mode, false,
						out);
	}
	if (rc == 0)
		return 0;
	return shmrt__fail(rc, "backend %s for tenant %s: %s", name,
			   spec->conf->tenant[spec->tenant].name,
			   shmrt_last_error());
}

int shmrt__backend_get(const struct shmrt__backend_spec *spec,
		       struct shmrt__backend **out, bool *made)
{
	const char *tenant = spec->conf->tenant[spec->tenant].name;
	struct cds_lfht *t = cache_table();
	struct shmrt__backend *be;
	int rc;

	*made = false;
	if (t == NULL)
		return shmrt__fail(SHMRT_E_NOMEM, "backend cache: out of memory");
	if ((*out = shmrt__backend_lookup(tenant)) != NULL)
		return 0;
	pthread_mutex_lock(&cache_lock);
	/* Another thread may have made it since the lock-free miss. */
	if ((*out = shmrt__backend_lookup(tenant)) != NULL) {
		pthread_mutex_unlock(&cache_lock);
		return 0;
	}
	rc = backend_make(spec, &be);
	if (rc == 0) {
		be->refs = 2; /* the cache's and the caller's */
		cds_lfht_node_init(&be->node);
		__atomic_store_n(&be->published, 1, __ATOMIC_RELEASE);
		shmrt__rcu_read_lock();
		cds_lfht_add(t, shmrt__rcu_hash_str(tenant), &be->node);
		shmrt__rcu_read_unlock();
		*out = be;
		*made = true;
	}
	pthread_mutex_unlock(&cache_lock);
	return rc;
}

/* Unlink under cache_lock; the caller waits a grace period, then puts. */
static struct shmrt__backend *unlink_tenant(struct cds_lfht *t,
					    const char *tenant)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;
	struct shmrt__backend *be = NULL;

	shmrt__rcu_read_lock();
	cds_lfht_lookup(t, shmrt__rcu_hash_str(tenant), match_tenant, tenant,
			&it);
	node = cds_lfht_iter_get_node(&it);
	if (node != NULL && cds_lfht_del(t, node) == 0)
		be = caa_container_of(node, struct shmrt__backend, node);
	shmrt__rcu_read_unlock();
	return be;
}

int shmrt__backend_forget(const char *tenant)
{
	struct cds_lfht *t = cache_table();
	struct shmrt__backend *be;

	if (t == NULL || tenant == NULL)
		return SHMRT_E_NOENT;
	pthread_mutex_lock(&cache_lock);
	be = unlink_tenant(t, tenant);
	pthread_mutex_unlock(&cache_lock);
	if (be == NULL)
		return SHMRT_E_NOENT;
	shmrt__rcu_synchronize();
	shmrt__backend_put(be);
	return 0;
}

void shmrt__backend_factory_reset(void)
{
	struct cds_lfht *t = cache_table();
	struct shmrt__backend *gone[RESET_BATCH];
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;
	struct shmrt__backend *be;
	size_t n, i;

	if (t == NULL)
		return;
	do {
		n = 0;
		pthread_mutex_lock(&cache_lock);
		shmrt__rcu_read_lock();
		/* (cds_lfht_for_each_entry does pointer arithmetic on NULL
		 * at the end, which UBSan rejects: walk nodes instead.) */
		for (cds_lfht_first(t, &it);
		     (node = cds_lfht_iter_get_node(&it)) != NULL &&
		     n < sizeof(gone) / sizeof(gone[0]);
		     cds_lfht_next(t, &it)) {
			be = caa_container_of(node, struct shmrt__backend,
					      node);
			if (cds_lfht_del(t, node) == 0)
				gone[n++] = be;
		}
		shmrt__rcu_read_unlock();
		pthread_mutex_unlock(&cache_lock);
		shmrt__rcu_synchronize();
		for (i = 0; i < n; i++)
			shmrt__backend_put(gone[i]);
	} while (n > 0);
}
