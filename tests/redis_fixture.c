/*
 * tests/redis_fixture.c - a private redis-server per test.
 */
#define _GNU_SOURCE
#include "redis_fixture.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmrt/error.h>
#include <shmrt/runtime.h>

#include "testutil.h"

#define START_MS 10000
#define STOP_MS 5000

/* A port the kernel just gave out: bind to 0, read it, close. */
static int free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static bool pings(const struct tu_redis *r)
{
	struct timeval tv = { 0, 200000 };
	redisContext *cx = redisConnectWithTimeout("127.0.0.1", r->port, tv);
	redisReply *rep = NULL;
	bool ok = false;

	if (cx != NULL && cx->err == 0) {
		redisSetTimeout(cx, tv);
		rep = redisCommand(cx, "PING");
		ok = rep != NULL && rep->type == REDIS_REPLY_STATUS;
	}
	if (rep != NULL)
		freeReplyObject(rep);
	if (cx != NULL)
		redisFree(cx);
	return ok;
}

static void exec_server(const struct tu_redis *r)
{
	char port[16], log[128];

	snprintf(port, sizeof(port), "%d", r->port);
	snprintf(log, sizeof(log), "%s/redis.log", r->dir);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	execlp("redis-server", "redis-server", "--port", port, "--bind",
	       "127.0.0.1", "--dir", r->dir, "--save", "", "--appendonly",
	       r->aof ? "yes" : "no", "--appendfsync", "always",
	       "--daemonize", "no", "--logfile", log, "--protected-mode",
	       "yes", (char *)NULL);
	_exit(127);
}

static int spawn(struct tu_redis *r)
{
	uint64_t deadline = tu_deadline_ms(START_MS);
	pid_t pid;

	fflush(NULL);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0)
		exec_server(r);
	r->pid = pid;
	while (!pings(r)) {
		if (tu_deadline_ms(0) >= deadline || waitpid(pid, NULL,
							      WNOHANG) != 0) {
			fprintf(stderr, "redis fixture: redis-server on port "
				"%d did not answer (see %s/redis.log)\n",
				r->port, r->dir);
			tu_redis_kill9(r);
			return -1;
		}
		usleep(20000);
	}
	return 0;
}

int tu_redis_start(struct tu_redis *r, bool aof)
{
	int tries;

	memset(r, 0, sizeof(*r));
	r->aof = aof;
	snprintf(r->dir, sizeof(r->dir), "/tmp/shmrt-redis-XXXXXX");
	if (mkdtemp(r->dir) == NULL)
		return -1;
	/* Another process may take the port between free_port and bind. */
	for (tries = 0; tries < 3; tries++) {
		r->port = free_port();
		snprintf(r->addr, sizeof(r->addr), "127.0.0.1:%d", r->port);
		if (r->port > 0 && spawn(r) == 0)
			return 0;
	}
	return -1;
}

int tu_redis_restart(struct tu_redis *r)
{
	return r->pid != 0 ? 0 : spawn(r);
}

void tu_redis_stop(struct tu_redis *r)
{
	if (r->pid == 0)
		return;
	kill(r->pid, SIGCONT);
	kill(r->pid, SIGTERM);
	(void)tu_wait_child(r->pid, STOP_MS); /* SIGKILLs on timeout */
	r->pid = 0;
}

void tu_redis_kill9(struct tu_redis *r)
{
	if (r->pid == 0)
		return;
	kill(r->pid, SIGKILL);
	(void)tu_wait_child(r->pid, STOP_MS);
	r->pid = 0;
}

static void remove_dir(const char *dir)
{
	char path[512];
	struct dirent *e;
	DIR *d = opendir(dir);

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (e->d_type == DT_DIR)
			remove_dir(path);
		else
			unlink(path);
	}
	if (d != NULL)
		closedir(d);
	rmdir(dir);
}

void tu_redis_destroy(struct tu_redis *r)
{
	tu_redis_stop(r);
	if (r->dir[0] != '\0')
		remove_dir(r->dir);
	r->dir[0] = '\0';
}

void tu_redis_conf(const struct tu_redis *r, const char *path,
		   const char *tenant, const char *runtime, const char *queues)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return;
	fprintf(f, "[runtime]\nbackend = redis\nredis = %s\n%s\n"
		"[tenant %s]\n%s", r->addr, runtime, tenant, queues);
	fclose(f);
}

long long tu_redis_num(const struct tu_redis *r, const char *command)
{
	struct timeval tv = { 2, 0 };
	redisContext *cx = redisConnectWithTimeout("127.0.0.1", r->port, tv);
	redisReply *rep = NULL;
	long long v = -1;

	if (cx != NULL && cx->err == 0)
		rep = redisCommand(cx, command);
	if (rep != NULL && rep->type == REDIS_REPLY_INTEGER)
		v = rep->integer;
	else if (rep != NULL && rep->type == REDIS_REPLY_STRING)
		v = strtoll(rep->str, NULL, 10);
	if (rep != NULL)
		freeReplyObject(rep);
	if (cx != NULL)
		redisFree(cx);
	return v;
}

pid_t tu_redis_worker(const char *conf, const char *tenant,
		      const char *queue, const char *probe_so,
		      const char *log_path, bool second_host)
{
	static const char private_shm[] =
	    "mount -t tmpfs -o size=1m shmrt-host2 /dev/shm && exec \"$0\" "
	    "\"$@\"";
	extern char **environ;
	posix_spawn_file_actions_t fa;
	char parent[16];
	const char *argv[24];
	int n = 0;
	pid_t pid = -1;

	snprintf(parent, sizeof(parent), "%d", (int)getpid());
	if (second_host) {
		argv[n++] = "unshare";
		argv[n++] = "-m";
		argv[n++] = "--propagation";
		argv[n++] = "private";
		argv[n++] = "sh";
		argv[n++] = "-c";
		argv[n++] = private_shm;
	}
	argv[n++] = SHMRT_CLI_BIN;
	argv[n++] = "worker";
	argv[n++] = "-c";
	argv[n++] = conf;
	argv[n++] = "-t";
	argv[n++] = tenant;
	argv[n++] = "-q";
	argv[n++] = queue;
	argv[n++] = "--handlers";
	argv[n++] = probe_so;
	argv[n++] = "--parent";
	argv[n++] = parent;
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, log_path,
					 O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, (char **)argv, environ) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

size_t tu_probe_read(const char *path, struct tu_probe *out, size_t max)
{
	FILE *f = fopen(path, "r");
	char line[256];
	size_t n = 0;

	while (f != NULL && n < max && fgets(line, sizeof(line), f) != NULL) {
		struct tu_probe *p = &out[n];

		if (sscanf(line, "%c %llu %d %llu %u %llu %71s %31s", &p->kind,
			   &p->ns, &p->pid, &p->id, &p->attempt, &p->token,
			   p->lane, p->tag) == 8)
			n++;
	}
	if (f != NULL)
		fclose(f);
	return n;
}

/* ------------------------------------------------- a tenant of a test */

struct tu_redis tu_srv;

static int group_setup(bool aof)
{
	unsetenv("SHMRT_MODE");
	return tu_redis_start(&tu_srv, aof);
}

int tu_redis_group_setup(void **state)
{
	(void)state;
	return group_setup(false);
}

int tu_redis_group_setup_aof(void **state)
{
	(void)state;
	return group_setup(true);
}

int tu_redis_group_teardown(void **state)
{
	(void)state;
	tu_redis_destroy(&tu_srv);
	return 0;
}

void tu_rt_open(struct tu_rt *t, const char *runtime, const char *queues)
{
	memset(t, 0, sizeof(*t));
	t->name = tu_tenant();
	snprintf(t->conf, sizeof(t->conf), "%s/%s.ini", tu_srv.dir, t->name);
	snprintf(t->probe, sizeof(t->probe), "%s/%s.probe", tu_srv.dir,
		 t->name);
	snprintf(t->log, sizeof(t->log), "%s/%s.log", tu_srv.dir, t->name);
	setenv("SHMRT_PROBE_FILE", t->probe, 1);
	tu_redis_conf(&tu_srv, t->conf, t->name, runtime, queues);
	if (shmrt_tenant_start(t->conf, t->name) != 0)
		fail_msg("start: %s", shmrt_last_error());
}

pid_t tu_rt_worker(struct tu_rt *t, const char *queue, bool second_host)
{
	pid_t pid = tu_redis_worker(t->conf, t->name, queue, SHMRT_PROBE_SO,
				    t->log, second_host);

	assert_true(pid > 0);
	assert_true(t->nworkers < TU_RT_WORKERS);
	t->worker[t->nworkers++] = pid;
	return pid;
}

void tu_rt_close(struct tu_rt *t)
{
	char log[4096];
	int i, rc = shmrt_tenant_stop(t->name);

	for (i = 0; i < t->nworkers; i++)
		if (t->worker[i] > 0 &&
		    tu_wait_child(t->worker[i], TU_RT_WAIT_MS) != 0) {
			tu_slurp(t->log, log, sizeof(log));
			fail_msg("worker %d did not drain: %s",
				 (int)t->worker[i], log);
		}
	if (rc != 0)
		fail_msg("stop: %s", shmrt_last_error());
}

shmrt_job_id tu_rt_put(const struct tu_rt *t, const char *queue,
		       const char *payload, const char *lane)
{
	struct shmrt_enqueue_opts o = { 0 };
	shmrt_job_id id;

	o.lane = lane;
	if (shmrt_enqueue(t->name, queue, payload, strlen(payload), &o, &id) !=
	    0)
		fail_msg("enqueue: %s", shmrt_last_error());
	return id;
}

void tu_rt_wait(const struct tu_rt *t, shmrt_job_id id, int state,
		struct shmrt_job_info *info, char *buf, size_t cap)
{
	int rc = shmrt_job_wait(t->name, id, TU_RT_WAIT_MS, info, buf,
				cap - 1);

	if (rc != 0)
		fail_msg("wait %llu: %s: %s", (unsigned long long)id.v,
			 shmrt_err_name(rc), shmrt_last_error());
	assert_int_equal(info->state, state);
	buf[info->result_len < cap - 1 ? info->result_len : cap - 1] = '\0';
}
