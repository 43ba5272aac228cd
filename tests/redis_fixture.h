/*
 * tests/redis_fixture.h - a private redis-server for the redis backend's
 * tests.
 *
 * Each fixture runs its own redis-server on 127.0.0.1 at a free port, in
 * its own temporary directory, as a child of the test (it dies with the
 * test: PR_SET_PDEATHSIG). It is stopped by pid: SIGTERM, then SIGKILL
 * when it has not exited within its deadline. Every wait has a deadline.
 */
#ifndef SHMRT_REDIS_FIXTURE_H
#define SHMRT_REDIS_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tu_redis {
	pid_t pid;   /* 0 when not running */
	int port;
	bool aof;    /* appendonly yes, appendfsync always */
	char dir[64];
	char addr[32]; /* "127.0.0.1:PORT" */
};

/* Start a server (aof: appendonly yes + appendfsync always) and wait
 * until it answers PING. Returns 0, or -1 with a line on stderr. */
int tu_redis_start(struct tu_redis *r, bool aof);

/* Start it again on the same port and directory (after a stop or kill). */
int tu_redis_restart(struct tu_redis *r);

/* SIGTERM, wait up to 5 s, then SIGKILL. Keeps the directory. */
void tu_redis_stop(struct tu_redis *r);

/* SIGKILL now and reap. */
void tu_redis_kill9(struct tu_redis *r);

/* Stop it and remove its directory. */
void tu_redis_destroy(struct tu_redis *r);

/*
 * Write a configuration for `tenant` on this server into path: [runtime]
 * backend = redis, then `runtime` (more [runtime] lines, may be ""),
 * then the tenant and `queues` (the [queue] sections).
 */
void tu_redis_conf(const struct tu_redis *r, const char *path,
		   const char *tenant, const char *runtime,
		   const char *queues);

/* One command's integer or string reply as a number (-1: none). */
long long tu_redis_num(const struct tu_redis *r, const char *command);

/*
 * Start `shmrt worker -c conf -t tenant -q queue --handlers probe_so
 * --parent <this pid>` with stdout and stderr into log_path. With
 * second_host, in its own mount namespace on a private tmpfs /dev/shm
 * (unshare -m), so that nothing can reach it through shared memory: a
 * worker on another host, as far as shmrt can tell. Returns the pid.
 */
pid_t tu_redis_worker(const char *conf, const char *tenant,
		      const char *queue, const char *probe_so,
		      const char *log_path, bool second_host);

/* One line of a probe file (tests/redis/probe_handlers.c). */
struct tu_probe {
	char kind; /* 'S' start, 'E' end */
	unsigned long long ns, id, token;
	int pid;
	unsigned attempt;
	char lane[72], tag[32];
};

/* Read up to max lines of the probe file; returns how many. */
size_t tu_probe_read(const char *path, struct tu_probe *out, size_t max);

#endif /* SHMRT_REDIS_FIXTURE_H */
