/*
 * tests/fault/test_segment_hygiene.c - what another local user can plant
 * at a segment's name, the umask, and group members.
 *
 *  - A FIFO (or a directory or a symbolic link) at /dev/shm/shmrt.NAME
 *    makes create, attach and tenant start fail at once with an error
 *    that names the path and what it is. Opening a FIFO read-only blocks
 *    until a writer comes, so each attempt runs in a child the parent
 *    kills at a deadline: a hang is a failure, not a stalled suite.
 *  - A restrictive umask (0277) does not narrow the segment's mode: it is
 *    0600 (0660 with a group) and a second process of the same user
 *    attaches.
 *  - A member of the segment's group through a supplementary group only
 *    attaches (root only: the child drops to another uid and groups).
 *
 * Children report through their exit code; only the parent asserts.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <grp.h>
#include <shmrt/error.h>
#include <shmrt/runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/runtime_manager.h"
#include "shm/segment.h"
#include "testutil.h"

#define CHILD_TIMEOUT_MS 5000 /* a hang in open is the failure */
#define OTHER_UID 12345
#define OTHER_GID 12345
#define MEMBER_GID 4242
#define STRANGER_GID 4343

struct fx {
	char tenant[64];
	char path[96];
	char conf[96];
	struct tu_verdict *v; /* the first failing child's reason */
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->tenant, sizeof(f->tenant), "%s", tu_tenant());
	snprintf(f->path, sizeof(f->path), "/dev/shm/shmrt.%s", f->tenant);
	snprintf(f->conf, sizeof(f->conf), "/tmp/%s.ini", f->tenant);
	f->v = tu_shared_alloc(sizeof(*f->v));
	if (f->v == NULL)
		return -1;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	if (unlink(f->path) != 0)
		rmdir(f->path);
	unlink(f->conf);
	tu_shared_free(f->v, sizeof(*f->v));
	free(f);
	return 0;
}

static void fx_params(struct shmrt__seg_params *p)
{
	tu_params_one_queue(p, 64, 64, 8);
}

/* Runs `body` in a child under the deadline; asserts it exited 0. */
static void in_child(struct fx *f, int (*body)(struct fx *))
{
	pid_t pid;
	int code;

	memset(f->v, 0, sizeof(*f->v));
	pid = tu_fork(99);
	if (pid == 0)
		tu_child_exit(f->v, body(f), 0, -1);
	code = tu_wait_child(pid, CHILD_TIMEOUT_MS);
	if (code != 0)
		print_message("child ended with %d (-1 means killed at the %d ms "
			      "deadline): %s\n",
			      code, CHILD_TIMEOUT_MS, f->v->why);
	assert_int_equal(code, 0);
}

/* 0 if rc is `want` and the detail names `what`; else why not. */
static int refused_as(int rc, int want, const char *what)
{
	if (rc != want)
		return 1;
	return strstr(shmrt_last_error(), what) != NULL ? 0 : 2;
}

/* ------------------------------------------------- planted objects */

static const char *planted_kind;

/* create, attach and a process-mode start each refuse, naming it. */
static int child_refuses_planted(struct fx *f)
{
	struct shmrt__seg_params p;
	struct shmrt__seg seg;
	struct shmrt_tenant_info info;
	char want[160];
	FILE *c;
	int rc;

	snprintf(want, sizeof(want), "%s is %s, not a shmrt segment", f->path,
		 planted_kind);
	fx_params(&p);
	if ((rc = refused_as(shmrt__seg_create(f->tenant, &p, &seg),
			     SHMRT_E_NOTREG, want)) != 0)
		return 10 + rc;
	if ((rc = refused_as(shmrt__seg_attach(f->tenant, &seg),
			     SHMRT_E_NOTREG, want)) != 0)
		return 20 + rc;
	unsetenv("SHMRT_MODE");
	c = fopen(f->conf, "w");
	if (c == NULL)
		return 30;
	fprintf(c, "[runtime]\nmode = process\non_init_error = fail\n"
		"[tenant %s]\n[queue q]\nhandler = h\n", f->tenant);
	fclose(c);
	if ((rc = refused_as(shmrt_tenant_start(f->conf, f->tenant),
			     SHMRT_E_NOTREG, want)) != 0)
		return 30 + rc;
	/* on_init_error is consulted: degrade runs inline instead. */
	c = fopen(f->conf, "w");
	if (c == NULL)
		return 40;
	fprintf(c, "[runtime]\nmode = process\non_init_error = degrade\n"
		"[tenant %s]\n[queue q]\nhandler = h\n", f->tenant);
	fclose(c);
	if (shmrt_tenant_start(f->conf, f->tenant) != 0 ||
	    shmrt_tenant_get_info(f->tenant, &info) != 0 || !info.degraded)
		return 41;
	shmrt__tenants_reset();
	return 0;
}

static void test_fifo_refused_at_once(void **state)
{
	struct fx *f = *state;

	/* Mode 0666: anyone may open it read-write, so only the type can
	 * refuse it; a read-only open of it would block forever. */
	assert_int_equal(mkfifo(f->path, 0600), 0);
	assert_int_equal(chmod(f->path, 0666), 0);
	planted_kind = "a FIFO";
	in_child(f, child_refuses_planted);
}

static void test_directory_refused(void **state)
{
	struct fx *f = *state;

	assert_int_equal(mkdir(f->path, 0700), 0);
	planted_kind = "a directory";
	in_child(f, child_refuses_planted);
}

static void test_symlink_refused(void **state)
{
	struct fx *f = *state;

	/* A link to a file the planter wants clobbered is never followed. */
	assert_int_equal(symlink(f->conf, f->path), 0);
	planted_kind = "a symbolic link";
	in_child(f, child_refuses_planted);
}

/* ------------------------------------------------------------ umask */

/* As another uid when root, so the mode bits are what decides. */
static int become_other_user(const gid_t *groups, size_t ngroups, gid_t gid)
{
	if (geteuid() != 0)
		return 0;
	if (setgroups(ngroups, groups) != 0 || setresgid(gid, gid, gid) != 0 ||
	    setresuid(OTHER_UID, OTHER_UID, OTHER_UID) != 0)
		return 1;
	return 0;
}

static mode_t umask_test_mode;

static int child_creates_under_umask(struct fx *f)
{
	struct shmrt__seg_params p;
	struct shmrt__seg seg;
	struct stat st;
	char path[128];
	mode_t want = umask_test_mode ? umask_test_mode : 0600;

	if (become_other_user(NULL, 0, OTHER_GID) != 0)
		return 1;
	umask(0277);
	fx_params(&p);
	p.mode = umask_test_mode;
	p.gid = getegid();
	if (shmrt__seg_create(f->tenant, &p, &seg) != 0)
		return 2;
	/* The segment keeps no descriptor once mapped: stat its name. */
	snprintf(path, sizeof(path), "/dev/shm/shmrt.%s", f->tenant);
	if (seg.fd_open || stat(path, &st) != 0 ||
	    (st.st_mode & 07777) != want)
		return 3;
	shmrt__seg_detach(&seg);
	return 0;
}

static int child_attaches_as_owner(struct fx *f)
{
	struct shmrt__seg seg;

	if (become_other_user(NULL, 0, OTHER_GID) != 0)
		return 1;
	if (shmrt__seg_attach(f->tenant, &seg) != 0)
		return 2;
	shmrt__seg_detach(&seg);
	return 0;
}

static void umask_case(struct fx *f, mode_t mode)
{
	struct stat st;

	umask_test_mode = mode;
	in_child(f, child_creates_under_umask);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, mode ? mode : 0600);
	in_child(f, child_attaches_as_owner);
}

static void test_umask_does_not_narrow_mode(void **state)
{
	umask_case(*state, 0);
}

static void test_umask_does_not_narrow_group_mode(void **state)
{
	umask_case(*state, 0660);
}

/* ------------------------------------------------ supplementary group */

static gid_t child_group;

/* A uid of its own, primary group OTHER_GID, one supplementary group. */
static int child_attaches_via_group(struct fx *f)
{
	struct shmrt__seg seg;
	int rc;

	if (become_other_user(&child_group, 1, OTHER_GID) != 0)
		return 1;
	rc = shmrt__seg_attach(f->tenant, &seg);
	shmrt__seg_detach(&seg);
	if (child_group == MEMBER_GID)
		return rc == 0 ? 0 : 2;
	return refused_as(rc, SHMRT_E_OWNER, "uid 0") == 0 ? 0 : 3;
}

static void test_supplementary_group_member_attaches(void **state)
{
	struct fx *f = *state;
	struct shmrt__seg_params p;
	struct shmrt__seg seg;

	if (geteuid() != 0) {
		print_message("not root: cannot take other groups, skipped\n");
		skip();
	}
	fx_params(&p);
	p.mode = 0660;
	p.gid = MEMBER_GID;
	assert_int_equal(shmrt__seg_create(f->tenant, &p, &seg), 0);
	shmrt__seg_detach(&seg);
	child_group = MEMBER_GID;
	in_child(f, child_attaches_via_group);
	/* Not in the group: refused, as the kernel would. */
	child_group = STRANGER_GID;
	in_child(f, child_attaches_via_group);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fifo_refused_at_once,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_directory_refused,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_symlink_refused, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_umask_does_not_narrow_mode,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_umask_does_not_narrow_group_mode, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_supplementary_group_member_attaches, fx_setup,
			fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
