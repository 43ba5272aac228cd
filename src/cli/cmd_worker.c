/*
 * src/cli/cmd_worker.c - `shmrt worker`: one worker process.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <shmrt/error.h>
#include <shmrt/runtime.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "runtime/queue_backend_factory.h"
#include "workers/handlers.h"
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
	struct shmrt__backend *be;
	struct sigaction sa;
	int qi, rc;

	if (shmrt_conf_queue_index(conf, queue) < 0) {
		fprintf(stderr, "shmrt worker: no queue '%s' in %s\n", queue,
			conf->path);
		return CLI_USAGE;
	}
	if ((rc = shmrt__handlers_register()) != 0) {
		fprintf(stderr, "shmrt worker: %s\n", shmrt_last_error());
		return CLI_FAILED;
	}
	if (shmrt_tenant_attach(conf->path, tenant) != 0 ||
	    (be = shmrt__backend_lookup(tenant)) == NULL) {
		fprintf(stderr, "shmrt worker: %s\n", shmrt_last_error());
		return CLI_NOATTACH;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	qi = shmrt__backend_queue(be, queue);
	rc = qi < 0 ? qi
		    : shmrt__worker_run(be, (uint32_t)qi, 100000000u,
					&worker_stop, &st);
	shmrt__backend_put(be);
	shmrt_tenant_detach(tenant);
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
