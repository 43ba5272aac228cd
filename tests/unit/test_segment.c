/*
 * tests/unit/test_segment.c - creating, attaching, validating and
 * destroying a tenant's segment.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/job.h"
#include "shm/participant.h"
#include "shm/segment.h"
#include "testutil.h"

/* Per-test state: a unique tenant and two handles, cleaned up always. */
struct fx {
	char tenant[64];
	char path[96];
	struct shmrt__seg a;
	struct shmrt__seg b;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->tenant, sizeof(f->tenant), "%s", tu_tenant());
	snprintf(f->path, sizeof(f->path), "/dev/shm/shmrt.%s", f->tenant);
	f->a.fd = -1;
	f->b.fd = -1;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	shmrt__seg_detach(&f->a);
	shmrt__seg_detach(&f->b);
	shmrt__seg_destroy(f->tenant); /* NOENT when the test removed it */
	free(f);
	return 0;
}

/* Two queues of different shapes, so a mixed-up index shows. */
static void two_queue_params(struct shmrt__seg_params *p)
{
	memset(p, 0, sizeof(*p));
	p->nqueues = 2;
	p->nparticipants = 4;
	p->queue[0].name = "alpha";
	p->queue[0].capacity = 5;
	p->queue[0].slot_size = 100;
	p->queue[1].name = "beta";
	p->queue[1].capacity = 16;
	p->queue[1].slot_size = 8;
	p->tun.spin_ns = 1000;
	p->tun.retention_ns = 1000000000u;
}

static bool path_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static void create_named(struct fx *f)
{
	struct shmrt__seg_params p;

	two_queue_params(&p);
	assert_int_equal(shmrt__seg_create(f->tenant, &p, &f->a), 0);
}

static void test_tenant_names(void **state)
{
	char longest[SHMRT__TENANT_NAME_MAX + 2];

	(void)state;
	assert_true(shmrt__tenant_name_valid("a"));
	assert_true(shmrt__tenant_name_valid("acme-Prod_01.eu"));
	assert_true(shmrt__tenant_name_valid("..."));
	assert_true(shmrt__tenant_name_valid(".hidden"));
	memset(longest, 'x', sizeof(longest));
	longest[SHMRT__TENANT_NAME_MAX] = '\0'; /* 48 characters */
	assert_true(shmrt__tenant_name_valid(longest));
	longest[SHMRT__TENANT_NAME_MAX] = 'x';
	longest[SHMRT__TENANT_NAME_MAX + 1] = '\0'; /* 49 characters */
	assert_false(shmrt__tenant_name_valid(longest));
	assert_false(shmrt__tenant_name_valid(""));
	assert_false(shmrt__tenant_name_valid(NULL));
	assert_false(shmrt__tenant_name_valid("a/b"));
	assert_false(shmrt__tenant_name_valid("/a"));
	assert_false(shmrt__tenant_name_valid("a b"));
	assert_false(shmrt__tenant_name_valid("a\nb"));
	assert_false(shmrt__tenant_name_valid("caf\xc3\xa9"));
	assert_false(shmrt__tenant_name_valid("."));
	assert_false(shmrt__tenant_name_valid(".."));
}

/* Every entry point refuses an invalid name before touching /dev/shm. */
static void test_invalid_name_refused(void **state)
{
	struct shmrt__seg_params p;
	struct shmrt__seg seg;

	(void)state;
	two_queue_params(&p);
	assert_int_equal(shmrt__seg_create("..", &p, &seg), SHMRT_E_NAME);
	assert_int_equal(shmrt__seg_create("a/b", &p, &seg), SHMRT_E_NAME);
	assert_null(seg.base);
	assert_int_equal(shmrt__seg_attach("a b", &seg), SHMRT_E_NAME);
	assert_int_equal(shmrt__seg_attach(NULL, &seg), SHMRT_E_NAME);
	assert_int_equal(shmrt__seg_destroy("."), SHMRT_E_NAME);
	assert_int_equal(shmrt__seg_destroy(""), SHMRT_E_NAME);
}

static void assert_same_queue(const struct shmrt__qhandle *x,
			      const struct shmrt__qhandle *y)
{
	assert_int_equal(x->capacity, y->capacity);
	assert_int_equal(x->slot_size, y->slot_size);
	assert_int_equal(x->ring_mask, y->ring_mask);
	assert_int_equal(x->slot_stride, y->slot_stride);
	assert_int_equal(x->index, y->index);
}

static void test_create_attach_same_geometry(void **state)
{
	struct fx *f = *state;
	uint32_t i;

	create_named(f);
	assert_int_equal(shmrt__seg_attach(f->tenant, &f->b), 0);
	assert_int_equal(f->a.nqueues, 2);
	assert_int_equal(f->b.nqueues, 2);
	assert_int_equal(f->b.nparticipants, 4);
	assert_int_equal(f->a.size, f->b.size);
	assert_int_equal(f->a.q[0].capacity, 5);
	assert_int_equal(f->a.q[0].slot_size, 100);
	assert_int_equal(f->a.q[1].capacity, 16);
	assert_int_equal(f->a.q[1].slot_size, 8);
	/* Ring cells: the smallest power of two >= 2 * capacity. */
	assert_int_equal(f->a.q[0].ring_mask, 15);
	assert_int_equal(f->a.q[1].ring_mask, 31);
	for (i = 0; i < 2; i++) {
		assert_same_queue(&f->a.q[i], &f->b.q[i]);
		assert_true(f->a.q[i].slot_stride >=
			    sizeof(struct shmrt__slot) +
				    2 * (size_t)f->a.q[i].slot_size);
	}
	/* Both handles map the same memory. */
	__atomic_store_n(&f->a.q[1].ctl->n_retried, 77, __ATOMIC_RELAXED);
	assert_int_equal(
		__atomic_load_n(&f->b.q[1].ctl->n_retried, __ATOMIC_RELAXED),
		77);
}

/* Ring size for capacities around powers of two (private segments). */
static void test_ring_mask_rounding(void **state)
{
	const uint32_t caps[] = { 1, 2, 3, 4, 7, 8, 9, 100, 1024, 1025 };
	const uint64_t cells[] = { 2, 4, 8, 8, 16, 16, 32, 256, 2048, 4096 };
	struct fx *f = *state;
	struct shmrt__seg_params p;
	size_t i;

	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		tu_params_one_queue(&p, caps[i], 16, 2);
		assert_int_equal(shmrt__seg_create(NULL, &p, &f->a), 0);
		assert_int_equal(f->a.q[0].ring_mask + 1, cells[i]);
		shmrt__seg_detach(&f->a);
	}
}

static void test_create_twice_exist(void **state)
{
	struct fx *f = *state;
	struct shmrt__seg_params p;
	char uid[32];

	create_named(f);
	two_queue_params(&p);
	p.queue[0].capacity = 9; /* would be another layout */
	assert_int_equal(shmrt__seg_create(f->tenant, &p, &f->b), SHMRT_E_EXIST);
	assert_null(f->b.base);
	snprintf(uid, sizeof(uid), "uid %u", (unsigned)geteuid());
	assert_non_null(strstr(shmrt_last_error(), uid));
	assert_non_null(strstr(shmrt_last_error(), f->tenant));
	/* The refused create must not have unlinked or changed the original. */
	assert_int_equal(shmrt__seg_attach(f->tenant, &f->b), 0);
	assert_int_equal(f->b.q[0].capacity, 5);
}

static void test_destroy_then_attach_noent(void **state)
{
	struct fx *f = *state;

	create_named(f);
	assert_true(path_exists(f->path));
	assert_int_equal(shmrt__seg_destroy(f->tenant), 0);
	assert_false(path_exists(f->path));
	assert_int_equal(shmrt__seg_attach(f->tenant, &f->b), SHMRT_E_NOENT);
	assert_null(f->b.base);
	assert_int_equal(shmrt__seg_destroy(f->tenant), SHMRT_E_NOENT);
	/* A handle mapped before the destroy stays usable. */
	assert_int_equal(f->a.hdr->magic, SHMRT__MAGIC);
	shmrt__seg_set_state(&f->a, SHMRT__SEG_STOPPED);
	assert_int_equal(shmrt__seg_state(&f->a), SHMRT__SEG_STOPPED);
}

/* Each bad geometry: SHMRT_E_INVAL, and nothing left in /dev/shm. */
static void expect_inval(struct fx *f, const struct shmrt__seg_params *p,
			 const char *what)
{
	int rc = shmrt__seg_create(f->tenant, p, &f->b);

	if (rc != SHMRT_E_INVAL)
		fail_msg("%s: got %s, want SHMRT_E_INVAL", what,
			 shmrt_err_name(rc));
	assert_null(f->b.base);
	if (path_exists(f->path))
		fail_msg("%s: %s left behind", what, f->path);
}

static void test_invalid_params(void **state)
{
	struct fx *f = *state;
	char longname[SHMRT__QUEUE_NAME_MAX + 1];
	struct shmrt__seg_params p;

	memset(longname, 'q', SHMRT__QUEUE_NAME_MAX);
	longname[SHMRT__QUEUE_NAME_MAX] = '\0'; /* 32 chars: one too many */
	two_queue_params(&p);
	p.nqueues = 0;
	expect_inval(f, &p, "0 queues");
	two_queue_params(&p);
	p.nqueues = SHMRT__MAX_QUEUES + 1;
	expect_inval(f, &p, "too many queues");
	two_queue_params(&p);
	p.queue[1].capacity = 0;
	expect_inval(f, &p, "capacity 0");
	two_queue_params(&p);
	p.queue[0].capacity = SHMRT__MAX_CAPACITY + 1;
	expect_inval(f, &p, "capacity too big");
	two_queue_params(&p);
	p.queue[1].slot_size = 0;
	expect_inval(f, &p, "slot_size 0");
	two_queue_params(&p);
	p.queue[0].slot_size = SHMRT__MAX_SLOT_SIZE + 1;
	expect_inval(f, &p, "slot_size too big");
	two_queue_params(&p);
	p.queue[1].name = "alpha";
	expect_inval(f, &p, "duplicate queue names");
	two_queue_params(&p);
	p.queue[1].name = longname;
	expect_inval(f, &p, "queue name too long");
	two_queue_params(&p);
	p.queue[0].name = "";
	expect_inval(f, &p, "empty queue name");
	two_queue_params(&p);
	p.queue[0].name = NULL;
	expect_inval(f, &p, "missing queue name");
	two_queue_params(&p);
	p.nparticipants = 0;
	expect_inval(f, &p, "0 participants");
	/* A name of 31 characters is the longest allowed. */
	two_queue_params(&p);
	longname[SHMRT__QUEUE_NAME_MAX - 1] = '\0';
	p.queue[1].name = longname;
	assert_int_equal(shmrt__seg_create(f->tenant, &p, &f->a), 0);
	assert_int_equal(shmrt__seg_queue_index(&f->a, longname), 1);
}

static void test_file_mode_and_allocation(void **state)
{
	struct fx *f = *state;
	struct stat st;

	create_named(f);
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal((size_t)st.st_size, f->a.size);
	assert_int_equal(f->a.size % 4096, 0);
	/* posix_fallocate'd: every page is backed, not a sparse file. */
	assert_true((uint64_t)st.st_blocks * 512 >= (uint64_t)st.st_size);
}

/* A mode with group access is applied as asked, with the group. */
static void test_group_mode(void **state)
{
	struct fx *f = *state;
	struct shmrt__seg_params p;
	struct stat st;

	two_queue_params(&p);
	p.mode = 0660;
	p.gid = getegid();
	assert_int_equal(shmrt__seg_create(f->tenant, &p, &f->a), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0660);
	assert_int_equal(st.st_gid, getegid());
	assert_int_equal(shmrt__seg_attach(f->tenant, &f->b), 0);
}

static void test_header_fields(void **state)
{
	struct fx *f = *state;
	const struct shmrt__seg_header *h;

	create_named(f);
	h = f->a.hdr;
	assert_ptr_equal(h, f->a.base);
	assert_int_equal(h->magic, SHMRT__MAGIC);
	assert_int_equal(h->abi_version, SHMRT__ABI_VERSION);
	assert_int_equal(h->header_size, sizeof(*h));
	assert_int_equal(__atomic_load_n(&h->init_done, __ATOMIC_ACQUIRE), 1);
	assert_int_equal(shmrt__seg_state(&f->a), SHMRT__SEG_READY);
	assert_int_equal(h->creator_pid, getpid());
	assert_int_equal(h->creator_uid, geteuid());
	assert_int_equal(h->total_size, f->a.size);
	assert_int_equal(h->layout_hash, shmrt__layout_hash(&h->geo));
	assert_int_equal(shmrt__layout_size(&h->geo), f->a.size);
	assert_int_equal(h->geo.nqueues, 2);
	assert_string_equal(h->geo.queue[1].name, "beta");
	assert_int_equal(h->geo.queue[1].ring_cells, 32);
	assert_int_equal(h->tun.spin_ns, 1000);
}

static void test_queue_index(void **state)
{
	struct fx *f = *state;

	create_named(f);
	assert_int_equal(shmrt__seg_queue_index(&f->a, "alpha"), 0);
	assert_int_equal(shmrt__seg_queue_index(&f->a, "beta"), 1);
	assert_int_equal(shmrt__seg_queue_index(&f->a, "gamma"), -1);
	assert_int_equal(shmrt__seg_queue_index(&f->a, "alph"), -1);
	assert_int_equal(shmrt__seg_queue_index(&f->a, "alphabet"), -1);
	assert_int_equal(shmrt__seg_queue_index(&f->a, ""), -1);
}

/* Transitions are seen through another mapping and bump the state ec. */
static void test_state_round_trip(void **state)
{
	const uint32_t states[] = { SHMRT__SEG_DRAINING, SHMRT__SEG_STOPPED,
				    SHMRT__SEG_READY };
	struct fx *f = *state;
	size_t i;

	create_named(f);
	assert_int_equal(shmrt__seg_attach(f->tenant, &f->b), 0);
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		uint32_t ec = shmrt__ec_value(&f->b.hdr->state_ec);

		shmrt__seg_set_state(&f->a, states[i]);
		assert_int_equal(shmrt__seg_state(&f->a), states[i]);
		assert_int_equal(shmrt__seg_state(&f->b), states[i]);
		assert_int_not_equal(shmrt__ec_value(&f->b.hdr->state_ec), ec);
	}
}

/* Refusals of a damaged header, each with its own code and field. */
static void expect_attach(struct fx *f, int want, const char *field)
{
	int rc = shmrt__seg_attach(f->tenant, &f->b);

	if (rc != want)
		fail_msg("attach: got %s, want %s (%s)", shmrt_err_name(rc),
			 shmrt_err_name(want), shmrt_last_error());
	assert_null(f->b.base);
	if (field != NULL && strstr(shmrt_last_error(), field) == NULL)
		fail_msg("detail '%s' does not name %s", shmrt_last_error(),
			 field);
}

static void test_attach_refuses_bad_header(void **state)
{
	struct fx *f = *state;
	struct shmrt__seg_header *h;

	create_named(f);
	h = f->a.hdr;
	h->magic ^= 1;
	expect_attach(f, SHMRT_E_MAGIC, "magic");
	h->magic ^= 1;
	h->abi_version = 7;
	expect_attach(f, SHMRT_E_ABI, "abi_version");
	h->abi_version = SHMRT__ABI_VERSION;
	h->header_size += 64;
	expect_attach(f, SHMRT_E_HDRSIZE, "header_size");
	h->header_size -= 64;
	h->init_done = 0;
	expect_attach(f, SHMRT_E_NOTREADY, "init_done");
	h->init_done = 1;
	h->layout_hash ^= 1;
	expect_attach(f, SHMRT_E_LAYOUT, "layout_hash");
	h->layout_hash ^= 1;
	/* A geometry edit without a matching hash is caught by the hash. */
	h->geo.queue[0].capacity = 6;
	expect_attach(f, SHMRT_E_LAYOUT, NULL);
	h->geo.queue[0].capacity = 5;
	h->total_size += 4096;
	expect_attach(f, SHMRT_E_HDRSIZE, "total_size");
	h->total_size -= 4096;
	assert_int_equal(shmrt__seg_attach(f->tenant, &f->b), 0);
}

/*
 * A truncated file is refused from fstat/pread alone. The creator's
 * mapping is not touched after the truncation (it would SIGBUS).
 */
static void test_attach_refuses_truncated(void **state)
{
	struct fx *f = *state;

	create_named(f);
	assert_int_equal(truncate(f->path, (off_t)(f->a.size - 4096)), 0);
	expect_attach(f, SHMRT_E_TRUNC, NULL);
	assert_int_equal(truncate(f->path, 64), 0);
	expect_attach(f, SHMRT_E_TRUNC, NULL);
	assert_int_equal(truncate(f->path, 0), 0);
	expect_attach(f, SHMRT_E_TRUNC, NULL);
}

/* The file behind a mapping, opened through /proc/self/map_files (needs
 * CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE); -1 without the privilege. */
static int map_file_open(const void *base, size_t size)
{
	char path[128];

	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx",
		 (unsigned long)(uintptr_t)base,
		 (unsigned long)((uintptr_t)base + size));
	return open(path, O_RDWR | O_CLOEXEC);
}

/* A private segment: no name, sealed size, and jobs run through it. */
static void test_private_segment(void **state)
{
	struct fx *f = *state;
	struct shmrt__seg_params p;
	struct shmrt__part part;
	struct shmrt__lease l;
	struct shmrt_job_info info;
	shmrt_job_id id;
	char buf[64] = { 0 };
	int seals, fd;

	tu_params_one_queue(&p, 4, 64, 2);
	assert_int_equal(shmrt__seg_create(NULL, &p, &f->a), 0);
	assert_string_equal(f->a.shm_name, "");
	/* No descriptor is kept once mapped (none per tenant); the memfd
	 * is reached through the mapping's /proc entry (root only). */
	assert_false(f->a.fd_open);
	fd = map_file_open(f->a.base, f->a.size);
	if (fd >= 0) {
		seals = fcntl(fd, F_GET_SEALS);
		assert_true(seals >= 0);
		assert_true((seals & F_SEAL_GROW) && (seals & F_SEAL_SHRINK));
		assert_int_not_equal(ftruncate(fd, 0), 0);
		close(fd);
	}
	assert_int_equal(shmrt__seg_state(&f->a), SHMRT__SEG_READY);
	assert_int_equal(shmrt__part_join(&f->a, SHMRT__ROLE_PRODUCER |
						       SHMRT__ROLE_WORKER,
					  &part),
			 0);
	assert_int_equal(shmrt__job_enqueue(&part, 0, "private", 7, 0, &id), 0);
	assert_int_equal(shmrt__job_lease(&part, 0, buf, sizeof(buf), 0, &l), 0);
	assert_int_equal(l.payload_len, 7);
	assert_memory_equal(buf, "private", 7);
	assert_int_equal(l.id.v, id.v);
	assert_int_equal(shmrt__job_complete(&part, &l, "ok", 2), 0);
	assert_int_equal(shmrt__job_status(&f->a, id, &info, buf, sizeof(buf)),
			 0);
	assert_int_equal(info.state, SHMRT_JOB_SUCCEEDED);
	assert_memory_equal(buf, "ok", 2);
	shmrt__part_leave(&part);
	shmrt__seg_detach(&f->a);
	assert_null(f->a.base);
	assert_int_equal(f->a.fd, -1);
	/* Nothing named was created. */
	assert_false(path_exists(f->path));
}

/*
 * "Safe on a zeroed handle": in particular it must not close fd 0, which
 * it does not own (a daemon without stdin gets fd 0 from its next open).
 */
static void test_detach_zeroed_handle(void **state)
{
	struct shmrt__seg seg;
	int keep = dup(0);
	bool fd0_open;

	(void)state;
	assert_true(keep >= 0 || errno == EBADF);
	if (keep < 0) /* no stdin at all: give fd 0 something to lose */
		assert_int_equal(open("/dev/null", O_RDONLY), 0);
	memset(&seg, 0, sizeof(seg));
	shmrt__seg_detach(&seg);
	shmrt__seg_detach(&seg); /* twice, like a careless cleanup path */
	fd0_open = fcntl(0, F_GETFD) != -1;
	if (keep >= 0) {
		dup2(keep, 0); /* restore stdin even if detach closed it */
		close(keep);
	}
	if (!fd0_open)
		fail_msg("shmrt__seg_detach of a zeroed handle closed fd 0");
}

#define FX(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tenant_names),
		cmocka_unit_test(test_invalid_name_refused),
		FX(test_create_attach_same_geometry),
		FX(test_ring_mask_rounding),
		FX(test_create_twice_exist),
		FX(test_destroy_then_attach_noent),
		FX(test_invalid_params),
		FX(test_file_mode_and_allocation),
		FX(test_group_mode),
		FX(test_header_fields),
		FX(test_queue_index),
		FX(test_state_round_trip),
		FX(test_attach_refuses_bad_header),
		FX(test_attach_refuses_truncated),
		FX(test_private_segment),
		cmocka_unit_test(test_detach_zeroed_handle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
