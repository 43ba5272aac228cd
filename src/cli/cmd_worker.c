/*
 * src/cli/cmd_worker.c - `shmrt worker`: one worker process.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <shmrt/error.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "shm/segment.h"
#include "workers/worker_loop.h"

static volatile int worker_stop;

static void on_term(int sig)
{
	(void)sig;
	worker_stop = 1;
}

static const char worker_usage[] =
	"usage: shmrt worker [-c FILE] -t TENANT -q QUEUE\n"
	"Runs one worker for QUEUE of TENANT until the tenant drains or\n"
	"SIGTERM/SIGINT arrives.\n";

static int run_worker(const struct shmrt_conf *conf, const char *tenant,
		      const char *queue)
{
	struct shmrt__worker_stats st;
	struct shmrt__seg seg;
	struct sigaction sa;
	shmrt__handler_fn fn;
	int ci = shmrt_conf_queue_index(conf, queue), qi, rc;

	if (ci < 0 || (fn = shmrt__handler_find(conf->queue[ci].handler)) == NULL) {
		fprintf(stderr, "shmrt worker: no queue '%s' with a known "
				"handler in %s\n", queue, conf->path);
		return CLI_USAGE;
	}
	if ((rc = shmrt__seg_attach(tenant, &seg)) != 0) {
		fprintf(stderr, "shmrt worker: %s\n", shmrt_last_error());
		return CLI_NOATTACH;
	}
	qi = shmrt__seg_queue_index(&seg, queue);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	rc = qi < 0 ? SHMRT_E_NOQUEUE
		    : shmrt__worker_run(&seg, (uint32_t)qi, fn, 100000000u,
					&worker_stop, &st);
	shmrt__seg_detach(&seg);
	if (rc != 0)
		fprintf(stderr, "shmrt worker: %s\n", shmrt_strerror(rc));
	return rc == 0 ? CLI_OK : CLI_FAILED;
}

int cli_worker(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "conf", required_argument, NULL, 'c' },
		{ "tenant", required_argument, NULL, 't' },
		{ "queue", required_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *tenant = NULL, *queue = NULL;
	struct shmrt_conf conf;
	int c;

	while ((c = getopt_long(argc, argv, "c:t:q:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 't': tenant = optarg; break;
		case 'q': queue = optarg; break;
		case 'h': fputs(worker_usage, stdout); return CLI_OK;
		default: fputs(worker_usage, stderr); return CLI_USAGE;
		}
	}
	if (tenant == NULL || queue == NULL || optind != argc) {
		fputs(worker_usage, stderr);
		return CLI_USAGE;
	}
	if ((c = cli_load_conf(path, &conf)) != CLI_OK)
		return c;
	return run_worker(&conf, tenant, queue);
}
