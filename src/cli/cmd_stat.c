/*
 * src/cli/cmd_stat.c - `shmrt stat`: counters and workers of a tenant.
 *
 * Everything comes from the public API (shmrt/runtime.h): the queues'
 * counters (shmrt_queue_get_stats), their latencies over the retained
 * finished jobs (shmrt_queue_get_latency) and the worker seats
 * (shmrt_tenant_workers). Nothing is written and no participant record
 * is taken, so the workers are not disturbed.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <shmrt/error.h>
#include <shmrt/runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char stat_usage[] =
	"usage: shmrt stat [-c FILE] [-t TENANT] [--json | --prometheus]\n"
	"Per queue: depth (queued), running, finished (retained), succeeded,\n"
	"failed, cancelled, retried, reclaimed, deduplicated, evicted\n"
	"(finished jobs whose slot went to new work), and p50/p99 of\n"
	"enqueue-to-start (wait) and enqueue-to-finish (total) over the\n"
	"retained finished jobs ('-', or null in JSON, when there are none);\n"
	"the workers with pid and state (busy, idle, hung, dead). Read\n"
	"without disturbing the workers.\n"
	"Exit: 0 ok, 1 read failed, 2 usage, 3 cannot attach.\n";

enum fmt { FMT_TEXT, FMT_JSON, FMT_PROM };

struct qstat {
	const char *name;
	struct shmrt_queue_stats c;
	struct shmrt_queue_latency lat;
};

struct stat_view {
	const char *tenant;
	uint32_t nq, nw;
	struct qstat q[SHMRT_CONF_MAX_QUEUES];
	struct shmrt_worker_info *w;
	bool no_workers; /* the backend lists no workers (redis) */
};

static const char *const worker_states[] = { "idle", "busy", "hung", "dead" };

static const char *worker_state(int state)
{
	return state >= 0 && state < 4 ? worker_states[state] : "unknown";
}

/* The workers; room is taken again while they come and go. */
static int collect_workers(struct stat_view *v)
{
	int n = 0, room = 0, tries;

	for (tries = 0; tries < 8; tries++) {
		n = shmrt_tenant_workers(v->tenant, v->w, (size_t)room);
		if (n < 0 || n <= room)
			break;
		free(v->w);
		room = n + 8;
		if ((v->w = calloc((size_t)room, sizeof(*v->w))) == NULL)
			return SHMRT_E_NOMEM;
	}
	if (n < 0)
		return n;
	v->nw = (uint32_t)(n <= room ? n : room);
	return 0;
}

static int collect(const struct cli_target *t, struct stat_view *v)
{
	uint32_t qi;
	int rc = 0;

	v->tenant = t->tenant;
	v->nq = t->conf.nqueues;
	for (qi = 0; qi < v->nq && rc == 0; qi++) {
		v->q[qi].name = t->conf.queue[qi].name;
		rc = shmrt_queue_get_stats(v->tenant, v->q[qi].name,
					   &v->q[qi].c);
		/* A backend that keeps no latency figures (redis):
		 * reported as no data. */
		if (rc == 0 &&
		    (rc = shmrt_queue_get_latency(v->tenant, v->q[qi].name,
						  &v->q[qi].lat)) ==
			    SHMRT_E_BACKEND)
			rc = 0;
	}
	if (rc == 0 && (rc = collect_workers(v)) == SHMRT_E_BACKEND) {
		v->no_workers = true; /* not listed by this backend */
		rc = 0;
	}
	return rc;
}

/* "   1.23ms", or "        -" with no data. */
static void text_ms(const struct shmrt_latency *l, uint64_t ns)
{
	if (l->count == 0)
		printf(" %9s", "-");
	else
		printf(" %7.2fms", (double)ns / 1e6);
}

static void print_text(const struct stat_view *v)
{
	uint32_t i;

	printf("tenant %s\n%-10s %7s %7s %9s %7s %7s %9s %6s %7s %9s %9s "
	       "%9s %9s\n", v->tenant, "queue", "depth", "running",
	       "succeeded", "failed", "retried", "reclaimed", "dedup",
	       "evicted", "wait p50",
	       "wait p99", "total p50", "total p99");
	for (i = 0; i < v->nq; i++) {
		const struct qstat *q = &v->q[i];

		printf("%-10s %7u %7u %9llu %7llu %7llu %9llu %6llu %7llu",
		       q->name,
		       q->c.queued, q->c.running,
		       (unsigned long long)q->c.succeeded,
		       (unsigned long long)q->c.failed,
		       (unsigned long long)q->c.retried,
		       (unsigned long long)q->c.reclaimed,
		       (unsigned long long)q->c.deduplicated,
		       (unsigned long long)q->c.evicted);
		text_ms(&q->lat.wait, q->lat.wait.p50_ns);
		text_ms(&q->lat.wait, q->lat.wait.p99_ns);
		text_ms(&q->lat.total, q->lat.total.p50_ns);
		text_ms(&q->lat.total, q->lat.total.p99_ns);
		putchar('\n');
	}
	if (v->no_workers)
		printf("workers: not listed by this backend\n");
	else
		printf("workers %u\n", v->nw);
	for (i = 0; i < v->nw; i++)
		printf("  pid %-8d %s\n", (int)v->w[i].pid,
		       worker_state(v->w[i].state));
}

/* ,"KEY":1.234 in milliseconds, or ,"KEY":null with no data. */
static void json_ms(const char *key, const struct shmrt_latency *l,
		    uint64_t ns)
{
	if (l->count == 0)
		printf(",\"%s\":null", key);
	else
		printf(",\"%s\":%.3f", key, (double)ns / 1e6);
}

static void json_queue(const struct qstat *q)
{
	cli_json_string(q->name, strlen(q->name));
	printf(",\"depth\":%u,\"running\":%u,\"finished\":%u,"
	       "\"enqueued\":%llu,\"succeeded\":%llu,\"failed\":%llu,"
	       "\"retried\":%llu,\"reclaimed\":%llu,\"cancelled\":%llu,"
	       "\"deduplicated\":%llu,\"evicted\":%llu,"
	       "\"latency_jobs\":%llu",
	       q->c.queued, q->c.running, q->c.finished,
	       (unsigned long long)q->c.enqueued,
	       (unsigned long long)q->c.succeeded,
	       (unsigned long long)q->c.failed,
	       (unsigned long long)q->c.retried,
	       (unsigned long long)q->c.reclaimed,
	       (unsigned long long)q->c.cancelled,
	       (unsigned long long)q->c.deduplicated,
	       (unsigned long long)q->c.evicted,
	       (unsigned long long)q->lat.total.count);
	json_ms("wait_ms_p50", &q->lat.wait, q->lat.wait.p50_ns);
	json_ms("wait_ms_p99", &q->lat.wait, q->lat.wait.p99_ns);
	json_ms("total_ms_p50", &q->lat.total, q->lat.total.p50_ns);
	json_ms("total_ms_p99", &q->lat.total, q->lat.total.p99_ns);
}

static void print_json(const struct stat_view *v)
{
	uint32_t i;

	printf("{\"tenant\":");
	cli_json_string(v->tenant, strlen(v->tenant));
	printf(",\"queues\":[");
	for (i = 0; i < v->nq; i++) {
		printf("%s{\"name\":", i ? "," : "");
		json_queue(&v->q[i]);
		putchar('}');
	}
	printf("],\"workers\":[");
	for (i = 0; i < v->nw; i++)
		printf("%s{\"pid\":%d,\"state\":\"%s\",\"job\":%llu,"
		       "\"queue\":%d}", i ? "," : "", (int)v->w[i].pid,
		       worker_state(v->w[i].state),
		       (unsigned long long)v->w[i].job.v, (int)v->w[i].queue);
	printf("]}\n");
}

/*
 * The Prometheus exposition (text format 0.0.4), checked by `promtool
 * check metrics` in tests/cli/test_metrics.c. Tenant and queue names
 * are [A-Za-z0-9._-] (the configuration enforces it), so they need no
 * escaping inside label values.
 */
enum prom_field {
	PF_QUEUED, PF_RUNNING, PF_FINISHED, PF_ENQUEUED, PF_SUCCEEDED,
	PF_FAILED, PF_CANCELLED, PF_RETRIED, PF_RECLAIMED, PF_DEDUPLICATED,
	PF_EVICTED,
};

static const struct prom_metric {
	const char *name, *type, *help;
	enum prom_field field;
} prom_metrics[] = {
	{ "queue_depth", "gauge", "Jobs waiting to run (retries in backoff "
	  "included).", PF_QUEUED },
	{ "queue_running", "gauge", "Jobs running.", PF_RUNNING },
	{ "queue_finished", "gauge", "Finished jobs still retained.",
	  PF_FINISHED },
	{ "jobs_enqueued_total", "counter", "Jobs enqueued.", PF_ENQUEUED },
	{ "jobs_succeeded_total", "counter", "Jobs succeeded.",
	  PF_SUCCEEDED },
	{ "jobs_failed_total", "counter", "Jobs failed for good.",
	  PF_FAILED },
	{ "jobs_cancelled_total", "counter", "Jobs cancelled.",
	  PF_CANCELLED },
	{ "jobs_retried_total", "counter", "Attempts retried.", PF_RETRIED },
	{ "jobs_reclaimed_total", "counter", "Jobs taken back from dead or "
	  "hung workers.", PF_RECLAIMED },
	{ "jobs_deduplicated_total", "counter", "Enqueues answered with an "
	  "existing job.", PF_DEDUPLICATED },
	{ "jobs_evicted_total", "counter", "Finished jobs whose slot went to "
	  "new work before retention ended.", PF_EVICTED },
};

static unsigned long long prom_value(const struct shmrt_queue_stats *c,
				     enum prom_field f)
{
	switch (f) {
	case PF_QUEUED: return c->queued;
	case PF_RUNNING: return c->running;
	case PF_FINISHED: return c->finished;
	case PF_ENQUEUED: return c->enqueued;
	case PF_SUCCEEDED: return c->succeeded;
	case PF_FAILED: return c->failed;
	case PF_CANCELLED: return c->cancelled;
	case PF_RETRIED: return c->retried;
	case PF_RECLAIMED: return c->reclaimed;
	case PF_DEDUPLICATED: return c->deduplicated;
	case PF_EVICTED: return c->evicted;
	}
	return 0;
}

static void prom_counters(const struct stat_view *v)
{
	size_t m;
	uint32_t i;

	for (m = 0; m < sizeof(prom_metrics) / sizeof(*prom_metrics); m++) {
		const struct prom_metric *pm = &prom_metrics[m];

		printf("# HELP shmrt_%s %s\n# TYPE shmrt_%s %s\n", pm->name,
		       pm->help, pm->name, pm->type);
		for (i = 0; i < v->nq; i++)
			printf("shmrt_%s{tenant=\"%s\",queue=\"%s\"} %llu\n",
			       pm->name, v->tenant, v->q[i].name,
			       prom_value(&v->q[i].c, pm->field));
	}
}

/* A quantile in seconds; NaN when there is no data (the convention of
 * Prometheus client libraries for a summary without observations). */
static void prom_quantile(const char *labels, const char *q,
			  const struct shmrt_latency *l, uint64_t ns)
{
	printf("shmrt_job_latency_seconds{%s,quantile=\"%s\"} ", labels, q);
	if (l->count == 0)
		printf("NaN\n");
	else
		printf("%.9f\n", (double)ns / 1e9);
}

static void prom_summary(const struct stat_view *v)
{
	char labels[160];
	uint32_t i, k;

	printf("# HELP shmrt_job_latency_seconds Enqueue to handler start "
	       "(phase wait) and to finish (phase total), over the finished "
	       "jobs still retained.\n"
	       "# TYPE shmrt_job_latency_seconds summary\n");
	for (i = 0; i < v->nq; i++) {
		for (k = 0; k < 2; k++) {
			const struct shmrt_latency *l = k ? &v->q[i].lat.total
							  : &v->q[i].lat.wait;

			snprintf(labels, sizeof(labels), "tenant=\"%s\","
				 "queue=\"%s\",phase=\"%s\"", v->tenant,
				 v->q[i].name, k ? "total" : "wait");
			prom_quantile(labels, "0.5", l, l->p50_ns);
			prom_quantile(labels, "0.9", l, l->p90_ns);
			prom_quantile(labels, "0.99", l, l->p99_ns);
			printf("shmrt_job_latency_seconds_sum{%s} %.9f\n"
			       "shmrt_job_latency_seconds_count{%s} %llu\n",
			       labels, (double)l->sum_ns / 1e9, labels,
			       (unsigned long long)l->count);
		}
	}
}

static void print_prom(const struct stat_view *v)
{
	uint32_t i, n;
	int k;

	prom_counters(v);
	prom_summary(v);
	printf("# HELP shmrt_workers Worker seats by state.\n"
	       "# TYPE shmrt_workers gauge\n");
	for (k = 0; k < 4; k++) {
		for (i = n = 0; i < v->nw; i++)
			n += v->w[i].state == k;
		printf("shmrt_workers{tenant=\"%s\",state=\"%s\"} %u\n",
		       v->tenant, worker_states[k], n);
	}
}

int cli_stat(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "conf", required_argument, NULL, 'c' },
		{ "tenant", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "prometheus", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct cli_target t;
	static struct stat_view v;
	enum fmt fmt = FMT_TEXT;
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': t.conf_arg = optarg; break;
		case 't': t.tenant_arg = optarg; break;
		case 'j':
		case 'p':
			if (fmt != FMT_TEXT)
				return cli_usage_error(stat_usage, "--json and "
						       "--prometheus exclude "
						       "each other");
			fmt = c == 'j' ? FMT_JSON : FMT_PROM;
			break;
		case 'h': fputs(stat_usage, stdout); return CLI_OK;
		default: fputs(stat_usage, stderr); return CLI_USAGE;
		}
	}
	if (optind != argc)
		return cli_usage_error(stat_usage, "unexpected argument '%s'",
				       argv[optind]);
	if ((rc = cli_target_load("stat", &t)) != CLI_OK ||
	    (rc = cli_target_attach("stat", &t)) != CLI_OK)
		return rc;
	if ((rc = collect(&t, &v)) != 0) {
		cli_error("stat", "%s", shmrt_last_error());
		free(v.w);
		shmrt_tenant_detach(t.tenant);
		return CLI_FAILED;
	}
	if (fmt == FMT_JSON)
		print_json(&v);
	else if (fmt == FMT_PROM)
		print_prom(&v);
	else
		print_text(&v);
	free(v.w);
	shmrt_tenant_detach(t.tenant);
	return CLI_OK;
}
