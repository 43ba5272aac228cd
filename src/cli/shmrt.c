/*
 * src/cli/shmrt.c - the shmrt command: dispatch and what every
 * subcommand shares (configuration, tenant, attach, parsing, JSON).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <shmrt/error.h>
#include <shmrt/runtime.h>
#include <shmrt/version.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	"Every command takes -c FILE and -t TENANT (default: the file's\n"
	"first tenant; with a [tenant *] template, any valid name).\n"
	"Without -c the configuration is $SHMRT_CONF, else ./conf/shmrt.ini\n"
	"if it exists, else the installed one.\n"
	"Run 'shmrt <command> --help' for a command's options;\n"
	"'shmrt --version' (or -V) prints the version.\n"
	"Exit status: 0 ok, 1 operation or job failed or timed out, 2 usage\n"
	"error, 3 tenant cannot be attached.\n";

/* The usage, then where the installed configuration is. */
static void print_usage(FILE *f)
{
	fputs(usage, f);
	fprintf(f, "Installed configuration: %s\n",
		shmrt_conf_installed_path());
}

int cli_usage_error(const char *cmd_usage, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_verror(NULL, fmt, ap);
	va_end(ap);
	fputs(cmd_usage, stderr);
	return CLI_USAGE;
}

int cli_target_load(const char *cmd, struct cli_target *t)
{
	char err[512];
	const char *p = shmrt_conf_path(t->conf_arg);

	if (shmrt_conf_load(p, &t->conf, err, sizeof(err)) != 0 ||
	    shmrt_conf_apply_env(&t->conf, err, sizeof(err)) != 0) {
		cli_error(cmd, "%s", err);
		return CLI_USAGE;
	}
	/* A [tenant NAME] section, or the [tenant *] template's name. */
	if (shmrt_conf_select_tenant(&t->conf, t->tenant_arg) != 0) {
		cli_error(cmd, "%s%s", shmrt_last_error(),
			  t->tenant_arg == NULL ? " with -t NAME" : "");
		return CLI_USAGE;
	}
	t->tenant = t->conf.tenant[0].name;
	return CLI_OK;
}

int cli_target_attach(const char *cmd, struct cli_target *t)
{
	if (shmrt_tenant_attach(t->conf.path, t->tenant) != 0) {
		cli_error(cmd, "cannot attach to tenant %s: %s", t->tenant,
			  shmrt_last_error());
		return CLI_NOATTACH;
	}
	return CLI_OK;
}

uint64_t cli_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cli_sleep_ms(uint32_t ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
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

/*
 * Length of the well-formed UTF-8 sequence at s[0..len) (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0 when the
 * bytes there are not one.
 */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0; /* overlong */
	else if (s[0] == 0xed)
		hi = 0x9f; /* surrogates */
	else if (s[0] == 0xf0)
		lo = 0x90; /* overlong */
	else if (s[0] == 0xf4)
		hi = 0x8f; /* above U+10FFFF */
	if (n > len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/*
 * Valid UTF-8 passes through as is; '"' and '\\' are escaped, control
 * characters (below 0x20, and DEL) become \n, \t, \r or \u00XX, and each
 * byte that is not part of a well-formed UTF-8 sequence becomes U+FFFD
 * (\ufffd), so the output is always valid JSON in valid UTF-8.
 */
void cli_json_string(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	putchar('"');
	while (i < len) {
		unsigned char ch = p[i];

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", stdout);
		else if (ch == '\t')
			fputs("\\t", stdout);
		else if (ch == '\r')
			fputs("\\r", stdout);
		else if (ch < 0x20 || ch == 0x7f)
			printf("\\u%04x", ch);
		else if ((n = utf8_seq(p + i, len - i)) == 0)
			fputs("\\ufffd", stdout);
		else {
			fwrite(p + i, 1, n, stdout);
			i += n;
			continue;
		}
		i++;
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
		print_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-VV") == 0) {
		printf("shmrt %s\n", shmrt_version_string());
		return CLI_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("shmrt %s\n", shmrt_version_string());
		return CLI_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	cli_error(NULL, "unknown command '%s'", argv[1]);
	print_usage(stderr);
	return CLI_USAGE;
}
