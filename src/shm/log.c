/*
 * src/shm/log.c - the log handler and the default one (stderr).
 *
 * The handler and its ctx are published together as one immutable node,
 * swapped in with one atomic store, so a reader never sees the new
 * handler with the old ctx, takes no lock (a fork() can never leave the
 * child a held log lock), and a node is never freed while a reader may
 * hold it: nodes stay on a list, reachable, until exit. Setting a pair
 * that was set before reuses its node, so switching between a few
 * handlers does not grow the list.
 */
#include "log.h"

#include "error_detail.h"

#include <shmrt/error.h>
#include <shmrt/runtime.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct log_sink {
	shmrt_log_fn fn;
	void *ctx;
	struct log_sink *older; /* every node ever set; never freed */
};

static struct log_sink *log_current; /* NULL: the default */
static struct log_sink *log_all;

/* Nested messages (from inside the handler) go to the default. */
static _Thread_local int log_depth;

static void log_default(void *ctx, int level, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "shmrt: %s%s\n",
		level == SHMRT_LOG_ERROR ? "error: " : "", msg);
}

/* The node for (fn, ctx): one set earlier, or a new one on the list. */
static struct log_sink *log_sink_for(shmrt_log_fn fn, void *ctx)
{
	struct log_sink *s = __atomic_load_n(&log_all, __ATOMIC_ACQUIRE);

	for (; s != NULL; s = s->older)
		if (s->fn == fn && s->ctx == ctx)
			return s;
	if ((s = malloc(sizeof(*s))) == NULL)
		return NULL;
	s->fn = fn;
	s->ctx = ctx;
	s->older = __atomic_load_n(&log_all, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(&log_all, &s->older, s, false,
					    __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
	return s;
}

int shmrt_log_set(shmrt_log_fn fn, void *ctx)
{
	struct log_sink *s = NULL;

	if (fn != NULL && (s = log_sink_for(fn, ctx)) == NULL)
		return SHMRT_E_NOMEM;
	__atomic_store_n(&log_current, s, __ATOMIC_RELEASE);
	return 0;
}

void shmrt__log(int level, const char *fmt, ...)
{
	const struct log_sink *s =
	    __atomic_load_n(&log_current, __ATOMIC_ACQUIRE);
	char msg[1024], saved[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s == NULL || log_depth > 0) {
		log_default(NULL, level, msg);
		return;
	}
	snprintf(saved, sizeof(saved), "%s", shmrt_last_error());
	log_depth++;
	s->fn(s->ctx, level, msg);
	log_depth--;
	shmrt__fail(0, "%s", saved);
}
