/*
 * tests/unit/test_error.c - the error table, names, messages and the
 * per-thread failure detail.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <pthread.h>
#include <shmrt/error.h>
#include <stdio.h>
#include <string.h>

#include "shm/error_detail.h"
#include "shm/segment.h"
#include "testutil.h"

struct err_entry {
	int code;
	const char *name;
	const char *msg;
};

static const struct err_entry entries[] = {
#define ENTRY(name, value, msg) { SHMRT_E_##name, "SHMRT_E_" #name, msg },
	SHMRT_ERRNO_MAP(ENTRY)
#undef ENTRY
};

#define NENTRIES (sizeof(entries) / sizeof(entries[0]))

/* Every code is negative and no two share a value. */
static void test_codes_negative_and_distinct(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < NENTRIES; i++) {
		assert_true(entries[i].code < 0);
		for (j = 0; j < i; j++)
			assert_int_not_equal(entries[i].code, entries[j].code);
	}
}

/*
 * The ABI: values callers have compiled in. Written out here, so a
 * table edit that renumbers a code fails.
 */
static void test_codes_pinned(void **state)
{
	(void)state;
	assert_int_equal(SHMRT_OK, 0);
	assert_int_equal(SHMRT_E_INVAL, -1);
	assert_int_equal(SHMRT_E_NOENT, -5);
	assert_int_equal(SHMRT_E_FULL, -15);
	assert_int_equal(SHMRT_E_TIMEDOUT, -18);
	assert_int_equal(SHMRT_E_DRAINING, -23);
	assert_int_equal(SHMRT_E_CONF, -28);
	assert_int_equal(SHMRT_E_NOHANDLER, -34);
	assert_string_equal(shmrt_err_name(-15), "SHMRT_E_FULL");
}

static void test_messages_match_table(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < NENTRIES; i++) {
		const char *m = shmrt_strerror(entries[i].code);

		assert_non_null(m);
		assert_true(m[0] != '\0');
		assert_string_equal(m, entries[i].msg);
		assert_string_not_equal(m, "unknown error");
		/* Distinct messages: a user can tell the codes apart. */
		for (j = 0; j < i; j++)
			assert_string_not_equal(m, entries[j].msg);
	}
	assert_string_equal(shmrt_strerror(0), "success");
}

static void test_names_match_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NENTRIES; i++)
		assert_string_equal(shmrt_err_name(entries[i].code),
				    entries[i].name);
	/* Spelled out, so a broken stringizing macro cannot hide. */
	assert_string_equal(shmrt_err_name(SHMRT_E_FULL), "SHMRT_E_FULL");
	assert_string_equal(shmrt_err_name(SHMRT_E_INVAL), "SHMRT_E_INVAL");
	assert_string_equal(shmrt_err_name(SHMRT_E_CONF), "SHMRT_E_CONF");
}

/* Outside the table: positive codes, one below the lowest, extremes. */
static void test_unknown_codes(void **state)
{
	int unknown[] = { 1, 42, 0, -1000, INT_MAX, INT_MIN, INT_MIN + 1 };
	size_t i, j;

	(void)state;
	/* unknown[2]: one below the lowest code in the table. */
	for (i = 0; i < NENTRIES; i++)
		if (entries[i].code <= unknown[2])
			unknown[2] = entries[i].code - 1;
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		const char *name = shmrt_err_name(unknown[i]);

		assert_string_equal(shmrt_strerror(unknown[i]),
				    "unknown error");
		assert_non_null(name);
		for (j = 0; j < NENTRIES; j++)
			assert_string_not_equal(name, entries[j].name);
	}
}

/* The detail names the tenant that is missing. */
static void test_last_error_after_attach_missing(void **state)
{
	struct shmrt__seg seg;
	char tenant[64];

	(void)state;
	snprintf(tenant, sizeof(tenant), "%s", tu_tenant());
	assert_int_equal(shmrt__seg_attach(tenant, &seg), SHMRT_E_NOENT);
	assert_non_null(strstr(shmrt_last_error(), tenant));
}

/* A failing call replaces the previous detail. */
static void test_last_error_replaced(void **state)
{
	struct shmrt__seg seg;
	char missing[64];

	(void)state;
	assert_int_equal(shmrt__seg_attach("bad/name", &seg), SHMRT_E_NAME);
	assert_non_null(strstr(shmrt_last_error(), "bad/name"));
	snprintf(missing, sizeof(missing), "%s", tu_tenant());
	assert_int_equal(shmrt__seg_attach(missing, &seg), SHMRT_E_NOENT);
	assert_non_null(strstr(shmrt_last_error(), missing));
	assert_null(strstr(shmrt_last_error(), "bad/name"));
}

/*
 * A failure that wraps the previous detail passes shmrt_last_error()'s
 * own buffer to the formatter: the result is the whole sentence, not an
 * overlapping copy of it (undefined behaviour, garbled in practice).
 */
static void test_fail_wraps_own_detail(void **state)
{
	char want[512];
	int i;

	(void)state;
	shmrt__fail(SHMRT_E_LAYOUT, "segment %s: ring_cells is %u", "acme", 8);
	for (i = 0; i < 3; i++) {
		snprintf(want, sizeof(want), "level %d: %s", i,
			 shmrt_last_error());
		assert_int_equal(shmrt__fail(SHMRT_E_CONF, "level %d: %s", i,
					     shmrt_last_error()),
				 SHMRT_E_CONF);
		assert_string_equal(shmrt_last_error(), want);
	}
	assert_string_equal(shmrt_last_error(), "level 2: level 1: level 0: "
			    "segment acme: ring_cells is 8");
}

static void *fresh_thread_detail(void *arg)
{
	char *out = arg;

	snprintf(out, 128, "%s", shmrt_last_error());
	return NULL;
}

/* The detail is per thread: a new thread has seen no failure. */
static void test_last_error_thread_local(void **state)
{
	struct shmrt__seg seg;
	char seen[128] = "not run";
	pthread_t t;

	(void)state;
	assert_int_equal(shmrt__seg_attach("bad/name", &seg), SHMRT_E_NAME);
	assert_true(shmrt_last_error()[0] != '\0');
	assert_int_equal(pthread_create(&t, NULL, fresh_thread_detail, seen), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_string_equal(seen, "");
	assert_non_null(strstr(shmrt_last_error(), "bad/name"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codes_negative_and_distinct),
		cmocka_unit_test(test_codes_pinned),
		cmocka_unit_test(test_messages_match_table),
		cmocka_unit_test(test_names_match_table),
		cmocka_unit_test(test_unknown_codes),
		cmocka_unit_test(test_last_error_after_attach_missing),
		cmocka_unit_test(test_last_error_replaced),
		cmocka_unit_test(test_last_error_thread_local),
		cmocka_unit_test(test_fail_wraps_own_detail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
