/*
 * bench/stats.h - latency samples and their percentiles.
 *
 * A sample set is a plain array of nanosecond values with a fixed
 * capacity chosen before the measurement, so recording a sample is one
 * store and never allocates inside a timed loop. Percentiles are
 * nearest-rank on the sorted samples: p99 of 1000 samples is the 990th
 * smallest, a value that was actually observed.
 */
#ifndef SHMRT_BENCH_STATS_H
#define SHMRT_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

struct bench_samples {
	uint64_t *v;
	size_t n;
	size_t cap;
	int shared; /* v is caller-owned (e.g. memory shared with a child) */
};

struct bench_summary {
	uint64_t n;
	double min, p50, p90, p99, p999, max, mean;
};

/* Allocate room for `cap` samples. Returns 0 or -1. Pair with _free. */
int bench_samples_init(struct bench_samples *s, size_t cap);

/* Wrap `n` samples the caller owns (not freed by bench_samples_free). */
void bench_samples_wrap(struct bench_samples *s, uint64_t *v, size_t n);

void bench_samples_free(struct bench_samples *s);

/* Record one sample; silently dropped when full (the capacity is the
 * count the caller planned). */
static inline void bench_samples_add(struct bench_samples *s, uint64_t ns)
{
	if (s->n < s->cap)
		s->v[s->n++] = ns;
}

/*
 * The time from `from` to `to`, for a sample whose end was stamped by
 * another party (a job's start_ns): a stamp before `from` counts as 0
 * and is counted in *early (the stamper read its clock before it saw
 * the job), instead of wrapping around to 584 years.
 */
static inline uint64_t bench_elapsed(uint64_t from, uint64_t to,
				     uint64_t *early)
{
	if (to >= from)
		return to - from;
	(*early)++;
	return 0;
}

/* Sort the samples in place and summarize them. n == 0 gives zeros. */
void bench_summarize(struct bench_samples *s, struct bench_summary *out);

/*
 * Per-operation costs are timed in BENCH_SLICES slices and reported as
 * the median slice: a slice that another process on the machine
 * preempted does not move the figure.
 */
#define BENCH_SLICES 5

/* The median of n values (sorted in place); 0 for n == 0. */
double bench_median(double *v, size_t n);

/* The nearest-rank percentile q (0 < q <= 1) of sorted values. */
double bench_percentile(const uint64_t *sorted, size_t n, double q);

#endif /* SHMRT_BENCH_STATS_H */
