/*
 * bench/shmrt_oversub.c - oversubscription: 4 producer processes and 2
 * sleeping worker processes on a 2-core machine.
 *
 * Closed loop: each producer enqueues a 64-byte job, waits for its
 * result, releases it, and goes again, so at most 4 jobs are in flight
 * and nearly every handoff finds its peer asleep. The same loop runs
 * over the textbook alternative, a mutex + condition variable ring in
 * shared memory (mutex_ring.h). Figures: the round trip (enqueue ->
 * result seen) over all producers, and jobs/s from the go signal to the
 * last producer done. Livelock would show as producers that miss their
 * deadline, which fails the run.
 */
#define _GNU_SOURCE
#include <shmrt/error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "mutex_ring.h"
#include "results.h"
#include "shm/job.h"
#include "shm/os.h"
#include "shmrt_seg.h"
#include "shmrt_worker.h"

#define NPROD	    MR_PRODUCERS
#define NWORK	    2
#define JOB_MS	    10000 /* one round trip */
#define READY_MS    10000
#define TAKE_MS	    60000 /* an idle mutex-ring worker gives up */

struct over_shared {
	uint32_t go __attribute__((aligned(64)));
	uint32_t ready;
	int32_t err[NPROD];
	uint64_t t_done[NPROD];
	struct mutex_ring ring;
	uint64_t samples[]; /* NPROD * jobs */
};

static void wait_go(struct over_shared *sh)
{
	uint64_t deadline = bench_deadline_ms(READY_MS * 3);

	while (!__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE) &&
	       bench_now_ns() < deadline)
		shmrt__os_futex_wait(&sh->go, 0, deadline);
}

/* One shmrt round trip; the sample in *ns. */
static int shmrt_round_trip(struct shmrt__seg *seg, struct shmrt__part *part,
			    uint32_t idx, uint64_t seq, uint64_t *ns)
{
	struct shmrt_job_info info;
	struct bw_payload pl;
	shmrt_job_id id;
	uint64_t t0 = bench_now_ns();
	int rc;

	bw_payload_init(&pl, BW_JOB, idx, seq);
	rc = shmrt__job_enqueue(part, 0, &pl, sizeof(pl),
				bench_deadline_ms(JOB_MS), &id);
	if (rc == 0)
		rc = shmrt__job_wait(seg, id, bench_deadline_ms(JOB_MS), &info,
				     NULL, 0);
	*ns = bench_now_ns() - t0;
	if (rc == 0 && info.state != SHMRT_JOB_SUCCEEDED)
		rc = SHMRT_E_STATE;
	if (rc == 0)
		rc = shmrt__job_release(seg, id);
	return rc;
}

static int produce_shmrt(struct over_shared *sh, const char *tenant,
			 uint32_t idx, uint64_t jobs)
{
	struct shmrt__seg seg;
	struct shmrt__part part;
	uint64_t i;
	int rc = shmrt__seg_attach(tenant, &seg);

	if (rc != 0)
		return rc;
	rc = shmrt__part_join(&seg, SHMRT__ROLE_PRODUCER, &part);
	if (rc != 0) {
		shmrt__seg_detach(&seg);
		return rc;
	}
	__atomic_fetch_add(&sh->ready, 1, __ATOMIC_ACQ_REL);
	wait_go(sh);
	for (i = 0; i < jobs && rc == 0; i++)
		rc = shmrt_round_trip(&seg, &part, idx, i,
				      &sh->samples[idx * jobs + i]);
	shmrt__part_leave(&part);
	shmrt__seg_detach(&seg);
	return rc;
}

static int produce_mutex(struct over_shared *sh, uint32_t idx, uint64_t jobs)
{
	struct mr_job j;
	uint64_t i;
	int rc = 0;

	memset(&j, 0, sizeof(j));
	j.producer = idx;
	__atomic_fetch_add(&sh->ready, 1, __ATOMIC_ACQ_REL);
	wait_go(sh);
	for (i = 0; i < jobs && rc == 0; i++) {
		uint64_t t0 = bench_now_ns();

		j.seq = i + 1;
		rc = mutex_ring_put(&sh->ring, &j, bench_deadline_ms(JOB_MS));
		if (rc == 0)
			rc = mutex_ring_wait_done(&sh->ring, idx, j.seq,
						  bench_deadline_ms(JOB_MS));
		sh->samples[idx * jobs + i] = bench_now_ns() - t0;
	}
	return rc;
}

/* argv: "shmrt"|"mutex", tenant, index, jobs */
int bench_oversub_child(int argc, char **argv)
{
	struct over_shared *sh;
	uint32_t idx;
	uint64_t jobs;
	size_t size;
	int rc;

	if (argc < 4)
		return BENCH_EX_USAGE;
	idx = (uint32_t)atoi(argv[2]);
	jobs = strtoull(argv[3], NULL, 10);
	sh = bench_shared_child(0, &size);
	if (sh == NULL || idx >= NPROD ||
	    sizeof(*sh) + NPROD * jobs * sizeof(uint64_t) > size)
		return BENCH_EX_SETUP;
	rc = strcmp(argv[0], "shmrt") == 0
		     ? produce_shmrt(sh, argv[1], idx, jobs)
		     : produce_mutex(sh, idx, jobs);
	sh->err[idx] = rc;
	__atomic_store_n(&sh->t_done[idx], bench_now_ns(), __ATOMIC_RELEASE);
	return rc == 0 ? BENCH_EX_OK : 1;
}

/* The mutex ring's worker: take, run the no-op, mark done. */
int bench_mutex_ring_child(int argc, char **argv)
{
	struct over_shared *sh = bench_shared_child(0, NULL);
	struct mr_job j;

	(void)argc;
	(void)argv;
	if (sh == NULL)
		return BENCH_EX_SETUP;
	for (;;) {
		int rc = mutex_ring_take(&sh->ring, &j, bench_deadline_ms(TAKE_MS));

		if (rc == 1)
			return BENCH_EX_OK;
		if (rc != 0)
			return BENCH_EX_TIMEOUT;
		mutex_ring_done(&sh->ring, j.producer, j.seq);
	}
}

/* One system's run: its workers are already up. */
struct over_run {
	struct over_shared *sh;
	size_t size;
	int fd;
	uint64_t jobs;
	struct bench_child prod[NPROD];
};

static int run_producers(struct over_run *r, const char *kind,
			 const char *tenant, int wait_ms, uint64_t *elapsed)
{
	char idx[8], jobs[24];
	const char *args[] = { kind, tenant, idx, jobs, NULL };
	uint64_t deadline = bench_deadline_ms(READY_MS), t0, last = 0;
	int i, rc = 0;

	snprintf(jobs, sizeof(jobs), "%llu", (unsigned long long)r->jobs);
	for (i = 0; i < NPROD && rc == 0; i++) {
		snprintf(idx, sizeof(idx), "%d", i);
		rc = bench_spawn(&r->prod[i], "oversub", &r->fd, 1, args);
	}
	while (rc == 0 && __atomic_load_n(&r->sh->ready, __ATOMIC_ACQUIRE) <
				  NPROD) {
		if (bench_now_ns() > deadline)
			rc = -1;
		shmrt__os_sleep_ns(200000);
	}
	t0 = bench_now_ns();
	__atomic_store_n(&r->sh->go, 1, __ATOMIC_RELEASE);
	shmrt__os_futex_wake_all(&r->sh->go);
	for (i = 0; i < NPROD; i++) {
		if (bench_child_wait(&r->prod[i], wait_ms) != 0 ||
		    r->sh->err[i] != 0)
			rc = -1;
		if (r->sh->t_done[i] > last)
			last = r->sh->t_done[i];
	}
	*elapsed = last > t0 ? last - t0 : 0;
	return rc;
}

/* One system's totals over all rounds. */
struct over_acc {
	const char *name; /* row prefix */
	struct bench_samples s;
	uint64_t jobs, ns;
	int failed;
};

/* Fold a finished run into the totals. */
static void acc_add(struct over_acc *a, const struct over_run *r, int rc,
		    uint64_t elapsed)
{
	uint64_t i;

	if (rc != 0 || elapsed == 0) {
		a->failed = 1;
		return;
	}
	for (i = 0; i < NPROD * r->jobs; i++)
		bench_samples_add(&a->s, r->sh->samples[i]);
	a->jobs += NPROD * r->jobs;
	a->ns += elapsed;
}

static void acc_record(struct over_acc *a, const struct over_acc *base)
{
	struct bench_result *lat, *rate;
	char lat_row[80], rate_row[80], base_lat[80], base_rate[80];

	snprintf(lat_row, sizeof(lat_row), "%s: round trip", a->name);
	snprintf(rate_row, sizeof(rate_row), "%s: jobs/s", a->name);
	if (a->failed || a->ns == 0) {
		bench_record_failure(G_OVER, a->name,
				     "producers or workers failed or stalled");
		bench_samples_free(&a->s);
		return;
	}
	lat = bench_record_latency(G_OVER, lat_row, &a->s);
	rate = bench_record_rate(G_OVER, rate_row,
				 (double)a->jobs / ((double)a->ns / 1e9));
	bench_note(rate, "no livelock: %d producers finished %llu jobs",
		   NPROD, (unsigned long long)a->jobs);
	if (base != NULL) {
		snprintf(base_lat, sizeof(base_lat), "%s: round trip",
			 base->name);
		snprintf(base_rate, sizeof(base_rate), "%s: jobs/s",
			 base->name);
		bench_ref(lat, G_OVER, base_lat, "mutex ring");
		bench_ref(rate, G_OVER, base_rate, "mutex ring");
	}
	bench_samples_free(&a->s);
}

static int run_new(struct over_run *r, uint64_t jobs)
{
	memset(r, 0, sizeof(*r));
	r->jobs = jobs;
	r->size = sizeof(*r->sh) + NPROD * jobs * sizeof(uint64_t);
	r->sh = bench_shared_new(r->size, &r->fd);
	return r->sh == NULL ? -1 : 0;
}

static void run_mutex(uint64_t jobs, int wait_ms, struct over_acc *a)
{
	struct bench_child kids[NWORK] = { { 0 } };
	struct over_run r;
	uint64_t elapsed = 0;
	int i, rc;

	if (a->failed)
		return;
	bench_progress("oversubscription: mutex+condvar ring, 4 -> 2");
	if (run_new(&r, jobs) != 0 || mutex_ring_init(&r.sh->ring) != 0) {
		if (r.sh != NULL)
			bench_shared_free(r.sh, r.size, r.fd);
		a->failed = 1;
		return;
	}
	for (i = 0, rc = 0; i < NWORK && rc == 0; i++)
		rc = bench_spawn(&kids[i], "mutex-ring", &r.fd, 1, NULL);
	if (rc == 0)
		rc = run_producers(&r, "mutex", "-", wait_ms, &elapsed);
	mutex_ring_stop(&r.sh->ring);
	for (i = 0; i < NWORK; i++)
		if (bench_child_wait(&kids[i], JOB_MS) != 0)
			rc = -1;
	acc_add(a, &r, rc, elapsed);
	mutex_ring_destroy(&r.sh->ring);
	bench_shared_free(r.sh, r.size, r.fd);
}

static void run_shmrt(uint64_t jobs, int wait_ms, struct over_acc *a)
{
	struct shmrt__seg_params p;
	struct over_run r;
	struct bw_set ws;
	struct bseg b;
	uint64_t elapsed = 0;
	int rc;

	if (a->failed)
		return;
	bench_progress("oversubscription: shmrt, sleeping workers, 4 -> 2");
	bseg_params(&p, 64, BW_PAYLOAD, BSEG_SPIN_SLEEP);
	if (run_new(&r, jobs) != 0) {
		a->failed = 1;
		return;
	}
	if (bseg_open(&b, &p, 1) != 0) {
		bench_shared_free(r.sh, r.size, r.fd);
		a->failed = 1;
		return;
	}
	rc = bw_start(&ws, &b.seg, b.tenant, NWORK, 0);
	if (rc == 0) {
		rc = run_producers(&r, "shmrt", b.tenant, wait_ms, &elapsed);
		if (bw_stop(&ws, &b.part) != 0)
			rc = -1;
		bw_free(&ws);
	}
	acc_add(a, &r, rc, elapsed);
	bseg_close(&b);
	bench_shared_free(r.sh, r.size, r.fd);
}

/*
 * Rounds alternate the two systems, so that the machine's drift reaches
 * both alike; each system's figures are over all its rounds.
 */
void bench_shmrt_oversub(const struct bench_cfg *c)
{
	uint64_t rounds = bench_n(c, 1, 5), r;
	uint64_t jobs = bench_n(c, 100, 5000) / rounds;
	int wait_ms = c->smoke ? 30000 : 120000;
	struct over_acc mutex = { "mutex+condvar ring", { 0 }, 0, 0, 0 };
	struct over_acc shmrt = { "shmrt, sleeping workers", { 0 }, 0, 0, 0 };

	bench_group(G_OVER, "oversubscription: 4 producer processes -> 2 "
			    "sleeping worker processes, closed loop "
			    "(enqueue, wait for the result), in rounds");
	if (bench_samples_init(&mutex.s, NPROD * jobs * rounds) != 0 ||
	    bench_samples_init(&shmrt.s, NPROD * jobs * rounds) != 0)
		mutex.failed = shmrt.failed = 1;
	for (r = 0; r < rounds; r++) {
		run_mutex(jobs, wait_ms, &mutex);
		run_shmrt(jobs, wait_ms, &shmrt);
	}
	acc_record(&mutex, NULL);
	acc_record(&shmrt, &mutex);
}
