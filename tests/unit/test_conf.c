/*
 * tests/unit/test_conf.c - the INI configuration loader.
 *
 * Each error class gets a file whose error sits on a known line, and the
 * test compares the whole message, so the line number, the section and the
 * key are all checked. Files are written to a mkdtemp directory.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <shmrt/error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/conf.h"
#include "testutil.h"

static char tmpdir[] = "/tmp/shmrt-conf-XXXXXX";
static char tmppath[sizeof(tmpdir) + 16];

/* A valid tail: lines that make a file complete when an error is earlier. */
#define VALID_TAIL "[tenant demo]\n[queue chat]\nhandler = chat\n"

static int group_setup(void **state)
{
	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(tmppath, sizeof(tmppath), "%s/t.ini", tmpdir);
	/* CTest sets SHMRT_MODE=inline; the env tests set what they need. */
	unsetenv("SHMRT_MODE");
	unsetenv("SHMRT_CONF");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unlink(tmppath);
	return rmdir(tmpdir);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Writes `text` to the temp file and loads it. */
static int load_text(const char *text, struct shmrt_conf *conf, char *err,
		     size_t errlen)
{
	int rc;

	write_file(tmppath, text);
	rc = shmrt_conf_load(tmppath, conf, err, errlen);
	unlink(tmppath);
	return rc;
}

/*
 * Loads `text`, expects SHMRT_E_CONF and the message PATH + `tail`, e.g.
 * ":7: [runtime] unknown key 'spinus'", in err and shmrt_last_error().
 */
static void expect_error(const char *text, const char *tail)
{
	static struct shmrt_conf conf;
	char err[1024], want[1024];

	snprintf(want, sizeof(want), "%s%s", tmppath, tail);
	assert_int_equal(load_text(text, &conf, err, sizeof(err)),
			 SHMRT_E_CONF);
	assert_string_equal(err, want);
	assert_string_equal(shmrt_last_error(), want);
}

/* Fills buf with size - 1 copies of c and a NUL; returns buf. */
static char *fill(char *buf, size_t size, char c)
{
	memset(buf, c, size - 1);
	buf[size - 1] = '\0';
	return buf;
}

/* ---------------------------------------------------------------- success */

static void test_defaults(void **state)
{
	struct shmrt_conf c;
	struct shmrt_conf_queue q;

	(void)state;
	memset(&c, 0xa5, sizeof(c));
	shmrt_conf_defaults(&c);
	assert_int_equal(c.mode, SHMRT_CONF_MODE_PROCESS);
	assert_int_equal(c.on_init_error, SHMRT_CONF_ON_ERROR_FAIL);
	assert_int_equal(c.spin_us, 50);
	assert_int_equal(c.scan_interval_ms, 1000);
	assert_int_equal(c.retention_ms, 60000);
	assert_int_equal(c.drain_timeout_ms, 5000);
	assert_int_equal(c.participants, 64);
	assert_int_equal(c.heartbeat_timeout_ms, 30000);
	assert_int_equal(c.ntenants, 0);
	assert_int_equal(c.nqueues, 0);
	assert_string_equal(c.path, "");
	shmrt_conf_queue_defaults(&q, "jobs");
	assert_string_equal(q.name, "jobs");
	assert_int_equal(q.capacity, 1024);
	assert_int_equal(q.slot_size, 1024);
	assert_int_equal(q.max_attempts, 3);
	assert_int_equal(q.retry_backoff_ms, 100);
	assert_int_equal(q.job_timeout_ms, 30000);
	assert_false(q.laned);
	assert_int_equal(q.semaphore_limit, 0);
	assert_int_equal(q.workers, 1);
	assert_string_equal(q.handler, "");
	assert_string_equal(q.record_file, "");
	assert_int_equal(q.idempotency_ttl_ms, 0);
	assert_int_equal(q.lanes, 0);
	assert_int_equal(q.idempotency_keys, 0);
}

/* lanes and idempotency_keys default to the capacity where they apply. */
static void test_table_sizes_default_to_capacity(void **state)
{
	struct shmrt_conf c;
	char err[512];

	(void)state;
	assert_int_equal(load_text("[tenant t]\n[queue a]\nhandler = h\n"
				   "capacity = 77\nlaned = true\n"
				   "idempotency_ttl_ms = 5\n[queue b]\n"
				   "handler = h\nlaned = yes\nlanes = 3\n",
				   &c, err, sizeof(err)),
			 0);
	assert_int_equal(c.queue[0].lanes, 77);
	assert_int_equal(c.queue[0].idempotency_keys, 77);
	assert_int_equal(c.queue[1].lanes, 3);
	assert_int_equal(c.queue[1].idempotency_keys, 0);
}

/* One test per new key's errors, each with its line number. */
static void test_lanes_errors(void **state)
{
	(void)state;
	expect_error(VALID_TAIL "retention = forever\n",
		     ":4: [queue chat] retention: 'forever' is not evict or "
		     "strict");
	expect_error(VALID_TAIL "laned = true\nlanes = 0\n",
		     ":5: [queue chat] lanes: 0 is out of range (1..4194304)");
	expect_error(VALID_TAIL "laned = true\nlanes = 4194305\n",
		     ":5: [queue chat] lanes: 4194305 is out of range "
		     "(1..4194304)");
	expect_error(VALID_TAIL "lanes = x\n",
		     ":4: [queue chat] lanes: 'x' is not a number");
	/* Reported on the lanes line, also when the section goes on. */
	expect_error(VALID_TAIL "lanes = 8\nworkers = 2\n[queue b]\n"
				"handler = h\n",
		     ":4: [queue chat] lanes: set on a queue that is not "
		     "laned (add laned = true or remove lanes)");
	expect_error(VALID_TAIL "laned = false\n\nlanes = 8\n",
		     ":6: [queue chat] lanes: set on a queue that is not "
		     "laned (add laned = true or remove lanes)");
}

static void test_idempotency_keys_errors(void **state)
{
	(void)state;
	expect_error(VALID_TAIL "idempotency_ttl_ms = 1\n"
				"idempotency_keys = 0\n",
		     ":5: [queue chat] idempotency_keys: 0 is out of range "
		     "(1..4194304)");
	expect_error(VALID_TAIL "idempotency_keys = -3\n",
		     ":4: [queue chat] idempotency_keys: -3 is out of range "
		     "(1..4194304)");
	expect_error(VALID_TAIL "idempotency_keys = 10\n",
		     ":4: [queue chat] idempotency_keys: set on a queue "
		     "without idempotency_ttl_ms (set it above 0 or remove "
		     "idempotency_keys)");
}

static void test_heartbeat_timeout_errors(void **state)
{
	(void)state;
	expect_error("[runtime]\n\nheartbeat_timeout_ms = 86400001\n",
		     ":3: [runtime] heartbeat_timeout_ms: 86400001 is out of "
		     "range (0..86400000)");
	expect_error("[runtime]\nheartbeat_timeout_ms = 1s\n",
		     ":2: [runtime] heartbeat_timeout_ms: '1s' is not a "
		     "number");
	expect_error("[runtime]\nheartbeat_timeout_ms = 1\n"
		     "heartbeat_timeout_ms = 2\n",
		     ":3: [runtime] duplicate key 'heartbeat_timeout_ms' "
		     "(first set at line 2)");
}

/* [runtime] backend, redis and redis_password_env. */
static void test_backend_redis(void **state)
{
	struct shmrt_conf c;
	char err[512];

	(void)state;
	assert_int_equal(load_text(VALID_TAIL, &c, err, sizeof(err)), 0);
	assert_int_equal(c.backend, SHMRT_CONF_BACKEND_SHM);
	assert_string_equal(c.redis, "");
	assert_int_equal(load_text("[runtime]\nbackend = redis\n"
				   "redis = db-1.example:6380\n"
				   "redis_password_env = SHMRT_PW_1\n" VALID_TAIL,
				   &c, err, sizeof(err)),
			 0);
	assert_int_equal(c.backend, SHMRT_CONF_BACKEND_REDIS);
	assert_string_equal(c.redis, "db-1.example:6380");
	assert_string_equal(c.redis_password_env, "SHMRT_PW_1");
	assert_int_equal(load_text("[runtime]\nbackend = shm\nredis = "
				   "unix:/run/redis.sock\n" VALID_TAIL,
				   &c, err, sizeof(err)),
			 0);
	assert_int_equal(c.backend, SHMRT_CONF_BACKEND_SHM);
}

static void test_backend_redis_errors(void **state)
{
	(void)state;
	expect_error("[runtime]\nbackend = valkey\n" VALID_TAIL,
		     ":2: [runtime] backend: 'valkey' is not shm or redis");
	expect_error("[runtime]\nmode = process\nbackend = redis\n"
		     VALID_TAIL,
		     ":1: [runtime] backend = redis needs redis = HOST:PORT "
		     "or unix:/PATH");
	expect_error("[runtime]\nredis = localhost\n",
		     ":2: [runtime] redis: 'localhost' is not HOST:PORT or "
		     "unix:/PATH");
	expect_error("[runtime]\n\nredis = h:0\n",
		     ":3: [runtime] redis: 'h:0' is not HOST:PORT or "
		     "unix:/PATH");
	expect_error("[runtime]\nredis = h:65536\n",
		     ":2: [runtime] redis: 'h:65536' is not HOST:PORT or "
		     "unix:/PATH");
	expect_error("[runtime]\nredis = h_x:1\n",
		     ":2: [runtime] redis: 'h_x:1' is not HOST:PORT or "
		     "unix:/PATH");
	expect_error("[runtime]\nredis = unix:run/r.sock\n",
		     ":2: [runtime] redis: 'unix:run/r.sock' is not "
		     "HOST:PORT or unix:/PATH");
	expect_error("[runtime]\nredis_password_env = 1PW\n",
		     ":2: [runtime] redis_password_env: '1PW' is not an "
		     "environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
	expect_error("[runtime]\nredis_password_env = PW-X\n",
		     ":2: [runtime] redis_password_env: 'PW-X' is not an "
		     "environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
}

static void test_redis_addr_parse(void **state)
{
	struct shmrt_conf_redis_addr a;

	(void)state;
	assert_int_equal(shmrt_conf_redis_addr_parse("127.0.0.1:6379", &a), 0);
	assert_string_equal(a.host, "127.0.0.1");
	assert_int_equal(a.port, 6379);
	assert_string_equal(a.path, "");
	assert_int_equal(shmrt_conf_redis_addr_parse("unix:/tmp/r.sock", &a),
			 0);
	assert_string_equal(a.path, "/tmp/r.sock");
	assert_string_equal(a.host, "");
	assert_int_equal(shmrt_conf_redis_addr_parse(":6379", &a), -1);
	assert_int_equal(shmrt_conf_redis_addr_parse("h:", &a), -1);
	assert_int_equal(shmrt_conf_redis_addr_parse("h:-1", &a), -1);
	assert_int_equal(shmrt_conf_redis_addr_parse("h:12a", &a), -1);
	assert_int_equal(shmrt_conf_redis_addr_parse("unix:", &a), -1);
	assert_int_equal(shmrt_conf_redis_addr_parse("", &a), -1);
	assert_int_equal(shmrt_conf_redis_addr_parse(NULL, &a), -1);
}

static void test_semaphore_limit_range(void **state)
{
	(void)state;
	expect_error(VALID_TAIL "semaphore_limit = 1025\n",
		     ":4: [queue chat] semaphore_limit: 1025 is out of range "
		     "(0..1024)");
}

static void test_minimal_file_gets_defaults(void **state)
{
	struct shmrt_conf c;
	char err[512];

	(void)state;
	assert_int_equal(load_text(VALID_TAIL, &c, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(c.path, tmppath);
	assert_int_equal(c.mode, SHMRT_CONF_MODE_PROCESS);
	assert_int_equal(c.participants, 64);
	assert_int_equal(c.ntenants, 1);
	assert_string_equal(c.tenant[0].name, "demo");
	assert_string_equal(c.tenant[0].group, "");
	assert_int_equal(c.nqueues, 1);
	assert_string_equal(c.queue[0].name, "chat");
	assert_string_equal(c.queue[0].handler, "chat");
	assert_int_equal(c.queue[0].capacity, 1024);
	assert_int_equal(c.queue[0].job_timeout_ms, 30000);
	assert_int_equal(c.queue[0].workers, 1);
}

/* Every key, with CRLF endings, a BOM, both comment styles and ':'. */
static void test_all_keys(void **state)
{
	static struct shmrt_conf c;
	char text[4096], err[512];
	const char *t48 = "t23456789012345678901234567890123456789012345678";

	(void)state;
	snprintf(text, sizeof(text),
		 "\xEF\xBB\xBF; all keys\r\n"
		 "[runtime] ; the runtime\r\n"
		 "mode = inline\r\n"
		 "on_init_error = degrade\r\n"
		 "# a hash comment\r\n"
		 "spin_us = 0\r\n"
		 "scan_interval_ms = 3600000 ; inline comment\r\n"
		 "retention_ms = 604800000\r\n"
		 "drain_timeout_ms: 0\r\n"
		 "participants = 4096\r\n"
		 "heartbeat_timeout_ms = 0\r\n"
		 "\r\n"
		 "[tenant %s]\r\n"
		 "group = shmrt-users\r\n"
		 "[tenant b]\r\n"
		 "[queue q.1_x-Y]\r\n"
		 "capacity = 4194304\r\n"
		 "slot_size = 1048576\r\n"
		 "max_attempts = 1000\r\n"
		 "retry_backoff_ms = 3600000\r\n"
		 "job_timeout_ms = 0\r\n"
		 "laned = Yes\r\n"
		 "semaphore_limit = 1024\r\n"
		 "workers = 256\r\n"
		 "handler = builtin.echo\r\n"
		 "record_file = /var/tmp/rec ord.log\r\n"
		 "idempotency_ttl_ms = 604800000\r\n"
		 "lanes = 4194304\r\n"
		 "idempotency_keys = 1\r\n"
		 "retention = strict\r\n"
		 "[queue second]\r\n"
		 "handler=h\r\n"
		 "laned = off",
		 t48);
	assert_int_equal(load_text(text, &c, err, sizeof(err)), 0);
	assert_int_equal(c.mode, SHMRT_CONF_MODE_INLINE);
	assert_int_equal(c.on_init_error, SHMRT_CONF_ON_ERROR_DEGRADE);
	assert_int_equal(c.spin_us, 0);
	assert_int_equal(c.scan_interval_ms, 3600000);
	assert_int_equal(c.retention_ms, 604800000);
	assert_int_equal(c.drain_timeout_ms, 0);
	assert_int_equal(c.participants, 4096);
	assert_int_equal(c.ntenants, 2);
	assert_string_equal(c.tenant[0].name, t48);
	assert_string_equal(c.tenant[0].group, "shmrt-users");
	assert_string_equal(c.tenant[1].name, "b");
	assert_int_equal(c.nqueues, 2);
	assert_string_equal(c.queue[0].name, "q.1_x-Y");
	assert_int_equal(c.queue[0].capacity, 4194304);
	assert_int_equal(c.queue[0].slot_size, 1048576);
	assert_int_equal(c.queue[0].max_attempts, 1000);
	assert_int_equal(c.queue[0].retry_backoff_ms, 3600000);
	assert_int_equal(c.queue[0].job_timeout_ms, 0);
	assert_true(c.queue[0].laned);
	assert_int_equal(c.queue[0].semaphore_limit, 1024);
	assert_int_equal(c.queue[0].lanes, 4194304);
	assert_int_equal(c.queue[0].idempotency_keys, 1);
	assert_int_equal(c.queue[0].retention, SHMRT_CONF_RETENTION_STRICT);
	assert_int_equal(c.queue[1].retention, SHMRT_CONF_RETENTION_EVICT);
	assert_int_equal(c.heartbeat_timeout_ms, 0);
	assert_int_equal(c.queue[1].lanes, 0);
	assert_int_equal(c.queue[1].idempotency_keys, 0);
	assert_int_equal(c.queue[0].workers, 256);
	assert_string_equal(c.queue[0].handler, "builtin.echo");
	assert_string_equal(c.queue[0].record_file, "/var/tmp/rec ord.log");
	assert_int_equal(c.queue[0].idempotency_ttl_ms, 604800000);
	assert_string_equal(c.queue[1].handler, "h");
	assert_false(c.queue[1].laned);
	assert_int_equal(c.queue[1].capacity, 1024);
}

/* The file the README runs with, found from this source file or the cwd. */
static int find_shipped_conf(char *out, size_t outlen)
{
	const char *src = getenv("SHMRT_SOURCE_DIR");
	const char *slash = strrchr(__FILE__, '/');
	int up;

	if (src != NULL && src[0] != '\0') {
		snprintf(out, outlen, "%s/conf/shmrt.ini", src);
		if (access(out, R_OK) == 0)
			return 0;
	}
	/* __FILE__ is .../tests/unit/test_conf.c (absolute under CMake). */
	if (slash != NULL) {
		snprintf(out, outlen, "%.*s/../../conf/shmrt.ini",
			 (int)(slash - __FILE__), __FILE__);
		if (access(out, R_OK) == 0)
			return 0;
	}
	for (up = 0; up <= 5; up++) {
		snprintf(out, outlen, "%.*sconf/shmrt.ini", 3 * up,
			 "../../../../../../");
		if (access(out, R_OK) == 0)
			return 0;
	}
	return -1;
}

static void test_shipped_conf_loads(void **state)
{
	static struct shmrt_conf c;
	char path[4096], err[512];
	int i;

	(void)state;
	assert_int_equal(find_shipped_conf(path, sizeof(path)), 0);
	assert_int_equal(shmrt_conf_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c.mode, SHMRT_CONF_MODE_PROCESS);
	assert_int_equal(c.on_init_error, SHMRT_CONF_ON_ERROR_DEGRADE);
	assert_int_equal(c.participants, 64);
	assert_int_equal(c.ntenants, 1);
	assert_string_equal(c.tenant[0].name, "demo");
	assert_int_equal(c.nqueues, 4);
	i = shmrt_conf_queue_index(&c, "chat");
	assert_int_equal(i, 0);
	assert_true(c.queue[i].laned);
	assert_int_equal(c.queue[i].workers, 2);
	assert_int_equal(c.queue[i].capacity, 4096);
	i = shmrt_conf_queue_index(&c, "upload");
	assert_int_equal(c.queue[i].semaphore_limit, 2);
	assert_int_equal(c.queue[i].slot_size, 4096);
	i = shmrt_conf_queue_index(&c, "exam");
	assert_int_equal(c.queue[i].job_timeout_ms, 10000);
	assert_string_equal(c.queue[i].handler, "exam");
	i = shmrt_conf_queue_index(&c, "profile");
	assert_int_equal(c.queue[i].idempotency_ttl_ms, 60000);
	assert_string_equal(c.queue[i].handler, "profile");
}

/* Lines of up to SHMRT_CONF_LINE_MAX pass inih whole: counts stay right. */
static void test_longest_lines_keep_line_numbers(void **state)
{
	static struct shmrt_conf c;
	char text[4096], err[512];
	char x[SHMRT_CONF_LINE_MAX], y[SHMRT_CONF_LINE_MAX];
	/* "record_file = " is 14 characters: the value fills the line. */
	char rec[SHMRT_CONF_LINE_MAX - 14 + 1];

	(void)state;
	fill(rec, sizeof(rec), 'r')[0] = '/';
	snprintf(text, sizeof(text),
		 ";%s\n#%s\n" VALID_TAIL
		 "record_file = %s\n\n; c\nworkers = 9x\n",
		 fill(x, sizeof(x), 'x'), fill(y, sizeof(y), 'y'), rec);
	expect_error(text, ":9: [queue chat] workers: '9x' is not a number");
	/* Without the bad line, the full-length value arrives intact. */
	*strstr(text, "workers") = '\0';
	assert_int_equal(load_text(text, &c, err, sizeof(err)), 0);
	assert_string_equal(c.queue[0].record_file, rec);
}

/* ------------------------------------------------------- one error class each
 */

static void test_unknown_section(void **state)
{
	(void)state;
	expect_error("; x\n[runtime]\n[quue chat]\nhandler = chat\n" VALID_TAIL,
		     ":3: unknown section [quue chat]");
	expect_error(VALID_TAIL "[runtime x]\n",
		     ":4: unknown section [runtime x]");
	expect_error(VALID_TAIL "\n[queue]\n",
		     ":5: section [queue] needs a name: [queue NAME]");
	expect_error("[tenant a] junk\n",
		     ":1: unexpected text 'junk' after ']'");
}

static void test_unknown_key(void **state)
{
	(void)state;
	expect_error(
	    "[runtime]\n; the spin\n\n# before sleeping\n\n\nspinus = 5\n",
	    ":7: [runtime] unknown key 'spinus'");
	expect_error(VALID_TAIL "hander = x\n",
		     ":4: [queue chat] unknown key 'hander'");
	expect_error("[tenant demo]\ngroups = x\n",
		     ":2: [tenant demo] unknown key 'groups'");
}

static void test_key_outside_section(void **state)
{
	(void)state;
	expect_error("; top\nmode = inline\n" VALID_TAIL,
		     ":2: key 'mode' is outside any section ([runtime], "
		     "[tenant NAME] or [queue NAME])");
}

static void test_bad_number(void **state)
{
	(void)state;
	expect_error(VALID_TAIL "capacity = 12x\n",
		     ":4: [queue chat] capacity: '12x' is not a number");
	expect_error(VALID_TAIL "capacity =\n",
		     ":4: [queue chat] capacity: '' is not a number");
	expect_error(VALID_TAIL "capacity = 0x10\n",
		     ":4: [queue chat] capacity: '0x10' is not a number");
	expect_error(VALID_TAIL "capacity = +5\n",
		     ":4: [queue chat] capacity: '+5' is not a number");
	expect_error("[runtime]\nspin_us = 1 000\n",
		     ":2: [runtime] spin_us: '1 000' is not a number");
}

static void test_out_of_range(void **state)
{
	(void)state;
	expect_error(
	    VALID_TAIL "\ncapacity = 0\n",
	    ":5: [queue chat] capacity: 0 is out of range (1..4194304)");
	expect_error(
	    VALID_TAIL "capacity = 4194305\n",
	    ":4: [queue chat] capacity: 4194305 is out of range (1..4194304)");
	expect_error(VALID_TAIL "workers = -1\n",
		     ":4: [queue chat] workers: -1 is out of range (0..256)");
	expect_error("[runtime]\nretention_ms = 99999999999999999999999\n",
		     ":2: [runtime] retention_ms: 99999999999999999999999 is "
		     "out of range (0..604800000)");
	expect_error(
	    "[runtime]\nscan_interval_ms = 0\n",
	    ":2: [runtime] scan_interval_ms: 0 is out of range (1..3600000)");
}

static void test_bad_boolean(void **state)
{
	(void)state;
	expect_error(VALID_TAIL "laned = maybe\n",
		     ":4: [queue chat] laned: 'maybe' is not a boolean "
		     "(true/false, yes/no, on/off, 1/0)");
}

static void test_bad_enum(void **state)
{
	(void)state;
	expect_error("[runtime]\nmode = threads\n" VALID_TAIL,
		     ":2: [runtime] mode: 'threads' is not inline or process");
	expect_error(
	    "[runtime]\nmode = inline\non_init_error = ignore\n",
	    ":3: [runtime] on_init_error: 'ignore' is not fail or degrade");
}

static void test_bad_string(void **state)
{
	char text[512], h[SHMRT_CONF_HANDLER_MAX + 1];

	(void)state;
	expect_error("[tenant demo]\n[queue chat]\nhandler =\n",
		     ":3: [queue chat] handler: the value is empty");
	expect_error(
	    "[tenant demo]\n[queue chat]\nhandler = a/b\n",
	    ":3: [queue chat] handler: 'a/b' may use only [A-Za-z0-9._-]");
	snprintf(text, sizeof(text),
		 "[tenant demo]\n[queue chat]\nhandler = %s\n",
		 fill(h, sizeof(h), 'h'));
	assert_int_equal(load_text(text, &(struct shmrt_conf){0}, NULL, 0),
			 SHMRT_E_CONF);
	assert_non_null(
	    strstr(shmrt_last_error(), ":3: [queue chat] handler: 'hhh"));
	assert_non_null(
	    strstr(shmrt_last_error(), "' is longer than 63 characters"));
	expect_error("[tenant demo]\ngroup = wheel staff\n",
		     ":2: [tenant demo] group: 'wheel staff' may use only "
		     "[A-Za-z0-9._-]");
}

static void test_duplicate_queue(void **state)
{
	(void)state;
	expect_error(
	    VALID_TAIL
	    "[queue upload]\nhandler = u\n\n[queue chat]\nhandler = c\n",
	    ":7: duplicate queue 'chat' (first defined at line 2)");
}

static void test_duplicate_tenant(void **state)
{
	(void)state;
	expect_error(VALID_TAIL "[tenant b]\n[tenant demo]\n",
		     ":5: duplicate tenant 'demo' (first defined at line 1)");
}

static void test_duplicate_runtime(void **state)
{
	(void)state;
	expect_error(
	    "[runtime]\n" VALID_TAIL "[runtime]\n",
	    ":5: duplicate section [runtime] (first defined at line 1)");
}

static void test_duplicate_key(void **state)
{
	(void)state;
	expect_error(
	    VALID_TAIL "workers = 2\nworkers = 3\n",
	    ":5: [queue chat] duplicate key 'workers' (first set at line 4)");
	expect_error(
	    VALID_TAIL "handler = again\n",
	    ":4: [queue chat] duplicate key 'handler' (first set at line 3)");
}

static void test_invalid_queue_name(void **state)
{
	char text[256], q31[SHMRT_CONF_NAME_MAX], q32[SHMRT_CONF_NAME_MAX + 1];

	(void)state;
	expect_error("[tenant demo]\n[queue ch at]\nhandler = c\n",
		     ":2: invalid queue name 'ch at' (use 1..31 of "
		     "[A-Za-z0-9._-], not '.' or '..')");
	expect_error("[tenant demo]\n[queue ..]\nhandler = c\n",
		     ":2: invalid queue name '..' (use 1..31 of "
		     "[A-Za-z0-9._-], not '.' or '..')");
	/* 31 characters is the longest name; 32 is refused. */
	snprintf(text, sizeof(text), "[tenant demo]\n[queue %s]\nhandler = c\n",
		 fill(q31, sizeof(q31), 'q'));
	assert_int_equal(load_text(text, &(struct shmrt_conf){0}, NULL, 0), 0);
	snprintf(text, sizeof(text), "[tenant demo]\n[queue %s]\nhandler = c\n",
		 fill(q32, sizeof(q32), 'q'));
	assert_int_equal(load_text(text, &(struct shmrt_conf){0}, NULL, 0),
			 SHMRT_E_CONF);
	assert_non_null(
	    strstr(shmrt_last_error(), ":2: invalid queue name 'qqq"));
}

static void test_invalid_tenant_name(void **state)
{
	char text[256], want[256], t49[SHMRT_CONF_TENANT_MAX + 1];

	(void)state;
	fill(t49, sizeof(t49), 't');
	expect_error("[tenant ..]\n", ":1: invalid tenant name '..' (use 1..48 "
				      "of [A-Za-z0-9._-], not '.' or '..')");
	expect_error("; x\n[tenant a/b]\n",
		     ":2: invalid tenant name 'a/b' (use 1..48 of "
		     "[A-Za-z0-9._-], not '.' or '..')");
	/* 49 characters: longer than inih's own section buffer holds. */
	snprintf(text, sizeof(text), "[queue q]\nhandler = q\n[tenant %s]\n",
		 t49);
	snprintf(want, sizeof(want),
		 ":3: invalid tenant name '%s' (use 1..48 of [A-Za-z0-9._-], "
		 "not '.' or '..')",
		 t49);
	expect_error(text, want);
}

static void test_missing_handler(void **state)
{
	(void)state;
	/* Found when the next section starts: the header's line. */
	expect_error(
	    VALID_TAIL
	    "\n[queue upload]\nworkers = 2\n\n[queue exam]\nhandler = e\n",
	    ":5: [queue upload] handler is required");
	/* Found at the end of the file. */
	expect_error(VALID_TAIL "[queue upload]\nworkers = 2\n",
		     ":4: [queue upload] handler is required");
}

static void test_line_too_long(void **state)
{
	char text[1024], z[SHMRT_CONF_LINE_MAX], big[601];

	(void)state;
	snprintf(text, sizeof(text), VALID_TAIL "; %s\nworkers = x\n",
		 fill(z, sizeof(z), 'z'));
	expect_error(text, ":4: line is longer than 197 characters");
	snprintf(text, sizeof(text), VALID_TAIL "\n\nrecord_file = %s\n",
		 fill(big, sizeof(big), 'z'));
	expect_error(text, ":6: line is longer than 197 characters");
}

/*
 * A file with no newline at all stops at the line limit, naming file
 * and line, instead of growing a buffer without bound (it grew to about
 * 1 GB on /dev/zero). In a child with its address space capped at 64 MB
 * (not under a sanitizer, whose shadow memory needs terabytes of it), so
 * the unbounded buffer fails fast; the child reports by exit code.
 */
static void test_no_newline_stops_at_line_limit(void **state)
{
	pid_t pid;

	(void)state;
	pid = tu_fork(99);
	if (pid == 0) {
		static struct shmrt_conf c;
		char e[256];
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
		struct rlimit lim = { 64u << 20, 64u << 20 };

		if (setrlimit(RLIMIT_AS, &lim) != 0)
			_exit(2);
#endif
		_exit(shmrt_conf_load("/dev/zero", &c, e, sizeof(e)) ==
				      SHMRT_E_CONF &&
			      strcmp(e, "/dev/zero:1: line is longer than "
					"197 characters") == 0
		      ? 0
		      : 1);
	}
	assert_int_equal(tu_wait_child(pid, 30000), 0);
}

static void test_indented_line(void **state)
{
	(void)state;
	expect_error(
	    VALID_TAIL
	    "workers = 2\n  ; indented comments are fine\n\tcapacity = 8\n",
	    ":6: line is indented (inih would join it to the previous value); "
	    "remove the leading whitespace");
}

static void test_syntax_error(void **state)
{
	(void)state;
	expect_error(VALID_TAIL "; ok\nworkers\n",
		     ":5: syntax error: expected [SECTION] or key = value");
	/* inih does not stop at its own error: it still wins, being earlier. */
	expect_error("[tenant demo\n" VALID_TAIL "bogus = 1\n",
		     ":1: syntax error: expected [SECTION] or key = value");
}

static void test_no_tenant(void **state)
{
	(void)state;
	expect_error("[runtime]\n[queue chat]\nhandler = chat\n",
		     ": no [tenant NAME] section or [tenant *] "
		     "template (at least one is required)");
	expect_error("",
		     ": no [tenant NAME] section or [tenant *] "
		     "template (at least one is required)");
}

static void test_no_queue(void **state)
{
	(void)state;
	expect_error("[runtime]\n[tenant demo]\n",
		     ": no [queue NAME] section (at least one is required)");
}

static void test_too_many_queues(void **state)
{
	static char text[SHMRT_CONF_MAX_QUEUES * 32 + 64];
	size_t n = 0;
	int i;

	(void)state;
	n += (size_t)snprintf(text, sizeof(text), "[tenant demo]\n");
	for (i = 0; i <= SHMRT_CONF_MAX_QUEUES; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "[queue q%d]\nhandler = h\n", i);
	/* Queue number 65's header is line 1 + 2 * 64 + 1 = 130. */
	expect_error(text, ":130: too many queues (at most 64)");
}

static void test_nonexistent_file(void **state)
{
	struct shmrt_conf c;
	char path[128], err[512], want[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/missing.ini", tmpdir);
	snprintf(want, sizeof(want), "%s: cannot open: %s", path,
		 strerror(ENOENT));
	assert_int_equal(shmrt_conf_load(path, &c, err, sizeof(err)),
			 SHMRT_E_SYS);
	assert_string_equal(err, want);
	assert_string_equal(shmrt_last_error(), want);
}

static void test_directory_is_unreadable(void **state)
{
	struct shmrt_conf c;
	char err[512], want[512];

	(void)state;
	snprintf(want, sizeof(want), "%s: cannot read: %s", tmpdir,
		 strerror(EISDIR));
	assert_int_equal(shmrt_conf_load(tmpdir, &c, err, sizeof(err)),
			 SHMRT_E_SYS);
	assert_string_equal(err, want);
}

/* ------------------------------------------------------ API edges and env */

static void test_err_buffer_edges(void **state)
{
	struct shmrt_conf c;
	char err[16];

	(void)state;
	memset(err, 'x', sizeof(err));
	assert_int_equal(
	    load_text("[runtime]\nbad = 1\n", &c, err, sizeof(err)),
	    SHMRT_E_CONF);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_int_equal(strncmp(err, tmppath, sizeof(err) - 1), 0);
	assert_int_equal(load_text("[runtime]\nbad = 1\n", &c, NULL, 0),
			 SHMRT_E_CONF);
	assert_non_null(
	    strstr(shmrt_last_error(), ":2: [runtime] unknown key 'bad'"));
	assert_int_equal(shmrt_conf_load(NULL, &c, err, sizeof(err)),
			 SHMRT_E_INVAL);
}

static void test_conf_path(void **state)
{
	char path[128];

	(void)state;
	unlink(shmrt_conf_installed_path()); /* left by a failed run */
	unsetenv("SHMRT_CONF");
	assert_string_equal(shmrt_conf_path(NULL), SHMRT_CONF_DEFAULT_PATH);
	assert_string_equal(shmrt_conf_path(""), "conf/shmrt.ini");
	assert_string_equal(shmrt_conf_path("x.ini"), "x.ini");
	setenv("SHMRT_CONF", "", 1);
	assert_string_equal(shmrt_conf_path(NULL), "conf/shmrt.ini");
	/* SHMRT_CONF names the file shmrt_conf_load then reads. */
	setenv("SHMRT_CONF", tmppath, 1);
	assert_string_equal(shmrt_conf_path(NULL), tmppath);
	assert_string_equal(shmrt_conf_path(""), tmppath);
	assert_string_equal(shmrt_conf_path("x.ini"), "x.ini");
	snprintf(path, sizeof(path), "%s", shmrt_conf_path(NULL));
	write_file(path, VALID_TAIL);
	assert_int_equal(
	    shmrt_conf_load(path, &(struct shmrt_conf){0}, NULL, 0), 0);
	unlink(path);
	unsetenv("SHMRT_CONF");
}

/* Without -c or SHMRT_CONF: ./conf/shmrt.ini when it exists, else the
 * installed file when it exists (the tests' build has its own). */
static void test_conf_path_installed(void **state)
{
	const char *installed = shmrt_conf_installed_path();
	char cwd[512], dir[64], cmd[1200];

	(void)state;
	unsetenv("SHMRT_CONF");
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(dir, sizeof(dir), "/tmp/shmrt-confpath-%d", (int)getpid());
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(chdir(dir), 0);
	unlink(installed);
	assert_string_equal(shmrt_conf_path(NULL), SHMRT_CONF_DEFAULT_PATH);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\" && "
		 "touch '%s'", installed, installed);
	assert_int_equal(system(cmd), 0);
	assert_string_equal(shmrt_conf_path(NULL), installed);
	assert_string_equal(shmrt_conf_path("x.ini"), "x.ini");
	setenv("SHMRT_CONF", "y.ini", 1);
	assert_string_equal(shmrt_conf_path(NULL), "y.ini");
	unsetenv("SHMRT_CONF");
	assert_int_equal(mkdir("conf", 0700), 0);
	write_file("conf/shmrt.ini", VALID_TAIL);
	assert_string_equal(shmrt_conf_path(NULL), SHMRT_CONF_DEFAULT_PATH);
	unlink("conf/shmrt.ini");
	rmdir("conf");
	unlink(installed);
	assert_int_equal(chdir(cwd), 0);
	rmdir(dir);
}

static void test_mode_env(void **state)
{
	struct shmrt_conf c;
	char err[128];

	(void)state;
	shmrt_conf_defaults(&c);
	unsetenv("SHMRT_MODE");
	assert_int_equal(shmrt_conf_apply_env(&c, err, sizeof(err)), 0);
	assert_int_equal(c.mode, SHMRT_CONF_MODE_PROCESS);
	setenv("SHMRT_MODE", "inline", 1);
	assert_int_equal(shmrt_conf_apply_env(&c, err, sizeof(err)), 0);
	assert_int_equal(c.mode, SHMRT_CONF_MODE_INLINE);
	setenv("SHMRT_MODE", "process", 1);
	assert_int_equal(shmrt_conf_apply_env(&c, err, sizeof(err)), 0);
	assert_int_equal(c.mode, SHMRT_CONF_MODE_PROCESS);
	setenv("SHMRT_MODE", "", 1);
	assert_int_equal(shmrt_conf_apply_env(&c, err, sizeof(err)), 0);
	assert_int_equal(c.mode, SHMRT_CONF_MODE_PROCESS);
	setenv("SHMRT_MODE", "xyz", 1);
	assert_int_equal(shmrt_conf_apply_env(&c, err, sizeof(err)),
			 SHMRT_E_CONF);
	assert_string_equal(err, "SHMRT_MODE: 'xyz' is not inline or process");
	assert_string_equal(shmrt_last_error(), err);
	assert_int_equal(c.mode, SHMRT_CONF_MODE_PROCESS);
	unsetenv("SHMRT_MODE");
}

/* Test mode: SHMRT_MODE=inline turns it on, SHMRT_TEST_MODE is its own
 * switch and wins; a bad value names the variable. */
static void test_env_test_mode(void **state)
{
	struct shmrt_conf c;
	char err[128];

	(void)state;
	shmrt_conf_defaults(&c);
	assert_false(c.test_mode);
	setenv("SHMRT_MODE", "inline", 1);
	unsetenv("SHMRT_TEST_MODE");
	assert_int_equal(shmrt_conf_apply_env(&c, err, sizeof(err)), 0);
	assert_true(c.test_mode);
	setenv("SHMRT_TEST_MODE", "0", 1);
	assert_int_equal(shmrt_conf_apply_env(&c, err, sizeof(err)), 0);
	assert_false(c.test_mode);
	assert_int_equal(c.mode, SHMRT_CONF_MODE_INLINE);
	setenv("SHMRT_MODE", "process", 1);
	setenv("SHMRT_TEST_MODE", "1", 1);
	assert_int_equal(shmrt_conf_apply_env(&c, err, sizeof(err)), 0);
	assert_true(c.test_mode);
	assert_int_equal(c.mode, SHMRT_CONF_MODE_INLINE);
	unsetenv("SHMRT_TEST_MODE");
	assert_int_equal(shmrt_conf_apply_env(&c, err, sizeof(err)), 0);
	assert_false(c.test_mode);
	assert_int_equal(c.mode, SHMRT_CONF_MODE_PROCESS);
	setenv("SHMRT_TEST_MODE", "yes", 1);
	assert_int_equal(shmrt_conf_apply_env(&c, err, sizeof(err)),
			 SHMRT_E_CONF);
	assert_string_equal(err, "SHMRT_TEST_MODE: 'yes' is not 0 or 1");
	unsetenv("SHMRT_TEST_MODE");
	unsetenv("SHMRT_MODE");
}

static void test_queue_index(void **state)
{
	static struct shmrt_conf c;

	(void)state;
	assert_int_equal(
	    load_text(VALID_TAIL "[queue b]\nhandler = b\n", &c, NULL, 0), 0);
	assert_int_equal(shmrt_conf_queue_index(&c, "chat"), 0);
	assert_int_equal(shmrt_conf_queue_index(&c, "b"), 1);
	assert_int_equal(shmrt_conf_queue_index(&c, "c"), -1);
	assert_int_equal(shmrt_conf_queue_index(&c, "cha"), -1);
	assert_int_equal(shmrt_conf_queue_index(&c, NULL), -1);
}

/* The shipped file's commented template, uncommented, serves any name. */
static void test_shipped_template_uncommented(void **state)
{
	static struct shmrt_conf c;
	char path[4096], cmd[8400];

	(void)state;
	assert_int_equal(find_shipped_conf(path, sizeof(path)), 0);
	snprintf(cmd, sizeof(cmd),
		 "sed -e 's/^;\\[tenant \\*\\]$/[tenant *]/' "
		 "-e 's/^;group = NAME$/group = staff/' '%s' >'%s'",
		 path, tmppath);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(shmrt_conf_load(tmppath, &c, NULL, 0), 0);
	unlink(tmppath);
	assert_true(c.has_template);
	assert_int_equal(c.ntenants, 1);
	assert_string_equal(c.tenant[0].group, "staff"); /* inherited */
	assert_int_equal(shmrt_conf_select_tenant(&c, "customer-4711"), 0);
	assert_string_equal(c.tenant[0].name, "customer-4711");
	assert_string_equal(c.tenant[0].group, "staff");
	assert_int_equal(c.nqueues, 4);
}

/* ---------------------------------------------------------- tenant template */

#define TEMPLATE_QUEUE "[queue chat]\nhandler = chat\n"

/* Selects `name` in a copy of *c; returns the result, *out the copy. */
static int select_in(const struct shmrt_conf *c, const char *name,
		     struct shmrt_conf *out)
{
	*out = *c;
	return shmrt_conf_select_tenant(out, name);
}

/*
 * The template serves any valid name; a [tenant NAME] section overrides
 * it and inherits the keys it does not set, wherever the template sits.
 */
static void test_template_serves_any_name(void **state)
{
	static struct shmrt_conf c, s;

	(void)state;
	assert_int_equal(load_text("[tenant demo]\n"
				   "[tenant own]\ngroup = g2\n"
				   "[tenant plain]\ngroup =\n" TEMPLATE_QUEUE
				   "[tenant *]\ngroup = g1\n",
				   &c, NULL, 0),
			 0);
	assert_true(c.has_template);
	assert_int_equal(c.ntenants, 3);
	assert_string_equal(c.tenant_template.name, "*");
	assert_string_equal(c.tenant_template.group, "g1");
	/* Explicit sections: inherit unset keys, keep the ones they set. */
	assert_string_equal(c.tenant[0].group, "g1");
	assert_string_equal(c.tenant[1].group, "g2");
	assert_string_equal(c.tenant[2].group, "");
	/* A name in no section gets the template, under its own name. */
	assert_int_equal(select_in(&c, "acme-42", &s), 0);
	assert_int_equal(s.ntenants, 1);
	assert_string_equal(s.tenant[0].name, "acme-42");
	assert_string_equal(s.tenant[0].group, "g1");
	assert_int_equal(select_in(&c, "own", &s), 0);
	assert_string_equal(s.tenant[0].name, "own");
	assert_string_equal(s.tenant[0].group, "g2");
	/* NULL: the first [tenant NAME] section. */
	assert_int_equal(select_in(&c, NULL, &s), 0);
	assert_string_equal(s.tenant[0].name, "demo");
	assert_int_equal(s.ntenants, 1);
}

/* A template alone is a complete file; names it cannot serve are refused. */
static void test_template_alone(void **state)
{
	static struct shmrt_conf c, s;
	char t48[SHMRT_CONF_TENANT_MAX], t49[SHMRT_CONF_TENANT_MAX + 1];
	char want[512];

	(void)state;
	assert_int_equal(load_text("[tenant *]\n" TEMPLATE_QUEUE, &c, NULL, 0),
			 0);
	assert_int_equal(c.ntenants, 0);
	assert_string_equal(c.tenant_template.group, "");
	assert_int_equal(select_in(&c, fill(t48, sizeof(t48), 'x'), &s), 0);
	assert_string_equal(s.tenant[0].name, t48);
	/* No first tenant to default to. */
	assert_int_equal(select_in(&c, NULL, &s), SHMRT_E_CONF);
	snprintf(want, sizeof(want),
		 "%s: no tenant named, and the file has only the [tenant *] "
		 "template: name the tenant (any valid name)",
		 tmppath);
	assert_string_equal(shmrt_last_error(), want);
	assert_int_equal(select_in(&c, fill(t49, sizeof(t49), 'x'), &s),
			 SHMRT_E_NAME);
	assert_int_equal(select_in(&c, "..", &s), SHMRT_E_NAME);
	assert_int_equal(select_in(&c, "a/b", &s), SHMRT_E_NAME);
	assert_string_equal(shmrt_last_error(),
			    "invalid tenant name 'a/b' (use 1..48 of "
			    "[A-Za-z0-9._-], not '.' or '..')");
	assert_int_equal(select_in(&c, "", &s), SHMRT_E_NAME);
	/* A refused select leaves the conf as it was. */
	s = c;
	assert_int_equal(shmrt_conf_select_tenant(&s, "a/b"), SHMRT_E_NAME);
	assert_true(s.has_template);
	assert_int_equal(s.ntenants, 0);
}

/* Without a template an unlisted name is refused, saying how to allow it. */
static void test_no_template_refuses_unlisted(void **state)
{
	static struct shmrt_conf c, s;
	char want[512];

	(void)state;
	assert_int_equal(load_text(VALID_TAIL, &c, NULL, 0), 0);
	assert_false(c.has_template);
	assert_int_equal(select_in(&c, "acme", &s), SHMRT_E_CONF);
	snprintf(want, sizeof(want),
		 "%s: no [tenant acme] section, and no [tenant *] template: "
		 "add either to serve it",
		 tmppath);
	assert_string_equal(shmrt_last_error(), want);
	assert_int_equal(select_in(&c, "demo", &s), 0);
	assert_string_equal(s.tenant[0].name, "demo");
}

/* A bad template is reported with its file and line, like any section. */
static void test_template_errors(void **state)
{
	(void)state;
	expect_error("[tenant *]\n" TEMPLATE_QUEUE "[tenant *]\n",
		     ":4: duplicate template [tenant *] (first defined at "
		     "line 1)");
	expect_error("[tenant *]\ngrop = x\n" TEMPLATE_QUEUE,
		     ":2: [tenant *] unknown key 'grop'");
	expect_error(TEMPLATE_QUEUE "[tenant *]\ngroup = a b\n",
		     ":4: [tenant *] group: 'a b' may use only [A-Za-z0-9._-]");
	expect_error("[tenant *]\ngroup = a\ngroup = b\n" TEMPLATE_QUEUE,
		     ":3: [tenant *] duplicate key 'group' (first set at "
		     "line 2)");
	expect_error("[tenant a*]\n" TEMPLATE_QUEUE,
		     ":1: invalid tenant name 'a*' (use 1..48 of "
		     "[A-Za-z0-9._-], not '.' or '..')");
	expect_error("[tenant **]\n" TEMPLATE_QUEUE,
		     ":1: invalid tenant name '**' (use 1..48 of "
		     "[A-Za-z0-9._-], not '.' or '..')");
	expect_error("[tenant *]\n",
		     ": no [queue NAME] section (at least one is required)");
}

/* The template does not count against SHMRT_CONF_MAX_TENANTS. */
static void test_template_beside_max_tenants(void **state)
{
	static struct shmrt_conf c, s;
	char text[2048];
	size_t n = 0;
	int i;

	(void)state;
	for (i = 0; i < SHMRT_CONF_MAX_TENANTS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "[tenant t%d]\n", i);
	snprintf(text + n, sizeof(text) - n, "[tenant *]\n" TEMPLATE_QUEUE);
	assert_int_equal(load_text(text, &c, NULL, 0), 0);
	assert_int_equal(c.ntenants, SHMRT_CONF_MAX_TENANTS);
	assert_int_equal(select_in(&c, "t15", &s), 0);
	assert_int_equal(select_in(&c, "t16", &s), 0);
	assert_string_equal(s.tenant[0].name, "t16");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_minimal_file_gets_defaults),
	    cmocka_unit_test(test_all_keys),
	    cmocka_unit_test(test_shipped_conf_loads),
	    cmocka_unit_test(test_longest_lines_keep_line_numbers),
	    cmocka_unit_test(test_unknown_section),
	    cmocka_unit_test(test_unknown_key),
	    cmocka_unit_test(test_key_outside_section),
	    cmocka_unit_test(test_bad_number),
	    cmocka_unit_test(test_out_of_range),
	    cmocka_unit_test(test_bad_boolean),
	    cmocka_unit_test(test_bad_enum),
	    cmocka_unit_test(test_bad_string),
	    cmocka_unit_test(test_duplicate_queue),
	    cmocka_unit_test(test_duplicate_tenant),
	    cmocka_unit_test(test_duplicate_runtime),
	    cmocka_unit_test(test_duplicate_key),
	    cmocka_unit_test(test_invalid_queue_name),
	    cmocka_unit_test(test_invalid_tenant_name),
	    cmocka_unit_test(test_missing_handler),
	    cmocka_unit_test(test_line_too_long),
	    cmocka_unit_test(test_no_newline_stops_at_line_limit),
	    cmocka_unit_test(test_indented_line),
	    cmocka_unit_test(test_syntax_error),
	    cmocka_unit_test(test_no_tenant),
	    cmocka_unit_test(test_no_queue),
	    cmocka_unit_test(test_too_many_queues),
	    cmocka_unit_test(test_nonexistent_file),
	    cmocka_unit_test(test_directory_is_unreadable),
	    cmocka_unit_test(test_err_buffer_edges),
	    cmocka_unit_test(test_conf_path),
	    cmocka_unit_test(test_conf_path_installed),
	    cmocka_unit_test(test_mode_env),
	    cmocka_unit_test(test_env_test_mode),
	    cmocka_unit_test(test_queue_index),
	    cmocka_unit_test(test_table_sizes_default_to_capacity),
	    cmocka_unit_test(test_lanes_errors),
	    cmocka_unit_test(test_idempotency_keys_errors),
	    cmocka_unit_test(test_heartbeat_timeout_errors),
	    cmocka_unit_test(test_semaphore_limit_range),
	    cmocka_unit_test(test_template_serves_any_name),
	    cmocka_unit_test(test_template_alone),
	    cmocka_unit_test(test_no_template_refuses_unlisted),
	    cmocka_unit_test(test_template_errors),
	    cmocka_unit_test(test_template_beside_max_tenants),
	    cmocka_unit_test(test_shipped_template_uncommented),
	    cmocka_unit_test(test_backend_redis),
	    cmocka_unit_test(test_backend_redis_errors),
	    cmocka_unit_test(test_redis_addr_parse),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
