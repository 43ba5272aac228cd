/*
 * src/shm/participant.h - participant records: who is attached, and what
 * each one is in the middle of.
 *
 * Every thread that enqueues, leases or repairs joins as a participant and
 * gets a record in the segment: its process (pid + process start time, so
 * a reused pid is not mistaken for it), a heartbeat, the job it runs, and
 * its ring intents (ring.h). scan uses the records to find the dead and
 * reclaim what they held. A record is claimed with one CAS on `owner`, so a
 * process killed while joining leaves either nothing or a record naming it.
 *
 * A participant handle is used by one thread at a time. join/leave pair.
 */
#ifndef SHMRT_PARTICIPANT_H
#define SHMRT_PARTICIPANT_H

#include <stdbool.h>
#include <stdint.h>

#include "ring.h"
#include "segment.h"

enum shmrt__part_role {
	SHMRT__ROLE_PRODUCER = 1,
	SHMRT__ROLE_WORKER = 2,
	SHMRT__ROLE_REAPER = 4,
	SHMRT__ROLE_MANAGER = 8,
};

struct shmrt__part {
	struct shmrt__seg *seg;
	struct shmrt__participant *rec;
	uint32_t index;
};

/*
 * Claim a free record for the calling thread. Returns 0, or SHMRT_E_NOPART
 * when every record is taken (scan frees those of dead processes).
 * Pair with shmrt__part_leave.
 */
int shmrt__part_join(struct shmrt__seg *seg, uint32_t roles,
		     struct shmrt__part *out);

/* Release the record. The participant must hold nothing (no job leased). */
void shmrt__part_leave(struct shmrt__part *p);

/* For scan: free the record of a dead participant. */
void shmrt__part_reap(struct shmrt__participant *rec);

/* Record that the participant is alive and making progress. */
void shmrt__part_heartbeat(struct shmrt__part *p);

/* The same, with a CLOCK_MONOTONIC time the caller has just read. */
void shmrt__part_heartbeat_at(struct shmrt__part *p, uint64_t now_ns);

/*
 * Whether the participant of record i is hung at `now_ns`: its heartbeat
 * is older than the segment's heartbeat timeout (0: nobody is ever hung).
 * Reads the heartbeat afresh, so a verdict is taken at the moment it is
 * acted on; a record changing hands has heartbeat 0 and is not hung.
 */
bool shmrt__part_hung(const struct shmrt__seg *seg, uint32_t i,
		      uint64_t now_ns);

/* The intent pointers of a record, for ring operations on queue `qidx`. */
struct shmrt__ring_intent shmrt__part_intent(struct shmrt__participant *rec);

/* An owner word: pid << 32 | low 32 bits of the process's start time. */
static inline uint64_t shmrt__owner_make(int32_t pid, uint64_t start_time)
{
	return ((uint64_t)(uint32_t)pid << 32) | (start_time & 0xffffffffu);
}
static inline int32_t shmrt__owner_pid(uint64_t owner) { return (int32_t)(owner >> 32); }
static inline uint32_t shmrt__owner_start32(uint64_t owner) { return (uint32_t)owner; }

/* The participant holds no lease (any more): clear its record's lease. */
void shmrt__part_lease_forget(struct shmrt__part *p);

/* The owner word for the calling process. */
uint64_t shmrt__part_owner_self(void);

/* Whether the process named by an owner word is alive (0 = free: false). */
bool shmrt__part_owner_alive(uint64_t owner);

/* The ring handle of queue q (process-local pointers). */
struct shmrt__ring shmrt__queue_ring(const struct shmrt__qhandle *q);

#endif /* SHMRT_PARTICIPANT_H */
