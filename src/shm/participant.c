/*
 * src/shm/participant.c - participant records.
 */
#include "participant.h"

#include <shmrt/error.h>
#include <string.h>

#include "atomics.h"
#include "error_detail.h"
#include "os.h"
#include "pause.h"

uint64_t shmrt__part_owner_self(void)
{
	static _Thread_local uint64_t cached;
	static _Thread_local pid_t cached_pid;
	pid_t pid = shmrt__os_pid();

	/* Recompute after fork: the child is another process. */
	if (cached == 0 || cached_pid != pid) {
		uint64_t start = shmrt__os_proc_start_time(pid);

		cached = shmrt__owner_make(pid, start);
		cached_pid = pid;
	}
	return cached;
}

bool shmrt__part_owner_alive(uint64_t owner)
{
	if (owner == 0)
		return false;
	return shmrt__os_proc_alive(shmrt__owner_pid(owner),
				    shmrt__owner_start32(owner));
}

/* Everything a record says about its occupant, but the owner word. */
static void reset_intents(struct shmrt__participant *rec)
{
	ST_RLX(&rec->heartbeat_ns, 0);
	ST_RLX(&rec->lease_token, 0);
	ST_RLX(&rec->push_value, 0);
	ST_RLX(&rec->pop_value, 0);
	ST_RLX(&rec->push_pos, SHMRT__POS_NONE);
	ST_RLX(&rec->pop_pos, SHMRT__POS_NONE);
	ST_RLX(&rec->held_job, 0);
	/* A mark left by an occupant that died asleep (scan uncounts it
	 * first, waitq.h) must not name the next occupant. */
	ST_RLX(&rec->sleeping, 0);
}

int shmrt__part_join(struct shmrt__seg *seg, uint32_t roles,
		     struct shmrt__part *out)
{
	uint64_t me = shmrt__part_owner_self();
	uint32_t n = seg->nparticipants;
	uint32_t start = (uint32_t)shmrt__os_tid() % n;
	uint32_t k;

	for (k = 0; k < n; k++) {
		uint32_t i = (start + k) % n;
		struct shmrt__participant *rec = &seg->parts[i];
		uint64_t expect = 0;

		if (LD_RLX(&rec->owner) != 0)
			continue;
		if (!__atomic_compare_exchange_n(&rec->owner, &expect, me,
						 false, __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED))
			continue;
		SHMRT__PAUSE("part.join.claimed");
		reset_intents(rec);
		ST_RLX(&rec->tid, (uint32_t)shmrt__os_tid());
		ST_RLX(&rec->role, roles);
		ST_RLX(&rec->heartbeat_ns, shmrt__os_now_ns());
		out->seg = seg;
		out->rec = rec;
		out->index = i;
		return 0;
	}
	return shmrt__fail(SHMRT_E_NOPART,
			   "%s: all %u participant records are taken",
			   seg->shm_name, n);
}

void shmrt__part_reap(struct shmrt__participant *rec)
{
	reset_intents(rec);
	__atomic_store_n(&rec->owner, 0, __ATOMIC_RELEASE);
}

void shmrt__part_leave(struct shmrt__part *p)
{
	if (p->rec == NULL)
		return;
	shmrt__part_reap(p->rec);
	p->rec = NULL;
}

void shmrt__part_lease_forget(struct shmrt__part *p)
{
	ST_RLX(&p->rec->lease_token, 0);
	ST_RLX(&p->rec->held_job, 0);
}

void shmrt__part_heartbeat(struct shmrt__part *p)
{
	ST_RLX(&p->rec->heartbeat_ns, shmrt__os_now_ns());
}

void shmrt__part_heartbeat_at(struct shmrt__part *p, uint64_t now_ns)
{
	ST_RLX(&p->rec->heartbeat_ns, now_ns);
}

bool shmrt__part_hung(const struct shmrt__seg *seg, uint32_t i,
		      uint64_t now_ns)
{
	uint64_t timeout = LD_RLX(&seg->hdr->tun.heartbeat_timeout_ns);
	uint64_t hb;

	if (timeout == 0 || i >= seg->nparticipants)
		return false;
	hb = __atomic_load_n(&seg->parts[i].heartbeat_ns, __ATOMIC_ACQUIRE);
	return hb != 0 && now_ns > hb && now_ns - hb > timeout;
}

struct shmrt__ring_intent shmrt__part_intent(struct shmrt__participant *rec)
{
	struct shmrt__ring_intent in = {
		.push_value = &rec->push_value,
		.push_pos = &rec->push_pos,
		.pop_pos = &rec->pop_pos,
		.pop_value = &rec->pop_value,
	};
	return in;
}

struct shmrt__ring shmrt__queue_ring(const struct shmrt__qhandle *q)
{
	struct shmrt__ring r = {
		.cells = q->cells,
		.mask = q->ring_mask,
		.enqueue_pos = &q->ctl->enqueue_pos,
		.dequeue_pos = &q->ctl->dequeue_pos,
	};
	return r;
}
