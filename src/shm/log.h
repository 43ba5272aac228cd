/*
 * src/shm/log.h - the library's messages, through the embedder's log
 * handler (shmrt_log_set in shmrt/runtime.h; default: stderr).
 *
 * Every message the library prints goes through shmrt__log: nothing in
 * libshmrt writes to stderr itself.
 */
#ifndef SHMRT_LOG_H
#define SHMRT_LOG_H

/*
 * Format a message (no trailing newline) and hand it to the log handler
 * at `level` (enum shmrt_log_level), in the calling thread. Call it with
 * no shmrt lock held: the handler may call back into shmrt. Keeps the
 * thread's shmrt_last_error() as it was. Messages longer than 1 KB are
 * cut.
 */
void shmrt__log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* SHMRT_LOG_H */
