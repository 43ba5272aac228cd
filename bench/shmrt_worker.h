/*
 * bench/shmrt_worker.h - the benchmark's shmrt worker: lease, run a
 * no-op handler, complete, over and over.
 *
 * The same loop runs as a thread of the benchmark ("inline" mode, on the
 * benchmark's own segment handle) or as a child process that attaches
 * the segment by tenant name ("process" mode). Whether it spins or sleeps
 * while the queue is empty is the segment's spin time (tun.spin_ns).
 *
 * A worker stops on a STOP job (one per worker, enqueued after the work),
 * on its report's `stop` word, or when it has seen no job for a long
 * time; it then reads its resident memory into its report.
 */
#ifndef SHMRT_BENCH_SHMRT_WORKER_H
#define SHMRT_BENCH_SHMRT_WORKER_H

#include <pthread.h>
#include <stdint.h>

#include "proc.h"
#include "shm/participant.h"
#include "shm/segment.h"

#define BW_MAX	   4
#define BW_PAYLOAD 64

enum bw_flags {
	BW_RELEASE = 1, /* free each job's slot after completing it */
};

enum bw_kind { BW_JOB = 1, BW_STOP = 2 };

/* A job's 64-byte payload. */
struct bw_payload {
	uint32_t kind;
	uint32_t producer;
	uint64_t seq;
	unsigned char fill[BW_PAYLOAD - 16];
};

/* What a worker tells its starter; in memory shared with it. */
struct bw_report {
	uint64_t jobs;	  /* jobs run, STOP not counted */
	uint64_t last_ns; /* when it took its STOP job */
	struct bench_rss rss;
	int32_t err;   /* 0, or the shmrt error that ended it */
	int32_t tid;   /* the worker's kernel thread id */
	uint32_t ready; /* joined and about to lease */
	uint32_t stop;	/* set by the starter: leave now */
} __attribute__((aligned(64)));

/* Run the loop on queue qi of an attached segment until stopped. */
int bw_run(struct shmrt__seg *seg, uint32_t qi, unsigned flags,
	   struct bw_report *rep);

/* A set of workers of one mode. */
struct bw_set {
	int n;
	int inline_mode;
	struct shmrt__seg *seg;
	unsigned flags;
	pthread_t th[BW_MAX];
	struct bench_child kids[BW_MAX];
	int started[BW_MAX];
	struct bw_report *reps; /* n reports, shared with the children */
	int reps_fd;
};

/*
 * Start n workers on queue 0: threads on `seg` when tenant is NULL,
 * otherwise processes attaching `tenant`. Waits until all have joined.
 * Returns 0, or -1 (whatever started is stopped and freed again).
 * Pair with bw_stop, then bw_free once the reports are read.
 */
int bw_start(struct bw_set *s, struct shmrt__seg *seg, const char *tenant,
	     int n, unsigned flags);

/*
 * Enqueue one STOP job per worker through `producer`, wait for all to
 * leave (with a deadline; stragglers are told to stop, then killed).
 * With producer NULL, only tells them to stop. Returns 0 if every worker
 * ended cleanly. The reports stay readable until bw_free.
 */
int bw_stop(struct bw_set *s, struct shmrt__part *producer);

/* Unmap the reports. */
void bw_free(struct bw_set *s);

/* Fill a payload. */
void bw_payload_init(struct bw_payload *p, uint32_t kind, uint32_t producer,
		     uint64_t seq);

#endif /* SHMRT_BENCH_SHMRT_WORKER_H */
