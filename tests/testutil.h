/*
 * tests/testutil.h - helpers shared by the test programs.
 *
 * Forked children never assert: they report through their exit status
 * (0 = ok, anything else = the failure number), and only the parent
 * asserts, with tu_wait_child, which enforces a deadline.
 */
#ifndef SHMRT_TESTUTIL_H
#define SHMRT_TESTUTIL_H

#include <shmrt/job.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <shmrt/runtime.h>

#include "shm/segment.h"

/* A tenant name unique to this test process: "<prefix>-<pid>-<n>". */
const char *tu_tenant(void);

/* Scale a count by SHMRT_TEST_SCALE (default 1; sanitizer runs lower it),
 * never below `min`. */
uint64_t tu_scaled(uint64_t count, uint64_t min);

/* Parameters for a one-queue segment ("q0") with the given sizes. */
void tu_params_one_queue(struct shmrt__seg_params *p, uint32_t capacity,
			 uint32_t slot_size, uint32_t nparticipants);

/*
 * fork() for a test's child, which must not outlive the test: stdio is
 * flushed first, and the child dies with its parent (PR_SET_PDEATHSIG), so
 * a parent killed by a CTest timeout leaves no orphan; a child whose parent
 * is already gone exits at once with `orphan_code`. The parent asserts
 * that fork worked. Returns the pid, or 0 in the child.
 */
pid_t tu_fork(int orphan_code);

/*
 * Shared by a test's children (in tu_shared_alloc memory): the first child
 * to fail records why and raises `abort`, so the others stop early and the
 * parent can print the first cause, not the last.
 */
struct tu_verdict {
	uint32_t abort;
	char why[160]; /* shmrt_last_error() of the first failing child */
};

/* Whether some child has failed (children poll it in their loops). */
bool tu_aborted(const struct tu_verdict *v);

/*
 * End a child with exit code `rc`. A failure (neither `ok` nor `aborted`,
 * the code of a child that stopped because another failed) is recorded
 * in *v first, if it is the first.
 */
__attribute__((noreturn)) void tu_child_exit(struct tu_verdict *v, int rc,
					     int ok, int aborted);

/*
 * Release a job this caller just completed: 0 once its slot is free,
 * whether by this release or because a producer already evicted it for
 * new work (SHMRT_E_EXPIRED: finished jobs give up their slots when the
 * queue is full, evict.h). Any other result is returned as is.
 */
int tu_release_finished(struct shmrt__seg *seg, shmrt_job_id id);

/* Wait for `pid` until `timeout_ms`; on timeout SIGKILL it and return -1.
 * Otherwise returns its exit status (128 + signal if killed by one). */
int tu_wait_child(pid_t pid, int timeout_ms);

/*
 * Wait until `pid` is stopped (a pause point raised SIGSTOP, or the test
 * sent one), `timeout_ms` at most. Returns 0 when it is stopped, -1 on
 * timeout (it is then SIGKILLed) or when it ended instead.
 */
int tu_wait_stopped(pid_t pid, int timeout_ms);

/*
 * Start the built `shmrt` command (SHMRT_CLI_BIN) with argv (argv[0]
 * included, NULL-terminated), its stdout and stderr into the files
 * out_path and err_path. The parent asserts that it started.
 */
pid_t tu_spawn_cli(const char *out_path, const char *err_path, char **argv);

/* The first cap - 1 bytes of file `path` into buf, NUL-terminated ("" if
 * it cannot be read). */
void tu_slurp(const char *path, char *buf, size_t cap);

/* Memory shared with forked children (MAP_SHARED|MAP_ANONYMOUS), zeroed. */
void *tu_shared_alloc(size_t size);
void tu_shared_free(void *p, size_t size);

/*
 * Wait until *word (shared with children) is `value`, `timeout_ms` at
 * most; returns whether it got there. For parents and children alike.
 */
bool tu_wait_value(const uint32_t *word, uint32_t value, int timeout_ms);

/* xorshift64*: a test's random numbers, reproducible from its seed. */
uint64_t tu_rnd(uint64_t *state);

/* The seed of a randomized test: $SHMRT_TEST_SEED if set (to replay a
 * run), else one from the clock and the pid. The test prints it. */
uint64_t tu_pick_seed(void);

/* now + ms, on CLOCK_MONOTONIC, in nanoseconds (for deadline arguments). */
uint64_t tu_deadline_ms(uint64_t ms);

/*
 * A configuration for a fresh tenant (tu_tenant): writes
 * "[runtime]\n<runtime>[tenant NAME]\n<queues>" to /tmp/NAME.ini, its
 * path into path[0..cap). Asserts that it was written; returns NAME
 * (tu_tenant's static storage).
 */
const char *tu_write_conf(char *path, size_t cap, const char *runtime,
			  const char *queues);

/* A handler's body that copies the payload into the result (cut to fit). */
void tu_copy_payload(struct shmrt_job_run *run);

#endif /* SHMRT_TESTUTIL_H */
