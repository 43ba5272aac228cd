/*
 * bench/report.c - the tables, the goals and the JSON file of one run.
 *
 * A table per group, a row per figure, and after each figure its ratio
 * to every baseline the row names (for latencies, the ratio of the
 * medians). The goals of issues 6 and 10 are evaluated from the same
 * rows and printed as PASS, or MISS with how far past the limit.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "results.h"

/* ------------------------------------------------------------ goals */

enum goal_kind {
	GOAL_P50_AT_MOST,   /* row p50 / baseline p50 <= limit */
	GOAL_RATE_AT_LEAST, /* row rate / baseline rate >= limit */
	GOAL_FLAT,	    /* max / min of the group's values <= limit */
	GOAL_VALUE_AT_MOST, /* row value <= limit (in the row's unit) */
};

struct goal {
	const char *issue;
	const char *text;
	enum goal_kind kind;
	const char *group, *row;
	const char *bgroup, *brow;
	double limit;
};

static const struct goal goals[] = {
	{ "10", "public API >= 0.5x the raw ring (1 -> 1, same rounds)",
	  GOAL_RATE_AT_LEAST, G_API, R_API_1W, G_API, R_API_RING, 0.5 },
	{ "10", "50 lanes >= 0.8x unlaned (public API, 2 workers)",
	  GOAL_RATE_AT_LEAST, G_API, R_API_LANED2, G_API, R_API_2W, 0.8 },
	{ "10", "polled enqueue->start p50 within 2x the spin floor",
	  GOAL_P50_AT_MOST, G_LATENCY, R_LAT_PUB_SPIN, G_LATENCY,
	  R_LAT_SPIN_FLOOR, 2.0 },
	{ "10", "idle tenant, enqueue->start p50: 6 workers within 1.2x of 1",
	  GOAL_P50_AT_MOST, G_WAKE, R_WAKE_START6, G_WAKE, R_WAKE_START1,
	  1.2 },
	{ "10", "idle tenant, enqueue->result p50: 6 workers within 1.2x of 1",
	  GOAL_P50_AT_MOST, G_WAKE, R_WAKE_SEEN6, G_WAKE, R_WAKE_SEEN1, 1.2 },
	{ "10", "idle default tenant: under 10 wakeups/s in all",
	  GOAL_VALUE_AT_MOST, G_IDLE, R_IDLE_WAKE, NULL, NULL, 10 },
	{ "10", "idle default tenant: under 0.1% of a vCPU",
	  GOAL_VALUE_AT_MOST, G_IDLE, R_IDLE_CPU, NULL, NULL, 0.1 },
	{ "6", "polled enqueue->start p50 within 2x the spin floor (engine)",
	  GOAL_P50_AT_MOST, G_LATENCY, R_LAT_SPIN_START, G_LATENCY,
	  R_LAT_SPIN_FLOOR, 2.0 },
	{ "6", "sleeping enqueue->start p50 within 1.2x the futex floor",
	  GOAL_P50_AT_MOST, G_LATENCY, R_LAT_SLEEP_START, G_LATENCY,
	  R_LAT_FUTEX_FLOOR, 1.2 },
	{ "6", "public API >= 100x redis, one client each side",
	  GOAL_RATE_AT_LEAST, G_API, R_API_1W, G_TPUT_BASE, R_REDIS_SINGLE,
	  100.0 },
	{ "6", "public API >= 10x redis at its best", GOAL_RATE_AT_LEAST,
	  G_API, R_API_1W, G_TPUT_BASE, R_REDIS_BEST, 10.0 },
	{ "6", "public API >= 1000x rq at its best", GOAL_RATE_AT_LEAST,
	  G_API, R_API_1W, G_TPUT_BASE, R_RQ_BEST, 1000.0 },
	{ "11", "redis backend throughput >= 10x rq (forking Worker)",
	  GOAL_RATE_AT_LEAST, G_RB, R_RB_TPUT, G_TPUT_BASE, R_RQ_RATE, 10.0 },
	{ "11", "redis backend throughput >= 0.5x redis pipelined",
	  GOAL_RATE_AT_LEAST, G_RB, R_RB_TPUT, G_TPUT_BASE, R_REDIS_PIPE,
	  0.5 },
	{ "6", "per-job cost flat (max/min <= 1.5), depth 1e3 to 1e6",
	  GOAL_FLAT, G_DEPTH, NULL, NULL, NULL, 1.5 },
	{ "6", "per-job cost flat (max/min <= 1.5), 1 to 100,000 lanes",
	  GOAL_FLAT, G_LANES, NULL, NULL, NULL, 1.5 },
};

#define NGOALS (sizeof(goals) / sizeof(goals[0]))

struct goal_eval {
	double ratio; /* GOAL_VALUE_AT_MOST: the row's value */
	int measured;
	int met;
	char status[96];
};

/* max / min over the VALUE rows of a group; 0 with fewer than two. */
static double flatness(const char *group)
{
	double lo = 0, hi = 0;
	size_t i;
	int n = 0;

	for (i = 0; i < bench_result_count(); i++) {
		const struct bench_result *r = bench_result_at(i);

		if (strcmp(r->group, group) != 0 || r->kind != BENCH_VALUE ||
		    r->value <= 0)
			continue;
		if (n == 0 || r->value < lo)
			lo = r->value;
		if (n == 0 || r->value > hi)
			hi = r->value;
		n++;
	}
	return n >= 2 ? hi / lo : 0;
}

/* The figure a goal judges: a ratio, or the row's own value. */
static double goal_figure(const struct goal *g, int *measured)
{
	const struct bench_result *r;

	*measured = 1;
	if (g->kind == GOAL_FLAT)
		return flatness(g->group);
	if (g->kind != GOAL_VALUE_AT_MOST)
		return bench_ratio(bench_find(g->group, g->row),
				   bench_find(g->bgroup, g->brow));
	r = bench_find(g->group, g->row);
	*measured = r != NULL && r->kind == BENCH_VALUE;
	return *measured ? r->value : 0;
}

static void goal_evaluate(const struct goal *g, struct goal_eval *e)
{
	int measured;

	memset(e, 0, sizeof(*e));
	e->ratio = goal_figure(g, &measured);
	if (!measured || (g->kind != GOAL_VALUE_AT_MOST && e->ratio <= 0)) {
		e->ratio = 0;
		snprintf(e->status, sizeof(e->status),
			 "not measured (a row is missing or skipped)");
		return;
	}
	e->measured = 1;
	if (g->kind == GOAL_RATE_AT_LEAST) {
		e->met = e->ratio >= g->limit;
		snprintf(e->status, sizeof(e->status),
			 e->met ? "PASS" : "MISS (needs %.2fx more)",
			 g->limit / e->ratio);
	} else {
		e->met = e->ratio <= g->limit;
		snprintf(e->status, sizeof(e->status),
			 e->met ? "PASS" : "MISS (%.2fx over the limit)",
			 e->ratio / g->limit);
	}
}

/* ------------------------------------------------------- formatting */

static void fmt_ns(double ns, char *buf, size_t len)
{
	if (ns < 1e4)
		snprintf(buf, len, "%.0f ns", ns);
	else if (ns < 1e7)
		snprintf(buf, len, "%.1f us", ns / 1e3);
	else if (ns < 1e10)
		snprintf(buf, len, "%.1f ms", ns / 1e6);
	else
		snprintf(buf, len, "%.2f s", ns / 1e9);
}

static void fmt_bytes(double b, char *buf, size_t len)
{
	if (b < 10 * 1024.0)
		snprintf(buf, len, "%.0f B", b);
	else if (b < 10 * 1048576.0)
		snprintf(buf, len, "%.1f KiB", b / 1024);
	else
		snprintf(buf, len, "%.1f MiB", b / 1048576);
}

static void fmt_value(const struct bench_result *r, char *buf, size_t len)
{
	char tmp[48];

	if (r->kind == BENCH_RATE) {
		if (r->value >= 1e6)
			snprintf(buf, len, "%.2f M/s", r->value / 1e6);
		else if (r->value >= 1e3)
			snprintf(buf, len, "%.1f k/s", r->value / 1e3);
		else
			snprintf(buf, len, "%.1f /s", r->value);
	} else if (strcmp(r->unit, "ns/job") == 0) {
		fmt_ns(r->value, tmp, sizeof(tmp));
		snprintf(buf, len, "%.20s/job", tmp);
	} else if (strcmp(r->unit, "bytes") == 0) {
		fmt_bytes(r->value, buf, len);
	} else if (strcmp(r->unit, "kB") == 0) {
		fmt_bytes(r->value * 1024, buf, len);
	} else {
		snprintf(buf, len, "%.4g %s", r->value, r->unit);
	}
}

static void fmt_ratio(double x, char *buf, size_t len)
{
	if (x <= 0)
		snprintf(buf, len, "-");
	else if (x < 10)
		snprintf(buf, len, "%.2fx", x);
	else if (x < 100)
		snprintf(buf, len, "%.1fx", x);
	else
		snprintf(buf, len, "%.0fx", x);
}

/* "1.90x spin floor, 120x redis" */
static void fmt_ratios(const struct bench_result *r, char *buf, size_t len)
{
	size_t used = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < r->nrefs && used < len; i++) {
		const struct bench_ref *b = &r->refs[i];
		char x[24];

		fmt_ratio(bench_ratio(r, bench_find(b->group, b->name)), x,
			  sizeof(x));
		used += (size_t)snprintf(buf + used, len - used, "%s%s %s",
					 i ? ", " : "", x, b->label);
	}
}

/* ----------------------------------------------------------- tables */

static int group_has(const char *group, enum bench_kind kind)
{
	size_t i;

	for (i = 0; i < bench_result_count(); i++)
		if (strcmp(bench_result_at(i)->group, group) == 0 &&
		    bench_result_at(i)->kind == kind)
			return 1;
	return 0;
}

static void print_row(const struct bench_result *r)
{
	char a[32], b[32], c[32], ratios[256];

	fmt_ratios(r, ratios, sizeof(ratios));
	switch (r->kind) {
	case BENCH_LATENCY:
		fmt_ns(r->lat.p50, a, sizeof(a));
		fmt_ns(r->lat.p99, b, sizeof(b));
		fmt_ns(r->lat.p999, c, sizeof(c));
		printf("  %-54s %10s %10s %10s %8llu  %s\n", r->name, a, b, c,
		       (unsigned long long)r->lat.n, ratios);
		break;
	case BENCH_RATE:
	case BENCH_VALUE:
		fmt_value(r, a, sizeof(a));
		printf("  %-54s %12s  %s\n", r->name, a, ratios);
		break;
	case BENCH_SKIPPED:
		printf("  %-54s skipped: %s\n", r->name, r->note);
		return;
	case BENCH_FAILED:
		printf("  %-54s FAILED: %s\n", r->name, r->note);
		return;
	}
	if (r->note[0] != '\0')
		printf("  %-54s   (%s)\n", "", r->note);
}

static void print_group(size_t g)
{
	const char *name = bench_group_name(g);
	size_t i;
	int any = 0;

	for (i = 0; i < bench_result_count(); i++)
		any |= strcmp(bench_result_at(i)->group, name) == 0;
	if (!any)
		return;
	printf("\n== %s\n", bench_group_title(g));
	if (group_has(name, BENCH_LATENCY))
		printf("  %-54s %10s %10s %10s %8s  %s\n", "", "p50", "p99",
		       "p99.9", "n", "p50 ratio to baseline");
	else
		printf("  %-54s %12s  %s\n", "", "figure", "ratio to baseline");
	for (i = 0; i < bench_result_count(); i++)
		if (strcmp(bench_result_at(i)->group, name) == 0)
			print_row(bench_result_at(i));
}

void bench_report_tables(const struct bench_machine *m, int smoke)
{
	size_t g;

	printf("shmrt_bench, %s, on %ld x %s, %s, %s\n",
	       smoke ? "smoke run (tiny counts: figures not meaningful)"
		     : "full run",
	       m->nproc, m->cpu, m->kernel, m->date);
	for (g = 0; g < bench_group_count(); g++)
		print_group(g);
}

/* "0.42x", or for a value goal "618 /s" */
static void fmt_goal(const struct goal *g, const struct goal_eval *e,
		     char *buf, size_t len)
{
	const struct bench_result *r;

	if (g->kind != GOAL_VALUE_AT_MOST || !e->measured) {
		fmt_ratio(e->ratio, buf, len);
		return;
	}
	r = bench_find(g->group, g->row);
	snprintf(buf, len, "%.3g %s", e->ratio, r != NULL ? r->unit : "");
}

void bench_report_goals(void)
{
	size_t i;

	printf("\n== goals (issues 6 and 10; reported, not asserted)\n");
	for (i = 0; i < NGOALS; i++) {
		struct goal_eval e;
		char x[32], text[96];

		goal_evaluate(&goals[i], &e);
		fmt_goal(&goals[i], &e, x, sizeof(x));
		snprintf(text, sizeof(text), "%-2s %s", goals[i].issue,
			 goals[i].text);
		printf("  %-64s %12s  %s\n", text, x, e.status);
	}
}

/* ---------------------------------------------------------- machine */

static void cpu_model(char *out, size_t len)
{
	char line[512];
	FILE *f = fopen("/proc/cpuinfo", "re");

	snprintf(out, len, "unknown cpu");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) != 0 || colon == NULL)
			continue;
		colon += strspn(colon + 1, " \t") + 1;
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(out, len, "%s", colon);
		break;
	}
	fclose(f);
}

void bench_machine_describe(struct bench_machine *m)
{
	struct utsname u;
	time_t now = time(NULL);
	struct tm tm;

	memset(m, 0, sizeof(*m));
	m->nproc = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_model(m->cpu, sizeof(m->cpu));
	if (uname(&u) == 0)
		snprintf(m->kernel, sizeof(m->kernel), "%s %s %s", u.sysname,
			 u.release, u.machine);
	gmtime_r(&now, &tm);
	strftime(m->date, sizeof(m->date), "%Y-%m-%dT%H:%M:%SZ", &tm);
#if defined(__SANITIZE_ADDRESS__)
	snprintf(m->build, sizeof(m->build), "gcc %s, ASan", __VERSION__);
#elif defined(__SANITIZE_THREAD__)
	snprintf(m->build, sizeof(m->build), "gcc %s, TSan", __VERSION__);
#else
	snprintf(m->build, sizeof(m->build), "gcc %s", __VERSION__);
#endif
}

/* ------------------------------------------------------------- JSON */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static const char *kind_name(enum bench_kind k)
{
	static const char *const names[] = { "latency", "rate", "value",
					     "skipped", "failed" };

	return names[k];
}

static void json_result(FILE *f, const struct bench_result *r)
{
	int i;

	fprintf(f, "    {\"group\": ");
	json_str(f, r->group);
	fprintf(f, ", \"name\": ");
	json_str(f, r->name);
	fprintf(f, ", \"kind\": \"%s\", \"unit\": ", kind_name(r->kind));
	json_str(f, r->unit);
	if (r->kind == BENCH_LATENCY)
		fprintf(f, ", \"n\": %llu, \"min\": %.0f, \"p50\": %.0f, "
			   "\"p90\": %.0f, \"p99\": %.0f, \"p999\": %.0f, "
			   "\"max\": %.0f, \"mean\": %.1f",
			(unsigned long long)r->lat.n, r->lat.min, r->lat.p50,
			r->lat.p90, r->lat.p99, r->lat.p999, r->lat.max,
			r->lat.mean);
	else if (r->kind == BENCH_RATE || r->kind == BENCH_VALUE)
		fprintf(f, ", \"value\": %.6g", r->value);
	fprintf(f, ", \"note\": ");
	json_str(f, r->note);
	fprintf(f, ", \"ratios\": [");
	for (i = 0; i < r->nrefs; i++) {
		const struct bench_ref *b = &r->refs[i];
		double x = bench_ratio(r, bench_find(b->group, b->name));

		fprintf(f, "%s{\"baseline\": ", i ? ", " : "");
		json_str(f, b->name);
		fprintf(f, ", \"label\": ");
		json_str(f, b->label);
		if (x > 0)
			fprintf(f, ", \"ratio\": %.6g}", x);
		else
			fprintf(f, ", \"ratio\": null}");
	}
	fprintf(f, "]}");
}

static void json_goals(FILE *f)
{
	size_t i;

	fprintf(f, "  \"goals\": [\n");
	for (i = 0; i < NGOALS; i++) {
		struct goal_eval e;

		goal_evaluate(&goals[i], &e);
		fprintf(f, "    {\"issue\": %s, \"goal\": ", goals[i].issue);
		json_str(f, goals[i].text);
		if (e.measured)
			fprintf(f, ", \"%s\": %.6g, \"limit\": %g, "
				   "\"met\": %s, \"status\": ",
				goals[i].kind == GOAL_VALUE_AT_MOST ? "value"
								    : "ratio",
				e.ratio, goals[i].limit,
				e.met ? "true" : "false");
		else
			fprintf(f, ", \"ratio\": null, \"limit\": %g, "
				   "\"met\": null, \"status\": ",
				goals[i].limit);
		json_str(f, e.status);
		fprintf(f, "}%s\n", i + 1 < NGOALS ? "," : "");
	}
	fprintf(f, "  ]\n");
}

int bench_report_json(const char *path, const struct bench_machine *m,
		      int smoke)
{
	FILE *f = fopen(path, "we");
	size_t i, n = bench_result_count();

	if (f == NULL) {
		perror(path);
		return -1;
	}
	fprintf(f, "{\n  \"benchmark\": \"shmrt_bench\",\n  \"mode\": \"%s\",\n",
		smoke ? "smoke" : "full");
	fprintf(f, "  \"machine\": {\"nproc\": %ld, \"cpu\": ", m->nproc);
	json_str(f, m->cpu);
	fprintf(f, ", \"kernel\": ");
	json_str(f, m->kernel);
	fprintf(f, ", \"date\": ");
	json_str(f, m->date);
	fprintf(f, ", \"build\": ");
	json_str(f, m->build);
	fprintf(f, "},\n  \"results\": [\n");
	for (i = 0; i < n; i++) {
		json_result(f, bench_result_at(i));
		fprintf(f, "%s\n", i + 1 < n ? "," : "");
	}
	fprintf(f, "  ],\n");
	json_goals(f);
	fprintf(f, "}\n");
	return fclose(f) == 0 ? 0 : -1;
}
