/*
 * shmrt/runtime.h - tenants, handlers, and the job entry points.
 *
 * An embedder's whole life with shmrt:
 *
 *     shmrt_handler_register("resize", resize_fn, my_ctx);
 *     shmrt_tenant_start(NULL, "acme");          // conf/shmrt.ini
 *     shmrt_enqueue("acme", "images", data, len, NULL, &id);
 *     shmrt_job_wait("acme", id, 5000, &info, buf, sizeof(buf));
 *     shmrt_tenant_stop("acme");
 *
 * The same calls work in both modes:
 *  - process: the tenant's jobs live in /dev/shm/shmrt.<tenant>; worker
 *    processes (and any process that calls shmrt_tenant_attach) share it.
 *  - inline: the same rings on private memory of this process; jobs run on
 *    worker threads of this process, or - in test mode - in the calling
 *    thread, inside shmrt_job_wait and shmrt_tenant_stop.
 * The mode comes from the configuration's [runtime] mode, overridden by
 * the SHMRT_MODE environment variable (inline | process). SHMRT_MODE=inline
 * is also the test-mode switch the test suite sets: with it, jobs run in
 * the caller and no worker is needed.
 *
 * Tenants are named; every call takes the tenant's name, and a process may
 * run several tenants at once. All functions here are safe to call from
 * any thread at any time, including concurrently with start and stop of
 * the same tenant: a call that races a stop either completes normally or
 * fails with SHMRT_E_NOENT (not started) or SHMRT_E_DRAINING.
 *
 * Errors: a negative SHMRT_E_* code (shmrt/error.h); shmrt_last_error()
 * then holds a sentence naming what failed.
 */
#ifndef SHMRT_RUNTIME_H
#define SHMRT_RUNTIME_H

#include <shmrt/export.h>
#include <shmrt/job.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- tenants */

/* Where a tenant's jobs run (values are stable ABI). */
enum shmrt_mode {
	SHMRT_MODE_INLINE = 0,
	SHMRT_MODE_PROCESS = 1,
};

/* What shmrt_tenant_get_info reports about a started or attached tenant. */
struct shmrt_tenant_info {
	int mode;          /* enum shmrt_mode in use */
	int owner;         /* 1: started here; 0: attached to another's */
	int degraded;      /* 1: process mode failed; fell back to inline */
	int sync;          /* 1: test mode: jobs run in the waiting caller */
	uint32_t nqueues;  /* queues, indexed as in the configuration */
	char backend[16];  /* the backend's name, for logs ("shm", ...) */
};

/*
 * Start tenant `tenant` from the configuration file `conf_path` (NULL:
 * $SHMRT_CONF, then conf/shmrt.ini): its [tenant NAME] section, or, for a
 * name with no section, the file's [tenant *] template (any valid name:
 * 1..48 of [A-Za-z0-9._-], not "." or ".."; there is no limit on how many
 * a process starts). `tenant` NULL means the first [tenant NAME] of the
 * file (an error when the file has only the template). Order: segment,
 * state, backend; worker threads or processes are started by the workers
 * layer on top (shmrt run). The tenant costs this process no thread and
 * no file descriptor of its own: one scan thread per process scans every
 * tenant started here.
 *
 * When process mode cannot set up its segment (e.g. /dev/shm/shmrt.NAME
 * is taken by a file that is not a live shmrt segment, or /dev/shm is
 * full), [runtime] on_init_error decides: `fail` returns the error;
 * `degrade` writes why to stderr and starts the tenant inline on private
 * memory (shmrt_tenant_get_info then reports degraded = 1).
 *
 * A segment left by a creator that has died (a runner killed with
 * SIGKILL) is adopted, not replaced: the jobs accepted into it still run.
 * It must have the layout this configuration asks for (else
 * SHMRT_E_LAYOUT, naming the difference; `shmrt destroy --force` replaces
 * it and loses its jobs); it is scanned and set ready again. While its
 * creator is alive, starting it elsewhere fails with SHMRT_E_EXIST
 * ("tenant NAME is already run by pid N"). Meanwhile, with no runner,
 * enqueue, status, wait and cancel keep working on the segment (unless
 * the dead runner was stopping it), and its jobs wait for a worker.
 *
 * Idempotent: starting a started tenant returns 0 and changes nothing.
 * Safe from several threads at once; concurrent starts of one tenant make
 * one runtime. Pair with shmrt_tenant_stop.
 * Errors: SHMRT_E_CONF (file; a name with no section and no template),
 * SHMRT_E_NAME (a name the template cannot serve), segment errors (with
 * `fail`), SHMRT_E_NOMEM.
 */
SHMRT_API int shmrt_tenant_start(const char *conf_path, const char *tenant);

/*
 * Use a tenant that another process started (process mode): attach to its
 * segment, so this process can enqueue, wait, cancel and run workers. The
 * configuration must be the one the tenant was started with (it names the
 * queues); a templated name attaches as it starts, through [tenant *]. Idempotent; returns 0 at once if the tenant is already started
 * or attached here. Pair with shmrt_tenant_detach (or stop).
 * Errors: SHMRT_E_NOENT (no such segment) and the other attach refusals
 * of shmrt/error.h.
 */
SHMRT_API int shmrt_tenant_attach(const char *conf_path, const char *tenant);

/*
 * Stop a tenant, working only through its segment, so it stops workers in
 * any process without knowing them: mark it draining (new enqueues fail
 * with SHMRT_E_DRAINING), let queued and running jobs finish until
 * [runtime] drain_timeout_ms (in test mode the caller runs them), mark it
 * stopped, wait (again up to drain_timeout_ms) until every other
 * participant has left or is found dead by a scan, then detach. The
 * process that created the segment also removes its name - unless a job
 * is still queued or running, or another live participant is still
 * attached, after the deadlines: then the segment stays (the result is
 * SHMRT_E_TIMEDOUT) and the next start adopts it, so nothing accepted is
 * dropped and no attached process is stranded on a removed segment.
 * A stop of a tenant that is not running here returns 0 (a second stop is
 * a no-op). Safe from several threads at once. Returns 0, or
 * SHMRT_E_TIMEDOUT when jobs or participants outlived the deadlines (the
 * tenant is stopped and detached all the same).
 */
SHMRT_API int shmrt_tenant_stop(const char *tenant);

/*
 * Forget an attached tenant without touching its state (the other
 * processes go on). For a tenant started here it is shmrt_tenant_stop.
 */
SHMRT_API int shmrt_tenant_detach(const char *tenant);

/* Fill *info about a started or attached tenant; SHMRT_E_NOENT if none. */
SHMRT_API int shmrt_tenant_get_info(const char *tenant,
				struct shmrt_tenant_info *info);

/* ------------------------------------------------------------ handlers */

/*
 * One run of one job, as its handler sees it. The handler writes its
 * result - or, when it fails, its error text - into out[0..out_cap) and
 * sets out_len. Everything else is read-only and valid during the call.
 */
struct shmrt_job_run {
	shmrt_job_id id;
	const char *tenant;
	const char *queue;
	const void *payload;
	size_t payload_len;
	const char *lane;  /* lane key (not NUL-terminated); NULL: no lane */
	size_t lane_len;
	uint32_t attempt;  /* 1 on the first run */
	/*
	 * The lease's fencing token. A later lease of the same job always
	 * has a greater one (its attempt is higher), so a store keyed by job
	 * id that keeps the highest token it has seen can refuse the writes
	 * of a run whose lease was taken back (shmrt_job_run_lease_valid).
	 */
	uint64_t token;
	char *out;
	size_t out_cap;    /* the queue's slot size */
	size_t out_len;
	const void *shmrt_private; /* for shmrt_job_run_cancelled */
};

/* What a handler returns. */
enum shmrt_handler_result {
	SHMRT_HANDLER_OK = 0,         /* succeeded: out holds the result */
	SHMRT_HANDLER_RETRY = -1,     /* failed: retried (after the queue's
					 retry_backoff_ms) while attempts
					 remain, then failed for good */
	SHMRT_HANDLER_FAIL_FINAL = -2 /* failed: no retry */
};

/*
 * A handler: runs one job. Called on worker threads or processes, many at
 * once (or, in test mode, in the thread that waits), so it must be
 * reentrant. `ctx` is the pointer given at registration. Any negative
 * value other than SHMRT_HANDLER_FAIL_FINAL counts as SHMRT_HANDLER_RETRY.
 */
typedef int (*shmrt_handler_fn)(void *ctx, struct shmrt_job_run *run);

/*
 * Register `fn` for job kind `kind` (a queue's `handler` key: 1..63 of
 * [A-Za-z0-9._-]) in this process, replacing an earlier registration of
 * the kind. Lookups by workers are lock-free (RCU) and see the old or the
 * new handler, never a mix; a run already started with the old one
 * finishes with it. `ctx` is owned by the caller and must outlive the
 * registration. Thread-safe. Errors: SHMRT_E_INVAL, SHMRT_E_NOMEM.
 */
SHMRT_API int shmrt_handler_register(const char *kind, shmrt_handler_fn fn,
				     void *ctx);

/*
 * Remove kind's handler; returns once no new run can start with it (runs
 * in progress may still be using ctx). SHMRT_E_INVAL if none. Thread-safe.
 */
SHMRT_API int shmrt_handler_unregister(const char *kind);

/* Whether someone called shmrt_job_cancel on the job being run (1/0). A
 * handler that sees 1 should stop early and return a failure. */
SHMRT_API int shmrt_job_run_cancelled(const struct shmrt_job_run *run);

/*
 * Whether this run still holds its job's lease (1/0). A worker stopped or
 * stuck past heartbeat_timeout_ms (or past the job's timeout) loses its
 * lease: the job is taken back and may already run elsewhere, and this
 * run's result will be refused. A handler calls this right before it
 * commits a side effect, and a store that must never take a stale write
 * also records run->token with it. Thread-safe; a few loads, no syscall.
 */
SHMRT_API int shmrt_job_run_lease_valid(const struct shmrt_job_run *run);

/* ---------------------------------------------------------------- jobs */

/* Options of shmrt_enqueue; NULL means all zero. */
struct shmrt_enqueue_opts {
	const char *lane;    /* laned queues: the lane key (1..64 bytes) */
	const char *key;     /* idempotency key (1..64 bytes); NULL: none */
	uint32_t timeout_ms; /* queue full: wait this long; 0: fail at once */
};

/* shmrt_enqueue's result when the idempotency key named a live job. */
#define SHMRT_ENQUEUE_EXISTING 1

/*
 * Enqueue a copy of payload[0..len) on `queue` of `tenant`. On success
 * *id names the job and the job is accepted: it will end succeeded,
 * failed or cancelled even if this process dies. Returns 0 for a new job,
 * or SHMRT_ENQUEUE_EXISTING when opts->key is live and *id is the job
 * that holds it (nothing was enqueued). Jobs of one lane run one at a
 * time, in enqueue order. Lock-free unless the queue is full.
 * Errors: SHMRT_E_NOENT (tenant not started/attached), SHMRT_E_NOQUEUE,
 * SHMRT_E_TOOBIG, SHMRT_E_FULL, SHMRT_E_DRAINING, SHMRT_E_NOLANE,
 * SHMRT_E_LANES, SHMRT_E_KEYS, SHMRT_E_KEYLEN. Nothing is enqueued on
 * error.
 */
SHMRT_API int shmrt_enqueue(const char *tenant, const char *queue,
			    const void *payload, size_t len,
			    const struct shmrt_enqueue_opts *opts,
			    shmrt_job_id *id);

/*
 * A snapshot of any job of the tenant, including ones other processes
 * enqueued. With buf non-NULL also copies up to bufsize bytes of its
 * result (or error text: info->result_len says how many exist).
 * Errors: SHMRT_E_NOENT (tenant), SHMRT_E_NOJOB (unknown, freed or
 * reused id).
 */
SHMRT_API int shmrt_job_status(const char *tenant, shmrt_job_id id,
			       struct shmrt_job_info *info, void *buf,
			       size_t bufsize);

/*
 * Wait until the job is finished (succeeded, failed or cancelled) or
 * timeout_ms passes (SHMRT_E_TIMEDOUT), then fill *info and buf as
 * shmrt_job_status does. In test mode the caller runs the queue's jobs
 * while it waits.
 */
SHMRT_API int shmrt_job_wait(const char *tenant, shmrt_job_id id,
			     uint32_t timeout_ms, struct shmrt_job_info *info,
			     void *buf, size_t bufsize);

/* shmrt_job_cancel's result when the job was running and was told. */
#define SHMRT_CANCEL_REQUESTED 1

/*
 * Cancel a job of the tenant (from any process). A queued job becomes
 * cancelled and never runs: returns 0. A running job is told
 * (shmrt_job_run_cancelled) and ends however its handler ends it: returns
 * SHMRT_CANCEL_REQUESTED. Errors: SHMRT_E_STATE (already finished),
 * SHMRT_E_NOJOB, SHMRT_E_NOENT.
 */
SHMRT_API int shmrt_job_cancel(const char *tenant, shmrt_job_id id);

/*
 * Free a finished job's slot now instead of after [runtime] retention_ms.
 * Errors: SHMRT_E_STATE (not finished), SHMRT_E_NOJOB, SHMRT_E_NOENT.
 */
SHMRT_API int shmrt_job_release(const char *tenant, shmrt_job_id id);

/* ------------------------------------------------------ queues, repair */

/* Counts for one queue, read from the tenant's shared counters. */
struct shmrt_queue_stats {
	uint32_t queued;   /* waiting to run (including retries in backoff) */
	uint32_t running;
	uint32_t finished; /* succeeded, failed or cancelled, still retained */
	uint64_t enqueued; /* totals since the tenant started */
	uint64_t succeeded;
	uint64_t failed;
	uint64_t retried;
	uint64_t reclaimed;
	uint64_t cancelled;
	uint64_t deduplicated; /* enqueues answered with an existing job */
};

/* Fill *st for `queue`. Errors: SHMRT_E_NOENT, SHMRT_E_NOQUEUE. */
SHMRT_API int shmrt_queue_get_stats(const char *tenant, const char *queue,
				struct shmrt_queue_stats *st);

/* One job that failed for good, with the error of its last attempt. */
struct shmrt_failed_job {
	shmrt_job_id id;
	uint32_t attempts;
	uint64_t finish_ns;   /* CLOCK_MONOTONIC */
	uint32_t error_len;   /* bytes of the whole error text */
	char error[256];      /* NUL-terminated, cut to fit */
};

/*
 * The failed-jobs view: up to `max` jobs of `queue` that ended failed
 * (attempts used up, or a final failure) and are still retained, oldest
 * slot first. Returns how many were written (0..max).
 * Errors: SHMRT_E_NOENT, SHMRT_E_NOQUEUE, SHMRT_E_INVAL.
 */
SHMRT_API int shmrt_failed_jobs(const char *tenant, const char *queue,
				struct shmrt_failed_job *out, size_t max);

/* What one scan found and repaired. */
struct shmrt_scan_stats {
	uint32_t dead_participants;
	uint32_t jobs_requeued; /* of dead or timed-out workers */
	uint32_t jobs_failed;   /* ... whose attempts were used up */
	uint32_t cells_repaired;
	uint32_t jobs_expired;  /* finished jobs past retention, freed */
};

/*
 * Scan the tenant now: reclaim what dead processes held, expire leases
 * and retained jobs (a started tenant also scans every
 * [runtime] scan_interval_ms by itself). `st` may be NULL.
 * Errors: SHMRT_E_NOENT, SHMRT_E_BUSY (another scan held the lock for
 * over a second).
 */
SHMRT_API int shmrt_scan(const char *tenant, struct shmrt_scan_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* SHMRT_RUNTIME_H */
