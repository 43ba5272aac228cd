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
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
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

/*
 * Every message of the command goes through these (src/cli/message.c).
 *
 * cli_error writes "shmrt CMD: MESSAGE\n" (cmd NULL: "shmrt: ...") to
 * stderr, the formatted message escaped and cut as cli_write_escaped
 * does, so a name, path, key or file content inside it can neither
 * drive the terminal nor flood it.
 */
void cli_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* cli_error with a va_list. */
void cli_verror(const char *cmd, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/*
 * Write s[0..len) to f for a terminal: printable ASCII and valid UTF-8
 * of printable code points pass, every other byte (controls, escape,
 * C1 controls, invalid UTF-8) is written as \xNN. Past `max` bytes it is
 * cut, with "...(cut: LEN bytes in all)". Reads at most min(len, max)
 * bytes of s.
 */
void cli_write_escaped(FILE *f, const char *s, size_t len, size_t max);

/* The length (2..4) of the valid UTF-8 sequence of a code point from
 * U+00A0 up at s[0..n), or 0 (ASCII, invalid, overlong, surrogate, C1). */
size_t cli_utf8_seq(const unsigned char *s, size_t n);

/* Print the message (as cli_error) and the usage to stderr; returns
 * CLI_USAGE. */
int cli_usage_error(const char *usage, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Parse a decimal number in [0, max]; false when it is not one. */
bool cli_parse_u64(const char *s, uint64_t max, uint64_t *out);

/* Job ids are printed and read as decimal numbers. */
bool cli_parse_id(const char *s, shmrt_job_id *id);

/* Write s[0..len) as a JSON string (quoted, escaped) to stdout: valid
 * UTF-8 as is, control characters escaped, each invalid byte as U+FFFD. */
void cli_json_string(const char *s, size_t len);

/* CLOCK_MONOTONIC now, in nanoseconds. */
uint64_t cli_now_ns(void);

/* Sleep ms milliseconds (restarted after a signal). */
void cli_sleep_ms(uint32_t ms);

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
