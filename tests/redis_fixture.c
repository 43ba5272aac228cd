/*
 * tests/redis_fixture.c - a private redis-server per test.
 */
#define _GNU_SOURCE
#include "redis_fixture.h"

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
