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
#include "runtime/queue_backend_factory.h"
#include "runtime/queue_runtime.h"
#include "shm/os.h"
#include "shm/participant.h"
#include "shm/segment.h"

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
		fprintf(stderr, "shmrt scan: %s\n", shmrt_last_error());
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

/* Until deadline: no job queued or running. */
static bool stop_drained(struct shmrt__backend *be, uint64_t deadline)
{
	while (shmrt__qrt_busy(be) > 0) {
		if (shmrt__os_now_ns() >= deadline)
			return false;
		shmrt__os_sleep_ns(5000000);
	}
	return true;
}

/* Until deadline: the segment's creator (the runner) has exited. */
static bool stop_runner_gone(pid_t pid, uint64_t start, uint64_t deadline)
{
	while (shmrt__os_proc_alive(pid, start)) {
		if (shmrt__os_now_ns() >= deadline)
			return false;
		shmrt__os_sleep_ns(5000000);
	}
	return true;
}

/* What stop says: what outlived the drain (still), or what it stopped. */
static int stop_said(const struct cli_target *t, uint64_t drain_ms,
		     bool drained, bool gone, const char *still,
		     const char *done)
{
	if (!drained)
		fprintf(stderr, "shmrt stop: jobs were still queued or running "
			"after %llu ms\n", (unsigned long long)drain_ms);
	if (!gone)
		fprintf(stderr, "shmrt stop: %s\n", still);
	if (drained && gone)
		printf("stopped tenant %s (%s)\n", t->tenant, done);
	return drained && gone ? CLI_OK : CLI_FAILED;
}

/* Until deadline: every worker seat, on any host, has left. */
static bool stop_seats_gone(struct shmrt__backend *be, uint64_t deadline)
{
	while (be->ops->peers(be) > 0) {
		if (shmrt__os_now_ns() >= deadline)
			return false;
		shmrt__os_sleep_ns(20000000);
	}
	return true;
}

/*
 * A tenant whose jobs live in a server (redis): the runner may be on
 * another host, so its pid means nothing here. Drain and stop through
 * the engine's state, then wait until the workers of every host left
 * (the runner leaves when it sees the state).
 */
static int stop_engine(struct cli_target *t, struct shmrt__backend *be,
		       uint64_t drain_ms)
{
	uint64_t deadline = shmrt__os_now_ns() + drain_ms * 1000000u;
	const char *name = be->name; /* static storage */
	char still[128], done[64];
	bool drained, gone;

	if (be->ops->state(be) == SHMRT__BE_READY)
		be->ops->set_state(be, SHMRT__BE_DRAINING);
	drained = stop_drained(be, deadline);
	be->ops->set_state(be, SHMRT__BE_STOPPED);
	gone = stop_seats_gone(be, deadline + 2000000000u);
	shmrt__backend_put(be);
	shmrt_tenant_detach(t->tenant);
	snprintf(still, sizeof(still), "workers of tenant %s are still "
		 "registered", t->tenant);
	snprintf(done, sizeof(done), "backend %s", name);
	return stop_said(t, drain_ms, drained, gone, still, done);
}

/*
 * No participant record is taken here (no enqueue, no scan), so the
 * runner's own stop, which waits for every other participant to leave,
 * does not wait for us.
 */
static int stop_tenant(struct cli_target *t, uint64_t drain_ms)
{
	struct shmrt__backend *be = shmrt__backend_lookup(t->tenant);
	struct shmrt__seg view;
	uint64_t deadline = shmrt__os_now_ns() + drain_ms * 1000000u;
	char still[128], done[64];
	bool drained, gone;
	pid_t pid;
	uint64_t start;

	memset(&view, 0, sizeof(view));
	if (be != NULL && strcmp(be->name, "redis") == 0)
		return stop_engine(t, be, drain_ms);
	if (be == NULL || shmrt__seg_attach(t->tenant, &view) != 0) {
		fprintf(stderr, "shmrt stop: %s\n", shmrt_last_error());
		shmrt__backend_put(be);
		return CLI_NOATTACH;
	}
	shmrt__seg_creator(&view, &pid, &start);
	shmrt__seg_detach(&view);
	if (be->ops->state(be) == SHMRT__BE_READY)
		be->ops->set_state(be, SHMRT__BE_DRAINING);
	drained = stop_drained(be, deadline);
	be->ops->set_state(be, SHMRT__BE_STOPPED);
	shmrt__backend_put(be);
	gone = stop_runner_gone(pid, start, deadline + 2000000000u);
	shmrt_tenant_detach(t->tenant);
	snprintf(still, sizeof(still), "the runner, pid %d, has not exited",
		 (int)pid);
	snprintf(done, sizeof(done), "runner pid %d", (int)pid);
	return stop_said(t, drain_ms, drained, gone, still, done);
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

/* Live participants other than none of ours (we never join). */
static uint32_t live_participants(const struct shmrt__seg *seg)
{
	uint32_t i, n = 0;

	for (i = 0; i < seg->nparticipants; i++) {
		uint64_t owner = __atomic_load_n(&seg->parts[i].owner,
						 __ATOMIC_ACQUIRE);

		n += owner != 0 && shmrt__part_owner_alive(owner);
	}
	return n;
}

static int destroy_checked(const char *tenant, bool force)
{
	struct shmrt__seg seg;
	pid_t pid = 0;
	uint64_t start = 0;
	int rc;
	bool creator;
	uint32_t live;

	memset(&seg, 0, sizeof(seg));
	rc = shmrt__seg_attach(tenant, &seg);
	if (rc == SHMRT_E_NOENT) {
		fprintf(stderr, "shmrt destroy: no segment for tenant %s\n",
			tenant);
		return CLI_NOATTACH;
	}
	if (rc != 0 && !force) {
		fprintf(stderr, "shmrt destroy: %s (--force removes it)\n",
			shmrt_last_error());
		return CLI_NOATTACH;
	}
	if (rc == 0)
		shmrt__seg_creator(&seg, &pid, &start);
	creator = rc == 0 && pid != 0 && shmrt__os_proc_alive(pid, start);
	live = rc == 0 ? live_participants(&seg) : 0;
	if (rc == 0 && (creator || live > 0) && !force) {
		fprintf(stderr, "shmrt destroy: tenant %s is running (creator "
			"pid %d %s, %u live participants): stop it first, "
			"or --force\n", tenant, (int)pid,
			creator ? "alive" : "gone", live);
		shmrt__seg_detach(&seg);
		return CLI_FAILED;
	}
	shmrt__seg_detach(&seg);
	if (shmrt__seg_destroy(tenant) != 0) {
		fprintf(stderr, "shmrt destroy: %s\n", shmrt_last_error());
		return CLI_FAILED;
	}
	printf("removed /dev/shm/shmrt.%s\n", tenant);
	return CLI_OK;
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
		fprintf(stderr, "shmrt destroy: tenant %s uses backend redis "
			"(%s): it has no segment; its finished jobs expire "
			"after retention_ms\n", t.tenant, t.conf.redis);
		return CLI_FAILED;
	}
	return destroy_checked(t.tenant, force);
}
