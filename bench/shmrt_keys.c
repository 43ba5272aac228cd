/*
 * bench/shmrt_keys.c - shmrt's per-job cost with lanes and idempotency
 * keys, through shmrt__job_submit.
 *
 * Lanes: a laned queue holds `depth` jobs spread round-robin over L
 * lanes (1 lane: one long line; L = depth: one job per lane), and the
 * benchmark runs cycles of submit (next lane) + lease + complete +
 * release, so the number of live lanes stays min(L, depth).
 *
 * Idempotency: a key table of N entries is filled to f% with the keys of
 * finished jobs that are still retained (so their keys are live). Then:
 *   new key    submit with a fresh key + lease + complete + release;
 *   duplicate  submit with a live key (answered with the existing job).
 *
 * One thread, a private segment, no wakeups.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "results.h"
#include "shm/job.h"
#include "shmrt_seg.h"
#include "shmrt_worker.h"

#define SLACK 2048

static int submit(struct bseg *b, const struct bw_payload *pl,
		  const char *lane, const char *key, shmrt_job_id *id)
{
	struct shmrt__submit s;

	memset(&s, 0, sizeof(s));
	s.payload = pl;
	s.len = sizeof(*pl);
	if (lane != NULL) {
		s.lane = lane;
		s.lane_len = strlen(lane);
	}
	if (key != NULL) {
		s.key = key;
		s.key_len = strlen(key);
	}
	return shmrt__job_submit(&b->part, 0, &s, id);
}

/* Lease the next job and complete it; release it too if `release`. */
static int run_next(struct bseg *b, int release)
{
	unsigned char buf[BW_PAYLOAD];
	struct shmrt__lease l;
	int rc = shmrt__job_lease(&b->part, 0, buf, sizeof(buf), 0, &l);

	if (rc == 0)
		rc = shmrt__job_complete(&b->part, &l, NULL, 0);
	if (rc == 0 && release)
		rc = shmrt__job_release(&b->seg, l.id);
	return rc;
}

/* --------------------------------------------------------------- lanes */

static int lane_cycles(struct bseg *b, uint64_t lanes, uint64_t from,
		       uint64_t count)
{
	struct bw_payload pl;
	shmrt_job_id id;
	char lane[32];
	uint64_t j;
	int rc = 0;

	bw_payload_init(&pl, BW_JOB, 0, 0);
	for (j = from; j < from + count && rc == 0; j++) {
		snprintf(lane, sizeof(lane), "lane-%llu",
			 (unsigned long long)(j % lanes));
		rc = submit(b, &pl, lane, NULL, &id);
		if (rc == 0)
			rc = run_next(b, 1);
	}
	return rc;
}

static int lanes_fill(struct bseg *b, uint64_t lanes, uint64_t depth)
{
	struct bw_payload pl;
	shmrt_job_id id;
	char lane[32];
	uint64_t j;
	int rc = 0;

	bw_payload_init(&pl, BW_JOB, 0, 0);
	for (j = 0; j < depth && rc == 0; j++) {
		snprintf(lane, sizeof(lane), "lane-%llu",
			 (unsigned long long)(j % lanes));
		rc = submit(b, &pl, lane, NULL, &id);
	}
	return rc;
}

static void run_lanes(uint64_t lanes, uint64_t depth, uint64_t m)
{
	uint64_t t0, from, per = m / BENCH_SLICES;
	struct shmrt__seg_params p;
	double slice[BENCH_SLICES], ns;
	struct bseg b;
	char row[80];
	int rc, k;

	snprintf(row, sizeof(row), "%llu lane%s, depth %llu",
		 (unsigned long long)lanes, lanes > 1 ? "s" : "",
		 (unsigned long long)depth);
	bench_progress("shmrt cost: %s", row);
	bseg_params(&p, (uint32_t)(depth + SLACK), BW_PAYLOAD, 0);
	p.queue[0].nlanes = (uint32_t)((lanes < depth ? lanes : depth) + SLACK);
	rc = bseg_open(&b, &p, 0);
	if (rc == 0)
		rc = lanes_fill(&b, lanes, depth);
	if (rc == 0)
		rc = lane_cycles(&b, lanes, depth, m / 10);
	for (k = 0, from = depth + m / 10; k < BENCH_SLICES && rc == 0; k++) {
		t0 = bench_now_ns();
		rc = lane_cycles(&b, lanes, from, per);
		slice[k] = (double)(bench_now_ns() - t0) / (double)per;
		from += per;
	}
	ns = bench_median(slice, BENCH_SLICES);
	if (rc == 0)
		bench_ref(bench_record_value(G_LANES, row, "ns/job", ns),
			  G_DEPTH, "queue depth 1000", "unlaned");
	else
		bench_record_failure(G_LANES, row, "%s", bseg_why(rc));
	bseg_close(&b);
}

/* --------------------------------------------------------- idempotency */

static int idem_fill(struct bseg *b, uint64_t n)
{
	struct bw_payload pl;
	shmrt_job_id id;
	char key[32];
	uint64_t i;
	int rc = 0;

	bw_payload_init(&pl, BW_JOB, 0, 0);
	for (i = 0; i < n && rc == 0; i++) {
		snprintf(key, sizeof(key), "live-%llu", (unsigned long long)i);
		rc = submit(b, &pl, NULL, key, &id);
		if (rc == 0)
			rc = run_next(b, 0); /* finished, retained: key live */
	}
	return rc;
}

static int idem_new(struct bseg *b, uint64_t from, uint64_t m)
{
	struct bw_payload pl;
	shmrt_job_id id;
	char key[32];
	uint64_t i;
	int rc = 0;

	bw_payload_init(&pl, BW_JOB, 0, 0);
	for (i = from; i < from + m && rc == 0; i++) {
		snprintf(key, sizeof(key), "new-%llu", (unsigned long long)i);
		rc = submit(b, &pl, NULL, key, &id);
		if (rc == 0)
			rc = run_next(b, 1);
	}
	return rc;
}

static int idem_dup(struct bseg *b, uint64_t live, uint64_t m)
{
	struct bw_payload pl;
	shmrt_job_id id;
	char key[32];
	uint64_t i, x = 88172645463325252ull;
	int rc = 0;

	bw_payload_init(&pl, BW_JOB, 0, 0);
	for (i = 0; i < m && rc >= 0; i++) {
		x ^= x << 13; /* xorshift64: a spread of live keys */
		x ^= x >> 7;
		x ^= x << 17;
		snprintf(key, sizeof(key), "live-%llu",
			 (unsigned long long)(x % live));
		rc = submit(b, &pl, NULL, key, &id);
		if (rc == 0)
			return SHMRT__SUBMIT_EXISTING + 1; /* a duplicate ran */
	}
	return rc == SHMRT__SUBMIT_EXISTING ? 0 : rc;
}

static void run_idem(unsigned pct, uint64_t entries, uint64_t m)
{
	uint64_t live = entries * pct / 100, t0, from, per = m / BENCH_SLICES;
	double slice_new[BENCH_SLICES], slice_dup[BENCH_SLICES];
	struct shmrt__seg_params p;
	double ns_new, ns_dup;
	char row_new[80], row_dup[80];
	struct bseg b;
	int rc, k;

	snprintf(row_new, sizeof(row_new), "new key, table %u%% full", pct);
	snprintf(row_dup, sizeof(row_dup), "duplicate key, table %u%% full",
		 pct);
	bench_progress("shmrt cost: idempotency table %u%% full", pct);
	bseg_params(&p, (uint32_t)(live + SLACK), BW_PAYLOAD, 0);
	p.queue[0].nidem = (uint32_t)entries;
	p.queue[0].idem_ttl_ns = 3600ull * 1000000000u;
	rc = bseg_open(&b, &p, 0);
	if (rc == 0)
		rc = idem_fill(&b, live);
	if (rc == 0)
		rc = idem_new(&b, 0, m / 10);
	for (k = 0, from = m / 10; k < BENCH_SLICES && rc == 0; k++) {
		t0 = bench_now_ns();
		rc = idem_new(&b, from, per);
		slice_new[k] = (double)(bench_now_ns() - t0) / (double)per;
		from += per;
	}
	for (k = 0; k < BENCH_SLICES && rc == 0; k++) {
		t0 = bench_now_ns();
		rc = idem_dup(&b, live ? live : 1, per);
		slice_dup[k] = (double)(bench_now_ns() - t0) / (double)per;
	}
	ns_new = bench_median(slice_new, BENCH_SLICES);
	ns_dup = bench_median(slice_dup, BENCH_SLICES);
	if (rc == 0) {
		bench_ref(bench_record_value(G_IDEM, row_new, "ns/job", ns_new),
			  G_DEPTH, "queue depth 1000", "no key");
		bench_ref(bench_record_value(G_IDEM, row_dup, "ns/job", ns_dup),
			  G_DEPTH, "queue depth 1000", "no key");
	} else if (rc == SHMRT__SUBMIT_EXISTING + 1) {
		bench_record_failure(G_IDEM, row_dup,
				     "a live key was accepted as a new job");
	} else {
		bench_record_failure(G_IDEM, row_new, "%s", bseg_why(rc));
	}
	bseg_close(&b);
}

void bench_shmrt_keys(const struct bench_cfg *c)
{
	static const unsigned fills[] = { 10, 30, 50, 70, 90 };
	uint64_t depth = bench_n(c, 1000, 100000), lanes;
	uint64_t m = bench_n(c, 1000, 200000);
	size_t i;

	bench_group(G_LANES, "shmrt per-job cost vs lanes: submit + lease + "
			     "complete + release, one thread, depth held "
			     "constant (median of 5 slices)");
	bench_group(G_IDEM, "shmrt per-job cost vs idempotency table fill, "
			    "100,000 entries (smoke: 1,000), median of 5 "
			    "slices");
	for (lanes = 1; lanes <= depth; lanes *= c->smoke ? 1000 : 10)
		run_lanes(lanes, depth, m);
	for (i = 0; i < sizeof(fills) / sizeof(fills[0]); i++)
		if (!c->smoke || i == 0 || i == 4)
			run_idem(fills[i], bench_n(c, 1000, 100000),
				 bench_n(c, 500, 50000));
}
