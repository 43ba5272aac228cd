/*
 * src/cli/cmd_job.c - `shmrt enqueue` and `shmrt status`: one job.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <shmrt/error.h>
#include <shmrt/runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char enqueue_usage[] =
	"usage: shmrt enqueue [-c FILE] [-t TENANT] QUEUE [--lane KEY] "
	"[--key IDEMKEY]\n"
	"                     [--data STRING | --data-file FILE] "
	"[--wait [--timeout MS]]\n"
	"Enqueues a job on QUEUE of a running tenant and prints its id.\n"
	"  --lane KEY        lane key (laned queues: jobs of a lane run in\n"
	"                    order, one at a time)\n"
	"  --key IDEMKEY     idempotency key: a live key returns its job\n"
	"  --data STRING     the payload (default: empty)\n"
	"  --data-file FILE  the payload, read from FILE ('-': stdin)\n"
	"  --wait            wait for the job; print its state and result\n"
	"  --timeout MS      with --wait: give up after MS (default 30000)\n"
	"Exit: 0 enqueued (with --wait: succeeded), 1 refused, or the job\n"
	"failed or the wait timed out, 2 usage, 3 cannot attach.\n";

static const char status_usage[] =
	"usage: shmrt status [-c FILE] [-t TENANT] JOB_ID [--json]\n"
	"Prints a job's state, attempts, timestamps and result (or error).\n"
	"Exit: 0 queued, running or succeeded, 1 failed, cancelled or no\n"
	"such job, 2 usage, 3 cannot attach.\n";

#define MAX_PAYLOAD (1u << 20)

/*
 * Read at most MAX_PAYLOAD + 1 bytes (one more says "too big"). A file
 * that cannot be opened or read (a directory, no permission, an I/O
 * error) is an error, said on stderr: NULL, and nothing is enqueued.
 */
static char *read_payload(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *buf = NULL;
	int err = 0;

	if (f == NULL) {
		cli_error("enqueue", "--data-file %s: %s", path,
			  strerror(errno));
		return NULL;
	}
	errno = 0;
	if ((buf = malloc(MAX_PAYLOAD + 1)) == NULL)
		err = ENOMEM;
	else if ((*len = fread(buf, 1, MAX_PAYLOAD + 1, f)), ferror(f))
		err = errno != 0 ? errno : EIO;
	if (f != stdin)
		fclose(f);
	if (err != 0) {
		cli_error("enqueue", "--data-file %s: %s", path,
			  strerror(err));
		free(buf);
		return NULL;
	}
	return buf;
}

/* State line, then the result bytes and a newline. */
static int print_outcome(const struct shmrt_job_info *info, const char *buf,
			 size_t cap)
{
	size_t n = info->result_len < cap ? info->result_len : cap;

	printf("%s\n", shmrt_job_state_name(info->state));
	fwrite(buf, 1, n, stdout);
	putchar('\n');
	return info->state == SHMRT_JOB_SUCCEEDED ? CLI_OK : CLI_FAILED;
}

static int enqueue_wait(const char *tenant, shmrt_job_id id,
			uint64_t timeout)
{
	struct shmrt_job_info info;
	static char buf[MAX_PAYLOAD];

	if (shmrt_job_wait(tenant, id, (uint32_t)timeout, &info, buf,
			   sizeof(buf)) != 0) {
		cli_error("enqueue", "%s", shmrt_last_error());
		return CLI_FAILED;
	}
	return print_outcome(&info, buf, sizeof(buf));
}

struct enqueue_args {
	const char *queue, *data, *data_file;
	struct shmrt_enqueue_opts o;
	bool wait;
	uint64_t timeout;
};

static int enqueue_run(struct cli_target *t, struct enqueue_args *a)
{
	const char *payload = a->data ? a->data : "";
	size_t len = strlen(payload);
	char *file = NULL;
	shmrt_job_id id;
	int rc;

	if (a->data_file != NULL &&
	    (payload = file = read_payload(a->data_file, &len)) == NULL)
		return CLI_FAILED;
	if ((rc = cli_target_attach("enqueue", t)) != CLI_OK) {
		free(file);
		return rc;
	}
	a->o.timeout_ms = 1000;
	rc = shmrt_enqueue(t->tenant, a->queue, payload, len, &a->o, &id);
	free(file);
	if (rc < 0) {
		cli_error("enqueue", "%s", shmrt_last_error());
		rc = CLI_FAILED;
	} else {
		printf("%llu\n", (unsigned long long)id.v);
		if (rc == SHMRT_ENQUEUE_EXISTING)
			cli_error("enqueue", "key '%s' names the existing "
				  "job %llu", a->o.key,
				  (unsigned long long)id.v);
		fflush(stdout);
		rc = a->wait ? enqueue_wait(t->tenant, id, a->timeout) : CLI_OK;
	}
	shmrt_tenant_detach(t->tenant);
	return rc;
}

int cli_enqueue(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "conf", required_argument, NULL, 'c' },
		{ "tenant", required_argument, NULL, 't' },
		{ "lane", required_argument, NULL, 'l' },
		{ "key", required_argument, NULL, 'k' },
		{ "data", required_argument, NULL, 'd' },
		{ "data-file", required_argument, NULL, 'f' },
		{ "wait", no_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct cli_target t;
	struct enqueue_args a;
	bool timeout_set = false;
	int c;

	memset(&a, 0, sizeof(a));
	a.timeout = 30000;
	while ((c = getopt_long(argc, argv, "c:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': t.conf_arg = optarg; break;
		case 't': t.tenant_arg = optarg; break;
		case 'l': a.o.lane = optarg; break;
		case 'k': a.o.key = optarg; break;
		case 'd': a.data = optarg; break;
		case 'f': a.data_file = optarg; break;
		case 'w': a.wait = true; break;
		case 'T':
			if (!cli_parse_u64(optarg, UINT32_MAX, &a.timeout))
				return cli_usage_error(enqueue_usage, "bad "
						       "--timeout '%s'", optarg);
			timeout_set = true;
			break;
		case 'h': fputs(enqueue_usage, stdout); return CLI_OK;
		default: fputs(enqueue_usage, stderr); return CLI_USAGE;
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error(enqueue_usage, "name one QUEUE");
	if (a.data != NULL && a.data_file != NULL)
		return cli_usage_error(enqueue_usage, "--data and --data-file "
				       "exclude each other");
	if (timeout_set && !a.wait)
		return cli_usage_error(enqueue_usage, "--timeout needs --wait");
	a.queue = argv[optind];
	if ((c = cli_target_load("enqueue", &t)) != CLI_OK)
		return c;
	if (shmrt_conf_queue_index(&t.conf, a.queue) < 0)
		return cli_usage_error(enqueue_usage, "no queue '%s' in %s",
				       a.queue, t.conf.path);
	return enqueue_run(&t, &a);
}

static void status_json(const struct shmrt_job_info *info, const char *buf,
			size_t n)
{
	printf("{\"id\":\"%llu\",\"state\":\"%s\",\"attempt\":%u,"
	       "\"payload_len\":%u,\"enqueue_ns\":%llu,\"start_ns\":%llu,"
	       "\"finish_ns\":%llu,\"result\":",
	       (unsigned long long)info->id.v,
	       shmrt_job_state_name(info->state), info->attempt,
	       info->payload_len, (unsigned long long)info->enqueue_ns,
	       (unsigned long long)info->start_ns,
	       (unsigned long long)info->finish_ns);
	cli_json_string(buf, n);
	printf("}\n");
}

static void status_text(const struct shmrt_job_info *info, const char *buf,
			size_t n)
{
	printf("id        %llu\nstate     %s\nattempt   %u\n",
	       (unsigned long long)info->id.v,
	       shmrt_job_state_name(info->state), info->attempt);
	if (info->start_ns)
		printf("waited    %.3f ms\n",
		       (double)(info->start_ns - info->enqueue_ns) / 1e6);
	if (info->finish_ns)
		printf("took      %.3f ms\n",
		       (double)(info->finish_ns - info->enqueue_ns) / 1e6);
	/* A person reads this view: the bytes are escaped (--json, too). */
	fputs(info->state == SHMRT_JOB_FAILED ? "error     " : "result    ",
	      stdout);
	cli_write_escaped(stdout, buf, n, n);
	putchar('\n');
}

int cli_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "conf", required_argument, NULL, 'c' },
		{ "tenant", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct cli_target t;
	static char buf[MAX_PAYLOAD];
	struct shmrt_job_info info;
	shmrt_job_id id;
	bool json = false;
	size_t n;
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': t.conf_arg = optarg; break;
		case 't': t.tenant_arg = optarg; break;
		case 'j': json = true; break;
		case 'h': fputs(status_usage, stdout); return CLI_OK;
		default: fputs(status_usage, stderr); return CLI_USAGE;
		}
	}
	if (optind + 1 != argc || !cli_parse_id(argv[optind], &id))
		return cli_usage_error(status_usage, "name one JOB_ID (the "
				       "number shmrt enqueue printed)");
	if ((rc = cli_target_load("status", &t)) != CLI_OK ||
	    (rc = cli_target_attach("status", &t)) != CLI_OK)
		return rc;
	if (shmrt_job_status(t.tenant, id, &info, buf, sizeof(buf)) != 0) {
		cli_error("status", "%s", shmrt_last_error());
		shmrt_tenant_detach(t.tenant);
		return CLI_FAILED;
	}
	n = info.result_len < sizeof(buf) ? info.result_len : sizeof(buf);
	if (json)
		status_json(&info, buf, n);
	else
		status_text(&info, buf, n);
	shmrt_tenant_detach(t.tenant);
	return info.state == SHMRT_JOB_FAILED ||
			       info.state == SHMRT_JOB_CANCELLED
		       ? CLI_FAILED
		       : CLI_OK;
}
