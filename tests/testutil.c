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
#include <fcntl.h>
#include <shmrt/error.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/job.h"
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

/*
 * waitpid(pid, flags | WNOHANG) until it reports, `timeout_ms` at most;
 * on timeout SIGKILL the child. Returns whether it reported (*status).
 */
static bool wait_report(pid_t pid, int flags, int timeout_ms, int *status)
{
	uint64_t deadline = tu_deadline_ms((uint64_t)timeout_ms);

	for (;;) {
		pid_t r = waitpid(pid, status, flags | WNOHANG);

		if (r == pid)
			return true;
		if (r < 0 && errno != EINTR)
			return false;
		if (shmrt__os_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, status, 0);
			return false;
		}
		shmrt__os_sleep_ns(200000);
	}
}

int tu_wait_child(pid_t pid, int timeout_ms)
{
	int status;

	if (!wait_report(pid, 0, timeout_ms, &status))
		return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int tu_wait_stopped(pid_t pid, int timeout_ms)
{
	int status;

	if (!wait_report(pid, WUNTRACED, timeout_ms, &status))
		return -1;
	return WIFSTOPPED(status) ? 0 : -1;
}

pid_t tu_spawn_cli(const char *out_path, const char *err_path, char **argv)
{
	extern char **environ;
	posix_spawn_file_actions_t fa;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out_path,
					 O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, err_path,
					 O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(posix_spawn(&pid, SHMRT_CLI_BIN, &fa, NULL, argv,
				     environ),
			 0);
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

void tu_slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f != NULL) {
		n = fread(buf, 1, cap - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
}

bool tu_wait_value(const uint32_t *word, uint32_t value, int timeout_ms)
{
	uint64_t give_up = tu_deadline_ms((uint64_t)timeout_ms);

	while (__atomic_load_n(word, __ATOMIC_ACQUIRE) != value) {
		if (shmrt__os_now_ns() > give_up)
			return false;
		shmrt__os_sleep_ns(200000);
	}
	return true;
}

uint64_t tu_rnd(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545f4914f6cdd1dull;
}

uint64_t tu_pick_seed(void)
{
	const char *s = getenv("SHMRT_TEST_SEED");

	if (s != NULL && *s != '\0')
		return strtoull(s, NULL, 0);
	return shmrt__os_wall_ns() ^ ((uint64_t)getpid() << 32);
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

int tu_release_finished(struct shmrt__seg *seg, shmrt_job_id id)
{
	int rc = shmrt__job_release(seg, id);

	return rc == SHMRT_E_EXPIRED ? 0 : rc;
}

const char *tu_write_conf(char *path, size_t cap, const char *runtime,
			  const char *queues)
{
	const char *tenant = tu_tenant();
	FILE *f;

	snprintf(path, cap, "/tmp/%s.ini", tenant);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "[runtime]\n%s[tenant %s]\n%s", runtime, tenant, queues);
	assert_int_equal(fclose(f), 0);
	return tenant;
}

void tu_copy_payload(struct shmrt_job_run *run)
{
	run->out_len = run->payload_len < run->out_cap ? run->payload_len
						       : run->out_cap;
	memcpy(run->out, run->payload, run->out_len);
}
