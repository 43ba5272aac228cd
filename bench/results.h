/*
 * bench/results.h - the figures of one run, and how they are reported.
 *
 * Every workload records its figures here under a group (one table) and
 * a name (one row). A row may name up to BENCH_MAX_REFS baseline rows;
 * the report prints the row's ratio to each, so a figure never appears
 * without the baseline measured in the same run. Rows are kept in the
 * order recorded. Single-threaded: only the main thread records.
 */
#ifndef SHMRT_BENCH_RESULTS_H
#define SHMRT_BENCH_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include "stats.h"

#define BENCH_MAX_REFS	 6
#define BENCH_CDF_POINTS 240

enum bench_kind {
	BENCH_LATENCY, /* a distribution of ns samples */
	BENCH_RATE,    /* jobs (or messages) per second; higher is better */
	BENCH_VALUE,   /* a figure with a unit; lower is better */
	BENCH_SKIPPED, /* a peer is missing: not an error */
	BENCH_FAILED,  /* something broke: the run exits non-zero */
};

struct bench_ref {
	char group[40];
	char name[80];
	char label[32]; /* how the ratio column names the baseline */
};

struct bench_result {
	char group[40];
	char name[80];
	enum bench_kind kind;
	char unit[16];	      /* RATE and VALUE */
	double value;	      /* RATE and VALUE */
	struct bench_summary lat; /* LATENCY */
	/* LATENCY: quantile points (value ns, fraction) for the plot */
	double cdf_x[BENCH_CDF_POINTS];
	double cdf_q[BENCH_CDF_POINTS];
	int ncdf;
	char note[160]; /* SKIPPED / FAILED: why; otherwise a remark */
	struct bench_ref refs[BENCH_MAX_REFS];
	int nrefs;
};

/* Name a table (group) and say what its rows measure. */
void bench_group(const char *group, const char *title);

/* Record figures. The returned row may be given baselines (bench_ref). */
struct bench_result *bench_record_latency(const char *group, const char *name,
					  struct bench_samples *s);
struct bench_result *bench_record_rate(const char *group, const char *name,
				       double per_s);
struct bench_result *bench_record_value(const char *group, const char *name,
					const char *unit, double v);

/*
 * A RATE row holding the highest rate of `rows` (of `group`), noting
 * which; skipped when none of them was measured.
 */
struct bench_result *bench_record_best_rate(const char *group,
					    const char *name,
					    const char *const *rows,
					    size_t nrows);

/* A row that could not run because a peer is missing (printed at once). */
void bench_record_skip(const char *group, const char *name, const char *fmt,
		       ...) __attribute__((format(printf, 3, 4)));

/* A row that broke: printed at once; the run will exit 1. */
void bench_record_failure(const char *group, const char *name,
			  const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Add a baseline to a row (NULL row: ignored). */
void bench_ref(struct bench_result *r, const char *group, const char *name,
	       const char *label);

/* A remark printed under the row. */
void bench_note(struct bench_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

const struct bench_result *bench_find(const char *group, const char *name);
size_t bench_result_count(void);
const struct bench_result *bench_result_at(size_t i);
size_t bench_group_count(void);
const char *bench_group_name(size_t i);
const char *bench_group_title(size_t i);

/* Whether any row failed. */
int bench_failed(void);

/*
 * The ratio of row r to baseline b: p50 / p50 for latencies, value /
 * value otherwise. Returns 0 when either is missing or incomparable.
 */
double bench_ratio(const struct bench_result *r, const struct bench_result *b);

/* Progress on stderr: a step counter and elapsed time. */
void bench_progress_total(int steps);
void bench_progress_step(const char *what);
void bench_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bench_progress_end(void);

/* The machine a run measured (report.c). */
struct bench_machine {
	long nproc;
	char cpu[160];	  /* "model name" of /proc/cpuinfo */
	char kernel[200]; /* uname: sysname release version machine */
	char date[40];	  /* UTC, ISO 8601 */
	char build[64];	  /* compiler and sanitizers */
};
void bench_machine_describe(struct bench_machine *m);

/* report.c: the tables and the goals on stdout, and the JSON file. */
void bench_report_tables(const struct bench_machine *m, int smoke);
void bench_report_goals(void);
int bench_report_json(const char *path, const struct bench_machine *m,
		      int smoke);

/*
 * plot.c: the latency distributions as a PNG through gnuplot, with the
 * data and the script beside it. Returns 0, 1 when gnuplot is missing
 * (skipped, with a message), or -1 when it failed.
 */
int bench_report_plot(const char *png_path, const struct bench_machine *m);

#endif /* SHMRT_BENCH_RESULTS_H */
