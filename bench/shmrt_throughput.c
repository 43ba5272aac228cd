/*
 * bench/shmrt_throughput.c - the engine's throughput alone, through the
 * internal API (shmrt__job_enqueue, lease, complete, release): one
 * producer, 1 or 2 workers, 64-byte payloads, no handler, no status
 * kept. The "engine only" rows; bench/shmrt_api.c measures what an
 * application gets through the public API.
 *
 * The benchmark enqueues n jobs as fast as the queue (4096 slots) takes
 * them, sleeping on the queue's space event count when it is full; the
 * workers complete and release each job. Then one STOP job per worker;
 * the rate is n over the time from the first enqueue to the last STOP
 * taken. The workers' job counts must add up to n. "Spinning" workers
 * poll (spin time 200 ms), "sleeping" ones sleep as soon as the queue is
 * empty (spin time 0).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "results.h"
#include "shm/job.h"
#include "shmrt_seg.h"
#include "shmrt_worker.h"

#define CAPACITY 4096
#define FULL_MS	 10000 /* a full queue that does not drain this long */

static int produce(struct bseg *b, uint64_t n)
{
	struct bw_payload pl;
	shmrt_job_id id;
	uint64_t i, deadline = 0;
	int rc;

	bw_payload_init(&pl, BW_JOB, 0, 0);
	for (i = 0; i < n; i++) {
		if ((i & 4095) == 0)
			deadline = bench_deadline_ms(FULL_MS);
		pl.seq = i;
		rc = shmrt__job_enqueue(&b->part, 0, &pl, sizeof(pl), deadline,
					&id);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* One configuration: its row and the totals of all its rounds. */
struct tput_cfg {
	int inline_mode, nworkers, spin;
	char row[80];
	uint64_t jobs, ns;
	char why[160]; /* non-empty once a round failed */
};

/* One round: a fresh segment and workers, n jobs. */
static void cfg_round(struct tput_cfg *t, uint64_t n)
{
	uint64_t total = 0, last = 0, t0;
	struct shmrt__seg_params p;
	struct bw_set ws;
	struct bseg b;
	int rc, i, stop_failed;

	if (t->why[0] != '\0')
		return;
	bench_progress("shmrt throughput: %s", t->row);
	bseg_params(&p, CAPACITY, BW_PAYLOAD,
		    t->spin ? BSEG_SPIN_POLLED : BSEG_SPIN_SLEEP);
	if ((rc = bseg_open(&b, &p, !t->inline_mode)) != 0) {
		snprintf(t->why, sizeof(t->why), "%s", bseg_why(rc));
		return;
	}
	if (bw_start(&ws, &b.seg, t->inline_mode ? NULL : b.tenant,
		     t->nworkers, BW_RELEASE) != 0) {
		snprintf(t->why, sizeof(t->why), "workers did not start");
		bseg_close(&b);
		return;
	}
	t0 = bench_now_ns();
	rc = produce(&b, n);
	stop_failed = bw_stop(&ws, &b.part) != 0;
	for (i = 0; i < ws.n; i++) {
		total += ws.reps[i].jobs;
		if (ws.reps[i].last_ns > last)
			last = ws.reps[i].last_ns;
	}
	bw_free(&ws);
	bseg_close(&b);
	if (rc == 0 && !stop_failed && total == n && last > t0) {
		t->jobs += n;
		t->ns += last - t0;
	} else {
		snprintf(t->why, sizeof(t->why), "%s (%llu of %llu jobs run)",
			 rc != 0 ? bseg_why(rc) : "a worker failed",
			 (unsigned long long)total, (unsigned long long)n);
	}
}

struct bench_result *bench_record_shmrt_rate(const char *group,
					     const char *row, uint64_t jobs,
					     uint64_t ns, const char *ring_row)
{
	struct bench_result *r;

	r = bench_record_rate(group, row, (double)jobs / ((double)ns / 1e9));
	bench_ref(r, group, ring_row, "ck MPMC");
	bench_ref(r, G_TPUT_BASE, R_REDIS_BEST, "redis best");
	bench_ref(r, G_TPUT_BASE, R_REDIS_BEST1, "redis best 1/cmd");
	bench_ref(r, G_TPUT_BASE, R_RQ_BEST, "rq best");
	return r;
}

static void cfg_record(const struct tput_cfg *t)
{
	if (t->why[0] != '\0' || t->ns == 0)
		bench_record_failure(G_TPUT, t->row, "%s", t->why);
	else
		bench_record_shmrt_rate(G_TPUT, t->row, t->jobs, t->ns,
					R_TPUT_RING);
}

/*
 * Rounds: each round runs the raw ring, then every configuration, so
 * that the machine's drift between rounds reaches all of them alike.
 * A configuration's rate is its jobs over its time, all rounds summed.
 */
void bench_shmrt_throughput(const struct bench_cfg *c)
{
	uint64_t rounds = bench_n(c, 1, 5), r;
	uint64_t n = bench_n(c, 20000, 2000000) / rounds;
	struct bench_ring_rounds ring;
	struct tput_cfg cfg[8];
	int i;

	bench_group(G_TPUT, "engine only (internal API, not what an "
			    "application gets: see the public API table): 1 "
			    "producer, 64-byte jobs, no handler, slots "
			    "released by the worker; raw ring in the same "
			    "rounds");
	memset(cfg, 0, sizeof(cfg));
	for (i = 0; i < 8; i++) {
		struct tput_cfg *t = &cfg[i];

		t->inline_mode = i / 4;
		t->spin = i % 4 < 2;
		t->nworkers = i % 2 + 1;
		snprintf(t->row, sizeof(t->row), "1 -> %d worker%s, %s, %s",
			 t->nworkers, t->nworkers > 1 ? "s" : "",
			 t->spin ? "spinning" : "sleeping",
			 t->inline_mode ? "inline" : "process");
	}
	memset(&ring, 0, sizeof(ring));
	for (r = 0; r < rounds; r++) {
		bench_ring_round(&ring, c, "shmrt throughput");
		for (i = 0; i < 8; i++)
			cfg_round(&cfg[i], n);
	}
	bench_ring_record(&ring, G_TPUT, R_TPUT_RING);
	for (i = 0; i < 8; i++)
		cfg_record(&cfg[i]);
}
