/*
 * shmrt/shmrt.h - the whole public API in one include.
 *
 * shmrt is a same-host job runtime: producers enqueue jobs, workers run
 * them, through lock-free rings in shared memory. Start with
 * shmrt/runtime.h; errors are in shmrt/error.h, job ids and states in
 * shmrt/job.h.
 */
#ifndef SHMRT_SHMRT_H
#define SHMRT_SHMRT_H

#include <shmrt/error.h>
#include <shmrt/export.h>
#include <shmrt/job.h>
#include <shmrt/runtime.h>

#endif /* SHMRT_SHMRT_H */
