/*
 * src/runtime/handler_registry.c - job kind -> handler function + context.
 */
#define _GNU_SOURCE
#include "handler_registry.h"

#include <pthread.h>
#include <shmrt/error.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/conf.h"
#include "runtime/rcu_reader.h"
#include "shm/error_detail.h"
#include "shm/segment.h"

#define REGISTRY_BUCKETS 64

struct reg_entry {
	struct cds_lfht_node node;
	int published; /* 1, stored (release) before the entry is linked */
	shmrt_handler_fn fn;
	void *ctx;
	char kind[SHMRT_CONF_HANDLER_MAX];
};

static struct cds_lfht *registry;
static pthread_once_t registry_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

static void registry_init(void)
{
	registry = shmrt__rcu_table_new(REGISTRY_BUCKETS);
}

static struct cds_lfht *registry_table(void)
{
	pthread_once(&registry_once, registry_init);
	return registry;
}

/*
 * liburcu publishes nodes with barriers ThreadSanitizer cannot see (it is
 * not instrumented); the acquire load of `published`, paired with the
 * release store before linking, is an edge it does see, and costs
 * nothing on x86. Every reader reads an entry's fields after it.
 */
static const struct reg_entry *entry_of(struct cds_lfht_node *node)
{
	const struct reg_entry *e =
	    caa_container_of(node, struct reg_entry, node);

	(void)__atomic_load_n(&e->published, __ATOMIC_ACQUIRE);
	return e;
}

static int match_kind(struct cds_lfht_node *node, const void *key)
{
	return strcmp(entry_of(node)->kind, key) == 0;
}

static bool kind_valid(const char *kind)
{
	return kind != NULL && kind[0] != '\0' &&
	       strlen(kind) < SHMRT_CONF_HANDLER_MAX &&
	       shmrt__name_chars_valid(kind);
}

int shmrt_handler_register(const char *kind, shmrt_handler_fn fn, void *ctx)
{
	struct cds_lfht *t = registry_table();
	struct cds_lfht_node *old;
	struct reg_entry *e;

	if (!kind_valid(kind) || fn == NULL)
		return shmrt__fail(SHMRT_E_INVAL, "handler_register: kind "
				   "must be 1..%d of [A-Za-z0-9._-] and fn "
				   "non-NULL",
				   SHMRT_CONF_HANDLER_MAX - 1);
	if (t == NULL || (e = calloc(1, sizeof(*e))) == NULL)
		return shmrt__fail(SHMRT_E_NOMEM, "handler_register: out of "
				   "memory");
	memcpy(e->kind, kind, strlen(kind) + 1);
	e->fn = fn;
	e->ctx = ctx;
	cds_lfht_node_init(&e->node);
	__atomic_store_n(&e->published, 1, __ATOMIC_RELEASE);
	pthread_mutex_lock(&registry_lock);
	shmrt__rcu_read_lock();
	old = cds_lfht_add_replace(t, shmrt__rcu_hash_str(kind), match_kind,
				   kind, &e->node);
	shmrt__rcu_read_unlock();
	pthread_mutex_unlock(&registry_lock);
	if (old != NULL) {
		shmrt__rcu_synchronize();
		free(caa_container_of(old, struct reg_entry, node));
	}
	return 0;
}

/* Unlink kind's entry (under registry_lock); NULL if none. */
static struct reg_entry *registry_unlink(struct cds_lfht *t, const char *kind)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;
	struct reg_entry *e = NULL;

	shmrt__rcu_read_lock();
	cds_lfht_lookup(t, shmrt__rcu_hash_str(kind), match_kind, kind, &it);
	node = cds_lfht_iter_get_node(&it);
	if (node != NULL && cds_lfht_del(t, node) == 0)
		e = caa_container_of(node, struct reg_entry, node);
	shmrt__rcu_read_unlock();
	return e;
}

int shmrt_handler_unregister(const char *kind)
{
	struct cds_lfht *t = registry_table();
	struct reg_entry *e = NULL;

	if (t != NULL && kind != NULL) {
		pthread_mutex_lock(&registry_lock);
		e = registry_unlink(t, kind);
		pthread_mutex_unlock(&registry_lock);
	}
	if (e == NULL)
		return shmrt__fail(SHMRT_E_INVAL, "handler_unregister: no "
				   "handler for kind '%s'",
				   kind ? kind : "(null)");
	shmrt__rcu_synchronize();
	free(e);
	return 0;
}

int shmrt__registry_find(const char *kind, shmrt_handler_fn *fn, void **ctx)
{
	struct cds_lfht *t = registry_table();
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;
	int rc = SHMRT_E_NOHANDLER;

	if (t == NULL || kind == NULL)
		return shmrt__fail(rc, "no handler registered for kind '%s'",
				   kind ? kind : "(null)");
	shmrt__rcu_read_lock();
	cds_lfht_lookup(t, shmrt__rcu_hash_str(kind), match_kind, kind, &it);
	node = cds_lfht_iter_get_node(&it);
	if (node != NULL) {
		const struct reg_entry *e = entry_of(node);

		*fn = e->fn;
		*ctx = e->ctx;
		rc = 0;
	}
	shmrt__rcu_read_unlock();
	if (rc != 0)
		return shmrt__fail(rc, "no handler registered for kind '%s'",
				   kind);
	return 0;
}

void shmrt__registry_reset(void)
{
	struct cds_lfht *t = registry_table();
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;
	struct reg_entry *e, *gone[REGISTRY_BUCKETS * 4];
	size_t n, i;

	if (t == NULL)
		return;
	do {
		n = 0;
		pthread_mutex_lock(&registry_lock);
		shmrt__rcu_read_lock();
		/* (cds_lfht_for_each_entry does pointer arithmetic on NULL
		 * at the end, which UBSan rejects: walk nodes instead.) */
		for (cds_lfht_first(t, &it);
		     (node = cds_lfht_iter_get_node(&it)) != NULL &&
		     n < sizeof(gone) / sizeof(gone[0]);
		     cds_lfht_next(t, &it)) {
			e = caa_container_of(node, struct reg_entry, node);
			if (cds_lfht_del(t, node) == 0)
				gone[n++] = e;
		}
		shmrt__rcu_read_unlock();
		pthread_mutex_unlock(&registry_lock);
		shmrt__rcu_synchronize();
		for (i = 0; i < n; i++)
			free(gone[i]);
	} while (n > 0);
}
