/*
 * tests/fault/test_attach_refusal.c - every way attach can refuse a
 * segment gives its own error and a detail naming the field, and never
 * crashes the attaching process.
 *
 * The segment file is damaged directly (pwrite / ftruncate on
 * /dev/shm/shmrt.<tenant>) and each attach runs in a forked child, which
 * _exit()s the error code as a positive number (0 when attach succeeded)
 * and leaves shmrt_last_error() in shared memory. A SIGBUS or SIGSEGV
 * shows as 128 + signal and fails the parent's assertion.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <shmrt/error.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/job.h"
#include "shm/participant.h"
#include "shm/segment.h"
#include "testutil.h"

#define CHILD_TIMEOUT_MS   10000
#define HOSTILE_TIMEOUT_MS 5000 /* a hang here is the failure */
#define DETAIL_MAX	   512
#define FOREIGN_UID	   12345

/* What a child leaves behind for the parent. */
struct outcome {
	int code;		 /* tu_wait_child result: -rc, 0 or 128+sig */
	char detail[DETAIL_MAX]; /* shmrt_last_error() in the child */
};

struct fx {
	char tenant[64];
	char path[96];
	size_t size;		       /* the healthy file size */
	struct shmrt__seg_header orig; /* the healthy header */
	struct outcome *shared;	       /* MAP_SHARED, written by children */
};

static void fx_params(struct shmrt__seg_params *p)
{
	tu_params_one_queue(p, 1024, 64, 8);
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct shmrt__seg_params p;
	struct shmrt__seg seg;
	int fd;

	if (f == NULL)
		return -1;
	snprintf(f->tenant, sizeof(f->tenant), "%s", tu_tenant());
	snprintf(f->path, sizeof(f->path), "/dev/shm/shmrt.%s", f->tenant);
	f->shared = tu_shared_alloc(sizeof(*f->shared));
	fx_params(&p);
	if (f->shared == NULL || shmrt__seg_create(f->tenant, &p, &seg) != 0)
		return -1;
	f->size = seg.size;
	shmrt__seg_detach(&seg);
	fd = open(f->path, O_RDONLY);
	if (fd < 0 ||
	    pread(fd, &f->orig, sizeof(f->orig), 0) != (ssize_t)sizeof(f->orig))
		return -1;
	close(fd);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	unlink(f->path); /* also removes a FIFO planted by a test */
	tu_shared_free(f->shared, sizeof(*f->shared));
	free(f);
	return 0;
}

/*
 * Child body: attach, report. When attach succeeds (a damaged field that
 * attach does not validate, or a self-consistent hostile geometry), the
 * child also touches the segment through the job API, which must stay in
 * bounds too.
 */
static int child_attach(const char *tenant, struct outcome *out)
{
	struct shmrt__seg seg;
	struct shmrt__part part;
	struct shmrt__lease lease;
	struct shmrt_job_info info;
	unsigned char buf[SHMRT__MAX_SLOT_SIZE / 1024];
	int rc = shmrt__seg_attach(tenant, &seg);

	snprintf(out->detail, sizeof(out->detail), "%s", shmrt_last_error());
	if (rc != 0)
		return rc < 0 && rc > -128 ? -rc : 127;
	if (seg.nqueues > 0 && seg.q[0].slot_size <= sizeof(buf) &&
	    shmrt__part_join(&seg, SHMRT__ROLE_WORKER, &part) == 0) {
		(void)shmrt__job_lease(&part, 0, buf, sizeof(buf), 0, &lease);
		shmrt__part_leave(&part);
	}
	(void)shmrt__job_status(&seg, shmrt__id_make(0, 3, 1), &info, NULL, 0);
	shmrt__seg_detach(&seg);
	return 0;
}

/* Runs one attach in a child; returns its code, fills f->shared. */
static int attach_in_child_ms(struct fx *f, const char *tenant, int timeout)
{
	pid_t pid;

	memset(f->shared, 0, sizeof(*f->shared));
	pid = tu_fork(1);
	if (pid == 0)
		_exit(child_attach(tenant, f->shared));
	f->shared->code = tu_wait_child(pid, timeout);
	return f->shared->code;
}

static int attach_in_child(struct fx *f, const char *tenant)
{
	return attach_in_child_ms(f, tenant, CHILD_TIMEOUT_MS);
}

/* Asserts the child's attach failed with `err` and a detail naming `word`. */
static void expect_refusal(struct fx *f, const char *tenant, int err,
			   const char *word)
{
	int code = attach_in_child(f, tenant);

	if (code != -err || strstr(f->shared->detail, word) == NULL)
		print_message("attach: got %d (%s), detail \"%s\"; expected "
			      "%s naming \"%s\"\n",
			      code,
			      code > 0 && code < 128 ? shmrt_err_name(-code)
						     : "not an error code",
			      f->shared->detail, shmrt_err_name(err), word);
	assert_int_equal(code, -err);
	assert_non_null(strstr(f->shared->detail, word));
}

static void poke(struct fx *f, size_t off, const void *data, size_t len)
{
	int fd = open(f->path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, data, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void poke_u32(struct fx *f, size_t off, uint32_t v)
{
	poke(f, off, &v, sizeof(v));
}

static void poke_u64(struct fx *f, size_t off, uint64_t v)
{
	poke(f, off, &v, sizeof(v));
}

static void restore_header(struct fx *f)
{
	poke(f, 0, &f->orig, sizeof(f->orig));
}

static void resize(struct fx *f, off_t size)
{
	assert_int_equal(truncate(f->path, size), 0);
}

#define HOFF(field) offsetof(struct shmrt__seg_header, field)

/* ------------------------------------------------------------ the cases */

static void test_healthy_attaches(void **state)
{
	struct fx *f = *state;

	assert_int_equal(attach_in_child(f, f->tenant), 0);
}

static void test_no_such_tenant(void **state)
{
	struct fx *f = *state;
	char other[80];

	snprintf(other, sizeof(other), "%s-none", f->tenant);
	expect_refusal(f, other, SHMRT_E_NOENT, other);
}

static void test_invalid_names(void **state)
{
	static const char *const bad[] = {
	    "",
	    ".",
	    "..",
	    "a/b",
	    "a b",
	    "a\\b",
	    "t\xc3\xa9",
	    "../shmrt.x",
	    "1234567890123456789012345678901234567890123456789",
	};
	struct fx *f = *state;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refusal(f, bad[i], SHMRT_E_NAME, "tenant name");
	expect_refusal(f, NULL, SHMRT_E_NAME, "tenant name");
}

static void test_other_owner(void **state)
{
	struct fx *f = *state;

	if (geteuid() != 0) {
		print_message("not root: cannot chown the segment, skipped\n");
		skip();
	}
	assert_int_equal(chown(f->path, FOREIGN_UID, (gid_t)-1), 0);
	expect_refusal(f, f->tenant, SHMRT_E_OWNER, "12345");
	/* Group-readable but another group: still refused. */
	assert_int_equal(chmod(f->path, 0660), 0);
	assert_int_equal(chown(f->path, FOREIGN_UID, FOREIGN_UID), 0);
	expect_refusal(f, f->tenant, SHMRT_E_OWNER, "12345");
}

static void test_not_regular(void **state)
{
	struct fx *f = *state;

	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(mkfifo(f->path, 0600), 0);
	expect_refusal(f, f->tenant, SHMRT_E_NOTREG, "regular");
}

static void test_bad_magic(void **state)
{
	struct fx *f = *state;

	poke_u64(f, HOFF(magic), 0x4a554e4b4a554e4bull);
	expect_refusal(f, f->tenant, SHMRT_E_MAGIC, "magic");
	poke_u64(f, HOFF(magic), 0);
	expect_refusal(f, f->tenant, SHMRT_E_MAGIC, "magic");
}

static void test_bad_abi(void **state)
{
	struct fx *f = *state;

	poke_u32(f, HOFF(abi_version), SHMRT__ABI_VERSION + 6);
	expect_refusal(f, f->tenant, SHMRT_E_ABI, "abi_version");
	poke_u32(f, HOFF(abi_version), 0);
	expect_refusal(f, f->tenant, SHMRT_E_ABI, "abi_version");
}

static void test_bad_layout_hash(void **state)
{
	struct fx *f = *state;

	poke_u64(f, HOFF(layout_hash), f->orig.layout_hash ^ 1u);
	expect_refusal(f, f->tenant, SHMRT_E_LAYOUT, "layout_hash");
}

static void test_bad_geometry(void **state)
{
	struct fx *f = *state;

	/* Same ring size, so only the hash tells. */
	poke_u32(f, HOFF(geo.queue[0].capacity), 1000);
	expect_refusal(f, f->tenant, SHMRT_E_LAYOUT, "layout_hash");
	/* Inconsistent with ring_cells: caught before the hash. */
	poke_u32(f, HOFF(geo.queue[0].capacity), 5000);
	expect_refusal(f, f->tenant, SHMRT_E_LAYOUT, "capacity");
	poke_u32(f, HOFF(geo.queue[0].capacity), SHMRT__MAX_CAPACITY + 1);
	expect_refusal(f, f->tenant, SHMRT_E_LAYOUT, "capacity");
	restore_header(f);
	poke_u32(f, HOFF(geo.nqueues), 0);
	expect_refusal(f, f->tenant, SHMRT_E_LAYOUT, "nqueues");
	poke_u32(f, HOFF(geo.nqueues), SHMRT__MAX_QUEUES + 1);
	expect_refusal(f, f->tenant, SHMRT_E_LAYOUT, "nqueues");
	restore_header(f);
	poke_u32(f, HOFF(geo.nparticipants), 0xffffffffu);
	expect_refusal(f, f->tenant, SHMRT_E_LAYOUT, "nparticipants");
	restore_header(f);
	poke_u32(f, HOFF(geo.queue[0].slot_size), 0);
	expect_refusal(f, f->tenant, SHMRT_E_LAYOUT, "slot_size");
	restore_header(f);
	poke_u32(f, HOFF(geo.queue[0].ring_cells), 1u << 31);
	expect_refusal(f, f->tenant, SHMRT_E_LAYOUT, "ring_cells");
}

static void test_bad_header_size(void **state)
{
	struct fx *f = *state;

	poke_u32(f, HOFF(header_size), f->orig.header_size + 64);
	expect_refusal(f, f->tenant, SHMRT_E_HDRSIZE, "header_size");
	poke_u32(f, HOFF(header_size), 0);
	expect_refusal(f, f->tenant, SHMRT_E_HDRSIZE, "header_size");
}

static void test_bad_total_size(void **state)
{
	struct fx *f = *state;

	poke_u64(f, HOFF(total_size), f->orig.total_size + 4096);
	expect_refusal(f, f->tenant, SHMRT_E_HDRSIZE, "total_size");
	poke_u64(f, HOFF(total_size), f->orig.total_size / 2);
	expect_refusal(f, f->tenant, SHMRT_E_HDRSIZE, "total_size");
}

static void test_truncated_half(void **state)
{
	struct fx *f = *state;

	resize(f, (off_t)(f->size / 2));
	expect_refusal(f, f->tenant, SHMRT_E_TRUNC, "truncated");
	/* One page short is as bad as half. */
	resize(f, (off_t)(f->size - 4096));
	expect_refusal(f, f->tenant, SHMRT_E_TRUNC, "truncated");
}

static void test_truncated_tiny(void **state)
{
	struct fx *f = *state;

	resize(f, 10);
	expect_refusal(f, f->tenant, SHMRT_E_TRUNC, "10 bytes");
	resize(f, 0);
	expect_refusal(f, f->tenant, SHMRT_E_TRUNC, "0 bytes");
}

static void test_file_longer_than_layout(void **state)
{
	struct fx *f = *state;

	resize(f, (off_t)(f->size + 4096));
	expect_refusal(f, f->tenant, SHMRT_E_HDRSIZE, "total_size");
}

static void test_not_ready(void **state)
{
	struct fx *f = *state;

	poke_u32(f, HOFF(init_done), 0);
	expect_refusal(f, f->tenant, SHMRT_E_NOTREADY, "init_done");
}

/* ---------------------------------------------------------------- fuzz */

static void rnd_fill(uint64_t *s, unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)tu_rnd(s);
}

/* A child's exit status that is -(a code of the table), or 0. */
static bool known_code(int code)
{
	return code == 0 ||
	       strcmp(shmrt_err_name(-code), "SHMRT_E_UNKNOWN") != 0;
}

/* The code of a refusal or success, never a crash or a hang. */
static void assert_sane_code(struct fx *f, int code, uint64_t seed)
{
	if (code < 0 || !known_code(code))
		print_message("seed %llu: child ended with %d, detail \"%s\"\n",
			      (unsigned long long)seed, code,
			      f->shared->detail);
	assert_true(code >= 0 && known_code(code));
	if (code > 0)
		assert_true(f->shared->detail[0] != '\0');
}

static void test_fuzz_whole_header(void **state)
{
	struct fx *f = *state;
	struct shmrt__seg_header h;
	uint64_t seed;

	for (seed = 1; seed <= 100; seed++) {
		uint64_t s = seed * 0x9e3779b97f4a7c15ull;
		int code;

		rnd_fill(&s, (unsigned char *)&h, sizeof(h));
		poke(f, 0, &h, sizeof(h));
		code = attach_in_child(f, f->tenant);
		assert_sane_code(f, code, seed);
		assert_true(code >
			    0); /* random bytes are never a valid header */
	}
	restore_header(f);
	assert_int_equal(attach_in_child(f, f->tenant), 0);
}

/* The header's fields; `checked` when attach must refuse a change to it. */
struct hfield {
	const char *name;
	size_t off;
	size_t len;
	int checked;
};

/* clang-format off */
#define HSIZE(field) sizeof(((struct shmrt__seg_header *)0)->field)
#define HF(field, checked) { #field, HOFF(field), HSIZE(field), checked }

static const struct hfield hfields[] = {
	HF(magic, 1),
	HF(abi_version, 1),
	HF(header_size, 1),
	HF(layout_hash, 1),
	HF(total_size, 1),
	HF(creator_uid, 0),
	HF(creator_pid, 0),
	HF(creator_start_time, 0),
	HF(created_wall_ns, 0),
	HF(init_done, 1),
	HF(state, 0),
	HF(state_ec, 0),
	HF(tun.spin_ns, 0),
	HF(tun.retention_ns, 0),
	HF(geo.nqueues, 1),
	HF(geo.nparticipants, 1),
	HF(geo.queue[0].name, 1),
	HF(geo.queue[0].capacity, 1),
	HF(geo.queue[0].slot_size, 1),
	HF(geo.queue[0].ring_cells, 1),
	HF(geo.queue[0].nlanes, 1),
	HF(geo.queue[0].nidem, 1),
	HF(geo.queue[0].sem, 1),
	HF(geo.queue[1], 1),
	HF(geo.queue[63].capacity, 1),
	HF(geo.nsems, 1),
	HF(geo.sem[0].name, 1),
	HF(geo.sem[0].limit, 1),
	HF(tun.heartbeat_timeout_ns, 0),
};
/* clang-format on */

#define NFIELDS (sizeof(hfields) / sizeof(hfields[0]))

/* Plausible small numbers reach deeper checks than pure noise does. */
static void fuzz_value(uint64_t *s, unsigned char *p, size_t len)
{
	uint64_t v;

	switch (tu_rnd(s) % 4) {
	case 0:
		v = tu_rnd(s) % 70;
		break;
	case 1:
		v = 1ull << (tu_rnd(s) % 40);
		break;
	case 2:
		v = (tu_rnd(s) & 1) ? UINT64_MAX : 0;
		break;
	default:
		rnd_fill(s, p, len);
		return;
	}
	memset(p, 0, len);
	memcpy(p, &v, len < sizeof(v) ? len : sizeof(v));
}

/* Damages 1-4 random fields; returns whether a validated field changed. */
static int fuzz_fields(uint64_t *s, struct shmrt__seg_header *h,
		       const struct shmrt__seg_header *orig)
{
	unsigned n = 1 + (unsigned)(tu_rnd(s) % 4), i;
	int checked = 0;

	*h = *orig;
	for (i = 0; i < n; i++) {
		const struct hfield *hf = &hfields[tu_rnd(s) % NFIELDS];

		fuzz_value(s, (unsigned char *)h + hf->off, hf->len);
	}
	/* Compared afterwards: a later change may undo an earlier one. */
	for (i = 0; i < NFIELDS; i++) {
		const struct hfield *hf = &hfields[i];

		if (hf->checked && memcmp((const unsigned char *)h + hf->off,
					  (const unsigned char *)orig + hf->off,
					  hf->len) != 0)
			checked = 1;
	}
	return checked;
}

static void test_fuzz_fields(void **state)
{
	struct fx *f = *state;
	struct shmrt__seg_header h;
	unsigned refused = 0, attached = 0;
	uint64_t seed;

	for (seed = 1; seed <= 1000; seed++) {
		uint64_t s = seed * 0xd1b54a32d192ed03ull;
		int must_refuse = fuzz_fields(&s, &h, &f->orig);
		int code;

		poke(f, 0, &h, sizeof(h));
		code = attach_in_child(f, f->tenant);
		assert_sane_code(f, code, seed);
		if (must_refuse != (code > 0))
			print_message(
			    "seed %llu: attach gave %d, expected %s\n",
			    (unsigned long long)seed, code,
			    must_refuse ? "a refusal" : "success");
		/* Only fields attach has no way to check may change silently.
		 */
		assert_int_equal(code > 0, must_refuse);
		if (code > 0)
			refused++;
		else
			attached++;
	}
	print_message("fuzzed fields: %u refused, %u attached\n", refused,
		      attached);
	restore_header(f);
	assert_int_equal(attach_in_child(f, f->tenant), 0);
}

/* ------------------------------------------------------ hostile content */

/*
 * A header that is wrong but self-consistent (hash and total size
 * recomputed after the damage, as a hostile peer would write it) passes
 * attach whenever the file size still matches; then the contents do not
 * match the geometry, and the job calls in child_attach must still return
 * (any code) rather than crash or spin. Geometry fields only.
 */
static void hostile_geometry(uint64_t *s, struct shmrt__seg_header *h,
			     const struct shmrt__seg_header *orig)
{
	static const size_t offs[] = {
	    HOFF(geo.nparticipants),
	    HOFF(geo.queue[0].capacity),
	    HOFF(geo.queue[0].slot_size),
	    HOFF(geo.queue[0].ring_cells),
	};
	uint32_t v;

	*h = *orig;
	v = (uint32_t)(tu_rnd(s) % 2048);
	if (tu_rnd(s) & 1)
		v = 1u << (tu_rnd(s) % 16);
	memcpy((unsigned char *)h + offs[tu_rnd(s) % 4], &v, sizeof(v));
	h->layout_hash = shmrt__layout_hash(&h->geo);
	h->total_size = shmrt__layout_size(&h->geo);
}

static void test_hostile_geometry(void **state)
{
	struct fx *f = *state;
	struct shmrt__seg_header h;
	unsigned refused = 0, attached = 0;
	uint64_t seed;

	for (seed = 1; seed <= 300; seed++) {
		uint64_t s = seed * 0x94d049bb133111ebull;
		int code;

		hostile_geometry(&s, &h, &f->orig);
		poke(f, 0, &h, sizeof(h));
		code = attach_in_child_ms(f, f->tenant, HOSTILE_TIMEOUT_MS);
		if (code < 0 || !known_code(code))
			print_message(
			    "seed %llu: nparticipants %u capacity %u "
			    "slot_size %u ring_cells %u: child ended "
			    "with %d (-1: hung, killed)\n",
			    (unsigned long long)seed, h.geo.nparticipants,
			    h.geo.queue[0].capacity, h.geo.queue[0].slot_size,
			    h.geo.queue[0].ring_cells, code);
		assert_sane_code(f, code, seed);
		if (code > 0)
			refused++;
		else
			attached++;
	}
	print_message("hostile geometry: %u refused, %u attached\n", refused,
		      attached);
}

/* Runs `fn` on a live mapping in a child; returns its code. */
static int in_child(struct fx *f, int (*fn)(struct shmrt__seg *))
{
	struct shmrt__seg seg;
	pid_t pid;

	pid = tu_fork(1);
	if (pid == 0) {
		if (shmrt__seg_attach(f->tenant, &seg) != 0)
			_exit(100);
		_exit(fn(&seg));
	}
	return tu_wait_child(pid, HOSTILE_TIMEOUT_MS);
}

/* A ring cell whose sequence number is a lap ahead of its position. */
static void corrupt_cell(struct shmrt__seg *seg, uint64_t pos)
{
	struct shmrt__ring_cell *c =
	    &seg->q[0].cells[pos & seg->q[0].ring_mask];

	__atomic_store_n(&c->seq, pos + 5 * (seg->q[0].ring_mask + 1),
			 __ATOMIC_RELEASE);
}

static int try_lease(struct shmrt__seg *seg)
{
	unsigned char buf[64];
	struct shmrt__part part;
	struct shmrt__lease l;

	if (shmrt__part_join(seg, SHMRT__ROLE_WORKER, &part) != 0)
		return 101;
	corrupt_cell(seg, __atomic_load_n(&seg->q[0].ctl->dequeue_pos,
					  __ATOMIC_RELAXED));
	return -shmrt__job_lease(&part, 0, buf, sizeof(buf), 0, &l);
}

static int try_enqueue(struct shmrt__seg *seg)
{
	struct shmrt__part part;
	shmrt_job_id id;

	if (shmrt__part_join(seg, SHMRT__ROLE_PRODUCER, &part) != 0)
		return 101;
	corrupt_cell(seg, __atomic_load_n(&seg->q[0].ctl->enqueue_pos,
					  __ATOMIC_RELAXED));
	return -shmrt__job_enqueue(&part, 0, "x", 1, 0, &id);
}

/*
 * Corrupted ring contents: try-once calls (deadline 0) must report the
 * corruption, not spin forever on a cell that can never become ready.
 */
static void test_corrupt_ring_cell(void **state)
{
	struct fx *f = *state;
	int lease = in_child(f, try_lease);
	int enq = in_child(f, try_enqueue);

	print_message("lease on a corrupt cell: %d, enqueue: %d (-1: hung)\n",
		      lease, enq);
	assert_int_equal(lease, -SHMRT_E_CORRUPT);
	assert_int_equal(enq, -SHMRT_E_CORRUPT);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_healthy_attaches),  T(test_no_such_tenant),
	    T(test_invalid_names),     T(test_other_owner),
	    T(test_not_regular),       T(test_bad_magic),
	    T(test_bad_abi),	       T(test_bad_layout_hash),
	    T(test_bad_geometry),      T(test_bad_header_size),
	    T(test_bad_total_size),    T(test_truncated_half),
	    T(test_truncated_tiny),    T(test_file_longer_than_layout),
	    T(test_not_ready),	       T(test_fuzz_whole_header),
	    T(test_fuzz_fields),       T(test_hostile_geometry),
	    T(test_corrupt_ring_cell),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
