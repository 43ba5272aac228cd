/*
 * shmrt/job.h - job ids, states and status.
 */
#ifndef SHMRT_JOB_H
#define SHMRT_JOB_H

#include <shmrt/export.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A job id names one job for life: its queue, its slot and the slot's
 * generation. Once the job's slot is freed or reused, the old id gets
 * SHMRT_E_EXPIRED, never another job's data. 0 is never a valid id.
 */
typedef struct shmrt_job_id {
	uint64_t v;
} shmrt_job_id;

/* Job states as shown to users (values are stable ABI). */
enum shmrt_job_state {
	SHMRT_JOB_QUEUED = 2,
	SHMRT_JOB_RUNNING = 3,
	SHMRT_JOB_SUCCEEDED = 5,
	SHMRT_JOB_FAILED = 6,
	SHMRT_JOB_CANCELLED = 7,
};

/* A snapshot of a job, as returned by status calls. */
struct shmrt_job_info {
	shmrt_job_id id;
	int state;            /* enum shmrt_job_state */
	uint32_t attempt;     /* how many times it has been started */
	uint32_t payload_len;
	uint32_t result_len;  /* result bytes, or error text when failed */
	uint64_t enqueue_ns;  /* CLOCK_MONOTONIC timestamps; 0 = not yet */
	uint64_t start_ns;
	uint64_t finish_ns;
	uint64_t reserved[4]; /* written as 0; room to grow (shmrt.h) */
};

/* "queued", "running", ...; "unknown" for other values. Static storage. */
SHMRT_API const char *shmrt_job_state_name(int state);

#ifdef __cplusplus
}
#endif

#endif /* SHMRT_JOB_H */
