/*
 * src/runtime/queue_backend_redis.h - the multi-host backend on Redis.
 *
 * One tenant's queues and jobs live in a Redis 7 (or Valkey) server under
 * keys "shmrt:{TENANT}:..."; every multi-key step is one function of the
 * library in queue_backend_redis.lua (FUNCTION LOAD / FCALL). Workers hold
 * jobs under leases they extend by heartbeat; the reaper (the scan op,
 * which any host may run) takes back expired leases. Every completion,
 * failure, permit release and lane advance is fenced by the lease's
 * token. Timestamps in job status are the Redis server's clock
 * (CLOCK_REALTIME of its host, in ns), not this host's CLOCK_MONOTONIC.
 *
 * Connection loss is ordinary: a call that cannot reach the server drops
 * its connection, and the next call connects again; workers retry with
 * backoff (10 ms doubling to 500 ms) until their deadline.
 */
#ifndef SHMRT_QUEUE_BACKEND_REDIS_H
#define SHMRT_QUEUE_BACKEND_REDIS_H

#include "runtime/queue_backend.h"

/*
 * Open tenant `tenant` (an index in conf) on the server conf->redis.
 * create: load the function library (FUNCTION LOAD REPLACE) and mark the
 * tenant ready - the runner's start; jobs already stored are kept and go
 * on. Else attach: the library must be loaded already (a runner started
 * the tenant). `mode` and `sync` are what the factory selected.
 * Errors, each naming the server and the cause: SHMRT_E_BACKEND (cannot
 * connect, authentication refused, the function library missing or of
 * another version), SHMRT_E_CONF (the password variable is not set),
 * SHMRT_E_NOMEM. Pair with the ops' close (through the factory).
 */
int shmrt__backend_redis_open(const struct shmrt_conf *conf, uint32_t tenant,
			      bool create, int mode, bool sync,
			      struct shmrt__backend **out);

/* The function library's source (generated from the .lua at build). */
extern const char shmrt__redis_lua[];
extern const unsigned long shmrt__redis_lua_len;

#endif /* SHMRT_QUEUE_BACKEND_REDIS_H */
