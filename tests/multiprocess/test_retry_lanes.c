/*
 * tests/multiprocess/test_retry_lanes.c - retries with backoff on a laned
 * queue, worker processes and a scanner all at once: every job finishes,
 * each lane in order.
 *
 * Regression: a job in its backoff is passed over by leases and pushed to
 * the back of the ring again; with two worker processes passing such jobs
 * around, a push could meet a ring tail cell that a descheduled popper
 * still held, and the job was dropped (QUEUED, with no ref anywhere).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <shmrt/error.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm/job.h"
#include "shm/os.h"
#include "shm/participant.h"
#include "shm/scan.h"
#include "shm/segment.h"
#include "testutil.h"

#define NLANES 50
#define NWORKERS 2
#define WAIT_MS 20000

enum { EX_OK = 0, EX_ATTACH = 10, EX_LEASE = 11, EX_ORDER = 12 };

struct shared {
	volatile uint32_t stop;
	uint32_t next_seq[NLANES]; /* next sequence number each lane may run */
};

/* Payload: "<f|o> <lane> <seq>"; 'f' jobs fail their first two runs. */
static int worker_main(const char *tenant, struct shared *sh)
{
	struct shmrt__seg seg;
	struct shmrt__part w;
	unsigned char buf[64];

	if (shmrt__seg_attach(tenant, &seg) != 0 ||
	    shmrt__part_join(&seg, SHMRT__ROLE_WORKER, &w) != 0)
		return EX_ATTACH;
	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) {
		struct shmrt__lease l;
		char kind;
		unsigned lane, seq;
		int rc = shmrt__job_lease(&w, 0, buf, sizeof(buf),
					  tu_deadline_ms(50), &l);

		if (rc == SHMRT_E_TIMEDOUT)
			continue;
		if (rc != 0)
			return EX_LEASE;
		buf[l.payload_len < sizeof(buf) ? l.payload_len : 63] = 0;
		if (sscanf((char *)buf, "%c %u %u", &kind, &lane, &seq) != 3 ||
		    lane >= NLANES)
			return EX_ORDER;
		if (kind == 'f' && l.attempt < 3) {
			shmrt__job_fail(&w, &l, "again", 5, 1);
			continue;
		}
		/* Only this lane's job may run now: it must be the next. */
		if (__atomic_load_n(&sh->next_seq[lane], __ATOMIC_ACQUIRE) !=
		    seq)
			return EX_ORDER;
		__atomic_store_n(&sh->next_seq[lane], seq + 1,
				 __ATOMIC_RELEASE);
		shmrt__job_complete(&w, &l, "ok", 2);
	}
	shmrt__part_leave(&w);
	shmrt__seg_detach(&seg);
	return EX_OK;
}

static int scanner_main(const char *tenant, struct shared *sh)
{
	struct shmrt__seg seg;
	struct shmrt__part sp;

	if (shmrt__seg_attach(tenant, &seg) != 0 ||
	    shmrt__part_join(&seg, SHMRT__ROLE_REAPER, &sp) != 0)
		return EX_ATTACH;
	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) {
		shmrt__scan(&sp, tu_deadline_ms(1000), NULL);
		shmrt__os_sleep_ns(2000000);
	}
	shmrt__part_leave(&sp);
	shmrt__seg_detach(&seg);
	return EX_OK;
}

static pid_t spawn(int (*fn)(const char *, struct shared *), const char *t,
		   struct shared *sh)
{
	pid_t pid = tu_fork(EX_ATTACH);

	if (pid == 0)
		_exit(fn(t, sh));
	return pid;
}

static void test_laned_retries_with_workers_and_scanner(void **state)
{
	uint32_t njobs = (uint32_t)tu_scaled(1500, 300), i, unfinished = 0;
	struct shared *sh = tu_shared_alloc(sizeof(*sh));
	const char *tenant = tu_tenant();
	struct shmrt__seg_params p;
	struct shmrt__seg seg;
	struct shmrt__part prod;
	shmrt_job_id *ids = calloc(njobs, sizeof(*ids));
	pid_t kids[NWORKERS + 1];
	uint64_t deadline;
	int k;

	(void)state;
	assert_non_null(ids);
	tu_params_one_queue(&p, 2048, 64, 16);
	p.queue[0].nlanes = NLANES;
	p.queue[0].retry_backoff_ns = 20000000; /* 20 ms */
	p.queue[0].max_attempts = 3;
	assert_int_equal(shmrt__seg_create(tenant, &p, &seg), 0);
	assert_int_equal(shmrt__part_join(&seg, SHMRT__ROLE_PRODUCER, &prod), 0);
	for (k = 0; k < NWORKERS; k++)
		kids[k] = spawn(worker_main, tenant, sh);
	kids[NWORKERS] = spawn(scanner_main, tenant, sh);
	for (i = 0; i < njobs; i++) {
		unsigned lane = i % NLANES;
		char pl[32], key[16];
		struct shmrt__submit sub = {0};

		snprintf(pl, sizeof(pl), "%c %u %u", i % 10 == 0 ? 'f' : 'o',
			 lane, i / NLANES);
		snprintf(key, sizeof(key), "lane-%u", lane);
		sub.payload = pl;
		sub.len = strlen(pl);
		sub.lane = key;
		sub.lane_len = strlen(key);
		sub.deadline_ns = tu_deadline_ms(WAIT_MS);
		assert_int_equal(shmrt__job_submit(&prod, 0, &sub, &ids[i]), 0);
	}
	/* One deadline for all: a lost job fails the test, not CI. */
	deadline = tu_deadline_ms(WAIT_MS);
	for (i = 0; i < njobs; i++) {
		struct shmrt_job_info info;

		if (shmrt__job_wait(&seg, ids[i], deadline, &info, NULL, 0) !=
			    0 ||
		    info.state != SHMRT_JOB_SUCCEEDED)
			unfinished++;
	}
	__atomic_store_n(&sh->stop, 1u, __ATOMIC_RELEASE);
	for (k = 0; k <= NWORKERS; k++)
		assert_int_equal(tu_wait_child(kids[k], WAIT_MS), EX_OK);
	print_message("%u jobs, %u unfinished, %llu retried\n", njobs,
		      unfinished,
		      (unsigned long long)seg.q[0].ctl->n_retried);
	assert_int_equal(unfinished, 0);
	assert_int_equal(seg.q[0].ctl->n_retried, 2u * ((njobs + 9) / 10));
	shmrt__part_leave(&prod);
	shmrt__seg_detach(&seg);
	shmrt__seg_destroy(tenant);
	tu_shared_free(sh, sizeof(*sh));
	free(ids);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_laned_retries_with_workers_and_scanner),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
