/*
 * tests/unit/test_version.c - the version macros, the library's own
 * version and CMake's project(VERSION) agree.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <shmrt/version.h>
#include <stdio.h>

/* The library reports the version of the headers it was built from. */
static void test_library_matches_headers(void **state)
{
	(void)state;
	assert_int_equal(shmrt_version(), SHMRT_VERSION_HEX);
	assert_string_equal(shmrt_version_string(), SHMRT_VERSION_STRING);
}

/* The string and the number say the same thing. */
static void test_string_matches_numbers(void **state)
{
	char s[32];
	unsigned int v = shmrt_version();

	(void)state;
	snprintf(s, sizeof(s), "%u.%u.%u", v >> 16, (v >> 8) & 0xff, v & 0xff);
	assert_string_equal(s, shmrt_version_string());
	assert_int_equal(v >> 16, SHMRT_VERSION_MAJOR);
	assert_int_equal((v >> 8) & 0xff, SHMRT_VERSION_MINOR);
	assert_int_equal(v & 0xff, SHMRT_VERSION_PATCH);
}

/* CMake read its project(VERSION) from shmrt/version.h. */
static void test_matches_cmake_project_version(void **state)
{
	(void)state;
	assert_string_equal(SHMRT_VERSION_STRING, SHMRT_PROJECT_VERSION);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_library_matches_headers),
	    cmocka_unit_test(test_string_matches_numbers),
	    cmocka_unit_test(test_matches_cmake_project_version),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
