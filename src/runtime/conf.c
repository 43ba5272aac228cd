/*
 * src/runtime/conf.c - load and validate the INI configuration.
 *
 * inih does the parsing (ini_parse_stream), driven by our own reader. The
 * reader is why line numbers are right: inih calls it exactly once per line
 * and calls the handler for that line before asking for the next one, so
 * the reader's count is the handler's line. The reader also
 *  - rejects lines inih would cut (its buffer is INI_MAX_LINE bytes; a cut
 *    line is read back as two lines and every later number is off),
 *  - rejects indented lines (inih would join them to the previous value),
 *  - recognises section headers with inih's own rule and keeps the full
 *    name (inih's copy stops at 49 bytes, shorter than "[tenant " plus a
 *    48-character tenant) and the header's line, and
 *  - stops inih at the first error by returning NULL.
 * Everything lives in a struct conf_parse on the caller's stack: no globals.
 */
#define _GNU_SOURCE
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <shmrt/error.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "shm/error_detail.h"
#include "shm/segment.h"

/* ------------------------------------------------------------ key tables */

enum key_type { KEY_NUM, KEY_BOOL, KEY_ENUM, KEY_STR };

#define KEY_REQUIRED  1u /* must be set in every section of its kind */
#define KEY_NAMECHARS 2u /* when not empty: only [A-Za-z0-9._-] */
#define KEY_ADDR      4u /* when not empty: a redis address */
#define KEY_ENVNAME   8u /* when not empty: an environment variable name */

/* One key: where its value goes in the section's struct and what it may be. */
struct conf_key {
	const char *name;
	enum key_type type;
	size_t off;  /* offset of the field in the section's struct */
	size_t size; /* bytes of the field (KEY_NUM: 4 or 8; strings: buffer) */
	uint64_t min, max;	  /* KEY_NUM: inclusive range */
	const char *const *words; /* KEY_ENUM: two words, value = index */
	unsigned flags;
};

/* One key per line, so that the tables read as tables. */
/* clang-format off */
#define FIELD_SIZE(type, f) sizeof(((type *)0)->f)
#define NUM(type, f, lo, hi) \
	{ #f, KEY_NUM, offsetof(type, f), FIELD_SIZE(type, f), lo, hi, NULL, 0 }
#define BOOLEAN(type, f) \
	{ #f, KEY_BOOL, offsetof(type, f), FIELD_SIZE(type, f), 0, 1, NULL, 0 }
#define WORDS(type, f, w) \
	{ #f, KEY_ENUM, offsetof(type, f), FIELD_SIZE(type, f), 0, 1, w, 0 }
#define STRING(type, f, fl) \
	{ #f, KEY_STR, offsetof(type, f), FIELD_SIZE(type, f), 0, 0, NULL, fl }

/* Enum keys are stored as int; the words' index is the enum value. */
_Static_assert(sizeof(enum shmrt_conf_mode) == sizeof(int), "mode size");
_Static_assert(sizeof(enum shmrt_conf_on_error) == sizeof(int), "enum size");
_Static_assert(sizeof(enum shmrt_conf_retention) == sizeof(int), "enum size");
_Static_assert(sizeof(enum shmrt_conf_backend) == sizeof(int), "backend");

static const char *const mode_words[2] = { "inline", "process" };
static const char *const on_error_words[2] = { "fail", "degrade" };
static const char *const retention_words[2] = { "evict", "strict" };
static const char *const backend_words[2] = { "shm", "redis" };

static const struct conf_key runtime_keys[] = {
	WORDS(struct shmrt_conf, mode, mode_words),
	WORDS(struct shmrt_conf, on_init_error, on_error_words),
	NUM(struct shmrt_conf, spin_us, 0, 1000000),
	NUM(struct shmrt_conf, scan_interval_ms, 1, 3600000),
	NUM(struct shmrt_conf, retention_ms, 0, 604800000),
	NUM(struct shmrt_conf, drain_timeout_ms, 0, 3600000),
	NUM(struct shmrt_conf, participants, 1, 4096),
	NUM(struct shmrt_conf, heartbeat_timeout_ms, 0, 86400000),
	WORDS(struct shmrt_conf, backend, backend_words),
	STRING(struct shmrt_conf, redis, KEY_ADDR),
	STRING(struct shmrt_conf, redis_password_env, KEY_ENVNAME),
};

static const struct conf_key tenant_keys[] = {
	STRING(struct shmrt_conf_tenant, group, KEY_NAMECHARS),
};

static const struct conf_key queue_keys[] = {
	NUM(struct shmrt_conf_queue, capacity, 1, 4194304),
	NUM(struct shmrt_conf_queue, slot_size, 1, 1048576),
	NUM(struct shmrt_conf_queue, max_attempts, 1, 1000),
	NUM(struct shmrt_conf_queue, retry_backoff_ms, 0, 3600000),
	NUM(struct shmrt_conf_queue, job_timeout_ms, 0, 86400000),
	BOOLEAN(struct shmrt_conf_queue, laned),
	NUM(struct shmrt_conf_queue, semaphore_limit, 0, SHMRT__MAX_SEM_LIMIT),
	NUM(struct shmrt_conf_queue, workers, 0, 256),
	STRING(struct shmrt_conf_queue, handler, KEY_REQUIRED | KEY_NAMECHARS),
	STRING(struct shmrt_conf_queue, record_file, 0),
	NUM(struct shmrt_conf_queue, idempotency_ttl_ms, 0, 604800000),
	NUM(struct shmrt_conf_queue, lanes, 1, SHMRT__MAX_KEYS),
	NUM(struct shmrt_conf_queue, idempotency_keys, 1, SHMRT__MAX_KEYS),
	WORDS(struct shmrt_conf_queue, retention, retention_words),
};
/* clang-format on */

#define ARRAY_LEN(a)  (sizeof(a) / sizeof((a)[0]))
#define CONF_KEYS_MAX 16
/* Which keys a [tenant NAME] set is a bit mask (template inheritance). */
_Static_assert(ARRAY_LEN(tenant_keys) <= 32, "tenant keys");
_Static_assert(ARRAY_LEN(runtime_keys) <= CONF_KEYS_MAX, "runtime keys");
_Static_assert(ARRAY_LEN(queue_keys) <= CONF_KEYS_MAX, "queue keys");

/* ----------------------------------------------------------- parse state */

enum sect_kind { SECT_NONE, SECT_RUNTIME, SECT_TENANT, SECT_QUEUE };

/* One load in progress; lives on shmrt_conf_load()'s stack. */
struct conf_parse {
	const char *path;
	struct shmrt_conf *conf;
	FILE *f;
	/* The line being read: room for a BOM, the longest line, "\r", one
	 * byte more (which proves a line too long) and a NUL. */
	char line[3 + SHMRT_CONF_LINE_MAX + 1 + 1 + 1];
	int lineno;	/* lines handed to inih so far = the current line */
	int read_errno; /* errno of a failed read, 0 at EOF */

	/* The section being read. */
	enum sect_kind kind;
	void *obj; /* the struct its keys fill */
	const struct conf_key *keys;
	size_t nkeys;
	char label[SHMRT_CONF_TENANT_MAX + 16]; /* "[queue chat]" */
	int sect_line;
	int key_line[CONF_KEYS_MAX]; /* line each key was set on; 0 = unset */

	/* Header lines, for "first defined at line N". */
	int runtime_line;
	int tenant_line[SHMRT_CONF_MAX_TENANTS];
	int template_line; /* [tenant *]; 0 = none */
	uint32_t tenant_set[SHMRT_CONF_MAX_TENANTS]; /* keys set, bit each */
	int queue_line[SHMRT_CONF_MAX_QUEUES];

	/* The first error; line 0 = the whole file. */
	bool failed;
	int err_line;
	char msg[512];
};

/*
 * Record the first error only: after it the reader stops inih, so later
 * calls come only from checks that still run on the way out.
 * Returns false so that callers can `return conf_error(...)`.
 */
static bool conf_error(struct conf_parse *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool conf_error(struct conf_parse *p, int line, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return false;
	p->failed = true;
	p->err_line = line;
	va_start(ap, fmt);
	vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
	va_end(ap);
	return false;
}

/* ------------------------------------------------------------- values */

static const char *skip_space(const char *s)
{
	while (*s != '\0' && isspace((unsigned char)*s))
		s++;
	return s;
}

enum num_result { NUM_OK, NUM_BAD, NUM_RANGE };

/*
 * Plain decimal digits only: strtoull would accept a sign, leading blanks
 * and hex, and silently wrap "-1". A well-formed negative number or one
 * that overflows 64 bits is NUM_RANGE (the message then shows the range).
 */
static enum num_result parse_uint(const char *s, uint64_t *out)
{
	const char *d = s[0] == '-' ? s + 1 : s;
	bool overflow = false;
	uint64_t v = 0;

	if (*d == '\0')
		return NUM_BAD;
	for (; *d != '\0'; d++) {
		unsigned digit = (unsigned)(*d - '0');

		if (*d < '0' || *d > '9')
			return NUM_BAD;
		if (v > (UINT64_MAX - digit) / 10)
			overflow = true;
		v = v * 10 + digit;
	}
	*out = v;
	return overflow || s[0] == '-' ? NUM_RANGE : NUM_OK;
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	size_t i;

	for (i = 0; i < ARRAY_LEN(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
			*out = strcasecmp(s, yes[i]) == 0;
			return true;
		}
	}
	return false;
}

/* Index of `s` in a two-word enum table, or -1. */
static int parse_word(const char *s, const char *const *words)
{
	if (strcmp(s, words[0]) == 0)
		return 0;
	if (strcmp(s, words[1]) == 0)
		return 1;
	return -1;
}

/* An environment variable name: [A-Za-z_][A-Za-z0-9_]*. */
static bool env_name_valid(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!(isalpha((unsigned char)s[i]) || s[i] == '_' ||
		      (i > 0 && isdigit((unsigned char)s[i]))))
			return false;
	return i > 0;
}

/* ------------------------------------------------------------ setting keys */

static bool set_num(struct conf_parse *p, const struct conf_key *k, void *field,
		    const char *value)
{
	enum num_result r;
	uint64_t v = 0;

	r = parse_uint(value, &v);
	if (r == NUM_BAD)
		return conf_error(p, p->lineno, "%s %s: '%s' is not a number",
				  p->label, k->name, value);
	if (r == NUM_RANGE || v < k->min || v > k->max)
		return conf_error(p, p->lineno,
				  "%s %s: %s is out of range (%" PRIu64
				  "..%" PRIu64 ")",
				  p->label, k->name, value, k->min, k->max);
	if (k->size == sizeof(uint32_t)) {
		uint32_t v32 = (uint32_t)v;

		memcpy(field, &v32, sizeof(v32));
	} else {
		memcpy(field, &v, sizeof(v));
	}
	return true;
}

static bool set_str(struct conf_parse *p, const struct conf_key *k, void *field,
		    const char *value)
{
	size_t n = strlen(value);

	if (n == 0 && (k->flags & KEY_REQUIRED))
		return conf_error(p, p->lineno, "%s %s: the value is empty",
				  p->label, k->name);
	if (n >= k->size)
		return conf_error(p, p->lineno,
				  "%s %s: '%s' is longer than %zu characters",
				  p->label, k->name, value, k->size - 1);
	if ((k->flags & KEY_NAMECHARS) && !shmrt__name_chars_valid(value))
		return conf_error(p, p->lineno,
				  "%s %s: '%s' may use only [A-Za-z0-9._-]",
				  p->label, k->name, value);
	if ((k->flags & KEY_ADDR) && n > 0 &&
	    shmrt_conf_redis_addr_parse(value,
					&(struct shmrt_conf_redis_addr){0}))
		return conf_error(p, p->lineno,
				  "%s %s: '%s' is not HOST:PORT or "
				  "unix:/PATH",
				  p->label, k->name, value);
	if ((k->flags & KEY_ENVNAME) && n > 0 && !env_name_valid(value))
		return conf_error(p, p->lineno,
				  "%s %s: '%s' is not an environment variable "
				  "name ([A-Za-z_][A-Za-z0-9_]*)",
				  p->label, k->name, value);
	memcpy(field, value, n + 1);
	return true;
}

/* Convert `value` for key k and store it in the current section's struct. */
static bool key_set(struct conf_parse *p, const struct conf_key *k,
		    const char *value)
{
	void *field = (char *)p->obj + k->off;
	bool b;
	int w;

	switch (k->type) {
	case KEY_NUM:
		return set_num(p, k, field, value);
	case KEY_BOOL:
		if (!parse_bool(value, &b))
			return conf_error(p, p->lineno,
					  "%s %s: '%s' is not a boolean "
					  "(true/false, yes/no, on/off, 1/0)",
					  p->label, k->name, value);
		memcpy(field, &b, sizeof(b));
		return true;
	case KEY_ENUM:
		w = parse_word(value, k->words);
		if (w < 0)
			return conf_error(
			    p, p->lineno, "%s %s: '%s' is not %s or %s",
			    p->label, k->name, value, k->words[0], k->words[1]);
		memcpy(field, &w, sizeof(w));
		return true;
	case KEY_STR:
		return set_str(p, k, field, value);
	}
	return conf_error(p, p->lineno, "%s %s: unhandled key type", p->label,
			  k->name);
}

/*
 * inih's handler: one call per "key = value" line, made right after our
 * reader returned that line, so p->lineno is the key's line. The section
 * argument is inih's copy of the header, cut at 49 bytes; the reader has
 * already set up the full section in *p.
 */
static int conf_handler(void *user, const char *section, const char *name,
			const char *value)
{
	struct conf_parse *p = user;
	size_t i;

	(void)section;
	if (p->failed)
		return 0;
	if (p->kind == SECT_NONE)
		return conf_error(p, p->lineno,
				  "key '%s' is outside any section ([runtime], "
				  "[tenant NAME] or [queue NAME])",
				  name);
	for (i = 0; i < p->nkeys; i++)
		if (strcmp(p->keys[i].name, name) == 0)
			break;
	if (i == p->nkeys)
		return conf_error(p, p->lineno, "%s unknown key '%s'", p->label,
				  name);
	if (p->key_line[i] != 0)
		return conf_error(
		    p, p->lineno,
		    "%s duplicate key '%s' (first set at line %d)", p->label,
		    name, p->key_line[i]);
	p->key_line[i] = p->lineno;
	return key_set(p, &p->keys[i], value);
}

/* ---------------------------------------------------------------- sections */

/* The line key `name` of the current section was set on; 0 = unset. */
static int key_line_of(const struct conf_parse *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->nkeys; i++)
		if (strcmp(p->keys[i].name, name) == 0)
			return p->key_line[i];
	return 0;
}

/*
 * A [queue] section is over: table sizes that depend on other keys. A
 * size given for a table the queue does not have is an error on the
 * size's line; an unset size defaults to the capacity.
 */
static bool queue_close(struct conf_parse *p)
{
	struct shmrt_conf_queue *q = p->obj;
	int line;

	if ((line = key_line_of(p, "lanes")) != 0 && !q->laned)
		return conf_error(p, line,
				  "%s lanes: set on a queue that is not laned "
				  "(add laned = true or remove lanes)",
				  p->label);
	if ((line = key_line_of(p, "idempotency_keys")) != 0 &&
	    q->idempotency_ttl_ms == 0)
		return conf_error(p, line,
				  "%s idempotency_keys: set on a queue without "
				  "idempotency_ttl_ms (set it above 0 or remove "
				  "idempotency_keys)",
				  p->label);
	if (q->laned && q->lanes == 0)
		q->lanes = q->capacity;
	if (q->idempotency_ttl_ms > 0 && q->idempotency_keys == 0)
		q->idempotency_keys = q->capacity;
	return true;
}

/*
 * A [tenant NAME] section is over: remember which keys it set, so that
 * the template fills only the others (template_inherit). The template's
 * own section records nothing.
 */
static void tenant_close(struct conf_parse *p)
{
	const struct shmrt_conf_tenant *t = p->obj;
	ptrdiff_t ti = t - p->conf->tenant;
	uint32_t set = 0;
	size_t i;

	if (ti < 0 || ti >= (ptrdiff_t)SHMRT_CONF_MAX_TENANTS)
		return;
	for (i = 0; i < p->nkeys; i++)
		if (p->key_line[i] != 0)
			set |= 1u << i;
	p->tenant_set[ti] = set;
}

/* After the whole file: each [tenant NAME] takes the template's value of
 * every key it did not set (sections may come before the template). */
static void template_inherit(struct conf_parse *p)
{
	struct shmrt_conf *c = p->conf;
	uint32_t t;
	size_t i;

	if (!c->has_template)
		return;
	for (t = 0; t < c->ntenants; t++)
		for (i = 0; i < ARRAY_LEN(tenant_keys); i++) {
			const struct conf_key *k = &tenant_keys[i];

			if (!(p->tenant_set[t] & (1u << i)))
				memcpy((char *)&c->tenant[t] + k->off,
				       (const char *)&c->tenant_template +
					   k->off,
				       k->size);
		}
}

/* A section is over: check that its required keys were given. */
static bool section_close(struct conf_parse *p)
{
	size_t i;

	for (i = 0; i < p->nkeys; i++)
		if ((p->keys[i].flags & KEY_REQUIRED) && p->key_line[i] == 0)
			return conf_error(p, p->sect_line, "%s %s is required",
					  p->label, p->keys[i].name);
	if (p->kind == SECT_QUEUE)
		return queue_close(p);
	if (p->kind == SECT_TENANT)
		tenant_close(p);
	return true;
}

static void section_enter(struct conf_parse *p, enum sect_kind kind, void *obj,
			  const struct conf_key *keys, size_t nkeys)
{
	p->kind = kind;
	p->obj = obj;
	p->keys = keys;
	p->nkeys = nkeys;
	p->sect_line = p->lineno;
	memset(p->key_line, 0, sizeof(p->key_line));
}

static bool runtime_begin(struct conf_parse *p)
{
	if (p->runtime_line != 0)
		return conf_error(
		    p, p->lineno,
		    "duplicate section [runtime] (first defined at line %d)",
		    p->runtime_line);
	p->runtime_line = p->lineno;
	snprintf(p->label, sizeof(p->label), "[runtime]");
	section_enter(p, SECT_RUNTIME, p->conf, runtime_keys,
		      ARRAY_LEN(runtime_keys));
	return true;
}

/* [tenant *]: the template every name without its own section gets. */
static bool template_begin(struct conf_parse *p)
{
	struct shmrt_conf_tenant *t = &p->conf->tenant_template;

	if (p->template_line != 0)
		return conf_error(p, p->lineno,
				  "duplicate template [tenant *] (first "
				  "defined at line %d)",
				  p->template_line);
	p->template_line = p->lineno;
	p->conf->has_template = true;
	memset(t, 0, sizeof(*t));
	memcpy(t->name, SHMRT_CONF_TENANT_TEMPLATE,
	       sizeof(SHMRT_CONF_TENANT_TEMPLATE));
	snprintf(p->label, sizeof(p->label), "[tenant *]");
	section_enter(p, SECT_TENANT, t, tenant_keys, ARRAY_LEN(tenant_keys));
	return true;
}

static bool tenant_begin(struct conf_parse *p, const char *name)
{
	struct shmrt_conf *c = p->conf;
	struct shmrt_conf_tenant *t;
	uint32_t i;

	if (strcmp(name, SHMRT_CONF_TENANT_TEMPLATE) == 0)
		return template_begin(p);
	if (!shmrt__name_valid(name, SHMRT_CONF_TENANT_MAX - 1))
		return conf_error(p, p->lineno,
				  "invalid tenant name '%s' (use 1..%d of "
				  "[A-Za-z0-9._-], not '.' or '..')",
				  name, SHMRT_CONF_TENANT_MAX - 1);
	for (i = 0; i < c->ntenants; i++)
		if (strcmp(c->tenant[i].name, name) == 0)
			return conf_error(
			    p, p->lineno,
			    "duplicate tenant '%s' (first defined at line %d)",
			    name, p->tenant_line[i]);
	if (c->ntenants == SHMRT_CONF_MAX_TENANTS)
		return conf_error(p, p->lineno, "too many tenants (at most %d)",
				  SHMRT_CONF_MAX_TENANTS);
	t = &c->tenant[c->ntenants];
	memset(t, 0, sizeof(*t));
	memcpy(t->name, name, strlen(name) + 1);
	p->tenant_line[c->ntenants++] = p->lineno;
	snprintf(p->label, sizeof(p->label), "[tenant %s]", name);
	section_enter(p, SECT_TENANT, t, tenant_keys, ARRAY_LEN(tenant_keys));
	return true;
}

static bool queue_begin(struct conf_parse *p, const char *name)
{
	struct shmrt_conf *c = p->conf;
	struct shmrt_conf_queue *q;
	int dup;

	if (!shmrt__name_valid(name, SHMRT_CONF_NAME_MAX - 1))
		return conf_error(p, p->lineno,
				  "invalid queue name '%s' (use 1..%d of "
				  "[A-Za-z0-9._-], not '.' or '..')",
				  name, SHMRT_CONF_NAME_MAX - 1);
	dup = shmrt_conf_queue_index(c, name);
	if (dup >= 0)
		return conf_error(
		    p, p->lineno,
		    "duplicate queue '%s' (first defined at line %d)", name,
		    p->queue_line[dup]);
	if (c->nqueues == SHMRT_CONF_MAX_QUEUES)
		return conf_error(p, p->lineno, "too many queues (at most %d)",
				  SHMRT_CONF_MAX_QUEUES);
	q = &c->queue[c->nqueues];
	shmrt_conf_queue_defaults(q, name);
	p->queue_line[c->nqueues++] = p->lineno;
	/* name was validated to fit; %.*s tells the compiler so too. */
	snprintf(p->label, sizeof(p->label), "[queue %.*s]",
		 SHMRT_CONF_NAME_MAX - 1, name);
	section_enter(p, SECT_QUEUE, q, queue_keys, ARRAY_LEN(queue_keys));
	return true;
}

/*
 * A header "[KIND NAME]" (already trimmed; at most a line long): close the
 * previous section, then start the new one.
 */
static bool section_begin(struct conf_parse *p, char *text)
{
	char *name = text;

	if (!section_close(p))
		return false;
	while (*name != '\0' && !isspace((unsigned char)*name))
		name++;
	if (*name != '\0')
		*name++ = '\0';
	name = (char *)skip_space(name);
	if (strcmp(text, "runtime") == 0 && *name == '\0')
		return runtime_begin(p);
	if (strcmp(text, "tenant") == 0 && *name != '\0')
		return tenant_begin(p, name);
	if (strcmp(text, "queue") == 0 && *name != '\0')
		return queue_begin(p, name);
	if (*name == '\0' &&
	    (strcmp(text, "tenant") == 0 || strcmp(text, "queue") == 0))
		return conf_error(p, p->lineno,
				  "section [%s] needs a name: [%s NAME]", text,
				  text);
	return conf_error(p, p->lineno, "unknown section [%s%s%s]", text,
			  *name != '\0' ? " " : "", name);
}

/*
 * inih's rule for where a section name ends: at ']' or at an inline ';'
 * comment (a ';' after whitespace). Using the same rule means we see a
 * header exactly when inih does; a line with no ']' is left to inih, which
 * reports it as a syntax error.
 */
static const char *section_end(const char *s)
{
	bool was_space = false;

	while (*s != '\0' && *s != ']' && !(was_space && *s == ';')) {
		was_space = isspace((unsigned char)*s);
		s++;
	}
	return s;
}

/* If `line` (left-trimmed) is a section header, start that section. */
static bool section_line(struct conf_parse *p, const char *line)
{
	char text[SHMRT_CONF_LINE_MAX + 1];
	const char *end, *rest;
	size_t n;

	if (line[0] != '[')
		return true;
	end = section_end(line + 1);
	if (*end != ']')
		return true;
	rest = skip_space(end + 1);
	if (*rest != '\0' && *rest != ';' && *rest != '#')
		return conf_error(p, p->lineno,
				  "unexpected text '%s' after ']'", rest);
	line = skip_space(line + 1);
	n = (size_t)(end - line);
	while (n > 0 && isspace((unsigned char)line[n - 1]))
		n--;
	memcpy(text, line, n);
	text[n] = '\0';
	return section_begin(p, text);
}

/* ------------------------------------------------------------------ reader */

/*
 * Checks a line (BOM and line ending removed, `len` bytes) before inih sees
 * it. `num` is inih's buffer size: the line goes in with "\n\0".
 */
static bool line_check(struct conf_parse *p, const char *line, size_t len,
		       int num)
{
	const char *start = skip_space(line);

	if (len > SHMRT_CONF_LINE_MAX)
		return conf_error(p, p->lineno,
				  "line is longer than %d characters",
				  SHMRT_CONF_LINE_MAX);
	if (len + 2 > (size_t)num)
		return conf_error(
		    p, p->lineno,
		    "line does not fit the INI parser's %d-byte buffer", num);
	if (memchr(line, '\0', len) != NULL)
		return conf_error(p, p->lineno, "line contains a NUL byte");
	if (start != line && *start != '\0' && *start != ';' && *start != '#')
		return conf_error(
		    p, p->lineno,
		    "line is indented (inih would join it to the previous "
		    "value); remove the leading whitespace");
	return section_line(p, start);
}

/*
 * The next line without its "\n" or "\r\n", and on line 1 without a BOM.
 * Reading stops when the buffer is full: a longer line is reported as
 * too long (line_check) without reading the rest, so a file with no
 * newline (/dev/zero) costs one buffer, not memory without bound.
 */
static char *line_next(struct conf_parse *p, size_t *len)
{
	char *line = p->line;
	size_t n = 0;
	int c = 0;

	while (n < sizeof(p->line) - 1 && (c = getc(p->f)) != EOF &&
	       c != '\n')
		line[n++] = (char)c;
	if (n == 0 && c == EOF) {
		p->read_errno = ferror(p->f) ? errno : 0;
		return NULL;
	}
	p->lineno++;
	if (n > 0 && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	if (p->lineno == 1 && n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
		line += 3;
		n -= 3;
	}
	*len = n;
	return line;
}

/*
 * inih's fgets-style reader: one whole, checked line per call. Returning
 * NULL ends the parse: at EOF, on a read error and after the first error.
 */
static char *conf_reader(char *str, int num, void *stream)
{
	struct conf_parse *p = stream;
	char *line;
	size_t len;

	if (p->failed)
		return NULL;
	line = line_next(p, &len);
	if (line == NULL || !line_check(p, line, len, num))
		return NULL;
	memcpy(str, line, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	return str;
}

/* ------------------------------------------------------------------ loading */

/* Write "PATH:LINE: msg" (or "PATH: msg") to err and shmrt_last_error(). */
static int conf_report(const struct conf_parse *p, int code, char *err,
		       size_t errlen)
{
	if (p->err_line > 0) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s:%d: %s", p->path, p->err_line,
				 p->msg);
		return shmrt__fail(code, "%s:%d: %s", p->path, p->err_line,
				   p->msg);
	}
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: %s", p->path, p->msg);
	return shmrt__fail(code, "%s: %s", p->path, p->msg);
}

/*
 * After inih returns `rc` (0, or the first line it found in error): report
 * the earliest error, then run the checks that need the whole file.
 */
static int conf_finish(struct conf_parse *p, int rc, char *err, size_t errlen)
{
	if (p->read_errno != 0) {
		conf_error(p, 0, "cannot read: %s", strerror(p->read_errno));
		return conf_report(p, SHMRT_E_SYS, err, errlen);
	}
	/*
	 * inih's own errors (no ']', no '=') never reach our handler and do
	 * not stop it: an earlier one replaces ours.
	 */
	if (rc > 0 && (!p->failed || rc < p->err_line)) {
		p->failed = false;
		conf_error(p, rc,
			   "syntax error: expected [SECTION] or key = value");
	} else if (rc < 0) {
		conf_error(p, 0, "the INI parser failed (inih returned %d)",
			   rc);
	}
	if (!p->failed && section_close(p)) {
		template_inherit(p);
		if (p->conf->backend == SHMRT_CONF_BACKEND_REDIS &&
		    p->conf->redis[0] == '\0')
			conf_error(p, p->runtime_line,
				   "[runtime] backend = redis needs redis = "
				   "HOST:PORT or unix:/PATH");
		else if (p->conf->ntenants == 0 && !p->conf->has_template)
			conf_error(p, 0,
				   "no [tenant NAME] section or [tenant *] "
				   "template (at least one is required)");
		else if (p->conf->nqueues == 0)
			conf_error(p, 0,
				   "no [queue NAME] section (at least one is "
				   "required)");
	}
	return p->failed ? conf_report(p, SHMRT_E_CONF, err, errlen) : 0;
}

int shmrt_conf_load(const char *path, struct shmrt_conf *conf, char *err,
		    size_t errlen)
{
	struct conf_parse p;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (path == NULL || conf == NULL)
		return shmrt__fail(SHMRT_E_INVAL, "conf: path or conf is NULL");
	memset(&p, 0, sizeof(p));
	p.path = path;
	p.conf = conf;
	shmrt_conf_defaults(conf);
	if (strlen(path) >= sizeof(conf->path)) {
		conf_error(&p, 0, "path is longer than %zu bytes",
			   sizeof(conf->path) - 1);
		return conf_report(&p, SHMRT_E_CONF, err, errlen);
	}
	memcpy(conf->path, path, strlen(path) + 1);
	p.f = fopen(path, "re");
	if (p.f == NULL) {
		conf_error(&p, 0, "cannot open: %s", strerror(errno));
		return conf_report(&p, SHMRT_E_SYS, err, errlen);
	}
	rc = ini_parse_stream(conf_reader, &p, conf_handler, &p);
	fclose(p.f);
	return conf_finish(&p, rc, err, errlen);
}

/* ------------------------------------------------------- small accessors */

void shmrt_conf_defaults(struct shmrt_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->mode = SHMRT_CONF_MODE_PROCESS;
	conf->on_init_error = SHMRT_CONF_ON_ERROR_FAIL;
	conf->spin_us = 50;
	conf->scan_interval_ms = 1000;
	conf->retention_ms = 60000;
	conf->drain_timeout_ms = 5000;
	conf->participants = 64;
	conf->heartbeat_timeout_ms = 30000;
}

void shmrt_conf_queue_defaults(struct shmrt_conf_queue *queue, const char *name)
{
	memset(queue, 0, sizeof(*queue));
	snprintf(queue->name, sizeof(queue->name), "%.*s",
		 SHMRT_CONF_NAME_MAX - 1, name);
	queue->capacity = 1024;
	queue->slot_size = 1024;
	queue->max_attempts = 3;
	queue->retry_backoff_ms = 100;
	queue->job_timeout_ms = 30000;
	queue->workers = 1;
}

const char *shmrt_conf_path(const char *explicit_path)
{
	const char *env;

	if (explicit_path != NULL && explicit_path[0] != '\0')
		return explicit_path;
	env = getenv("SHMRT_CONF");
	if (env != NULL && env[0] != '\0')
		return env;
	if (access(SHMRT_CONF_DEFAULT_PATH, F_OK) != 0 &&
	    access(SHMRT_CONF_INSTALLED_PATH, F_OK) == 0)
		return SHMRT_CONF_INSTALLED_PATH;
	return SHMRT_CONF_DEFAULT_PATH;
}

const char *shmrt_conf_installed_path(void)
{
	return SHMRT_CONF_INSTALLED_PATH;
}

/* err and shmrt_last_error() get "VAR: 'value' is not WHAT". */
static int env_error(const char *var, const char *value, const char *what,
		     char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: '%s' is not %s", var, value, what);
	return shmrt__fail(SHMRT_E_CONF, "%s: '%s' is not %s", var, value,
			   what);
}

int shmrt_conf_apply_env(struct shmrt_conf *conf, char *err, size_t errlen)
{
	static const char *const test_words[2] = { "0", "1" };
	const char *mode = getenv("SHMRT_MODE");
	const char *test = getenv("SHMRT_TEST_MODE");
	int m = -1, t = -1;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (mode != NULL && mode[0] != '\0' &&
	    (m = parse_word(mode, mode_words)) < 0)
		return env_error("SHMRT_MODE", mode, "inline or process", err,
				 errlen);
	if (test != NULL && test[0] != '\0' &&
	    (t = parse_word(test, test_words)) < 0)
		return env_error("SHMRT_TEST_MODE", test, "0 or 1", err,
				 errlen);
	if (m >= 0) {
		conf->mode = (enum shmrt_conf_mode)m;
		conf->test_mode = m == SHMRT_CONF_MODE_INLINE;
	}
	if (t >= 0)
		conf->test_mode = t == 1;
	if (conf->test_mode)
		conf->mode = SHMRT_CONF_MODE_INLINE;
	return 0;
}

/* Make `t` (a copy) the conf's only tenant. */
static int select_only(struct shmrt_conf *conf,
		       const struct shmrt_conf_tenant *t)
{
	struct shmrt_conf_tenant keep = *t;

	conf->tenant[0] = keep;
	conf->ntenants = 1;
	return 0;
}

int shmrt_conf_select_tenant(struct shmrt_conf *conf, const char *name)
{
	struct shmrt_conf_tenant t;
	uint32_t i;

	if (name == NULL && conf->ntenants > 0)
		return select_only(conf, &conf->tenant[0]);
	if (name == NULL)
		return shmrt__fail(SHMRT_E_CONF, "%s: no tenant named, and the "
				   "file has only the [tenant *] template: "
				   "name the tenant (any valid name)",
				   conf->path);
	for (i = 0; i < conf->ntenants && i < SHMRT_CONF_MAX_TENANTS; i++)
		if (strcmp(conf->tenant[i].name, name) == 0)
			return select_only(conf, &conf->tenant[i]);
	if (!conf->has_template)
		return shmrt__fail(SHMRT_E_CONF, "%s: no [tenant %.64s] "
				   "section, and no [tenant *] template: add "
				   "either to serve it",
				   conf->path, name);
	if (!shmrt__tenant_name_valid(name))
		return shmrt__fail(SHMRT_E_NAME, "invalid tenant name '%.64s' "
				   "(use 1..%d of [A-Za-z0-9._-], not '.' or "
				   "'..')",
				   name, SHMRT_CONF_TENANT_MAX - 1);
	t = conf->tenant_template;
	memcpy(t.name, name, strlen(name) + 1);
	return select_only(conf, &t);
}

/* HOST: 1..253 of [A-Za-z0-9.-]; PORT: 1..65535, digits only. */
static int tcp_addr_parse(const char *s, struct shmrt_conf_redis_addr *out)
{
	const char *colon = strrchr(s, ':');
	size_t hl = colon != NULL ? (size_t)(colon - s) : 0, i;
	uint64_t port = 0;

	if (hl == 0 || hl > 253 || parse_uint(colon + 1, &port) != NUM_OK ||
	    port == 0 || port > 65535)
		return -1;
	for (i = 0; i < hl; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '-')
			return -1;
	memcpy(out->host, s, hl);
	out->host[hl] = '\0';
	out->port = (int)port;
	return 0;
}

int shmrt_conf_redis_addr_parse(const char *s,
				struct shmrt_conf_redis_addr *out)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n >= SHMRT_CONF_REDIS_MAX)
		return -1;
	memset(out, 0, sizeof(*out));
	if (strncmp(s, "unix:", 5) == 0) {
		if (s[5] != '/' || s[6] == '\0')
			return -1;
		memcpy(out->path, s + 5, n - 4);
		return 0;
	}
	return tcp_addr_parse(s, out);
}

int shmrt_conf_queue_index(const struct shmrt_conf *conf, const char *name)
{
	uint32_t i;

	if (name == NULL)
		return -1;
	for (i = 0; i < conf->nqueues && i < SHMRT_CONF_MAX_QUEUES; i++)
		if (strcmp(conf->queue[i].name, name) == 0)
			return (int)i;
	return -1;
}
