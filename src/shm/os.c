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
	syscall(SYS_futex, word, FUTEX_WAKE_BITSET, INT_MAX, NULL, NULL,
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

/*
 * Reads /proc/PID/stat into `buf` and returns a pointer just past the
 * ") " that closes the command name (which may itself contain spaces and
 * parentheses), or NULL when the process does not exist.
 */
static const char *proc_stat_fields(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	char *close_paren;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	close_paren = strrchr(buf, ')');
	if (close_paren == NULL || close_paren[1] != ' ')
		return NULL;
	return close_paren + 2;
}

/* After the command name: field 3 is the state, field 22 the start time. */
static bool proc_state_and_start(pid_t pid, char *state, uint64_t *start)
{
	char buf[1024];
	const char *p = proc_stat_fields(pid, buf, sizeof(buf));
	int field;

	if (p == NULL)
		return false;
	*state = *p;
	for (field = 3; field < 22 && p != NULL; field++) {
		p = strchr(p, ' ');
		if (p != NULL)
			p++;
	}
	if (p == NULL)
		return false;
	*start = strtoull(p, NULL, 10);
	return true;
}

uint64_t shmrt__os_proc_start_time(pid_t pid)
{
	char state;
	uint64_t start;

	if (pid <= 0 || !proc_state_and_start(pid, &state, &start))
		return 0;
	return start;
}

bool shmrt__os_proc_alive(pid_t pid, uint64_t start_time)
{
	char state;
	uint64_t start;

	if (pid <= 0)
		return false;
	if (!proc_state_and_start(pid, &state, &start))
		return false;
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
