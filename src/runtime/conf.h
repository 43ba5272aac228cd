/*
 * src/runtime/conf.h - the runtime configuration (an INI file read with inih).
 *
 * Schema (every key is optional unless marked required):
 *
 *   [runtime]
 *   mode             = inline | process                 default process
 *   on_init_error    = fail | degrade                   default fail
 *   spin_us          = 0..1000000                       default 50
 *   scan_interval_ms = 1..3600000                       default 1000
 *   retention_ms     = 0..604800000                     default 60000
 *   drain_timeout_ms = 0..3600000                       default 5000
 *   participants     = 1..4096                          default 64
 *   heartbeat_timeout_ms = 0..86400000 (0 = never)      default 30000
 *   backend          = shm | redis                      default shm
 *   redis            = HOST:PORT | unix:/PATH           required with redis
 *                      (HOST 1..253 of [A-Za-z0-9.-], PORT 1..65535)
 *   redis_password_env = NAME of an environment variable default "" (none)
 *                      ([A-Za-z_][A-Za-z0-9_]*, at most 63): the password
 *                      is read from it when connecting, never from the file
 *
 *   [tenant NAME]        NAME: 1..48 of [A-Za-z0-9._-], not "." or ".."
 *   [tenant *]           the template: what any other valid name gets
 *   group            = 1..31 of [A-Za-z0-9._-]          default "" (none)
 *
 *   [queue NAME]         NAME: 1..31 of [A-Za-z0-9._-]
 *   handler          = 1..63 of [A-Za-z0-9._-]          required
 *   capacity         = 1..4194304                       default 1024
 *   slot_size        = 1..1048576                       default 1024
 *   max_attempts     = 1..1000                          default 3
 *   retry_backoff_ms = 0..3600000                       default 100
 *   job_timeout_ms   = 0..86400000 (0 = none)           default 30000
 *   laned            = true|false|yes|no|on|off|1|0     default false
 *   semaphore_limit  = 0..1024 (0 = no cap)             default 0
 *   workers          = 0..256                           default 1
 *   record_file      = a path of at most 255 bytes      default ""
 *   idempotency_ttl_ms = 0..604800000 (0 = unused)      default 0
 *   lanes            = 1..4194304                       default capacity
 *                      (laned queues only: an error on any other queue)
 *   idempotency_keys = 1..4194304                       default capacity
 *                      (only with idempotency_ttl_ms > 0, else an error)
 *   retention        = evict | strict                   default evict
 *                      (full queue: the oldest finished jobs give up
 *                      their slots, or enqueue waits / fails FULL)
 *
 * Every tenant gets the same set of queues. At least one [tenant NAME] or
 * the [tenant *] template, and one queue, are required; at most
 * SHMRT_CONF_MAX_TENANTS [tenant NAME] sections and SHMRT_CONF_MAX_QUEUES
 * queues. With a template any valid tenant name can be started, however
 * many (shmrt_conf_select_tenant); a [tenant NAME] section overrides the
 * template for that name, and inherits the template's value of each key
 * it does not set itself. Numbers are plain decimal digits. Comments start
 * a line with ';' or '#'; an inline comment is ';' after whitespace.
 *
 * Lines are limited to SHMRT_CONF_LINE_MAX characters and must not be
 * indented: inih cuts longer lines (and then miscounts lines), and joins an
 * indented line to the previous value. Both are rejected with the line
 * number instead. A section or key given twice is an error.
 */
#ifndef SHMRT_RUNTIME_CONF_H
#define SHMRT_RUNTIME_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHMRT_CONF_MAX_QUEUES  64
#define SHMRT_CONF_MAX_TENANTS 16 /* [tenant NAME] sections; not templated */
#define SHMRT_CONF_TENANT_TEMPLATE "*" /* [tenant *]: the template's name */
#define SHMRT_CONF_NAME_MAX    32 /* queue names: 1..31 chars [A-Za-z0-9._-] */
#define SHMRT_CONF_TENANT_MAX  49 /* tenants: 1..48 chars, not "." or ".." */
#define SHMRT_CONF_HANDLER_MAX 64
#define SHMRT_CONF_GROUP_MAX   32
#define SHMRT_CONF_PATH_MAX    4096
#define SHMRT_CONF_RECORD_MAX  256
/*
 * Longest accepted line, without its line ending: inih's line buffer is
 * INI_MAX_LINE (200) bytes and its header asks for 3 bytes of slack
 * ("\r\n\0").
 */
#define SHMRT_CONF_LINE_MAX 197
/* The file read when neither an explicit path nor SHMRT_CONF is given
 * (and it exists, or the installed one does not). */
#define SHMRT_CONF_DEFAULT_PATH "conf/shmrt.ini"

enum shmrt_conf_mode {
	SHMRT_CONF_MODE_INLINE = 0,
	SHMRT_CONF_MODE_PROCESS = 1
};

enum shmrt_conf_backend {
	SHMRT_CONF_BACKEND_SHM = 0,
	SHMRT_CONF_BACKEND_REDIS = 1
};

#define SHMRT_CONF_REDIS_MAX   256 /* [runtime] redis: the address text */
#define SHMRT_CONF_ENVNAME_MAX 64  /* [runtime] redis_password_env */

/* A parsed [runtime] redis address: TCP host and port, or a unix path. */
struct shmrt_conf_redis_addr {
	char host[SHMRT_CONF_REDIS_MAX]; /* "" for a unix socket */
	int port;
	char path[SHMRT_CONF_REDIS_MAX]; /* "" for TCP */
};

enum shmrt_conf_on_error {
	SHMRT_CONF_ON_ERROR_FAIL = 0,
	SHMRT_CONF_ON_ERROR_DEGRADE = 1
};

/* What a full queue does with finished jobs (queue key `retention`). */
enum shmrt_conf_retention {
	SHMRT_CONF_RETENTION_EVICT = 0, /* the oldest give up their slots */
	SHMRT_CONF_RETENTION_STRICT = 1 /* kept; enqueue fails when full */
};

/* One [queue NAME] section. */
struct shmrt_conf_queue {
	char name[SHMRT_CONF_NAME_MAX];
	uint32_t capacity;	   /* max jobs held: queued+running+retained */
	uint32_t slot_size;	   /* bytes: max payload and max result */
	uint32_t max_attempts;	   /* runs per job before it fails */
	uint64_t retry_backoff_ms; /* delay before a retry */
	uint64_t job_timeout_ms;   /* lease per attempt; 0 = no timeout */
	bool laned;		   /* one job per lane key at a time */
	uint32_t semaphore_limit;  /* concurrent jobs; 0 = no cap */
	uint32_t workers;	   /* workers started per tenant */
	char handler[SHMRT_CONF_HANDLER_MAX];	 /* job kind, e.g. "chat" */
	char record_file[SHMRT_CONF_RECORD_MAX]; /* "" = no recording */
	uint64_t idempotency_ttl_ms; /* 0 = idempotency keys not used */
	uint32_t lanes;		     /* lane table entries (laned queues) */
	uint32_t idempotency_keys;   /* idempotency table entries */
	enum shmrt_conf_retention retention; /* full queue: evict or refuse */
};

/* One [tenant NAME] section: an isolated instance with its own segment. */
struct shmrt_conf_tenant {
	char name[SHMRT_CONF_TENANT_MAX];
	char group[SHMRT_CONF_GROUP_MAX]; /* segment group; "" = none (0600) */
};

/* A whole file. Plain data: copy it freely, nothing to free. */
struct shmrt_conf {
	char path[SHMRT_CONF_PATH_MAX];		/* the file that was loaded */
	enum shmrt_conf_mode mode;		/* [runtime] mode */
	bool test_mode; /* environment only: see shmrt_conf_apply_env */
	enum shmrt_conf_on_error on_init_error; /* [runtime] on_init_error */
	uint64_t spin_us;			/* [runtime] spin_us */
	uint64_t scan_interval_ms;		/* [runtime] scan_interval_ms */
	uint64_t retention_ms;			/* [runtime] retention_ms */
	uint64_t drain_timeout_ms;		/* [runtime] drain_timeout_ms */
	uint32_t participants;			/* [runtime] participants */
	uint64_t heartbeat_timeout_ms; /* [runtime] heartbeat_timeout_ms */
	enum shmrt_conf_backend backend;  /* [runtime] backend */
	char redis[SHMRT_CONF_REDIS_MAX]; /* [runtime] redis */
	char redis_password_env[SHMRT_CONF_ENVNAME_MAX];
	uint32_t ntenants;
	struct shmrt_conf_tenant tenant[SHMRT_CONF_MAX_TENANTS];
	bool has_template; /* a [tenant *] section was given */
	struct shmrt_conf_tenant tenant_template; /* its keys; name "*" */
	uint32_t nqueues;
	struct shmrt_conf_queue queue[SHMRT_CONF_MAX_QUEUES];
};

/*
 * Fill *conf with the [runtime] defaults above, an empty path, no tenants
 * and no queues. Cannot fail. Thread-safe (touches only *conf).
 */
void shmrt_conf_defaults(struct shmrt_conf *conf);

/*
 * Fill *queue with the [queue] defaults above and `name` (cut to fit; the
 * caller validates names). Used by the loader for each new section and by
 * callers that build a conf in code. Cannot fail. Thread-safe.
 */
void shmrt_conf_queue_defaults(struct shmrt_conf_queue *queue,
			       const char *name);

/*
 * Load and validate the INI file `path` into *conf (defaults first, then
 * the file). Returns 0 on success. On failure returns SHMRT_E_SYS when the
 * file cannot be opened or read, SHMRT_E_INVAL when path or conf is NULL
 * (err is then left empty), else SHMRT_E_CONF, and writes one line
 * into err (errlen bytes, always NUL-terminated when errlen > 0; err may be
 * NULL) of the form "PATH:LINE: what was wrong", naming the section and
 * key, e.g. "conf/shmrt.ini:12: [queue chat] capacity: '12x' is not a
 * number". Errors about a whole section (a missing required key) carry
 * the section header's line; errors about the whole file ("no [tenant
 * NAME] section") carry no line: "PATH: ...". The first error in file
 * order is reported. The same sentence is recorded for shmrt_last_error().
 *
 * On failure *conf holds a partly loaded conf: safe to read or discard,
 * not to use. Nothing is allocated that the caller must free.
 * Thread-safe: no globals are read or written (inih is driven through
 * ini_parse_stream with per-call state).
 */
int shmrt_conf_load(const char *path, struct shmrt_conf *conf, char *err,
		    size_t errlen);

/*
 * The file to load: explicit_path when non-NULL and non-empty, else the
 * SHMRT_CONF environment variable when set and non-empty, else
 * SHMRT_CONF_DEFAULT_PATH (./conf/shmrt.ini) when it exists, else the
 * installed shmrt_conf_installed_path() when it exists, else
 * SHMRT_CONF_DEFAULT_PATH (whose absence the load then reports). Returns
 * explicit_path itself, getenv()'s string or a static string; never
 * NULL, never to be freed. Reads the environment: not safe against a
 * concurrent setenv()/unsetenv().
 */
const char *shmrt_conf_path(const char *explicit_path);

/* The installed configuration, ${sysconfdir}/shmrt/shmrt.ini (set at
 * build time). Static storage. */
const char *shmrt_conf_installed_path(void);

/*
 * The one reader of the mode's environment variables:
 *  - SHMRT_MODE (inline | process) over conf->mode. SHMRT_MODE=inline
 *    also means test mode (the test suite's switch, as
 *    shmrt/runtime.h documents); process means not.
 *  - SHMRT_TEST_MODE (1 | 0), test mode's own switch, read after it:
 *    1 turns test mode on (and the mode inline), 0 off (`shmrt run
 *    --mode inline` runs real worker threads with it).
 * Test mode (conf->test_mode): the inline backend runs jobs in the
 * thread that waits for them. Unset or empty variables change nothing.
 * Returns 0, or SHMRT_E_CONF with e.g. "SHMRT_MODE: 'xyz' is not inline
 * or process" in err (same rules as shmrt_conf_load) and
 * shmrt_last_error(), leaving *conf unchanged. Not safe against a
 * concurrent setenv()/unsetenv().
 */
int shmrt_conf_apply_env(struct shmrt_conf *conf, char *err, size_t errlen);

/*
 * Narrow a loaded conf to the one tenant `name`: afterwards conf->ntenants
 * is 1 and conf->tenant[0] is that tenant, so code that takes a tenant
 * index uses 0. The tenant is its [tenant NAME] section when there is one
 * (with the template's keys it does not set), else the [tenant *]
 * template under that name. `name` NULL means the first [tenant NAME]
 * section.
 * Returns 0, or with *conf unchanged and a sentence for
 * shmrt_last_error(): SHMRT_E_CONF for a name with no section and no
 * template ("PATH: no [tenant x] section, and no [tenant *] template:
 * add either to serve it"), or for NULL when the file has only the
 * template (there is no first tenant: a name must be given);
 * SHMRT_E_NAME for a name the template cannot serve (not 1..48 of
 * [A-Za-z0-9._-], or "." or ".."). Thread-safe; touches only *conf.
 */
int shmrt_conf_select_tenant(struct shmrt_conf *conf, const char *name);

/*
 * The index in conf->queue of the queue called `name`, or -1 when there is
 * none (or name is NULL). Thread-safe; reads *conf only.
 */
int shmrt_conf_queue_index(const struct shmrt_conf *conf, const char *name);

/*
 * Parse a [runtime] redis address: "HOST:PORT" (HOST 1..253 characters of
 * [A-Za-z0-9.-], PORT 1..65535 in plain digits) or "unix:/ABSOLUTE/PATH".
 * Returns 0 and fills *out, or -1 when `s` is none of these (out is then
 * partly written). The loader checks the file's value with it, and the
 * redis backend parses it with it: one home for the format. Thread-safe.
 */
int shmrt_conf_redis_addr_parse(const char *s,
				struct shmrt_conf_redis_addr *out);

#endif /* SHMRT_RUNTIME_CONF_H */
