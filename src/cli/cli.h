/*
 * src/cli/cli.h - subcommands of the shmrt command.
 *
 * Exit statuses: 0 success, 1 the operation or a job failed, 2 usage
 * error, 3 the tenant cannot be attached.
 */
#ifndef SHMRT_CLI_H
#define SHMRT_CLI_H

#include "runtime/conf.h"

enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2, CLI_NOATTACH = 3 };

/* Load the configuration named by -c (or SHMRT_CONF, or the default);
 * prints the error and returns CLI_USAGE on failure. */
int cli_load_conf(const char *path, struct shmrt_conf *conf);

int cli_worker(int argc, char **argv);
int cli_demo(int argc, char **argv);

#endif /* SHMRT_CLI_H */
