/*
 * src/shm/qstate.c - a queue's state lock and its repair (see qstate.h).
 */
#include "qstate.h"

#include "atomics.h"
#include "keytab.h"
#include "lane.h"
#include "os.h"
#include "plock.h"

/*
 * Everything a dead holder can have left half done, in order: the chains
 * (from the `used` flags), then the one lane change it had journaled,
 * then the lane heads it may not have published (the re-push flag).
 */
static void repair(struct shmrt__part *p, const struct shmrt__qhandle *q)
{
	if (q->lanes.nentries) {
		shmrt__keytab_rebuild(&q->lanes);
		shmrt__lane_repair_locked(q);
	}
	if (q->idem.nentries)
		shmrt__keytab_rebuild(&q->idem);
	shmrt__journal_clear(q);
	if (q->lanes.nentries) {
		ST_RLX(&q->ctl->lane_repush, 1u);
		if (p != NULL)
			shmrt__lane_repush_locked(p, q);
		else
			shmrt__waitq_post(&q->ctl->jobs_wq); /* a worker re-pushes */
	}
}

int shmrt__qstate_lock_until(struct shmrt__part *p,
			     const struct shmrt__qhandle *q,
			     uint64_t deadline_ns)
{
	int rc = shmrt__plock_lock(&q->ctl->state_lock, deadline_ns);

	if (rc == SHMRT__LOCK_OWNER_DIED) {
		repair(p, q);
		rc = 0;
	}
	return rc;
}

uint64_t shmrt__qstate_brief_deadline(void)
{
	return shmrt__os_now_ns() + SHMRT__QSTATE_SCAN_LOCK_MS * 1000000ull;
}

int shmrt__qstate_lock(struct shmrt__part *p, const struct shmrt__qhandle *q)
{
	return shmrt__qstate_lock_until(
		p, q, shmrt__os_now_ns() + SHMRT__QSTATE_LOCK_MS * 1000000ull);
}

void shmrt__qstate_unlock(const struct shmrt__qhandle *q)
{
	/* Never taken over while we live (plock.h): always ours. */
	(void)shmrt__plock_unlock(&q->ctl->state_lock);
}

uint64_t shmrt__qstate_holder(const struct shmrt__qhandle *q)
{
	return shmrt__plock_holder(&q->ctl->state_lock);
}

void shmrt__journal_set(const struct shmrt__qhandle *q, uint32_t op,
			uint32_t entry, uint32_t slot, uint32_t gen)
{
	struct shmrt__journal *j = &q->ctl->journal;

	ST_RLX(&j->entry, entry);
	ST_RLX(&j->slot, slot);
	ST_RLX(&j->gen, gen);
	ST_RLX(&j->op, op); /* last: a set op always has its operands */
}

void shmrt__journal_clear(const struct shmrt__qhandle *q)
{
	ST_RLX(&q->ctl->journal.op, (uint32_t)SHMRT__J_NONE);
}
