/*
 * src/cli/cmd_stat.c - `shmrt stat`: counters and workers of a tenant.
 *
 * Everything is read from the mapped segment: the queues' shared
 * counters (shmrt_queue_get_stats), the retained jobs' timestamps for
 * the latency percentiles, and the participant table for the workers.
 * Nothing is written and no participant record is taken, so the workers
 * are not disturbed.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <shmrt/error.h>
#include <shmrt/runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "shm/job.h"
#include "shm/os.h"
#include "shm/participant.h"
#include "shm/segment.h"

static const char stat_usage[] =
	"usage: shmrt stat [-c FILE] [-t TENANT] [--json | --prometheus]\n"
	"Per queue: depth (queued), running, succeeded, failed, retried,\n"
	"reclaimed, deduplicated, and p50/p99 of enqueue-to-start and\n"
	"enqueue-to-finish over the retained finished jobs; the workers\n"
	"with pid and state (busy, idle, hung, dead). Read from the mapped\n"
	"segment without disturbing the workers; with backend = redis, the\n"
	"counters are read from the server (no worker table, no latencies).\n"
	"Exit: 0 ok, 1 read failed, 2 usage, 3 cannot attach.\n";

enum fmt { FMT_TEXT, FMT_JSON, FMT_PROM };

struct qstat {
	const char *name;
	struct shmrt_queue_stats c;
	double wait_p50, wait_p99, total_p50, total_p99; /* ms */
};

struct wstat {
	int pid;
	const char *state;
};

struct stat_view {
	const char *tenant;
	uint32_t nq, nw;
	struct qstat q[SHMRT__MAX_QUEUES];
	struct wstat *w;
	struct shmrt__seg seg; /* the names above point into it */
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct_ms(uint64_t *v, uint32_t n, double p)
{
	return n == 0 ? 0 : (double)v[(uint32_t)(p * (n - 1))] / 1e6;
}

/* Percentiles over the queue's finished jobs that are still retained. */
static void latencies(const struct shmrt__seg *seg, uint32_t qi,
		      struct qstat *q)
{
	const struct shmrt__qhandle *h = &seg->q[qi];
	uint64_t *wait = calloc(h->capacity + 1, sizeof(uint64_t));
	uint64_t *total = calloc(h->capacity + 1, sizeof(uint64_t));
	struct shmrt_job_info info;
	uint32_t i, n = 0;

	for (i = 0; wait && total && i < h->capacity; i++) {
		uint64_t w = __atomic_load_n(&shmrt__slot_at(h, i)->word,
					     __ATOMIC_ACQUIRE);

		if (!shmrt__state_final(shmrt__w_state(w)) ||
		    shmrt__job_status(seg, shmrt__id_make(qi, i,
							 shmrt__w_gen(w)),
				      &info, NULL, 0) != 0 ||
		    info.start_ns == 0 || info.finish_ns == 0)
			continue;
		wait[n] = info.start_ns - info.enqueue_ns;
		total[n++] = info.finish_ns - info.enqueue_ns;
	}
	if (n > 0) {
		qsort(wait, n, sizeof(*wait), cmp_u64);
		qsort(total, n, sizeof(*total), cmp_u64);
	}
	q->wait_p50 = pct_ms(wait, n, 0.5);
	q->wait_p99 = pct_ms(wait, n, 0.99);
	q->total_p50 = pct_ms(total, n, 0.5);
	q->total_p99 = pct_ms(total, n, 0.99);
	free(wait);
	free(total);
}

static const char *worker_state(const struct shmrt__seg *seg,
				const struct shmrt__participant *r,
				uint64_t owner)
{
	uint64_t hb = __atomic_load_n(&r->heartbeat_ns, __ATOMIC_RELAXED);
	uint64_t timeout = seg->hdr->tun.heartbeat_timeout_ns;

	if (!shmrt__part_owner_alive(owner))
		return "dead";
	if (timeout != 0 && hb != 0 && shmrt__os_now_ns() > hb + timeout)
		return "hung";
	return __atomic_load_n(&r->held_job, __ATOMIC_RELAXED) ? "busy"
							      : "idle";
}

static void workers(const struct shmrt__seg *seg, struct stat_view *v)
{
	uint32_t i;

	v->w = calloc(seg->nparticipants + 1, sizeof(*v->w));
	for (i = 0; v->w != NULL && i < seg->nparticipants; i++) {
		const struct shmrt__participant *r = &seg->parts[i];
		uint64_t owner = __atomic_load_n(&r->owner, __ATOMIC_ACQUIRE);

		if (owner == 0 ||
		    !(__atomic_load_n(&r->role, __ATOMIC_RELAXED) &
		      SHMRT__ROLE_WORKER))
			continue;
		v->w[v->nw].pid = (int)(owner >> 32);
		v->w[v->nw++].state = worker_state(seg, r, owner);
	}
}

/*
 * A tenant whose jobs live in a server (redis): the counters come from
 * it; latencies and the worker table are the segment's and are left out
 * (the engine knows its worker seats, not their pids and states).
 */
static int collect_engine(const struct cli_target *t, struct stat_view *v)
{
	uint32_t qi;
	int rc = 0;

	v->tenant = t->tenant;
	v->nq = t->conf.nqueues;
	for (qi = 0; qi < v->nq && rc == 0; qi++) {
		v->q[qi].name = t->conf.queue[qi].name;
		rc = shmrt_queue_get_stats(t->tenant, v->q[qi].name,
					   &v->q[qi].c);
	}
	return rc;
}

static int collect(const struct cli_target *t, struct stat_view *v)
{
	struct shmrt__seg *seg = &v->seg;
	struct shmrt_tenant_info ti;
	const char *tenant = t->tenant;
	uint32_t qi;
	int rc;

	if (shmrt_tenant_get_info(tenant, &ti) == 0 &&
	    strcmp(ti.backend, "redis") == 0)
		return collect_engine(t, v);
	if ((rc = shmrt__seg_attach(tenant, seg)) != 0)
		return rc;
	v->tenant = tenant;
	v->nq = seg->nqueues;
	for (qi = 0; qi < seg->nqueues && rc == 0; qi++) {
		v->q[qi].name = seg->hdr->geo.queue[qi].name;
		rc = shmrt_queue_get_stats(tenant, v->q[qi].name, &v->q[qi].c);
		latencies(seg, qi, &v->q[qi]);
	}
	workers(seg, v);
	return rc;
}

static void print_text(const struct stat_view *v)
{
	uint32_t i;

	printf("tenant %s\n%-10s %7s %7s %9s %7s %7s %9s %6s %9s %9s %9s "
	       "%9s\n", v->tenant, "queue", "depth", "running", "succeeded",
	       "failed", "retried", "reclaimed", "dedup", "wait p50",
	       "wait p99", "total p50", "total p99");
	for (i = 0; i < v->nq; i++) {
		const struct qstat *q = &v->q[i];

		printf("%-10s %7u %7u %9llu %7llu %7llu %9llu %6llu %7.2fms "
		       "%7.2fms %7.2fms %7.2fms\n", q->name, q->c.queued,
		       q->c.running, (unsigned long long)q->c.succeeded,
		       (unsigned long long)q->c.failed,
		       (unsigned long long)q->c.retried,
		       (unsigned long long)q->c.reclaimed,
		       (unsigned long long)q->c.deduplicated, q->wait_p50,
		       q->wait_p99, q->total_p50, q->total_p99);
	}
	printf("workers %u\n", v->nw);
	for (i = 0; i < v->nw; i++)
		printf("  pid %-8d %s\n", v->w[i].pid, v->w[i].state);
}

static void print_json(const struct stat_view *v)
{
	uint32_t i;

	printf("{\"tenant\":");
	cli_json_string(v->tenant, strlen(v->tenant));
	printf(",\"queues\":[");
	for (i = 0; i < v->nq; i++) {
		const struct qstat *q = &v->q[i];

		printf("%s{\"name\":", i ? "," : "");
		cli_json_string(q->name, strlen(q->name));
		printf(",\"depth\":%u,\"running\":%u,\"finished\":%u,"
		       "\"enqueued\":%llu,\"succeeded\":%llu,\"failed\":%llu,"
		       "\"retried\":%llu,\"reclaimed\":%llu,\"cancelled\":%llu,"
		       "\"deduplicated\":%llu,\"wait_ms_p50\":%.3f,"
		       "\"wait_ms_p99\":%.3f,\"total_ms_p50\":%.3f,"
		       "\"total_ms_p99\":%.3f}",
		       q->c.queued, q->c.running, q->c.finished,
		       (unsigned long long)q->c.enqueued,
		       (unsigned long long)q->c.succeeded,
		       (unsigned long long)q->c.failed,
		       (unsigned long long)q->c.retried,
		       (unsigned long long)q->c.reclaimed,
		       (unsigned long long)q->c.cancelled,
		       (unsigned long long)q->c.deduplicated, q->wait_p50,
		       q->wait_p99, q->total_p50, q->total_p99);
	}
	printf("],\"workers\":[");
	for (i = 0; i < v->nw; i++)
		printf("%s{\"pid\":%d,\"state\":\"%s\"}", i ? "," : "",
		       v->w[i].pid, v->w[i].state);
	printf("]}\n");
}

static void prom_metric(const struct stat_view *v, const char *name,
			const char *type, const char *help, int which)
{
	uint32_t i;

	printf("# HELP shmrt_%s %s\n# TYPE shmrt_%s %s\n", name, help, name,
	       type);
	for (i = 0; i < v->nq; i++) {
		const struct shmrt_queue_stats *c = &v->q[i].c;
		unsigned long long x[] = { c->queued, c->running, c->succeeded,
					   c->failed, c->retried, c->reclaimed,
					   c->deduplicated, c->enqueued };

		printf("shmrt_%s{tenant=\"%s\",queue=\"%s\"} %llu\n", name,
		       v->tenant, v->q[i].name, x[which]);
	}
}

static void print_prom(const struct stat_view *v)
{
	static const char *states[] = { "busy", "idle", "hung", "dead" };
	uint32_t i, k, n;

	prom_metric(v, "queue_depth", "gauge", "Jobs waiting to run.", 0);
	prom_metric(v, "queue_running", "gauge", "Jobs running.", 1);
	prom_metric(v, "jobs_succeeded_total", "counter", "Jobs succeeded.", 2);
	prom_metric(v, "jobs_failed_total", "counter",
		    "Jobs failed for good.", 3);
	prom_metric(v, "jobs_retried_total", "counter", "Attempts retried.", 4);
	prom_metric(v, "jobs_reclaimed_total", "counter",
		    "Jobs reclaimed from dead or hung workers.", 5);
	prom_metric(v, "jobs_deduplicated_total", "counter",
		    "Enqueues answered with an existing job.", 6);
	prom_metric(v, "jobs_enqueued_total", "counter", "Jobs enqueued.", 7);
	printf("# HELP shmrt_job_latency_seconds Enqueue to start (wait) and "
	       "to finish (total), retained jobs.\n"
	       "# TYPE shmrt_job_latency_seconds gauge\n");
	for (i = 0; i < v->nq; i++) {
		const struct qstat *q = &v->q[i];
		const double x[] = { q->wait_p50, q->wait_p99, q->total_p50,
				     q->total_p99 };

		for (k = 0; k < 4; k++)
			printf("shmrt_job_latency_seconds{tenant=\"%s\","
			       "queue=\"%s\",phase=\"%s\",quantile=\"%s\"} "
			       "%.6f\n", v->tenant, q->name,
			       k < 2 ? "wait" : "total",
			       k % 2 ? "0.99" : "0.5", x[k] / 1e3);
	}
	printf("# HELP shmrt_workers Worker seats by state.\n"
	       "# TYPE shmrt_workers gauge\n");
	for (k = 0; k < 4; k++) {
		for (i = n = 0; i < v->nw; i++)
			n += strcmp(v->w[i].state, states[k]) == 0;
		printf("shmrt_workers{tenant=\"%s\",state=\"%s\"} %u\n",
		       v->tenant, states[k], n);
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
		fprintf(stderr, "shmrt stat: %s\n", shmrt_last_error());
		shmrt__seg_detach(&v.seg);
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
	shmrt__seg_detach(&v.seg);
	free(v.w);
	shmrt_tenant_detach(t.tenant);
	return CLI_OK;
}
