/*
 * src/shm/atomics.h - the one home of the shorthands for atomic access to
 * the mapped segment.
 *
 * Every name says its memory order, so a reader never has to look up what
 * "LD" means in this file:
 *
 *   LD_RLX   load, relaxed       ST_RLX   store, relaxed
 *   LD_ACQ   load, acquire       ST_REL   store, release
 *   LD_SC    load, seq_cst       ADD_RLX  fetch-add, relaxed
 *   CAS_AR   strong compare-exchange: acq_rel on success, acquire on
 *            failure (*expp gets the value seen)
 *   CAS_SC   the same, seq_cst both ways
 *
 * Anything else (a seq_cst fetch-add, an exchange) is written out as the
 * __atomic builtin, with its order in plain sight.
 */
#ifndef SHMRT_ATOMICS_H
#define SHMRT_ATOMICS_H

#include <stdbool.h>

#define LD_RLX(p)  __atomic_load_n((p), __ATOMIC_RELAXED)
#define LD_ACQ(p)  __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define LD_SC(p)   __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define ST_RLX(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define ST_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define ADD_RLX(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define CAS_AR(p, expp, v)                                                     \
	__atomic_compare_exchange_n((p), (expp), (v), false,                   \
				    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
#define CAS_SC(p, expp, v)                                                     \
	__atomic_compare_exchange_n((p), (expp), (v), false, __ATOMIC_SEQ_CST, \
				    __ATOMIC_SEQ_CST)

#endif /* SHMRT_ATOMICS_H */
