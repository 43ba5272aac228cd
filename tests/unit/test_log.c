/*
 * tests/unit/test_log.c - the log handler (shmrt_log_set): the library's
 * messages reach it and not stderr; the default writes to stderr; a
 * handler may call back into shmrt; messages from inside it go to the
 * default; the caller's last error survives; a forked child keeps it.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <shmrt/shmrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/runtime_manager.h"
#include "shm/error_detail.h"
#include "shm/log.h"
#include "shm/segment.h"
#include "testutil.h"

static char conf_path[64], tenant[64], err_path[64];
static int saved_stderr = -1;

struct seen {
	int calls, level;
	char msg[1024];
	int start_rc, enqueue_rc, info_rc, degraded;
};

static struct seen seen;

static void capture(void *ctx, int level, const char *msg)
{
	struct seen *s = ctx;

	s->calls++;
	s->level = level;
	snprintf(s->msg, sizeof(s->msg), "%s", msg);
}

/* Writes the conf of a process-mode tenant whose segment name is taken
 * by a file, with on_init_error = degrade: start logs a warning. */
static void squatted_tenant(void)
{
	char path[128];
	FILE *f;
	int fd;

	snprintf(tenant, sizeof(tenant), "%s", tu_tenant());
	snprintf(conf_path, sizeof(conf_path), "/tmp/shmrt-log-%d.ini",
		 (int)getpid());
	f = fopen(conf_path, "w");
	assert_non_null(f);
	fprintf(f,
		"[runtime]\nmode = process\non_init_error = degrade\n"
		"drain_timeout_ms = 100\n"
		"[tenant %s]\n[queue q]\nhandler = h\n",
		tenant);
	assert_int_equal(fclose(f), 0);
	snprintf(path, sizeof(path), "/dev/shm/shmrt.%s", tenant);
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "squatter", 8), 8);
	close(fd);
}

/* stderr to a file, read back with stderr_text. */
static void stderr_to_file(void)
{
	int fd;

	snprintf(err_path, sizeof(err_path), "/tmp/shmrt-log-%d.err",
		 (int)getpid());
	fd = open(err_path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
}

static const char *stderr_text(void)
{
	static char buf[4096];

	fflush(stderr);
	tu_slurp(err_path, buf, sizeof(buf));
	return buf;
}

static int setup(void **state)
{
	(void)state;
	unsetenv("SHMRT_MODE");
	memset(&seen, 0, sizeof(seen));
	squatted_tenant();
	stderr_to_file();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	shmrt_log_set(NULL, NULL);
	shmrt__tenants_reset();
	shmrt__seg_destroy(tenant);
	unlink(conf_path);
	fflush(stderr);
	if (saved_stderr >= 0) {
		dup2(saved_stderr, 2);
		close(saved_stderr);
		saved_stderr = -1;
	}
	unlink(err_path);
	return 0;
}

/* The degrade warning reaches the handler, once, and not stderr. */
static void test_handler_gets_messages(void **state)
{
	(void)state;
	assert_int_equal(shmrt_log_set(capture, &seen), 0);
	assert_int_equal(shmrt_tenant_start(conf_path, tenant), 0);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.level, SHMRT_LOG_WARN);
	assert_non_null(strstr(seen.msg, tenant));
	assert_non_null(strstr(seen.msg, "on_init_error = degrade"));
	assert_null(strchr(seen.msg, '\n'));
	assert_string_equal(stderr_text(), "");
}

/* With no handler (or after setting NULL), the message is on stderr. */
static void test_default_is_stderr(void **state)
{
	(void)state;
	assert_int_equal(shmrt_log_set(capture, &seen), 0);
	assert_int_equal(shmrt_log_set(NULL, NULL), 0);
	assert_int_equal(shmrt_tenant_start(conf_path, tenant), 0);
	assert_int_equal(seen.calls, 0);
	assert_non_null(strstr(stderr_text(), "shmrt: tenant "));
	assert_non_null(strstr(stderr_text(), "degrade"));
}

/*
 * Called with no lock held: the handler may use the tenant that is
 * logging, even start it again (which takes the tenant's record lock: a
 * handler called under it would deadlock). Run in a child, so a deadlock
 * is a killed child, not a hung test; the child reports by exit code.
 */
static void calls_back(void *ctx, int level, const char *msg)
{
	struct seen *s = ctx;
	struct shmrt_tenant_info info;
	shmrt_job_id id;

	capture(ctx, level, msg);
	s->start_rc = shmrt_tenant_start(conf_path, tenant);
	s->info_rc = shmrt_tenant_get_info(tenant, &info);
	s->degraded = info.degraded;
	s->enqueue_rc = shmrt_enqueue(tenant, "q", "x", 1, NULL, &id);
}

static void test_handler_may_call_shmrt(void **state)
{
	pid_t pid;

	(void)state;
	assert_int_equal(shmrt_log_set(calls_back, &seen), 0);
	pid = tu_fork(99);
	if (pid == 0) {
		int rc = shmrt_tenant_start(conf_path, tenant);

		_exit(rc == 0 && seen.calls == 1 && seen.start_rc == 0 &&
			      seen.info_rc == 0 && seen.degraded == 1 &&
			      seen.enqueue_rc == 0
			  ? 0
			  : 1);
	}
	assert_int_equal(tu_wait_child(pid, 10000), 0);
}

/* A message logged from inside the handler goes to stderr, not back in. */
static void logs_again(void *ctx, int level, const char *msg)
{
	capture(ctx, level, msg);
	shmrt__log(SHMRT_LOG_ERROR, "nested %d", 7);
}

static void test_nested_goes_to_default(void **state)
{
	(void)state;
	assert_int_equal(shmrt_log_set(logs_again, &seen), 0);
	shmrt__log(SHMRT_LOG_WARN, "outer");
	assert_int_equal(seen.calls, 1);
	assert_string_equal(seen.msg, "outer");
	assert_string_equal(stderr_text(), "shmrt: error: nested 7\n");
}

/* The handler fails a call of its own; the logging thread's detail is
 * what it was. */
static void fails_a_call(void *ctx, int level, const char *msg)
{
	capture(ctx, level, msg);
	shmrt__fail(SHMRT_E_NOJOB, "the handler's own failure");
}

static void test_last_error_kept(void **state)
{
	(void)state;
	assert_int_equal(shmrt_log_set(fails_a_call, &seen), 0);
	shmrt__fail(SHMRT_E_CONF, "the caller's failure");
	shmrt__log(SHMRT_LOG_WARN, "w");
	assert_int_equal(seen.calls, 1);
	assert_string_equal(shmrt_last_error(), "the caller's failure");
}

/* A forked child logs through the handler it inherited (no lock to
 * inherit held); it reports through its exit code. */
static void test_fork_keeps_handler(void **state)
{
	pid_t pid;

	(void)state;
	assert_int_equal(shmrt_log_set(capture, &seen), 0);
	pid = tu_fork(99);
	if (pid == 0) {
		shmrt__log(SHMRT_LOG_WARN, "from the child");
		_exit(seen.calls == 1 && strcmp(seen.msg, "from the child") == 0
			  ? 0
			  : 1);
	}
	assert_int_equal(tu_wait_child(pid, 10000), 0);
	assert_int_equal(seen.calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_handler_gets_messages, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_default_is_stderr, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_handler_may_call_shmrt, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_nested_goes_to_default, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_last_error_kept, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_fork_keeps_handler, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
