/*
 * bench/shmrt_latency.c - shmrt latency, one job at a time.
 *
 * The benchmark enqueues a 64-byte job, waits for its result, releases
 * it, and goes again; one worker (a thread, or another process) runs a
 * no-op handler. Two figures per job, on CLOCK_MONOTONIC, from the moment
 * the benchmark calls shmrt__job_enqueue:
 *   enqueue->start        to the job's start_ns, which the runtime stamps
 *                         in the slot when the worker wins the lease;
 *   enqueue->result seen  to the moment the waiter sees the finished job:
 *                         two handoffs, there and back.
 * Spinning: the segment's spin time is 200 ms, so the worker polls, and
 * the waiter polls shmrt__job_status. Sleeping: spin time 0, and before
 * each job the benchmark waits until the worker is asleep on the queue's
 * event count, so every job pays a real wakeup; the waiter sleeps in
 * shmrt__job_wait. Each kind is compared with its floor (floors.c),
 * measured again in the same rounds.
 *
 * Those rows are the engine alone (internal API, no handler). One row
 * more is the polled case as an application gets it: a tenant under
 * `shmrt run` whose worker process spins up to 1 s (spin_us = 1000000)
 * and runs builtin.echo; the benchmark calls shmrt_enqueue, polls
 * shmrt_job_status until the job is finished, and releases it.
 */
#define _GNU_SOURCE
#include <shmrt/shmrt.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "results.h"
#include "shm/ec.h"
#include "shm/job.h"
#include "shm/os.h"
#include "runner.h"
#include "shmrt_seg.h"
#include "shmrt_worker.h"

#define JOB_MS	    2000
#define ASLEEP_MS   100

/*
 * Wait (bounded) until the worker sleeps in the kernel: it has counted
 * itself a sleeper of the queue (waitq.h), and its task state is S. The
 * count alone is raised just before the futex call, and a job enqueued
 * in between would be caught without a wakeup. Returns 0 on a timeout:
 * the caller then stops looking at the task state (e.g. /proc hides it)
 * and trusts the count alone, instead of paying the timeout on every job.
 */
static int wait_worker_asleep(struct shmrt__seg *seg, pid_t tid, int by_state)
{
	uint64_t deadline = bench_deadline_ms(ASLEEP_MS);
	const uint32_t *sleepers = &seg->q[0].ctl->jobs_wq.sleepers;

	while (bench_now_ns() < deadline) {
		if (__atomic_load_n(sleepers, __ATOMIC_SEQ_CST) != 0 &&
		    (!by_state || bench_task_sleeping(tid)))
			return 1;
		shmrt__os_cpu_relax();
	}
	return 0;
}

/* Poll the job's status until it is finished. */
static int poll_done(struct shmrt__seg *seg, shmrt_job_id id,
		     struct shmrt_job_info *info)
{
	uint64_t deadline = bench_deadline_ms(JOB_MS);
	uint32_t n = 0;

	for (;;) {
		int rc = shmrt__job_status(seg, id, info, NULL, 0);

		if (rc != 0)
			return rc;
		if (info->state == SHMRT_JOB_SUCCEEDED ||
		    info->state == SHMRT_JOB_FAILED ||
		    info->state == SHMRT_JOB_CANCELLED)
			return 0;
		shmrt__os_cpu_relax();
		if ((++n & 0xfff) == 0 && bench_now_ns() > deadline)
			return SHMRT_E_TIMEDOUT;
	}
}

/* One configuration: its rows and the samples of all its rounds. */
struct lat_cfg {
	int inline_mode, spin;
	int by_state; /* sleeping: check the worker's task state */
	char start_row[80], seen_row[80];
	struct bench_samples start, seen;
	uint64_t early; /* start_ns stamps before the enqueue call */
	char why[160]; /* non-empty once a round failed */
};

/* One job there and back; fills the two samples (unless warming up). */
static int one_job(struct lat_cfg *l, struct bseg *b, pid_t worker,
		   int record)
{
	struct shmrt_job_info info;
	struct bw_payload pl;
	shmrt_job_id id;
	uint64_t t_call, t_seen;
	int rc;

	bw_payload_init(&pl, BW_JOB, 0, 0);
	if (!l->spin && !wait_worker_asleep(&b->seg, worker, l->by_state))
		l->by_state = 0;
	t_call = bench_now_ns();
	rc = shmrt__job_enqueue(&b->part, 0, &pl, sizeof(pl),
				bench_deadline_ms(JOB_MS), &id);
	if (rc != 0)
		return rc;
	rc = l->spin ? poll_done(&b->seg, id, &info)
		  : shmrt__job_wait(&b->seg, id, bench_deadline_ms(JOB_MS),
				    &info, NULL, 0);
	t_seen = bench_now_ns();
	if (rc != 0)
		return rc;
	if (info.state != SHMRT_JOB_SUCCEEDED)
		return SHMRT_E_STATE;
	if (record) {
		bench_samples_add(&l->start, bench_elapsed(t_call,
							    info.start_ns,
							    &l->early));
		bench_samples_add(&l->seen, t_seen - t_call);
	}
	return shmrt__job_release(&b->seg, id);
}

static void cfg_init(struct lat_cfg *l, int inline_mode, int spin, uint64_t n)
{
	const char *mode = inline_mode ? "inline" : "process";
	const char *kind = spin ? "spinning" : "sleeping";

	memset(l, 0, sizeof(*l));
	l->inline_mode = inline_mode;
	l->spin = spin;
	l->by_state = 1;
	snprintf(l->start_row, sizeof(l->start_row),
		 "enqueue->start, %s worker, %s", kind, mode);
	snprintf(l->seen_row, sizeof(l->seen_row),
		 "enqueue->result seen, %s worker+waiter, %s", kind, mode);
	if (bench_samples_init(&l->start, n) != 0 ||
	    bench_samples_init(&l->seen, n) != 0)
		snprintf(l->why, sizeof(l->why), "out of memory");
}

/* One round of a configuration: a fresh segment and worker, n jobs. */
static void cfg_round(struct lat_cfg *l, uint64_t n)
{
	uint64_t i, warmup = n / 10 + 50;
	struct shmrt__seg_params p;
	struct bw_set workers;
	struct bseg b;
	int rc;

	if (l->why[0] != '\0')
		return;
	bench_progress("shmrt latency: %s", l->start_row);
	bseg_params(&p, 64, BW_PAYLOAD,
		    l->spin ? BSEG_SPIN_POLLED : BSEG_SPIN_SLEEP);
	if ((rc = bseg_open(&b, &p, !l->inline_mode)) != 0) {
		snprintf(l->why, sizeof(l->why), "%s", bseg_why(rc));
		return;
	}
	if (bw_start(&workers, &b.seg, l->inline_mode ? NULL : b.tenant, 1,
		     0) != 0) {
		snprintf(l->why, sizeof(l->why), "worker did not start");
		bseg_close(&b);
		return;
	}
	for (i = 0, rc = 0; i < warmup + n && rc == 0; i++)
		rc = one_job(l, &b, workers.reps[0].tid, i >= warmup);
	if (rc != 0)
		snprintf(l->why, sizeof(l->why), "%s", bseg_why(rc));
	if (bw_stop(&workers, &b.part) != 0 && rc == 0)
		snprintf(l->why, sizeof(l->why), "the worker failed");
	bw_free(&workers);
	bseg_close(&b);
}

static void cfg_record(struct lat_cfg *l)
{
	const char *floor = l->spin ? R_LAT_SPIN_FLOOR : R_LAT_FUTEX_FLOOR;
	const char *label = l->spin ? "spin floor" : "futex floor";
	struct bench_result *r;

	if (l->why[0] != '\0') {
		bench_record_failure(G_LATENCY, l->start_row, "%s", l->why);
	} else {
		r = bench_record_latency(G_LATENCY, l->start_row, &l->start);
		bench_ref(r, G_LATENCY, floor, label);
		if (!l->spin && !l->by_state)
			bench_note(r, "worker task state not readable: "
				      "jobs were sent once it flagged the "
				      "event count");
		if (l->early != 0)
			bench_note(r, "%llu start stamps precede the enqueue "
				      "call (the lease stamps the clock read "
				      "of its pass): counted as 0",
				   (unsigned long long)l->early);
		r = bench_record_latency(G_LATENCY, l->seen_row, &l->seen);
		bench_ref(r, G_LATENCY, floor, label);
		bench_note(r, "two handoffs, there and back: 2x the floor "
			      "is par");
	}
	bench_samples_free(&l->start);
	bench_samples_free(&l->seen);
}

/* The polled row through the public API, over its rounds. */
struct pub_lat {
	struct bench_samples start;
	uint64_t early;
	char why[200];
};

static int pub_job(struct pub_lat *p, const char *tenant, int record)
{
	unsigned char pl[BW_PAYLOAD];
	struct shmrt_job_info info;
	shmrt_job_id id;
	uint64_t t_call, deadline = bench_deadline_ms(JOB_MS);
	int rc;

	memset(pl, 'p', sizeof(pl));
	t_call = bench_now_ns();
	rc = shmrt_enqueue(tenant, "q", pl, sizeof(pl), NULL, &id);
	while (rc == 0 && (rc = shmrt_job_status(tenant, id, &info, NULL,
						 0)) == 0 &&
	       info.state != SHMRT_JOB_SUCCEEDED) {
		if (info.state == SHMRT_JOB_FAILED ||
		    info.state == SHMRT_JOB_CANCELLED)
			return SHMRT_E_STATE;
		if (bench_now_ns() > deadline)
			return SHMRT_E_TIMEDOUT;
		shmrt__os_cpu_relax();
	}
	if (rc == 0 && record)
		bench_samples_add(&p->start, bench_elapsed(t_call, info.start_ns,
							   &p->early));
	return rc == 0 ? shmrt_job_release(tenant, id) : rc;
}

static void pub_round(struct pub_lat *p, const char *exe, uint64_t n)
{
	static const char conf[] =
		"[runtime]\nmode = process\non_init_error = fail\n"
		"spin_us = 1000000\n\n[queue q]\nhandler = builtin.echo\n";
	uint64_t i, warmup = n / 10 + 50;
	struct brun r;
	int rc = 0;

	if (p->why[0] != '\0')
		return;
	bench_progress("shmrt latency: %s", R_LAT_PUB_SPIN);
	if (brun_start(&r, exe, conf, 1, 0) != 0) {
		snprintf(p->why, sizeof(p->why), "%s", r.why);
		return;
	}
	for (i = 0; i < warmup + n && rc == 0; i++)
		rc = pub_job(p, r.tenant, i >= warmup);
	if (rc != 0)
		snprintf(p->why, sizeof(p->why), "%s", bseg_why(rc));
	if (brun_stop(&r) != 0 && p->why[0] == '\0')
		snprintf(p->why, sizeof(p->why), "shmrt run did not stop "
						 "cleanly");
}

static void pub_record(struct pub_lat *p)
{
	struct bench_result *r;

	if (p->why[0] != '\0') {
		bench_record_failure(G_LATENCY, R_LAT_PUB_SPIN, "%s", p->why);
	} else {
		r = bench_record_latency(G_LATENCY, R_LAT_PUB_SPIN, &p->start);
		bench_ref(r, G_LATENCY, R_LAT_SPIN_FLOOR, "spin floor");
		bench_note(r, "shmrt run, spin_us 1 s, builtin.echo; %llu "
			      "start stamps before the call (counted as 0)",
			   (unsigned long long)p->early);
	}
	bench_samples_free(&p->start);
}

static void floor_round(int futex, uint64_t n, struct bench_samples *s,
			int *failed)
{
	bench_progress("shmrt latency: %s floor", futex ? "futex" : "spin");
	if (!*failed && bench_floor_measure(futex, n, s) != 0)
		*failed = 1;
}

static void floor_record(const char *row, struct bench_samples *s,
			 int failed)
{
	if (failed)
		bench_record_failure(G_LATENCY, row, "ping-pong stalled");
	else
		bench_note(bench_record_latency(G_LATENCY, row, s),
			   "process pair, in rounds between the rows below");
	bench_samples_free(s);
}

/*
 * Rounds: each round measures the floor, then the configurations it is
 * the floor for, so a drift of the machine (vCPU placement, host load)
 * between rounds reaches the floor and the rows compared with it alike.
 */
void bench_shmrt_latency(const struct bench_cfg *c)
{
	uint64_t rounds = bench_n(c, 1, 5), r;
	uint64_t n_spin = bench_n(c, 1000, 200000) / rounds;
	uint64_t n_sleep = bench_n(c, 200, 50000) / rounds;
	struct lat_cfg cfg[4];
	struct pub_lat pub;
	struct bench_samples spin_floor, futex_floor;
	int spin_failed = 0, futex_failed = 0, i;

	bench_group(G_LATENCY, "shmrt latency, one 64-byte job at a time: "
			       "engine only (internal API, no handler) unless "
			       "the row says public API; floors measured in "
			       "the same rounds");
	memset(&pub, 0, sizeof(pub));
	bench_samples_init(&pub.start, n_spin * rounds);
	bench_samples_init(&spin_floor, n_spin * rounds);
	bench_samples_init(&futex_floor, n_sleep * rounds);
	cfg_init(&cfg[0], 0, 1, n_spin * rounds);
	cfg_init(&cfg[1], 1, 1, n_spin * rounds);
	cfg_init(&cfg[2], 0, 0, n_sleep * rounds);
	cfg_init(&cfg[3], 1, 0, n_sleep * rounds);
	for (r = 0; r < rounds; r++) {
		floor_round(0, n_spin, &spin_floor, &spin_failed);
		cfg_round(&cfg[0], n_spin);
		cfg_round(&cfg[1], n_spin);
		pub_round(&pub, c->shmrt_exe, n_spin);
		floor_round(1, n_sleep, &futex_floor, &futex_failed);
		cfg_round(&cfg[2], n_sleep);
		cfg_round(&cfg[3], n_sleep);
	}
	floor_record(R_LAT_SPIN_FLOOR, &spin_floor, spin_failed);
	for (i = 0; i < 2; i++)
		cfg_record(&cfg[i]);
	pub_record(&pub);
	floor_record(R_LAT_FUTEX_FLOOR, &futex_floor, futex_failed);
	for (i = 2; i < 4; i++)
		cfg_record(&cfg[i]);
}
