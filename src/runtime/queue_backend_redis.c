/*
 * src/runtime/queue_backend_redis.c - the multi-host backend on Redis.
 *
 * The client side of queue_backend_redis.lua: it marshals each op into
 * one FCALL (or a plain read of one key), maps replies back, and keeps
 * the connections. Connections: each consumer (worker seat) has its own,
 * because it blocks on it; everyone else borrows one from a small pool.
 * A connection that fails is closed, never reused; the next call opens a
 * new one. Every reply is checked for type and every length read from it
 * is clamped before use: the server is trusted no more than a segment.
 */
#define _GNU_SOURCE
#include "queue_backend_redis.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <pthread.h>
#include <shmrt/error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "shm/error_detail.h"
#include "shm/os.h"

#define POOL_IDLE_MAX 16u
#define CONNECT_MS 1000u      /* connect timeout */
#define COMMAND_MS 2000u      /* reply timeout of a non-blocking command */
#define BACKOFF_MIN_NS 10000000ull
#define BACKOFF_MAX_NS 500000000ull
#define REAP_MAX "256"        /* leases one scan takes back at most */
#define LIB_VERSION "shmrt-redis-1"
#define ARGV_MAX 16
/*
 * Internal only: the server could not be reached (or the reply was lost).
 * Ops retry on it or return it as SHMRT_E_BACKEND (public_rc); an error
 * reply, after which a retry cannot help, is SHMRT_E_BACKEND itself.
 */
#define RB_LOST (-10000)

struct redis_backend {
	struct shmrt__backend base;
	struct shmrt_conf_redis_addr addr;
	char prefix[SHMRT_CONF_TENANT_MAX + 16]; /* "shmrt:{T}:" */
	char password[256];
	bool has_password;
	pthread_mutex_t pool_mu;
	redisContext *idle[POOL_IDLE_MAX];
	uint32_t nidle;
	int consumers;   /* our open seats (atomic) */
	int last_state;  /* the state last read: kept through an outage */
	int outage;      /* 1 while the last call could not reach the server */
	bool opened;     /* open succeeded: outages are worth a line */
	int64_t clock_ns; /* server clock (ns) - this host's CLOCK_MONOTONIC */
};

/* The lease as this backend keeps it inside struct shmrt__be_lease. */
struct redis_lease {
	uint64_t expires_ns; /* local estimate: give up retrying a finish */
};

_Static_assert(sizeof(struct redis_lease) <= SHMRT__BE_LEASE_IMPL,
	       "a redis lease must fit in struct shmrt__be_lease");

struct shmrt__consumer {
	redisContext *cx;
	char name[128];
	pthread_mutex_t mu;  /* guards cur_*: the heartbeat thread reads them */
	uint64_t cur_id, cur_tok;
};

/* Whether this thread's last RB_LOST was a reply timeout (the server is
 * there but not answering) rather than a closed connection. */
static __thread bool rb_timed_out;

static struct redis_backend *rb_of(struct shmrt__backend *be)
{
	return (struct redis_backend *)(void *)be;
}

/* --------------------------------------------------------- connections */

static struct timeval tv_ms(uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000u),
			      (suseconds_t)((ms % 1000u) * 1000u) };

	return tv;
}

static const char *addr_text(const struct redis_backend *b)
{
	return b->base.conf.redis;
}

/* AUTH with the password from the environment, when there is one. */
static int conn_auth(struct redis_backend *b, redisContext *cx)
{
	redisReply *r;
	int rc = 0;

	if (!b->has_password)
		return 0;
	r = redisCommand(cx, "AUTH %s", b->password);
	if (r == NULL)
		return shmrt__fail(SHMRT_E_BACKEND, "redis %s: AUTH: %s",
				   addr_text(b), cx->errstr);
	if (r->type == REDIS_REPLY_ERROR)
		rc = shmrt__fail(SHMRT_E_BACKEND, "redis %s refused the "
				 "password from $%s: %.200s", addr_text(b),
				 b->base.conf.redis_password_env, r->str);
	freeReplyObject(r);
	return rc;
}

/* A new connection, authenticated; NULL with a detail when it fails. */
static redisContext *conn_open(struct redis_backend *b)
{
	struct timeval tv = tv_ms(CONNECT_MS);
	redisContext *cx;

	if (b->addr.path[0] != '\0')
		cx = redisConnectUnixWithTimeout(b->addr.path, tv);
	else
		cx = redisConnectWithTimeout(b->addr.host, b->addr.port, tv);
	if (cx == NULL) {
		shmrt__fail(SHMRT_E_NOMEM, "redis %s: out of memory",
			    addr_text(b));
		return NULL;
	}
	if (cx->err != 0) {
		shmrt__fail(SHMRT_E_BACKEND, "cannot connect to redis %s: %s",
			    addr_text(b), cx->errstr);
		redisFree(cx);
		return NULL;
	}
	if (redisSetTimeout(cx, tv_ms(COMMAND_MS)) != REDIS_OK ||
	    conn_auth(b, cx) != 0) {
		if (cx->err != 0)
			shmrt__fail(SHMRT_E_BACKEND, "redis %s: %s",
				    addr_text(b), cx->errstr);
		redisFree(cx);
		return NULL;
	}
	return cx;
}

static redisContext *pool_get(struct redis_backend *b)
{
	redisContext *cx = NULL;

	pthread_mutex_lock(&b->pool_mu);
	if (b->nidle > 0)
		cx = b->idle[--b->nidle];
	pthread_mutex_unlock(&b->pool_mu);
	return cx != NULL ? cx : conn_open(b);
}

/* Back to the pool, or closed when it failed or the pool is full. */
static void pool_put(struct redis_backend *b, redisContext *cx)
{
	if (cx == NULL)
		return;
	pthread_mutex_lock(&b->pool_mu);
	if (cx->err == 0 && b->nidle < POOL_IDLE_MAX) {
		b->idle[b->nidle++] = cx;
		cx = NULL;
	}
	pthread_mutex_unlock(&b->pool_mu);
	if (cx != NULL)
		redisFree(cx);
}

/* Say once per outage that the server is gone, and once that it is back. */
static void outage_note(struct redis_backend *b, bool down)
{
	int was = __atomic_exchange_n(&b->outage, down ? 1 : 0,
				      __ATOMIC_RELAXED);

	if (!b->opened)
		return; /* open's caller reports its error */
	if (down && !was)
		fprintf(stderr, "shmrt: backend redis, tenant %s: %s; "
			"reconnecting with backoff\n", b->base.tenant,
			shmrt_last_error());
	else if (!down && was)
		fprintf(stderr, "shmrt: backend redis, tenant %s: redis %s is "
			"reachable again\n", b->base.tenant, addr_text(b));
}

/*
 * Error replies that mean "not now" rather than "no": a server loading
 * its data after a restart, busy with a script, or a replica that is
 * read-only or cut off after a failover. Handled as a lost connection:
 * closed (a new one may reach the new primary) and retried with backoff.
 */
static bool transient(const char *err)
{
	static const char *const words[] = { "LOADING", "BUSY", "TRYAGAIN",
					     "MASTERDOWN", "READONLY",
					     "CLUSTERDOWN" };
	size_t i, n;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		n = strlen(words[i]);
		if (strncmp(err, words[i], n) == 0 &&
		    (err[n] == ' ' || err[n] == '\0'))
			return true;
	}
	return false;
}

/*
 * Send argv on *cx (opening it first when NULL) and take the reply. A
 * connection failure or a transient error reply closes *cx (NULL after)
 * and returns RB_LOST; another error reply returns SHMRT_E_BACKEND with
 * the server's words, and the connection stays usable.
 */
static int cmd(struct redis_backend *b, redisContext **cx, int argc,
	       const char **argv, const size_t *lens, redisReply **out)
{
	redisReply *r;

	*out = NULL;
	if (*cx == NULL && (*cx = conn_open(b)) == NULL) {
		outage_note(b, true);
		return RB_LOST;
	}
	r = redisCommandArgv(*cx, argc, argv, lens);
	if (r == NULL) {
		/* hiredis reports a reply timeout as EAGAIN. */
		rb_timed_out = (*cx)->err == REDIS_ERR_IO &&
			       (errno == EAGAIN || errno == EWOULDBLOCK);
		shmrt__fail(SHMRT_E_BACKEND, "redis %s: %s: %s", addr_text(b),
			    argv[0], (*cx)->errstr);
		redisFree(*cx);
		*cx = NULL;
		outage_note(b, true);
		return RB_LOST;
	}
	if (r->type == REDIS_REPLY_ERROR && transient(r->str)) {
		shmrt__fail(SHMRT_E_BACKEND, "redis %s: %s: %.200s",
			    addr_text(b), argv[0], r->str);
		freeReplyObject(r);
		redisFree(*cx);
		*cx = NULL;
		rb_timed_out = false;
		outage_note(b, true);
		return RB_LOST;
	}
	outage_note(b, false);
	if (r->type == REDIS_REPLY_ERROR) {
		int rc = shmrt__fail(SHMRT_E_BACKEND, "redis %s: %s %s: %.300s%s",
				     addr_text(b), argv[0],
				     argc > 1 ? argv[1] : "", r->str,
				     strstr(r->str, "Function not found")
					 ? " (the function library is "
					   "missing: start the tenant with "
					   "shmrt run, which loads it)"
					 : "");
		freeReplyObject(r);
		return rc;
	}
	*out = r;
	return 0;
}

static int public_rc(int rc)
{
	return rc == RB_LOST ? SHMRT_E_BACKEND : rc;
}

/* The backoff after the n-th failed try: 10 ms doubling to 500 ms, cut
 * at the deadline. Returns false when the deadline has passed. */
static bool backoff(unsigned n, uint64_t deadline_ns)
{
	uint64_t ns = BACKOFF_MIN_NS << (n < 6 ? n : 6), now;

	if (ns > BACKOFF_MAX_NS)
		ns = BACKOFF_MAX_NS;
	now = shmrt__os_now_ns();
	if (now >= deadline_ns)
		return false;
	if (now + ns > deadline_ns)
		ns = deadline_ns - now;
	shmrt__os_sleep_ns(ns);
	return true;
}

/* --------------------------------------------------------------- FCALL */

/* An FCALL of function `fn` with the tenant's prefix as its one key. */
struct fcall {
	int argc;
	const char *argv[ARGV_MAX];
	size_t lens[ARGV_MAX];
	char num[ARGV_MAX][24]; /* storage of numeric arguments */
};

static void fc_start(struct fcall *f, struct redis_backend *b, const char *fn)
{
	f->argc = 0;
	f->argv[f->argc] = "FCALL";
	f->lens[f->argc++] = 5;
	f->argv[f->argc] = fn;
	f->lens[f->argc++] = strlen(fn);
	f->argv[f->argc] = "1";
	f->lens[f->argc++] = 1;
	f->argv[f->argc] = b->prefix;
	f->lens[f->argc++] = strlen(b->prefix);
}

static void fc_bytes(struct fcall *f, const void *p, size_t len)
{
	f->argv[f->argc] = len > 0 ? p : "";
	f->lens[f->argc++] = len;
}

static void fc_str(struct fcall *f, const char *s)
{
	fc_bytes(f, s, s != NULL ? strlen(s) : 0);
}

static void fc_u64(struct fcall *f, uint64_t v)
{
	char *s = f->num[f->argc];
	int n = snprintf(s, sizeof(f->num[0]), "%" PRIu64, v);

	fc_bytes(f, s, (size_t)n);
}

/* ------------------------------------------------------ reply decoding */

static bool is_str(const redisReply *r)
{
	return r != NULL && (r->type == REDIS_REPLY_STRING ||
			     r->type == REDIS_REPLY_STATUS);
}

static bool str_is(const redisReply *r, const char *s)
{
	return is_str(r) && r->len == strlen(s) && memcmp(r->str, s, r->len) == 0;
}

/* A decimal unsigned number in a string or integer reply; 0 otherwise. */
static uint64_t rnum(const redisReply *r)
{
	char buf[24];
	size_t n;

	if (r == NULL)
		return 0;
	if (r->type == REDIS_REPLY_INTEGER)
		return r->integer < 0 ? 0 : (uint64_t)r->integer;
	if (!is_str(r) || r->len == 0 || r->len >= sizeof(buf))
		return 0;
	n = r->len;
	memcpy(buf, r->str, n);
	buf[n] = '\0';
	return strtoull(buf, NULL, 10);
}

static int64_t rsigned(const redisReply *r)
{
	if (r != NULL && r->type == REDIS_REPLY_INTEGER)
		return r->integer;
	if (is_str(r) && r->len > 0 && r->str[0] == '-')
		return -(int64_t)(r->len > 1 ? strtoull(r->str + 1, NULL, 10)
					     : 0);
	return (int64_t)rnum(r);
}

static const redisReply *elem(const redisReply *r, size_t i)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
		return NULL;
	return r->element[i];
}

/* Copy a string reply into buf (cut to bufsize); returns its full length,
 * clamped to `max`. */
static uint32_t copy_out(const redisReply *r, void *buf, size_t bufsize,
			 uint32_t max)
{
	size_t n;

	if (!is_str(r))
		return 0;
	n = r->len < max ? r->len : max;
	if (buf != NULL && bufsize > 0)
		memcpy(buf, r->str, n < bufsize ? n : bufsize);
	return (uint32_t)n;
}

static int protocol_error(struct redis_backend *b, const char *what)
{
	return shmrt__fail(SHMRT_E_BACKEND, "redis %s: unexpected reply to "
			   "%s (another shmrt version's library?)",
			   addr_text(b), what);
}

/* Map an error-name reply of the library to a code. */
static int named_error(struct redis_backend *b, const redisReply *r,
		       const char *what, uint64_t id)
{
	if (str_is(r, "NOJOB"))
		return shmrt__fail(SHMRT_E_NOJOB, "%s: tenant %s has no job "
				   "%" PRIu64 " (unknown or expired)", what,
				   b->base.tenant, id);
	if (str_is(r, "STATE"))
		return shmrt__fail(SHMRT_E_STATE, "%s: job %" PRIu64 " is "
				   "finished", what, id);
	if (str_is(r, "STALE"))
		return shmrt__fail(SHMRT_E_STALE, "%s: job %" PRIu64 ": the "
				   "lease was lost (taken back after it "
				   "expired)", what, id);
	return protocol_error(b, what);
}

/* ---------------------------------------------------------------- clock */

/*
 * Job timestamps come from the server's clock; callers compare them with
 * this host's CLOCK_MONOTONIC (latencies, the demo's order check), so
 * they are shifted by the offset measured at open: TIME against the
 * midpoint of its round trip, the fastest of a few (error: half of that
 * round trip, tens of microseconds on one host).
 */
static uint64_t local_ns(const struct redis_backend *b, uint64_t server_us)
{
	int64_t v;

	if (server_us == 0)
		return 0;
	v = (int64_t)(server_us * 1000u) - b->clock_ns;
	return v > 0 ? (uint64_t)v : 1;
}


/*
 * One command on a pooled connection; when a connection that sat idle
 * was found closed, one more try on a new one (it may predate a server
 * restart). The reply is awaited until deadline_ns (0: COMMAND_MS).
 * For commands that are safe to send twice only.
 */
static int pooled_until(struct redis_backend *b, int argc,
			const char **argv, const size_t *lens,
			uint64_t deadline_ns, redisReply **out)
{
	redisContext *cx = NULL;
	uint64_t now = shmrt__os_now_ns(), ms = COMMAND_MS;
	bool idle;
	int rc;

	if (deadline_ns != 0)
		ms = deadline_ns > now + 50000000u
			 ? (deadline_ns - now) / 1000000u : 50u;
	pthread_mutex_lock(&b->pool_mu);
	if ((idle = b->nidle > 0))
		cx = b->idle[--b->nidle];
	pthread_mutex_unlock(&b->pool_mu);
	if (ms < COMMAND_MS) {
		if (cx == NULL && (cx = conn_open(b)) == NULL) {
			outage_note(b, true);
			return RB_LOST;
		}
		redisSetTimeout(cx, tv_ms(ms));
	}
	rc = cmd(b, &cx, argc, argv, lens, out);
	if (rc == RB_LOST && idle && !rb_timed_out)
		rc = cmd(b, &cx, argc, argv, lens, out);
	if (ms < COMMAND_MS && cx != NULL)
		redisSetTimeout(cx, tv_ms(COMMAND_MS));
	pool_put(b, cx);
	return rc;
}

static int pooled(struct redis_backend *b, int argc, const char **argv,
		  const size_t *lens, redisReply **out)
{
	return pooled_until(b, argc, argv, lens, 0, out);
}

static int pooled_fcall(struct redis_backend *b, struct fcall *f,
			redisReply **out)
{
	return pooled(b, f->argc, f->argv, f->lens, out);
}

/* A plain command of up to 6 string arguments, pooled. */
static int pooled_cmd(struct redis_backend *b, redisReply **out, int argc,
		      const char *a0, const char *a1, const char *a2,
		      const char *a3, const char *a4, const char *a5)
{
	const char *argv[6] = { a0, a1, a2, a3, a4, a5 };
	size_t lens[6];
	int i;

	for (i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	return pooled(b, argc, argv, lens, out);
}

/*
 * Job ids: the queue in the top 8 bits (as the shm backend's ids have
 * it, so callers may read it), the tenant's INCR counter below. The
 * server knows the counter value ("seq") only.
 */
#define SEQ_BITS 56
#define SEQ_MASK ((UINT64_C(1) << SEQ_BITS) - 1)

static uint64_t seq_of(shmrt_job_id id)
{
	return id.v & SEQ_MASK;
}

static uint32_t queue_of(shmrt_job_id id)
{
	return (uint32_t)(id.v >> SEQ_BITS);
}

static shmrt_job_id id_make(uint32_t qi, uint64_t seq)
{
	shmrt_job_id id = { ((uint64_t)qi << SEQ_BITS) | (seq & SEQ_MASK) };

	return id;
}

static void key_of(const struct redis_backend *b, char *buf, size_t size,
		   const char *what, uint64_t n)
{
	snprintf(buf, size, "%s%s%" PRIu64, b->prefix, what, n);
}

/* ------------------------------------------------------------ producers */

static uint64_t nonce_seed;
static pthread_once_t nonce_once = PTHREAD_ONCE_INIT;

static void nonce_seed_init(void)
{
	if (getrandom(&nonce_seed, sizeof(nonce_seed), 0) !=
	    (ssize_t)sizeof(nonce_seed))
		nonce_seed = shmrt__os_now_ns() ^ ((uint64_t)getpid() << 32);
}

/* A random seed per process and a counter: names one enqueue, so that
 * the same enqueue sent again after a lost reply is stored once. */
static void nonce_make(char *buf, size_t size)
{
	static uint64_t next;
	uint64_t n;

	pthread_once(&nonce_once, nonce_seed_init);
	n = __atomic_add_fetch(&next, 1, __ATOMIC_RELAXED);
	snprintf(buf, size, "%016" PRIx64 "-%d-%" PRIx64, nonce_seed,
		 (int)getpid(), n);
}

static int check_enqueue(struct redis_backend *b, uint32_t qi,
			 const struct shmrt__enqueue_req *req)
{
	const struct shmrt_conf_queue *q = &b->base.conf.queue[qi];

	if (req->len > q->slot_size)
		return shmrt__fail(SHMRT_E_TOOBIG, "enqueue: payload of %zu "
				   "bytes, queue %s takes %u", req->len,
				   q->name, q->slot_size);
	if (q->laned != (req->lane != NULL))
		return shmrt__fail(SHMRT_E_NOLANE, "enqueue: queue %s %s",
				   q->name, q->laned ? "is laned: give a lane "
						       "key"
						     : "is not laned: give no "
						       "lane key");
	if (req->key != NULL && q->idempotency_ttl_ms == 0)
		return shmrt__fail(SHMRT_E_INVAL, "enqueue: queue %s keeps no "
				   "idempotency keys (set idempotency_ttl_ms)",
				   q->name);
	return 0;
}

static void enqueue_args(struct redis_backend *b, uint32_t qi,
			 const struct shmrt__enqueue_req *req,
			 const char *nonce, struct fcall *f)
{
	const struct shmrt_conf_queue *q = &b->base.conf.queue[qi];

	fc_start(f, b, "shmrt_enqueue");
	fc_u64(f, qi);
	fc_bytes(f, req->payload, req->len);
	fc_bytes(f, req->lane, req->lane != NULL ? req->lane_len : 0);
	fc_bytes(f, req->key, req->key != NULL ? req->key_len : 0);
	fc_u64(f, q->idempotency_ttl_ms > 0 ? q->idempotency_ttl_ms : 1);
	fc_u64(f, q->capacity);
	fc_u64(f, q->max_attempts);
	fc_u64(f, q->retry_backoff_ms);
	fc_u64(f, b->base.conf.retention_ms);
	fc_str(f, nonce);
}

/* Decode {OK|EXISTING, id} | {DRAINING} | {FULL}; 1 = FULL. */
static int enqueue_reply(struct redis_backend *b, const redisReply *r,
			 uint32_t qi, shmrt_job_id *id)
{
	const redisReply *s = elem(r, 0);

	if (str_is(s, "OK") || str_is(s, "EXISTING")) {
		*id = id_make(qi, rnum(elem(r, 1)));
		if (seq_of(*id) == 0)
			return protocol_error(b, "shmrt_enqueue");
		return str_is(s, "OK") ? 0 : SHMRT_ENQUEUE_EXISTING;
	}
	if (str_is(s, "DRAINING"))
		return shmrt__fail(SHMRT_E_DRAINING, "enqueue: tenant %s is "
				   "draining or stopped", b->base.tenant);
	if (str_is(s, "FULL"))
		return shmrt__fail(SHMRT_E_FULL, "enqueue: queue %s holds "
				   "capacity = %u jobs", b->base.conf.queue[qi]
				   .name, b->base.conf.queue[qi].capacity);
	return protocol_error(b, "shmrt_enqueue");
}

/*
 * One FCALL stores the job (and its idempotency key) atomically; the id
 * is returned only from its reply, i.e. once the server holds the job.
 * A full queue or an unreachable server is retried with backoff until
 * the caller's deadline; the nonce makes a resend after a lost reply
 * return the job stored by the first send instead of a second job.
 */
static int rb_enqueue(struct shmrt__backend *be, uint32_t qi,
		      const struct shmrt__enqueue_req *req, shmrt_job_id *id)
{
	struct redis_backend *b = rb_of(be);
	struct fcall f;
	redisReply *r;
	char nonce[64];
	unsigned n;
	int rc;

	if ((rc = check_enqueue(b, qi, req)) != 0)
		return rc;
	nonce_make(nonce, sizeof(nonce));
	enqueue_args(b, qi, req, nonce, &f);
	for (n = 0;; n++) {
		rc = pooled_until(b, f.argc, f.argv, f.lens, req->deadline_ns,
				  &r);
		if (rc == 0) {
			rc = enqueue_reply(b, r, qi, id);
			freeReplyObject(r);
		}
		if ((rc != RB_LOST && rc != SHMRT_E_FULL) ||
		    !backoff(n, req->deadline_ns))
			break;
	}
	return public_rc(rc);
}

/* Fields of a job hash that status reads, in HMGET order. */
enum { JF_Q, JF_ST, JF_ATT, JF_PL, JF_RES, JF_ENQ, JF_START, JF_FIN, JF_N };

static int rb_status(struct shmrt__backend *be, shmrt_job_id id,
		     struct shmrt_job_info *info, void *buf, size_t bufsize)
{
	struct redis_backend *b = rb_of(be);
	const char *argv[2 + JF_N] = { "HMGET", NULL, "q", "st", "att", "pl",
				       "res", "enq", "start", "fin" };
	size_t lens[2 + JF_N];
	char key[128];
	redisReply *r;
	uint32_t max = UINT32_MAX;
	int rc, i;

	key_of(b, key, sizeof(key), "job:", seq_of(id));
	argv[1] = key;
	for (i = 0; i < 2 + JF_N; i++)
		lens[i] = strlen(argv[i]);
	if ((rc = pooled(b, 2 + JF_N, argv, lens, &r)) != 0)
		return public_rc(rc);
	memset(info, 0, sizeof(*info));
	if (r->type != REDIS_REPLY_ARRAY || r->elements != JF_N ||
	    !is_str(elem(r, JF_ST)) || rnum(elem(r, JF_Q)) != queue_of(id) ||
	    queue_of(id) >= b->base.conf.nqueues) {
		freeReplyObject(r);
		return shmrt__fail(SHMRT_E_NOJOB, "status: tenant %s has no job "
				   "%" PRIu64 " (unknown or expired)",
				   b->base.tenant, id.v);
	}
	max = b->base.conf.queue[queue_of(id)].slot_size;
	info->id = id;
	info->state = (int)rnum(elem(r, JF_ST));
	info->attempt = (uint32_t)rnum(elem(r, JF_ATT));
	info->payload_len = copy_out(elem(r, JF_PL), NULL, 0, max);
	if (info->state != SHMRT_JOB_QUEUED && info->state != SHMRT_JOB_RUNNING)
		info->result_len = copy_out(elem(r, JF_RES), buf, bufsize, max);
	info->enqueue_ns = local_ns(b, rnum(elem(r, JF_ENQ)));
	info->start_ns = local_ns(b, rnum(elem(r, JF_START)));
	info->finish_ns = local_ns(b, rnum(elem(r, JF_FIN)));
	freeReplyObject(r);
	return 0;
}

static bool state_final(int state)
{
	return state == SHMRT_JOB_SUCCEEDED || state == SHMRT_JOB_FAILED ||
	       state == SHMRT_JOB_CANCELLED;
}

/* Block until done:ID has its token (BLMOVE onto itself, so that every
 * waiter sees it) or `ms` pass. RB_LOST when the server is gone. */
static int block_done(struct redis_backend *b, redisContext **cx,
		      shmrt_job_id id, uint64_t ms)
{
	const char *argv[6] = { "BLMOVE", NULL, NULL, "LEFT", "LEFT", NULL };
	size_t lens[6];
	char key[128], secs[32];
	redisReply *r;
	int rc, i;

	key_of(b, key, sizeof(key), "done:", seq_of(id));
	snprintf(secs, sizeof(secs), "%.3f", (double)(ms ? ms : 1) / 1000.0);
	argv[1] = argv[2] = key;
	argv[5] = secs;
	for (i = 0; i < 6; i++)
		lens[i] = strlen(argv[i]);
	if (*cx != NULL)
		redisSetTimeout(*cx, tv_ms(ms + COMMAND_MS));
	rc = cmd(b, cx, 6, argv, lens, &r);
	if (rc == 0)
		freeReplyObject(r);
	if (*cx != NULL)
		redisSetTimeout(*cx, tv_ms(COMMAND_MS));
	return rc;
}

/*
 * Wait without polling: look at the job, then block on its done list,
 * which the function that ends the job fills (a token pushed between the
 * look and the block is found at once). An unreachable server is retried
 * with backoff until the deadline.
 */
static int rb_wait(struct shmrt__backend *be, shmrt_job_id id,
		   uint64_t deadline_ns, struct shmrt_job_info *info,
		   void *buf, size_t bufsize)
{
	struct redis_backend *b = rb_of(be);
	redisContext *cx = NULL;
	unsigned n = 0;
	uint64_t now;
	int rc;

	for (;;) {
		rc = rb_status(be, id, info, buf, bufsize);
		if (rc == 0 && state_final(info->state))
			break;
		if (rc != 0 && rc != SHMRT_E_BACKEND)
			break;
		now = shmrt__os_now_ns();
		if (now >= deadline_ns) {
			rc = rc != 0 ? rc : SHMRT_E_TIMEDOUT;
			break;
		}
		if (cx == NULL)
			cx = pool_get(b);
		if (rc == 0 && cx != NULL &&
		    block_done(b, &cx, id, (deadline_ns - now) / 1000000u) ==
			0) {
			n = 0;
			continue;
		}
		if (!backoff(n++, deadline_ns)) {
			rc = SHMRT_E_TIMEDOUT;
			break;
		}
	}
	pool_put(b, cx);
	return rc;
}

/* An FCALL taking one job id, answering 0, 1 or an error name. */
static int id_call(struct redis_backend *b, const char *fn, shmrt_job_id id,
		   const char *what)
{
	struct fcall f;
	redisReply *r;
	int rc;

	fc_start(&f, b, fn);
	fc_u64(&f, seq_of(id));
	fc_u64(&f, queue_of(id));
	if ((rc = pooled_fcall(b, &f, &r)) != 0)
		return public_rc(rc);
	if (r->type == REDIS_REPLY_INTEGER && r->integer >= 0 &&
	    r->integer <= 1)
		rc = (int)r->integer;
	else
		rc = named_error(b, r, what, id.v);
	freeReplyObject(r);
	return rc;
}

static int rb_cancel(struct shmrt__backend *be, shmrt_job_id id)
{
	int rc = id_call(rb_of(be), "shmrt_cancel", id, "cancel");

	return rc == 1 ? SHMRT_CANCEL_REQUESTED : rc;
}

static int rb_release(struct shmrt__backend *be, shmrt_job_id id)
{
	return id_call(rb_of(be), "shmrt_release", id, "release");
}

/* -------------------------------------------------------------- workers */

/* The seat's heartbeat, with the lease it holds (id 0: none). */
static int beat(struct redis_backend *b, const char *seat, uint64_t id,
		uint64_t tok, bool *held)
{
	uint64_t hb = b->base.conf.heartbeat_timeout_ms;
	struct fcall f;
	redisReply *r;
	int rc;

	fc_start(&f, b, "shmrt_beat");
	fc_str(&f, seat);
	fc_u64(&f, hb > 0 ? hb : 86400000u);
	if (id != 0) {
		fc_u64(&f, id);
		fc_u64(&f, tok);
	}
	if ((rc = pooled_fcall(b, &f, &r)) != 0)
		return public_rc(rc);
	if (held != NULL)
		*held = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
	freeReplyObject(r);
	return 0;
}

static int rb_consumer_open(struct shmrt__backend *be,
			    struct shmrt__consumer **out)
{
	static uint64_t seats;
	struct redis_backend *b = rb_of(be);
	struct shmrt__consumer *c = calloc(1, sizeof(*c));
	char host[64] = "";
	int rc;

	if (c == NULL)
		return shmrt__fail(SHMRT_E_NOMEM, "consumer: out of memory");
	(void)gethostname(host, sizeof(host) - 1);
	snprintf(c->name, sizeof(c->name), "%s:%d:%" PRIu64, host,
		 (int)getpid(), __atomic_add_fetch(&seats, 1, __ATOMIC_RELAXED));
	pthread_mutex_init(&c->mu, NULL);
	if ((rc = beat(b, c->name, 0, 0, NULL)) != 0) {
		pthread_mutex_destroy(&c->mu);
		free(c);
		return shmrt__fail(rc, "tenant %s: worker cannot join: %s",
				   be->tenant, shmrt_last_error());
	}
	__atomic_add_fetch(&b->consumers, 1, __ATOMIC_RELAXED);
	*out = c;
	return 0;
}

static void rb_consumer_close(struct shmrt__backend *be,
			      struct shmrt__consumer *c)
{
	struct redis_backend *b = rb_of(be);
	redisReply *r;
	char key[128];

	if (c == NULL)
		return;
	snprintf(key, sizeof(key), "%sworkers", b->prefix);
	if (pooled_cmd(b, &r, 3, "ZREM", key, c->name, "", "", "") == 0)
		freeReplyObject(r);
	if (c->cx != NULL)
		redisFree(c->cx);
	pthread_mutex_destroy(&c->mu);
	free(c);
	__atomic_sub_fetch(&b->consumers, 1, __ATOMIC_RELAXED);
}

/* Called by the heartbeat thread while the seat's thread runs a job. */
static void rb_heartbeat(struct shmrt__backend *be, struct shmrt__consumer *c)
{
	uint64_t id, tok;

	pthread_mutex_lock(&c->mu);
	id = c->cur_id;
	tok = c->cur_tok;
	pthread_mutex_unlock(&c->mu);
	(void)beat(rb_of(be), c->name, id, tok, NULL);
}

static void lease_set(struct shmrt__consumer *c, uint64_t id, uint64_t tok)
{
	pthread_mutex_lock(&c->mu);
	c->cur_id = id;
	c->cur_tok = tok;
	pthread_mutex_unlock(&c->mu);
}

static struct redis_lease *impl_of(struct shmrt__be_lease *l)
{
	return (struct redis_lease *)(void *)l->impl;
}

static const struct redis_lease *impl_of_c(const struct shmrt__be_lease *l)
{
	return (const struct redis_lease *)(const void *)l->impl;
}

/* How long this host keeps trying to report a lease's end: its lease. */
static uint64_t lease_span_ns(const struct redis_backend *b, uint32_t qi)
{
	uint64_t hb = b->base.conf.heartbeat_timeout_ms;
	uint64_t jt = b->base.conf.queue[qi].job_timeout_ms;
	uint64_t ms = hb > 0 ? hb : 86400000u;

	if (jt > 0 && jt < ms)
		ms = jt;
	return ms * 1000000u;
}

/* Fill *out from {OK, id, tok, att, payload, lane, enq}. */
static int lease_reply(struct redis_backend *b, const redisReply *r,
		       uint32_t qi, void *buf, size_t bufsize,
		       struct shmrt__be_lease *out)
{
	uint32_t max = b->base.conf.queue[qi].slot_size;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 7)
		return protocol_error(b, "shmrt_lease");
	memset(out, 0, offsetof(struct shmrt__be_lease, impl));
	out->id = id_make(qi, rnum(elem(r, 1)));
	out->token = rnum(elem(r, 2));
	out->attempt = (uint32_t)rnum(elem(r, 3));
	out->queue = qi;
	out->payload_len = copy_out(elem(r, 4), buf, bufsize,
				    max < bufsize ? max : (uint32_t)bufsize);
	out->lane_len = copy_out(elem(r, 5), out->lane, sizeof(out->lane),
				 SHMRT__BE_KEY_MAX);
	out->enqueue_ns = local_ns(b, rnum(elem(r, 6)));
	impl_of(out)->expires_ns = shmrt__os_now_ns() + lease_span_ns(b, qi);
	if (seq_of(out->id) == 0 || out->token == 0)
		return protocol_error(b, "shmrt_lease");
	return 0;
}

/* Sleep on the queue's wake list for at most ms (BLPOP). */
static int block_wake(struct redis_backend *b, struct shmrt__consumer *c,
		      uint32_t qi, uint64_t ms)
{
	const char *argv[3] = { "BLPOP", NULL, NULL };
	size_t lens[3];
	char key[128], secs[32];
	redisReply *r;
	int rc, i;

	if (c->cx == NULL)
		return RB_LOST;
	key_of(b, key, sizeof(key), "wake:", qi);
	snprintf(secs, sizeof(secs), "%.3f", (double)(ms ? ms : 1) / 1000.0);
	argv[1] = key;
	argv[2] = secs;
	for (i = 0; i < 3; i++)
		lens[i] = strlen(argv[i]);
	redisSetTimeout(c->cx, tv_ms(ms + COMMAND_MS));
	rc = cmd(b, &c->cx, 3, argv, lens, &r);
	if (rc == 0)
		freeReplyObject(r);
	if (c->cx != NULL)
		redisSetTimeout(c->cx, tv_ms(COMMAND_MS));
	return rc;
}

static void lease_args(struct redis_backend *b, uint32_t qi, struct fcall *f)
{
	const struct shmrt_conf_queue *q = &b->base.conf.queue[qi];

	fc_start(f, b, "shmrt_lease");
	fc_u64(f, qi);
	fc_u64(f, q->semaphore_limit);
	fc_u64(f, b->base.conf.heartbeat_timeout_ms);
	fc_u64(f, q->job_timeout_ms);
	fc_u64(f, q->laned ? 1 : 0);
}

/*
 * Lease the next job of queue qi, sleeping on the queue's wake list
 * while there is none (a retry in backoff bounds the sleep by its due
 * time). The server unreachable: reconnect with backoff until the
 * deadline, then SHMRT_E_TIMEDOUT, so that the worker goes on.
 */
static int rb_lease(struct shmrt__backend *be, struct shmrt__consumer *c,
		    uint32_t qi, void *buf, size_t bufsize,
		    uint64_t deadline_ns, struct shmrt__be_lease *out)
{
	struct redis_backend *b = rb_of(be);
	struct fcall f;
	redisReply *r;
	unsigned n = 0;
	uint64_t now, ms;
	int64_t due;
	int rc;

	lease_args(b, qi, &f);
	for (;;) {
		rc = cmd(b, &c->cx, f.argc, f.argv, f.lens, &r);
		if (rc == 0 && str_is(elem(r, 0), "OK")) {
			rc = lease_reply(b, r, qi, buf, bufsize, out);
			freeReplyObject(r);
			if (rc == 0)
				lease_set(c, seq_of(out->id), out->token);
			return rc;
		}
		if (rc == SHMRT_E_BACKEND || (rc == 0 && !str_is(elem(r, 0),
								  "NONE"))) {
			if (rc == 0) {
				rc = protocol_error(b, "shmrt_lease");
				freeReplyObject(r);
			}
			return rc;
		}
		due = rc == 0 ? rsigned(elem(r, 1)) : -1;
		if (rc == 0)
			freeReplyObject(r);
		now = shmrt__os_now_ns();
		if (deadline_ns == 0)
			return SHMRT_E_AGAIN;
		if (now >= deadline_ns)
			return SHMRT_E_TIMEDOUT;
		if (rc == RB_LOST) {
			if (!backoff(n++, deadline_ns))
				return SHMRT_E_TIMEDOUT;
			continue;
		}
		n = 0;
		ms = (deadline_ns - now) / 1000000u;
		if (due >= 0 && (uint64_t)due < ms)
			ms = (uint64_t)due;
		(void)block_wake(b, c, qi, ms);
	}
}

/*
 * End the attempt (ok: succeeded; else failed, retried when retry and
 * attempts remain). Fenced by the token on the server. A lost reply is
 * retried until the lease would have expired anyway: the function
 * answers a repeat of an accepted end with OK.
 */
static int finish(struct redis_backend *b, struct shmrt__consumer *c,
		  const struct shmrt__be_lease *l, bool ok, const void *text,
		  size_t len, bool retry)
{
	struct fcall f;
	redisReply *r;
	unsigned n = 0;
	int rc;

	fc_start(&f, b, "shmrt_finish");
	fc_u64(&f, seq_of(l->id));
	fc_u64(&f, l->token);
	fc_str(&f, ok ? "1" : "0");
	fc_bytes(&f, text, len);
	fc_str(&f, retry ? "1" : "0");
	while ((rc = cmd(b, &c->cx, f.argc, f.argv, f.lens, &r)) == RB_LOST &&
	       backoff(n++, impl_of_c(l)->expires_ns))
		;
	lease_set(c, 0, 0);
	if (rc != 0)
		return public_rc(rc);
	if (str_is(r, "OK"))
		rc = 0;
	else if (str_is(r, "RETRY"))
		rc = 1;
	else
		rc = named_error(b, r, ok ? "complete" : "fail", l->id.v);
	freeReplyObject(r);
	return rc;
}

static int rb_complete(struct shmrt__backend *be, struct shmrt__consumer *c,
		       const struct shmrt__be_lease *l, const void *result,
		       size_t len)
{
	struct redis_backend *b = rb_of(be);

	if (l->queue >= be->conf.nqueues)
		return shmrt__fail(SHMRT_E_INVAL, "complete: bad lease");
	if (len > be->conf.queue[l->queue].slot_size)
		return shmrt__fail(SHMRT_E_TOOBIG, "complete: result of %zu "
				   "bytes, queue %s takes %u", len,
				   be->conf.queue[l->queue].name,
				   be->conf.queue[l->queue].slot_size);
	return finish(b, c, l, true, result, len, false);
}

static int rb_fail(struct shmrt__backend *be, struct shmrt__consumer *c,
		   const struct shmrt__be_lease *l, const char *err,
		   size_t len, int retry)
{
	if (l->queue >= be->conf.nqueues)
		return shmrt__fail(SHMRT_E_INVAL, "fail: bad lease");
	if (len > be->conf.queue[l->queue].slot_size)
		len = be->conf.queue[l->queue].slot_size;
	return finish(rb_of(be), c, l, false, err, len, retry != 0);
}

/*
 * Whether the job of l is still under l's lease (its token) and its
 * `field` is `want`. The server unreachable: no (not known to be).
 */
static bool leased_field_is(struct redis_backend *b,
			    const struct shmrt__be_lease *l, const char *field,
			    uint64_t want)
{
	char key[128];
	redisReply *r;
	bool yes;

	key_of(b, key, sizeof(key), "job:", seq_of(l->id));
	if (pooled_cmd(b, &r, 4, "HMGET", key, field, "tok", "", "") != 0)
		return false;
	yes = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	      rnum(elem(r, 0)) == want && rnum(elem(r, 1)) == l->token;
	freeReplyObject(r);
	return yes;
}

static bool rb_cancel_requested(struct shmrt__backend *be,
				const struct shmrt__be_lease *l)
{
	return leased_field_is(rb_of(be), l, "cxl", 1);
}

static bool rb_lease_valid(struct shmrt__backend *be,
			   const struct shmrt__be_lease *l)
{
	return leased_field_is(rb_of(be), l, "st", SHMRT_JOB_RUNNING);
}

/* ----------------------------------------------------------- inspection */

static uint64_t hash_field(const redisReply *r, const char *name)
{
	size_t i;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return 0;
	for (i = 0; i + 1 < r->elements; i += 2)
		if (str_is(r->element[i], name))
			return rnum(r->element[i + 1]);
	return 0;
}

static uint32_t clamp32(uint64_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static int rb_depth(struct shmrt__backend *be, uint32_t qi,
		    struct shmrt_queue_stats *st)
{
	struct redis_backend *b = rb_of(be);
	redisReply *cnt = NULL, *stats = NULL, *fin = NULL;
	char k1[128], k2[128], k3[128];
	int rc;

	key_of(b, k1, sizeof(k1), "cnt:", qi);
	key_of(b, k2, sizeof(k2), "stats:", qi);
	key_of(b, k3, sizeof(k3), "fin:", qi);
	if ((rc = pooled_cmd(b, &cnt, 2, "HGETALL", k1, "", "", "", "")) ||
	    (rc = pooled_cmd(b, &stats, 2, "HGETALL", k2, "", "", "", "")) ||
	    (rc = pooled_cmd(b, &fin, 2, "ZCARD", k3, "", "", "", "")))
		goto out;
	memset(st, 0, sizeof(*st));
	st->queued = clamp32(hash_field(cnt, "queued"));
	st->running = clamp32(hash_field(cnt, "running"));
	st->finished = clamp32(rnum(fin));
	st->enqueued = hash_field(stats, "enq");
	st->succeeded = hash_field(stats, "ok");
	st->failed = hash_field(stats, "fail");
	st->retried = hash_field(stats, "retry");
	st->reclaimed = hash_field(stats, "recl");
	st->cancelled = hash_field(stats, "cxl");
	st->deduplicated = hash_field(stats, "dedup");
out:
	if (cnt != NULL)
		freeReplyObject(cnt);
	if (stats != NULL)
		freeReplyObject(stats);
	if (fin != NULL)
		freeReplyObject(fin);
	return public_rc(rc);
}

static int rb_failed(struct shmrt__backend *be, uint32_t qi,
		     struct shmrt_failed_job *out, size_t max)
{
	struct redis_backend *b = rb_of(be);
	char key[128], stop[24];
	redisReply *r;
	size_t i, n = 0;
	int rc;

	if (max == 0)
		return 0;
	key_of(b, key, sizeof(key), "failed:", qi);
	snprintf(stop, sizeof(stop), "%zu", max - 1);
	if ((rc = pooled_cmd(b, &r, 4, "ZRANGE", key, "0", stop, "", "")) != 0)
		return public_rc(rc);
	for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements && n < max;
	     i++)
		if (shmrt__backend_failed_entry(be, id_make(qi,
						  rnum(r->element[i])),
						&out[n]))
			n++;
	freeReplyObject(r);
	return (int)n;
}

/* The reaper: any host may run it, any number of times. */
static int rb_scan(struct shmrt__backend *be, uint64_t deadline_ns,
		   struct shmrt_scan_stats *st)
{
	struct redis_backend *b = rb_of(be);
	struct fcall f;
	redisReply *r;
	int rc;

	(void)deadline_ns; /* one bounded call: at most REAP_MAX leases */
	fc_start(&f, b, "shmrt_reap");
	fc_u64(&f, be->conf.nqueues);
	fc_str(&f, REAP_MAX);
	if ((rc = pooled_fcall(b, &f, &r)) != 0)
		return public_rc(rc);
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 4) {
		freeReplyObject(r);
		return protocol_error(b, "shmrt_reap");
	}
	if (st != NULL) {
		memset(st, 0, sizeof(*st));
		st->dead_participants = clamp32(rnum(elem(r, 0)));
		st->jobs_requeued = clamp32(rnum(elem(r, 1)));
		st->jobs_failed = clamp32(rnum(elem(r, 2)));
		st->jobs_expired = clamp32(rnum(elem(r, 3)));
	}
	freeReplyObject(r);
	return 0;
}

/* ------------------------------------------------------------ lifecycle */

/* The engine's state; while the server cannot be reached, the last one
 * read (a worker must not leave because of an outage). */
static int rb_state(struct shmrt__backend *be)
{
	struct redis_backend *b = rb_of(be);
	char key[128];
	redisReply *r;
	uint64_t v;

	snprintf(key, sizeof(key), "%sstate", b->prefix);
	if (pooled_cmd(b, &r, 2, "GET", key, "", "", "", "") == 0) {
		v = rnum(r);
		freeReplyObject(r);
		/* No state key: stopped (a tenant never started, or its
		 * keys were removed). */
		__atomic_store_n(&b->last_state,
				 v >= SHMRT__BE_READY && v <= SHMRT__BE_STOPPED
				     ? (int)v
				     : SHMRT__BE_STOPPED,
				 __ATOMIC_RELAXED);
	}
	return __atomic_load_n(&b->last_state, __ATOMIC_RELAXED);
}

static int set_state(struct redis_backend *b, int state)
{
	struct fcall f;
	redisReply *r;
	int rc;

	fc_start(&f, b, "shmrt_set_state");
	fc_u64(&f, (uint64_t)state);
	fc_u64(&f, b->base.conf.nqueues);
	if ((rc = pooled_fcall(b, &f, &r)) != 0)
		return public_rc(rc);
	freeReplyObject(r);
	__atomic_store_n(&b->last_state, state, __ATOMIC_RELAXED);
	return 0;
}

/* Ready, with the counters from zero. */
static int tenant_start(struct redis_backend *b)
{
	struct fcall f;
	redisReply *r;
	int rc;

	fc_start(&f, b, "shmrt_start");
	fc_u64(&f, b->base.conf.nqueues);
	if ((rc = pooled_fcall(b, &f, &r)) != 0)
		return public_rc(rc);
	freeReplyObject(r);
	__atomic_store_n(&b->last_state, SHMRT__BE_READY, __ATOMIC_RELAXED);
	return 0;
}

static void rb_set_state(struct shmrt__backend *be, int state)
{
	(void)set_state(rb_of(be), state);
}

/* Worker seats with a live heartbeat, other than this backend's. */
static uint32_t rb_peers(struct shmrt__backend *be)
{
	struct redis_backend *b = rb_of(be);
	struct fcall f;
	redisReply *r;
	int64_t n;

	fc_start(&f, b, "shmrt_peers");
	if (pooled_fcall(b, &f, &r) != 0)
		return 1; /* unknown: count someone, so stop keeps waiting */
	n = rsigned(r) - __atomic_load_n(&b->consumers, __ATOMIC_RELAXED);
	freeReplyObject(r);
	return n > 0 ? (uint32_t)n : 0;
}

/* The runner's last act: the tenant's wake tokens and seat table go (the
 * jobs stay until their retention ends). */
static void rb_retire(struct shmrt__backend *be)
{
	struct redis_backend *b = rb_of(be);
	struct fcall f;
	redisReply *r;

	fc_start(&f, b, "shmrt_retire");
	fc_u64(&f, be->conf.nqueues);
	if (pooled_fcall(b, &f, &r) == 0)
		freeReplyObject(r);
}

static void rb_close(struct shmrt__backend *be)
{
	struct redis_backend *b = rb_of(be);
	uint32_t i;

	for (i = 0; i < b->nidle; i++)
		redisFree(b->idle[i]);
	pthread_mutex_destroy(&b->pool_mu);
	memset(b->password, 0, sizeof(b->password));
	free(b);
}

/* The runner may be on another host: no pid; "alive" while any host's
 * workers are still registered (stop waits for that). */
static void rb_runner(struct shmrt__backend *be, int32_t *pid, bool *alive)
{
	*pid = 0;
	*alive = rb_peers(be) > 0;
}

static const struct shmrt__backend_ops redis_ops = {
	.enqueue = rb_enqueue,
	.cancel = rb_cancel,
	.status = rb_status,
	.wait = rb_wait,
	.release = rb_release,
	.consumer_open = rb_consumer_open,
	.consumer_close = rb_consumer_close,
	.heartbeat = rb_heartbeat,
	.lease = rb_lease,
	.complete = rb_complete,
	.fail = rb_fail,
	.cancel_requested = rb_cancel_requested,
	.lease_valid = rb_lease_valid,
	.depth = rb_depth,
	.failed = rb_failed,
	.scan = rb_scan,
	.state = rb_state,
	.set_state = rb_set_state,
	.runner = rb_runner,
	.peers = rb_peers,
	.retire = rb_retire,
	.close = rb_close,
};

/* ------------------------------------------------------------- creation */

/* The password from the variable the conf names, never from the file. */
static int password_read(struct redis_backend *b)
{
	const char *name = b->base.conf.redis_password_env, *pw;

	if (name[0] == '\0')
		return 0;
	pw = getenv(name);
	if (pw == NULL)
		return shmrt__fail(SHMRT_E_CONF, "[runtime] redis_password_env "
				   "names $%s, which is not set", name);
	if (strlen(pw) >= sizeof(b->password))
		return shmrt__fail(SHMRT_E_CONF, "$%s: the password is longer "
				   "than %zu bytes", name,
				   sizeof(b->password) - 1);
	memcpy(b->password, pw, strlen(pw) + 1);
	b->has_password = true;
	return 0;
}

static int library_load(struct redis_backend *b)
{
	const char *argv[4] = { "FUNCTION", "LOAD", "REPLACE",
				shmrt__redis_lua };
	size_t lens[4] = { 8, 4, 7, (size_t)shmrt__redis_lua_len };
	redisReply *r;
	int rc = pooled(b, 4, argv, lens, &r);

	if (rc == 0)
		freeReplyObject(r);
	return public_rc(rc);
}

/* Attach: the runner's library must be there, and of this version. */
static int library_check(struct redis_backend *b)
{
	struct fcall f;
	redisReply *r;
	int rc;

	fc_start(&f, b, "shmrt_version");
	f.argv[0] = "FCALL_RO";
	f.lens[0] = 8;
	if ((rc = pooled_fcall(b, &f, &r)) != 0)
		return public_rc(rc);
	if (!str_is(r, LIB_VERSION))
		rc = shmrt__fail(SHMRT_E_BACKEND, "redis %s: the function "
				 "library is %.*s, this shmrt needs %s: restart "
				 "the tenant with this shmrt",
				 addr_text(b), is_str(r) ? (int)r->len : 1,
				 is_str(r) ? r->str : "?", LIB_VERSION);
	freeReplyObject(r);
	return rc;
}

static int clock_sync(struct redis_backend *b)
{
	uint64_t t0, t1, best = UINT64_MAX, us;
	redisReply *r;
	int k, rc;

	for (k = 0; k < 3; k++) {
		t0 = shmrt__os_now_ns();
		if ((rc = pooled_cmd(b, &r, 1, "TIME", "", "", "", "", "")) != 0)
			return public_rc(rc);
		t1 = shmrt__os_now_ns();
		us = rnum(elem(r, 0)) * 1000000u + rnum(elem(r, 1));
		freeReplyObject(r);
		if (t1 - t0 < best) {
			best = t1 - t0;
			b->clock_ns = (int64_t)(us * 1000u) -
				      (int64_t)(t0 + (t1 - t0) / 2);
		}
	}
	return 0;
}

static struct redis_backend *backend_new(const struct shmrt_conf *conf,
					 uint32_t tenant, int mode, bool sync)
{
	struct redis_backend *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->base.ops = &redis_ops;
	b->base.name = "redis";
	b->base.conf = *conf;
	b->base.conf.tenant[0] = conf->tenant[tenant];
	b->base.conf.ntenants = 1;
	b->base.mode = mode;
	b->base.sync = sync;
	snprintf(b->base.tenant, sizeof(b->base.tenant), "%s",
		 conf->tenant[tenant].name);
	snprintf(b->prefix, sizeof(b->prefix), "shmrt:{%s}:", b->base.tenant);
	b->last_state = SHMRT__BE_READY;
	pthread_mutex_init(&b->pool_mu, NULL);
	return b;
}

int shmrt__backend_redis_open(const struct shmrt_conf *conf, uint32_t tenant,
			      bool create, int mode, bool sync,
			      struct shmrt__backend **out)
{
	struct redis_backend *b = backend_new(conf, tenant, mode, sync);
	int rc;

	if (b == NULL)
		return shmrt__fail(SHMRT_E_NOMEM, "backend: out of memory");
	if (shmrt_conf_redis_addr_parse(conf->redis, &b->addr) != 0)
		rc = shmrt__fail(SHMRT_E_CONF, "%s: [runtime] redis = '%s' is "
				 "not HOST:PORT or unix:/PATH", conf->path,
				 conf->redis);
	else if ((rc = password_read(b)) == 0)
		rc = clock_sync(b);
	if (rc == 0 && create) {
		/* A start adopts whatever the tenant holds: its jobs go on. */
		if ((rc = library_load(b)) == 0)
			rc = tenant_start(b);
	} else if (rc == 0) {
		rc = library_check(b);
	}
	if (rc != 0) {
		rb_close(&b->base);
		return rc;
	}
	b->base.owner = create;
	b->opened = true;
	*out = &b->base;
	return 0;
}
