/*
 * bench/mutex_ring.c - a mutex + condition variable ring in shared
 * memory: the baseline of the oversubscription workload.
 */
#define _GNU_SOURCE
#include "mutex_ring.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static struct timespec abs_ts(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u),
			       (long)(ns % 1000000000u) };

	return ts;
}

int mutex_ring_init(struct mutex_ring *r)
{
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;
	int i, rc = 0;

	memset(r, 0, sizeof(*r));
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	rc |= pthread_mutex_init(&r->mu, &ma);
	pthread_mutexattr_destroy(&ma);
	pthread_condattr_init(&ca);
	pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	rc |= pthread_cond_init(&r->not_empty, &ca);
	rc |= pthread_cond_init(&r->not_full, &ca);
	for (i = 0; i < MR_PRODUCERS; i++)
		rc |= pthread_cond_init(&r->done_cv[i], &ca);
	pthread_condattr_destroy(&ca);
	return rc == 0 ? 0 : -1;
}

void mutex_ring_destroy(struct mutex_ring *r)
{
	int i;

	pthread_cond_destroy(&r->not_empty);
	pthread_cond_destroy(&r->not_full);
	for (i = 0; i < MR_PRODUCERS; i++)
		pthread_cond_destroy(&r->done_cv[i]);
	pthread_mutex_destroy(&r->mu);
}

/* Wait on cv under r->mu; -1 once the deadline has passed. */
static int cv_wait(struct mutex_ring *r, pthread_cond_t *cv, uint64_t deadline)
{
	struct timespec ts = abs_ts(deadline);

	return pthread_cond_timedwait(cv, &r->mu, &ts) == ETIMEDOUT ? -1 : 0;
}

int mutex_ring_put(struct mutex_ring *r, const struct mr_job *j,
		   uint64_t deadline_ns)
{
	int rc = 0;

	pthread_mutex_lock(&r->mu);
	while (r->count == MR_CAPACITY && rc == 0)
		rc = cv_wait(r, &r->not_full, deadline_ns);
	if (r->count < MR_CAPACITY) {
		r->jobs[(r->head + r->count) % MR_CAPACITY] = *j;
		r->count++;
		pthread_cond_signal(&r->not_empty);
		rc = 0;
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

int mutex_ring_take(struct mutex_ring *r, struct mr_job *j,
		    uint64_t deadline_ns)
{
	int rc = 0;

	pthread_mutex_lock(&r->mu);
	while (r->count == 0 && !r->stop && rc == 0)
		rc = cv_wait(r, &r->not_empty, deadline_ns);
	if (r->count > 0) {
		*j = r->jobs[r->head];
		r->head = (r->head + 1) % MR_CAPACITY;
		r->count--;
		pthread_cond_signal(&r->not_full);
		rc = 0;
	} else if (r->stop) {
		rc = 1;
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

void mutex_ring_done(struct mutex_ring *r, uint32_t producer, uint64_t seq)
{
	if (producer >= MR_PRODUCERS)
		return;
	pthread_mutex_lock(&r->mu);
	r->done_seq[producer] = seq;
	pthread_cond_signal(&r->done_cv[producer]);
	pthread_mutex_unlock(&r->mu);
}

int mutex_ring_wait_done(struct mutex_ring *r, uint32_t producer,
			 uint64_t seq, uint64_t deadline_ns)
{
	int rc = 0;

	if (producer >= MR_PRODUCERS)
		return -1;
	pthread_mutex_lock(&r->mu);
	while (r->done_seq[producer] < seq && rc == 0)
		rc = cv_wait(r, &r->done_cv[producer], deadline_ns);
	if (r->done_seq[producer] >= seq)
		rc = 0;
	pthread_mutex_unlock(&r->mu);
	return rc;
}

void mutex_ring_stop(struct mutex_ring *r)
{
	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_cond_broadcast(&r->not_empty);
	pthread_mutex_unlock(&r->mu);
}
