/*
 * bench/shmrt_tenants.c - what a tenant costs a process that starts many.
 *
 * One process (this one) starts 1, then 100, then 1,000 tenants (smoke:
 * 1, 10, 30) through the public API, every name served by the [tenant *]
 * template of a file with one small queue (tenants_conf below: capacity
 * 64, slot_size 256, process mode, so each tenant has its own segment
 * under /dev/shm). At each level it records:
 *
 *   start          shmrt_tenant_start of each tenant added at this level
 *                  (loads the file, creates, fallocates and initializes
 *                  the segment, joins the scan thread);
 *   enqueue        shmrt_enqueue, rounds of 64 calls spread over all the
 *                  tenants started (each round is timed; a sample is the
 *                  round's ns per call), with its ratio to the 1-tenant
 *                  figure; after each round, not timed, this thread runs
 *                  the round's jobs (a no-op handler) and releases them.
 *                  At the end, the same rounds all to one of the tenants;
 *   memory         the process's own RSS (RssAnon + RssFile) and its
 *                  mapped segment pages (RssShmem) per tenant, over an
 *                  idle baseline taken before the first start, and
 *                  /dev/shm bytes per tenant (st_blocks of the segments);
 *   threads, fds   of the process, to show neither grows per tenant;
 *   idle CPU       the process's CPU time while this thread sleeps: the
 *                  one scan thread scanning every tenant;
 *
 * Then every tenant is stopped (the time per stop is a row) and its
 * segment removed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <shmrt/shmrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "proc.h"
#include "results.h"
#include "runtime/queue_backend_factory.h"
#include "runtime/queue_runtime.h"
#include "stats.h"

#define G_TENANTS "tenants"
#define NAME_LEN  48
#define ROUND	  64 /* enqueues per timed round: one queue's capacity */

/* The file every tenant of this workload starts from. */
static const char tenants_conf[] = "[runtime]\n"
				   "mode = process\n"
				   "[tenant *]\n"
				   "[queue q]\n"
				   "handler = bench.noop\n"
				   "capacity = 64\n"
				   "slot_size = 256\n"
				   "workers = 0\n";

/* This thread's worker seat in one tenant: runs its jobs after a round. */
struct seat {
	struct shmrt__backend *be;
	struct shmrt__consumer *c;
};

struct tenants_run {
	char conf[96];
	char (*names)[NAME_LEN];
	struct seat *seats; /* one per name, opened on first use */
	uint32_t started;   /* names[0..started) run */
	struct bench_rss idle;
	uint32_t fds0, threads0;
};

/* Entries of /proc/self/fd (the directory's own fd included). */
static uint32_t count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	uint32_t n = 0;

	if (d == NULL)
		return 0;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n > 2 ? n - 2 : 0; /* "." and ".." */
}

static uint32_t count_threads(void)
{
	char line[256];
	unsigned n = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Threads: %u", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* Bytes /dev/shm holds for the first n tenants' segments. */
static uint64_t shm_bytes(const struct tenants_run *t, uint32_t n)
{
	char path[96];
	struct stat st;
	uint64_t sum = 0;
	uint32_t i;

	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/dev/shm/shmrt.%s", t->names[i]);
		if (stat(path, &st) == 0)
			sum += (uint64_t)st.st_blocks * 512u;
	}
	return sum;
}

/* Start tenants up to n; one latency row for this level's starts. */
static int start_to(struct tenants_run *t, uint32_t n)
{
	struct bench_samples s;
	char row[80];
	uint64_t t0;

	if (bench_samples_init(&s, n - t->started) != 0)
		return -1;
	snprintf(row, sizeof(row), "start a tenant, %u..%u started",
		 t->started + 1, n);
	for (; t->started < n; t->started++) {
		t0 = bench_now_ns();
		if (shmrt_tenant_start(t->conf, t->names[t->started]) != 0) {
			bench_record_failure(G_TENANTS, row, "%s",
					     shmrt_last_error());
			bench_samples_free(&s);
			return -1;
		}
		bench_samples_add(&s, bench_now_ns() - t0);
	}
	bench_record_latency(G_TENANTS, row, &s);
	bench_samples_free(&s);
	return 0;
}

static int h_noop(void *ctx, struct shmrt_job_run *run)
{
	(void)ctx;
	run->out_len = 0;
	return SHMRT_HANDLER_OK;
}

/* Tenant i's seat, opened on first use; NULL when it cannot be. */
static struct seat *seat_of(struct tenants_run *t, uint32_t i)
{
	struct seat *st = &t->seats[i];

	if (st->c != NULL)
		return st;
	st->be = shmrt__backend_lookup(t->names[i]);
	if (st->be == NULL)
		return NULL;
	if (st->be->ops->consumer_open(st->be, &st->c) != 0) {
		shmrt__backend_put(st->be);
		st->be = NULL;
		st->c = NULL;
		return NULL;
	}
	return st;
}

static void seat_close(struct seat *st)
{
	if (st->c != NULL)
		st->be->ops->consumer_close(st->be, st->c);
	shmrt__backend_put(st->be);
	st->be = NULL;
	st->c = NULL;
}

/* After a round, not timed: run the n jobs (each tenant's oldest first,
 * so job j is among them) and free their slots. */
static int round_clean(struct tenants_run *t, const uint32_t *who,
		       const shmrt_job_id *ids, uint32_t n)
{
	char payload[256], out[256]; /* slot_size */
	struct seat *st;
	uint32_t j;
	int rc = 0;

	for (j = 0; j < n && rc == 0; j++) {
		if ((st = seat_of(t, who[j])) == NULL)
			return -1;
		rc = shmrt__qrt_run_one(st->be, st->c, 0, payload, out,
					sizeof(out), bench_deadline_ms(5000));
	}
	for (j = 0; j < n && rc == 0; j++)
		rc = shmrt_job_release(t->names[who[j]], ids[j]);
	return rc;
}

/*
 * `rounds` timed rounds of ROUND enqueues over the started tenants; the
 * tenant of call k is (k * 7919) mod spread, so consecutive calls touch
 * different tenants' segments (spread 1: all go to the first tenant).
 * Returns the row, or NULL (a failure row).
 */
static struct bench_result *enqueue_rounds(struct tenants_run *t,
					   uint64_t rounds, uint32_t spread,
					   const char *row)
{
	static const char payload[64] = "bench";
	uint32_t who[ROUND], j;
	shmrt_job_id ids[ROUND];
	struct bench_result *res = NULL;
	struct bench_samples s;
	uint64_t r, k = 0, t0, dt;
	int rc = 0;

	if (bench_samples_init(&s, rounds) != 0)
		return NULL;
	for (r = 0; r < rounds && rc == 0; r++) {
		for (j = 0; j < ROUND; j++, k++)
			who[j] = (uint32_t)((k * 7919u) % spread);
		t0 = bench_now_ns();
		for (j = 0; j < ROUND && rc == 0; j++)
			rc = shmrt_enqueue(t->names[who[j]], "q", payload,
					   sizeof(payload), NULL, &ids[j]);
		dt = bench_now_ns() - t0;
		if (round_clean(t, who, ids, rc == 0 ? ROUND : j - 1) != 0 &&
		    rc == 0)
			rc = -1;
		bench_samples_add(&s, dt / ROUND);
	}
	if (rc != 0)
		bench_record_failure(G_TENANTS, row, "%s", shmrt_last_error());
	else
		res = bench_record_latency(G_TENANTS, row, &s);
	bench_samples_free(&s);
	return res;
}

/* Memory, threads and fds with t->started tenants running. */
static void cost_rows(const struct tenants_run *t)
{
	struct bench_rss now;
	struct bench_result *r;
	uint32_t n = t->started;
	char row[80];
	double own, shmem;

	if (bench_rss_self(&now) != 0)
		return;
	own = (double)(now.anon_kb + now.file_kb) -
	      (double)(t->idle.anon_kb + t->idle.file_kb);
	shmem = (double)now.shmem_kb - (double)t->idle.shmem_kb;
	snprintf(row, sizeof(row), "process memory per tenant, %u tenants", n);
	r = bench_record_value(G_TENANTS, row, "kB", own / n);
	bench_note(r, "RssAnon+RssFile over the idle process: %.0f kB in all",
		   own);
	snprintf(row, sizeof(row), "segment pages per tenant, %u tenants", n);
	bench_record_value(G_TENANTS, row, "kB", shmem / n);
	snprintf(row, sizeof(row), "/dev/shm per tenant, %u tenants", n);
	r = bench_record_value(G_TENANTS, row, "kB",
			       (double)shm_bytes(t, n) / 1024.0 / n);
	snprintf(row, sizeof(row), "threads in the process, %u tenants", n);
	r = bench_record_value(G_TENANTS, row, "threads",
			       (double)count_threads());
	bench_note(r, "%u before the first start", t->threads0);
	snprintf(row, sizeof(row), "open fds in the process, %u tenants", n);
	r = bench_record_value(G_TENANTS, row, "fds", (double)count_fds());
	bench_note(r, "%u before the first start", t->fds0);
}

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) *
		   1000000000u +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) *
		   1000u;
}

/*
 * The idle cost of the started tenants: this thread sleeps for `ms`, so
 * the process's CPU time meanwhile is the scan thread's (every tenant
 * scanned every scan_interval_ms, 100 by default).
 */
static void idle_cpu_row(uint32_t n, uint64_t ms)
{
	struct bench_result *r;
	uint64_t c0 = cpu_ns(), t0 = bench_now_ns(), wall;
	struct timespec ts;
	char row[80];

	ts.tv_sec = (time_t)(ms / 1000u);
	ts.tv_nsec = (long)(ms % 1000u) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	wall = bench_now_ns() - t0;
	snprintf(row, sizeof(row), "idle CPU (the scan thread), %u tenants", n);
	r = bench_record_value(G_TENANTS, row, "% CPU",
			       100.0 * (double)(cpu_ns() - c0) / (double)wall);
	bench_note(r,
		   "over %llu ms with nothing to do but the periodic "
		   "scans",
		   (unsigned long long)ms);
}

/* Stop every started tenant; one row, the time per stop. */
static void stop_all(struct tenants_run *t)
{
	struct bench_samples s;
	uint32_t i, bad = 0;
	uint64_t t0;

	if (bench_samples_init(&s, t->started > 0 ? t->started : 1) != 0)
		return;
	for (i = 0; i < t->started; i++) {
		seat_close(&t->seats[i]);
		t0 = bench_now_ns();
		if (shmrt_tenant_stop(t->names[i]) != 0)
			bad++;
		bench_samples_add(&s, bench_now_ns() - t0);
	}
	if (bad != 0)
		bench_record_failure(G_TENANTS, "stop a tenant",
				     "%u stops failed", bad);
	else if (t->started > 0)
		bench_record_latency(G_TENANTS, "stop a tenant", &s);
	bench_samples_free(&s);
	t->started = 0;
}

static int run_setup(struct tenants_run *t, uint32_t max)
{
	uint32_t i;
	FILE *f;

	snprintf(t->conf, sizeof(t->conf), "/tmp/shmrt-bench-tenants-%d.ini",
		 (int)getpid());
	f = fopen(t->conf, "w");
	if (f == NULL || fputs(tenants_conf, f) < 0 || fclose(f) != 0)
		return -1;
	t->names = calloc(max, sizeof(*t->names));
	t->seats = calloc(max, sizeof(*t->seats));
	if (t->names == NULL || t->seats == NULL ||
	    shmrt_handler_register("bench.noop", h_noop, NULL) != 0)
		return -1;
	for (i = 0; i < max; i++)
		snprintf(t->names[i], NAME_LEN, "bench-t%d-%u", (int)getpid(),
			 i);
	t->fds0 = count_fds();
	t->threads0 = count_threads();
	return bench_rss_self(&t->idle);
}

/* Each level: start up to it, its cost, its enqueue rounds. */
static void levels(struct tenants_run *t, const uint32_t *lv, size_t nlv,
		   uint64_t rounds, uint64_t idle_ms)
{
	char row[80], base[80];
	struct bench_result *r;
	size_t i;

	for (i = 0; i < nlv; i++) {
		bench_progress("tenants: %u started", lv[i]);
		if (start_to(t, lv[i]) != 0)
			return;
		cost_rows(t);
		idle_cpu_row(lv[i], idle_ms);
		snprintf(row, sizeof(row), "enqueue, %u tenants started",
			 lv[i]);
		if ((r = enqueue_rounds(t, rounds, lv[i], row)) == NULL)
			return;
		if (i == 0)
			snprintf(base, sizeof(base), "%s", row);
		else
			bench_ref(r, G_TENANTS, base, "1 tenant");
	}
	/* The same calls, all to one tenant of the many: what remains of
	 * the spread's cost is the lookup, the rest is cold segments. */
	snprintf(row, sizeof(row), "enqueue to one of %u tenants", lv[nlv - 1]);
	r = enqueue_rounds(t, rounds, 1, row);
	bench_ref(r, G_TENANTS, base, "1 tenant");
	bench_note(r, "the rows above spread calls over every tenant: their "
		      "segments' cache lines and pages are cold");
}

void bench_shmrt_tenants(const struct bench_cfg *c)
{
	static const uint32_t full[] = {1, 100, 1000};
	static const uint32_t smoke[] = {1, 10, 30};
	const uint32_t *lv = c->smoke ? smoke : full;
	struct tenants_run t;

	memset(&t, 0, sizeof(t));
	bench_group(G_TENANTS, "tenants in one process: start, memory, "
			       "enqueue (capacity 64, slot_size 256, process "
			       "mode, [tenant *])");
	if (run_setup(&t, lv[2]) != 0) {
		bench_record_failure(G_TENANTS, "setup", "cannot write %s",
				     t.conf);
		free(t.names);
		free(t.seats);
		return;
	}
	levels(&t, lv, 3, bench_n(c, 20, 2000), bench_n(c, 100, 2000));
	stop_all(&t);
	unlink(t.conf);
	free(t.names);
	free(t.seats);
}
