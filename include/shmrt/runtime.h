/*
 * shmrt/runtime.h - tenants, handlers, and the job entry points.
 *
 * An embedder's whole life with shmrt:
 *
 *     shmrt_handler_register("resize", resize_fn, my_ctx);
 *     shmrt_tenant_start(NULL, "acme");          // see below
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
 * the SHMRT_MODE environment variable (inline | process). Test mode (the
 * inline mode, with jobs run in the caller, so no worker is needed) has
 * its own switch, SHMRT_TEST_MODE (1 | 0); SHMRT_MODE=inline also turns
 * it on unless SHMRT_TEST_MODE=0 says otherwise (the test suite sets
 * SHMRT_MODE=inline; `shmrt run --mode inline` runs worker threads).
 *
 * Tenants are named; every call takes the tenant's name, and a process may
 * run several tenants at once. All functions here are safe to call from
 * any thread at any time, including concurrently with start and stop of
 * the same tenant: a call that races a stop either completes normally or
 * fails with SHMRT_E_NOENT (not started) or SHMRT_E_DRAINING.
 *
 * Errors: a negative SHMRT_E_* code (shmrt/error.h); shmrt_last_error()
 * then holds a sentence naming what failed. What the library has to say
 * outside a return value goes to a log handler (shmrt_log_set; default:
 * stderr).
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
	uint64_t reserved[4]; /* written as 0; room to grow (shmrt.h) */
};

/*
 * Start tenant `tenant` from the configuration file `conf_path` (NULL or
 * "": $SHMRT_CONF if set, else ./conf/shmrt.ini if it exists, else the
 * installed ${sysconfdir}/shmrt/shmrt.ini; `shmrt --help` prints that
 * path): its [tenant NAME] section, or, for a name with no section, the
 * file's [tenant *] template (any valid name: 1..48 of [A-Za-z0-9._-],
 * not "." or ".."; there is no limit on how many a process starts).
 * `tenant` NULL means the first [tenant NAME] of the file (an error when
 * the file has only the template). Order: segment, state, backend; worker
 * threads or processes are started by the workers layer on top (shmrt
 * run). The tenant costs this process no thread and no file descriptor of
 * its own: one scan thread per process scans every tenant started here.
 *
 * When process mode cannot set up its segment (e.g. /dev/shm/shmrt.NAME
 * is taken by a file that is not a live shmrt segment, or /dev/shm is
 * full), [runtime] on_init_error decides: `fail` returns the error;
 * `degrade` starts the tenant inline on private memory and logs why
 * (SHMRT_LOG_WARN, shmrt_log_set) once it is started
 * (shmrt_tenant_get_info then reports degraded = 1).
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

/* A tenant's shared state (values are stable ABI). */
enum shmrt_tenant_state {
	SHMRT_TENANT_READY = 1,    /* enqueues accepted, workers run jobs */
	SHMRT_TENANT_DRAINING = 2, /* enqueues refused; queued jobs finish */
	SHMRT_TENANT_STOPPED = 3,  /* workers leave */
};

/*
 * The state of a started or attached tenant, as every process attached
 * to it sees it (the state is shared, not this process's): a value of
 * enum shmrt_tenant_state, or SHMRT_E_NOENT. One load; any thread. A
 * runner polls it to learn that another process asked it to stop.
 */
SHMRT_API int shmrt_tenant_get_state(const char *tenant);

/*
 * Stop a tenant that another process runs, from any process attached to
 * it: mark it draining (enqueues fail with SHMRT_E_DRAINING everywhere),
 * wait up to timeout_ms until no job is queued or running (in test mode
 * the caller runs them), then mark it stopped whatever is left. Its
 * runner sees the state, stops its workers and removes the segment
 * (shmrt_tenant_get_runner tells when it has exited). Takes no
 * participant record, so the runner's own stop does not wait for this
 * process; this process stays attached (pair with shmrt_tenant_detach).
 * Returns 0, SHMRT_E_TIMEDOUT (jobs were still queued or running at the
 * deadline; the tenant is stopped all the same), SHMRT_E_NOENT.
 */
SHMRT_API int shmrt_tenant_drain(const char *tenant, uint32_t timeout_ms);

/* The process that created a tenant's shared state: its runner. */
struct shmrt_tenant_runner {
	int32_t pid; /* 0: none recorded */
	int alive;   /* 1: that process (same pid and start time) lives */
	uint64_t reserved[2]; /* written as 0; room to grow (shmrt.h) */
};

/*
 * Fill *out about the runner of a started or attached tenant (the same
 * process for a tenant started here). Liveness fails closed: only a
 * process that is gone, a reused pid or a zombie counts as not alive.
 * Any thread. Errors: SHMRT_E_INVAL (out NULL), SHMRT_E_NOENT.
 */
SHMRT_API int shmrt_tenant_get_runner(const char *tenant,
				      struct shmrt_tenant_runner *out);

/*
 * Remove the segment /dev/shm/shmrt.<tenant> of a tenant that does not
 * run, and every job in it, without starting or attaching it. Refuses,
 * removing nothing, while its runner or any other participant is alive
 * (SHMRT_E_BUSY, naming them), or when the file is not a valid segment
 * of this user (that attach refusal, e.g. SHMRT_E_NOTREG); with force
 * non-zero it removes the name in both cases (processes that have it
 * mapped keep their mapping). A process that has the tenant started or
 * attached must stop or detach it first. Any thread.
 * Errors: SHMRT_E_NOENT (no such segment), SHMRT_E_NAME, SHMRT_E_BUSY,
 * the attach refusals, SHMRT_E_SYS.
 */
SHMRT_API int shmrt_tenant_destroy(const char *tenant, int force);

/* ------------------------------------------------------------ handlers */

/*
 * One run of one job, as its handler sees it. shmrt allocates it and
 * may add fields at its end in any release (shmrt.h): a handler reads
 * it through the pointer it is given and never copies or makes one. The handler writes its
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

/*
 * Options of shmrt_enqueue; NULL means all zero. Zero the whole struct
 * before setting fields (= { 0 }, a designated initializer or memset):
 * `reserved` must be 0 (else SHMRT_E_INVAL), so that a later release can
 * give it meaning without changing what today's callers ask for.
 */
struct shmrt_enqueue_opts {
	const char *lane;    /* laned queues: the lane key (1..64 bytes) */
	const char *key;     /* idempotency key (1..64 bytes); NULL: none */
	uint32_t timeout_ms; /* queue full: wait this long; 0: fail at once */
	uint32_t reserved[7]; /* must be 0; room to grow (shmrt.h) */
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
 *
 * A full queue: each of its `capacity` slots holds a job that is queued,
 * running, or finished and kept for [runtime] retention_ms. Finished jobs
 * never refuse new work: the oldest of them give up their slots (their
 * results expire early; status then says SHMRT_E_EXPIRED, and the queue's
 * `evicted` counter counts them), unless the queue says
 * `retention = strict`. Only queued and running jobs (and, with strict
 * retention, retained ones) make an enqueue wait up to opts->timeout_ms,
 * then fail with SHMRT_E_FULL.
 * Errors: SHMRT_E_NOENT (tenant not started/attached), SHMRT_E_NOQUEUE,
 * SHMRT_E_TOOBIG, SHMRT_E_FULL, SHMRT_E_DRAINING, SHMRT_E_NOLANE,
 * SHMRT_E_LANES, SHMRT_E_KEYS, SHMRT_E_KEYLEN, SHMRT_E_INVAL (NULL id,
 * or opts->reserved not zero). Nothing is enqueued on error.
 */
SHMRT_API int shmrt_enqueue(const char *tenant, const char *queue,
			    const void *payload, size_t len,
			    const struct shmrt_enqueue_opts *opts,
			    shmrt_job_id *id);

/*
 * A snapshot of any job of the tenant, including ones other processes
 * enqueued. With buf non-NULL also copies up to bufsize bytes of its
 * result (or error text: info->result_len says how many exist).
 * Errors: SHMRT_E_NOENT (tenant), SHMRT_E_EXPIRED (the job finished and
 * its slot was freed since: released, past retention_ms, or evicted for
 * new work), SHMRT_E_NOJOB (an id the tenant never gave out).
 */
SHMRT_API int shmrt_job_status(const char *tenant, shmrt_job_id id,
			       struct shmrt_job_info *info, void *buf,
			       size_t bufsize);

/*
 * Wait until the job is finished (succeeded, failed or cancelled) or
 * timeout_ms passes (SHMRT_E_TIMEDOUT), then fill *info and buf as
 * shmrt_job_status does (so SHMRT_E_EXPIRED if its result is gone). In
 * test mode the caller runs the queue's jobs while it waits.
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
 * SHMRT_E_EXPIRED, SHMRT_E_NOJOB, SHMRT_E_NOENT.
 */
SHMRT_API int shmrt_job_cancel(const char *tenant, shmrt_job_id id);

/*
 * Free a finished job's slot now instead of after [runtime] retention_ms.
 * Errors: SHMRT_E_STATE (not finished), SHMRT_E_EXPIRED (already freed),
 * SHMRT_E_NOJOB, SHMRT_E_NOENT.
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
	uint64_t evicted;  /* finished jobs whose slot went to new work
			      before retention_ms ended */
	uint64_t reserved[3];  /* written as 0; room to grow (shmrt.h) */
};

/* Fill *st for `queue`. Errors: SHMRT_E_NOENT, SHMRT_E_NOQUEUE. */
SHMRT_API int shmrt_queue_get_stats(const char *tenant, const char *queue,
				struct shmrt_queue_stats *st);

/*
 * One latency distribution over a queue's finished jobs that are still
 * retained ([runtime] retention_ms): a sliding window, not a total since
 * the tenant started. With count 0 the other fields are 0 and mean "no
 * data", not "no delay".
 */
struct shmrt_latency {
	uint64_t count;  /* jobs measured */
	uint64_t sum_ns; /* their latencies added up */
	uint64_t p50_ns; /* nearest-rank percentiles */
	uint64_t p90_ns;
	uint64_t p99_ns;
	uint64_t max_ns;
};

/* Latencies of one queue (shmrt_queue_get_latency). */
struct shmrt_queue_latency {
	struct shmrt_latency wait;  /* enqueue to handler start */
	struct shmrt_latency total; /* enqueue to finish */
	uint64_t reserved[4];       /* written as 0; room to grow (shmrt.h) */
};

/*
 * Fill *lat with `queue`'s latencies over its retained finished jobs
 * that ran (a job cancelled while queued has no start and is left out).
 * Reads the jobs without taking any of them: safe from any thread and
 * any attached process while workers run; the figures are a snapshot
 * that may mix jobs finishing meanwhile. Allocates scratch arrays of
 * the queue's capacity for the call (freed before it returns).
 * Errors: SHMRT_E_INVAL (lat NULL), SHMRT_E_NOENT, SHMRT_E_NOQUEUE,
 * SHMRT_E_NOMEM; *lat is then all zero.
 */
SHMRT_API int shmrt_queue_get_latency(const char *tenant, const char *queue,
				      struct shmrt_queue_latency *lat);

/* What a worker is doing, as shmrt_tenant_workers sees it (stable ABI). */
enum shmrt_worker_state {
	SHMRT_WORKER_IDLE = 0, /* waiting for a job */
	SHMRT_WORKER_BUSY = 1, /* running `job` (or, for a moment after it
				  finished, letting go of its lease) */
	SHMRT_WORKER_HUNG = 2, /* heartbeat older than heartbeat_timeout_ms:
				  the next scan takes its job back */
	SHMRT_WORKER_DEAD = 3, /* its process is gone: the next scan frees
				  its seat and takes its job back */
};

/* One worker seat of a tenant: a thread running the worker loop. */
struct shmrt_worker_info {
	int32_t pid;              /* its process */
	int state;                /* enum shmrt_worker_state */
	shmrt_job_id job;         /* the job it holds; 0: none */
	int32_t queue;            /* that job's queue, indexed as in the
				     configuration; -1: none */
	uint64_t heartbeat_age_ns; /* since its last heartbeat; 0: none yet */
	uint64_t reserved[2];     /* written as 0; room to grow (shmrt.h) */
};

/*
 * The tenant's workers, in every process attached to it (worker threads
 * of `shmrt run`, `shmrt worker` processes, embedders running
 * shmrt_worker_run): writes up to `max` of them to out[] (out may be NULL
 * when max is 0) and returns how many there are, which may exceed max
 * (call again with more room). Reads the records without joining or
 * disturbing anyone; safe from any thread and process; a snapshot.
 * Errors: SHMRT_E_INVAL (out NULL with max > 0), SHMRT_E_NOENT.
 */
SHMRT_API int shmrt_tenant_workers(const char *tenant,
				   struct shmrt_worker_info *out, size_t max);

/* One job that failed for good, with the error of its last attempt. */
struct shmrt_failed_job {
	shmrt_job_id id;
	uint32_t attempts;
	uint64_t finish_ns;   /* CLOCK_MONOTONIC */
	uint32_t error_len;   /* bytes of the whole error text */
	char error[256];      /* NUL-terminated, cut to fit */
	uint64_t reserved[2]; /* written as 0; room to grow (shmrt.h) */
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
	uint32_t reserved[6];   /* written as 0; room to grow (shmrt.h) */
};

/*
 * Scan the tenant now: reclaim what dead processes held, expire leases
 * and retained jobs (a started tenant also scans every
 * [runtime] scan_interval_ms by itself). `st` may be NULL.
 * Errors: SHMRT_E_NOENT, SHMRT_E_BUSY (another scan held the lock for
 * over a second).
 */
SHMRT_API int shmrt_scan(const char *tenant, struct shmrt_scan_stats *st);

/* ------------------------------------------------------------- logging */

/* How serious a library message is (values are stable ABI). */
enum shmrt_log_level {
	SHMRT_LOG_ERROR = 0, /* something failed and was not returned */
	SHMRT_LOG_WARN = 1,  /* the runtime chose a fallback, e.g. degrade */
};

/*
 * Receives the library's messages: `msg` is one line without a newline,
 * valid during the call only. `ctx` is the pointer given to
 * shmrt_log_set.
 */
typedef void (*shmrt_log_fn)(void *ctx, int level, const char *msg);

/*
 * Send the library's messages to `fn` (NULL: back to the default, which
 * writes "shmrt: MSG" lines to stderr). The library writes nothing to
 * stderr other than through this handler. Thread-safe: a message being
 * delivered while the handler changes goes to the old or the new one,
 * with its own ctx; `ctx` is the caller's and must outlive the
 * registration (and any call already under way). Meant for start-up:
 * each distinct (fn, ctx) pair costs a few bytes kept until exit.
 * Errors: SHMRT_E_NOMEM (the handler is unchanged).
 *
 * Blocking: the handler runs synchronously, in the thread whose call
 * produced the message (e.g. shmrt_tenant_start when it degrades), and
 * that call waits for it; the default blocks as writing to stderr does.
 *
 * Reentrancy: the handler is called with no shmrt lock held, so it may
 * call any shmrt function, including shmrt_enqueue, shmrt_job_status and
 * shmrt_job_wait (which blocks the thread that logged for as long as it
 * waits). A message produced inside the handler goes to the default
 * (stderr), never back into the handler. The thread's
 * shmrt_last_error() is the same after the handler as before it.
 *
 * fork(): the handler is process-global and taken by no lock, so a
 * forked child keeps it (its copy of fn and ctx) and may log at once; a
 * child that execs - as shmrt's worker processes do - starts with the
 * default.
 */
SHMRT_API int shmrt_log_set(shmrt_log_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* SHMRT_RUNTIME_H */
