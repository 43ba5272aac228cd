/*
 * src/workers/worker_loop.c - the one worker loop.
 */
#include "worker_loop.h"

#include <shmrt/error.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/queue_runtime.h"
#include "shm/os.h"
#include "workers/heartbeat.h"

/*
 * How long an idle worker sleeps before it looks at its stop flag (which
 * is process-local: nothing in the segment can wake it). Jobs and state
 * changes (draining) wake it at once (waitq.h), so this is the only
 * periodic wakeup of an idle worker, and the bound on a job whose wake was
 * lost (waitq.h). Two seconds: a stop flag noticed within 2 s while idle.
 */
#define DEFAULT_POLL_NS 2000000000u

static void tally(int outcome, struct shmrt__worker_stats *st)
{
	if (outcome == SHMRT__RAN_OK)
		st->succeeded++;
	else if (outcome == SHMRT__RAN_FAILED || outcome == SHMRT__RAN_RETRY)
		st->failed++;
	else if (outcome == SHMRT_E_STALE)
		st->stale++;
}

static bool told_to_stop(const struct shmrt__worker_opts *o)
{
	return o->stop != NULL && __atomic_load_n(o->stop, __ATOMIC_ACQUIRE);
}

/*
 * The loop proper, on an open seat. A lease that finds nothing (timed
 * out, or AGAIN) is the moment to heartbeat and to look at the tenant's
 * state: a draining tenant's worker leaves once nothing is left to lease,
 * so queued jobs are finished, never abandoned.
 */
static int serve(struct shmrt__backend *be, struct shmrt__consumer *c,
		 uint32_t qi, const struct shmrt__worker_opts *o,
		 struct shmrt__worker_stats *st)
{
	size_t cap = be->conf.queue[qi].slot_size;
	uint64_t poll = o->poll_ns ? o->poll_ns : DEFAULT_POLL_NS;
	char *payload = malloc(cap), *out = malloc(cap);
	int rc = 0;

	if (payload == NULL || out == NULL) {
		rc = SHMRT_E_NOMEM;
		goto done;
	}
	while (!told_to_stop(o)) {
		rc = shmrt__qrt_run_one(be, c, qi, payload, out, cap,
					shmrt__os_now_ns() + poll);
		if (rc >= 0 || rc == SHMRT_E_STALE) {
			tally(rc, st);
			continue;
		}
		if (rc != SHMRT_E_TIMEDOUT && rc != SHMRT_E_AGAIN)
			goto done; /* the backend is broken: say so */
		be->ops->heartbeat(be, c);
		if (be->ops->state(be) != SHMRT__BE_READY)
			break;
	}
	rc = 0;
done:
	free(payload);
	free(out);
	return rc;
}

int shmrt__worker_run(struct shmrt__backend *be, uint32_t qi,
		      const struct shmrt__worker_opts *opts,
		      struct shmrt__worker_stats *st)
{
	static const struct shmrt__worker_opts none;
	struct shmrt__worker_stats mine;
	struct shmrt__consumer *c = NULL;
	int rc;

	if (opts == NULL)
		opts = &none;
	if (st == NULL)
		st = &mine;
	memset(st, 0, sizeof(*st));
	if (qi >= be->conf.nqueues)
		return SHMRT_E_NOQUEUE;
	if ((rc = be->ops->consumer_open(be, &c)) != 0)
		return rc;
	if (opts->heart != NULL &&
	    (rc = shmrt__heart_add(opts->heart, be, c)) != 0) {
		be->ops->consumer_close(be, c);
		return rc;
	}
	rc = serve(be, c, qi, opts, st);
	if (opts->heart != NULL)
		shmrt__heart_remove(opts->heart, c);
	be->ops->consumer_close(be, c);
	return rc;
}
