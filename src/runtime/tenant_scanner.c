/*
 * src/runtime/tenant_scanner.c - one scan thread for every tenant of the
 * process (see tenant_scanner.h).
 *
 * Everything below is guarded by `mu`. The thread walks the list under
 * it, and drops it only around one scan, with `current` naming the entry
 * being scanned: remove waits on `done_cv` until the entry is not
 * current, so an entry (and the backend it borrows) is never used after
 * remove returns. While `current` is set the entry stays linked, so the
 * walk can go on from its `next` when the lock is taken back.
 */
#define _GNU_SOURCE
#include "tenant_scanner.h"

#include <pthread.h>
#include <shmrt/error.h>
#include <stddef.h>
#include <time.h>

#include "shm/error_detail.h"
#include "shm/os.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cv; /* the thread: the list changed */
static pthread_cond_t done_cv; /* removers: `current` changed */
static pthread_once_t cv_once = PTHREAD_ONCE_INIT;
static struct shmrt__scan_entry *head;
static struct shmrt__scan_entry *current;
static uint32_t nentries;
static bool thread_on;

static void cv_init(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&wake_cv, &ca);
	pthread_cond_init(&done_cv, &ca);
	pthread_condattr_destroy(&ca);
}

/* The first multiple of `interval` after `now`: entries that share an
 * interval are due at the same instants, so one pass serves them all. */
static uint64_t next_tick(uint64_t now, uint64_t interval)
{
	return (now / interval + 1) * interval;
}

/* Scan every due entry, one after the other. */
static void scan_pass(void)
{
	struct shmrt__scan_entry *e;
	uint64_t now;

	for (e = head; e != NULL; e = e->next) {
		now = shmrt__os_now_ns();
		if (now >= e->next_ns) {
			current = e;
			pthread_mutex_unlock(&mu);
			(void)e->be->ops->scan(e->be, now + e->interval_ns,
					       NULL);
			pthread_mutex_lock(&mu);
			current = NULL;
			pthread_cond_broadcast(&done_cv);
			e->next_ns =
			    next_tick(shmrt__os_now_ns(), e->interval_ns);
		}
	}
}

/* The earliest next scan of the list (entries added during the pass
 * count too); UINT64_MAX when it is empty. */
static uint64_t list_earliest(void)
{
	const struct shmrt__scan_entry *e;
	uint64_t earliest = UINT64_MAX;

	for (e = head; e != NULL; e = e->next)
		if (e->next_ns < earliest)
			earliest = e->next_ns;
	return earliest;
}

static void wait_until(uint64_t when)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(when / 1000000000u);
	ts.tv_nsec = (long)(when % 1000000000u);
	pthread_cond_timedwait(&wake_cv, &mu, &ts);
}

/* Runs while any entry is listed; the last remove lets it end. */
static void *scanner_main(void *arg)
{
	uint64_t earliest;

	(void)arg;
	pthread_mutex_lock(&mu);
	while (head != NULL) {
		scan_pass();
		earliest = list_earliest();
		if (head != NULL && shmrt__os_now_ns() < earliest)
			wait_until(earliest);
	}
	thread_on = false;
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* With mu held: make the thread unless one runs. Detached: it ends by
 * itself when the list is empty, and a later add makes a new one. */
static int thread_ensure(void)
{
	pthread_attr_t at;
	pthread_t t;
	int rc;

	if (thread_on)
		return 0;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &at, scanner_main, NULL);
	pthread_attr_destroy(&at);
	if (rc != 0)
		return shmrt__fail(SHMRT_E_SYS, "scanner: pthread_create "
						"failed");
	thread_on = true;
	return 0;
}

int shmrt__scanner_add(struct shmrt__scan_entry *e, struct shmrt__backend *be,
		       uint64_t interval_ms)
{
	int rc;

	pthread_once(&cv_once, cv_init);
	e->be = be;
	e->interval_ns = (interval_ms > 0 ? interval_ms : 1) * 1000000u;
	e->next_ns = next_tick(shmrt__os_now_ns(), e->interval_ns);
	pthread_mutex_lock(&mu);
	if ((rc = thread_ensure()) == 0) {
		e->prev = NULL;
		e->next = head;
		if (head != NULL)
			head->prev = e;
		head = e;
		e->listed = true;
		nentries++;
		pthread_cond_signal(&wake_cv);
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

void shmrt__scanner_remove(struct shmrt__scan_entry *e)
{
	pthread_once(&cv_once, cv_init);
	pthread_mutex_lock(&mu);
	/* A scan of e ends by its deadline (one interval): bounded. */
	while (current == e)
		pthread_cond_wait(&done_cv, &mu);
	if (e->listed) {
		if (e->prev != NULL)
			e->prev->next = e->next;
		else
			head = e->next;
		if (e->next != NULL)
			e->next->prev = e->prev;
		e->listed = false;
		e->prev = e->next = NULL;
		nentries--;
		pthread_cond_signal(&wake_cv);
	}
	pthread_mutex_unlock(&mu);
}

void shmrt__scanner_counts(uint32_t *entries, uint32_t *threads)
{
	pthread_mutex_lock(&mu);
	*entries = nentries;
	*threads = thread_on ? 1 : 0;
	pthread_mutex_unlock(&mu);
}
