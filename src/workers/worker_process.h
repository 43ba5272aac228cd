/*
 * src/workers/worker_process.h - the body of a worker process.
 *
 * What `shmrt worker` runs (and what the supervisor starts), with the
 * handlers its caller registered: load a handler library if asked,
 * attach to the tenant, then run one worker thread per requested queue
 * (every queue when none is named) with one heart for them all, until
 * the tenant drains and the queues are empty, or SIGTERM/SIGINT arrives
 * (each thread finishes its job first), or - when started by a
 * supervisor - the supervisor dies. Detaches before returning.
 *
 * Call it from the main thread of a process that has no other threads
 * (it blocks SIGTERM and SIGINT for the whole process and waits for them).
 */
#ifndef SHMRT_WORKER_PROCESS_H
#define SHMRT_WORKER_PROCESS_H

#include <stdint.h>
#include <sys/types.h>

#include "runtime/conf.h"

#define SHMRT__WORKER_MAX_THREADS 256u

struct shmrt__worker_process {
	const char *conf_path;  /* NULL: SHMRT_CONF, then the default */
	const char *tenant;
	const char *queue[SHMRT__WORKER_MAX_THREADS]; /* one thread each */
	uint32_t nqueues;       /* 0: one thread for every queue */
	const char *handlers;   /* handler library, or NULL */
	pid_t parent;           /* > 0: exit when this process dies */
};

/* Where shmrt__worker_process_main failed. */
enum shmrt__worker_stage {
	SHMRT__WP_OK = 0,
	SHMRT__WP_HANDLERS = 1, /* registering or loading handlers */
	SHMRT__WP_ATTACH = 2,   /* the tenant cannot be attached */
	SHMRT__WP_QUEUE = 3,    /* a named queue does not exist */
	SHMRT__WP_RUN = 4,      /* a worker failed */
};

/*
 * Run the worker process. Returns 0, or a negative error with *stage
 * saying where (shmrt_last_error() has the detail for the first three).
 */
int shmrt__worker_process_main(const struct shmrt__worker_process *wp,
			       int *stage);

#endif /* SHMRT_WORKER_PROCESS_H */
