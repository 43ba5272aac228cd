/*
 * bench/procfs.c - children, thread states, context switches and CPU
 * time of other processes, from /proc.
 */
#define _GNU_SOURCE
#include "procfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Read a small /proc file into buf (NUL-terminated); its length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/*
 * The fields of a stat line after "pid (comm) ": comm may hold spaces
 * and parentheses, so the fields start after the last ')'. NULL if the
 * line is malformed.
 */
static const char *stat_fields(const char *buf)
{
	const char *p = strrchr(buf, ')');

	return p != NULL && p[1] == ' ' ? p + 2 : NULL;
}

/* Field k (3 = state, 4 = ppid, 14 = utime, ...) of a stat line. */
static const char *stat_field(const char *buf, int k)
{
	const char *p = stat_fields(buf);
	int i;

	for (i = 3; p != NULL && i < k; i++) {
		p = strchr(p, ' ');
		p = p != NULL ? p + 1 : NULL;
	}
	return p;
}

int bench_proc_children(pid_t parent, pid_t *out, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 0;
	while (n < max && (e = readdir(d)) != NULL) {
		char path[64], buf[512];
		const char *ppid;
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (pid <= 0 || *end != '\0')
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		if (read_small(path, buf, sizeof(buf)) <= 0)
			continue;
		ppid = stat_field(buf, 4);
		if (ppid != NULL && strtol(ppid, NULL, 10) == (long)parent)
			out[n++] = (pid_t)pid;
	}
	closedir(d);
	return n;
}

/*
 * Call fn for every thread of pid with the thread's /proc directory
 * ("/proc/PID/task/TID"). Returns the number of threads, or -1 if the
 * process is gone.
 */
static int each_thread(pid_t pid, void (*fn)(const char *dir, void *arg),
		       void *arg)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char dir[128];

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(dir, sizeof(dir), "%s/%.20s", path, e->d_name);
		fn(dir, arg);
		n++;
	}
	closedir(d);
	return n;
}

static void thread_awake(const char *dir, void *arg)
{
	char path[160], buf[512];
	const char *state;

	snprintf(path, sizeof(path), "%s/stat", dir);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return; /* the thread is gone: it does not run */
	state = stat_field(buf, 3);
	if (state == NULL || (*state != 'S' && *state != 'I'))
		(*(int *)arg)++;
}

int bench_proc_all_asleep(pid_t pid)
{
	int awake = 0;

	return each_thread(pid, thread_awake, &awake) > 0 && awake == 0;
}

static uint64_t status_value(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	return p != NULL ? strtoull(p + strlen(key), NULL, 10) : 0;
}

static void thread_usage(const char *dir, void *arg)
{
	struct bench_proc_usage *u = arg;
	char path[160], buf[2048];

	snprintf(path, sizeof(path), "%s/status", dir);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return;
	u->ctxt += status_value(buf, "voluntary_ctxt_switches:");
	u->ctxt += status_value(buf, "nonvoluntary_ctxt_switches:");
	u->threads++;
	snprintf(path, sizeof(path), "%s/schedstat", dir);
	if (read_small(path, buf, sizeof(buf)) > 0)
		u->run_ns += strtoull(buf, NULL, 10);
	else
		u->no_schedstat = 1;
}

int bench_proc_usage_add(pid_t pid, struct bench_proc_usage *u)
{
	struct bench_proc_usage mine;
	char path[64], buf[1024];
	const char *f;

	memset(&mine, 0, sizeof(mine));
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small(path, buf, sizeof(buf)) <= 0 ||
	    (f = stat_field(buf, 14)) == NULL)
		return -1;
	mine.ticks = strtoull(f, NULL, 10);
	f = stat_field(buf, 15);
	mine.ticks += f != NULL ? strtoull(f, NULL, 10) : 0;
	if (each_thread(pid, thread_usage, &mine) < 0)
		return -1;
	u->ctxt += mine.ctxt;
	u->ticks += mine.ticks;
	u->run_ns += mine.run_ns;
	u->threads += mine.threads;
	u->no_schedstat |= mine.no_schedstat;
	return 0;
}
