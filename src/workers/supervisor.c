/*
 * src/workers/supervisor.c - worker processes of one tenant.
 *
 * One mutex guards the slot table. The supervisor thread is the only one
 * that spawns and reaps (waitpid on each slot's pid, never on -1, so the
 * embedding process's other children are left alone); stop only changes
 * `stopping` and sends signals, then waits for the thread to report that
 * no slot has a live process.
 *
 * The thread sleeps in poll() on a pidfd per child (readable when the
 * child exits) and an eventfd that stop rings, with a timeout only when a
 * restart is due: an idle supervisor does not wake at all. Where
 * pidfd_open is refused (a kernel before 5.3, a seccomp filter), it
 * falls back to looking every SV_FALLBACK_TICK_NS.
 */
#define _GNU_SOURCE
#include "supervisor.h"

#include <errno.h>
#include <pthread.h>
#include <shmrt/error.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/queue_backend_factory.h"
#include "shm/error_detail.h"
#include "shm/os.h"

extern char **environ;

#define SV_FALLBACK_TICK_NS 100000000u
#define QUICK_CRASH_NS 1000000000u

struct sv_slot {
	uint32_t qi;
	pid_t pid;          /* 0: no process */
	int pidfd;          /* readable once pid exits; -1: none */
	uint64_t started_ns;
	uint64_t next_ns;   /* pid 0: start at this time; UINT64_MAX: never */
	uint64_t backoff_ns;
};

struct shmrt__supervisor {
	struct shmrt__backend *be;
	char exe[4096];
	char handlers[4096];
	char parent[16];
	uint64_t backoff_min, backoff_max, term_timeout;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* CLOCK_MONOTONIC; broadcast after every round */
	int evfd;          /* rung to make the thread look again */
	posix_spawnattr_t attr; /* default signal mask and dispositions */
	bool stopping, quit;
	uint64_t restarts;
	uint32_t nslots;
	struct sv_slot *slot;
};

static void sv_deadline(uint64_t ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ns / 1000000000u);
	ts->tv_nsec = (long)(ns % 1000000000u);
}

/*
 * Workers start with an empty signal mask and default SIGINT/SIGTERM
 * dispositions, whatever the thread that spawns them blocks (shmrt run
 * blocks both to take them with sigtimedwait).
 */
static void sv_spawnattr(posix_spawnattr_t *attr)
{
	sigset_t none, def;

	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGTERM);
	posix_spawnattr_init(attr);
	posix_spawnattr_setsigmask(attr, &none);
	posix_spawnattr_setsigdefault(attr, &def);
	posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK |
					       POSIX_SPAWN_SETSIGDEF);
}

static pid_t sv_spawn(struct shmrt__supervisor *s, uint32_t qi)
{
	char *argv[16];
	int n = 0;
	pid_t pid;

	argv[n++] = "shmrt";
	argv[n++] = "worker";
	argv[n++] = "-c";
	argv[n++] = s->be->conf.path;
	argv[n++] = "-t";
	argv[n++] = s->be->tenant;
	argv[n++] = "-q";
	argv[n++] = s->be->conf.queue[qi].name;
	argv[n++] = "--parent";
	argv[n++] = s->parent;
	if (s->handlers[0] != '\0') {
		argv[n++] = "--handlers";
		argv[n++] = s->handlers;
	}
	argv[n] = NULL;
	if (posix_spawn(&pid, s->exe, NULL, &s->attr, argv, environ) != 0)
		return 0;
	return pid;
}

/* A pidfd for a child, close-on-exec; -1 where the kernel refuses. */
static int sv_pidfd(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* A slot's process is gone: schedule its restart if it crashed. */
static bool sv_reaped(struct shmrt__supervisor *s, struct sv_slot *w,
		      int status, uint64_t now)
{
	bool crashed = !WIFEXITED(status) || WEXITSTATUS(status) != 0;

	w->pid = 0;
	if (w->pidfd >= 0)
		close(w->pidfd);
	w->pidfd = -1;
	if (s->stopping || !crashed) {
		w->next_ns = UINT64_MAX;
		return false;
	}
	if (now - w->started_ns >= QUICK_CRASH_NS)
		w->backoff_ns = s->backoff_min;
	else if (w->backoff_ns == 0)
		w->backoff_ns = s->backoff_min;
	else if ((w->backoff_ns *= 2) > s->backoff_max)
		w->backoff_ns = s->backoff_max;
	w->next_ns = now + w->backoff_ns;
	s->restarts++;
	return true;
}

/* One round: reap, restart what is due. Returns whether one crashed. */
static bool sv_round(struct shmrt__supervisor *s)
{
	uint64_t now = shmrt__os_now_ns();
	bool crashed = false;
	uint32_t i;
	int status;

	for (i = 0; i < s->nslots; i++) {
		struct sv_slot *w = &s->slot[i];

		if (w->pid > 0 && waitpid(w->pid, &status, WNOHANG) == w->pid)
			crashed |= sv_reaped(s, w, status, now);
		if (w->pid == 0 && !s->stopping && now >= w->next_ns) {
			w->pid = sv_spawn(s, w->qi);
			w->pidfd = w->pid > 0 ? sv_pidfd(w->pid) : -1;
			w->started_ns = now;
			if (w->pid == 0) /* spawn failed: try again later */
				w->next_ns = now + s->backoff_max;
		}
	}
	return crashed;
}

/*
 * What the thread sleeps on (mu held): the pidfds of live children and
 * the eventfd in fds[0..n), and how long: until the next restart is due,
 * or forever (-1). A child without a pidfd makes it look every tick.
 */
static int sv_sleep_set(struct shmrt__supervisor *s, struct pollfd *fds,
			nfds_t *n)
{
	uint64_t now = shmrt__os_now_ns(), until = UINT64_MAX;
	uint32_t i;

	fds[0] = (struct pollfd){ .fd = s->evfd, .events = POLLIN };
	*n = 1;
	for (i = 0; i < s->nslots; i++) {
		const struct sv_slot *w = &s->slot[i];

		if (w->pid > 0 && w->pidfd >= 0)
			fds[(*n)++] = (struct pollfd){ .fd = w->pidfd,
						       .events = POLLIN };
		else if (w->pid > 0 && now + SV_FALLBACK_TICK_NS < until)
			until = now + SV_FALLBACK_TICK_NS;
		else if (w->pid == 0 && !s->stopping && w->next_ns < until)
			until = w->next_ns;
	}
	if (until == UINT64_MAX)
		return -1;
	return until <= now ? 0 : (int)((until - now + 999999) / 1000000);
}

static void *sv_main(void *arg)
{
	struct shmrt__supervisor *s = arg;
	struct pollfd *fds = calloc(s->nslots + 1, sizeof(*fds));
	uint64_t ring;
	nfds_t n;
	int timeout_ms;

	pthread_mutex_lock(&s->mu);
	while (!s->quit) {
		if (sv_round(s)) {
			/* Requeue the dead worker's job now, not at the next
			 * periodic scan (outside the lock: it may wait). */
			pthread_mutex_unlock(&s->mu);
			(void)s->be->ops->scan(s->be, shmrt__os_now_ns() +
						      1000000000u, NULL);
			pthread_mutex_lock(&s->mu);
		}
		pthread_cond_broadcast(&s->cv);
		if (s->quit)
			break;
		if (fds == NULL) { /* out of memory: look every tick */
			struct timespec ts;

			sv_deadline(shmrt__os_now_ns() + SV_FALLBACK_TICK_NS,
				    &ts);
			pthread_cond_timedwait(&s->cv, &s->mu, &ts);
			continue;
		}
		timeout_ms = sv_sleep_set(s, fds, &n);
		pthread_mutex_unlock(&s->mu);
		if (poll(fds, n, timeout_ms) > 0 && (fds[0].revents & POLLIN))
			(void)!read(s->evfd, &ring, sizeof(ring));
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	free(fds);
	return NULL;
}

/* Make the thread look again now (mu need not be held). */
static void sv_ring(struct shmrt__supervisor *s)
{
	uint64_t one = 1;

	(void)!write(s->evfd, &one, sizeof(one));
}

static uint32_t sv_running(const struct shmrt__supervisor *s)
{
	uint32_t i, n = 0;

	for (i = 0; i < s->nslots; i++)
		n += s->slot[i].pid > 0;
	return n;
}

static uint64_t or_default(uint64_t v, uint64_t d)
{
	return v != 0 ? v : d;
}

static int sv_slots(struct shmrt__supervisor *s)
{
	const struct shmrt_conf *c = &s->be->conf;
	uint32_t qi, k, n = 0;

	for (qi = 0; qi < c->nqueues; qi++)
		n += c->queue[qi].workers;
	s->slot = calloc(n ? n : 1, sizeof(*s->slot));
	if (s->slot == NULL)
		return SHMRT_E_NOMEM;
	for (qi = 0; qi < c->nqueues; qi++)
		for (k = 0; k < c->queue[qi].workers; k++) {
			s->slot[s->nslots].pidfd = -1;
			s->slot[s->nslots++].qi = qi;
		}
	return 0;
}

static void sv_free(struct shmrt__supervisor *s)
{
	shmrt__backend_put(s->be);
	posix_spawnattr_destroy(&s->attr);
	if (s->evfd >= 0)
		close(s->evfd);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s->slot);
	free(s);
}

int shmrt__supervisor_start(struct shmrt__backend *be,
			    const struct shmrt__supervisor_opts *o,
			    struct shmrt__supervisor **out)
{
	struct shmrt__supervisor *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;

	if (s == NULL)
		return shmrt__fail(SHMRT_E_NOMEM, "supervisor: out of memory");
	shmrt__backend_ref(be);
	s->be = be;
	snprintf(s->exe, sizeof(s->exe), "%s",
		 o->exe ? o->exe : "/proc/self/exe");
	snprintf(s->handlers, sizeof(s->handlers), "%s",
		 o->handlers ? o->handlers : "");
	snprintf(s->parent, sizeof(s->parent), "%d", (int)shmrt__os_pid());
	s->backoff_min = or_default(o->backoff_min_ns, 50000000u);
	s->backoff_max = or_default(o->backoff_max_ns, 2000000000u);
	s->term_timeout = or_default(o->term_timeout_ns, 2000000000u);
	sv_spawnattr(&s->attr);
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	s->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sv_slots(s) != 0 || s->evfd < 0) {
		sv_free(s);
		return shmrt__fail(SHMRT_E_NOMEM, "supervisor: out of memory "
				   "or file descriptors");
	}
	if (pthread_create(&s->thread, NULL, sv_main, s) != 0) {
		sv_free(s);
		return shmrt__fail(SHMRT_E_SYS, "supervisor: pthread_create "
				   "failed");
	}
	*out = s;
	return 0;
}

/* Wait (mu held) until no slot has a process, or deadline. */
static bool sv_wait_gone(struct shmrt__supervisor *s, uint64_t deadline)
{
	struct timespec ts;

	sv_deadline(deadline, &ts);
	while (sv_running(s) > 0 && shmrt__os_now_ns() < deadline)
		pthread_cond_timedwait(&s->cv, &s->mu, &ts);
	return sv_running(s) == 0;
}

static void sv_signal_all(struct shmrt__supervisor *s, int sig)
{
	uint32_t i;

	for (i = 0; i < s->nslots; i++)
		if (s->slot[i].pid > 0)
			kill(s->slot[i].pid, sig);
}

int shmrt__supervisor_stop(struct shmrt__supervisor *s, uint64_t drain_ns)
{
	uint64_t now = shmrt__os_now_ns();
	int rc = 0;

	if (s == NULL)
		return 0;
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_mutex_unlock(&s->mu);
	sv_ring(s);
	if (s->be->ops->state(s->be) == SHMRT__BE_READY)
		s->be->ops->set_state(s->be, SHMRT__BE_DRAINING);
	pthread_mutex_lock(&s->mu);
	if (!sv_wait_gone(s, now + drain_ns)) {
		rc = SHMRT_E_TIMEDOUT;
		sv_signal_all(s, SIGTERM);
		if (!sv_wait_gone(s, shmrt__os_now_ns() + s->term_timeout)) {
			sv_signal_all(s, SIGKILL);
			sv_wait_gone(s, UINT64_MAX);
		}
	}
	s->quit = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	sv_ring(s);
	pthread_join(s->thread, NULL);
	sv_free(s);
	return rc;
}

void shmrt__supervisor_get_info(struct shmrt__supervisor *s,
				struct shmrt__supervisor_info *info)
{
	uint32_t i, n;

	memset(info, 0, sizeof(*info));
	pthread_mutex_lock(&s->mu);
	info->nworkers = s->nslots;
	info->running = sv_running(s);
	info->restarts = s->restarts;
	n = s->nslots < 256 ? s->nslots : 256;
	for (i = 0; i < n; i++)
		info->pid[i] = s->slot[i].pid;
	pthread_mutex_unlock(&s->mu);
}
