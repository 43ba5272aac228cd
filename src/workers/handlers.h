/*
 * src/workers/handlers.h - the handlers that ship with shmrt.
 *
 * Example handlers modelled on a chat service (chat, upload, exam,
 * profile) and built-ins for demos and tests (builtin.echo, builtin.fail,
 * builtin.sleep). A handler reads the payload and writes its result (or,
 * on failure, its error text) into `out`.
 */
#ifndef SHMRT_HANDLERS_H
#define SHMRT_HANDLERS_H

#include <stddef.h>

/*
 * Run one job. `out` holds `cap` bytes (the queue's slot size); set
 * *out_len. Return 0 on success, or -1 with the error text in `out`.
 * Handlers are reentrant: called from many workers at once.
 */
typedef int (*shmrt__handler_fn)(const void *payload, size_t len, char *out,
				 size_t cap, size_t *out_len);

/* The handler named `name` ("chat", "builtin.echo", ...), or NULL. */
shmrt__handler_fn shmrt__handler_find(const char *name);

#endif /* SHMRT_HANDLERS_H */
