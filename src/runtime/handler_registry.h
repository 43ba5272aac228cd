/*
 * src/runtime/handler_registry.h - job kind -> handler function + context.
 *
 * Per process. The public side is shmrt_handler_register/unregister
 * (shmrt/runtime.h); the workers layer registers the built-in and example
 * handlers there, embedders their own. It sits in the runtime, below the
 * workers, because the inline backend's test mode runs handlers in the
 * caller. Lookups are lock-free (an RCU hash table, memb flavor);
 * registrations take a mutex and wait a grace period before freeing a
 * replaced entry.
 */
#ifndef SHMRT_HANDLER_REGISTRY_H
#define SHMRT_HANDLER_REGISTRY_H

#include <shmrt/runtime.h>

/*
 * The handler registered for `kind`: 0 with *fn and *ctx set, or
 * SHMRT_E_NOHANDLER (with a detail naming the kind) when there is none.
 * Thread-safe, lock-free.
 */
int shmrt__registry_find(const char *kind, shmrt_handler_fn *fn, void **ctx);

/* Remove every registration (tests). Thread-safe. */
void shmrt__registry_reset(void);

#endif /* SHMRT_HANDLER_REGISTRY_H */
