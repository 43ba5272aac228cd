/*
 * bench/main.c - shmrt_bench: shmrt against the floors and the
 * alternatives, measured side by side in one run.
 *
 *   shmrt_bench [--smoke] [--only a,b] [--redis-port N] [--json PATH]
 *               [--plot PATH | --no-plot] [--python PATH] [--shmrt PATH]
 *
 * Prints a table per workload with ratios to the baselines measured in
 * the same run, then the goals (issues 6 and 10); writes the figures and the
 * machine description as JSON, and the latency distributions as a PNG
 * when gnuplot is installed. Progress goes to stderr. Exits 0 unless a
 * measurement broke; a missing peer (redis-server, python3-rq, gnuplot)
 * is skipped with a message. See bench/README.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "proc.h"
#include "results.h"

#ifndef SHMRT_BENCH_SOURCE_DIR
#define SHMRT_BENCH_SOURCE_DIR "bench"
#endif
#ifndef SHMRT_BENCH_SHMRT_EXE
#define SHMRT_BENCH_SHMRT_EXE "build/shmrt"
#endif
#ifndef SHMRT_BENCH_CONF
#define SHMRT_BENCH_CONF "conf/shmrt.ini"
#endif

struct workload {
	const char *name;
	void (*fn)(const struct bench_cfg *c);
	const char *what;
};

static const struct workload workloads[] = {
	{ "floors", bench_floors, "floors: spin and futex ping-pong" },
	{ "ipc", bench_ipc, "alternatives: pipe, unix socket, posix mq" },
	{ "ring", bench_ring, "raw ring: ck_ring SPSC and MPMC" },
	{ "redis", bench_redis, "redis: LPUSH/BRPOP through hiredis" },
	{ "rq", bench_rq, "rq: python3-rq burst worker" },
	{ "latency", bench_shmrt_latency, "shmrt: latency, one job at a time" },
	{ "throughput", bench_shmrt_throughput,
	  "shmrt: throughput, engine only (internal API)" },
	{ "api", bench_shmrt_api, "shmrt: throughput through the public API" },
	{ "wake", bench_shmrt_wake,
	  "shmrt: a job arriving at an idle tenant, 1 and 6 workers" },
	{ "idle", bench_shmrt_idle,
	  "shmrt: the default tenant idle (wakeups, CPU)" },
	{ "depth", bench_shmrt_depth, "shmrt: per-job cost vs queue depth" },
	{ "keys", bench_shmrt_keys, "shmrt: per-job cost vs lanes, keys" },
	{ "oversub", bench_shmrt_oversub, "shmrt: oversubscription" },
	{ "memory", bench_shmrt_memory, "shmrt: memory" },
	{ "tenants", bench_shmrt_tenants,
	  "shmrt: 1, 100, 1000 tenants in one process" },
	{ "redis-backend", bench_shmrt_redis,
	  "shmrt on the redis backend, workers on a second host" },
};

#define NWORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

const struct bench_child_entry bench_child_table[] = {
	{ "floor", bench_floors_child },
	{ "ipc", bench_ipc_child },
	{ "ring", bench_ring_child },
	{ "redis", bench_redis_child },
	{ "worker", bench_worker_child },
	{ "oversub", bench_oversub_child },
	{ "mutex-ring", bench_mutex_ring_child },
	{ "rss", bench_rss_child },
	{ "exec", bench_exec_child },
	{ "tick", bench_tick_child },
	{ "redis-worker", bench_shmrt_redis_child },
	{ NULL, NULL },
};

struct options {
	struct bench_cfg cfg;
	const char *only;
	const char *json;
	const char *plot;
	int no_plot;
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f,
		"usage: shmrt_bench [--smoke] [--only NAME[,NAME...]] "
		"[--redis-port PORT]\n"
		"                   [--json PATH] [--plot PATH | --no-plot] "
		"[--python PATH]\n"
		"  --smoke       tiny counts: every workload in seconds "
		"(CI); figures are not meaningful\n"
		"  --redis-port  a redis-server on 127.0.0.1 for the redis "
		"and rq workloads\n"
		"                (also SHMRT_BENCH_REDIS_PORT; "
		"scripts/bench.sh starts one)\n"
		"  --json        results file (default bench/out/results.json;\n"
		"                with --smoke, smoke-out/ beside the binary)\n"
		"  --plot        latency plot (default bench/out/latency.png)\n"
		"  --python      interpreter with python3-rq "
		"(default /usr/bin/python3)\n"
		"  --shmrt       the shmrt command for the api, wake and idle "
		"workloads\n"
		"                (default: the one built beside this "
		"benchmark)\n"
		"workloads:\n");
	for (i = 0; i < NWORKLOADS; i++)
		fprintf(f, "  %-11s %s\n", workloads[i].name,
			workloads[i].what);
}

static int parse(int argc, char **argv, struct options *o)
{
	const char *port = getenv("SHMRT_BENCH_REDIS_PORT");
	int i;

	memset(o, 0, sizeof(*o));
	o->cfg.python = "/usr/bin/python3";
	o->cfg.rq_script = SHMRT_BENCH_SOURCE_DIR "/rq_job.py";
	o->cfg.out_dir = SHMRT_BENCH_SOURCE_DIR "/out";
	o->cfg.shmrt_exe = SHMRT_BENCH_SHMRT_EXE;
	o->cfg.conf = SHMRT_BENCH_CONF;
	if (port != NULL)
		o->cfg.redis_port = atoi(port);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--smoke") == 0) {
			o->cfg.smoke = true;
			continue;
		}
		if (strcmp(a, "--no-plot") == 0) {
			o->no_plot = 1;
			continue;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (v == NULL)
			return -1;
		if (strcmp(a, "--only") == 0)
			o->only = v;
		else if (strcmp(a, "--redis-port") == 0)
			o->cfg.redis_port = atoi(v);
		else if (strcmp(a, "--json") == 0)
			o->json = v;
		else if (strcmp(a, "--plot") == 0)
			o->plot = v;
		else if (strcmp(a, "--python") == 0)
			o->cfg.python = v;
		else if (strcmp(a, "--shmrt") == 0)
			o->cfg.shmrt_exe = v;
		else
			return -1;
		i++;
	}
	return 0;
}

/* Whether `name` is in the comma-separated list (NULL: all). */
static int selected(const char *only, const char *name)
{
	size_t n = strlen(name);
	const char *p = only;

	if (only == NULL)
		return 1;
	while ((p = strstr(p, name)) != NULL) {
		if ((p == only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return 1;
		p += n;
	}
	return 0;
}

static int check_only(const char *only)
{
	const char *p = only;

	while (p != NULL && *p != '\0') {
		size_t n = strcspn(p, ","), i;
		int known = 0;

		for (i = 0; i < NWORKLOADS; i++)
			known |= strlen(workloads[i].name) == n &&
				 strncmp(p, workloads[i].name, n) == 0;
		if (!known) {
			fprintf(stderr, "shmrt_bench: unknown workload %.*s\n",
				(int)n, p);
			return -1;
		}
		p += n + (p[n] == ',');
	}
	return 0;
}

static void run_workloads(const struct options *o)
{
	size_t i;
	int steps = 0;

	for (i = 0; i < NWORKLOADS; i++)
		steps += selected(o->only, workloads[i].name);
	bench_progress_total(steps);
	for (i = 0; i < NWORKLOADS; i++) {
		if (!selected(o->only, workloads[i].name))
			continue;
		bench_progress_step(workloads[i].what);
		workloads[i].fn(&o->cfg);
	}
	bench_progress_end();
}

/*
 * Where the JSON and the plot go unless named: bench/out for a full run;
 * for a smoke run (CI) build/bench/smoke-out, beside the binary, so that
 * CI leaves nothing in the source tree.
 */
static void default_out_dir(const struct options *o, char *out, size_t len)
{
	char exe[900];
	ssize_t n;

	snprintf(out, len, "%s", o->cfg.out_dir);
	if (!o->cfg.smoke)
		return;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return;
	exe[n] = '\0';
	if (strrchr(exe, '/') != NULL)
		*strrchr(exe, '/') = '\0';
	snprintf(out, len, "%s/smoke-out", exe);
}

/* Tables and goals on stdout, then the JSON and the plot. */
static int report(const struct options *o)
{
	char dir[1024], json[1100], plot[1100];
	struct bench_machine m;
	int rc = 0;

	bench_machine_describe(&m);
	bench_report_tables(&m, o->cfg.smoke);
	bench_report_goals();
	default_out_dir(o, dir, sizeof(dir));
	if (o->json == NULL || o->plot == NULL) {
		if (mkdir(dir, 0755) != 0 && errno != EEXIST)
			fprintf(stderr, "shmrt_bench: mkdir %s: %s\n", dir,
				strerror(errno));
	}
	snprintf(json, sizeof(json), "%s/results.json", dir);
	snprintf(plot, sizeof(plot), "%s/latency.png", dir);
	if (bench_report_json(o->json ? o->json : json, &m, o->cfg.smoke) != 0)
		rc = -1;
	else
		printf("\nresults: %s\n", o->json ? o->json : json);
	if (!o->no_plot &&
	    bench_report_plot(o->plot ? o->plot : plot, &m) == 0)
		printf("plot:    %s\n", o->plot ? o->plot : plot);
	return rc;
}

int main(int argc, char **argv)
{
	struct options o;
	int rc;

	if (argc >= 2 && strcmp(argv[1], "__child") == 0)
		return bench_child_main(argc, argv);
	if (parse(argc, argv, &o) != 0 || check_only(o.only) != 0) {
		usage(stderr);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	bench_proc_init();
	run_workloads(&o);
	rc = report(&o);
	if (bench_failed()) {
		fprintf(stderr, "shmrt_bench: some measurements FAILED "
				"(see the tables)\n");
		return 1;
	}
	return rc == 0 ? 0 : 1;
}
