/*
 * bench/shmrt_api.c - shmrt throughput as an application gets it: the
 * public API (shmrt_enqueue, shmrt_job_wait, shmrt_job_release) against
 * a tenant run by `shmrt run` with `shmrt worker` processes running the
 * registered handler builtin.echo (result = payload), 64-byte payloads.
 *
 * The queue is the default one except for its handler, its workers and
 * capacity 4096 (as the default chat queue): spin_us 50 and retention
 * 60 s, as conf/shmrt.ini. Two producers:
 *
 *   waiting         keeps up to half the capacity in flight; then waits
 *                   for its oldest job (shmrt_job_wait), checks that it
 *                   succeeded and releases it (shmrt_job_release), as a
 *                   producer that wants its results does. Releasing is
 *                   what keeps the queue from filling with retained
 *                   results (60 s) while the engine cannot evict them.
 *   fire-and-forget enqueues and never waits or releases; completions
 *                   are counted from the queue's counters. With 60 s
 *                   retention and no eviction of finished jobs the queue
 *                   refuses work after `capacity` jobs: the row then says
 *                   skipped, with that reason.
 *
 * Rate: n over the first enqueue to the last completion seen; the
 * succeeded counter must grow by exactly n. Every configuration runs in
 * each of the rounds, after the raw ring (ck_ring MPMC 1 -> 1) measured
 * in the same round, so the goal ratio compares figures taken together.
 */
#define _GNU_SOURCE
#include <shmrt/shmrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "results.h"
#include "runner.h"
#include "shm/os.h"

#define CAPACITY 4096
#define WINDOW	 (CAPACITY / 2)
#define NLANES	 50
#define JOB_MS	 10000 /* a job that takes this long: the run broke */
#define FULL_MS	 2000  /* enqueue waits this long for space */
#define PAYLOAD	 64

enum api_producer { API_WAITING, API_FIRE };

struct api_cfg {
	const char *row;
	int workers, laned;
	enum api_producer producer;
	uint64_t jobs, ns;
	char why[200]; /* non-empty once a round failed */
	int skipped;
};

/* Totals of the queue's counters: succeeded so far. */
static int succeeded(const char *tenant, uint64_t *out)
{
	struct shmrt_queue_stats st;
	int rc = shmrt_queue_get_stats(tenant, "q", &st);

	*out = st.succeeded;
	return rc;
}

static int enqueue(const char *tenant, uint64_t i, int laned,
		   shmrt_job_id *id)
{
	struct shmrt_enqueue_opts o;
	unsigned char pl[PAYLOAD];
	char lane[16];

	memset(&o, 0, sizeof(o));
	o.timeout_ms = FULL_MS;
	memset(pl, 'j', sizeof(pl));
	memcpy(pl, &i, sizeof(i));
	if (laned) {
		snprintf(lane, sizeof(lane), "lane-%02u",
			 (unsigned)(i % NLANES));
		o.lane = lane;
	}
	return shmrt_enqueue(tenant, "q", pl, sizeof(pl), &o, id);
}

/* Wait for a job, check that it succeeded, release its slot. */
static int finish(const char *tenant, shmrt_job_id id)
{
	struct shmrt_job_info info;
	int rc = shmrt_job_wait(tenant, id, JOB_MS, &info, NULL, 0);

	if (rc != 0)
		return rc;
	if (info.state != SHMRT_JOB_SUCCEEDED)
		return SHMRT_E_STATE;
	return shmrt_job_release(tenant, id);
}

/* The waiting producer; *t_end is when the last job was seen done. */
static int produce_waiting(const struct api_cfg *a, const char *tenant,
			   uint64_t n, uint64_t *t_end)
{
	shmrt_job_id *ids = calloc(WINDOW, sizeof(*ids));
	uint64_t i, head = 0;
	int rc = 0;

	if (ids == NULL)
		return SHMRT_E_NOMEM;
	for (i = 0; i < n && rc == 0; i++) {
		if (i - head == WINDOW)
			rc = finish(tenant, ids[head++ % WINDOW]);
		if (rc == 0)
			rc = enqueue(tenant, i, a->laned, &ids[i % WINDOW]);
	}
	while (rc == 0 && head < i)
		rc = finish(tenant, ids[head++ % WINDOW]);
	*t_end = bench_now_ns();
	free(ids);
	return rc;
}

/*
 * The fire-and-forget producer. A full queue whose jobs have all
 * finished is the retention limit, not a slow worker: *refused is set.
 */
static int produce_fire(const char *tenant, uint64_t n, uint64_t base,
			uint64_t *t_end, int *refused)
{
	struct shmrt_queue_stats st;
	shmrt_job_id id;
	uint64_t i, done = 0, deadline;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++)
		rc = enqueue(tenant, i, 0, &id);
	if (rc == SHMRT_E_FULL &&
	    shmrt_queue_get_stats(tenant, "q", &st) == 0 &&
	    st.queued + st.running == 0 && st.finished > 0)
		*refused = 1;
	deadline = bench_deadline_ms(JOB_MS);
	while (rc == 0 && (rc = succeeded(tenant, &done)) == 0 &&
	       done - base < n) {
		if (bench_now_ns() > deadline)
			return SHMRT_E_TIMEDOUT;
		shmrt__os_sleep_ns(20000);
	}
	*t_end = bench_now_ns();
	return rc;
}

static void conf_text(const struct api_cfg *a, char *out, size_t len)
{
	snprintf(out, len,
		 "[runtime]\nmode = process\non_init_error = fail\n\n"
		 "[queue q]\nhandler = builtin.echo\nworkers = %d\n"
		 "capacity = %d\n%s",
		 a->workers, CAPACITY, a->laned ? "laned = true\n" : "");
}

static void fail(struct api_cfg *a, const char *what, int rc)
{
	snprintf(a->why, sizeof(a->why), "%s: %s: %s", what,
		 shmrt_err_name(rc), shmrt_last_error());
}

/* One round of a configuration: a fresh tenant, n jobs. */
static void cfg_round(struct api_cfg *a, const char *exe, uint64_t n)
{
	uint64_t base = 0, after = 0, t0, t_end = 0;
	char conf[512];
	struct brun r;
	int rc, refused = 0;

	if (a->why[0] != '\0' || a->skipped)
		return;
	bench_progress("shmrt public API: %s", a->row);
	conf_text(a, conf, sizeof(conf));
	if (brun_start(&r, exe, conf, a->workers, BRUN_ASLEEP) != 0) {
		snprintf(a->why, sizeof(a->why), "%s", r.why);
		return;
	}
	rc = succeeded(r.tenant, &base);
	t0 = bench_now_ns();
	if (rc == 0)
		rc = a->producer == API_FIRE
			     ? produce_fire(r.tenant, n, base, &t_end, &refused)
			     : produce_waiting(a, r.tenant, n, &t_end);
	if (refused)
		a->skipped = 1;
	else if (rc != 0)
		fail(a, "producer", rc);
	else if ((rc = succeeded(r.tenant, &after)) != 0 || after - base != n)
		snprintf(a->why, sizeof(a->why),
			 "%llu of %llu jobs counted as succeeded",
			 (unsigned long long)(after - base),
			 (unsigned long long)n);
	else {
		a->jobs += n;
		a->ns += t_end - t0;
	}
	if (brun_stop(&r) != 0 && a->why[0] == '\0' && !a->skipped)
		snprintf(a->why, sizeof(a->why), "shmrt run did not stop "
						 "cleanly");
}

static void cfg_record(const struct api_cfg *a)
{
	struct bench_result *r;

	if (a->skipped) {
		bench_record_skip(G_API, a->row,
				  "the queue refused work after %d jobs: "
				  "finished jobs keep their slots for the "
				  "60 s retention (issue 10, point 1)",
				  CAPACITY);
		return;
	}
	if (a->why[0] != '\0' || a->ns == 0) {
		bench_record_failure(G_API, a->row, "%s", a->why);
		return;
	}
	r = bench_record_shmrt_rate(G_API, a->row, a->jobs, a->ns, R_API_RING);
	if (a->laned)
		bench_ref(r, G_API, a->workers == 1 ? R_API_1W : R_API_2W,
			  "unlaned");
	if (a->producer == API_WAITING)
		bench_note(r, "waits for each job and releases it, %d in "
			      "flight", WINDOW);
}

void bench_shmrt_api(const struct bench_cfg *c)
{
	struct api_cfg cfg[] = {
		{ R_API_1W, 1, 0, API_WAITING, 0, 0, "", 0 },
		{ R_API_2W, 2, 0, API_WAITING, 0, 0, "", 0 },
		{ R_API_LANED1, 1, 1, API_WAITING, 0, 0, "", 0 },
		{ R_API_LANED2, 2, 1, API_WAITING, 0, 0, "", 0 },
		{ R_API_FIRE, 1, 0, API_FIRE, 0, 0, "", 0 },
	};
	const size_t ncfg = sizeof(cfg) / sizeof(cfg[0]);
	uint64_t rounds = bench_n(c, 1, 5), r;
	uint64_t n = bench_n(c, 10000, 2000000) / rounds;
	struct bench_ring_rounds ring;
	size_t i;

	bench_group(G_API, "shmrt throughput through the public API: "
			   "shmrt run, worker processes, handler "
			   "builtin.echo, 64-byte jobs, default conf "
			   "(capacity 4096); the raw ring in the same rounds");
	memset(&ring, 0, sizeof(ring));
	for (r = 0; r < rounds; r++) {
		bench_ring_round(&ring, c, "shmrt public API");
		for (i = 0; i < ncfg; i++)
			cfg_round(&cfg[i], c->shmrt_exe, n);
	}
	bench_ring_record(&ring, G_API, R_API_RING);
	for (i = 0; i < ncfg; i++)
		cfg_record(&cfg[i]);
}
