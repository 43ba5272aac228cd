/*
 * src/runtime/rcu_reader.h - the process-local RCU the runtime's
 * registries use: liburcu's memb flavor with lazy thread registration.
 *
 * The memb flavor needs each reader thread registered; a library cannot
 * ask its callers to do that, so the first read-side section of a thread
 * registers it and a thread-exit destructor unregisters it. (qsbr would
 * need callers to announce quiescent states: never in a library.)
 *
 * Writers here never use call_rcu: they unlink, shmrt__rcu_synchronize(),
 * then free. That keeps liburcu from starting helper threads, so a forked
 * test child inherits no urcu thread state it could hang on.
 */
#ifndef SHMRT_RCU_READER_H
#define SHMRT_RCU_READER_H

#include <urcu/rculfhash.h>

/* Enter / leave a read-side critical section (nestable). Never blocks. */
void shmrt__rcu_read_lock(void);
void shmrt__rcu_read_unlock(void);

/*
 * Wait until every read-side section that began before the call has
 * ended. Must not be called inside a read-side section.
 */
void shmrt__rcu_synchronize(void);

/*
 * A new hash table (fixed size: `buckets`, a power of two) tied to the
 * memb flavor; NULL when out of memory. Tables here live as long as the
 * process.
 */
struct cds_lfht *shmrt__rcu_table_new(unsigned long buckets);

/* FNV-1a of a NUL-terminated string, the hash every registry uses. */
unsigned long shmrt__rcu_hash_str(const char *s);

#endif /* SHMRT_RCU_READER_H */
