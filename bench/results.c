/*
 * bench/results.c - the rows of one run, and progress while it runs.
 */
#define _GNU_SOURCE
#include "results.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"

#define MAX_RESULTS 256
#define MAX_GROUPS  24

static struct bench_result *results;
static size_t nresults;
static struct {
	char name[40];
	char title[240];
} groups[MAX_GROUPS];
static size_t ngroups;
static int failed;

void bench_group(const char *group, const char *title)
{
	size_t i;

	for (i = 0; i < ngroups; i++)
		if (strcmp(groups[i].name, group) == 0)
			return;
	if (ngroups == MAX_GROUPS)
		return;
	snprintf(groups[ngroups].name, sizeof(groups[0].name), "%s", group);
	snprintf(groups[ngroups].title, sizeof(groups[0].title), "%s", title);
	ngroups++;
}

static struct bench_result *row_new(const char *group, const char *name,
				    enum bench_kind kind)
{
	struct bench_result *r;

	if (results == NULL) {
		results = calloc(MAX_RESULTS, sizeof(*results));
		if (results == NULL)
			return NULL;
	}
	if (nresults == MAX_RESULTS) {
		fprintf(stderr, "bench: too many rows; %s/%s dropped\n", group,
			name);
		return NULL;
	}
	bench_group(group, group);
	r = &results[nresults++];
	memset(r, 0, sizeof(*r));
	snprintf(r->group, sizeof(r->group), "%s", group);
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->kind = kind;
	return r;
}

/* Quantile points for the plot: evenly spaced, then denser in the tail. */
static void keep_cdf(struct bench_result *r, const struct bench_samples *s)
{
	static const double tail[] = { 0.995, 0.998, 0.999, 0.9995, 0.9999 };
	const int even = BENCH_CDF_POINTS - 6;
	int i;

	if (s->n == 0)
		return;
	for (i = 0; i < even; i++) {
		double q = (double)(i + 1) / (double)(even + 1);

		r->cdf_q[r->ncdf] = q;
		r->cdf_x[r->ncdf++] = bench_percentile(s->v, s->n, q);
	}
	for (i = 0; i < 5; i++) {
		r->cdf_q[r->ncdf] = tail[i];
		r->cdf_x[r->ncdf++] = bench_percentile(s->v, s->n, tail[i]);
	}
	r->cdf_q[r->ncdf] = 1.0;
	r->cdf_x[r->ncdf++] = (double)s->v[s->n - 1];
}

struct bench_result *bench_record_latency(const char *group, const char *name,
					  struct bench_samples *s)
{
	struct bench_result *r = row_new(group, name, BENCH_LATENCY);

	if (r == NULL)
		return NULL;
	bench_summarize(s, &r->lat);
	keep_cdf(r, s);
	snprintf(r->unit, sizeof(r->unit), "ns");
	return r;
}

struct bench_result *bench_record_rate(const char *group, const char *name,
				       double per_s)
{
	struct bench_result *r = row_new(group, name, BENCH_RATE);

	if (r != NULL) {
		r->value = per_s;
		snprintf(r->unit, sizeof(r->unit), "jobs/s");
	}
	return r;
}

struct bench_result *bench_record_value(const char *group, const char *name,
					const char *unit, double v)
{
	struct bench_result *r = row_new(group, name, BENCH_VALUE);

	if (r != NULL) {
		r->value = v;
		snprintf(r->unit, sizeof(r->unit), "%s", unit);
	}
	return r;
}

struct bench_result *bench_record_best_rate(const char *group,
					    const char *name,
					    const char *const *rows,
					    size_t nrows)
{
	const struct bench_result *best = NULL;
	struct bench_result *r;
	size_t i;

	for (i = 0; i < nrows; i++) {
		const struct bench_result *x = bench_find(group, rows[i]);

		if (x != NULL && x->kind == BENCH_RATE &&
		    (best == NULL || x->value > best->value))
			best = x;
	}
	if (best == NULL) {
		bench_record_skip(group, name, "no configuration measured");
		return NULL;
	}
	r = bench_record_rate(group, name, best->value);
	bench_note(r, "%.150s", best->name);
	return r;
}

static void record_note_row(const char *group, const char *name,
			    enum bench_kind kind, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static void record_note_row(const char *group, const char *name,
			    enum bench_kind kind, const char *fmt, va_list ap)
{
	struct bench_result *r = row_new(group, name, kind);
	char note[160];

	vsnprintf(note, sizeof(note), fmt, ap);
	if (r != NULL)
		snprintf(r->note, sizeof(r->note), "%s", note);
	bench_progress_end();
	fprintf(stderr, "%s%s%s: %s (%s)\n",
		kind == BENCH_FAILED ? group : "", kind == BENCH_FAILED ? ": " : "",
		name, kind == BENCH_FAILED ? "FAILED" : "skipped", note);
}

void bench_record_skip(const char *group, const char *name, const char *fmt,
		       ...)
{
	va_list ap;

	va_start(ap, fmt);
	record_note_row(group, name, BENCH_SKIPPED, fmt, ap);
	va_end(ap);
}

void bench_record_failure(const char *group, const char *name,
			  const char *fmt, ...)
{
	va_list ap;

	failed = 1;
	va_start(ap, fmt);
	record_note_row(group, name, BENCH_FAILED, fmt, ap);
	va_end(ap);
}

void bench_ref(struct bench_result *r, const char *group, const char *name,
	       const char *label)
{
	struct bench_ref *b;

	if (r == NULL || r->nrefs == BENCH_MAX_REFS)
		return;
	b = &r->refs[r->nrefs++];
	snprintf(b->group, sizeof(b->group), "%s", group);
	snprintf(b->name, sizeof(b->name), "%s", name);
	snprintf(b->label, sizeof(b->label), "%s", label);
}

void bench_note(struct bench_result *r, const char *fmt, ...)
{
	va_list ap;

	if (r == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(r->note, sizeof(r->note), fmt, ap);
	va_end(ap);
}

const struct bench_result *bench_find(const char *group, const char *name)
{
	size_t i;

	for (i = 0; i < nresults; i++)
		if (strcmp(results[i].group, group) == 0 &&
		    strcmp(results[i].name, name) == 0)
			return &results[i];
	return NULL;
}

size_t bench_result_count(void)
{
	return nresults;
}

const struct bench_result *bench_result_at(size_t i)
{
	return i < nresults ? &results[i] : NULL;
}

size_t bench_group_count(void)
{
	return ngroups;
}

const char *bench_group_name(size_t i)
{
	return i < ngroups ? groups[i].name : "";
}

const char *bench_group_title(size_t i)
{
	return i < ngroups ? groups[i].title : "";
}

int bench_failed(void)
{
	return failed;
}

double bench_ratio(const struct bench_result *r, const struct bench_result *b)
{
	if (r == NULL || b == NULL || r->kind != b->kind)
		return 0;
	if (r->kind == BENCH_LATENCY)
		return b->lat.p50 > 0 ? r->lat.p50 / b->lat.p50 : 0;
	if (r->kind == BENCH_RATE || r->kind == BENCH_VALUE)
		return b->value > 0 ? r->value / b->value : 0;
	return 0;
}

/* ---------------------------------------------------------- progress */

static int steps_total, steps_done;
static uint64_t t_start;
static int line_open;

void bench_progress_total(int steps)
{
	steps_total = steps;
	steps_done = 0;
	t_start = bench_now_ns();
}

static void progress_line(const char *text)
{
	double secs = (double)(bench_now_ns() - t_start) / 1e9;

	if (isatty(STDERR_FILENO)) {
		fprintf(stderr, "\r\033[K[%d/%d %6.1fs] %s", steps_done,
			steps_total, secs, text);
		line_open = 1;
	} else {
		fprintf(stderr, "[%d/%d %6.1fs] %s\n", steps_done, steps_total,
			secs, text);
	}
	fflush(stderr);
}

void bench_progress_step(const char *what)
{
	steps_done++;
	progress_line(what);
}

void bench_progress(const char *fmt, ...)
{
	char text[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	progress_line(text);
}

void bench_progress_end(void)
{
	if (line_open) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		line_open = 0;
	}
}
