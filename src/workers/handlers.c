/*
 * src/workers/handlers.c - the handlers of the shmrt command (not part of
 * libshmrt: see handlers.h).
 */
#define _GNU_SOURCE
#include "handlers.h"

#include <errno.h>
#include <fcntl.h>
#include <shmrt/error.h>
#include <shmrt/runtime.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/queue_backend_factory.h"
#include "shm/os.h"

/* The length snprintf wrote, clamped to what fits (its result may exceed). */
static size_t clamp(int n, size_t cap)
{
	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap;
}

/* Writes "<prefix><bytes>" as the result; the slot size bounds it. */
static size_t put(char *out, size_t cap, const char *prefix, const void *a,
		  size_t alen)
{
	return clamp(snprintf(out, cap, "%s%.*s", prefix, (int)alen,
			      (const char *)a),
		     cap);
}

/* Payloads starting with "fail:" fail with the rest as the error. */
static int failed_on_request(const void *payload, size_t len, char *out,
			     size_t cap, size_t *out_len)
{
	if (len < 5 || memcmp(payload, "fail:", 5) != 0)
		return 0;
	*out_len = put(out, cap, "", (const char *)payload + 5, len - 5);
	return 1;
}

/*
 * chat: a reply derived from the message. The reply starts with the
 * CLOCK_MONOTONIC time the handler ran ("ran_ns=N "), one clock for every
 * process on the host, so a reader can check that a conversation's turns
 * ran in the order they were sent (shmrt demo does).
 */
static int handle_chat(const void *payload, size_t len, char *out,
			size_t cap, size_t *out_len)
{
	char prefix[48];

	if (failed_on_request(payload, len, out, cap, out_len))
		return -1;
	snprintf(prefix, sizeof(prefix), "ran_ns=%llu reply to: ",
		 (unsigned long long)shmrt__os_now_ns());
	*out_len = put(out, cap, prefix, payload, len);
	return 0;
}

/* upload: a checksum (FNV-1a) of the bytes. */
static int handle_upload(const void *payload, size_t len, char *out,
			size_t cap, size_t *out_len)
{
	const unsigned char *p = payload;
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	if (failed_on_request(payload, len, out, cap, out_len))
		return -1;
	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	*out_len = clamp(snprintf(out, cap, "%zu bytes fnv1a=%016llx", len,
				  (unsigned long long)h),
			 cap);
	return 0;
}

/* exam: a CPU-bound score: answers compared over many rounds. */
static int handle_exam(const void *payload, size_t len, char *out,
			size_t cap, size_t *out_len)
{
	const unsigned char *p = payload;
	uint32_t score = 0, round;
	size_t i;

	if (failed_on_request(payload, len, out, cap, out_len))
		return -1;
	for (round = 0; round < 2000; round++)
		for (i = 0; i < len; i++)
			score += (uint32_t)((p[i] * 31u + round) % 7u == 0);
	*out_len = clamp(snprintf(out, cap, "score=%u", score % 101u), cap);
	return 0;
}

/* profile: the update, applied (echoed back as the stored value). */
static int handle_profile(const void *payload, size_t len, char *out,
			size_t cap, size_t *out_len)
{
	if (failed_on_request(payload, len, out, cap, out_len))
		return -1;
	*out_len = put(out, cap, "stored ", payload, len);
	return 0;
}

static int handle_echo(const void *payload, size_t len, char *out,
			size_t cap, size_t *out_len)
{
	*out_len = len < cap ? len : cap;
	memcpy(out, payload, *out_len);
	return 0;
}

static int handle_fail(const void *payload, size_t len, char *out,
			size_t cap, size_t *out_len)
{
	*out_len = put(out, cap, "", payload, len);
	return -1;
}

/* builtin.sleep: the payload is a number of milliseconds. */
static int handle_sleep(const void *payload, size_t len, char *out,
			size_t cap, size_t *out_len)
{
	char num[32];
	size_t n = len < sizeof(num) - 1 ? len : sizeof(num) - 1;

	memcpy(num, payload, n);
	num[n] = '\0';
	shmrt__os_sleep_ns(strtoull(num, NULL, 10) * 1000000u);
	*out_len = clamp(snprintf(out, cap, "slept %s ms", num), cap);
	return 0;
}

/* The queue's record_file (builtin.record), or NULL when it has none. */
static const char *record_file(const struct shmrt_job_run *run, char *path,
			       size_t cap)
{
	struct shmrt__backend *be = shmrt__backend_lookup(run->tenant);
	int qi;

	path[0] = '\0';
	if (be == NULL)
		return NULL;
	qi = shmrt__backend_queue(be, run->queue);
	if (qi >= 0)
		snprintf(path, cap, "%s", be->conf.queue[qi].record_file);
	shmrt__backend_put(be);
	return path[0] != '\0' ? path : NULL;
}

/*
 * builtin.record: appends "JOB_ID LANE PAYLOAD\n" (JOB_ID in decimal,
 * LANE "-" without a lane) to the queue's record_file with one write(2)
 * on an O_APPEND descriptor, so lines of concurrent workers in any
 * process never interleave. The result is the line's length.
 */
static int handle_record(void *ctx, struct shmrt_job_run *run)
{
	char path[SHMRT_CONF_RECORD_MAX], *line;
	size_t cap = 48 + run->lane_len + run->payload_len, n;
	ssize_t w = -1;
	int fd, len;

	(void)ctx;
	if (record_file(run, path, sizeof(path)) == NULL) {
		run->out_len = put(run->out, run->out_cap, "",
				   "queue has no record_file", 24);
		return SHMRT_HANDLER_FAIL_FINAL;
	}
	if ((line = malloc(cap)) == NULL)
		return SHMRT_HANDLER_RETRY;
	len = snprintf(line, cap, "%llu %.*s ", (unsigned long long)run->id.v,
		       run->lane ? (int)run->lane_len : 1,
		       run->lane ? run->lane : "-");
	n = clamp(len, cap);
	memcpy(line + n, run->payload, run->payload_len);
	n += run->payload_len;
	line[n++] = '\n';
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		w = write(fd, line, n);
		close(fd);
	}
	free(line);
	if (w != (ssize_t)n) {
		run->out_len = clamp(snprintf(run->out, run->out_cap,
					      "record %s: %s", path,
					      strerror(errno)),
				     run->out_cap);
		return SHMRT_HANDLER_RETRY;
	}
	run->out_len = clamp(snprintf(run->out, run->out_cap, "%zu", n),
			     run->out_cap);
	return SHMRT_HANDLER_OK;
}

/*
 * builtin.crash: the worker process kills itself with SIGKILL in the
 * middle of the job (fault tests: the job is reclaimed by scan and
 * retried, the supervisor starts a new worker). It only does so in a
 * process that attached to the tenant - a worker process - never in the
 * process that owns the tenant (an inline worker thread, or the test
 * mode's caller), where it fails the job for good instead.
 */
static int handle_crash(void *ctx, struct shmrt_job_run *run)
{
	struct shmrt__backend *be = shmrt__backend_lookup(run->tenant);
	bool worker_process = be != NULL && !be->owner;

	(void)ctx;
	shmrt__backend_put(be);
	if (worker_process)
		kill(getpid(), SIGKILL);
	run->out_len = put(run->out, run->out_cap, "",
			   "builtin.crash runs only in worker processes", 43);
	return SHMRT_HANDLER_FAIL_FINAL;
}

/* The bodies above fill out/out_len and return 0 or -1; the registry
 * wants shmrt_handler_fn, so each gets a thin adapter. */
typedef int (*body_fn)(const void *payload, size_t len, char *out,
		       size_t cap, size_t *out_len);

static int run_body(void *ctx, struct shmrt_job_run *run)
{
	body_fn body = *(const body_fn *)ctx;

	return body(run->payload, run->payload_len, run->out, run->out_cap,
		    &run->out_len) == 0
		       ? SHMRT_HANDLER_OK
		       : SHMRT_HANDLER_RETRY;
}

static const struct {
	const char *kind;
	body_fn body;
} shmrt__handlers[] = {
	{ "chat", handle_chat },
	{ "upload", handle_upload },
	{ "exam", handle_exam },
	{ "profile", handle_profile },
	{ "builtin.echo", handle_echo },
	{ "builtin.fail", handle_fail },
	{ "builtin.sleep", handle_sleep },
};

int shmrt__handlers_register(void)
{
	size_t i;
	int rc;

	if ((rc = shmrt_handler_register("builtin.record", handle_record,
					 NULL)) != 0 ||
	    (rc = shmrt_handler_register("builtin.crash", handle_crash,
					 NULL)) != 0)
		return rc;
	for (i = 0; i < sizeof(shmrt__handlers) / sizeof(*shmrt__handlers);
	     i++) {
		rc = shmrt_handler_register(shmrt__handlers[i].kind, run_body,
					    (void *)&shmrt__handlers[i].body);
		if (rc != 0)
			return rc;
	}
	return 0;
}
