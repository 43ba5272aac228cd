/*
 * src/runtime/queue_backend_inline.h - the in-process backend.
 *
 * The same rings and job slots as the shm backend, on a private memfd
 * segment that no other process can attach. Its jobs are run by worker
 * threads of this process (started by the workers layer), or - with
 * `sync`, the test mode - by the thread that waits for a job
 * (queue_runtime.c runs them while it waits, and stop drains them).
 */
#ifndef SHMRT_QUEUE_BACKEND_INLINE_H
#define SHMRT_QUEUE_BACKEND_INLINE_H

#include "runtime/queue_backend.h"

/*
 * Make the inline backend of tenant `tenant` (an index in conf). `sync`
 * selects execution in the caller; `degraded` records that process mode
 * failed first. Errors: SHMRT_E_NOMEM, SHMRT_E_NOSPC, SHMRT_E_SYS,
 * SHMRT_E_CONF.
 */
int shmrt__backend_inline_open(const struct shmrt_conf *conf, uint32_t tenant,
			       bool sync, bool degraded,
			       struct shmrt__backend **out);

#endif /* SHMRT_QUEUE_BACKEND_INLINE_H */
