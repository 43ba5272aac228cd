/*
 * src/cli/cmd_worker.c - `shmrt worker`: one worker process.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <shmrt/error.h>
#include <stdio.h>

#include "cli.h"
#include "workers/handlers.h"
#include "workers/worker_process.h"

static const char worker_usage[] =
	"usage: shmrt worker [-c FILE] [-t TENANT] [-q QUEUE]... "
	"[--handlers LIB]\n"
	"Runs one worker process: one worker thread per -q (repeat -q for\n"
	"more; none: one per queue), until the tenant drains or SIGTERM or\n"
	"SIGINT arrives (each worker finishes its job first).\n"
	"  -c, --conf FILE     configuration (default $SHMRT_CONF, then\n"
	"                      ./conf/shmrt.ini, then the installed one:\n"
	"                      shmrt --help names it)\n"
	"  -t, --tenant NAME   tenant (default: the file's first)\n"
	"  -q, --queue NAME    a queue to serve\n"
	"  --handlers LIB      load handlers from a shared object that\n"
	"                      defines shmrt_handlers_init (shmrt/worker.h)\n"
	"  --parent PID        exit when process PID exits (the supervisor)\n"
	"Exit: 0 drained, 1 a worker failed, 2 usage, 3 cannot attach.\n";

static int worker_exit(int rc, int stage)
{
	if (rc == 0)
		return CLI_OK;
	cli_error("worker", "%s",
		  shmrt_last_error()[0] ? shmrt_last_error()
					: shmrt_strerror(rc));
	switch (stage) {
	case SHMRT__WP_ATTACH: return CLI_NOATTACH;
	case SHMRT__WP_QUEUE: return CLI_USAGE;
	default: return CLI_FAILED;
	}
}

int cli_worker(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "conf", required_argument, NULL, 'c' },
		{ "tenant", required_argument, NULL, 't' },
		{ "queue", required_argument, NULL, 'q' },
		{ "handlers", required_argument, NULL, 'H' },
		{ "parent", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct shmrt__worker_process wp;
	static struct cli_target t;
	uint64_t parent = 0;
	int c, stage = 0, rc;

	while ((c = getopt_long(argc, argv, "c:t:q:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': t.conf_arg = optarg; break;
		case 't': t.tenant_arg = optarg; break;
		case 'q':
			if (wp.nqueues == SHMRT__WORKER_MAX_THREADS)
				return cli_usage_error(worker_usage,
						       "too many -q");
			wp.queue[wp.nqueues++] = optarg;
			break;
		case 'H': wp.handlers = optarg; break;
		case 'P':
			if (!cli_parse_u64(optarg, INT32_MAX, &parent))
				return cli_usage_error(worker_usage,
						       "bad --parent '%s'",
						       optarg);
			break;
		case 'h': fputs(worker_usage, stdout); return CLI_OK;
		default: fputs(worker_usage, stderr); return CLI_USAGE;
		}
	}
	if (optind != argc)
		return cli_usage_error(worker_usage, "unexpected argument '%s'",
				       argv[optind]);
	if ((rc = cli_target_load("worker", &t)) != CLI_OK)
		return rc;
	wp.conf_path = t.conf.path;
	wp.tenant = t.tenant;
	wp.parent = (pid_t)parent;
	if ((rc = shmrt__handlers_register()) != 0)
		return worker_exit(rc, SHMRT__WP_HANDLERS);
	rc = shmrt__worker_process_main(&wp, &stage);
	return worker_exit(rc, stage);
}
