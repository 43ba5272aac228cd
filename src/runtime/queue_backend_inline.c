/*
 * src/runtime/queue_backend_inline.c - the in-process backend.
 *
 * Nothing here duplicates the rings: it is the shm backend on private
 * memory, renamed, with the execution policy (sync) set. A private memfd
 * keeps the crash-safety machinery (participants, scan, leases) identical
 * in both modes, so a test in inline mode exercises the code that runs in
 * process mode.
 */
#include "queue_backend_inline.h"

#include <shmrt/error.h>

#include "runtime/queue_backend_shm.h"
#include "shm/error_detail.h"

int shmrt__backend_inline_open(const struct shmrt_conf *conf, uint32_t tenant,
			       bool sync, bool degraded,
			       struct shmrt__backend **out)
{
	struct shmrt__backend *be;
	int rc = shmrt__backend_shm_private(conf, tenant, &be);

	if (rc != 0)
		return rc;
	be->name = "inline";
	be->mode = SHMRT_MODE_INLINE;
	be->sync = sync;
	be->degraded = degraded;
	*out = be;
	return 0;
}
