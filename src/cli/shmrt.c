/*
 * src/cli/shmrt.c - the shmrt command: dispatch and what every
 * subcommand shares (configuration, tenant, attach, parsing, JSON).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <shmrt/error.h>
#include <shmrt/runtime.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
	"usage: shmrt <command> [options]\n"
	"\n"
	"commands:\n"
	"  run      start a tenant and its workers in the foreground\n"
	"  worker   run one worker process\n"
	"  enqueue  enqueue a job (and wait for it)\n"
	"  status   show a job\n"
	"  stat     per-queue counters and workers (--json, --prometheus)\n"
	"  scan     reclaim what dead processes held, now\n"
	"  stop     drain and stop a running tenant\n"
	"  destroy  remove a tenant's segment\n"
	"  demo     run the demo workload (the README's main job)\n"
	"\n"
	"Every command takes -c FILE (default: $SHMRT_CONF, then\n"
	"conf/shmrt.ini) and -t TENANT (default: the file's first tenant;\n"
	"with a [tenant *] template, any valid name).\n"
	"Run 'shmrt <command> --help' for a command's options.\n"
	"Exit status: 0 ok, 1 operation or job failed or timed out, 2 usage\n"
	"error, 3 tenant cannot be attached.\n";

int cli_usage_error(const char *cmd_usage, const char *fmt, ...)
{
	va_list ap;

	fputs("shmrt: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", cmd_usage);
	return CLI_USAGE;
}

int cli_target_load(const char *cmd, struct cli_target *t)
{
	char err[512];
	const char *p = shmrt_conf_path(t->conf_arg);

	if (shmrt_conf_load(p, &t->conf, err, sizeof(err)) != 0 ||
	    shmrt_conf_apply_env(&t->conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "shmrt %s: %s\n", cmd, err);
		return CLI_USAGE;
	}
	/* A [tenant NAME] section, or the [tenant *] template's name. */
	if (shmrt_conf_select_tenant(&t->conf, t->tenant_arg) != 0) {
		fprintf(stderr, "shmrt %s: %s%s\n", cmd, shmrt_last_error(),
			t->tenant_arg == NULL ? " with -t NAME" : "");
		return CLI_USAGE;
	}
	t->tenant = t->conf.tenant[0].name;
	return CLI_OK;
}

int cli_target_attach(const char *cmd, struct cli_target *t)
{
	if (shmrt_tenant_attach(t->conf.path, t->tenant) != 0) {
		fprintf(stderr, "shmrt %s: cannot attach to tenant %s: %s\n",
			cmd, t->tenant, shmrt_last_error());
		return CLI_NOATTACH;
	}
	return CLI_OK;
}

bool cli_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return false;
	*out = v;
	return true;
}

bool cli_parse_id(const char *s, shmrt_job_id *id)
{
	return cli_parse_u64(s, UINT64_MAX, &id->v) && id->v != 0;
}

void cli_json_string(const char *s, size_t len)
{
	size_t i;

	putchar('"');
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "run", cli_run },	      { "worker", cli_worker },
	{ "enqueue", cli_enqueue },   { "status", cli_status },
	{ "stat", cli_stat },	      { "scan", cli_scan },
	{ "stop", cli_stop },	      { "destroy", cli_destroy },
	{ "demo", cli_demo },
};

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "shmrt: unknown command '%s'\n%s", argv[1], usage);
	return CLI_USAGE;
}
