/*
 * shmrt/shmrt.h - the whole public API in one include.
 *
 * shmrt is a same-host job runtime: producers enqueue jobs, workers run
 * them, through lock-free rings in shared memory. Start with
 * shmrt/runtime.h; errors are in shmrt/error.h, job ids and states in
 * shmrt/job.h, the version in shmrt/version.h, handler libraries and the
 * worker loop in shmrt/worker.h.
 */
#ifndef SHMRT_SHMRT_H
#define SHMRT_SHMRT_H

#include <shmrt/error.h>
#include <shmrt/export.h>
#include <shmrt/job.h>
#include <shmrt/runtime.h>
#include <shmrt/version.h>
#include <shmrt/worker.h>

#endif /* SHMRT_SHMRT_H */
