/*
 * tests/redis/test_cli.c - the `shmrt` command, unchanged, on the redis
 * backend: run, worker (on a "second host": its own mount namespace and
 * a private /dev/shm), enqueue, status, stat, stop and demo, each a
 * process of the built binary against a private redis-server.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "redis_fixture.h"
#include "testutil.h"

#define CLI_MS 60000

/* Run the CLI with argv to its end; its stdout into out. Returns its
 * exit status. */
static int cli(char **argv, char *out, size_t cap)
{
	char o[128], e[128], err[1024];
	int rc;

	snprintf(o, sizeof(o), "%s/cli.out", tu_srv.dir);
	snprintf(e, sizeof(e), "%s/cli.err", tu_srv.dir);
	rc = tu_wait_child(tu_spawn_cli(o, e, argv), CLI_MS);
	tu_slurp(o, out, cap);
	tu_slurp(e, err, sizeof(err));
	if (rc != 0)
		printf("%s %s: exit %d: %s", argv[1], argv[2], rc, err);
	return rc;
}

/* Until the runner's log says it runs (or it exited). */
static bool runner_up(const char *log, pid_t pid)
{
	char text[1024];
	int k;

	for (k = 0; k < 1000; k++) {
		tu_slurp(log, text, sizeof(text));
		if (strstr(text, "running") != NULL)
			return true;
		if (kill(pid, 0) != 0)
			return false;
		usleep(10000);
	}
	return false;
}

static void test_commands_on_redis(void **state)
{
	const char *tenant = tu_tenant();
	char conf[128], rlog[128], rerr[128], wlog[128], out[4096], id[32];
	char *run[] = { "shmrt", "run", "-c", conf, "-t", (char *)tenant,
			NULL };
	char *enq[] = { "shmrt", "enqueue", "-c", conf, "-t", (char *)tenant,
			"q", "--data", "0 ok cli", "--wait", "--timeout",
			"20000", NULL };
	char *enq2[] = { "shmrt", "enqueue", "-c", conf, "-t", (char *)tenant,
			 "q", "--data", "0 ok two", NULL };
	char *status[] = { "shmrt", "status", "-c", conf, "-t",
			   (char *)tenant, id, NULL };
	char *stat[] = { "shmrt", "stat", "-c", conf, "-t", (char *)tenant,
			 "--prometheus", NULL };
	char *stop[] = { "shmrt", "stop", "-c", conf, "-t", (char *)tenant,
			 NULL };
	char *destroy[] = { "shmrt", "destroy", "-c", conf, "-t",
			    (char *)tenant, NULL };
	pid_t runner, worker;

	(void)state;
	snprintf(conf, sizeof(conf), "%s/%s.ini", tu_srv.dir, tenant);
	snprintf(rlog, sizeof(rlog), "%s/%s.run", tu_srv.dir, tenant);
	snprintf(rerr, sizeof(rerr), "%s/%s.runerr", tu_srv.dir, tenant);
	snprintf(wlog, sizeof(wlog), "%s/%s.worker", tu_srv.dir, tenant);
	/* The runner starts no workers of its own (workers = 0): the only
	 * worker is on the second host. */
	tu_redis_conf(&tu_srv, conf, tenant, "heartbeat_timeout_ms = 1000\n",
		      "[queue q]\nhandler = probe\nworkers = 0\n");
	runner = tu_spawn_cli(rlog, rerr, run);
	assert_true(runner_up(rlog, runner));
	worker = tu_redis_worker(conf, tenant, "q", SHMRT_PROBE_SO, wlog,
				 true);
	assert_true(worker > 0);

	assert_int_equal(cli(enq, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "succeeded"));
	assert_int_equal(cli(enq2, out, sizeof(out)), 0);
	snprintf(id, sizeof(id), "%llu", strtoull(out, NULL, 10));
	assert_true(strtoull(id, NULL, 10) > 0);
	usleep(300000);
	assert_int_equal(cli(status, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "pid="));
	assert_int_equal(cli(stat, out, sizeof(out)), 0);
	if (strstr(out, "shmrt_jobs_succeeded_total{tenant=\"") == NULL ||
	    strstr(out, "queue=\"q\"} 2\n") == NULL)
		fail_msg("stat: %s", out);

	assert_int_equal(cli(destroy, out, sizeof(out)), 1); /* no segment */
	assert_int_equal(cli(stop, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "stopped tenant"));
	assert_int_equal(tu_wait_child(worker, CLI_MS), 0);
	assert_int_equal(tu_wait_child(runner, CLI_MS), 0);
}

/* The README's demo command on the redis backend. */
static void test_demo_on_redis(void **state)
{
	char conf[128], out[16384];
	char *demo[] = { "shmrt", "demo", "-c", conf, NULL };
	FILE *in = fopen(SHMRT_SOURCE_DIR "/conf/shmrt-redis.ini", "r");
	FILE *f;
	char line[256];

	(void)state;
	assert_non_null(in);
	snprintf(conf, sizeof(conf), "%s/demo.ini", tu_srv.dir);
	f = fopen(conf, "w");
	assert_non_null(f);
	while (fgets(line, sizeof(line), in) != NULL)
		if (strncmp(line, "redis = ", 8) == 0)
			fprintf(f, "redis = %s\n", tu_srv.addr);
		else
			fputs(line, f);
	fclose(in);
	fclose(f);
	assert_int_equal(cli(demo, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "on backend redis"));
	assert_non_null(strstr(out, "held in 50/50 conversations"));
	assert_non_null(strstr(out, "demo passed"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commands_on_redis),
		cmocka_unit_test(test_demo_on_redis),
	};

	return cmocka_run_group_tests(tests, tu_redis_group_setup,
				      tu_redis_group_teardown);
}
