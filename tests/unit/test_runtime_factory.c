/*
 * tests/unit/test_runtime_factory.c - the backend factory and the handler
 * registry: caching, reset, selection from the conf (with the environment
 * applied: SHMRT_MODE, SHMRT_TEST_MODE),
 * clear initialization errors; registry lookups, replacement, removal.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <shmrt/shmrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/handler_registry.h"
#include "runtime/queue_backend_factory.h"
#include "shm/segment.h"
#include "testutil.h"

static struct shmrt_conf conf;

/* A conf built in code: one tenant with a fresh name, one queue. */
static void make_conf(int mode)
{
	shmrt_conf_defaults(&conf);
	conf.mode = (enum shmrt_conf_mode)mode;
	conf.ntenants = 1;
	snprintf(conf.tenant[0].name, sizeof(conf.tenant[0].name), "%s",
		 tu_tenant());
	conf.nqueues = 1;
	shmrt_conf_queue_defaults(&conf.queue[0], "q");
	snprintf(conf.queue[0].handler, sizeof(conf.queue[0].handler), "h");
	conf.queue[0].capacity = 16;
	assert_int_equal(shmrt_conf_apply_env(&conf, NULL, 0), 0);
}

static int teardown(void **state)
{
	(void)state;
	shmrt__backend_factory_reset();
	shmrt__seg_destroy(conf.tenant[0].name);
	shmrt__registry_reset();
	return 0;
}

static struct shmrt__backend *get(bool *made)
{
	struct shmrt__backend_spec spec = { &conf, 0, false, false };
	struct shmrt__backend *be = NULL;

	assert_int_equal(shmrt__backend_get(&spec, &be, made), 0);
	return be;
}

static void test_cache_same_backend(void **state)
{
	struct shmrt__backend *a, *b, *c;
	bool made;

	(void)state;
	setenv("SHMRT_MODE", "inline", 1);
	make_conf(SHMRT_CONF_MODE_PROCESS);
	a = get(&made);
	assert_true(made);
	b = get(&made);
	assert_false(made);
	assert_ptr_equal(a, b);
	c = shmrt__backend_lookup(conf.tenant[0].name);
	assert_ptr_equal(a, c);
	shmrt__backend_put(c);
	shmrt__backend_put(b);
	/* After reset the tenant is unknown and the next get makes anew. */
	shmrt__backend_factory_reset();
	assert_null(shmrt__backend_lookup(conf.tenant[0].name));
	shmrt__backend_put(a); /* the last reference closes it */
	a = get(&made);
	assert_true(made);
	shmrt__backend_put(a);
	assert_int_equal(shmrt__backend_forget(conf.tenant[0].name), 0);
	assert_int_equal(shmrt__backend_forget(conf.tenant[0].name),
			 SHMRT_E_NOENT);
}

/*
 * With SHMRT_MODE and SHMRT_TEST_MODE as given (NULL: unset) over a conf
 * of conf_mode, the factory makes backend `name`, in test mode or not.
 */
static void expect_backend(const char *mode_env, const char *test_env,
			   int conf_mode, const char *name, bool sync)
{
	struct shmrt__backend *be;
	bool made;

	if (mode_env != NULL)
		setenv("SHMRT_MODE", mode_env, 1);
	else
		unsetenv("SHMRT_MODE");
	if (test_env != NULL)
		setenv("SHMRT_TEST_MODE", test_env, 1);
	else
		unsetenv("SHMRT_TEST_MODE");
	make_conf(conf_mode);
	be = get(&made);
	assert_string_equal(be->name, name);
	assert_int_equal(be->sync, sync);
	assert_int_equal(be->mode, strcmp(name, "shm") == 0
					   ? SHMRT_MODE_PROCESS
					   : SHMRT_MODE_INLINE);
	if (strcmp(name, "shm") == 0)
		assert_true(be->owner);
	shmrt__backend_put(be);
	shmrt__backend_factory_reset();
	shmrt__seg_destroy(conf.tenant[0].name);
}

static void test_selection(void **state)
{
	(void)state;
	/* the conf alone: inline (not test mode) or shm, a segment */
	expect_backend(NULL, NULL, SHMRT_CONF_MODE_INLINE, "inline", false);
	expect_backend(NULL, NULL, SHMRT_CONF_MODE_PROCESS, "shm", false);
	/* SHMRT_MODE wins over the conf, both ways; inline is test mode */
	expect_backend("process", NULL, SHMRT_CONF_MODE_INLINE, "shm", false);
	expect_backend("inline", NULL, SHMRT_CONF_MODE_PROCESS, "inline",
		       true);
	/* test mode's own switch: off under SHMRT_MODE=inline, on alone */
	expect_backend("inline", "0", SHMRT_CONF_MODE_PROCESS, "inline",
		       false);
	expect_backend(NULL, "1", SHMRT_CONF_MODE_PROCESS, "inline", true);
	unsetenv("SHMRT_TEST_MODE");
	setenv("SHMRT_MODE", "inline", 1);
}

static void test_init_errors(void **state)
{
	struct shmrt__backend_spec spec = { &conf, 0, false, false };
	struct shmrt__backend *be = NULL;
	char path[128];
	bool made;
	int fd;

	(void)state;
	unsetenv("SHMRT_MODE");
	make_conf(SHMRT_CONF_MODE_PROCESS);
	/* The segment's name is taken by a file that is not a segment. */
	snprintf(path, sizeof(path), "/dev/shm/shmrt.%s", conf.tenant[0].name);
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not a segment", 13), 13);
	close(fd);
	assert_true(shmrt__backend_get(&spec, &be, &made) < 0);
	assert_non_null(strstr(shmrt_last_error(), "backend shm for tenant "));
	assert_non_null(strstr(shmrt_last_error(), conf.tenant[0].name));
	assert_non_null(strstr(shmrt_last_error(), "exists and is not usable"));
	assert_null(shmrt__backend_lookup(conf.tenant[0].name));
	/* Attaching to a tenant nobody started. */
	unlink(path);
	spec.attach = true;
	assert_int_equal(shmrt__backend_get(&spec, &be, &made), SHMRT_E_NOENT);
	assert_non_null(strstr(shmrt_last_error(), "backend shm for tenant "));
}

/* ------------------------------------------------------------ registry */

static int h_one(void *ctx, struct shmrt_job_run *run)
{
	(void)ctx;
	(void)run;
	return 1;
}

static int h_two(void *ctx, struct shmrt_job_run *run)
{
	(void)ctx;
	(void)run;
	return 2;
}

static void test_registry(void **state)
{
	shmrt_handler_fn fn;
	void *ctx;
	int x;

	(void)state;
	assert_int_equal(shmrt__registry_find("k", &fn, &ctx), SHMRT_E_NOHANDLER);
	assert_non_null(strstr(shmrt_last_error(), "'k'"));
	assert_int_equal(shmrt_handler_register("k", h_one, &x), 0);
	assert_int_equal(shmrt__registry_find("k", &fn, &ctx), 0);
	assert_ptr_equal(fn, h_one);
	assert_ptr_equal(ctx, &x);
	assert_int_equal(shmrt_handler_register("k", h_two, NULL), 0);
	assert_int_equal(shmrt__registry_find("k", &fn, &ctx), 0);
	assert_ptr_equal(fn, h_two);
	assert_int_equal(shmrt_handler_unregister("k"), 0);
	assert_int_equal(shmrt_handler_unregister("k"), SHMRT_E_INVAL);
	assert_int_equal(shmrt__registry_find("k", &fn, &ctx), SHMRT_E_NOHANDLER);
	assert_int_equal(shmrt_handler_register("bad kind", h_one, NULL),
			 SHMRT_E_INVAL);
	assert_int_equal(shmrt_handler_register("", h_one, NULL),
			 SHMRT_E_INVAL);
	assert_int_equal(shmrt_handler_register("k", NULL, NULL),
			 SHMRT_E_INVAL);
}

/* Readers on other threads see the old or the new handler, never none. */
static int reader_stop;

static void *reader_main(void *arg)
{
	long bad = 0;

	(void)arg;
	while (!__atomic_load_n(&reader_stop, __ATOMIC_ACQUIRE)) {
		shmrt_handler_fn fn = NULL;
		void *ctx;

		if (shmrt__registry_find("hot", &fn, &ctx) != 0 ||
		    (fn != h_one && fn != h_two))
			bad++;
	}
	return (void *)bad;
}

static void test_registry_concurrent_replace(void **state)
{
	pthread_t t[3];
	void *bad;
	int i;

	(void)state;
	assert_int_equal(shmrt_handler_register("hot", h_one, NULL), 0);
	reader_stop = 0;
	for (i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader_main, NULL),
				 0);
	for (i = 0; i < (int)tu_scaled(2000, 50); i++)
		assert_int_equal(shmrt_handler_register(
				     "hot", i % 2 ? h_one : h_two, NULL),
				 0);
	__atomic_store_n(&reader_stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(t[i], &bad), 0);
		assert_null(bad);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_cache_same_backend, teardown),
	    cmocka_unit_test_teardown(test_selection, teardown),
	    cmocka_unit_test_teardown(test_init_errors, teardown),
	    cmocka_unit_test_teardown(test_registry, teardown),
	    cmocka_unit_test_teardown(test_registry_concurrent_replace,
				      teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
