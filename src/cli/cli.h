/*
 * src/cli/cli.h - subcommands of the shmrt command.
 *
 * Exit statuses: 0 success, 1 the operation or a job failed (or timed
 * out), 2 usage error, 3 the tenant cannot be attached. Errors go to
 * stderr, results to stdout.
 */
#ifndef SHMRT_CLI_H
#define SHMRT_CLI_H

#include <shmrt/job.h>
#include <stdbool.h>
#include <stdint.h>

#include "runtime/conf.h"

enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2, CLI_NOATTACH = 3 };

/* Options every subcommand takes: -c FILE, -t TENANT. */
struct cli_target {
	const char *conf_arg;   /* -c, or NULL */
	const char *tenant_arg; /* -t, or NULL: the first [tenant] */
	struct shmrt_conf conf;
	const char *tenant;     /* resolved */
};

/*
 * Load the configuration named by -c (or SHMRT_CONF, or the default) and
 * resolve the tenant (its [tenant NAME] section, or the [tenant *]
 * template under that name; t->conf is narrowed to it); prints the error
 * and returns CLI_USAGE on failure.
 */
int cli_target_load(const char *cmd, struct cli_target *t);

/* Attach to the tenant (after cli_target_load); CLI_NOATTACH on failure,
 * with the reason on stderr. Pair with shmrt_tenant_detach. */
int cli_target_attach(const char *cmd, struct cli_target *t);

/* Print the usage to stderr and return CLI_USAGE. */
int cli_usage_error(const char *usage, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Parse a decimal number in [0, max]; false when it is not one. */
bool cli_parse_u64(const char *s, uint64_t max, uint64_t *out);

/* Job ids are printed and read as decimal numbers. */
bool cli_parse_id(const char *s, shmrt_job_id *id);

/* Write s[0..len) as a JSON string (quoted, escaped) to stdout. */
void cli_json_string(const char *s, size_t len);

int cli_run(int argc, char **argv);
int cli_worker(int argc, char **argv);
int cli_enqueue(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_stat(int argc, char **argv);
int cli_scan(int argc, char **argv);
int cli_stop(int argc, char **argv);
int cli_destroy(int argc, char **argv);
int cli_demo(int argc, char **argv);

#endif /* SHMRT_CLI_H */
