/*
 * src/shm/sem.c - counting semaphores in the segment (see sem.h).
 */
#include "sem.h"

#include <shmrt/error.h>
#include <string.h>

#include "atomics.h"
#include "error_detail.h"
#include "os.h"

#define TOKEN_COUNT_MASK ((1ull << 48) - 1)

static const struct shmrt__semhandle *sem_of(const struct shmrt__seg *seg,
					     uint32_t si)
{
	return si < seg->nsems ? &seg->sem[si] : NULL;
}

/* A token of participant `part` no other holder has now. */
static uint64_t new_token(const struct shmrt__semhandle *h, uint32_t part)
{
	return ((uint64_t)(part + 1) << 48) |
	       (ADD_RLX(&h->ctl->next_token, 1) & TOKEN_COUNT_MASK);
}

static int try_take(const struct shmrt__semhandle *h, uint32_t part,
		    uint64_t *token)
{
	uint32_t i;

	for (i = 0; i < h->limit; i++) {
		uint64_t free_word = 0, tok;

		if (LD_ACQ(&h->permits[i]) != 0)
			continue;
		tok = new_token(h, part);
		if (CAS_AR(&h->permits[i], &free_word, tok)) {
			ADD_RLX(&h->ctl->n_acquired, 1);
			*token = tok;
			return 0;
		}
	}
	return SHMRT_E_AGAIN;
}

int shmrt__sem_acquire(struct shmrt__part *p, uint32_t si,
		       uint64_t deadline_ns, uint64_t *token)
{
	const struct shmrt__semhandle *h = sem_of(p->seg, si);

	if (h == NULL)
		return shmrt__fail(SHMRT_E_NOSEM, "acquire: no semaphore %u",
				   si);
	for (;;) {
		/* Snapshot the count before trying: a release after the try
		 * changes it, so the wait below returns at once. */
		uint32_t v = shmrt__ec_value(&h->ctl->ec);

		if (try_take(h, p->index, token) == 0)
			return 0;
		if (deadline_ns == 0)
			return SHMRT_E_AGAIN;
		if (shmrt__os_now_ns() >= deadline_ns)
			return SHMRT_E_TIMEDOUT;
		shmrt__ec_wait(&h->ctl->ec, v, deadline_ns);
	}
}

/* Free the permit word holding `token`, if any; wakes permit waiters. */
static bool give_back(const struct shmrt__semhandle *h, uint64_t token)
{
	uint32_t i;

	for (i = 0; i < h->limit; i++) {
		uint64_t w = token;

		if (LD_ACQ(&h->permits[i]) == token &&
		    CAS_AR(&h->permits[i], &w, 0)) {
			shmrt__ec_inc(&h->ctl->ec);
			return true;
		}
	}
	return false;
}

int shmrt__sem_renew(struct shmrt__seg *seg, uint32_t si, uint32_t part,
		     uint64_t *token)
{
	const struct shmrt__semhandle *h = sem_of(seg, si);
	uint32_t i;

	if (h == NULL || *token == 0)
		return SHMRT_E_STALE;
	for (i = 0; i < h->limit; i++) {
		uint64_t w = *token, tok;

		if (LD_ACQ(&h->permits[i]) != *token)
			continue;
		tok = new_token(h, part);
		if (!CAS_AR(&h->permits[i], &w, tok))
			return SHMRT_E_STALE;
		*token = tok;
		return 0;
	}
	return SHMRT_E_STALE;
}

int shmrt__sem_release(struct shmrt__seg *seg, uint32_t si, uint64_t token)
{
	const struct shmrt__semhandle *h = sem_of(seg, si);

	if (h == NULL)
		return shmrt__fail(SHMRT_E_NOSEM, "release: no semaphore %u",
				   si);
	if (token == 0 || !give_back(h, token))
		return SHMRT_E_STALE;
	return 0;
}

bool shmrt__sem_held(const struct shmrt__seg *seg, uint32_t si,
		     uint64_t token)
{
	const struct shmrt__semhandle *h = sem_of(seg, si);
	uint32_t i;

	if (h == NULL || token == 0)
		return false;
	for (i = 0; i < h->limit; i++)
		if (LD_ACQ(&h->permits[i]) == token)
			return true;
	return false;
}

uint32_t shmrt__sem_in_use(const struct shmrt__seg *seg, uint32_t si)
{
	const struct shmrt__semhandle *h = sem_of(seg, si);
	uint32_t i, n = 0;

	if (h == NULL)
		return 0;
	for (i = 0; i < h->limit; i++)
		n += LD_ACQ(&h->permits[i]) != 0;
	return n;
}

/* CAS permit i of h from `tok` to free; wakes permit waiters. */
static bool take_permit(const struct shmrt__semhandle *h, uint32_t i,
			uint64_t tok)
{
	if (!CAS_AR(&h->permits[i], &tok, 0))
		return false;
	ADD_RLX(&h->ctl->n_reclaimed, 1);
	shmrt__ec_inc(&h->ctl->ec);
	return true;
}

uint32_t shmrt__sem_take_from(struct shmrt__seg *seg, uint32_t si,
			      uint32_t part, bool (*still)(void *ctx),
			      void *ctx)
{
	const struct shmrt__semhandle *h = sem_of(seg, si);
	uint32_t i, n = 0;

	for (i = 0; h != NULL && i < h->limit; i++) {
		uint64_t tok = LD_ACQ(&h->permits[i]);

		if (tok != 0 && (tok >> 48) == (uint64_t)part + 1 &&
		    still(ctx) && take_permit(h, i, tok))
			n++;
	}
	return n;
}

uint32_t shmrt__sem_reclaim(struct shmrt__seg *seg,
			    bool (*gone)(void *ctx, uint32_t part), void *ctx)
{
	uint32_t si, i, n = 0;

	for (si = 0; si < seg->nsems; si++) {
		const struct shmrt__semhandle *h = &seg->sem[si];

		for (i = 0; i < h->limit; i++) {
			uint64_t tok = LD_ACQ(&h->permits[i]);
			uint64_t part = tok >> 48;

			/* A token naming no record is corrupt: nobody holds
			 * it, and it would keep the permit forever. */
			if (tok == 0 ||
			    (part != 0 && part <= seg->nparticipants &&
			     !gone(ctx, (uint32_t)part - 1)))
				continue;
			if (take_permit(h, i, tok))
				n++;
		}
	}
	return n;
}

int shmrt__seg_sem_index(const struct shmrt__seg *seg, const char *name)
{
	uint32_t i;

	for (i = 0; i < seg->nsems; i++)
		if (strncmp(seg->hdr->geo.sem[i].name, name,
			    SHMRT__SEM_NAME_MAX) == 0)
			return (int)i;
	return -1;
}
