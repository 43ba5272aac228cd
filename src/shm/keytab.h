/*
 * src/shm/keytab.h - a keyed table in the segment: exact byte-string keys
 * (1..SHMRT__KEY_MAX bytes) to fixed entries, for lanes and idempotency
 * keys.
 *
 * Chained hashing: a power-of-two array of bucket heads and `nentries`
 * entries that never move, so an entry index names a key for as long as
 * the key is in the table. Keys are compared in full: two keys that hash
 * alike share a chain, never an entry.
 *
 * Concurrency: every call needs the owning queue's state_lock held.
 *
 * Crash model: the holder of the lock may die between any two stores.
 * Insert and remove each end in one store that makes the change visible
 * (bucket head or predecessor's `next`), and `used` says which entries
 * are meant to be in the table; shmrt__keytab_rebuild, run by the next
 * locker after a holder died, re-derives every chain from `used`, so the
 * table is never left with a lost or a half-linked entry. What an entry's
 * values mean is the owner's to repair (lane.c, idem.c).
 */
#ifndef SHMRT_KEYTAB_H
#define SHMRT_KEYTAB_H

#include <stddef.h>
#include <stdint.h>

#include "segment.h"

/* The hash of a key (FNV-1a, 32 bits). */
uint32_t shmrt__key_hash(const char *key, size_t len);

/* The entry holding `key`, or SHMRT__NONE. */
uint32_t shmrt__keytab_find(const struct shmrt__keytab *t, const char *key,
			    size_t len, uint32_t hash);

/*
 * Insert `key` (absent: find first) with values v0, v1. Returns the entry,
 * or SHMRT__NONE when every entry is used.
 */
uint32_t shmrt__keytab_insert(const struct shmrt__keytab *t, const char *key,
			      size_t len, uint32_t hash, uint64_t v0,
			      uint64_t v1);

/* Remove entry `e` (used) from the table. */
void shmrt__keytab_remove(const struct shmrt__keytab *t, uint32_t e);

/* Re-derive every chain from the entries' `used` flags (see top). */
void shmrt__keytab_rebuild(const struct shmrt__keytab *t);

/* Entries in use. */
uint32_t shmrt__keytab_used(const struct shmrt__keytab *t);

static inline struct shmrt__key_entry *
shmrt__keytab_entry(const struct shmrt__keytab *t, uint32_t e)
{
	return &t->entries[e];
}

#endif /* SHMRT_KEYTAB_H */
