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

#include <shmrt/job.h>
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

/* ----------------------------------------------- a tenant of a test */

#define TU_RT_WORKERS 8
#define TU_RT_WAIT_MS 30000

/* The server the test program shares (tu_redis_group_setup). */
extern struct tu_redis tu_srv;

/* cmocka group setup and teardown: SHMRT_MODE unset (the workers are
 * processes; this process is the runner, not test mode) and tu_srv
 * started without (setup) or with (setup_aof) appendonly. */
int tu_redis_group_setup(void **state);
int tu_redis_group_setup_aof(void **state);
int tu_redis_group_teardown(void **state);

/* One test's tenant on tu_srv: its conf, probe file, log and workers. */
struct tu_rt {
	const char *name;
	char conf[128], probe[128], log[128];
	pid_t worker[TU_RT_WORKERS];
	int nworkers; /* a worker the test reaped itself has pid 0 */
};

/* Write the conf (tu_redis_conf), point SHMRT_PROBE_FILE at the tenant's
 * probe file and start the tenant here; fails the test on error. */
void tu_rt_open(struct tu_rt *t, const char *runtime, const char *queues);

/* A worker process on queue (tu_redis_worker with the probe library). */
pid_t tu_rt_worker(struct tu_rt *t, const char *queue, bool second_host);

/* Stop the tenant: every worker must drain and exit 0, and the stop
 * succeed (else the test fails, with the workers' log). */
void tu_rt_close(struct tu_rt *t);

/* Enqueue payload (lane: NULL or a lane key); fails the test on error. */
shmrt_job_id tu_rt_put(const struct tu_rt *t, const char *queue,
		       const char *payload, const char *lane);

/* Wait (TU_RT_WAIT_MS) until the job ends in `state`; its result goes
 * to buf, NUL-terminated. */
void tu_rt_wait(const struct tu_rt *t, shmrt_job_id id, int state,
		struct shmrt_job_info *info, char *buf, size_t cap);

#endif /* SHMRT_REDIS_FIXTURE_H */
