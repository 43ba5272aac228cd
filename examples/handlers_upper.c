/*
 * examples/handlers_upper.c - a handler library for `shmrt worker
 * --handlers` (and `shmrt run --handlers`).
 *
 * It defines the one entry symbol, shmrt_handlers_init, and registers
 * its handlers through the host table it is given (shmrt/worker.h): it
 * does not link libshmrt.
 *
 *   example.upper   result = the payload in upper case
 *   example.count   result = "N words"; an empty payload fails for good
 */
#include <ctype.h>
#include <shmrt/worker.h>
#include <stdio.h>

/* The entry symbol must be visible (the project builds with
 * -fvisibility=hidden). */
#define EXAMPLE_EXPORT __attribute__((visibility("default")))

EXAMPLE_EXPORT int shmrt_handlers_init(const struct shmrt_plugin_host *host);

static int upper(void *ctx, struct shmrt_job_run *run)
{
	const char *p = run->payload;
	size_t i;

	(void)ctx;
	for (i = 0; i < run->payload_len && i < run->out_cap; i++)
		run->out[i] = (char)toupper((unsigned char)p[i]);
	run->out_len = i;
	return SHMRT_HANDLER_OK;
}

static int count(void *ctx, struct shmrt_job_run *run)
{
	const char *p = run->payload;
	size_t i, words = 0;
	int n;

	(void)ctx;
	for (i = 0; i < run->payload_len; i++)
		if (!isspace((unsigned char)p[i]) &&
		    (i == 0 || isspace((unsigned char)p[i - 1])))
			words++;
	if (words == 0) {
		n = snprintf(run->out, run->out_cap, "nothing to count");
		run->out_len = n < 0 ? 0 : (size_t)n;
		return SHMRT_HANDLER_FAIL_FINAL;
	}
	n = snprintf(run->out, run->out_cap, "%zu words", words);
	run->out_len = n < 0 ? 0 : (size_t)n;
	return SHMRT_HANDLER_OK;
}

int shmrt_handlers_init(const struct shmrt_plugin_host *host)
{
	if (host->abi < 1 || host->size < sizeof(*host))
		return -1;
	if (host->handler_register("example.upper", upper, NULL) != 0 ||
	    host->handler_register("example.count", count, NULL) != 0)
		return -1;
	return 0;
}
