/*
 * src/shm/error_detail.h - recording why a call failed.
 */
#ifndef SHMRT_ERROR_DETAIL_H
#define SHMRT_ERROR_DETAIL_H

/*
 * Record a sentence for shmrt_last_error() and return `err`, so failure
 * paths read `return shmrt__fail(SHMRT_E_TRUNC, "...", ...);`. An
 * argument may be shmrt_last_error() itself, to wrap the cause of a
 * failure in a sentence about the caller's operation.
 */
int shmrt__fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Empty the calling thread's detail, so a caller can tell after a call
 * whether the layers below said why it failed (shmrt_last_error() is
 * valid only until the thread's next shmrt call anyway).
 */
void shmrt__fail_clear(void);

#endif /* SHMRT_ERROR_DETAIL_H */
