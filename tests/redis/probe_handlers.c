/*
 * tests/redis/probe_handlers.c - the handler library of the redis tests'
 * worker processes (`shmrt worker --handlers`).
 *
 * probe: the payload is "MS[/LATER] MODE TAG": sleep MS milliseconds
 * (LATER on attempts after the first, when given), then succeed (MODE
 * ok) or fail with a retry (MODE fail). Each run appends
 * two lines to $SHMRT_PROBE_FILE with one write(2) each on an O_APPEND
 * descriptor (lines of concurrent workers never interleave):
 *   S <start_ns> <pid> <job id> <attempt> <token> <lane|-> <tag>
 *   E <end_ns>   <pid> <job id> <attempt> <token> <lane|-> <tag>
 * Times are CLOCK_MONOTONIC, one clock for every process on the host.
 * The result is "pid=<pid> token=<token>": who ran the accepted attempt.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <shmrt/worker.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROBE_EXPORT __attribute__((visibility("default")))

PROBE_EXPORT int shmrt_handlers_init(const struct shmrt_plugin_host *host);

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull +
	       (unsigned long long)ts.tv_nsec;
}

static void note(char kind, const struct shmrt_job_run *run, const char *tag)
{
	const char *path = getenv("SHMRT_PROBE_FILE");
	char line[256];
	int n, fd;

	if (path == NULL)
		return;
	n = snprintf(line, sizeof(line), "%c %llu %d %llu %u %llu %.*s %s\n",
		     kind, now_ns(), (int)getpid(),
		     (unsigned long long)run->id.v, run->attempt,
		     (unsigned long long)run->token,
		     run->lane ? (int)run->lane_len : 1,
		     run->lane ? run->lane : "-", tag);
	if (n <= 0 || (size_t)n >= sizeof(line))
		return;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (write(fd, line, (size_t)n) != n)
			n = -1;
		close(fd);
	}
}

static int probe(void *ctx, struct shmrt_job_run *run)
{
	char text[128], mode[16] = "ok", tag[32] = "-";
	size_t n = run->payload_len < sizeof(text) - 1 ? run->payload_len
						       : sizeof(text) - 1;
	unsigned ms = 0, later = 0;
	int w;

	(void)ctx;
	memcpy(text, run->payload, n);
	text[n] = '\0';
	if (sscanf(text, "%u/%u %15s %31s", &ms, &later, mode, tag) == 4) {
		if (run->attempt > 1)
			ms = later;
	} else {
		(void)sscanf(text, "%u %15s %31s", &ms, mode, tag);
	}
	note('S', run, tag);
	usleep(ms * 1000u);
	note('E', run, tag);
	w = snprintf(run->out, run->out_cap, "pid=%d token=%llu",
		     (int)getpid(), (unsigned long long)run->token);
	run->out_len = w < 0 ? 0 : (size_t)w < run->out_cap ? (size_t)w
							   : run->out_cap;
	return strcmp(mode, "fail") == 0 ? SHMRT_HANDLER_RETRY
					  : SHMRT_HANDLER_OK;
}

int shmrt_handlers_init(const struct shmrt_plugin_host *host)
{
	if (host->abi < 1 || host->size < sizeof(*host))
		return -1;
	return host->handler_register("probe", probe, NULL) != 0 ? -1 : 0;
}
