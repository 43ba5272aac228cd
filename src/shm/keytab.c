/*
 * src/shm/keytab.c - chained hash table of exact keys (see keytab.h).
 *
 * All fields are accessed with relaxed atomics: the lock orders writers,
 * and lock-free readers (stat, status) only ever read a snapshot.
 */
#include "keytab.h"

#include <string.h>

#define LD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define ST(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

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

	if (LD(&en->hash) != hash || LD(&en->key_len) != len)
		return false;
	for (i = 0; i < len; i++)
		if (LD(&en->key[i]) != key[i])
			return false;
	return true;
}

uint32_t shmrt__keytab_find(const struct shmrt__keytab *t, const char *key,
			    size_t len, uint32_t hash)
{
	uint32_t e = LD(&t->buckets[hash & t->bmask]);
	uint32_t steps;

	/* A chain never holds more than every entry; the bound also stops a
	 * corrupted cycle. */
	for (steps = 0; e < t->nentries && steps < t->nentries; steps++) {
		const struct shmrt__key_entry *en = &t->entries[e];

		if (LD(&en->used) && key_equal(en, key, len, hash))
			return e;
		e = LD(&en->next);
	}
	return SHMRT__NONE;
}

uint32_t shmrt__keytab_insert(const struct shmrt__keytab *t, const char *key,
			      size_t len, uint32_t hash, uint64_t v0,
			      uint64_t v1)
{
	uint32_t start = LD(&t->hdr->alloc_hint), k, b = hash & t->bmask;

	for (k = 0; k < t->nentries; k++) {
		uint32_t e = (start + k) % t->nentries;
		struct shmrt__key_entry *en = &t->entries[e];
		size_t i;

		if (LD(&en->used))
			continue;
		ST(&en->hash, hash);
		ST(&en->key_len, (uint32_t)len);
		for (i = 0; i < len; i++)
			ST(&en->key[i], key[i]);
		ST(&en->v[0], v0);
		ST(&en->v[1], v1);
		ST(&en->next, LD(&t->buckets[b]));
		ST(&en->used, 1u);
		ST(&t->buckets[b], e); /* visible from here */
		ST(&t->hdr->used, LD(&t->hdr->used) + 1);
		ST(&t->hdr->alloc_hint, (e + 1) % t->nentries);
		return e;
	}
	return SHMRT__NONE;
}

void shmrt__keytab_remove(const struct shmrt__keytab *t, uint32_t e)
{
	struct shmrt__key_entry *en = &t->entries[e];
	uint32_t *link = &t->buckets[LD(&en->hash) & t->bmask];
	uint32_t steps;

	for (steps = 0; steps < t->nentries; steps++) {
		uint32_t cur = LD(link);

		if (cur >= t->nentries)
			break;
		if (cur == e) {
			ST(link, LD(&en->next)); /* gone from here */
			break;
		}
		link = &t->entries[cur].next;
	}
	ST(&en->used, 0u);
	ST(&t->hdr->used, LD(&t->hdr->used) - 1);
}

void shmrt__keytab_rebuild(const struct shmrt__keytab *t)
{
	uint32_t i, used = 0;

	for (i = 0; i <= t->bmask; i++)
		ST(&t->buckets[i], SHMRT__NONE);
	for (i = 0; i < t->nentries; i++) {
		struct shmrt__key_entry *en = &t->entries[i];
		uint32_t b = LD(&en->hash) & t->bmask;

		if (!LD(&en->used))
			continue;
		if (LD(&en->key_len) == 0 || LD(&en->key_len) > SHMRT__KEY_MAX) {
			ST(&en->used, 0u); /* never finished inserting */
			continue;
		}
		ST(&en->next, LD(&t->buckets[b]));
		ST(&t->buckets[b], i);
		used++;
	}
	ST(&t->hdr->used, used);
}

uint32_t shmrt__keytab_used(const struct shmrt__keytab *t)
{
	return t->nentries ? LD(&t->hdr->used) : 0;
}
