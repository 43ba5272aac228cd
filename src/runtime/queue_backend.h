/*
 * src/runtime/queue_backend.h - the queue backend interface: an ops table.
 *
 * A backend holds one tenant's queues and jobs. Three implement it:
 * "shm" (queue_backend_shm.c: the cross-process rings in the tenant's
 * /dev/shm segment), "inline" (queue_backend_inline.c: the same rings on
 * private memory of this process) and "redis" (queue_backend_redis.c:
 * the jobs in a Redis server, for workers on several hosts). Only the backends and the factory that makes them know which
 * one is in use: everything above calls through `ops`, and reads the
 * few capabilities a caller needs (sync) from struct shmrt__backend.
 *
 * Concurrency: every op may be called from any thread at any time while
 * the caller holds a reference (queue_backend_factory.h), except `close`,
 * which the factory calls once, after the last reference is gone. A
 * consumer (one worker's seat in the backend) is used by one thread at a
 * time; leases belong to the consumer that took them.
 *
 * Errors: negative SHMRT_E_* codes with a detail for shmrt_last_error().
 */
#ifndef SHMRT_QUEUE_BACKEND_H
#define SHMRT_QUEUE_BACKEND_H

#include <shmrt/job.h>
#include <shmrt/runtime.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <urcu/rculfhash.h>

#include "runtime/conf.h"

#define SHMRT__BE_KEY_MAX 64u       /* bytes of a lane or idempotency key */
#define SHMRT__BE_LEASE_IMPL 192u   /* bytes a backend keeps in a lease */

struct shmrt__backend;
struct shmrt__consumer; /* defined by each backend */

/* An enqueue, backend-neutral. */
struct shmrt__enqueue_req {
	const void *payload;
	size_t len;
	const char *lane; /* NULL: no lane */
	size_t lane_len;
	const char *key;  /* idempotency key; NULL: none */
	size_t key_len;
	uint64_t deadline_ns; /* queue full: wait until; 0: fail at once */
};

/* A leased job: what any backend reports, plus the backend's own token. */
struct shmrt__be_lease {
	shmrt_job_id id;
	uint32_t queue;       /* index in the configuration */
	uint32_t attempt;     /* 1 on the first run */
	uint32_t payload_len; /* bytes copied into the lease buffer */
	uint32_t lane_len;    /* 0: no lane */
	uint64_t enqueue_ns;
	uint64_t token;       /* fencing token: grows with every lease */
	char lane[SHMRT__BE_KEY_MAX];
	_Alignas(8) unsigned char impl[SHMRT__BE_LEASE_IMPL];
};

/* When one finished job was enqueued, started and finished
 * (CLOCK_MONOTONIC ns; start_ns 0: it never ran, e.g. cancelled queued). */
struct shmrt__be_times {
	uint64_t enqueue_ns;
	uint64_t start_ns;
	uint64_t finish_ns;
};

/* Tenant states as backends report them. */
enum shmrt__be_state {
	SHMRT__BE_READY = 1,
	SHMRT__BE_DRAINING = 2,
	SHMRT__BE_STOPPED = 3,
};

struct shmrt__backend_ops {
	/* Producers and anyone: 0 new job, SHMRT_ENQUEUE_EXISTING. */
	int (*enqueue)(struct shmrt__backend *be, uint32_t qi,
		       const struct shmrt__enqueue_req *req, shmrt_job_id *id);
	int (*cancel)(struct shmrt__backend *be, shmrt_job_id id);
	int (*status)(struct shmrt__backend *be, shmrt_job_id id,
		      struct shmrt_job_info *info, void *buf, size_t bufsize);
	/* Waits until the job is finished; never runs jobs itself. */
	int (*wait)(struct shmrt__backend *be, shmrt_job_id id,
		    uint64_t deadline_ns, struct shmrt_job_info *info,
		    void *buf, size_t bufsize);
	int (*release)(struct shmrt__backend *be, shmrt_job_id id);

	/* Workers. buf holds at least the queue's slot_size bytes. */
	int (*consumer_open)(struct shmrt__backend *be,
			     struct shmrt__consumer **out);
	void (*consumer_close)(struct shmrt__backend *be,
			       struct shmrt__consumer *c);
	void (*heartbeat)(struct shmrt__backend *be, struct shmrt__consumer *c);
	/* SHMRT_E_TIMEDOUT at the deadline; deadline 0: SHMRT_E_AGAIN. */
	int (*lease)(struct shmrt__backend *be, struct shmrt__consumer *c,
		     uint32_t qi, void *buf, size_t bufsize,
		     uint64_t deadline_ns, struct shmrt__be_lease *out);
	int (*complete)(struct shmrt__backend *be, struct shmrt__consumer *c,
			const struct shmrt__be_lease *l, const void *result,
			size_t len);
	/* retry: back to the queue while attempts remain (returns 1). */
	int (*fail)(struct shmrt__backend *be, struct shmrt__consumer *c,
		    const struct shmrt__be_lease *l, const char *err,
		    size_t len, int retry);
	bool (*cancel_requested)(struct shmrt__backend *be,
				 const struct shmrt__be_lease *l);
	/* Whether l still holds its job (not taken back). */
	bool (*lease_valid)(struct shmrt__backend *be,
			    const struct shmrt__be_lease *l);

	/* Inspection and repair. */
	int (*depth)(struct shmrt__backend *be, uint32_t qi,
		     struct shmrt_queue_stats *st);
	int (*failed)(struct shmrt__backend *be, uint32_t qi,
		      struct shmrt_failed_job *out, size_t max);
	int (*scan)(struct shmrt__backend *be, uint64_t deadline_ns,
		    struct shmrt_scan_stats *st);
	/*
	 * The timestamps of up to `max` finished jobs of queue qi that are
	 * still retained (succeeded, failed, cancelled), in any order; the
	 * latency figures (shmrt_queue_get_latency) are computed from them
	 * above the backend. Returns how many were written. Reads only.
	 * NULL for a backend that keeps no such figures (redis):
	 * shmrt_queue_get_latency then fails with SHMRT_E_BACKEND.
	 */
	int (*finished_times)(struct shmrt__backend *be, uint32_t qi,
			      struct shmrt__be_times *out, size_t max);
	/*
	 * The tenant's worker seats, in every process: up to `max` written
	 * to out (NULL when max is 0); returns how many there are. Reads
	 * only; joins nothing. NULL for a backend that knows its seats but
	 * not their processes (redis): shmrt_tenant_workers then fails with
	 * SHMRT_E_BACKEND.
	 */
	int (*workers)(struct shmrt__backend *be,
		       struct shmrt_worker_info *out, size_t max);

	/* Lifecycle, through the shared state (enum shmrt__be_state). */
	int (*state)(struct shmrt__backend *be);
	void (*set_state)(struct shmrt__backend *be, int state);
	/* The process that created the tenant's state, and whether it
	 * lives (fail closed); *pid 0 when the backend records none (a
	 * server's tenant, whose runner may be on another host: then
	 * *alive says whether workers of any host are still registered). */
	void (*runner)(struct shmrt__backend *be, int32_t *pid, bool *alive);
	/* Participants attached other than this backend's own seats. */
	uint32_t (*peers)(struct shmrt__backend *be);
	/* The creator's last act: remove the tenant's name, if it has one. */
	void (*retire)(struct shmrt__backend *be);
	/* Free everything; the factory calls it once, after the last ref. */
	void (*close)(struct shmrt__backend *be);
};

/*
 * What every backend starts with. Fields other than the factory's are
 * set when the backend is made and never change.
 */
struct shmrt__backend {
	const struct shmrt__backend_ops *ops;
	const char *name;  /* "shm", "inline" */
	char tenant[SHMRT_CONF_TENANT_MAX];
	struct shmrt_conf conf; /* the queues, indexed as in the segment */
	int mode;          /* enum shmrt_mode */
	bool owner;        /* made the tenant's state (else attached) */
	bool sync;         /* test mode: jobs run in the waiting caller */
	bool degraded;     /* inline because process mode failed */
	/* the factory's: references and the cache node */
	int refs;
	int published; /* 1 once cached (release; see the factory) */
	struct cds_lfht_node node;
};

/*
 * Fill one failed-jobs entry from job id's status (ops->status): its
 * attempts, finish time and error text (cut to fit, NUL-terminated).
 * False when the job is not failed (it moved on, or expired): *f is then
 * to be ignored. For the backends' `failed` op; any thread.
 */
bool shmrt__backend_failed_entry(struct shmrt__backend *be, shmrt_job_id id,
				 struct shmrt_failed_job *f);

/* The queue index of `name` in be, or SHMRT_E_NOQUEUE (with a detail). */
int shmrt__backend_queue(const struct shmrt__backend *be, const char *name);

#endif /* SHMRT_QUEUE_BACKEND_H */
