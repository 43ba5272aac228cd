/*
 * bench/redis.c - Redis as a job queue: LPUSH by the producer, BRPOP by
 * the worker, through hiredis, on the redis-server scripts/bench.sh
 * starts on 127.0.0.1 (persistence off).
 *
 *   ping-pong   one message there (LPUSH req / BRPOP req) and back
 *               (LPUSH rep / BRPOP rep); a sample is half the round trip.
 *   single      the producer LPUSHes n 64-byte jobs one command at a time,
 *               a worker process BRPOPs them one at a time;
 *   pipelined   both sides send 64 commands before reading the replies;
 *   N clients   each side spreads its commands over N/2 connections, each
 *               with its own pipeline (one server thread kept busy by
 *               many clients), popping with BRPOP or polling with RPOP;
 *   batched     64 jobs per command (LPUSH of 64 values, RPOP with a
 *               count of 64): Redis at its best, with a batch API that
 *               shmrt does not have.
 * The worker sends exactly n BRPOPs (the producer pushes exactly n jobs,
 * so none is left blocked) and counts what it pops; the rate is n over
 * first LPUSH to the last job popped. The best of these is the "best
 * configuration" row every shmrt throughput is compared with. In the
 * ping-pong, a message whose first byte is 'S' stops the echo.
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
#define MAX_CONN      32 /* connections per side */
#define MAX_PER	      64 /* jobs per command, batched */

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

/* How the worker pops: BRPOP, or polling RPOP (with a count when per > 1). */
enum pop_mode { POP_BLOCK, POP_POLL };

/* Jobs in one pop reply: 1 or more, 0 for nil (an empty list), or -1. */
static int popped_jobs(redisReply *r, enum pop_mode mode)
{
	int n = -1;

	if (mode == POP_BLOCK)
		return popped_byte(r) < 0 ? -1 : 1;
	if (r != NULL && r->type == REDIS_REPLY_NIL)
		n = 0;
	else if (r != NULL && r->type == REDIS_REPLY_ARRAY)
		n = (int)r->elements; /* RPOP key count */
	else if (r != NULL && r->type == REDIS_REPLY_STRING)
		n = 1;
	if (r != NULL)
		freeReplyObject(r);
	return n;
}

static void append_pop(redisContext *c, const char *key, enum pop_mode mode,
		       int per)
{
	if (mode == POP_BLOCK)
		redisAppendCommand(c, "BRPOP %s %d", key, CALL_TIMEOUT);
	else if (per > 1)
		redisAppendCommand(c, "RPOP %s %d", key, per);
	else
		redisAppendCommand(c, "RPOP %s", key);
}

/*
 * Worker: pop n jobs over `nconn` connections, each with up to `depth`
 * pops in flight. BRPOP (block): exactly n are sent, since the producer
 * pushes exactly n, so none is left blocked. RPOP (poll, Redis without
 * the cost of blocking a client; `per` jobs per pop with a count): an
 * empty list answers nil, and pops go on until n jobs came;
 * CALL_TIMEOUT without a job is an error.
 */
static int drain(redisContext **c, int nconn, const char *key, uint64_t n,
		 int depth, enum pop_mode mode, int per,
		 struct redis_report *rep)
{
	uint64_t issued = 0, seen = 0;
	uint64_t deadline = bench_deadline_ms(CALL_TIMEOUT * 1000);
	int k, i, sent[MAX_CONN];

	while (rep->count < n) {
		for (k = 0; k < nconn; k++)
			for (sent[k] = 0; sent[k] < depth &&
					  (mode == POP_POLL || issued < n);
			     sent[k]++, issued++)
				append_pop(c[k], key, mode, per);
		for (k = 0; k < nconn; k++) {
			for (i = 0; i < sent[k]; i++) {
				void *r = NULL;
				int got;

				if (redisGetReply(c[k], &r) != REDIS_OK ||
				    (got = popped_jobs(r, mode)) < 0)
					return -1;
				rep->count += (uint64_t)got;
			}
		}
		if (rep->count > seen) {
			seen = rep->count;
			deadline = bench_deadline_ms(CALL_TIMEOUT * 1000);
		} else if (bench_now_ns() > deadline) {
			return -1;
		}
	}
	rep->last_ns = bench_now_ns();
	return 0;
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

/* Open nconn connections; 0, or -1 with every one closed. */
static int connect_all(int port, redisContext **c, int nconn)
{
	int k;

	for (k = 0; k < nconn; k++) {
		if ((c[k] = connect_port(port)) == NULL) {
			while (k-- > 0)
				redisFree(c[k]);
			return -1;
		}
	}
	return 0;
}

static void free_all(redisContext **c, int nconn)
{
	int k;

	for (k = 0; k < nconn; k++)
		redisFree(c[k]);
}

/* argv: "echo"|"drain"|"poll", port, key, reply key, n, depth,
 * connections, jobs per pop */
int bench_redis_child(int argc, char **argv)
{
	redisContext *c[MAX_CONN];
	struct redis_report *rep;
	int rc, nconn;

	if (argc < 8)
		return BENCH_EX_USAGE;
	nconn = atoi(argv[6]);
	if (nconn < 1 || nconn > MAX_CONN)
		return BENCH_EX_USAGE;
	rep = bench_shared_child(0, NULL);
	if (rep == NULL || connect_all(atoi(argv[1]), c, nconn) != 0)
		return BENCH_EX_SETUP;
	__atomic_store_n(&rep->ready, 1, __ATOMIC_RELEASE);
	if (strcmp(argv[0], "echo") == 0)
		rc = echo(c[0], argv[2], argv[3]);
	else
		rc = drain(c, nconn, argv[2], strtoull(argv[4], NULL, 10),
			   atoi(argv[5]),
			   strcmp(argv[0], "poll") == 0 ? POP_POLL : POP_BLOCK,
			   atoi(argv[7]), rep);
	free_all(c, nconn);
	rep->err = rc;
	return rc == 0 ? BENCH_EX_OK : BENCH_EX_TIMEOUT;
}

/* One run: the keys, the worker, the report; the producer's part is fn. */
struct redis_run {
	int port, nconn;
	char req[96], rep_key[96];
	redisContext *c[MAX_CONN]; /* the producer's; c[0] for commands */
	struct redis_report *rep;
	int rep_fd;
	struct bench_child child;
	struct redis_report final; /* the worker's report, after run_end */
};

static int run_begin(struct redis_run *r, int port, const char *tag,
		     const char *mode, uint64_t n, int batch, int nconn, int per)
{
	char ns[24], bs[16], ps[16], cs[16], pers[16];
	const char *args[] = { mode, ps,  r->req, r->rep_key, ns,
			       bs,   cs, pers,   NULL };
	uint64_t deadline = bench_deadline_ms(CALL_TIMEOUT * 1000);

	memset(r, 0, sizeof(*r));
	r->port = port;
	r->nconn = nconn;
	snprintf(r->req, sizeof(r->req), "shmrt-bench:%d:%s", (int)getpid(),
		 tag);
	snprintf(r->rep_key, sizeof(r->rep_key), "%.80s:rep", r->req);
	snprintf(ns, sizeof(ns), "%llu", (unsigned long long)n);
	snprintf(bs, sizeof(bs), "%d", batch);
	snprintf(ps, sizeof(ps), "%d", port);
	snprintf(cs, sizeof(cs), "%d", nconn);
	snprintf(pers, sizeof(pers), "%d", per);
	r->rep = bench_shared_new(sizeof(*r->rep), &r->rep_fd);
	if (r->rep == NULL || connect_all(port, r->c, nconn) != 0) {
		r->nconn = 0;
		return -1;
	}
	if (reply_ok(redisCommand(r->c[0], "DEL %s %s", r->req, r->rep_key),
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
	if (r->nconn > 0) {
		freeReplyObject(redisCommand(r->c[0], "DEL %s %s", r->req,
					     r->rep_key));
		free_all(r->c, r->nconn);
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
	rc = run_begin(&r, port, "ping", "echo", 0, 1, 1, 1);
	for (i = 0; rc == 0 && i < warmup + n; i++) {
		uint64_t t0 = bench_now_ns();

		rc = lpush(r.c[0], r.req, msg, sizeof(msg));
		if (rc == 0 && brpop(r.c[0], r.rep_key) < 0)
			rc = -1;
		if (rc == 0 && i >= warmup)
			bench_samples_add(&s, (bench_now_ns() - t0) / 2);
	}
	msg[0] = 'S';
	if (r.nconn > 0 && lpush(r.c[0], r.req, msg, sizeof(msg)) != 0)
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

/* One LPUSH of m copies of msg. */
static void append_push(redisContext *c, const char *key,
			const unsigned char *msg, int m)
{
	const char *argv[2 + MAX_PER];
	size_t len[2 + MAX_PER];
	int i;

	argv[0] = "LPUSH";
	len[0] = 5;
	argv[1] = key;
	len[1] = strlen(key);
	for (i = 0; i < m; i++) {
		argv[2 + i] = (const char *)msg;
		len[2 + i] = MSG;
	}
	redisAppendCommandArgv(c, 2 + m, argv, len);
}

/*
 * The producer side of a throughput run: n jobs over nconn connections,
 * `depth` LPUSHes in flight on each, `per` jobs per LPUSH.
 */
static int push_all(redisContext **c, int nconn, const char *key, uint64_t n,
		    int depth, int per)
{
	unsigned char msg[MSG];
	uint64_t sent = 0;
	int k, i, batch[MAX_CONN];

	memset(msg, 'j', sizeof(msg));
	while (sent < n) {
		for (k = 0; k < nconn; k++) {
			for (batch[k] = 0; batch[k] < depth && sent < n;
			     batch[k]++) {
				int m = n - sent < (uint64_t)per ? (int)(n - sent)
								 : per;

				append_push(c[k], key, msg, m);
				sent += (uint64_t)m;
			}
		}
		for (k = 0; k < nconn; k++) {
			for (i = 0; i < batch[k]; i++) {
				void *rep = NULL;

				if (redisGetReply(c[k], &rep) != REDIS_OK ||
				    reply_ok(rep, REDIS_REPLY_INTEGER) != 0)
					return -1;
			}
		}
	}
	return 0;
}

/*
 * One way of running Redis as a queue: connections per side, commands
 * in flight per connection, the worker's pop ("drain": BRPOP, "poll":
 * RPOP), and jobs per command (LPUSH values, RPOP count).
 */
struct redis_conf {
	const char *row;
	int nconn, depth;
	const char *pop;
	int per;
	uint64_t smoke_n, full_n;
};

static const struct redis_conf redis_confs[] = {
	{ R_REDIS_SINGLE, 1, 1, "drain", 1, 500, 50000 },
	{ R_REDIS_PIPE, 1, PIPE_DEPTH, "drain", 1, 5000, 500000 },
	{ "redis LPUSH/BRPOP, 8 clients (4+4), pipelined x64", 4,
	  PIPE_DEPTH, "drain", 1, 5000, 500000 },
	{ "redis LPUSH/RPOP, 8 clients (4+4), pipelined x64", 4,
	  PIPE_DEPTH, "poll", 1, 5000, 500000 },
	{ "redis LPUSH/RPOP, 50 clients (25+25), pipelined x16", 25,
	  16, "poll", 1, 5000, 500000 },
	{ "redis 64 jobs per LPUSH/RPOP, 8 clients (4+4), x16", 4, 16,
	  "poll", MAX_PER, 20000, 2000000 },
};

#define NREDIS_CONFS (sizeof(redis_confs) / sizeof(redis_confs[0]))

static void run_rate(int port, const struct redis_conf *rc_, uint64_t n)
{
	struct redis_run r;
	uint64_t t0 = 0, count = 0, last = 0;
	int rc = run_begin(&r, port, "rate", rc_->pop, n, rc_->depth,
			   rc_->nconn, rc_->per);

	if (rc == 0) {
		t0 = bench_now_ns();
		rc = push_all(r.c, r.nconn, r.req, n, rc_->depth, rc_->per);
	}
	if (run_end(&r) != 0)
		rc = -1;
	count = r.final.count;
	last = r.final.last_ns;
	if (rc == 0 && count == n && last > t0)
		bench_record_rate(G_TPUT_BASE, rc_->row,
				  (double)n / ((double)(last - t0) / 1e9));
	else
		bench_record_failure(G_TPUT_BASE, rc_->row, "redis run broke");
}

void bench_redis(const struct bench_cfg *c)
{
	const char *rows[NREDIS_CONFS];
	size_t i, nsingle = 0;

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
	for (i = 0; i < NREDIS_CONFS; i++) {
		bench_progress("redis: %s", redis_confs[i].row);
		run_rate(c->redis_port, &redis_confs[i],
			 bench_n(c, redis_confs[i].smoke_n,
				 redis_confs[i].full_n));
		rows[i] = redis_confs[i].row;
		nsingle += redis_confs[i].per == 1;
	}
	/* The one-job-per-command configurations come first. */
	bench_record_best_rate(G_TPUT_BASE, R_REDIS_BEST1, rows, nsingle);
	bench_record_best_rate(G_TPUT_BASE, R_REDIS_BEST, rows, NREDIS_CONFS);
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
