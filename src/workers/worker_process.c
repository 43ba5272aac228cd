/*
 * src/workers/worker_process.c - the body of a worker process.
 *
 * Signals: SIGTERM and SIGINT are blocked in every thread and taken by the
 * main thread with sigtimedwait, which then sets the shared stop flag with
 * an atomic store: no handler runs on a worker thread, and nothing is
 * written from signal context. A worker thread that leaves tells the main
 * thread with SIGUSR1 (blocked too, taken the same way), so an idle worker
 * process has no thread that wakes on a tick.
 */
#define _GNU_SOURCE
#include "worker_process.h"

#include <errno.h>
#include <pthread.h>
#include <shmrt/error.h>
#include <shmrt/runtime.h>
#include <shmrt/worker.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "runtime/queue_backend_factory.h"
#include "shm/error_detail.h"
#include "workers/heartbeat.h"
#include "workers/worker_loop.h"

struct wp_thread {
	pthread_t thread;
	struct shmrt__backend *be;
	uint32_t qi;
	struct shmrt__worker_opts opts;
	pthread_t main; /* told with SIGUSR1 when the loop returned */
	int rc;
	int done; /* set (release) when the loop returned */
};

static void *wp_thread_main(void *arg)
{
	struct wp_thread *t = arg;

	t->rc = shmrt__worker_run(t->be, t->qi, &t->opts, NULL);
	__atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
	pthread_kill(t->main, SIGUSR1);
	return NULL;
}

/* Resolve the queue names to indexes; every queue when none is named. */
static int wp_queues(const struct shmrt__worker_process *wp,
		     struct shmrt__backend *be, uint32_t *qi, uint32_t *n)
{
	uint32_t i;
	int q;

	if (wp->nqueues == 0) {
		for (i = 0; i < be->conf.nqueues; i++)
			qi[i] = i;
		*n = be->conf.nqueues;
		return 0;
	}
	for (i = 0; i < wp->nqueues; i++) {
		if ((q = shmrt__backend_queue(be, wp->queue[i])) < 0)
			return q;
		qi[i] = (uint32_t)q;
	}
	*n = wp->nqueues;
	return 0;
}

static bool all_done(const struct wp_thread *t, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (!__atomic_load_n(&t[i].done, __ATOMIC_ACQUIRE))
			return false;
	return true;
}

/*
 * The main thread's watch: signals in, stop flag out, until all left.
 * A leaving thread sends SIGUSR1; the 10 s timeout is only a net (a
 * signal is never lost once sent: it stays pending until taken).
 */
static void wp_watch(struct wp_thread *t, uint32_t n, int *stop)
{
	struct timespec net = { 10, 0 };
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	while (!all_done(t, n)) {
		sig = sigtimedwait(&set, NULL, &net);
		if (sig == SIGTERM || sig == SIGINT)
			__atomic_store_n(stop, 1, __ATOMIC_RELEASE);
	}
}

static int wp_serve(struct shmrt__backend *be, const uint32_t *qi,
		    uint32_t n)
{
	static struct wp_thread t[SHMRT__WORKER_MAX_THREADS];
	struct shmrt__heart *heart;
	int stop = 0, rc;
	uint32_t i, started = 0;

	if ((rc = shmrt__heart_start(shmrt__heart_interval(be), &heart)) != 0)
		return rc;
	for (i = 0; i < n; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].be = be;
		t[i].qi = qi[i];
		t[i].opts.stop = &stop;
		t[i].opts.heart = heart;
		t[i].main = pthread_self();
		if (pthread_create(&t[i].thread, NULL, wp_thread_main,
				   &t[i]) != 0) {
			rc = shmrt__fail(SHMRT_E_SYS, "worker: pthread_create "
					 "failed");
			__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
			break;
		}
		started++;
	}
	wp_watch(t, started, &stop);
	for (i = 0; i < started; i++) {
		pthread_join(t[i].thread, NULL);
		if (rc == 0)
			rc = t[i].rc;
	}
	shmrt__heart_stop(heart);
	return rc;
}

/* Die with the supervisor: SIGTERM (taken by wp_watch) when it exits. */
static int wp_follow_parent(pid_t parent)
{
	if (parent <= 0)
		return 0;
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
		return shmrt__fail(SHMRT_E_SYS, "worker: supervisor %d is "
				   "gone", (int)parent);
	return 0;
}

int shmrt__worker_process_main(const struct shmrt__worker_process *wp,
			       int *stage)
{
	uint32_t qi[SHMRT__WORKER_MAX_THREADS], n = 0;
	struct shmrt__backend *be;
	sigset_t set;
	int rc;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	*stage = SHMRT__WP_HANDLERS;
	if (wp->handlers != NULL &&
	    (rc = shmrt_handlers_load(wp->handlers)) != 0)
		return rc;
	*stage = SHMRT__WP_RUN;
	if ((rc = wp_follow_parent(wp->parent)) != 0)
		return rc;
	*stage = SHMRT__WP_ATTACH;
	if ((rc = shmrt_tenant_attach(wp->conf_path, wp->tenant)) != 0)
		return rc;
	if ((be = shmrt__backend_lookup(wp->tenant)) == NULL) {
		rc = shmrt__fail(SHMRT_E_NOENT, "worker: tenant %s vanished",
				 wp->tenant);
		goto detach;
	}
	*stage = SHMRT__WP_QUEUE;
	if ((rc = wp_queues(wp, be, qi, &n)) == 0) {
		*stage = SHMRT__WP_RUN;
		rc = wp_serve(be, qi, n);
	}
	shmrt__backend_put(be);
detach:
	shmrt_tenant_detach(wp->tenant);
	if (rc == 0)
		*stage = SHMRT__WP_OK;
	return rc;
}
