/*
 * src/shm/os.h - the platform, behind one header.
 *
 * futex, clocks, process identity and liveness, and POSIX shared-memory
 * objects. Nothing else in shmrt makes these system calls directly, so the
 * logic above never #ifdefs. All functions are thread-safe.
 */
#ifndef SHMRT_OS_H
#define SHMRT_OS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t shmrt__os_now_ns(void);

/* CLOCK_REALTIME in nanoseconds (timestamps shown to people). */
uint64_t shmrt__os_wall_ns(void);

/*
 * Sleep on a 32-bit word shared between processes until it no longer holds
 * `expected`, a wake arrives, or CLOCK_MONOTONIC passes `deadline_ns`
 * (absolute). Uses FUTEX_WAIT_BITSET with FUTEX_BITSET_MATCH_ANY and WITHOUT
 * FUTEX_PRIVATE_FLAG, so wakers in other processes reach it. May return
 * early for any reason; callers re-check their condition in a loop.
 */
void shmrt__os_futex_wait(const uint32_t *word, uint32_t expected,
			  uint64_t deadline_ns);

/* Wake every waiter on `word`, in any process. */
void shmrt__os_futex_wake_all(const uint32_t *word);

/* Wake at most n waiters on `word`, in any process. */
void shmrt__os_futex_wake(const uint32_t *word, int n);

/* This process's pid. */
pid_t shmrt__os_pid(void);

/* The kernel thread id of the calling thread. */
pid_t shmrt__os_tid(void);

/*
 * The start time of `pid` (field 22 of /proc/PID/stat, clock ticks since
 * boot), or 0 when the process does not exist. Together with the pid it
 * names one process for life: a reused pid has another start time.
 */
uint64_t shmrt__os_proc_start_time(pid_t pid);

/*
 * Whether the process (pid, start_time) is alive. Fails closed: only a
 * missing pid (ENOENT/ESRCH), a zombie, or a pid that now belongs to a
 * process with another start time is dead; when /proc cannot answer
 * (EMFILE, EACCES under hidepid, another PID namespace) it is alive.
 * `start_time` 0 means "unknown": only existence and zombie state count.
 * Only the low 32 bits of start times are compared (that is what a
 * participant record keeps: about 497 days of uptime at 100 Hz).
 */
bool shmrt__os_proc_alive(pid_t pid, uint64_t start_time);

/* Sleep for `ns` nanoseconds (restarting on EINTR). */
void shmrt__os_sleep_ns(uint64_t ns);

/* A spin-loop pause hint. */
static inline void shmrt__os_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

#endif /* SHMRT_OS_H */
