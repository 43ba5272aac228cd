/*
 * src/shm/plock.c - the owner-word lock (see plock.h).
 *
 * The sleep is the classic futex pattern with a "someone waits" bit:
 * a waiter reads `releases` BEFORE its CAS on `owner`, so an unlock
 * that happens after that read has changed `releases` (it adds 2), and
 * the waiter's flagging CAS, or the futex wait itself, sees the change
 * and does not sleep. Unlock clears the bit as it adds, and calls the
 * kernel only when the bit was set. A waiter that dies leaves the bit
 * set: the next unlock makes one needless wake call and clears it.
 */
#include "plock.h"

#include <shmrt/error.h>

#include "atomics.h"
#include "os.h"
#include "participant.h"

#define WAITING 1u      /* bit 0 of `releases` */
#define RELEASE_STEP 2u /* what an unlock adds to `releases` */

/* Linux's PID_MAX_LIMIT on 64-bit: no pid is larger. */
#define PID_LIMIT (1u << 22)

/* Spin this many pauses (a few microseconds) before judging a holder:
 * most holds are that short, and a judgement reads /proc. */
#define SPIN_PAUSES 128

/* The last holder a waiter found alive, and when (one lock call). */
struct verdict {
	uint64_t holder;
	uint64_t at_ns;
};

void shmrt__plock_init(struct shmrt__plock *l)
{
	__atomic_store_n(&l->owner, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&l->releases, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&l->reserved, 0, __ATOMIC_RELAXED);
}

/*
 * Whether `holder` can never release the lock: a process that is dead
 * (fail-closed: only a confirmed death counts) or a value that names no
 * process. Our own process is never gone: another of its threads holds
 * the lock. An alive verdict is reused for SHMRT__PLOCK_RECHECK_NS.
 */
static bool holder_gone(struct verdict *v, uint64_t holder, uint64_t me,
			uint64_t now)
{
	int32_t pid = shmrt__owner_pid(holder);

	if (holder == me)
		return false;
	if (pid <= 0 || (uint32_t)pid > PID_LIMIT)
		return true;
	if (holder == v->holder && now - v->at_ns < SHMRT__PLOCK_RECHECK_NS)
		return false;
	if (!shmrt__part_owner_alive(holder))
		return true;
	v->holder = holder;
	v->at_ns = now;
	return false;
}

/* Spin until `l` looks free, for at most SPIN_PAUSES pauses. */
static void spin_while_held(const struct shmrt__plock *l)
{
	int i;

	for (i = 0; i < SPIN_PAUSES && LD_SC(&l->owner) != 0; i++)
		shmrt__os_cpu_relax();
}

/*
 * Sleep until an unlock after `seen` (the value read before the failed
 * CAS on owner), or until `until`. Sets the WAITING bit first, from
 * `seen`: if an unlock came in between, that CAS fails and we return
 * at once; otherwise the unlock sees the bit and wakes us.
 */
static void sleep_until_release(struct shmrt__plock *l, uint32_t seen,
				uint64_t until)
{
	uint32_t flagged = seen | WAITING;

	if (seen != flagged && !CAS_SC(&l->releases, &seen, flagged))
		return;
	shmrt__os_futex_wait(&l->releases, flagged, until);
}

int shmrt__plock_lock(struct shmrt__plock *l, uint64_t deadline_ns)
{
	uint64_t me = shmrt__part_owner_self();
	struct verdict v = { 0, 0 };
	bool spun = false;

	for (;;) {
		uint32_t seen = LD_SC(&l->releases);
		uint64_t holder = 0, now, until;

		if (CAS_SC(&l->owner, &holder, me))
			return 0;
		if (!spun) {
			spun = true;
			spin_while_held(l);
			continue;
		}
		now = shmrt__os_now_ns();
		/* From that exact value: of several lockers that judged it,
		 * one takes over; the others wait for the new holder. */
		if (holder_gone(&v, holder, me, now) &&
		    CAS_SC(&l->owner, &holder, me))
			return SHMRT__LOCK_OWNER_DIED;
		if (now >= deadline_ns)
			return SHMRT_E_BUSY;
		until = now + SHMRT__PLOCK_RECHECK_NS;
		sleep_until_release(l, seen,
				    until < deadline_ns ? until : deadline_ns);
	}
}

bool shmrt__plock_unlock(struct shmrt__plock *l)
{
	uint64_t me = shmrt__part_owner_self();
	uint32_t old, next;

	/* Only from our own word: a lock taken over is the new holder's. */
	if (!CAS_SC(&l->owner, &me, 0))
		return false;
	old = LD_SC(&l->releases);
	do
		next = (old + RELEASE_STEP) & ~WAITING;
	while (!CAS_SC(&l->releases, &old, next));
	if (old & WAITING)
		shmrt__os_futex_wake_all(&l->releases);
	return true;
}

uint64_t shmrt__plock_holder(const struct shmrt__plock *l)
{
	return __atomic_load_n(&l->owner, __ATOMIC_ACQUIRE);
}
