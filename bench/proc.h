/*
 * bench/proc.h - the processes, shared memory and names a benchmark uses.
 *
 * Every peer process of a benchmark is this binary again (the path
 * /proc/self/exe names), started with posix_spawn and a hidden subcommand:
 *
 *     shmrt_bench __child <name> <parent pid> [args...]
 *
 * A child asks the kernel to SIGKILL it when its parent dies
 * (PR_SET_PDEATHSIG), refuses to run if its parent is already gone, and
 * carries an alarm() as a last net. The parent reaps every child it starts,
 * with a deadline, and kills what outlives it.
 *
 * File descriptors handed to a child (shared memory, pipe ends) arrive at
 * BENCH_CHILD_FD + i, whatever their number in the parent; every other
 * descriptor of the parent is close-on-exec.
 *
 * Segments and message queues are registered when named, so that an
 * interrupted run (SIGINT, SIGTERM) still removes them and kills its
 * children before it exits.
 */
#ifndef SHMRT_BENCH_PROC_H
#define SHMRT_BENCH_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_CHILD_FD	      100
#define BENCH_CHILD_MAX_FDS   4
#define BENCH_CHILD_ALARM_S   900 /* no child lives longer than this */
#define BENCH_TENANT_MAX      48

/* A started child. pid 0 once reaped. */
struct bench_child {
	pid_t pid;
};

/* Exit codes every child uses beyond its own. */
enum {
	BENCH_EX_OK = 0,
	BENCH_EX_USAGE = 64,
	BENCH_EX_ORPHAN = 65, /* parent was gone before we started */
	BENCH_EX_SETUP = 66,  /* attach, map, connect failed */
	BENCH_EX_TIMEOUT = 67 /* a wait passed its deadline */
};

/* Install the SIGINT/SIGTERM cleanup. Call once, early, in the parent. */
void bench_proc_init(void);

/*
 * Start child `name` with `fds[0..nfds)` at BENCH_CHILD_FD + i and the
 * NULL-terminated `args`. Returns 0, or -1 with a message on stderr.
 * Pair with bench_child_wait (or bench_child_kill).
 */
int bench_spawn(struct bench_child *c, const char *name, const int *fds,
		int nfds, const char *const *args);

/*
 * Start an external program (PATH search) with its stdout on `stdout_fd`
 * (-1: inherited). The program is not this binary, so it cannot set its
 * own death signal unless it does so itself (see bench/rq_job.py).
 */
int bench_spawn_program(struct bench_child *c, const char *const *argv,
			int stdout_fd);

/*
 * Wait up to timeout_ms for the child to exit. Returns its exit status
 * (128 + signal if a signal ended it), or -1 if it outlived the deadline
 * (it is then killed and reaped). A reaped child (pid 0) returns 0.
 */
int bench_child_wait(struct bench_child *c, int timeout_ms);

/*
 * Whether the child has exited, without waiting: its exit status (as
 * bench_child_wait; it is then reaped), or -1 while it runs.
 */
int bench_child_poll(struct bench_child *c);

/* SIGKILL and reap. Safe on a reaped child. */
void bench_child_kill(struct bench_child *c);

/* A child entry: `__child <name>` runs fn with the arguments after the
 * parent pid. The table, ending with a NULL name, is in main.c. */
struct bench_child_entry {
	const char *name;
	int (*fn)(int argc, char **argv);
};
extern const struct bench_child_entry bench_child_table[];

/*
 * Child side: the entry of `__child`. Sets the death signal, checks the
 * parent, arms the alarm and runs the named entry from the table in
 * main.c. Returns the process exit code.
 */
int bench_child_main(int argc, char **argv);

/* Shared memory for children: a sealed-size memfd, mapped and zeroed. */
void *bench_shared_new(size_t size, int *fd_out);
/* Child side: map the memfd at BENCH_CHILD_FD + index; NULL on failure. */
void *bench_shared_child(int index, size_t *size_out);
void bench_shared_free(void *p, size_t size, int fd);

/* A fresh tenant name "bench-<pid>-<n>", registered for cleanup. */
void bench_tenant_new(char out[BENCH_TENANT_MAX]);
/* Destroy the tenant's segment name (if any) and unregister it. */
void bench_tenant_drop(const char *tenant);

/* Register / unregister a POSIX message queue name for cleanup. */
void bench_mq_register(const char *name);
void bench_mq_unregister(const char *name);

/*
 * A watchdog for blocking calls that take no deadline (read, write on
 * pipes and sockets): after `ms`, SIGALRM interrupts the call (EINTR)
 * and bench_watchdog_fired() turns true. Pair arm with disarm.
 */
void bench_watchdog_arm(int ms);
void bench_watchdog_disarm(void);
int bench_watchdog_fired(void);

/* CLOCK_MONOTONIC in ns, and "now + ms". */
uint64_t bench_now_ns(void);
uint64_t bench_deadline_ms(uint64_t ms);

/*
 * Whether task `tid` (a thread or process id) is asleep in the kernel
 * (state S in /proc/<tid>/stat). A few microseconds: not for timed loops.
 */
int bench_task_sleeping(pid_t tid);

/* Resident memory of this process, from /proc/self/status (kB). */
struct bench_rss {
	uint64_t rss_kb, anon_kb, file_kb, shmem_kb;
};
int bench_rss_self(struct bench_rss *out);

#endif /* SHMRT_BENCH_PROC_H */
