/*
 * src/cli/cmd_admin.c - `shmrt scan`, `shmrt stop`, `shmrt destroy`:
 * acting on a tenant from outside the process that runs it.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <shmrt/error.h>
#include <shmrt/runtime.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char scan_usage[] =
	"usage: shmrt scan [-c FILE] [-t TENANT]\n"
	"Scans the tenant now: reclaims what dead processes held (ring\n"
	"cells, running jobs, permits), expires leases and retained jobs,\n"
	"and prints what it found. A running tenant also scans by itself.\n"
	"Exit: 0 ok, 1 scan failed, 2 usage, 3 cannot attach.\n";

static const char stop_usage[] =
	"usage: shmrt stop [-c FILE] [-t TENANT] [--drain-timeout MS]\n"
	"Stops a running tenant through its segment: marks it draining (new\n"
	"enqueues are refused), waits until queued and running jobs finish,\n"
	"marks it stopped, and waits for the process that runs it (shmrt run)\n"
	"to stop its workers, remove the segment and exit.\n"
	"  --drain-timeout MS  how long to wait for the jobs (default:\n"
	"                      [runtime] drain_timeout_ms)\n"
	"Exit: 0 stopped, 1 jobs or the runner outlived the deadline, 2 usage,\n"
	"3 cannot attach.\n";

static const char destroy_usage[] =
	"usage: shmrt destroy [-c FILE] [-t TENANT] [--force]\n"
	"Removes the tenant's segment /dev/shm/shmrt.TENANT. Refuses while\n"
	"the tenant runs (its creator or any participant is alive), or when\n"
	"the file is not a valid segment, unless --force.\n"
	"Exit: 0 removed, 1 refused, 2 usage, 3 no such segment.\n";

/* -c/-t/--help parsing shared by the three; `extra` handles the rest. */
static int parse(int argc, char **argv, const char *usage,
		 const struct option *more, struct cli_target *t,
		 int (*extra)(int c, const char *arg, void *ctx), void *ctx)
{
	struct option opts[8] = {
		{ "conf", required_argument, NULL, 'c' },
		{ "tenant", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
	};
	int c, n = 3;

	while (more != NULL && more->name != NULL && n < 7)
		opts[n++] = *more++;
	while ((c = getopt_long(argc, argv, "c:t:h", opts, NULL)) != -1) {
		if (c == 'c') {
			t->conf_arg = optarg;
		} else if (c == 't') {
			t->tenant_arg = optarg;
		} else if (c == 'h') {
			fputs(usage, stdout);
			return -1;
		} else if (c == '?' || extra == NULL ||
			   extra(c, optarg, ctx) != 0) {
			fputs(usage, stderr);
			return CLI_USAGE;
		}
	}
	if (optind != argc)
		return cli_usage_error(usage, "unexpected argument '%s'",
				       argv[optind]);
	return cli_target_load(argv[0], t);
}

/* ----------------------------------------------------------------- scan */

int cli_scan(int argc, char **argv)
{
	static struct cli_target t;
	struct shmrt_scan_stats st;
	int rc;

	if ((rc = parse(argc, argv, scan_usage, NULL, &t, NULL, NULL)) != 0)
		return rc < 0 ? CLI_OK : rc;
	if ((rc = cli_target_attach("scan", &t)) != CLI_OK)
		return rc;
	memset(&st, 0, sizeof(st));
	rc = shmrt_scan(t.tenant, &st);
	if (rc != 0)
		cli_error("scan", "%s", shmrt_last_error());
	else
		printf("dead participants %u\njobs requeued     %u\n"
		       "jobs failed       %u\nring cells fixed  %u\n"
		       "jobs expired      %u\n", st.dead_participants,
		       st.jobs_requeued, st.jobs_failed, st.cells_repaired,
		       st.jobs_expired);
	shmrt_tenant_detach(t.tenant);
	return rc == 0 ? CLI_OK : CLI_FAILED;
}

/* ----------------------------------------------------------------- stop */

static int stop_opt(int c, const char *arg, void *ctx)
{
	return c == 'd' && cli_parse_u64(arg, 86400000u, ctx) ? 0 : -1;
}

/* Until deadline_ns: the tenant's runner has exited. */
static bool stop_runner_gone(const char *tenant, uint64_t deadline_ns,
			     int32_t *pid)
{
	struct shmrt_tenant_runner run;

	while (shmrt_tenant_get_runner(tenant, &run) == 0 && run.alive) {
		*pid = run.pid;
		if (cli_now_ns() >= deadline_ns)
			return false;
		cli_sleep_ms(5);
	}
	return true;
}

/*
 * shmrt_tenant_drain takes no participant record, so the runner's own
 * stop, which waits for every other participant to leave, does not wait
 * for us.
 */
static int stop_tenant(struct cli_target *t, uint64_t drain_ms)
{
	struct shmrt_tenant_runner run;
	bool drained, gone;
	int32_t pid;

	if (shmrt_tenant_get_runner(t->tenant, &run) != 0) {
		cli_error("stop", "%s", shmrt_last_error());
		shmrt_tenant_detach(t->tenant);
		return CLI_NOATTACH;
	}
	pid = run.pid;
	drained = shmrt_tenant_drain(t->tenant, (uint32_t)drain_ms) == 0;
	gone = stop_runner_gone(t->tenant, cli_now_ns() + drain_ms * 1000000u +
						   2000000000u, &pid);
	shmrt_tenant_detach(t->tenant);
	if (!drained)
		cli_error("stop", "jobs were still queued or running after "
			  "%llu ms", (unsigned long long)drain_ms);
	if (!gone && run.pid == 0)
		cli_error("stop", "workers of tenant %s are still registered",
			  t->tenant);
	else if (!gone)
		cli_error("stop", "the runner, pid %d, has not exited",
			  (int)pid);
	if (drained && gone && run.pid == 0) /* a server's tenant (redis) */
		printf("stopped tenant %s (its workers on every host left)\n",
		       t->tenant);
	else if (drained && gone)
		printf("stopped tenant %s (runner pid %d)\n", t->tenant,
		       (int)pid);
	return drained && gone ? CLI_OK : CLI_FAILED;
}

int cli_stop(int argc, char **argv)
{
	static const struct option more[] = {
		{ "drain-timeout", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	static struct cli_target t;
	uint64_t drain_ms = UINT64_MAX;
	int rc;

	if ((rc = parse(argc, argv, stop_usage, more, &t, stop_opt,
			&drain_ms)) != 0)
		return rc < 0 ? CLI_OK : rc;
	if (drain_ms == UINT64_MAX)
		drain_ms = t.conf.drain_timeout_ms;
	if ((rc = cli_target_attach("stop", &t)) != CLI_OK)
		return rc;
	return stop_tenant(&t, drain_ms);
}

/* -------------------------------------------------------------- destroy */

static int destroy_opt(int c, const char *arg, void *ctx)
{
	(void)arg;
	if (c != 'f')
		return -1;
	*(bool *)ctx = true;
	return 0;
}

static int destroy_checked(const char *tenant, bool force)
{
	int rc = shmrt_tenant_destroy(tenant, force);

	if (rc == 0) {
		printf("removed /dev/shm/shmrt.%s\n", tenant);
		return CLI_OK;
	}
	if (rc == SHMRT_E_NOENT) {
		cli_error("destroy", "no segment for tenant %s", tenant);
		return CLI_NOATTACH;
	}
	if (rc == SHMRT_E_BUSY || rc == SHMRT_E_SYS) {
		cli_error("destroy", "%s", shmrt_last_error());
		return CLI_FAILED;
	}
	cli_error("destroy", "%s (--force removes it)", shmrt_last_error());
	return CLI_NOATTACH;
}

int cli_destroy(int argc, char **argv)
{
	static const struct option more[] = {
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	static struct cli_target t;
	bool force = false;
	int rc;

	if ((rc = parse(argc, argv, destroy_usage, more, &t, destroy_opt,
			&force)) != 0)
		return rc < 0 ? CLI_OK : rc;
	if (t.conf.backend == SHMRT_CONF_BACKEND_REDIS) {
		cli_error("destroy", "tenant %s uses backend redis (%s): it "
			  "has no segment; its finished jobs expire after "
			  "retention_ms", t.tenant, t.conf.redis);
		return CLI_FAILED;
	}
	return destroy_checked(t.tenant, force);
}
