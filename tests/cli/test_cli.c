/*
 * tests/cli/test_cli.c - black-box tests of the `shmrt` binary
 * (SHMRT_CLI_BIN): every subcommand's happy path, usage errors, attach
 * errors and the exit statuses (0 ok, 1 failed or timed out, 2 usage,
 * 3 cannot attach).
 *
 * Each case writes its own configuration with a unique tenant and points
 * SHMRT_CONF at it, so -c's default is exercised too. Children are
 * spawned with posix_spawn, their stdout and stderr go to files, and
 * every wait has a deadline (tu_wait_child kills a child that overruns).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm/os.h"
#include "testutil.h"

extern char **environ;

#define OUT_MAX 65536

static char conf_path[256], out_path[256], err_path[256];
static const char *tenant;
static pid_t runner;

struct res {
	int status;
	char out[OUT_MAX];
	char err[OUT_MAX];
};

static struct res r;

/* Run `shmrt ARGS...` (NULL-terminated) to completion into r. */
static int shmrt(const char *arg, ...)
{
	char *argv[32];
	va_list ap;
	int n = 0;

	argv[n++] = "shmrt";
	va_start(ap, arg);
	for (; arg != NULL && n < 31; arg = va_arg(ap, const char *))
		argv[n++] = (char *)arg;
	va_end(ap);
	argv[n] = NULL;
	r.status = tu_wait_child(tu_spawn_cli(out_path, err_path, argv), 60000);
	tu_slurp(out_path, r.out, OUT_MAX);
	tu_slurp(err_path, r.err, OUT_MAX);
	return r.status;
}

#define EXPECT(status, ...)                                               \
	do {                                                              \
		int st_ = shmrt(__VA_ARGS__, NULL);                       \
		if (st_ != (status))                                      \
			print_error("shmrt exit %d, expected %d\nstdout: " \
				    "%s\nstderr: %s\n", st_, (status),    \
				    r.out, r.err);                        \
		assert_int_equal(st_, (status));                          \
	} while (0)

static void write_conf(void)
{
	FILE *f;

	tenant = tu_tenant();
	snprintf(conf_path, sizeof(conf_path), "/tmp/%s.ini", tenant);
	snprintf(out_path, sizeof(out_path), "/tmp/%s.out", tenant);
	snprintf(err_path, sizeof(err_path), "/tmp/%s.err", tenant);
	f = fopen(conf_path, "w");
	assert_non_null(f);
	fprintf(f, "[runtime]\nmode = process\ndrain_timeout_ms = 3000\n"
		"[tenant %s]\n"
		"[queue echo]\nhandler = builtin.echo\nworkers = 2\n"
		"[queue fail]\nhandler = builtin.fail\nworkers = 1\n"
		"max_attempts = 1\n"
		"[queue sleep]\nhandler = builtin.sleep\nworkers = 1\n"
		"[queue lanes]\nhandler = builtin.echo\nlaned = true\n"
		"[queue keyed]\nhandler = builtin.echo\n"
		"idempotency_ttl_ms = 60000\n", tenant);
	fclose(f);
	setenv("SHMRT_CONF", conf_path, 1);
}

static int setup(void **state)
{
	(void)state;
	unsetenv("SHMRT_MODE");
	write_conf();
	return 0;
}

static int teardown(void **state)
{
	char *argv[] = { "shmrt", "destroy", "--force", NULL };

	(void)state;
	if (runner > 0) {
		kill(runner, SIGKILL);
		waitpid(runner, NULL, 0);
		runner = 0;
	}
	tu_wait_child(tu_spawn_cli("/dev/null", "/dev/null", argv), 10000);
	unlink(conf_path);
	unlink(out_path);
	unlink(err_path);
	return 0;
}

/* `shmrt run` in the background; returns once `stat` attaches. */
static void start_runner(void)
{
	char run_out[300], *argv[] = { "shmrt", "run", NULL };
	uint64_t deadline = tu_deadline_ms(20000);

	snprintf(run_out, sizeof(run_out), "%s.run", out_path);
	runner = tu_spawn_cli(run_out, "/dev/null", argv);
	while (shmrt("stat", NULL) != 0) {
		assert_true(shmrt__os_now_ns() < deadline);
		shmrt__os_sleep_ns(20000000);
	}
}

static int stop_runner(void)
{
	char run_out[300];
	int st;

	EXPECT(0, "stop");
	st = tu_wait_child(runner, 20000);
	runner = 0;
	snprintf(run_out, sizeof(run_out), "%s.run", out_path);
	tu_slurp(run_out, r.out, OUT_MAX);
	unlink(run_out);
	return st;
}

/* --------------------------------------------------------------- usage */

static void test_usage_and_help(void **state)
{
	static const char *cmds[] = { "run", "worker", "enqueue", "status",
				      "stat", "scan", "stop", "destroy",
				      "demo" };
	size_t i;
	char *argv[] = { "shmrt", NULL };

	(void)state;
	r.status = tu_wait_child(tu_spawn_cli(out_path, err_path, argv), 10000);
	assert_int_equal(r.status, 2);
	EXPECT(0, "--help");
	assert_non_null(strstr(r.out, "usage: shmrt"));
	/* The configuration's search path, to its installed place. */
	assert_non_null(strstr(r.out, "$SHMRT_CONF, else ./conf/shmrt.ini"));
	assert_non_null(strstr(r.out, "Installed configuration: /"));
	assert_non_null(strstr(r.out, "/shmrt/shmrt.ini\n"));
	EXPECT(2, "frobnicate");
	assert_non_null(strstr(r.err, "unknown command"));
	EXPECT(0, "--version");
	assert_string_equal(r.out, "shmrt " SHMRT_PROJECT_VERSION "\n");
	EXPECT(0, "-V");
	assert_string_equal(r.out, "shmrt " SHMRT_PROJECT_VERSION "\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		EXPECT(0, cmds[i], "--help");
		assert_non_null(strstr(r.out, "usage: shmrt"));
		assert_string_equal(r.err, "");
		EXPECT(2, cmds[i], "--no-such-option");
		assert_non_null(strstr(r.err, "usage: shmrt"));
	}
	EXPECT(2, "enqueue");                         /* no queue */
	EXPECT(2, "enqueue", "nosuchqueue");
	assert_non_null(strstr(r.err, "no queue 'nosuchqueue'"));
	EXPECT(2, "enqueue", "echo", "--data", "a", "--data-file", "/dev/null");
	EXPECT(2, "enqueue", "echo", "--timeout", "5");
	EXPECT(2, "enqueue", "echo", "--wait", "--timeout", "soon");
	EXPECT(2, "status");
	EXPECT(2, "status", "not-an-id");
	EXPECT(2, "stat", "--json", "--prometheus");
	EXPECT(2, "stop", "--drain-timeout", "later");
	EXPECT(2, "run", "--mode", "threads");
	EXPECT(2, "scan", "extra");
	EXPECT(2, "stat", "-t", "nosuchtenant");
	assert_non_null(strstr(r.err, "no [tenant nosuchtenant]"));
	EXPECT(2, "stat", "-c", "/nonexistent/shmrt.ini");
}

/*
 * What comes from outside is escaped and cut in messages: control bytes
 * as \xNN (valid UTF-8 passes), a 100 KB argument cut to a few hundred
 * bytes. A --data-file that cannot be read is an error: nothing is
 * enqueued (no id is printed), exit 1. No tenant runs: each fails first.
 */
static void test_messages_escaped_and_cut(void **state)
{
	static char big[100001];

	(void)state;
	EXPECT(2, "enqueue", "q\x1b[2J\x07\xc2\x9b\xff");
	assert_non_null(strstr(r.err, "no queue 'q\\x1b[2J\\x07\\xc2\\x9b"
				      "\\xff' in "));
	assert_null(strchr(r.err, '\x1b'));
	assert_null(strchr(r.err, '\x07'));
	EXPECT(2, "enqueue", "caf\xc3\xa9");
	assert_non_null(strstr(r.err, "no queue 'caf\xc3\xa9' in "));
	memset(big, 'a', sizeof(big) - 1);
	EXPECT(2, "enqueue", big);
	assert_non_null(strstr(r.err, "...(cut: 100"));
	assert_true(strchr(r.err, '\n') - r.err < 600);
	EXPECT(2, "stat", "-t", big);
	assert_true(strlen(r.err) < 600);
	EXPECT(1, "enqueue", "echo", "--data-file", "/tmp");
	assert_string_equal(r.out, "");
	assert_string_equal(r.err, "shmrt enqueue: --data-file /tmp: Is a "
			    "directory\n");
	EXPECT(1, "enqueue", "echo", "--data-file", "/nonexistent/payload");
	assert_string_equal(r.out, "");
	assert_non_null(strstr(r.err, "No such file or directory"));
}

/* -------------------------------------------------------- attach errors */

static void test_attach_errors(void **state)
{
	(void)state;
	EXPECT(3, "enqueue", "echo", "--data", "x");
	assert_non_null(strstr(r.err, "cannot attach"));
	EXPECT(3, "status", "12345");
	EXPECT(3, "stat");
	EXPECT(3, "stat", "--json");
	EXPECT(3, "scan");
	EXPECT(3, "stop");
	EXPECT(3, "destroy");
	EXPECT(3, "worker", "-q", "echo");
}

/* ---------------------------------------------------------- happy paths */

static void test_run_enqueue_status_stat_stop(void **state)
{
	char id[32];

	(void)state;
	start_runner();
	EXPECT(0, "enqueue", "echo", "--data", "hello");
	assert_int_equal(sscanf(r.out, "%31s", id), 1);
	EXPECT(0, "enqueue", "echo", "--data", "world", "--wait");
	assert_non_null(strstr(r.out, "succeeded\nworld\n"));
	EXPECT(0, "status", id);
	assert_non_null(strstr(r.out, "succeeded"));
	EXPECT(0, "status", id, "--json");
	assert_non_null(strstr(r.out, "\"state\":\"succeeded\""));
	assert_non_null(strstr(r.out, "\"result\":\"hello\""));
	EXPECT(1, "status", "999999");                  /* no such job */
	assert_non_null(strstr(r.err, "shmrt status: status of job 999999 of "
				      "tenant "));
	assert_non_null(strstr(r.err, ": no such job"));
	/* A job that fails: enqueue --wait and status exit 1. */
	EXPECT(1, "enqueue", "fail", "--data", "disk on fire", "--wait");
	assert_non_null(strstr(r.out, "failed\ndisk on fire"));
	assert_int_equal(sscanf(r.out, "%31s", id), 1);
	EXPECT(1, "status", id);
	/* A wait that times out. */
	EXPECT(1, "enqueue", "sleep", "--data", "1500", "--wait",
	       "--timeout", "100");
	assert_non_null(strstr(r.err, "shmrt enqueue: wait for job "));
	assert_non_null(strstr(r.err, ": not finished before the deadline\n"));
	/* Lanes and idempotency keys; a payload from a file. */
	EXPECT(0, "enqueue", "lanes", "--lane", "conv-1", "--data-file",
	       conf_path, "--wait");
	EXPECT(1, "enqueue", "lanes", "--data", "x"); /* needs a lane */
	assert_non_null(strstr(r.err, "enqueue on queue 'lanes' of tenant "));
	assert_non_null(strstr(r.err, "a lane key is required"));
	EXPECT(0, "enqueue", "keyed", "--key", "k1", "--data", "a");
	assert_int_equal(sscanf(r.out, "%31s", id), 1);
	EXPECT(0, "enqueue", "keyed", "--key", "k1", "--data", "b");
	assert_non_null(strstr(r.out, id));
	assert_non_null(strstr(r.err, "existing job"));
	/* stat: text, JSON, Prometheus. */
	EXPECT(0, "stat");
	assert_non_null(strstr(r.out, "echo"));
	EXPECT(0, "stat", "--json");
	assert_non_null(strstr(r.out, "\"queues\":[{\"name\":\"echo\","
				      "\"depth\":"));
	assert_non_null(strstr(r.out, "\"succeeded\":"));
	assert_non_null(strstr(r.out, "\"failed\":1"));
	assert_non_null(strstr(r.out, "\"retried\":"));
	assert_non_null(strstr(r.out, "\"running\":"));
	assert_non_null(strstr(r.out, "\"workers\":[{\"pid\":"));
	assert_non_null(strstr(r.out, "\"state\":\""));
	EXPECT(0, "stat", "--prometheus");
	assert_non_null(strstr(r.out, "# TYPE shmrt_queue_depth gauge"));
	assert_non_null(strstr(r.out, "shmrt_jobs_failed_total{tenant=\""));
	EXPECT(0, "scan");
	assert_non_null(strstr(r.out, "dead participants"));
	/* destroy refuses while it runs. */
	EXPECT(1, "destroy");
	assert_non_null(strstr(r.err, "is running"));
	assert_int_equal(stop_runner(), 0);
	assert_non_null(strstr(r.out, "stopped"));
	EXPECT(3, "stat"); /* the segment is gone */
	EXPECT(3, "destroy");
}

/* A runner killed with SIGKILL leaves its segment; destroy removes it
 * (its workers follow the runner out: they die with their supervisor). */
static void test_destroy_leftover(void **state)
{
	uint64_t deadline;

	(void)state;
	start_runner();
	kill(runner, SIGKILL);
	waitpid(runner, NULL, 0);
	runner = 0;
	deadline = tu_deadline_ms(10000);
	while (shmrt("destroy", NULL) == 1 && shmrt__os_now_ns() < deadline)
		shmrt__os_sleep_ns(20000000);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "removed"));
	EXPECT(3, "destroy");
}

/* SIGTERM to the runner drains and stops it; exit 0. */
static void test_run_sigterm(void **state)
{
	(void)state;
	start_runner();
	EXPECT(0, "enqueue", "sleep", "--data", "200");
	kill(runner, SIGTERM);
	assert_int_equal(tu_wait_child(runner, 20000), 0);
	runner = 0;
	EXPECT(3, "stat");
}

/* A worker process by hand, with a queue that does not exist: usage. */
static void test_worker(void **state)
{
	char *argv[] = { "shmrt", "worker", "-q", "echo", NULL };
	pid_t w;

	(void)state;
	start_runner();
	EXPECT(2, "worker", "-q", "nosuchqueue");
	/* An extra worker, by hand, drains with the tenant. */
	w = tu_spawn_cli("/dev/null", "/dev/null", argv);
	EXPECT(0, "enqueue", "echo", "--data", "x", "--wait");
	EXPECT(2, "worker", "--handlers");
	EXPECT(1, "worker", "-q", "echo", "--handlers", "/nonexistent.so");
	assert_non_null(strstr(r.err, "cannot load"));
	assert_int_equal(stop_runner(), 0);
	assert_int_equal(tu_wait_child(w, 20000), 0);
}

/*
 * Garbage over a lock: the bytes of a robust, process-shared, PI pthread
 * mutex (glibc x86-64: __lock at 0, __kind 0xb0 at 16) whose owner
 * thread does not exist, repeated: glibc's pthread_mutex_timedlock
 * asserted on it. As an owner word it names pid 0: no process.
 */
static void corrupt_lock(void *lock, size_t size)
{
	const uint32_t pattern[5] = { 0x3fffffff, 0, 0, 0, 0xb0 };
	size_t i;

	for (i = 0; i < size; i++)
		((unsigned char *)lock)[i] =
			((const unsigned char *)pattern)[i % sizeof(pattern)];
}

/*
 * Garbage in the live segment's locks (the header's repair lock, the
 * laned and keyed queues' state locks): enqueue with a lane or a key,
 * scan and the runner take the locks over, and nothing aborts (glibc
 * did, on pthread mutex bytes it had not written).
 */
static void test_corrupt_locks(void **state)
{
	static const char *queues[] = { "lanes", "keyed" };
	struct shmrt__seg seg;
	size_t i;

	(void)state;
	start_runner();
	assert_int_equal(shmrt__seg_attach(tenant, &seg), 0);
	corrupt_lock(&seg.hdr->repair_lock, sizeof(seg.hdr->repair_lock));
	for (i = 0; i < 2; i++) {
		int qi = shmrt__seg_queue_index(&seg, queues[i]);

		assert_true(qi >= 0);
		corrupt_lock(&seg.q[qi].ctl->state_lock,
			     sizeof(seg.q[qi].ctl->state_lock));
	}
	shmrt__seg_detach(&seg);
	EXPECT(0, "enqueue", "lanes", "--lane", "c1", "--data", "x", "--wait");
	EXPECT(0, "enqueue", "keyed", "--key", "k9", "--data", "y", "--wait");
	EXPECT(0, "scan");
	assert_int_equal(waitpid(runner, NULL, WNOHANG), 0); /* alive */
	assert_int_equal(stop_runner(), 0);
}

/*
 * run on a segment name taken by a file that is not a usable segment:
 * the reason is whole (the library wraps its own last error; it came out
 * garbled when the formatter read the buffer it wrote).
 */
static void test_run_unusable_segment(void **state)
{
	char path[128], want[256];
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/dev/shm/shmrt.%s", tenant);
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	EXPECT(1, "run");
	unlink(path);
	snprintf(want, sizeof(want), "shmrt run: backend shm for tenant %s: "
		 "/dev/shm/shmrt.%s exists and is not usable: segment "
		 "/shmrt.%s is 1 bytes, smaller than its ", tenant, tenant,
		 tenant);
	assert_non_null(strstr(r.err, want));
}

/* The inline mode of run: worker threads in the runner. */
static void test_run_inline(void **state)
{
	char *argv[] = { "shmrt", "run", "--mode", "inline", NULL };
	pid_t pid;

	(void)state;
	pid = tu_spawn_cli(out_path, err_path, argv);
	shmrt__os_sleep_ns(300000000);
	kill(pid, SIGINT);
	assert_int_equal(tu_wait_child(pid, 20000), 0);
	tu_slurp(out_path, r.out, OUT_MAX);
	assert_non_null(strstr(r.out, "inline mode"));
	assert_non_null(strstr(r.out, "stopped"));
}

/* The main job, on a copy of conf/shmrt.ini with a unique tenant. */
static void test_demo(void **state)
{
	char cmd[1024];

	(void)state;
	snprintf(cmd, sizeof(cmd), "sed 's/^\\[tenant demo\\]/[tenant %s]/' "
		 "%s/conf/shmrt.ini >%s", tenant, SHMRT_SOURCE_DIR, conf_path);
	assert_int_equal(system(cmd), 0);
	EXPECT(0, "demo", "-c", conf_path);
	assert_non_null(strstr(r.out, "progress:"));
	assert_non_null(strstr(r.out, "chat order: held in 50/50"));
	assert_non_null(strstr(r.out, "demo passed"));
	assert_non_null(strstr(r.out, "removed"));
	EXPECT(3, "stat");
}

/*
 * A tenant that only the [tenant *] template serves: a name in no section
 * runs, takes jobs from enqueue, answers status, stat and scan, has
 * worker processes (`shmrt worker -t NAME`, started by the runner), and
 * stop and destroy reach it. Without -t there is no first tenant.
 */
static void test_templated_tenant(void **state)
{
	char id[32], run_out[300], *argv[] = { "shmrt", "run", "-t", NULL,
					       NULL };
	char *wargv[] = { "shmrt", "worker", "-t", NULL, "-q", "echo", NULL };
	char name[64];
	uint64_t deadline;
	pid_t w;
	FILE *f;

	(void)state;
	snprintf(name, sizeof(name), "%s-tpl", tenant);
	f = fopen(conf_path, "w");
	assert_non_null(f);
	fprintf(f, "[runtime]\nmode = process\ndrain_timeout_ms = 3000\n"
		"[tenant *]\n"
		"[queue echo]\nhandler = builtin.echo\nworkers = 1\n");
	fclose(f);
	EXPECT(2, "stat");
	assert_non_null(strstr(r.err, "only the [tenant *] template"));
	assert_non_null(strstr(r.err, "-t NAME"));
	EXPECT(2, "stat", "-t", "a/b");
	assert_non_null(strstr(r.err, "invalid tenant name 'a/b'"));
	EXPECT(3, "stat", "-t", name);
	argv[3] = name;
	snprintf(run_out, sizeof(run_out), "%s.run", out_path);
	runner = tu_spawn_cli(run_out, "/dev/null", argv);
	deadline = tu_deadline_ms(20000);
	while (shmrt("stat", "-t", name, "--json", NULL) != 0 ||
	       strstr(r.out, "\"workers\":[{\"pid\":") == NULL) {
		assert_true(shmrt__os_now_ns() < deadline);
		shmrt__os_sleep_ns(20000000);
	}
	/* A worker started by hand attaches to the templated name too. */
	wargv[3] = name;
	w = tu_spawn_cli("/dev/null", "/dev/null", wargv);
	EXPECT(0, "enqueue", "-t", name, "echo", "--data", "tpl", "--wait");
	assert_non_null(strstr(r.out, "succeeded\ntpl\n"));
	assert_int_equal(sscanf(r.out, "%31s", id), 1);
	EXPECT(0, "status", "-t", name, id);
	assert_non_null(strstr(r.out, "succeeded"));
	EXPECT(0, "scan", "-t", name);
	EXPECT(1, "destroy", "-t", name); /* it runs */
	EXPECT(0, "stop", "-t", name);
	assert_int_equal(tu_wait_child(runner, 20000), 0);
	runner = 0;
	assert_int_equal(tu_wait_child(w, 20000), 0); /* drained, left */
	unlink(run_out);
	EXPECT(3, "stat", "-t", name);
	/* destroy removes what a killed runner of a templated name left. */
	runner = tu_spawn_cli(run_out, "/dev/null", argv);
	deadline = tu_deadline_ms(20000);
	while (shmrt("stat", "-t", name, NULL) != 0) {
		assert_true(shmrt__os_now_ns() < deadline);
		shmrt__os_sleep_ns(20000000);
	}
	kill(runner, SIGKILL);
	waitpid(runner, NULL, 0);
	runner = 0;
	unlink(run_out);
	deadline = tu_deadline_ms(10000);
	while (shmrt("destroy", "-t", name, NULL) == 1 &&
	       shmrt__os_now_ns() < deadline)
		shmrt__os_sleep_ns(20000000);
	assert_int_equal(r.status, 0);
	EXPECT(3, "stat", "-t", name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_usage_and_help, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_messages_escaped_and_cut,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_run_enqueue_status_stat_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_leftover, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_run_sigterm, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_worker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_locks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_run_unusable_segment,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_inline, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_demo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_templated_tenant, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
