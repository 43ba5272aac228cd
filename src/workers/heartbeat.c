/*
 * src/workers/heartbeat.c - the heart thread of a process's workers.
 *
 * A small table of (backend, seat) under a mutex; the thread takes the
 * mutex for each round of beats, so remove (which takes it too) cannot
 * return while a beat of its seat is in progress.
 */
#define _GNU_SOURCE
#include "heartbeat.h"

#include <pthread.h>
#include <shmrt/error.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "shm/error_detail.h"
#include "shm/os.h"

#define HEART_SEATS 1024u

struct heart_seat {
	struct shmrt__backend *be;
	struct shmrt__consumer *c;
};

struct shmrt__heart {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* CLOCK_MONOTONIC; signalled by stop */
	pthread_t thread;
	bool stop;
	uint64_t interval_ns;
	uint32_t nseats;
	struct heart_seat seats[HEART_SEATS];
};

static void beat_all(struct shmrt__heart *h)
{
	uint32_t i;

	for (i = 0; i < h->nseats; i++)
		h->seats[i].be->ops->heartbeat(h->seats[i].be, h->seats[i].c);
}

static void *heart_main(void *arg)
{
	struct shmrt__heart *h = arg;
	struct timespec ts;
	uint64_t next;

	pthread_mutex_lock(&h->mu);
	while (!h->stop) {
		beat_all(h);
		next = shmrt__os_now_ns() + h->interval_ns;
		ts.tv_sec = (time_t)(next / 1000000000u);
		ts.tv_nsec = (long)(next % 1000000000u);
		while (!h->stop && shmrt__os_now_ns() < next)
			pthread_cond_timedwait(&h->cv, &h->mu, &ts);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

uint64_t shmrt__heart_interval(const struct shmrt__backend *be)
{
	uint64_t ms = be->conf.heartbeat_timeout_ms;

	return ms == 0 ? 1000000000u : ms * 1000000u / 4u;
}

int shmrt__heart_start(uint64_t interval_ns, struct shmrt__heart **out)
{
	struct shmrt__heart *h = calloc(1, sizeof(*h));
	pthread_condattr_t ca;

	if (h == NULL)
		return shmrt__fail(SHMRT_E_NOMEM, "heartbeat: out of memory");
	h->interval_ns = interval_ns < 1000000u ? 1000000u : interval_ns;
	pthread_mutex_init(&h->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&h->thread, NULL, heart_main, h) != 0) {
		pthread_cond_destroy(&h->cv);
		pthread_mutex_destroy(&h->mu);
		free(h);
		return shmrt__fail(SHMRT_E_SYS, "heartbeat: pthread_create "
				   "failed");
	}
	*out = h;
	return 0;
}

int shmrt__heart_add(struct shmrt__heart *h, struct shmrt__backend *be,
		     struct shmrt__consumer *c)
{
	int rc = 0;

	pthread_mutex_lock(&h->mu);
	if (h->nseats == HEART_SEATS)
		rc = shmrt__fail(SHMRT_E_NOMEM, "heartbeat: more than %u "
				 "workers in one process", HEART_SEATS);
	else
		h->seats[h->nseats++] = (struct heart_seat){ be, c };
	pthread_mutex_unlock(&h->mu);
	return rc;
}

void shmrt__heart_remove(struct shmrt__heart *h, struct shmrt__consumer *c)
{
	uint32_t i;

	pthread_mutex_lock(&h->mu);
	for (i = 0; i < h->nseats; i++)
		if (h->seats[i].c == c) {
			h->seats[i] = h->seats[--h->nseats];
			break;
		}
	pthread_mutex_unlock(&h->mu);
}

void shmrt__heart_stop(struct shmrt__heart *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->mu);
	h->stop = true;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->thread, NULL);
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	free(h);
}
