/*
 * bench/shmrt_worker.c - the benchmark's no-op shmrt worker, as threads
 * or as processes.
 */
#define _GNU_SOURCE
#include "shmrt_worker.h"

#include <errno.h>
#include <signal.h>
#include <shmrt/error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "shm/job.h"
#include "shm/os.h"

#define LEASE_SLICE_MS 100   /* how often an idle worker checks `stop` */
#define IDLE_LIMIT_MS  60000 /* no job for this long: the starter is gone */
#define READY_MS       10000
#define EXIT_MS	       20000

void bw_payload_init(struct bw_payload *p, uint32_t kind, uint32_t producer,
		     uint64_t seq)
{
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->producer = producer;
	p->seq = seq;
}

static int should_leave(struct shmrt__seg *seg, struct bw_report *rep,
			uint64_t idle_since)
{
	if (__atomic_load_n(&rep->stop, __ATOMIC_ACQUIRE))
		return 1;
	if (shmrt__seg_state(seg) != SHMRT__SEG_READY)
		return 1;
	return bench_now_ns() - idle_since > IDLE_LIMIT_MS * 1000000ull;
}

/* Run one leased job; 1 when it was the STOP job. */
static int run_job(struct shmrt__part *part, struct shmrt__seg *seg,
		   const struct shmrt__lease *l, const struct bw_payload *pl,
		   unsigned flags, struct bw_report *rep)
{
	int stop = l->payload_len >= sizeof(uint32_t) && pl->kind == BW_STOP;
	int rc = shmrt__job_complete(part, l, NULL, 0);

	if (rc != 0) {
		rep->err = rc;
		return 1;
	}
	if (stop || (flags & BW_RELEASE))
		shmrt__job_release(seg, l->id);
	if (stop) {
		__atomic_store_n(&rep->last_ns, bench_now_ns(),
				 __ATOMIC_RELEASE);
		return 1;
	}
	rep->jobs++;
	return 0;
}

int bw_run(struct shmrt__seg *seg, uint32_t qi, unsigned flags,
	   struct bw_report *rep)
{
	struct shmrt__part part;
	struct shmrt__lease l;
	size_t size = seg->q[qi].slot_size;
	void *buf = calloc(1, size < BW_PAYLOAD ? BW_PAYLOAD : size);
	uint64_t idle_since = bench_now_ns();
	int rc;

	if (buf == NULL) {
		rep->err = SHMRT_E_NOMEM;
		return rep->err;
	}
	rc = shmrt__part_join(seg, SHMRT__ROLE_WORKER, &part);
	if (rc != 0) {
		free(buf);
		rep->err = rc;
		return rc;
	}
	rep->tid = (int32_t)shmrt__os_tid();
	__atomic_store_n(&rep->ready, 1, __ATOMIC_RELEASE);
	for (;;) {
		rc = shmrt__job_lease(&part, qi, buf, size,
				      bench_deadline_ms(LEASE_SLICE_MS), &l);
		if (rc == SHMRT_E_TIMEDOUT) {
			if (should_leave(seg, rep, idle_since))
				break;
			continue;
		}
		if (rc != 0) {
			rep->err = rc;
			break;
		}
		idle_since = bench_now_ns();
		if (run_job(&part, seg, &l, buf, flags, rep))
			break;
	}
	bench_rss_self(&rep->rss);
	shmrt__part_leave(&part);
	free(buf);
	return rep->err;
}

/* argv: tenant, flags, report index */
int bench_worker_child(int argc, char **argv)
{
	struct shmrt__seg seg;
	struct bw_report *reps;
	size_t size;
	int idx, rc;

	if (argc < 3)
		return BENCH_EX_USAGE;
	idx = atoi(argv[2]);
	reps = bench_shared_child(0, &size);
	if (reps == NULL || idx < 0 ||
	    (size_t)(idx + 1) * sizeof(*reps) > size)
		return BENCH_EX_SETUP;
	rc = shmrt__seg_attach(argv[0], &seg);
	if (rc != 0) {
		reps[idx].err = rc;
		return BENCH_EX_SETUP;
	}
	rc = bw_run(&seg, 0, (unsigned)atoi(argv[1]), &reps[idx]);
	shmrt__seg_detach(&seg);
	return rc == 0 ? BENCH_EX_OK : 1;
}

struct bw_thread_arg {
	struct shmrt__seg *seg;
	unsigned flags;
	struct bw_report *rep;
};

static void *bw_thread(void *p)
{
	struct bw_thread_arg *a = p;

	bw_run(a->seg, 0, a->flags, a->rep);
	free(a);
	return NULL;
}

static int start_one(struct bw_set *s, int i, const char *tenant)
{
	char flags[16], idx[16];
	const char *args[] = { tenant, flags, idx, NULL };
	struct bw_thread_arg *a;

	if (!s->inline_mode) {
		snprintf(flags, sizeof(flags), "%u", s->flags);
		snprintf(idx, sizeof(idx), "%d", i);
		return bench_spawn(&s->kids[i], "worker", &s->reps_fd, 1,
				   args);
	}
	a = malloc(sizeof(*a));
	if (a == NULL)
		return -1;
	*a = (struct bw_thread_arg){ s->seg, s->flags, &s->reps[i] };
	if (pthread_create(&s->th[i], NULL, bw_thread, a) != 0) {
		free(a);
		return -1;
	}
	return 0;
}

static int wait_ready(struct bw_set *s)
{
	uint64_t deadline = bench_deadline_ms(READY_MS);
	int i;

	for (i = 0; i < s->n; i++) {
		while (!__atomic_load_n(&s->reps[i].ready, __ATOMIC_ACQUIRE)) {
			if (s->reps[i].err != 0 || bench_now_ns() > deadline)
				return -1;
			shmrt__os_sleep_ns(200000);
		}
	}
	return 0;
}

int bw_start(struct bw_set *s, struct shmrt__seg *seg, const char *tenant,
	     int n, unsigned flags)
{
	int i;

	memset(s, 0, sizeof(*s));
	s->n = n > BW_MAX ? BW_MAX : n;
	s->inline_mode = tenant == NULL;
	s->seg = seg;
	s->flags = flags;
	s->reps = bench_shared_new(sizeof(*s->reps) * BW_MAX, &s->reps_fd);
	if (s->reps == NULL)
		return -1;
	for (i = 0; i < s->n; i++) {
		if (start_one(s, i, tenant) != 0)
			break;
		s->started[i] = 1;
	}
	if (i == s->n && wait_ready(s) == 0)
		return 0;
	for (i = 0; i < s->n; i++)
		__atomic_store_n(&s->reps[i].stop, 1, __ATOMIC_RELEASE);
	bw_stop(s, NULL);
	bw_free(s);
	return -1;
}

void bw_free(struct bw_set *s)
{
	if (s->reps != NULL)
		bench_shared_free(s->reps, sizeof(*s->reps) * BW_MAX,
				  s->reps_fd);
	s->reps = NULL;
}

/* Join a thread with a deadline; 0 when joined. */
static int join_thread(pthread_t th, int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return pthread_timedjoin_np(th, NULL, &ts);
}

static int reap_one(struct bw_set *s, int i)
{
	int rc;

	if (!s->inline_mode)
		return bench_child_wait(&s->kids[i], EXIT_MS) == 0 ? 0 : -1;
	rc = join_thread(s->th[i], EXIT_MS);
	if (rc == ETIMEDOUT) {
		__atomic_store_n(&s->reps[i].stop, 1, __ATOMIC_RELEASE);
		rc = join_thread(s->th[i], EXIT_MS);
		if (rc == 0)
			rc = -1; /* it left, but only when told to */
	}
	if (rc == ETIMEDOUT) {
		/* A thread that ignores `stop` cannot be reclaimed: the
		 * run cannot continue safely on this segment. */
		fprintf(stderr, "bench: inline worker %d is stuck\n", i);
		raise(SIGTERM); /* the cleanup handler of proc.c */
	}
	return rc == 0 ? 0 : -1;
}

int bw_stop(struct bw_set *s, struct shmrt__part *producer)
{
	struct bw_payload pl;
	shmrt_job_id id;
	int i, rc = 0;

	for (i = 0; producer != NULL && i < s->n; i++) {
		bw_payload_init(&pl, BW_STOP, 0, 0);
		if (shmrt__job_enqueue(producer, 0, &pl, sizeof(pl),
				       bench_deadline_ms(EXIT_MS), &id) != 0)
			rc = -1;
	}
	if (rc != 0)
		for (i = 0; i < s->n; i++)
			__atomic_store_n(&s->reps[i].stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < s->n; i++) {
		if (!s->started[i])
			continue;
		if (reap_one(s, i) != 0 || s->reps[i].err != 0)
			rc = -1;
		s->started[i] = 0;
	}
	return rc;
}
