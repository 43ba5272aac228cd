/*
 * src/shm/os.c - Linux implementation of os.h.
 */
#define _GNU_SOURCE
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t shmrt__os_now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

uint64_t shmrt__os_wall_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

void shmrt__os_futex_wait(const uint32_t *word, uint32_t expected,
			  uint64_t deadline_ns)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(deadline_ns / 1000000000u);
	ts.tv_nsec = (long)(deadline_ns % 1000000000u);
	/*
	 * FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline (no
	 * FUTEX_CLOCK_REALTIME). No FUTEX_PRIVATE_FLAG: the word lives in a
	 * shared mapping and wakers may be other processes.
	 */
	syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, &ts, NULL,
		FUTEX_BITSET_MATCH_ANY);
}

void shmrt__os_futex_wake_all(const uint32_t *word)
{
	shmrt__os_futex_wake(word, INT_MAX);
}

void shmrt__os_futex_wake(const uint32_t *word, int n)
{
	syscall(SYS_futex, word, FUTEX_WAKE_BITSET, n, NULL, NULL,
		FUTEX_BITSET_MATCH_ANY);
}

pid_t shmrt__os_pid(void)
{
	return getpid();
}

pid_t shmrt__os_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* What reading a process's /proc/PID/stat told. */
enum proc_answer {
	PROC_FOUND,   /* read and parsed: state and start time are valid */
	PROC_GONE,    /* no such process (ENOENT, ESRCH) */
	PROC_UNKNOWN, /* anything else: EMFILE, EACCES (hidepid), ... */
};

/*
 * Reads /proc/PID/stat and returns the state letter (field 3) and start
 * time (field 22). The command name (field 2) may itself contain spaces
 * and parentheses, so parsing starts after the last ')'.
 */
static enum proc_answer proc_read(pid_t pid, char *state, uint64_t *start)
{
	char path[64], buf[1024];
	const char *p;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? PROC_GONE
							 : PROC_UNKNOWN;
	n = read(fd, buf, sizeof(buf) - 1);
	/* A process that exits after the open reads as ESRCH. */
	if (n < 0 && errno == ESRCH) {
		close(fd);
		return PROC_GONE;
	}
	close(fd);
	if (n <= 0)
		return PROC_UNKNOWN;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (p == NULL || p[1] != ' ')
		return PROC_UNKNOWN;
	p += 2;
	*state = *p;
	for (field = 3; field < 22 && p != NULL; field++) {
		p = strchr(p, ' ');
		if (p != NULL)
			p++;
	}
	if (p == NULL)
		return PROC_UNKNOWN;
	*start = strtoull(p, NULL, 10);
	return PROC_FOUND;
}

uint64_t shmrt__os_proc_start_time(pid_t pid)
{
	char state;
	uint64_t start;

	if (pid <= 0 || proc_read(pid, &state, &start) != PROC_FOUND)
		return 0;
	return start;
}

/*
 * Fails closed: only proof of death is death. A process that cannot be
 * looked at (out of file descriptors, /proc mounted with hidepid, a pid
 * from another namespace) is alive, because acting on a wrong "dead"
 * takes a live process's jobs, records and ring cells from under it.
 */
bool shmrt__os_proc_alive(pid_t pid, uint64_t start_time)
{
	char state;
	uint64_t start;

	if (pid <= 0)
		return false;
	switch (proc_read(pid, &state, &start)) {
	case PROC_GONE:
		return false;
	case PROC_UNKNOWN:
		return true;
	case PROC_FOUND:
		break;
	}
	/* kill(pid, 0) succeeds on a zombie: the state letter is the test. */
	if (state == 'Z' || state == 'X' || state == 'x')
		return false;
	/* Participant records keep the low 32 bits of the start time. */
	return start_time == 0 ||
	       (start & 0xffffffffu) == (start_time & 0xffffffffu);
}

void shmrt__os_sleep_ns(uint64_t ns)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ns / 1000000000u);
	ts.tv_nsec = (long)(ns % 1000000000u);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}
