/*
 * bench/procfs.h - what /proc says about other processes: their children,
 * their threads' states, context switches and CPU time.
 *
 * The benchmark reads these of a tenant run by `shmrt run` (runner.h):
 * which processes are its workers, whether they all sleep, and how often
 * an idle tenant wakes up. Every reader takes a pid that may vanish
 * meanwhile: a process or thread that is gone is skipped, never an error
 * that stops the run. Each call opens a few files: not for timed loops.
 */
#ifndef SHMRT_BENCH_PROCFS_H
#define SHMRT_BENCH_PROCFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * The pids of the live children of `parent` (scanning /proc/[0-9]*),
 * at most max. Returns how many were written.
 */
int bench_proc_children(pid_t parent, pid_t *out, int max);

/*
 * Whether every thread of process `pid` sleeps in the kernel (state S
 * or I in /proc/pid/task/tid/stat). 1 yes, 0 no (a thread runs, or the
 * process is gone).
 */
int bench_proc_all_asleep(pid_t pid);

/* What a set of processes has used so far, summed over their threads. */
struct bench_proc_usage {
	uint64_t ctxt;	   /* voluntary + nonvoluntary context switches */
	uint64_t ticks;	   /* utime + stime of /proc/pid/stat */
	uint64_t run_ns;   /* on-CPU time, /proc/pid/task/tid/schedstat */
	int threads;	   /* threads seen */
	int no_schedstat;  /* 1: a thread had no schedstat: run_ns is short */
};

/*
 * Add what process `pid` has used (all its threads) to *u (start from a
 * zeroed struct). Returns 0, or -1 if the process is gone (*u unchanged).
 */
int bench_proc_usage_add(pid_t pid, struct bench_proc_usage *u);

#endif /* SHMRT_BENCH_PROCFS_H */
