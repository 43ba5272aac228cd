/*
 * bench/mutex_ring.h - the textbook baseline: a bounded ring under one
 * process-shared mutex, with condition variables for "not empty", "not
 * full" and, per producer, "your job is done".
 *
 * It lives in memory shared between processes (PTHREAD_PROCESS_SHARED,
 * conditions on CLOCK_MONOTONIC). It has none of shmrt's guarantees: a
 * process that dies holding the mutex wedges it. Every wait takes an
 * absolute CLOCK_MONOTONIC deadline.
 */
#ifndef SHMRT_BENCH_MUTEX_RING_H
#define SHMRT_BENCH_MUTEX_RING_H

#include <pthread.h>
#include <stdint.h>

#define MR_CAPACITY  64
#define MR_PRODUCERS 4

struct mr_job {
	uint32_t producer;
	uint32_t pad;
	uint64_t seq;
	unsigned char payload[48];
};

struct mutex_ring {
	pthread_mutex_t mu;
	pthread_cond_t not_empty;
	pthread_cond_t not_full;
	pthread_cond_t done_cv[MR_PRODUCERS];
	uint64_t done_seq[MR_PRODUCERS];
	uint32_t head, count, stop;
	struct mr_job jobs[MR_CAPACITY];
};

/* Initialize in shared memory. 0 or -1. Pair with mutex_ring_destroy. */
int mutex_ring_init(struct mutex_ring *r);
void mutex_ring_destroy(struct mutex_ring *r);

/* Append a job, waiting while full. 0, or -1 past the deadline. */
int mutex_ring_put(struct mutex_ring *r, const struct mr_job *j,
		   uint64_t deadline_ns);

/* Take the oldest job, waiting while empty. 0; 1 once stopped and
 * empty; -1 past the deadline. */
int mutex_ring_take(struct mutex_ring *r, struct mr_job *j,
		    uint64_t deadline_ns);

/* Mark job `seq` of `producer` done and wake that producer. */
void mutex_ring_done(struct mutex_ring *r, uint32_t producer, uint64_t seq);

/* Wait until job `seq` of `producer` is done. 0, or -1 past deadline. */
int mutex_ring_wait_done(struct mutex_ring *r, uint32_t producer,
			 uint64_t seq, uint64_t deadline_ns);

/* Tell the takers to leave once the ring is empty. */
void mutex_ring_stop(struct mutex_ring *r);

#endif /* SHMRT_BENCH_MUTEX_RING_H */
