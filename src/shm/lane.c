/*
 * src/shm/lane.c - chat lanes (see lane.h).
 *
 * A lane's FIFO: entry v[0] = head slot, v[1] = tail slot (SHMRT__NONE
 * when empty), each slot's lane_next the next one. A slot is linked while
 * slot.lane names the entry. Every function below runs with the queue's
 * state lock held unless it says it takes it.
 */
#include "lane.h"

#include <shmrt/error.h>
#include <stdlib.h>

#include "atomics.h"
#include "error_detail.h"
#include "keytab.h"
#include "os.h"
#include "pause.h"
#include "qstate.h"
#include "slot.h"

static struct shmrt__key_entry *ent(const struct shmrt__qhandle *q,
				    uint32_t e)
{
	return shmrt__keytab_entry(&q->lanes, e);
}

static uint32_t head_of(const struct shmrt__qhandle *q, uint32_t e)
{
	return (uint32_t)LD_RLX(&ent(q, e)->v[0]);
}

static uint32_t tail_of(const struct shmrt__qhandle *q, uint32_t e)
{
	return (uint32_t)LD_RLX(&ent(q, e)->v[1]);
}

static void set_head(const struct shmrt__qhandle *q, uint32_t e, uint32_t s)
{
	ST_RLX(&ent(q, e)->v[0], (uint64_t)s);
}

static void set_tail(const struct shmrt__qhandle *q, uint32_t e, uint32_t s)
{
	ST_RLX(&ent(q, e)->v[1], (uint64_t)s);
}

static struct shmrt__slot *slot(const struct shmrt__qhandle *q, uint32_t i)
{
	return shmrt__slot_at(q, i);
}

static uint64_t word(const struct shmrt__qhandle *q, uint32_t i)
{
	return LD_ACQ(&slot(q, i)->word);
}

/*
 * Publish lane head `s` if it is queued. Without a participant, or when
 * the ring's tail cell stays held, the head is left to the re-push flag.
 */
static void publish_head(struct shmrt__part *p, const struct shmrt__qhandle *q,
			 uint32_t s)
{
	uint64_t w = word(q, s);
	uint64_t ref = shmrt__ref_make(s, shmrt__w_gen(w));
	bool pushed = false;

	if (shmrt__w_state(w) != SHMRT__S_QUEUED)
		return;
	if (p != NULL) {
		ST_RLX(&p->rec->push_queue, q->index);
		ST_RLX(&p->rec->push_value, ref);
		pushed = shmrt__job_republish(p, q, ref, true);
	}
	if (!pushed) {
		ST_RLX(&q->ctl->lane_repush, 1u);
		shmrt__waitq_post(&q->ctl->jobs_wq);
	}
}

static void link_tail(const struct shmrt__qhandle *q, uint32_t e, uint32_t s)
{
	uint32_t tail = tail_of(q, e);

	if (tail >= q->capacity)
		set_head(q, e, s);
	else
		ST_RLX(&slot(q, tail)->lane_next, s);
	set_tail(q, e, s);
}

/*
 * Remove `s` from lane e wherever it is, fix the tail, and drop the lane
 * when it is empty. Returns true if the lane still exists.
 */
static bool unlink_slot(const struct shmrt__qhandle *q, uint32_t e, uint32_t s)
{
	uint32_t prev = SHMRT__NONE, cur = head_of(q, e), steps;

	for (steps = 0; cur < q->capacity && steps < q->capacity; steps++) {
		uint32_t next = LD_RLX(&slot(q, cur)->lane_next);

		if (cur == s) {
			if (prev == SHMRT__NONE)
				set_head(q, e, next);
			else
				ST_RLX(&slot(q, prev)->lane_next, next);
			if (tail_of(q, e) == s)
				set_tail(q, e, prev);
			break;
		}
		prev = cur;
		cur = next;
	}
	ST_RLX(&slot(q, s)->lane, SHMRT__NONE);
	if (head_of(q, e) >= q->capacity) {
		shmrt__keytab_remove(&q->lanes, e);
		return false;
	}
	return true;
}

int shmrt__lane_append(struct shmrt__part *p, const struct shmrt__qhandle *q,
		       uint32_t s, uint32_t gen)
{
	struct shmrt__slot *sl = slot(q, s);
	uint32_t len = LD_RLX(&sl->lane_key_len);
	char key[SHMRT__KEY_MAX];
	uint32_t hash, e, i;
	uint64_t reserved, queued;

	/* Written by the submitter into its own reservation, but read back
	 * from the segment: never trusted as a size. */
	if (len == 0 || len > SHMRT__KEY_MAX)
		return shmrt__fail(SHMRT_E_CORRUPT,
				   "submit: queue %u slot %u: lane_key_len %u "
				   "out of bounds (1..%u)",
				   q->index, s, len, SHMRT__KEY_MAX);
	for (i = 0; i < len; i++)
		key[i] = LD_RLX(&sl->lane_key[i]);
	hash = shmrt__key_hash(key, len);
	e = shmrt__keytab_find(&q->lanes, key, len, hash);
	if (e == SHMRT__NONE) {
		e = shmrt__keytab_insert(&q->lanes, key, len, hash,
					 SHMRT__NONE, SHMRT__NONE);
		if (e == SHMRT__NONE)
			return shmrt__fail(SHMRT_E_LANES,
					   "submit: lane table of queue %u is "
					   "full (%u lanes)",
					   q->index, q->lanes.nentries);
	}
	shmrt__journal_set(q, SHMRT__J_LANE_APPEND, e, s, gen);
	ST_RLX(&sl->lane_next, SHMRT__NONE);
	ST_RLX(&sl->lane, e);
	link_tail(q, e, s);
	SHMRT__PAUSE("lane.append.linked");
	/* Accepted from here: queued and linked under one lock hold. */
	reserved = shmrt__w_make(gen, 0, p->index, SHMRT__S_RESERVED);
	queued = shmrt__w_make(gen, 0, SHMRT__OWNER_NONE, SHMRT__S_QUEUED);
	CAS_AR(&sl->word, &reserved, queued);
	shmrt__journal_clear(q);
	if (head_of(q, e) == s)
		publish_head(p, q, s);
	return 0;
}

/*
 * Unlink every finished job at the head of lane e (freeing those whose
 * release came while they were the head), then publish the new head.
 * Returns whether anything was unlinked.
 */
static bool settle(struct shmrt__part *p, const struct shmrt__qhandle *q,
		   uint32_t e)
{
	bool moved = false;
	uint32_t steps;

	for (steps = 0; steps < q->capacity; steps++) {
		uint32_t h = head_of(q, e);
		uint64_t w;
		bool alive;

		if (h >= q->capacity)
			break;
		w = word(q, h);
		if (!shmrt__state_final(shmrt__w_state(w)))
			break;
		shmrt__journal_set(q, SHMRT__J_LANE_UNLINK, e, h,
				   shmrt__w_gen(w));
		alive = unlink_slot(q, e, h);
		shmrt__journal_clear(q);
		moved = true;
		if (LD_RLX(&slot(q, h)->free_requested))
			shmrt__job_free_raw(q, h, w);
		if (!alive)
			return true;
	}
	if (moved && head_of(q, e) < q->capacity)
		publish_head(p, q, head_of(q, e));
	return moved;
}

/* The lane entry job (s, gen) is linked into, or SHMRT__NONE. */
static uint32_t linked_lane(const struct shmrt__qhandle *q, uint32_t s,
			    uint32_t gen)
{
	uint32_t e = LD_RLX(&slot(q, s)->lane);

	if (e >= q->lanes.nentries || shmrt__w_gen(word(q, s)) != gen ||
	    !LD_RLX(&ent(q, e)->used))
		return SHMRT__NONE;
	return e;
}

int shmrt__lane_finished(struct shmrt__part *p,
			 const struct shmrt__qhandle *q, uint32_t s,
			 uint32_t gen)
{
	uint32_t e;
	int rc = shmrt__qstate_lock(p, q);

	if (rc != 0)
		return rc;
	e = linked_lane(q, s, gen);
	if (e != SHMRT__NONE && head_of(q, e) == s)
		settle(p, q, e);
	shmrt__qstate_unlock(q);
	return 0;
}

int shmrt__lane_unlink_for_free(struct shmrt__seg *seg,
				const struct shmrt__qhandle *q, uint32_t s,
				uint32_t gen, uint64_t lock_deadline_ns)
{
	uint32_t e;
	int rc, freeable = 1;

	(void)seg;
	if ((rc = shmrt__qstate_lock_until(NULL, q, lock_deadline_ns)) != 0)
		return rc;
	e = linked_lane(q, s, gen);
	if (e != SHMRT__NONE) {
		if (head_of(q, e) == s) {
			/* Its successor must be published: whoever unlinks
			 * it (the finisher, or scan) frees it then. */
			ST_RLX(&slot(q, s)->free_requested, 1u);
			freeable = 0;
		} else {
			shmrt__journal_set(q, SHMRT__J_LANE_UNLINK, e, s, gen);
			unlink_slot(q, e, s);
			shmrt__journal_clear(q);
		}
	}
	shmrt__qstate_unlock(q);
	return freeable;
}

uint32_t shmrt__lane_repush_locked(struct shmrt__part *p,
				   const struct shmrt__qhandle *q)
{
	struct shmrt__ring r = shmrt__queue_ring(q);
	unsigned char *in_ring;
	uint32_t e, n = 0;

	ST_RLX(&q->ctl->lane_repush, 0u);
	in_ring = calloc(q->capacity / 8 + 1, 1);
	if (in_ring == NULL) {
		ST_RLX(&q->ctl->lane_repush, 1u); /* the next try does it */
		return 0;
	}
	/* A ref popped meanwhile may be pushed twice: refs are hints, a
	 * duplicate is dropped at lease. */
	shmrt__ring_mark(&r, q->capacity, in_ring);
	for (e = 0; e < q->lanes.nentries; e++) {
		uint32_t h;

		if (!LD_RLX(&ent(q, e)->used))
			continue;
		h = head_of(q, e);
		if (h >= q->capacity || (in_ring[h / 8] & (1u << (h % 8))) ||
		    shmrt__w_state(word(q, h)) != SHMRT__S_QUEUED)
			continue;
		publish_head(p, q, h);
		n++;
	}
	free(in_ring);
	return n;
}

void shmrt__lane_repair_locked(const struct shmrt__qhandle *q)
{
	const struct shmrt__journal *j = &q->ctl->journal;
	uint32_t op = LD_RLX(&j->op), e = LD_RLX(&j->entry), s = LD_RLX(&j->slot);
	uint32_t gen = LD_RLX(&j->gen), i;

	if ((op == SHMRT__J_LANE_APPEND || op == SHMRT__J_LANE_UNLINK) &&
	    e < q->lanes.nentries && s < q->capacity) {
		if (!LD_RLX(&ent(q, e)->used)) {
			ST_RLX(&slot(q, s)->lane, SHMRT__NONE);
		} else {
			/* Walk the list: the tail is its last slot, whatever
			 * the dead holder had stored. */
			uint32_t cur = head_of(q, e), last = SHMRT__NONE;
			uint32_t steps;
			bool found = false;

			for (steps = 0; cur < q->capacity && steps < q->capacity;
			     steps++) {
				found |= cur == s;
				last = cur;
				cur = LD_RLX(&slot(q, cur)->lane_next);
			}
			if (last != SHMRT__NONE)
				ST_RLX(&slot(q, last)->lane_next, SHMRT__NONE);
			set_tail(q, e, last);
			if (op == SHMRT__J_LANE_APPEND &&
			    LD_RLX(&slot(q, s)->lane) == e) {
				uint64_t w = word(q, s);

				if (!found)
					link_tail(q, e, s);
				/* The job was complete before it was linked:
				 * finish accepting it. */
				if (shmrt__w_state(w) == SHMRT__S_RESERVED &&
				    shmrt__w_gen(w) == gen)
					CAS_AR(&slot(q, s)->word, &w,
					    shmrt__w_make(gen, 0,
							  SHMRT__OWNER_NONE,
							  SHMRT__S_QUEUED));
			} else if (op == SHMRT__J_LANE_UNLINK && found) {
				unlink_slot(q, e, s);
			} else if (op == SHMRT__J_LANE_UNLINK) {
				ST_RLX(&slot(q, s)->lane, SHMRT__NONE);
			}
		}
	}
	/* A lane inserted just before its holder died may be empty. */
	for (i = 0; i < q->lanes.nentries; i++)
		if (LD_RLX(&ent(q, i)->used) && head_of(q, i) >= q->capacity)
			shmrt__keytab_remove(&q->lanes, i);
}

uint32_t shmrt__lane_scan_locked(struct shmrt__part *p,
				 const struct shmrt__qhandle *q)
{
	uint32_t e, n = 0;

	for (e = 0; e < q->lanes.nentries; e++) {
		uint32_t h;

		if (!LD_RLX(&ent(q, e)->used))
			continue;
		h = head_of(q, e);
		if (h < q->capacity &&
		    shmrt__state_final(shmrt__w_state(word(q, h))) &&
		    settle(p, q, e))
			n++;
	}
	/* Every scan re-publishes heads that have no ref (a publish that
	 * found the ring full, or any other loss), not only when flagged. */
	n += shmrt__lane_repush_locked(p, q);
	return n;
}

uint32_t shmrt__lane_count(const struct shmrt__qhandle *q)
{
	return shmrt__keytab_used(&q->lanes);
}
