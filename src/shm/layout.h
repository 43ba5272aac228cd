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

#include <stdint.h>

#include "ec.h"
#include "waitq.h"

#define SHMRT__CACHELINE 64
#define SHMRT__ALIGNED __attribute__((aligned(SHMRT__CACHELINE)))

#define SHMRT__MAGIC 0x3147455354524d48ull /* "HMRTSEG1" little-endian */
#define SHMRT__ABI_VERSION 4u /* 4: finished jobs evicted (evict.h) */

#define SHMRT__MAX_QUEUES 64u
#define SHMRT__QUEUE_NAME_MAX 32u
#define SHMRT__MAX_CAPACITY (1u << 22)     /* job slots per queue */
#define SHMRT__MAX_SLOT_SIZE (1u << 20)    /* payload (and result) bytes */
#define SHMRT__MAX_PARTICIPANTS 4096u
#define SHMRT__MAX_SEGMENT_SIZE (1ull << 40)
#define SHMRT__MAX_SEMS 16u
#define SHMRT__SEM_NAME_MAX 32u
#define SHMRT__MAX_SEM_LIMIT 1024u   /* permits per semaphore */
#define SHMRT__KEY_MAX 64u           /* bytes of a lane or idempotency key */
#define SHMRT__MAX_KEYS (1u << 22)   /* lane or idempotency entries */

/* "No index" in every uint32_t index field below. */
#define SHMRT__NONE UINT32_MAX

/* Segment lifecycle (header.state). */
enum shmrt__seg_state {
	SHMRT__SEG_INITIALIZING = 0,
	SHMRT__SEG_READY = 1,
	SHMRT__SEG_DRAINING = 2,
	SHMRT__SEG_STOPPED = 3,
};

/*
 * A lock whose word names its holder (plock.h): `owner` is 0 or the
 * holder's owner word (pid << 32 | start time low 32), `releases` a
 * futex word that every unlock advances by 2 (bit 0: a waiter sleeps).
 */
struct shmrt__plock {
	uint64_t owner;
	uint32_t releases;
	uint32_t reserved;
};

/* The geometry of one queue: everything its part of the layout follows. */
struct shmrt__queue_geo {
	char name[SHMRT__QUEUE_NAME_MAX]; /* NUL-terminated */
	uint32_t capacity;  /* job slots */
	uint32_t slot_size; /* max payload bytes, and max result bytes */
	uint32_t ring_cells; /* power of two, >= 2 * capacity */
	uint32_t nlanes;     /* lane table entries; 0 = not laned */
	uint32_t nidem;      /* idempotency table entries; 0 = none */
	uint32_t sem;        /* semaphore index, or SHMRT__NONE */
};

/* A named counting semaphore: at most `limit` permits held at once. */
struct shmrt__sem_geo {
	char name[SHMRT__SEM_NAME_MAX]; /* NUL-terminated */
	uint32_t limit;
	uint32_t reserved;
};

/* Everything the layout derives from; covered by the layout hash. */
struct shmrt__geometry {
	uint32_t nqueues;
	uint32_t nparticipants;
	uint32_t nsems;
	uint32_t reserved;
	struct shmrt__queue_geo queue[SHMRT__MAX_QUEUES];
	struct shmrt__sem_geo sem[SHMRT__MAX_SEMS];
};

/* Runtime tunables: live in the header, not part of the layout. */
struct shmrt__tunables {
	uint64_t spin_ns;      /* consumers spin this long before sleeping */
	uint64_t retention_ns; /* finished jobs are kept this long */
	uint64_t heartbeat_timeout_ns; /* silent longer: hung; 0 = never */
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
	/* Only one reaper repairs at a time (plock.h). */
	struct shmrt__plock repair_lock SHMRT__ALIGNED;
	struct shmrt__geometry geo SHMRT__ALIGNED;
} SHMRT__ALIGNED;

/*
 * Per-queue control block. Producer-side and consumer-side words, each with
 * the counters their side bumps, are on separate cache lines: a counter
 * next to the other side's position would bounce the line on every job.
 */
struct shmrt__queue {
	/* producers: positions and their counters, on one line */
	uint64_t enqueue_pos SHMRT__ALIGNED;
	uint64_t alloc_hint; /* where the next free-slot search starts */
	uint64_t n_enqueued;
	uint64_t n_idem_hits; /* enqueues answered with an existing job */
	uint64_t n_evicted;   /* finished jobs freed for new work (evict.h) */
	/* consumers and finishers: positions and their counters */
	uint64_t dequeue_pos SHMRT__ALIGNED;
	uint64_t n_started;
	uint64_t n_succeeded;
	uint64_t n_failed;
	uint64_t n_retried;
	uint64_t n_cancelled;
	uint64_t n_reclaimed; /* by scan */
	/* sleepers: consumers wait on jobs_wq (every published job posts
	 * once and wakes one of them), blocked producers on space_ec (every
	 * freed slot bumps it): one line each, or the two sides would
	 * bounce one line per job */
	struct shmrt__waitq jobs_wq SHMRT__ALIGNED;
	struct shmrt__ec space_ec SHMRT__ALIGNED;
	/* per-queue policy, set at creation */
	uint32_t max_attempts;
	uint32_t retention_strict; /* 1: finished jobs are never evicted */
	uint64_t job_timeout_ns;
	uint64_t retry_backoff_ns; /* a retried job waits this long */
	uint64_t idem_ttl_ns;      /* idempotency keys live this long */
	/*
	 * The queue's keyed state (lane table, idempotency table) changes
	 * only under this lock (plock.h). What the holder was doing is in
	 * `journal`, so the next locker after a holder died can finish it
	 * (lane.c, idem.c).
	 */
	struct shmrt__plock state_lock SHMRT__ALIGNED;
	uint32_t lane_repush; /* lane heads may be missing from the ring */
	uint32_t pad1;
	struct shmrt__journal {
		uint32_t op; /* enum shmrt__journal_op; 0 = nothing */
		uint32_t entry;
		uint32_t slot;
		uint32_t gen;
	} journal;
} SHMRT__ALIGNED;

/*
 * A keyed table (lanes, idempotency keys): `nbuckets` (a power of two)
 * chain heads, then `nentries` entries that never move, so an entry's
 * index is a stable name for it. Changed only under the queue's
 * state_lock (keytab.h).
 */
struct shmrt__keytab_hdr {
	uint32_t nentries;
	uint32_t nbuckets;
	uint32_t used;
	uint32_t alloc_hint;
};

struct shmrt__key_entry {
	uint32_t used;     /* 1 while the key is in the table */
	uint32_t next;     /* next entry in the bucket chain, or NONE */
	uint32_t hash;
	uint32_t key_len;
	uint64_t v[2];     /* the owner module's values (lane.c, idem.c) */
	char key[SHMRT__KEY_MAX];
};

/*
 * A semaphore: `limit` permit words. A permit is 0 when free, else the
 * holder's token: (participant index + 1) << 48 | a per-semaphore count,
 * so scan can give back a dead holder's permits and a holder that lost
 * its permit cannot release someone else's.
 */
struct shmrt__sem {
	struct shmrt__ec ec; /* incremented on every release */
	uint32_t limit;
	uint64_t next_token;
	uint64_t n_acquired;
	uint64_t n_reclaimed;
	/* followed by uint64_t permit[limit] */
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
	uint64_t heartbeat_ns; /* 0 while the record changes hands */
	/*
	 * The lease this participant holds: its job id, its RUNNING word
	 * (the token; 0 = none) and its deadline, written by the participant
	 * alone, before the CAS that wins the job, token last. Kept here
	 * rather than in the slot so a lessee that lost the job can never
	 * overwrite the next owner's.
	 */
	uint64_t held_job;
	uint64_t lease_token;
	uint64_t lease_deadline_ns;
	/* ring intents */
	uint32_t push_queue;
	uint32_t pop_queue;
	uint64_t push_value; /* ref being published; 0 = none */
	uint64_t push_pos;   /* position being claimed; POS_NONE = none */
	uint64_t pop_pos;    /* position being taken; POS_NONE = none */
	uint64_t pop_value;  /* ref taken but not yet leased; 0 = none */
	/* queue index + 1 while counted as a sleeper of that queue's
	 * jobs_wq, so scan can uncount a dead sleeper (waitq.h); 0 = none */
	uint32_t sleeping;
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
	uint32_t free_requested; /* released while still its lane's head */
	uint64_t enqueue_ns; /* CLOCK_MONOTONIC */
	uint64_t start_ns;  /* set by CAS from the value before the lease */
	uint64_t finish_ns;
	uint64_t not_before_ns; /* a retried job is not leased before this;
				   written only while COMPLETING (requeue) */
	/* Generation of the job a cancel was asked for while it ran; only
	 * ever raised (CAS), so a late canceller of an older job neither
	 * cancels the slot's next job nor hides a newer request. */
	uint32_t cancel_gen;
	/* lanes: written under the queue's state_lock (lane.c) */
	uint32_t lane;      /* lane entry while linked into it, or NONE */
	uint32_t lane_next; /* next job of the lane, or NONE */
	uint32_t lane_key_len; /* 0: the job has no lane */
	char lane_key[SHMRT__KEY_MAX];
	/* followed by payload[slot_size8] and result[slot_size8] */
} SHMRT__ALIGNED;

#endif /* SHMRT_LAYOUT_H */
