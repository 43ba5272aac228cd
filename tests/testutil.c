/*
 * tests/testutil.c - helpers shared by the test programs.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <shmrt/error.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/os.h"

const char *tu_tenant(void)
{
	static char name[64];
	static unsigned n;
	const char *prefix = getenv("SHMRT_TEST_TENANT_PREFIX");

	snprintf(name, sizeof(name), "%.20s-%d-%u", prefix ? prefix : "test",
		 (int)getpid(), n++);
	return name;
}

uint64_t tu_scaled(uint64_t count, uint64_t min)
{
	const char *s = getenv("SHMRT_TEST_SCALE");
	double scale = s ? strtod(s, NULL) : 1.0;
	uint64_t v = (uint64_t)((double)count * (scale > 0 ? scale : 1.0));

	return v < min ? min : v;
}

void tu_params_one_queue(struct shmrt__seg_params *p, uint32_t capacity,
			 uint32_t slot_size, uint32_t nparticipants)
{
	memset(p, 0, sizeof(*p));
	p->nqueues = 1;
	p->nparticipants = nparticipants;
	p->queue[0].name = "q0";
	p->queue[0].capacity = capacity;
	p->queue[0].slot_size = slot_size;
	p->queue[0].max_attempts = 3;
	p->tun.spin_ns = 20000;
	p->tun.retention_ns = 60ull * 1000000000u;
}

pid_t tu_fork(int orphan_code)
{
	pid_t parent = getpid();
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(orphan_code);
	}
	return pid;
}

bool tu_aborted(const struct tu_verdict *v)
{
	return __atomic_load_n(&v->abort, __ATOMIC_RELAXED) != 0;
}

void tu_child_exit(struct tu_verdict *v, int rc, int ok, int aborted)
{
	if (rc != ok && rc != aborted &&
	    !__atomic_exchange_n(&v->abort, 1u, __ATOMIC_ACQ_REL))
		snprintf(v->why, sizeof(v->why), "%s", shmrt_last_error());
	_exit(rc);
}

int tu_wait_child(pid_t pid, int timeout_ms)
{
	uint64_t deadline = tu_deadline_ms((uint64_t)timeout_ms);
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return -1;
		if (shmrt__os_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		shmrt__os_sleep_ns(1000000);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int tu_wait_stopped(pid_t pid, int timeout_ms)
{
	uint64_t deadline = tu_deadline_ms((uint64_t)timeout_ms);
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG | WUNTRACED);

		if (r == pid)
			return WIFSTOPPED(status) ? 0 : -1;
		if (r < 0 && errno != EINTR)
			return -1;
		if (shmrt__os_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		shmrt__os_sleep_ns(200000);
	}
}

void *tu_shared_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void tu_shared_free(void *p, size_t size)
{
	munmap(p, size);
}

uint64_t tu_deadline_ms(uint64_t ms)
{
	return shmrt__os_now_ns() + ms * 1000000u;
}
