/*
 * src/shm/waitq.c - a wake-one event count (see waitq.h).
 */
#include "waitq.h"

#include <limits.h>
#include <stdbool.h>

#include "ec.h"
#include "os.h"

uint32_t shmrt__waitq_value(const struct shmrt__waitq *wq)
{
	return __atomic_load_n(&wq->seq, __ATOMIC_ACQUIRE);
}

static void post(struct shmrt__waitq *wq, int n)
{
	__atomic_fetch_add(&wq->seq, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&wq->sleepers, __ATOMIC_SEQ_CST) != 0 &&
	    !shmrt__ec_test_no_wake())
		shmrt__os_futex_wake(&wq->seq, n);
}

void shmrt__waitq_post(struct shmrt__waitq *wq)
{
	post(wq, 1);
}

void shmrt__waitq_post_all(struct shmrt__waitq *wq)
{
	post(wq, INT_MAX);
}

/* Uncount once: never below 0, whatever a corrupt segment holds. */
static void uncount(struct shmrt__waitq *wq)
{
	uint32_t n = __atomic_load_n(&wq->sleepers, __ATOMIC_RELAXED);

	while (n != 0 && !__atomic_compare_exchange_n(&wq->sleepers, &n, n - 1,
						      false, __ATOMIC_SEQ_CST,
						      __ATOMIC_RELAXED))
		;
}

void shmrt__waitq_wait(struct shmrt__waitq *wq, uint32_t old,
		       uint64_t deadline_ns, uint32_t *mark,
		       uint32_t mark_value)
{
	/* Counted, then marked: a waiter that dies between the two leaves
	 * one count too many (a spare futex wake per post), never a mark
	 * without a count, whose forgetting would uncount a live sleeper
	 * and lose its wakes. */
	__atomic_fetch_add(&wq->sleepers, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(mark, mark_value, __ATOMIC_RELEASE);
	shmrt__os_futex_wait(&wq->seq, old, deadline_ns);
	shmrt__waitq_forget(wq, mark, mark_value);
}

int shmrt__waitq_forget(struct shmrt__waitq *wq, uint32_t *mark,
			uint32_t mark_value)
{
	uint32_t expected = mark_value;

	if (!__atomic_compare_exchange_n(mark, &expected, 0, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		return 0;
	uncount(wq);
	return 1;
}
