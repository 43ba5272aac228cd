/*
 * src/workers/worker_loop.c - the one worker loop.
 */
#include "worker_loop.h"

#include <shmrt/error.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/queue_runtime.h"
#include "shm/os.h"

static void tally(int outcome, struct shmrt__worker_stats *st)
{
	if (outcome == SHMRT__RAN_OK)
		st->succeeded++;
	else if (outcome == SHMRT__RAN_FAILED || outcome == SHMRT__RAN_RETRY)
		st->failed++;
	else if (outcome == SHMRT_E_STALE)
		st->stale++;
}

int shmrt__worker_run(struct shmrt__backend *be, uint32_t qi,
		      uint64_t poll_ns, volatile int *stop,
		      struct shmrt__worker_stats *st)
{
	size_t cap = be->conf.queue[qi].slot_size;
	char *payload = malloc(cap), *out = malloc(cap);
	struct shmrt__consumer *c = NULL;
	int rc;

	memset(st, 0, sizeof(*st));
	if (payload == NULL || out == NULL) {
		rc = SHMRT_E_NOMEM;
		goto done;
	}
	if ((rc = be->ops->consumer_open(be, &c)) != 0)
		goto done;
	while (stop == NULL || !*stop) {
		rc = shmrt__qrt_run_one(be, c, qi, payload, out, cap,
					shmrt__os_now_ns() + poll_ns);
		if (rc >= 0 || rc == SHMRT_E_STALE) {
			tally(rc, st);
			continue;
		}
		if (rc != SHMRT_E_TIMEDOUT && rc != SHMRT_E_AGAIN)
			goto leave; /* the backend is broken: say so */
		be->ops->heartbeat(be, c);
		/* Draining: leave once nothing is left to lease. */
		if (be->ops->state(be) != SHMRT__BE_READY)
			break;
	}
	rc = 0;
leave:
	be->ops->consumer_close(be, c);
done:
	free(payload);
	free(out);
	return rc;
}
