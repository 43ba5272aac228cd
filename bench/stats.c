/*
 * bench/stats.c - nearest-rank percentiles over sorted samples.
 */
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int bench_samples_init(struct bench_samples *s, size_t cap)
{
	memset(s, 0, sizeof(*s));
	s->v = calloc(cap ? cap : 1, sizeof(*s->v));
	if (s->v == NULL)
		return -1;
	s->cap = cap;
	return 0;
}

void bench_samples_wrap(struct bench_samples *s, uint64_t *v, size_t n)
{
	s->v = v;
	s->n = n;
	s->cap = n;
	s->shared = 1;
}

void bench_samples_free(struct bench_samples *s)
{
	if (!s->shared)
		free(s->v);
	memset(s, 0, sizeof(*s));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Nearest rank: the smallest value with at least q * n samples at or
 * below it, i.e. index ceil(q * n) - 1.
 */
double bench_percentile(const uint64_t *sorted, size_t n, double q)
{
	double rank;
	size_t i;

	if (n == 0)
		return 0;
	rank = ceil(q * (double)n);
	i = rank < 1 ? 0 : (size_t)rank - 1;
	if (i >= n)
		i = n - 1;
	return (double)sorted[i];
}

void bench_summarize(struct bench_samples *s, struct bench_summary *out)
{
	double sum = 0;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (s->n == 0)
		return;
	qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
	for (i = 0; i < s->n; i++)
		sum += (double)s->v[i];
	out->n = s->n;
	out->min = (double)s->v[0];
	out->max = (double)s->v[s->n - 1];
	out->mean = sum / (double)s->n;
	out->p50 = bench_percentile(s->v, s->n, 0.50);
	out->p90 = bench_percentile(s->v, s->n, 0.90);
	out->p99 = bench_percentile(s->v, s->n, 0.99);
	out->p999 = bench_percentile(s->v, s->n, 0.999);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bench_median(double *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
