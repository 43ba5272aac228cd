/*
 * bench/shmrt_depth.c - shmrt's per-job cost as the queue grows.
 *
 * One thread, a private segment, no wakeups: the queue is first filled
 * to depth D, then the benchmark runs cycles of enqueue + lease +
 * complete + release, so the depth stays D while it measures. Ring
 * positions and slot searches are O(1) by design; what grows with D is
 * the memory the cycle touches (D slots of ~320 bytes), so a rise at
 * large D is cache and TLB misses, not the algorithm.
 */
#define _GNU_SOURCE
#include <stdio.h>

#include "bench.h"
#include "results.h"
#include "shm/job.h"
#include "shmrt_seg.h"
#include "shmrt_worker.h"

#define SLACK 1024 /* free slots beyond the depth */

/* One job through its whole life; the queue depth is unchanged after. */
static int cycle(struct bseg *b, const struct bw_payload *pl, void *buf)
{
	struct shmrt__lease l;
	shmrt_job_id id;
	int rc;

	rc = shmrt__job_enqueue(&b->part, 0, pl, sizeof(*pl), 0, &id);
	if (rc == 0)
		rc = shmrt__job_lease(&b->part, 0, buf, BW_PAYLOAD, 0, &l);
	if (rc == 0)
		rc = shmrt__job_complete(&b->part, &l, NULL, 0);
	if (rc == 0)
		rc = shmrt__job_release(&b->seg, l.id);
	return rc;
}

/* Fill to `depth`, then time `m` cycles in slices; ns per job in *out. */
static int measure(struct bseg *b, uint64_t depth, uint64_t m, double *out)
{
	uint64_t i, t0, per = m / BENCH_SLICES;
	unsigned char buf[BW_PAYLOAD];
	double slice[BENCH_SLICES];
	struct bw_payload pl;
	shmrt_job_id id;
	int rc = 0, k;

	bw_payload_init(&pl, BW_JOB, 0, 0);
	for (i = 0; i < depth && rc == 0; i++)
		rc = shmrt__job_enqueue(&b->part, 0, &pl, sizeof(pl), 0, &id);
	for (i = 0; i < m / 10 && rc == 0; i++)
		rc = cycle(b, &pl, buf);
	for (k = 0; k < BENCH_SLICES && rc == 0; k++) {
		t0 = bench_now_ns();
		for (i = 0; i < per && rc == 0; i++)
			rc = cycle(b, &pl, buf);
		slice[k] = (double)(bench_now_ns() - t0) / (double)per;
	}
	*out = bench_median(slice, BENCH_SLICES);
	return rc;
}

static void run_depth(uint64_t depth, uint64_t m, const char *first_row)
{
	struct shmrt__seg_params p;
	struct bseg b;
	char row[80];
	double ns = 0;
	int rc;

	snprintf(row, sizeof(row), "queue depth %llu", (unsigned long long)depth);
	bench_progress("shmrt cost: %s", row);
	bseg_params(&p, (uint32_t)(depth + SLACK), BW_PAYLOAD, 0);
	rc = bseg_open(&b, &p, 0);
	if (rc == 0)
		rc = measure(&b, depth, m, &ns);
	if (rc == 0)
		bench_ref(bench_record_value(G_DEPTH, row, "ns/job", ns), G_DEPTH,
			  first_row, "depth 1e3");
	else
		bench_record_failure(G_DEPTH, row, "%s", bseg_why(rc));
	bseg_close(&b);
}

void bench_shmrt_depth(const struct bench_cfg *c)
{
	uint64_t depth, top = bench_n(c, 10000, 1000000);
	uint64_t m = bench_n(c, 2000, 300000);

	bench_group(G_DEPTH, "shmrt per-job cost vs queue depth: enqueue + "
			     "lease + complete + release, one thread, depth "
			     "held constant (median of 5 slices)");
	for (depth = 1000; depth <= top; depth *= 10)
		run_depth(depth, m, "queue depth 1000");
}
