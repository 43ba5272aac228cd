/*
 * src/shm/pause.h - named pause points, compiled into test builds only.
 *
 * A race window becomes a deterministic test when a process can be frozen
 * (or killed) at an exact point inside it. The engine marks such points with
 * SHMRT__PAUSE("ring.push.claimed"); a test arms one point in one process
 * (shmrt__pause_arm, usually in a forked child) and the process then stops
 * itself with SIGSTOP, or dies with SIGKILL, the n-th time it passes there.
 * The parent sees the stop with waitpid(WUNTRACED), does what the scenario
 * needs while the child is frozen, and resumes it with SIGCONT.
 *
 * Only the library that tests link (shmrt_test_static, built with
 * SHMRT_PAUSE_POINTS) has them; in the shipped library and command the
 * macro is empty and costs nothing.
 */
#ifndef SHMRT_PAUSE_H
#define SHMRT_PAUSE_H

enum shmrt__pause_action {
	SHMRT__PAUSE_STOP = 0, /* raise(SIGSTOP): frozen until SIGCONT */
	SHMRT__PAUSE_KILL = 1, /* raise(SIGKILL): dies right there */
};

#ifdef SHMRT_PAUSE_POINTS
/*
 * Arm point `name` in this process: the `nth` pass (1 = the first) through
 * it stops or kills the process; later passes go on. One point is armed at
 * a time; arming again replaces it, NULL disarms. Not for concurrent use
 * with the point itself (arm before starting the threads that pass it).
 */
void shmrt__pause_arm(const char *name, unsigned nth,
		      enum shmrt__pause_action action);
void shmrt__pause_point(const char *name);
#define SHMRT__PAUSE(name) shmrt__pause_point(name)
#else
#define SHMRT__PAUSE(name) ((void)0)
#endif

#endif /* SHMRT_PAUSE_H */
