/*
 * tests/unit/test_segment_adopt.c - shmrt__seg_adopt: a segment whose
 * creator died is taken over, never replaced; a live creator, another
 * layout, or a racing adopter that already won is refused.
 *
 * Creators and adopters are forked children that report through their
 * exit code; only the parent asserts.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sched.h>
#include <shmrt/error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm/os.h"
#include "shm/segment.h"
#include "testutil.h"

#define CHILD_TIMEOUT_MS 10000
#define ADOPTERS 4

enum { ADOPTED = 0, REFUSED_ALIVE = 10, OTHER_ERROR = 11, NO_START = 12 };

struct shared {
	uint32_t go;      /* adopters start together */
	uint32_t tried;   /* adopters done trying; winners wait for all */
	uint32_t release; /* the creator may exit */
	struct tu_verdict v;
};

struct fx {
	char tenant[64];
	struct shared *sh;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->tenant, sizeof(f->tenant), "%s", tu_tenant());
	f->sh = tu_shared_alloc(sizeof(*f->sh));
	*state = f;
	return f->sh != NULL ? 0 : -1;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	shmrt__seg_destroy(f->tenant);
	tu_shared_free(f->sh, sizeof(*f->sh));
	free(f);
	return 0;
}

static void params(struct shmrt__seg_params *p, uint32_t capacity)
{
	tu_params_one_queue(p, capacity, 64, 8);
}

/* Until *word reaches at_least, or false at the deadline. */
static bool wait_for(const uint32_t *word, uint32_t at_least)
{
	uint64_t deadline = tu_deadline_ms(CHILD_TIMEOUT_MS);

	while (__atomic_load_n(word, __ATOMIC_ACQUIRE) < at_least) {
		if (shmrt__os_now_ns() > deadline)
			return false;
		shmrt__os_sleep_ns(1000000);
	}
	return true;
}

/* A creator in a child: creates, then lives until released. */
static pid_t spawn_creator(struct fx *f, bool stay)
{
	struct shmrt__seg_params p;
	struct shmrt__seg seg;
	pid_t pid = tu_fork(99);

	if (pid != 0)
		return pid;
	params(&p, 64);
	if (shmrt__seg_create(f->tenant, &p, &seg) != 0)
		tu_child_exit(&f->sh->v, 1, 0, -1);
	__atomic_store_n(&f->sh->go, 1, __ATOMIC_RELEASE);
	if (stay && !wait_for(&f->sh->release, 1))
		tu_child_exit(&f->sh->v, 2, 0, -1);
	shmrt__seg_detach(&seg);
	_exit(0);
}

/* A creator that has died: its segment stays behind. */
static void dead_creator(struct fx *f)
{
	assert_int_equal(tu_wait_child(spawn_creator(f, false),
				       CHILD_TIMEOUT_MS), 0);
}

static void test_adopts_segment_of_dead_creator(void **state)
{
	struct fx *f = *state;
	struct shmrt__seg_params p;
	struct shmrt__seg seg;

	dead_creator(f);
	params(&p, 64);
	assert_int_equal(shmrt__seg_adopt(f->tenant, &p, &seg), 0);
	assert_int_equal(seg.hdr->creator_pid, getpid());
	assert_int_equal(seg.hdr->creator_start_time,
			 shmrt__os_proc_start_time(getpid()));
	shmrt__seg_detach(&seg);
	/* This process may adopt again what it already runs. */
	assert_int_equal(shmrt__seg_adopt(f->tenant, &p, &seg), 0);
	shmrt__seg_detach(&seg);
}

static void test_refuses_live_creator(void **state)
{
	struct fx *f = *state;
	struct shmrt__seg_params p;
	struct shmrt__seg seg;
	char want[64];
	pid_t creator = spawn_creator(f, true);
	int rc;

	assert_true(wait_for(&f->sh->go, 1));
	params(&p, 64);
	rc = shmrt__seg_adopt(f->tenant, &p, &seg);
	snprintf(want, sizeof(want), "already run by pid %d", (int)creator);
	if (rc != SHMRT_E_EXIST || strstr(shmrt_last_error(), want) == NULL)
		print_message("adopt: %d, %s\n", rc, shmrt_last_error());
	__atomic_store_n(&f->sh->release, 1, __ATOMIC_RELEASE);
	assert_int_equal(tu_wait_child(creator, CHILD_TIMEOUT_MS), 0);
	assert_int_equal(rc, SHMRT_E_EXIST);
	assert_non_null(strstr(shmrt_last_error(), want));
}

static void test_refuses_other_layout(void **state)
{
	struct fx *f = *state;
	struct shmrt__seg_params p;
	struct shmrt__seg seg;

	dead_creator(f);
	params(&p, 128);
	assert_int_equal(shmrt__seg_adopt(f->tenant, &p, &seg),
			 SHMRT_E_LAYOUT);
	assert_non_null(strstr(shmrt_last_error(),
			       "queue q0: capacity 64, the configuration "
			       "says 128"));
	/* Refused, not removed. */
	assert_int_equal(shmrt__seg_attach(f->tenant, &seg), 0);
	shmrt__seg_detach(&seg);
}

/* One adopter of several racing ones; winners stay alive until all have
 * tried, so every loser must have seen a live winner. */
static int adopter(struct fx *f)
{
	struct shmrt__seg_params p;
	struct shmrt__seg seg;
	int rc;

	params(&p, 64);
	if (!wait_for(&f->sh->go, 2))
		return NO_START;
	/* Spin to the start line, so the adopters overlap. */
	while (__atomic_load_n(&f->sh->go, __ATOMIC_ACQUIRE) < 3)
		sched_yield();
	rc = shmrt__seg_adopt(f->tenant, &p, &seg);
	__atomic_add_fetch(&f->sh->tried, 1, __ATOMIC_ACQ_REL);
	if (rc == 0) {
		(void)wait_for(&f->sh->tried, ADOPTERS);
		shmrt__seg_detach(&seg);
		return ADOPTED;
	}
	if (rc == SHMRT_E_EXIST &&
	    strstr(shmrt_last_error(), "already run by pid") != NULL)
		return REFUSED_ALIVE;
	return OTHER_ERROR;
}

/* One round: a dead creator, then ADOPTERS racing to adopt its segment.
 * Returns whether exactly one won and the others saw it alive. */
static bool race_round(struct fx *f)
{
	pid_t pid[ADOPTERS];
	int i, won = 0, refused = 0, code;

	memset(f->sh, 0, sizeof(*f->sh));
	shmrt__seg_destroy(f->tenant);
	dead_creator(f);
	for (i = 0; i < ADOPTERS; i++) {
		pid[i] = tu_fork(99);
		if (pid[i] == 0)
			tu_child_exit(&f->sh->v, adopter(f), ADOPTED,
				      REFUSED_ALIVE);
	}
	__atomic_store_n(&f->sh->go, 2, __ATOMIC_RELEASE);
	shmrt__os_sleep_ns(20000000); /* all of them at the start line */
	__atomic_store_n(&f->sh->go, 3, __ATOMIC_RELEASE);
	for (i = 0; i < ADOPTERS; i++) {
		code = tu_wait_child(pid[i], CHILD_TIMEOUT_MS);
		won += code == ADOPTED;
		refused += code == REFUSED_ALIVE;
	}
	if (won != 1 || refused != ADOPTERS - 1)
		print_message("%d adopted, %d refused: %s\n", won, refused,
			      f->sh->v.why);
	return won == 1 && refused == ADOPTERS - 1;
}

/* The check-and-write window is a /proc read long: a round without the
 * file lock shows two winners about one time in four, so 20 rounds. */
static void test_racing_adopters_one_wins(void **state)
{
	struct fx *f = *state;
	uint64_t i, rounds = tu_scaled(20, 5);

	for (i = 0; i < rounds; i++)
		assert_true(race_round(f));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_adopts_segment_of_dead_creator, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(test_refuses_live_creator,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_refuses_other_layout,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_racing_adopters_one_wins,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
