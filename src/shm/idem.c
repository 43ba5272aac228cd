/*
 * src/shm/idem.c - idempotency keys (see idem.h).
 */
#include "idem.h"

#include <shmrt/error.h>

#include "atomics.h"
#include "error_detail.h"
#include "keytab.h"
#include "slot.h"

/* Whether entry e still names a live job at `now`. */
static bool entry_live(const struct shmrt__qhandle *q, uint32_t e,
		       uint64_t now)
{
	const struct shmrt__key_entry *en = shmrt__keytab_entry(&q->idem, e);
	shmrt_job_id id = { LD_RLX(&en->v[0]) };
	uint32_t slot = shmrt__id_slot(id);
	uint64_t w;
	uint32_t st;

	if (now >= LD_RLX(&en->v[1]) || shmrt__id_queue(id) != q->index ||
	    slot >= q->capacity)
		return false;
	w = __atomic_load_n(&shmrt__slot_at(q, slot)->word, __ATOMIC_ACQUIRE);
	st = shmrt__w_state(w);
	return shmrt__w_gen(w) == shmrt__id_gen(id) && st != SHMRT__S_FREE &&
	       st != SHMRT__S_RESERVED;
}

int shmrt__idem_lookup(const struct shmrt__qhandle *q, const char *key,
		       size_t len, uint64_t now, shmrt_job_id *out)
{
	uint32_t e = shmrt__keytab_find(&q->idem, key, len,
					shmrt__key_hash(key, len));

	if (e == SHMRT__NONE)
		return 0;
	if (!entry_live(q, e, now)) {
		shmrt__keytab_remove(&q->idem, e);
		return 0;
	}
	out->v = LD_RLX(&shmrt__keytab_entry(&q->idem, e)->v[0]);
	return 1;
}

int shmrt__idem_insert(const struct shmrt__qhandle *q, const char *key,
		       size_t len, shmrt_job_id id, uint64_t now)
{
	uint32_t hash = shmrt__key_hash(key, len);
	uint64_t expires = now + LD_RLX(&q->ctl->idem_ttl_ns);

	if (shmrt__keytab_insert(&q->idem, key, len, hash, id.v, expires) !=
	    SHMRT__NONE)
		return 0;
	if (shmrt__idem_expire(q, now) > 0 &&
	    shmrt__keytab_insert(&q->idem, key, len, hash, id.v, expires) !=
		    SHMRT__NONE)
		return 0;
	return shmrt__fail(SHMRT_E_KEYS,
			   "submit: idempotency table of queue %u is full "
			   "(%u live keys)",
			   q->index, q->idem.nentries);
}

void shmrt__idem_remove(const struct shmrt__qhandle *q, const char *key,
			size_t len)
{
	uint32_t e = shmrt__keytab_find(&q->idem, key, len,
					shmrt__key_hash(key, len));

	if (e != SHMRT__NONE)
		shmrt__keytab_remove(&q->idem, e);
}

uint32_t shmrt__idem_expire(const struct shmrt__qhandle *q, uint64_t now)
{
	uint32_t e, n = 0;

	for (e = 0; e < q->idem.nentries; e++) {
		if (!LD_RLX(&shmrt__keytab_entry(&q->idem, e)->used) ||
		    entry_live(q, e, now))
			continue;
		shmrt__keytab_remove(&q->idem, e);
		n++;
	}
	return n;
}
