/*
 * bench/redis.c - Redis as a job queue: LPUSH by the producer, BRPOP by
 * the worker, through hiredis, on the redis-server scripts/bench.sh
 * starts on 127.0.0.1 (persistence off).
 *
 *   ping-pong   one message there (LPUSH req / BRPOP req) and back
 *               (LPUSH rep / BRPOP rep); a sample is half the round trip.
 *   single      the producer LPUSHes n 64-byte jobs one command at a time,
 *               a worker process BRPOPs them one at a time;
 *   pipelined   both sides send 64 commands before reading the replies.
 * A job whose first byte is 'S' stops the worker. The worker counts what
 * it pops; the rate is n over first LPUSH to the STOP popped.
 *
 * Built only when hiredis is installed (SHMRT_BENCH_HIREDIS); otherwise
 * the rows say so.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "proc.h"
#include "results.h"

#ifdef SHMRT_BENCH_HIREDIS
#include <hiredis/hiredis.h>

#include "shm/os.h"

#define MSG	      64
#define PIPE_DEPTH    64
#define CALL_TIMEOUT  10 /* seconds: every command and every BRPOP */
#define CHILD_EXIT_MS 30000

struct redis_report {
	uint64_t count;
	uint64_t last_ns;
	uint32_t ready;
	int32_t err;
};

static redisContext *connect_port(int port)
{
	struct timeval tv = { CALL_TIMEOUT, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);

	if (c == NULL || c->err) {
		if (c != NULL)
			redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	return c;
}

static int reply_ok(redisReply *r, int type)
{
	int ok = r != NULL && r->type == type;

	if (r != NULL)
		freeReplyObject(r);
	return ok ? 0 : -1;
}

static int lpush(redisContext *c, const char *key, const void *buf, size_t n)
{
	return reply_ok(redisCommand(c, "LPUSH %s %b", key, buf, n),
			REDIS_REPLY_INTEGER);
}

/* The first byte of a BRPOP reply's value; -1 on timeout or error. */
static int popped_byte(redisReply *r)
{
	int b = -1;

	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[1]->type == REDIS_REPLY_STRING && r->element[1]->len > 0)
		b = (unsigned char)r->element[1]->str[0];
	if (r != NULL)
		freeReplyObject(r);
	return b;
}

static int brpop(redisContext *c, const char *key)
{
	return popped_byte(redisCommand(c, "BRPOP %s %d", key, CALL_TIMEOUT));
}

/* Worker: pop until STOP, `batch` BRPOPs in flight; n jobs + 1 STOP. */
static int drain(redisContext *c, const char *key, uint64_t n, int batch,
		 struct redis_report *rep)
{
	uint64_t got = 0;

	while (got < n + 1) {
		uint64_t k = n + 1 - got, i;

		if (k > (uint64_t)batch)
			k = (uint64_t)batch;
		for (i = 0; i < k; i++)
			redisAppendCommand(c, "BRPOP %s %d", key, CALL_TIMEOUT);
		for (i = 0; i < k; i++) {
			void *r = NULL;
			int b;

			if (redisGetReply(c, &r) != REDIS_OK)
				return -1;
			b = popped_byte(r);
			if (b < 0)
				return -1;
			got++;
			if (b == 'S') {
				rep->last_ns = bench_now_ns();
				return 0;
			}
			rep->count++;
		}
	}
	return -1;
}

static int echo(redisContext *c, const char *req, const char *rep_key)
{
	unsigned char msg[MSG];

	memset(msg, 'r', sizeof(msg));
	for (;;) {
		int b = brpop(c, req);

		if (b < 0)
			return -1;
		if (b == 'S')
			return 0;
		if (lpush(c, rep_key, msg, sizeof(msg)) != 0)
			return -1;
	}
}

/* argv: "echo"|"drain", port, key, reply key, n, batch */
int bench_redis_child(int argc, char **argv)
{
	struct redis_report *rep;
	redisContext *c;
	int rc;

	if (argc < 6)
		return BENCH_EX_USAGE;
	rep = bench_shared_child(0, NULL);
	c = connect_port(atoi(argv[1]));
	if (rep == NULL || c == NULL)
		return BENCH_EX_SETUP;
	__atomic_store_n(&rep->ready, 1, __ATOMIC_RELEASE);
	if (strcmp(argv[0], "echo") == 0)
		rc = echo(c, argv[2], argv[3]);
	else
		rc = drain(c, argv[2], strtoull(argv[4], NULL, 10),
			   atoi(argv[5]), rep);
	redisFree(c);
	rep->err = rc;
	return rc == 0 ? BENCH_EX_OK : BENCH_EX_TIMEOUT;
}

/* One run: the keys, the worker, the report; the producer's part is fn. */
struct redis_run {
	int port;
	char req[96], rep_key[96];
	redisContext *c;
	struct redis_report *rep;
	int rep_fd;
	struct bench_child child;
	struct redis_report final; /* the worker's report, after run_end */
};

static int run_begin(struct redis_run *r, int port, const char *tag,
		     const char *mode, uint64_t n, int batch)
{
	char ns[24], bs[16], ps[16];
	const char *args[] = { mode, ps, r->req, r->rep_key, ns, bs, NULL };
	uint64_t deadline = bench_deadline_ms(CALL_TIMEOUT * 1000);

	memset(r, 0, sizeof(*r));
	r->port = port;
	snprintf(r->req, sizeof(r->req), "shmrt-bench:%d:%s", (int)getpid(),
		 tag);
	snprintf(r->rep_key, sizeof(r->rep_key), "%.80s:rep", r->req);
	snprintf(ns, sizeof(ns), "%llu", (unsigned long long)n);
	snprintf(bs, sizeof(bs), "%d", batch);
	snprintf(ps, sizeof(ps), "%d", port);
	r->c = connect_port(port);
	r->rep = bench_shared_new(sizeof(*r->rep), &r->rep_fd);
	if (r->c == NULL || r->rep == NULL)
		return -1;
	if (reply_ok(redisCommand(r->c, "DEL %s %s", r->req, r->rep_key),
		     REDIS_REPLY_INTEGER) != 0)
		return -1;
	if (bench_spawn(&r->child, "redis", &r->rep_fd, 1, args) != 0)
		return -1;
	while (!__atomic_load_n(&r->rep->ready, __ATOMIC_ACQUIRE)) {
		if (bench_now_ns() > deadline)
			return -1;
		shmrt__os_sleep_ns(200000);
	}
	return 0;
}

/* Reap the worker and free everything; -1 if the worker failed. */
static int run_end(struct redis_run *r)
{
	int rc = 0;

	if (r->child.pid > 0 && bench_child_wait(&r->child, CHILD_EXIT_MS) != 0)
		rc = -1;
	if (r->rep != NULL) {
		r->final = *r->rep;
		if (r->rep->err != 0)
			rc = -1;
	}
	if (r->c != NULL) {
		freeReplyObject(redisCommand(r->c, "DEL %s %s", r->req,
					     r->rep_key));
		redisFree(r->c);
	}
	if (r->rep != NULL)
		bench_shared_free(r->rep, sizeof(*r->rep), r->rep_fd);
	return rc;
}

static void run_pingpong(int port, uint64_t n)
{
	unsigned char msg[MSG];
	struct bench_samples s;
	struct redis_run r;
	uint64_t i, warmup = n / 10 + 20;
	int rc;

	memset(msg, 'j', sizeof(msg));
	bench_samples_init(&s, n);
	rc = run_begin(&r, port, "ping", "echo", 0, 1);
	for (i = 0; rc == 0 && i < warmup + n; i++) {
		uint64_t t0 = bench_now_ns();

		rc = lpush(r.c, r.req, msg, sizeof(msg));
		if (rc == 0 && brpop(r.c, r.rep_key) < 0)
			rc = -1;
		if (rc == 0 && i >= warmup)
			bench_samples_add(&s, (bench_now_ns() - t0) / 2);
	}
	msg[0] = 'S';
	if (r.c != NULL && lpush(r.c, r.req, msg, sizeof(msg)) != 0)
		rc = -1;
	if (run_end(&r) != 0)
		rc = -1;
	if (rc == 0)
		bench_ref(bench_record_latency(G_IPC, R_REDIS_PING, &s),
			  G_FLOORS, R_FUTEX_FLOOR, "futex floor");
	else
		bench_record_failure(G_IPC, R_REDIS_PING, "redis ping-pong "
							  "broke");
	bench_samples_free(&s);
}

/* The producer side of a throughput run: n jobs, then STOP. */
static int push_all(redisContext *c, const char *key, uint64_t n, int batch)
{
	unsigned char msg[MSG];
	uint64_t sent = 0;

	memset(msg, 'j', sizeof(msg));
	while (sent < n + 1) {
		uint64_t k = n + 1 - sent, i;

		if (k > (uint64_t)batch)
			k = (uint64_t)batch;
		for (i = 0; i < k; i++) {
			msg[0] = sent + i == n ? 'S' : 'j';
			redisAppendCommand(c, "LPUSH %s %b", key, msg,
					   sizeof(msg));
		}
		for (i = 0; i < k; i++) {
			void *rep = NULL;

			if (redisGetReply(c, &rep) != REDIS_OK ||
			    reply_ok(rep, REDIS_REPLY_INTEGER) != 0)
				return -1;
		}
		sent += k;
	}
	return 0;
}

static void run_rate(int port, uint64_t n, int batch, const char *row)
{
	struct redis_run r;
	uint64_t t0 = 0, count = 0, last = 0;
	int rc = run_begin(&r, port, batch > 1 ? "pipe" : "single", "drain",
			   n, batch);

	if (rc == 0) {
		t0 = bench_now_ns();
		rc = push_all(r.c, r.req, n, batch);
	}
	if (run_end(&r) != 0)
		rc = -1;
	count = r.final.count;
	last = r.final.last_ns;
	if (rc == 0 && count == n && last > t0)
		bench_record_rate(G_TPUT_BASE, row,
				  (double)n / ((double)(last - t0) / 1e9));
	else
		bench_record_failure(G_TPUT_BASE, row, "redis run broke");
}

void bench_redis(const struct bench_cfg *c)
{
	bench_group(G_IPC, "alternatives: one-way latency of a 64-byte message "
			   "between two processes");
	bench_group(G_TPUT_BASE, "throughput baselines: 1 producer process, "
				 "consumer processes, 64-byte entries");
	if (c->redis_port <= 0) {
		bench_record_skip(G_TPUT_BASE, "redis",
				  "no redis-server: pass --redis-port or run "
				  "scripts/bench.sh");
		return;
	}
	bench_progress("redis: ping-pong");
	run_pingpong(c->redis_port, bench_n(c, 100, 10000));
	bench_progress("redis: LPUSH/BRPOP, one command at a time");
	run_rate(c->redis_port, bench_n(c, 500, 50000), 1, R_REDIS_SINGLE);
	bench_progress("redis: LPUSH/BRPOP, pipelined");
	run_rate(c->redis_port, bench_n(c, 5000, 500000), PIPE_DEPTH,
		 R_REDIS_PIPE);
}

#else /* !SHMRT_BENCH_HIREDIS */

int bench_redis_child(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return BENCH_EX_USAGE;
}

void bench_redis(const struct bench_cfg *c)
{
	(void)c;
	bench_group(G_TPUT_BASE, "throughput baselines: 1 producer process, "
				 "consumer processes, 64-byte entries");
	bench_record_skip(G_TPUT_BASE, "redis", "hiredis not installed");
}

#endif /* SHMRT_BENCH_HIREDIS */
