/*
 * shmrt/worker.h - handlers from outside shmrt, and the worker loop.
 *
 * Two ways to run your own handlers:
 *
 *  1. A handler library for `shmrt worker --handlers ./libmine.so` (and
 *     `shmrt run --handlers`): a shared object that defines ONE entry
 *     symbol,
 *
 *         int shmrt_handlers_init(const struct shmrt_plugin_host *host);
 *
 *     which registers its handlers through host->handler_register and
 *     returns 0 (anything else refuses the library; the worker exits 1).
 *     The library calls shmrt only through `host` and need not link
 *     libshmrt: the shmrt binary carries its own static copy of the
 *     runtime, and a library linked against libshmrt.so would register
 *     into a second, unused copy. (SQLite's loadable extensions use the
 *     same scheme.) Keep the pointers of `host` as long as needed; they
 *     stay valid for the life of the process. The library is never
 *     unloaded.
 *
 *  2. An application that links libshmrt runs the loop itself: register
 *     handlers with shmrt_handler_register, shmrt_tenant_attach (or
 *     start), then shmrt_worker_run on a thread per worker.
 */
#ifndef SHMRT_WORKER_H
#define SHMRT_WORKER_H

#include <shmrt/export.h>
#include <shmrt/runtime.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of struct shmrt_plugin_host; fields are only ever added. */
#define SHMRT_PLUGIN_ABI 1

/* The entry symbol's name, for dlsym. */
#define SHMRT_HANDLERS_INIT_SYMBOL "shmrt_handlers_init"

/* What the host hands a handler library. */
struct shmrt_plugin_host {
	uint32_t abi;  /* SHMRT_PLUGIN_ABI of the host */
	uint32_t size; /* sizeof(struct shmrt_plugin_host) of the host */
	/* shmrt_handler_register and shmrt_job_run_cancelled of the host */
	int (*handler_register)(const char *kind, shmrt_handler_fn fn,
				void *ctx);
	int (*job_run_cancelled)(const struct shmrt_job_run *run);
};

/* The type of the entry symbol. */
typedef int (*shmrt_handlers_init_fn)(const struct shmrt_plugin_host *host);

/*
 * Load the handler library at `path` (dlopen; a path without '/' is
 * searched as dlopen searches) and call its shmrt_handlers_init with this
 * process's host table. Loading the same library twice runs its init
 * again (registrations replace themselves). Thread-safe.
 * Errors: SHMRT_E_INVAL (cannot be loaded, or has no entry symbol; the
 * detail names dlerror()), SHMRT_E_NOHANDLER (its init returned non-zero).
 */
SHMRT_API int shmrt_handlers_load(const char *path);

/*
 * Run one worker of `queue` of a started or attached tenant in the
 * calling thread: lease jobs, run their handlers, complete or fail them,
 * heartbeat (also while a handler runs), until the tenant drains and the
 * queue is empty, or *stop (may be NULL; read atomically) becomes
 * non-zero. A worker that has nothing to do sleeps until a job or a state
 * change (drain, stop) wakes it, and looks at *stop between jobs and at
 * least every 2 seconds while idle. Many threads may run it at once.
 * Returns 0 when it left, or SHMRT_E_NOENT, SHMRT_E_NOQUEUE,
 * SHMRT_E_NOPART, SHMRT_E_NOMEM.
 */
SHMRT_API int shmrt_worker_run(const char *tenant, const char *queue,
			       const int *stop);

#ifdef __cplusplus
}
#endif

#endif /* SHMRT_WORKER_H */
