/*
 * src/shm/layout.h - the plain-data layout of a tenant's segment.
 *
 *   [ header | queue control blocks | participant records |
 *     per queue: ring cells, job slots ]
 *
 * Every structure here is fixed-layout plain data: no pointers, only sizes
 * and indices. A process never trusts an offset from the segment: it derives
 * every offset from the geometry (validated and hashed at attach) and keeps
 * the results in its own process-local handle (segment.h).
 *
 * All shared fields are read and written with __atomic builtins (relaxed
 * unless a comment says otherwise), so sanitizers see the same accesses the
 * hardware does.
 */
#ifndef SHMRT_LAYOUT_H
#define SHMRT_LAYOUT_H

#include <pthread.h>
#include <stdint.h>

#include "ec.h"

#define SHMRT__CACHELINE 64
#define SHMRT__ALIGNED __attribute__((aligned(SHMRT__CACHELINE)))

#define SHMRT__MAGIC 0x3147455354524d48ull /* "HMRTSEG1" little-endian */
#define SHMRT__ABI_VERSION 1u

#define SHMRT__MAX_QUEUES 64u
#define SHMRT__QUEUE_NAME_MAX 32u
#define SHMRT__MAX_CAPACITY (1u << 22)     /* job slots per queue */
#define SHMRT__MAX_SLOT_SIZE (1u << 20)    /* payload (and result) bytes */
#define SHMRT__MAX_PARTICIPANTS 4096u
#define SHMRT__MAX_SEGMENT_SIZE (1ull << 40)

/* Segment lifecycle (header.state). */
enum shmrt__seg_state {
	SHMRT__SEG_INITIALIZING = 0,
	SHMRT__SEG_READY = 1,
	SHMRT__SEG_DRAINING = 2,
	SHMRT__SEG_STOPPED = 3,
};

/* The geometry of one queue: everything its part of the layout follows. */
struct shmrt__queue_geo {
	char name[SHMRT__QUEUE_NAME_MAX]; /* NUL-terminated */
	uint32_t capacity;  /* job slots */
	uint32_t slot_size; /* max payload bytes, and max result bytes */
	uint32_t ring_cells; /* power of two, >= 2 * capacity */
	uint32_t reserved;
};

/* Everything the layout derives from; covered by the layout hash. */
struct shmrt__geometry {
	uint32_t nqueues;
	uint32_t nparticipants;
	struct shmrt__queue_geo queue[SHMRT__MAX_QUEUES];
};

/* Runtime tunables: live in the header, not part of the layout. */
struct shmrt__tunables {
	uint64_t spin_ns;      /* consumers spin this long before sleeping */
	uint64_t retention_ns; /* finished jobs are kept this long */
};

struct shmrt__seg_header {
	uint64_t magic;
	uint32_t abi_version;
	uint32_t header_size; /* sizeof(struct shmrt__seg_header) */
	uint64_t layout_hash; /* shmrt__layout_hash(&geo) */
	uint64_t total_size;  /* bytes, == file size */
	uint32_t creator_uid;
	int32_t creator_pid;
	uint64_t creator_start_time;
	uint64_t created_wall_ns;
	uint32_t init_done; /* 1, published last with a release store */
	uint32_t state;     /* enum shmrt__seg_state */
	struct shmrt__ec state_ec; /* incremented on every state change */
	uint32_t pad0;
	struct shmrt__tunables tun;
	/* Only one reaper repairs at a time: robust, process-shared. */
	pthread_mutex_t repair_lock SHMRT__ALIGNED;
	struct shmrt__geometry geo SHMRT__ALIGNED;
} SHMRT__ALIGNED;

/*
 * Per-queue control block. Producer-side and consumer-side words are on
 * separate cache lines.
 */
struct shmrt__queue {
	/* producers */
	uint64_t enqueue_pos SHMRT__ALIGNED;
	uint64_t alloc_hint; /* where the next free-slot search starts */
	/* consumers */
	uint64_t dequeue_pos SHMRT__ALIGNED;
	/* sleepers: consumers wait on jobs_ec, blocked producers on space_ec */
	struct shmrt__ec jobs_ec SHMRT__ALIGNED;
	struct shmrt__ec space_ec;
	/* per-queue policy, set at creation */
	uint32_t max_attempts;
	uint32_t pad0;
	uint64_t job_timeout_ns;
	/* counters, monotonic */
	uint64_t n_enqueued SHMRT__ALIGNED;
	uint64_t n_started;
	uint64_t n_succeeded;
	uint64_t n_failed;
	uint64_t n_retried;
	uint64_t n_reclaimed;
} SHMRT__ALIGNED;

/* A ring cell: Vyukov's bounded MPMC sequence number plus a job reference. */
struct shmrt__ring_cell {
	uint64_t seq;
	uint64_t value;
};

/* A job reference in a ring: generation << 32 | slot index. Never 0. */
#define SHMRT__REF_TOMBSTONE UINT64_MAX

/* No position claimed (participant intents). */
#define SHMRT__POS_NONE UINT64_MAX

/*
 * A participant: one thread of one process that produces, consumes or
 * repairs. The intents let a reaper finish or undo the ring operation the
 * participant was in when it died (see ring.h and scan.c).
 */
struct shmrt__participant {
	/* pid << 32 | low 32 bits of its start time; 0 = free record */
	uint64_t owner SHMRT__ALIGNED;
	uint32_t tid;
	uint32_t role;
	uint64_t heartbeat_ns;
	uint64_t held_job; /* job id being run, informational */
	/* ring intents */
	uint32_t push_queue;
	uint32_t pop_queue;
	uint64_t push_value; /* ref being published; 0 = none */
	uint64_t push_pos;   /* position being claimed; POS_NONE = none */
	uint64_t pop_pos;    /* position being taken; POS_NONE = none */
	uint64_t pop_value;  /* ref taken but not yet leased; 0 = none */
} SHMRT__ALIGNED;

/*
 * A job slot. `word` is the truth about the job (see job.h):
 *   generation(32) | attempt(12) | owner(16) | state(4)
 * and every transition is a CAS on it. The other fields are written only by
 * the slot's exclusive holder (RESERVED or COMPLETING owner) and read with
 * a seqlock-style re-check of `word`.
 */
struct shmrt__slot {
	uint64_t word;
	struct shmrt__ec done_ec; /* incremented when the job finishes */
	uint32_t payload_len;
	uint32_t result_len;
	uint32_t pad0;
	uint64_t enqueue_ns; /* CLOCK_MONOTONIC */
	uint64_t start_ns;
	uint64_t finish_ns;
	uint64_t lease_deadline_ns;
	uint64_t lease_token; /* the RUNNING word lease_deadline_ns belongs to */
	/* followed by payload[slot_size8] and result[slot_size8] */
} SHMRT__ALIGNED;

#endif /* SHMRT_LAYOUT_H */
