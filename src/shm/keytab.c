/*
 * src/shm/keytab.c - chained hash table of exact keys (see keytab.h).
 *
 * All fields are accessed with relaxed atomics: the lock orders writers,
 * and lock-free readers (stat, status) only ever read a snapshot.
 */
#include "keytab.h"

#include <string.h>

#include "atomics.h"

uint32_t shmrt__key_hash(const char *key, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 16777619u;
	}
	return h;
}

/* Key bytes live in shared memory: copy them out with relaxed loads. */
static bool key_equal(const struct shmrt__key_entry *en, const char *key,
		      size_t len, uint32_t hash)
{
	size_t i;

	if (LD_RLX(&en->hash) != hash || LD_RLX(&en->key_len) != len)
		return false;
	for (i = 0; i < len; i++)
		if (LD_RLX(&en->key[i]) != key[i])
			return false;
	return true;
}

uint32_t shmrt__keytab_find(const struct shmrt__keytab *t, const char *key,
			    size_t len, uint32_t hash)
{
	uint32_t e = LD_RLX(&t->buckets[hash & t->bmask]);
	uint32_t steps;

	/* A chain never holds more than every entry; the bound also stops a
	 * corrupted cycle. */
	for (steps = 0; e < t->nentries && steps < t->nentries; steps++) {
		const struct shmrt__key_entry *en = &t->entries[e];

		if (LD_RLX(&en->used) && key_equal(en, key, len, hash))
			return e;
		e = LD_RLX(&en->next);
	}
	return SHMRT__NONE;
}

uint32_t shmrt__keytab_insert(const struct shmrt__keytab *t, const char *key,
			      size_t len, uint32_t hash, uint64_t v0,
			      uint64_t v1)
{
	uint32_t start = LD_RLX(&t->hdr->alloc_hint), k, b = hash & t->bmask;

	for (k = 0; k < t->nentries; k++) {
		uint32_t e = (start + k) % t->nentries;
		struct shmrt__key_entry *en = &t->entries[e];
		size_t i;

		if (LD_RLX(&en->used))
			continue;
		ST_RLX(&en->hash, hash);
		ST_RLX(&en->key_len, (uint32_t)len);
		for (i = 0; i < len; i++)
			ST_RLX(&en->key[i], key[i]);
		ST_RLX(&en->v[0], v0);
		ST_RLX(&en->v[1], v1);
		ST_RLX(&en->next, LD_RLX(&t->buckets[b]));
		ST_RLX(&en->used, 1u);
		ST_RLX(&t->buckets[b], e); /* visible from here */
		ST_RLX(&t->hdr->used, LD_RLX(&t->hdr->used) + 1);
		ST_RLX(&t->hdr->alloc_hint, (e + 1) % t->nentries);
		return e;
	}
	return SHMRT__NONE;
}

void shmrt__keytab_remove(const struct shmrt__keytab *t, uint32_t e)
{
	struct shmrt__key_entry *en = &t->entries[e];
	uint32_t *link = &t->buckets[LD_RLX(&en->hash) & t->bmask];
	uint32_t steps;

	for (steps = 0; steps < t->nentries; steps++) {
		uint32_t cur = LD_RLX(link);

		if (cur >= t->nentries)
			break;
		if (cur == e) {
			ST_RLX(link, LD_RLX(&en->next)); /* gone from here */
			break;
		}
		link = &t->entries[cur].next;
	}
	ST_RLX(&en->used, 0u);
	ST_RLX(&t->hdr->used, LD_RLX(&t->hdr->used) - 1);
}

void shmrt__keytab_rebuild(const struct shmrt__keytab *t)
{
	uint32_t i, used = 0;

	for (i = 0; i <= t->bmask; i++)
		ST_RLX(&t->buckets[i], SHMRT__NONE);
	for (i = 0; i < t->nentries; i++) {
		struct shmrt__key_entry *en = &t->entries[i];
		uint32_t b = LD_RLX(&en->hash) & t->bmask;

		if (!LD_RLX(&en->used))
			continue;
		if (LD_RLX(&en->key_len) == 0 || LD_RLX(&en->key_len) > SHMRT__KEY_MAX) {
			ST_RLX(&en->used, 0u); /* never finished inserting */
			continue;
		}
		ST_RLX(&en->next, LD_RLX(&t->buckets[b]));
		ST_RLX(&t->buckets[b], i);
		used++;
	}
	ST_RLX(&t->hdr->used, used);
}

uint32_t shmrt__keytab_used(const struct shmrt__keytab *t)
{
	return t->nentries ? LD_RLX(&t->hdr->used) : 0;
}

