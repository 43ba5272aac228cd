/*
 * shmrt/shmrt.h - the whole public API in one include.
 *
 * shmrt is a same-host job runtime: producers enqueue jobs, workers run
 * them, through lock-free rings in shared memory. Start with
 * shmrt/runtime.h; errors are in shmrt/error.h, job ids and states in
 * shmrt/job.h, the version in shmrt/version.h, handler libraries and the
 * worker loop in shmrt/worker.h.
 *
 * How the structs grow (until and after 1.0). Structs shmrt fills for
 * the caller (shmrt_job_info, shmrt_tenant_info, shmrt_queue_stats,
 * shmrt_failed_job, shmrt_scan_stats) end in `reserved` space that shmrt
 * writes as zero; a new field takes reserved space, so the size and
 * every existing field's offset stay, and a program built against older
 * headers keeps working with a newer libshmrt.so of the same MAJOR
 * (shmrt/version.h). The struct a caller fills for shmrt
 * (shmrt_enqueue_opts) grows the same way: its reserved space must be
 * zero, so a new field's zero is always "as before". Structs shmrt
 * allocates and hands over by pointer (shmrt_job_run) may grow at the
 * end. shmrt_plugin_host carries its own abi and size fields
 * (shmrt/worker.h).
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
