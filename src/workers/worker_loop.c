/*
 * src/workers/worker_loop.c - the one worker loop.
 */
#include "worker_loop.h"

#include <shmrt/error.h>
#include <stdlib.h>
#include <string.h>

#include "shm/job.h"
#include "shm/os.h"

/* Runs one leased job and reports its outcome to the segment. */
static void run_one(struct shmrt__part *p, const struct shmrt__lease *l,
		    shmrt__handler_fn fn, const char *payload, char *out,
		    size_t cap, struct shmrt__worker_stats *st)
{
	size_t out_len = 0;
	int rc;

	if (fn(payload, l->payload_len, out, cap, &out_len) == 0) {
		rc = shmrt__job_complete(p, l, out, out_len);
		if (rc == SHMRT_E_TOOBIG)
			rc = shmrt__job_fail(p, l, "result too large", 16, 0);
		else if (rc == 0)
			st->succeeded++;
	} else {
		st->failed++;
		rc = shmrt__job_fail(p, l, out, out_len, 1);
	}
	if (rc == SHMRT_E_STALE)
		st->stale++;
}

int shmrt__worker_run(struct shmrt__seg *seg, uint32_t qi,
		      shmrt__handler_fn fn, uint64_t poll_ns,
		      volatile int *stop, struct shmrt__worker_stats *st)
{
	size_t cap = seg->q[qi].slot_size;
	char *payload = malloc(cap), *out = malloc(cap);
	struct shmrt__part p;
	struct shmrt__lease l;
	int rc;

	memset(st, 0, sizeof(*st));
	if (payload == NULL || out == NULL) {
		rc = SHMRT_E_NOMEM;
		goto done;
	}
	if ((rc = shmrt__part_join(seg, SHMRT__ROLE_WORKER, &p)) != 0)
		goto done;
	while (stop == NULL || !*stop) {
		rc = shmrt__job_lease(&p, qi, payload, cap,
				      shmrt__os_now_ns() + poll_ns, &l);
		if (rc == 0) {
			run_one(&p, &l, fn, payload, out, cap, st);
			continue;
		}
		shmrt__part_heartbeat(&p);
		/* Draining: leave once nothing is left to lease. */
		if (shmrt__seg_state(seg) != SHMRT__SEG_READY)
			break;
	}
	rc = 0;
	shmrt__part_leave(&p);
done:
	free(payload);
	free(out);
	return rc;
}
