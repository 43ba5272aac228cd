/*
 * src/cli/shmrt.c - the shmrt command: dispatch and shared helpers.
 */
#include <shmrt/error.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
	"usage: shmrt <command> [options]\n"
	"\n"
	"commands:\n"
	"  demo   [-c FILE]                    run the demo workload\n"
	"  worker [-c FILE] -t TENANT -q QUEUE  run one worker process\n"
	"\n"
	"-c defaults to $SHMRT_CONF, then conf/shmrt.ini.\n"
	"Run 'shmrt <command> --help' for a command's options.\n";

int cli_load_conf(const char *path, struct shmrt_conf *conf)
{
	char err[512];
	const char *p = shmrt_conf_path(path);

	if (shmrt_conf_load(p, conf, err, sizeof(err)) != 0 ||
	    shmrt_conf_apply_env(conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "shmrt: %s\n", err);
		return CLI_USAGE;
	}
	return CLI_OK;
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	if (strcmp(argv[1], "demo") == 0)
		return cli_demo(argc - 1, argv + 1);
	if (strcmp(argv[1], "worker") == 0)
		return cli_worker(argc - 1, argv + 1);
	fprintf(stderr, "shmrt: unknown command '%s'\n%s", argv[1], usage);
	return CLI_USAGE;
}
