/*
 * src/runtime/rcu_reader.c - memb-flavor RCU with lazy registration.
 */
#define _GNU_SOURCE
#include "rcu_reader.h"

#include <pthread.h>
#include <stdint.h>
#include <urcu/urcu-memb.h>

/* Exported by liburcu-memb; its header maps it only under URCU_API_MAP. */
extern const struct rcu_flavor_struct urcu_memb_flavor;

/*
 * ThreadSanitizer cannot see a grace period (liburcu is not instrumented,
 * and the memb flavor orders with membarrier), so it would report every
 * free after shmrt__rcu_synchronize as a race with the readers. In TSan
 * builds only, each reader ends its section with a release RMW on one
 * counter and the synchronizer does an acquire load after the grace
 * period: an edge TSan sees, from every finished reader to the free, and
 * true by the grace period's own guarantee.
 */
#if defined(__SANITIZE_THREAD__)
static unsigned long tsan_grace;
#define TSAN_READER_DONE() \
	((void)__atomic_fetch_add(&tsan_grace, 1, __ATOMIC_RELEASE))
#define TSAN_GRACE_DONE() ((void)__atomic_load_n(&tsan_grace, __ATOMIC_ACQUIRE))
#else
#define TSAN_READER_DONE() ((void)0)
#define TSAN_GRACE_DONE() ((void)0)
#endif

static pthread_key_t reader_key;
static pthread_once_t reader_once = PTHREAD_ONCE_INIT;
static __thread int reader_registered;

/* Thread exit: a registered reader leaves the reader registry. */
static void reader_exit(void *arg)
{
	(void)arg;
	if (reader_registered) {
		urcu_memb_unregister_thread();
		reader_registered = 0;
	}
}

static void reader_key_init(void)
{
	(void)pthread_key_create(&reader_key, reader_exit);
}

static void reader_register(void)
{
	pthread_once(&reader_once, reader_key_init);
	urcu_memb_register_thread();
	reader_registered = 1;
	/* Any non-NULL value makes the destructor run at thread exit. */
	(void)pthread_setspecific(reader_key, &reader_registered);
}

void shmrt__rcu_read_lock(void)
{
	if (!reader_registered)
		reader_register();
	urcu_memb_read_lock();
}

void shmrt__rcu_read_unlock(void)
{
	TSAN_READER_DONE();
	urcu_memb_read_unlock();
}

void shmrt__rcu_synchronize(void)
{
	urcu_memb_synchronize_rcu();
	TSAN_GRACE_DONE();
}

struct cds_lfht *shmrt__rcu_table_new(unsigned long buckets)
{
	return cds_lfht_new_flavor(buckets, buckets, buckets, 0,
				   &urcu_memb_flavor, NULL);
}

unsigned long shmrt__rcu_hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ull;
	return (unsigned long)h;
}
