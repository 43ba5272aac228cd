/*
 * src/runtime/queue_inspect.c - what a tenant looks like from outside:
 * the latency figures of a queue (shmrt_queue_get_latency) and the
 * workers attached to a tenant (shmrt_tenant_workers).
 *
 * Backends hand over raw timestamps of their retained finished jobs
 * (ops->finished_times); the figures are computed here, once, for every
 * backend.
 */
#define _GNU_SOURCE
#include <shmrt/error.h>
#include <shmrt/runtime.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/queue_backend_factory.h"
#include "runtime/queue_runtime.h"
#include "shm/error_detail.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile p (1..100) of the sorted v[0..n), n > 0. */
static uint64_t rank(const uint64_t *v, size_t n, unsigned p)
{
	size_t r = (n * p + 99) / 100;

	return v[r > 0 ? r - 1 : 0];
}

/* Sorts v[0..n) and fills *l from it (all zero when n is 0). */
static void summarize(uint64_t *v, size_t n, struct shmrt_latency *l)
{
	size_t i;

	memset(l, 0, sizeof(*l));
	if (n == 0)
		return;
	qsort(v, n, sizeof(*v), cmp_u64);
	for (i = 0; i < n; i++)
		l->sum_ns += v[i];
	l->count = n;
	l->p50_ns = rank(v, n, 50);
	l->p90_ns = rank(v, n, 90);
	l->p99_ns = rank(v, n, 99);
	l->max_ns = v[n - 1];
}

/*
 * Splits the jobs that ran into waits (enqueue to start) and totals
 * (enqueue to finish). A start before the enqueue is real: a lease pass
 * reads the clock once, before it finds the job, and stamps the start
 * with it, so a worker that was already looking when the job came in
 * records a start up to one pass early. Such a wait counts as 0, as do
 * timestamps out of order for any other reason, never as a wrapped
 * huge value.
 */
static size_t split(const struct shmrt__be_times *t, size_t n,
		    uint64_t *wait, uint64_t *total)
{
	size_t i, m = 0;

	for (i = 0; i < n; i++) {
		if (t[i].start_ns == 0 || t[i].enqueue_ns == 0)
			continue;
		wait[m] = t[i].start_ns > t[i].enqueue_ns
				  ? t[i].start_ns - t[i].enqueue_ns
				  : 0;
		total[m++] = t[i].finish_ns > t[i].enqueue_ns
				     ? t[i].finish_ns - t[i].enqueue_ns
				     : 0;
	}
	return m;
}

static int latency_of(struct shmrt__backend *be, uint32_t qi,
		      struct shmrt_queue_latency *lat)
{
	if (be->ops->finished_times == NULL)
		return shmrt__fail(SHMRT_E_BACKEND, "queue_get_latency: "
				   "backend %s keeps no latency figures",
				   be->name);

	size_t cap = be->conf.queue[qi].capacity, n;
	struct shmrt__be_times *t = calloc(cap + 1, sizeof(*t));
	uint64_t *wait = calloc(cap + 1, sizeof(*wait));
	uint64_t *total = calloc(cap + 1, sizeof(*total));
	int rc = SHMRT_E_NOMEM;

	if (t != NULL && wait != NULL && total != NULL) {
		rc = be->ops->finished_times(be, qi, t, cap);
		if (rc >= 0) {
			n = split(t, (size_t)rc, wait, total);
			summarize(wait, n, &lat->wait);
			summarize(total, n, &lat->total);
			rc = 0;
		}
	} else {
		shmrt__fail(rc, "queue_get_latency: no memory for %zu jobs",
			    cap);
	}
	free(t);
	free(wait);
	free(total);
	return rc;
}

int shmrt_queue_get_latency(const char *tenant, const char *queue,
			    struct shmrt_queue_latency *lat)
{
	struct shmrt__backend *be;
	int qi, rc;

	if (lat == NULL)
		return shmrt__fail(SHMRT_E_INVAL, "queue_get_latency: lat is "
				   "NULL");
	memset(lat, 0, sizeof(*lat));
	if ((rc = shmrt__qrt_backend(tenant, &be)) != 0)
		return rc;
	qi = shmrt__backend_queue(be, queue);
	rc = qi < 0 ? qi : latency_of(be, (uint32_t)qi, lat);
	shmrt__backend_put(be);
	if (rc != 0)
		memset(lat, 0, sizeof(*lat));
	return rc;
}

int shmrt_tenant_workers(const char *tenant, struct shmrt_worker_info *out,
			 size_t max)
{
	struct shmrt__backend *be;
	int rc;

	if (out == NULL && max > 0)
		return shmrt__fail(SHMRT_E_INVAL, "tenant_workers: out is "
				   "NULL");
	if ((rc = shmrt__qrt_backend(tenant, &be)) != 0)
		return rc;
	rc = be->ops->workers != NULL
		     ? be->ops->workers(be, out, max)
		     : shmrt__fail(SHMRT_E_BACKEND, "tenant_workers: backend "
				   "%s lists no workers", be->name);
	shmrt__backend_put(be);
	return rc;
}
