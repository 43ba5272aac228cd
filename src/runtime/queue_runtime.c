/*
 * src/runtime/queue_runtime.c - the job entry points and job execution.
 *
 * Every entry point finds the tenant's backend through the factory's
 * lock-free cache, holds a reference for the call, and goes through the
 * backend's ops: nothing here knows which backend it is. The one
 * capability it reads is `sync` (test mode): then the thread that waits
 * for a job runs queued jobs itself until its job is finished.
 */
#define _GNU_SOURCE
#include "queue_runtime.h"

#include <shmrt/error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/handler_registry.h"
#include "runtime/queue_backend_factory.h"
#include "shm/error_detail.h"
#include "shm/os.h"

/* What shmrt_job_run_cancelled and _lease_valid ask the backend. */
struct run_probe {
	struct shmrt__backend *be;
	const struct shmrt__be_lease *lease;
};

/* ------------------------------------------------------------ execution */

static bool state_final(int state)
{
	return state == SHMRT_JOB_SUCCEEDED || state == SHMRT_JOB_FAILED ||
	       state == SHMRT_JOB_CANCELLED;
}

static uint32_t max_slot_size(const struct shmrt__backend *be)
{
	uint32_t i, m = 1;

	for (i = 0; i < be->conf.nqueues; i++)
		if (be->conf.queue[i].slot_size > m)
			m = be->conf.queue[i].slot_size;
	return m;
}

/* Ends the job with the handler's verdict; returns an outcome or error. */
static int report(struct shmrt__backend *be, struct shmrt__consumer *c,
		  const struct shmrt__be_lease *l, int verdict, const char *out,
		  size_t out_len)
{
	static const char too_big[] = "result larger than the queue's slot_size";
	int rc;

	if (verdict == SHMRT_HANDLER_OK) {
		rc = be->ops->complete(be, c, l, out, out_len);
		if (rc != SHMRT_E_TOOBIG)
			return rc < 0 ? rc : SHMRT__RAN_OK;
		rc = be->ops->fail(be, c, l, too_big, sizeof(too_big) - 1, 0);
		return rc < 0 ? rc : SHMRT__RAN_FAILED;
	}
	rc = be->ops->fail(be, c, l, out, out_len,
			   verdict != SHMRT_HANDLER_FAIL_FINAL);
	if (rc < 0)
		return rc;
	return rc == 1 ? SHMRT__RAN_RETRY : SHMRT__RAN_FAILED;
}

int shmrt__qrt_execute(struct shmrt__backend *be, struct shmrt__consumer *c,
		       const struct shmrt__be_lease *l, const void *payload,
		       char *out, size_t cap)
{
	const struct shmrt_conf_queue *q = &be->conf.queue[l->queue];
	struct run_probe probe = { be, l };
	struct shmrt_job_run run;
	shmrt_handler_fn fn;
	void *ctx;
	int verdict;

	if (shmrt__registry_find(q->handler, &fn, &ctx) != 0) {
		int n = snprintf(out, cap, "no handler registered for kind "
				 "'%s' in pid %d",
				 q->handler, (int)getpid());

		return report(be, c, l, SHMRT_HANDLER_FAIL_FINAL, out,
			      n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap);
	}
	memset(&run, 0, sizeof(run));
	run.id = l->id;
	run.tenant = be->tenant;
	run.queue = q->name;
	run.payload = payload;
	run.payload_len = l->payload_len;
	run.lane = l->lane_len > 0 ? l->lane : NULL;
	run.lane_len = l->lane_len;
	run.attempt = l->attempt;
	run.token = l->token;
	run.out = out;
	run.out_cap = cap;
	run.shmrt_private = &probe;
	verdict = fn(ctx, &run);
	if (verdict > 0)
		verdict = SHMRT_HANDLER_OK;
	else if (verdict < 0 && verdict != SHMRT_HANDLER_FAIL_FINAL)
		verdict = SHMRT_HANDLER_RETRY;
	return report(be, c, l, verdict, out,
		      run.out_len < cap ? run.out_len : cap);
}

int shmrt_job_run_cancelled(const struct shmrt_job_run *run)
{
	const struct run_probe *p;

	if (run == NULL || run->shmrt_private == NULL)
		return 0;
	p = run->shmrt_private;
	return p->be->ops->cancel_requested(p->be, p->lease) ? 1 : 0;
}

int shmrt_job_run_lease_valid(const struct shmrt_job_run *run)
{
	const struct run_probe *p;

	if (run == NULL || run->shmrt_private == NULL)
		return 0;
	p = run->shmrt_private;
	return p->be->ops->lease_valid(p->be, p->lease) ? 1 : 0;
}

int shmrt__qrt_run_one(struct shmrt__backend *be, struct shmrt__consumer *c,
		       uint32_t qi, void *payload, char *out, size_t cap,
		       uint64_t deadline_ns)
{
	struct shmrt__be_lease l;
	int rc;

	rc = be->ops->lease(be, c, qi, payload, cap, deadline_ns, &l);
	if (rc != 0)
		return rc;
	return shmrt__qrt_execute(be, c, &l, payload, out, cap);
}

uint64_t shmrt__qrt_busy(struct shmrt__backend *be)
{
	struct shmrt_queue_stats st;
	uint64_t n = 0;
	uint32_t i;

	for (i = 0; i < be->conf.nqueues; i++)
		if (be->ops->depth(be, i, &st) == 0)
			n += (uint64_t)st.queued + st.running;
	return n;
}

/* Buffers and a consumer for running jobs in the calling thread. */
struct caller_seat {
	struct shmrt__consumer *c;
	char *payload, *out;
	size_t cap;
};

static int seat_open(struct shmrt__backend *be, struct caller_seat *s)
{
	int rc;

	s->cap = max_slot_size(be);
	s->payload = malloc(s->cap);
	s->out = malloc(s->cap);
	s->c = NULL;
	if (s->payload == NULL || s->out == NULL) {
		free(s->payload);
		free(s->out);
		return shmrt__fail(SHMRT_E_NOMEM, "run jobs: out of memory");
	}
	if ((rc = be->ops->consumer_open(be, &s->c)) != 0) {
		free(s->payload);
		free(s->out);
	}
	return rc;
}

static void seat_close(struct shmrt__backend *be, struct caller_seat *s)
{
	be->ops->consumer_close(be, s->c);
	free(s->payload);
	free(s->out);
}

/* One pass over the queues, running what is leasable now. */
static uint32_t run_pass(struct shmrt__backend *be, struct caller_seat *s)
{
	uint32_t i, ran = 0;

	for (i = 0; i < be->conf.nqueues; i++)
		while (shmrt__qrt_run_one(be, s->c, i, s->payload, s->out,
					  s->cap, 0) >= 0)
			ran++;
	return ran;
}

int shmrt__qrt_run_pending(struct shmrt__backend *be, uint64_t deadline_ns)
{
	struct caller_seat s;
	int rc;

	if ((rc = seat_open(be, &s)) != 0)
		return rc;
	for (;;) {
		if (run_pass(be, &s) > 0)
			continue;
		if (shmrt__qrt_busy(be) == 0) {
			rc = 0;
			break;
		}
		if (shmrt__os_now_ns() >= deadline_ns) {
			rc = SHMRT_E_TIMEDOUT;
			break;
		}
		/* Retries in backoff, or jobs other threads run. */
		shmrt__os_sleep_ns(500000);
	}
	seat_close(be, &s);
	return rc;
}

/*
 * Test mode's wait: run whatever is leasable (any queue: the job may wait
 * behind others of its lane) until the job is finished. When nothing is
 * leasable - a retry in backoff, a job another thread runs - sleep on the
 * job for a millisecond and look again.
 */
static int wait_running_jobs(struct shmrt__backend *be, shmrt_job_id id,
			     uint64_t deadline_ns, struct shmrt_job_info *info,
			     void *buf, size_t bufsize)
{
	struct caller_seat s;
	int rc;

	if ((rc = seat_open(be, &s)) != 0)
		return rc;
	for (;;) {
		rc = be->ops->status(be, id, info, buf, bufsize);
		if (rc != 0 || state_final(info->state))
			break;
		if (run_pass(be, &s) > 0)
			continue;
		if (shmrt__os_now_ns() >= deadline_ns) {
			rc = SHMRT_E_TIMEDOUT;
			break;
		}
		rc = be->ops->wait(be, id, shmrt__os_now_ns() + 1000000u, info,
				   buf, bufsize);
		if (rc == 0 || rc != SHMRT_E_TIMEDOUT)
			break;
	}
	seat_close(be, &s);
	return rc;
}

/* --------------------------------------------------------- entry points */

int shmrt__qrt_backend(const char *tenant, struct shmrt__backend **be)
{
	*be = shmrt__backend_lookup(tenant);
	if (*be == NULL)
		return shmrt__fail(SHMRT_E_NOENT, "tenant '%s' is not started "
				   "or attached in this process",
				   tenant ? tenant : "(null)");
	return 0;
}

/*
 * Why a backend call failed: the layers' own detail when they set one in
 * this call (the entry points clear it first), else the code's message.
 */
static const char *fail_reason(int rc)
{
	const char *why = shmrt_last_error();

	return why[0] != '\0' ? why : shmrt_strerror(rc);
}

/* A job call's failure, named: "WHAT job N of tenant T: WHY". */
static int job_fail(int rc, const char *what, const char *tenant,
		    shmrt_job_id id)
{
	/* A deadline is an outcome, not a fault: a detail set meanwhile
	 * (in test mode, by the jobs the waiter ran) is not its reason. */
	const char *why = rc == SHMRT_E_TIMEDOUT
				  ? "not finished before the deadline"
				  : fail_reason(rc);

	return shmrt__fail(rc, "%s job %llu of tenant %s: %s", what,
			   (unsigned long long)id.v, tenant, why);
}

/* Reserved option space must be zero: a later release gives it meaning. */
static bool opts_reserved_zero(const struct shmrt_enqueue_opts *o)
{
	size_t i;

	for (i = 0; i < sizeof(o->reserved) / sizeof(o->reserved[0]); i++)
		if (o->reserved[i] != 0)
			return false;
	return true;
}

static uint64_t deadline_after_ms(uint32_t ms)
{
	return shmrt__os_now_ns() + (uint64_t)ms * 1000000u;
}

static int key_len(const char *key, size_t *len)
{
	*len = key != NULL ? strnlen(key, SHMRT__BE_KEY_MAX + 1) : 0;
	if (key != NULL && (*len == 0 || *len > SHMRT__BE_KEY_MAX))
		return shmrt__fail(SHMRT_E_KEYLEN, "enqueue: key '%.64s' is "
				   "empty or longer than %u bytes",
				   key, SHMRT__BE_KEY_MAX);
	return 0;
}

int shmrt_enqueue(const char *tenant, const char *queue, const void *payload,
		  size_t len, const struct shmrt_enqueue_opts *opts,
		  shmrt_job_id *id)
{
	static const struct shmrt_enqueue_opts none;
	struct shmrt__enqueue_req req;
	struct shmrt__backend *be;
	int qi, rc;

	if (opts == NULL)
		opts = &none;
	if ((payload == NULL && len > 0) || id == NULL)
		return shmrt__fail(SHMRT_E_INVAL, "enqueue: payload or id is "
				   "NULL");
	if (!opts_reserved_zero(opts))
		return shmrt__fail(SHMRT_E_INVAL, "enqueue: opts->reserved is "
				   "not zero (zero the whole struct first)");
	memset(&req, 0, sizeof(req));
	req.payload = payload;
	req.len = len;
	req.lane = opts->lane;
	req.key = opts->key;
	req.deadline_ns = opts->timeout_ms ? deadline_after_ms(opts->timeout_ms)
					   : 0;
	if ((rc = key_len(opts->lane, &req.lane_len)) != 0 ||
	    (rc = key_len(opts->key, &req.key_len)) != 0)
		return rc;
	if ((rc = shmrt__qrt_backend(tenant, &be)) != 0)
		return rc;
	qi = shmrt__backend_queue(be, queue);
	shmrt__fail_clear();
	rc = qi < 0 ? qi : be->ops->enqueue(be, (uint32_t)qi, &req, id);
	shmrt__backend_put(be);
	if (rc < 0 && qi >= 0)
		rc = shmrt__fail(rc, "enqueue on queue '%s' of tenant %s: %s",
				 queue, tenant, fail_reason(rc));
	return rc;
}

int shmrt_job_status(const char *tenant, shmrt_job_id id,
		     struct shmrt_job_info *info, void *buf, size_t bufsize)
{
	struct shmrt__backend *be;
	int rc;

	if (info == NULL)
		return shmrt__fail(SHMRT_E_INVAL, "job_status: info is NULL");
	if ((rc = shmrt__qrt_backend(tenant, &be)) != 0)
		return rc;
	shmrt__fail_clear();
	rc = be->ops->status(be, id, info, buf, bufsize);
	shmrt__backend_put(be);
	return rc < 0 ? job_fail(rc, "status of", tenant, id) : rc;
}

int shmrt_job_wait(const char *tenant, shmrt_job_id id, uint32_t timeout_ms,
		   struct shmrt_job_info *info, void *buf, size_t bufsize)
{
	uint64_t deadline = deadline_after_ms(timeout_ms);
	struct shmrt__backend *be;
	int rc;

	if (info == NULL)
		return shmrt__fail(SHMRT_E_INVAL, "job_wait: info is NULL");
	if ((rc = shmrt__qrt_backend(tenant, &be)) != 0)
		return rc;
	shmrt__fail_clear();
	if (be->sync)
		rc = wait_running_jobs(be, id, deadline, info, buf, bufsize);
	else
		rc = be->ops->wait(be, id, deadline, info, buf, bufsize);
	shmrt__backend_put(be);
	return rc < 0 ? job_fail(rc, "wait for", tenant, id) : rc;
}

int shmrt_job_cancel(const char *tenant, shmrt_job_id id)
{
	struct shmrt__backend *be;
	int rc;

	if ((rc = shmrt__qrt_backend(tenant, &be)) != 0)
		return rc;
	shmrt__fail_clear();
	rc = be->ops->cancel(be, id);
	shmrt__backend_put(be);
	return rc < 0 ? job_fail(rc, "cancel", tenant, id) : rc;
}

int shmrt_job_release(const char *tenant, shmrt_job_id id)
{
	struct shmrt__backend *be;
	int rc;

	if ((rc = shmrt__qrt_backend(tenant, &be)) != 0)
		return rc;
	shmrt__fail_clear();
	rc = be->ops->release(be, id);
	shmrt__backend_put(be);
	return rc < 0 ? job_fail(rc, "release", tenant, id) : rc;
}

int shmrt_queue_get_stats(const char *tenant, const char *queue,
		      struct shmrt_queue_stats *st)
{
	struct shmrt__backend *be;
	int qi, rc;

	if (st == NULL)
		return shmrt__fail(SHMRT_E_INVAL, "queue_stats: st is NULL");
	if ((rc = shmrt__qrt_backend(tenant, &be)) != 0)
		return rc;
	qi = shmrt__backend_queue(be, queue);
	rc = qi < 0 ? qi : be->ops->depth(be, (uint32_t)qi, st);
	shmrt__backend_put(be);
	return rc;
}

int shmrt_failed_jobs(const char *tenant, const char *queue,
		      struct shmrt_failed_job *out, size_t max)
{
	struct shmrt__backend *be;
	int qi, rc;

	if (out == NULL && max > 0)
		return shmrt__fail(SHMRT_E_INVAL, "failed_jobs: out is NULL");
	if (max > (size_t)INT32_MAX)
		max = INT32_MAX;
	if ((rc = shmrt__qrt_backend(tenant, &be)) != 0)
		return rc;
	qi = shmrt__backend_queue(be, queue);
	rc = qi < 0 ? qi : be->ops->failed(be, (uint32_t)qi, out, max);
	shmrt__backend_put(be);
	return rc;
}

int shmrt_scan(const char *tenant, struct shmrt_scan_stats *st)
{
	struct shmrt__backend *be;
	int rc;

	if ((rc = shmrt__qrt_backend(tenant, &be)) != 0)
		return rc;
	rc = be->ops->scan(be, deadline_after_ms(1000), st);
	shmrt__backend_put(be);
	return rc;
}
