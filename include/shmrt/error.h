/*
 * shmrt/error.h - the one error scheme.
 *
 * Every shmrt function that can fail returns 0 (or a non-negative count) on
 * success and a negative SHMRT_E* code on failure. The codes, their names and
 * their messages come from the single table SHMRT_ERRNO_MAP below.
 */
#ifndef SHMRT_ERROR_H
#define SHMRT_ERROR_H

#include <shmrt/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * XX(NAME, value, "message"). Every value is written out and is part of
 * the ABI: a new code takes the next unused value (at the end), a code is
 * never renumbered or reused, so inserting a line never renumbers others.
 */
#define SHMRT_ERRNO_MAP(XX)                                                    \
	XX(INVAL, -1, "invalid argument")                                      \
	XX(NOMEM, -2, "out of memory")                                         \
	XX(NAME, -3, "invalid tenant name (use 1-48 of [A-Za-z0-9._-])")       \
	XX(EXIST, -4, "segment already exists")                                \
	XX(NOENT, -5, "no such tenant (no segment, or not started or attached)") \
	XX(OWNER, -6, "segment is owned by another uid")                       \
	XX(NOTREG, -7, "segment is not a regular file or has a bad mode")      \
	XX(MAGIC, -8, "segment has a wrong magic number (not a shmrt segment)") \
	XX(ABI, -9, "segment was created by an incompatible shmrt ABI version") \
	XX(LAYOUT, -10, "segment layout hash does not match its geometry")     \
	XX(TRUNC, -11, "segment file is smaller than its layout needs (truncated)") \
	XX(HDRSIZE, -12, "segment header size or total size field mismatch")   \
	XX(NOTREADY, -13, "segment is not initialized (creator still busy or died)") \
	XX(NOSPC, -14, "no space left for the segment in /dev/shm")            \
	XX(FULL, -15, "queue is full")                                         \
	XX(TOOBIG, -16, "payload or result larger than the queue's slot size") \
	XX(NOJOB, -17, "no such job (an id the tenant never gave out)")        \
	XX(TIMEDOUT, -18, "timed out")                                         \
	XX(AGAIN, -19, "nothing available now")                                \
	XX(STALE, -20, "lease lost: the job was reclaimed from this worker")   \
	XX(STATE, -21, "job is not in a state that allows this operation")     \
	XX(NOPART, -22, "participant table is full")                           \
	XX(DRAINING, -23, "tenant is draining or stopped: new work is refused") \
	XX(BUSY, -24, "another process is repairing the segment")              \
	XX(SYS, -25, "system call failed (see errno)")                         \
	XX(CORRUPT, -26, "segment data is out of bounds (corrupted segment)")  \
	XX(NOQUEUE, -27, "no such queue")                                      \
	XX(CONF, -28, "invalid configuration")                                 \
	XX(LANES, -29, "lane table is full (raise the queue's lanes)")         \
	XX(KEYS, -30, "idempotency table is full (raise idempotency_keys)")    \
	XX(KEYLEN, -31, "lane or idempotency key empty or longer than 64 bytes") \
	XX(NOLANE, -32, "queue is not laned, or a laned queue needs a lane key") \
	XX(NOSEM, -33, "no such semaphore")                                    \
	XX(NOHANDLER, -34, "no handler registered for the job's kind")         \
	XX(EXPIRED, -35, "job finished and its result is no longer kept")             \
	XX(BACKEND, -36, "the queue engine (redis) is unreachable or refused")

/* SHMRT_E_<NAME> is the negative code written in the table. */
enum shmrt_errno {
	SHMRT_OK = 0,
#define SHMRT__EC(name, value, msg) SHMRT_E_##name = (value),
	SHMRT_ERRNO_MAP(SHMRT__EC)
#undef SHMRT__EC
};

/*
 * The message for an error code ("unknown error" for a code outside the
 * table; "success" for 0). Never NULL; the string is static. Thread-safe.
 */
SHMRT_API const char *shmrt_strerror(int err);

/*
 * The symbolic name of an error code, e.g. "SHMRT_E_FULL". Never NULL;
 * static storage. Thread-safe.
 */
SHMRT_API const char *shmrt_err_name(int err);

/*
 * A sentence about the calling thread's most recent failure that names
 * what was wrong (the segment and field, the file and line, the system
 * call and errno), e.g. "attach /shmrt.acme: abi_version is 7, expected 1".
 * Empty when the thread has seen no failure. Thread-local, valid until the
 * thread's next shmrt call.
 */
SHMRT_API const char *shmrt_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* SHMRT_ERROR_H */
