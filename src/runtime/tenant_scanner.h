/*
 * src/runtime/tenant_scanner.h - one scan thread for every tenant of the
 * process.
 *
 * A tenant started here is scanned every [runtime] scan_interval_ms (scan
 * reclaims what dead and hung participants held). One thread does it for
 * all of them, so a process that starts 1,000 tenants has one scan
 * thread, not 1,000. Each entry's scans fall on multiples of its interval
 * on the monotonic clock, so tenants with the same interval are scanned
 * in one pass, one after the other, and the thread wakes once per
 * interval however many tenants there are. The thread is made by the
 * first add and ends when the last entry is removed.
 *
 * Pair add with remove. Add and remove may be called from any thread,
 * for different entries at once; one entry is added and removed by one
 * thread at a time (the runtime manager holds its tenant's lock).
 */
#ifndef SHMRT_RUNTIME_TENANT_SCANNER_H
#define SHMRT_RUNTIME_TENANT_SCANNER_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/queue_backend.h"

/* One scanned tenant; owned by the caller, linked while added. */
struct shmrt__scan_entry {
	struct shmrt__backend *be; /* the caller's reference, borrowed */
	uint64_t interval_ns;
	uint64_t next_ns; /* the next scan, a multiple of interval_ns */
	bool listed;
	struct shmrt__scan_entry *prev, *next;
};

/*
 * Scan `be` every interval_ms from now on. The caller keeps be referenced
 * until remove returns. Returns 0, or SHMRT_E_SYS when the scan thread
 * cannot be made (the entry is then not added).
 */
int shmrt__scanner_add(struct shmrt__scan_entry *e, struct shmrt__backend *be,
		       uint64_t interval_ms);

/*
 * Stop scanning e. When it returns, no scan of e->be runs or will run
 * (a scan in progress is waited for; it ends by its own deadline, one
 * interval after it began). A no-op for an entry that is not added.
 */
void shmrt__scanner_remove(struct shmrt__scan_entry *e);

/* Tenants scanned now and scan threads alive (0 or 1): tests, bench. */
void shmrt__scanner_counts(uint32_t *entries, uint32_t *threads);

#endif /* SHMRT_RUNTIME_TENANT_SCANNER_H */
