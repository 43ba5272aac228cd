/*
 * src/workers/handler_plugin.c - handler libraries (shmrt/worker.h) and
 * the public worker loop entry.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <shmrt/error.h>
#include <shmrt/worker.h>
#include <stddef.h>

#include "runtime/queue_backend_factory.h"
#include "shm/error_detail.h"
#include "workers/heartbeat.h"
#include "workers/worker_loop.h"

static const struct shmrt_plugin_host host = {
	.abi = SHMRT_PLUGIN_ABI,
	.size = sizeof(struct shmrt_plugin_host),
	.handler_register = shmrt_handler_register,
	.job_run_cancelled = shmrt_job_run_cancelled,
};

int shmrt_handlers_load(const char *path)
{
	shmrt_handlers_init_fn init;
	void *lib, *sym;
	int rc;

	if (path == NULL || path[0] == '\0')
		return shmrt__fail(SHMRT_E_INVAL, "handlers: no library path");
	if ((lib = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL)
		return shmrt__fail(SHMRT_E_INVAL, "handlers: cannot load %s: %s",
				   path, dlerror());
	if ((sym = dlsym(lib, SHMRT_HANDLERS_INIT_SYMBOL)) == NULL)
		return shmrt__fail(SHMRT_E_INVAL, "handlers: %s has no entry "
				   "symbol %s (see shmrt/worker.h)",
				   path, SHMRT_HANDLERS_INIT_SYMBOL);
	/* POSIX: a data pointer from dlsym converts to a function pointer. */
	*(void **)(void *)&init = sym;
	if ((rc = init(&host)) != 0)
		return shmrt__fail(SHMRT_E_NOHANDLER, "handlers: %s: %s() "
				   "returned %d", path,
				   SHMRT_HANDLERS_INIT_SYMBOL, rc);
	return 0;
}

int shmrt_worker_run(const char *tenant, const char *queue, const int *stop)
{
	struct shmrt__worker_opts o = { 0, stop, NULL };
	struct shmrt__backend *be = shmrt__backend_lookup(tenant);
	int qi, rc;

	if (be == NULL)
		return shmrt__fail(SHMRT_E_NOENT, "worker: tenant '%s' is not "
				   "started or attached in this process",
				   tenant ? tenant : "(null)");
	qi = shmrt__backend_queue(be, queue);
	rc = qi < 0 ? qi : shmrt__heart_start(shmrt__heart_interval(be),
					       &o.heart);
	if (rc == 0) {
		rc = shmrt__worker_run(be, (uint32_t)qi, &o, NULL);
		shmrt__heart_stop(o.heart);
	}
	shmrt__backend_put(be);
	return rc;
}
