/*
 * bench/runner.c - start and stop a tenant with `shmrt run`, and attach
 * to it through the public API.
 */
#define _GNU_SOURCE
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <shmrt/shmrt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "procfs.h"
#include "shm/os.h"

#define START_MS   20000 /* segment, attach, workers up and asleep */
#define STOP_MS	   20000 /* drain (5 s by default) and stop */
#define SETTLE_N   3	 /* consecutive all-asleep checks that count */
#define POLL_NS	   10000000ull

/* `__child exec LOG PATH ARGS...`: run PATH with stdout and stderr in
 * the log at BENCH_CHILD_FD, dying with the benchmark. */
int bench_exec_child(int argc, char **argv)
{
	if (argc < 1)
		return BENCH_EX_USAGE;
	if (dup2(BENCH_CHILD_FD, 1) < 0 || dup2(BENCH_CHILD_FD, 2) < 0)
		return BENCH_EX_SETUP;
	close(BENCH_CHILD_FD);
	unsetenv("SHMRT_MODE");
	alarm(0); /* the death signal is the net; no timer in the tenant */
	execv(argv[0], argv);
	return BENCH_EX_SETUP;
}

static int write_conf(struct brun *r, const char *conf_text)
{
	FILE *f = fopen(r->conf, "we");
	int rc;

	if (f == NULL)
		return -1;
	fprintf(f, "%s\n[tenant %s]\n", conf_text, r->tenant);
	rc = ferror(f);
	return fclose(f) == 0 && rc == 0 ? 0 : -1;
}

static int make_dir(struct brun *r)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(r->dir, sizeof(r->dir), "%s/shmrt-bench-XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(r->dir) == NULL) {
		r->dir[0] = '\0';
		return -1;
	}
	snprintf(r->conf, sizeof(r->conf), "%s/shmrt.ini", r->dir);
	snprintf(r->log, sizeof(r->log), "%s/run.log", r->dir);
	return 0;
}

static int spawn_runner(struct brun *r, const char *exe)
{
	const char *args[] = { exe, "run", "-c", r->conf, "-t", r->tenant,
			       NULL };
	int fd = open(r->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc;

	if (fd < 0)
		return -1;
	rc = bench_spawn(&r->runner, "exec", &fd, 1, args);
	close(fd);
	return rc;
}

/* The first line of the runner's log that says what went wrong. */
static void log_why(struct brun *r, const char *what)
{
	char line[160] = "";
	FILE *f = fopen(r->log, "re");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "error") != NULL || strstr(line, ": ") != NULL)
			break;
	if (f != NULL)
		fclose(f);
	line[strcspn(line, "\n")] = '\0';
	snprintf(r->why, sizeof(r->why), "%s%s%.150s", what,
		 line[0] ? ": " : "", line);
}

/* Attach as soon as the runner has made the segment. */
static int attach(struct brun *r, uint64_t deadline)
{
	while (bench_now_ns() < deadline) {
		if (shmrt_tenant_attach(r->conf, r->tenant) == 0) {
			r->attached = 1;
			return 0;
		}
		if (bench_child_poll(&r->runner) >= 0)
			return -1; /* it exited: its log says why */
		shmrt__os_sleep_ns(POLL_NS);
	}
	return -1;
}

static int all_asleep(const struct brun *r)
{
	int i;

	for (i = 0; i < r->nworkers; i++)
		if (!bench_proc_all_asleep(r->workers[i]))
			return 0;
	return 1;
}

/*
 * Wait for exactly `n` children, then (asleep) for SETTLE_N consecutive
 * checks that find them all asleep.
 */
static int workers_up(struct brun *r, int n, int asleep, uint64_t deadline)
{
	int settled = 0;

	while (bench_now_ns() < deadline) {
		r->nworkers = bench_proc_children(r->runner.pid, r->workers,
						  BRUN_MAX_WORKERS);
		if (r->nworkers == n && (!asleep || all_asleep(r))) {
			if (++settled == SETTLE_N)
				return 0;
		} else {
			settled = 0;
		}
		shmrt__os_sleep_ns(POLL_NS);
	}
	return -1;
}

int brun_start(struct brun *r, const char *shmrt_exe, const char *conf_text,
	       int nworkers, unsigned flags)
{
	uint64_t deadline = bench_deadline_ms(START_MS);

	memset(r, 0, sizeof(*r));
	unsetenv("SHMRT_MODE");
	bench_tenant_new(r->tenant);
	if (nworkers > BRUN_MAX_WORKERS || make_dir(r) != 0 ||
	    write_conf(r, conf_text) != 0) {
		snprintf(r->why, sizeof(r->why), "cannot write a conf: %s",
			 strerror(errno));
		brun_stop(r);
		return -1;
	}
	if (access(shmrt_exe, X_OK) != 0 || spawn_runner(r, shmrt_exe) != 0) {
		snprintf(r->why, sizeof(r->why), "cannot start %s", shmrt_exe);
		brun_stop(r);
		return -1;
	}
	if (attach(r, deadline) != 0) {
		log_why(r, "shmrt run did not start the tenant");
		brun_stop(r);
		return -1;
	}
	if (workers_up(r, nworkers, flags & BRUN_ASLEEP, deadline) != 0) {
		snprintf(r->why, sizeof(r->why),
			 r->nworkers == nworkers
				 ? "%d of %d worker processes up, but not all "
				   "asleep after %d ms"
				 : "%d of %d worker processes up after %d ms",
			 r->nworkers, nworkers, START_MS);
		brun_stop(r);
		return -1;
	}
	return 0;
}

int brun_workers_asleep(const struct brun *r, int ms)
{
	uint64_t deadline = bench_deadline_ms((uint64_t)ms);

	do {
		if (all_asleep(r))
			return 1;
		shmrt__os_sleep_ns(20000);
	} while (bench_now_ns() < deadline);
	return 0;
}

int brun_stop(struct brun *r)
{
	int rc = 0;

	if (r->attached)
		shmrt_tenant_detach(r->tenant);
	r->attached = 0;
	if (r->runner.pid > 0) {
		kill(r->runner.pid, SIGTERM);
		rc = bench_child_wait(&r->runner, STOP_MS);
	}
	if (r->tenant[0] != '\0')
		bench_tenant_drop(r->tenant);
	r->tenant[0] = '\0';
	if (r->dir[0] != '\0') {
		unlink(r->conf);
		unlink(r->log);
		rmdir(r->dir);
		r->dir[0] = '\0';
	}
	return rc;
}

int brun_conf_untenanted(const char *path, char *out, size_t len)
{
	char line[512];
	size_t used = 0;
	int skip = 0;
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return -1;
	out[0] = '\0';
	while (fgets(line, sizeof(line), f) != NULL) {
		if (line[0] == '[')
			skip = strncmp(line, "[tenant", 7) == 0;
		if (skip)
			continue;
		if (used + strlen(line) + 1 > len) {
			fclose(f);
			return -1;
		}
		memcpy(out + used, line, strlen(line) + 1);
		used += strlen(line);
	}
	fclose(f);
	return 0;
}
