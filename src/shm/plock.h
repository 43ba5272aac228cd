/*
 * src/shm/plock.h - a lock in the segment whose word names its holder.
 *
 * struct shmrt__plock (layout.h) is two plain words:
 *  - `owner`: 0 when free, else the holder's owner word (participant.h:
 *    pid << 32 | low 32 bits of its start time);
 *  - `releases`: a futex word. Every unlock adds 2; bit 0 says that a
 *    waiter sleeps on it, and only then does unlock make the wake call.
 *
 * Why not a pthread robust mutex: glibc trusts the mutex bytes and
 * aborts (an assertion in trylock/timedlock) on bytes it did not write,
 * and the segment is shared with processes we do not trust to be
 * correct. Here no value of either word can make a locker misbehave:
 * `owner` is judged like a participant record, fail-closed
 * (shmrt__part_owner_alive), and `releases` is only ever slept on with
 * a deadline.
 *
 *  - free (0): CAS 0 -> mine;
 *  - a live process's, or our own process's (another thread of ours
 *    holds it): wait. Threads of one process share the owner word, so
 *    they exclude each other through the CAS alone, and a thread never
 *    judges its own process dead;
 *  - a dead process's, or an impossible value (pid <= 0 or above the
 *    kernel's PID_MAX_LIMIT): CAS that exact value -> mine, and the
 *    caller is told SHMRT__LOCK_OWNER_DIED so it repairs what the lock
 *    protects before unlocking (a caller that dies while repairing
 *    passes the same duty on).
 *
 * A live holder is never taken over, even a stopped one: what the lock
 * protects is changed with plain stores, which a resumed holder would
 * go on making. The holder is a process, not a thread: a thread that
 * ended while holding (pthread_exit) would leave it held until its
 * process dies; shmrt has no such path.
 *
 * A dead holder wakes nobody, so a waiter re-checks the holder's
 * liveness at least every SHMRT__PLOCK_RECHECK_NS: it sees the death
 * within that bound (and at once when the holder is first seen).
 *
 * Every function is safe to call concurrently from any thread of any
 * process attached to the segment.
 */
#ifndef SHMRT_PLOCK_H
#define SHMRT_PLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "layout.h"

/* Waiters re-check a holder's liveness this often (10 ms). */
#define SHMRT__PLOCK_RECHECK_NS 10000000ull

/* shmrt__plock_lock: held, and the previous holder died (repair first). */
#define SHMRT__LOCK_OWNER_DIED 1

/* Make `l` free. Only on memory no other process uses yet (create). */
void shmrt__plock_init(struct shmrt__plock *l);

/*
 * Take `l`, waiting for a live holder until CLOCK_MONOTONIC passes
 * deadline_ns (absolute; a deadline in the past makes one attempt).
 * Returns 0 with the lock held, SHMRT__LOCK_OWNER_DIED with the lock
 * held after a dead (or impossible) holder, or SHMRT_E_BUSY when a live
 * holder still held it at the deadline. Acquire ordering on success:
 * everything the previous holder stored before unlocking is visible.
 * Pair with shmrt__plock_unlock.
 */
int shmrt__plock_lock(struct shmrt__plock *l, uint64_t deadline_ns);

/*
 * Release `l` (release ordering) and wake its waiters, if any. Returns
 * false, changing nothing, when the lock is no longer this process's
 * (it was taken over): a holder never clears another's lock.
 */
bool shmrt__plock_unlock(struct shmrt__plock *l);

/*
 * Who holds `l`: the owner word (pid << 32 | start time low 32), or 0
 * when free. A snapshot, for reports (scan, stat) and tests; may name
 * a process that is dead or that released it since.
 */
uint64_t shmrt__plock_holder(const struct shmrt__plock *l);

#endif /* SHMRT_PLOCK_H */
