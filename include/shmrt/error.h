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

/* XX(NAME, "message"): codes are numbered -1, -2, ... in table order. */
#define SHMRT_ERRNO_MAP(XX)                                                    \
	XX(INVAL, "invalid argument")                                          \
	XX(NOMEM, "out of memory")                                             \
	XX(NAME, "invalid tenant name (use 1-48 of [A-Za-z0-9._-])")           \
	XX(EXIST, "segment already exists")                                    \
	XX(NOENT, "no such tenant (no segment, or not started or attached)")  \
	XX(OWNER, "segment is owned by another uid")                           \
	XX(NOTREG, "segment is not a regular file or has a bad mode")          \
	XX(MAGIC, "segment has a wrong magic number (not a shmrt segment)")    \
	XX(ABI, "segment was created by an incompatible shmrt ABI version")    \
	XX(LAYOUT, "segment layout hash does not match its geometry")          \
	XX(TRUNC, "segment file is smaller than its layout needs (truncated)") \
	XX(HDRSIZE, "segment header size or total size field mismatch")       \
	XX(NOTREADY, "segment is not initialized (creator still busy or died)") \
	XX(NOSPC, "no space left for the segment in /dev/shm")                 \
	XX(FULL, "queue is full")                                              \
	XX(TOOBIG, "payload or result larger than the queue's slot size")      \
	XX(NOJOB, "no such job (unknown, expired or reused id)")               \
	XX(TIMEDOUT, "timed out")                                              \
	XX(AGAIN, "nothing available now")                                     \
	XX(STALE, "lease lost: the job was reclaimed from this worker")        \
	XX(STATE, "job is not in a state that allows this operation")         \
	XX(NOPART, "participant table is full")                                \
	XX(DRAINING, "tenant is draining or stopped: new work is refused")     \
	XX(BUSY, "another process is repairing the segment")                   \
	XX(SYS, "system call failed (see errno)")                              \
	XX(CORRUPT, "segment data is out of bounds (corrupted segment)")       \
	XX(NOQUEUE, "no such queue")                                           \
	XX(CONF, "invalid configuration")                                      \
	XX(LANES, "lane table is full (raise the queue's lanes)")             \
	XX(KEYS, "idempotency table is full (raise idempotency_keys)")        \
	XX(KEYLEN, "lane or idempotency key empty or longer than 64 bytes")   \
	XX(NOLANE, "queue is not laned, or a laned queue needs a lane key")   \
	XX(NOSEM, "no such semaphore")                                         \
	XX(NOHANDLER, "no handler registered for the job's kind")            \
	XX(BACKEND, "the queue engine (redis) is unreachable or refused")

/* Positions in the table (1-based); internal. */
enum shmrt__errno_index {
	SHMRT__EI_NONE = 0,
#define SHMRT__EI(name, msg) SHMRT__EI_##name,
	SHMRT_ERRNO_MAP(SHMRT__EI)
#undef SHMRT__EI
	SHMRT__EI_COUNT
};

/* SHMRT_E_<NAME> is the negative code: -(position in the table). */
enum shmrt_errno {
	SHMRT_OK = 0,
#define SHMRT__EC(name, msg) SHMRT_E_##name = -(int)SHMRT__EI_##name,
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
