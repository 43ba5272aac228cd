/*
 * bench/plot.c - the latency distributions as a PNG, through gnuplot.
 *
 * Every latency row becomes a cumulative distribution (the quantile
 * points results.c kept), on a log time axis, in one of two panels:
 * polled handoffs (rows that spin) and kernel wakeups (the rest). The
 * data file and the gnuplot script are written next to the PNG, so the
 * plot can be redrawn or restyled without re-running the benchmark.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"
#include "results.h"

#define GNUPLOT_MS 60000

static int on_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[512];

	while (path != NULL && *path != '\0') {
		size_t n = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog);
		if (access(buf, X_OK) == 0)
			return 1;
		path += n + (path[n] == ':');
	}
	return 0;
}

static int polled(const struct bench_result *r)
{
	return strstr(r->name, "spin") != NULL;
}

/* Write the data blocks (one gnuplot index per latency row). */
static int write_data(const char *dat)
{
	FILE *f = fopen(dat, "we");
	size_t i;
	int k;

	if (f == NULL)
		return -1;
	for (i = 0; i < bench_result_count(); i++) {
		const struct bench_result *r = bench_result_at(i);

		if (r->kind != BENCH_LATENCY || r->ncdf == 0)
			continue;
		fprintf(f, "# %s: %s\n", r->group, r->name);
		for (k = 0; k < r->ncdf; k++)
			fprintf(f, "%.0f %.6f\n",
				r->cdf_x[k] > 1 ? r->cdf_x[k] : 1, r->cdf_q[k]);
		fprintf(f, "\n\n");
	}
	return fclose(f) == 0 ? 0 : -1;
}

/* One `plot` command over the rows of one panel. */
static void write_panel(FILE *f, const char *dat, int want_polled,
			const char *title)
{
	size_t i;
	int index = 0, first = 1, k = 0;

	fprintf(f, "set title \"%s\"\n", title);
	for (i = 0; i < bench_result_count(); i++) {
		const struct bench_result *r = bench_result_at(i);

		if (r->kind != BENCH_LATENCY || r->ncdf == 0)
			continue;
		if (polled(r) == want_polled) {
			/* 8 colours, then the next dash pattern */
			fprintf(f, "%s'%s' index %d using 1:2 with lines lw 2 "
				   "lc %d dt %d title \"%s: %s\"",
				first ? "plot " : ", \\\n     ", dat, index,
				k % 8 + 1, k / 8 % 4 + 1, r->group, r->name);
			first = 0;
			k++;
		}
		index++;
	}
	if (first)
		fprintf(f, "plot 0 notitle");
	fprintf(f, "\n");
}

static int write_script(const char *gp, const char *dat, const char *png,
			const struct bench_machine *m)
{
	FILE *f = fopen(gp, "we");

	if (f == NULL)
		return -1;
	fprintf(f, "set terminal pngcairo size 1800,800 noenhanced font ',9'\n"
		   "set output '%s'\n"
		   "set multiplot layout 1,2 title \"shmrt_bench latency "
		   "distributions: %ld x %s, %s, %s\"\n"
		   "set logscale x\nset grid\nset key bottom right\n"
		   "set xlabel 'latency (ns, log scale)'\n"
		   "set ylabel 'fraction of samples at or below'\n"
		   "set yrange [0:1]\n",
		   png, m->nproc, m->cpu, m->kernel, m->date);
	write_panel(f, dat, 1, "polled: spinning handoffs");
	write_panel(f, dat, 0, "sleeping: kernel wakeups");
	fprintf(f, "unset multiplot\n");
	return fclose(f) == 0 ? 0 : -1;
}

int bench_report_plot(const char *png, const struct bench_machine *m)
{
	char dat[1024], gp[1024];
	const char *argv[] = { "gnuplot", gp, NULL };
	struct bench_child child;
	size_t n = strlen(png);

	if (!on_path("gnuplot")) {
		fprintf(stderr, "plot: skipped (gnuplot not installed)\n");
		return 1;
	}
	if (n > 4 && strcmp(png + n - 4, ".png") == 0)
		n -= 4;
	snprintf(dat, sizeof(dat), "%.*s.dat", (int)n, png);
	snprintf(gp, sizeof(gp), "%.*s.gp", (int)n, png);
	if (write_data(dat) != 0 || write_script(gp, dat, png, m) != 0) {
		perror("plot");
		return -1;
	}
	if (bench_spawn_program(&child, argv, -1) != 0 ||
	    bench_child_wait(&child, GNUPLOT_MS) != 0) {
		fprintf(stderr, "plot: gnuplot failed (script %s)\n", gp);
		return -1;
	}
	return 0;
}
