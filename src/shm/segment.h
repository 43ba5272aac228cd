/*
 * src/shm/segment.h - one tenant's shared-memory segment.
 *
 * Lifecycle: shmrt__seg_create / shmrt__seg_attach give a process-local
 * handle; pair each with shmrt__seg_detach. shmrt__seg_destroy removes the
 * name (mapped handles stay valid until detached).
 *
 * The handle is process-local and holds every pointer, size and mask the
 * process uses, derived from the geometry validated at attach; nothing on a
 * fast path re-reads a size or offset from the shared memory. A handle may
 * be used by many threads at once; create/attach/detach of one handle are
 * not concurrent with its use.
 */
#ifndef SHMRT_SEGMENT_H
#define SHMRT_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "layout.h"

#define SHMRT__TENANT_NAME_MAX 48u

/* What a creator asks for. */
struct shmrt__seg_params {
	uint32_t nqueues;
	uint32_t nparticipants;
	struct {
		const char *name;
		uint32_t capacity;
		uint32_t slot_size;
		uint32_t max_attempts;   /* 0 -> 1 */
		uint64_t job_timeout_ns; /* 0 -> no timeout */
		uint64_t retry_backoff_ns;
		bool retention_strict; /* never evict finished jobs */
		uint32_t nlanes; /* lane table entries; 0 = not laned */
		uint32_t nidem;  /* idempotency entries; 0 = no keys */
		uint64_t idem_ttl_ns;
		uint32_t sem;    /* 1 + index into sem[]; 0 = no semaphore */
	} queue[SHMRT__MAX_QUEUES];
	uint32_t nsems;
	struct {
		const char *name;
		uint32_t limit; /* 1..SHMRT__MAX_SEM_LIMIT */
	} sem[SHMRT__MAX_SEMS];
	struct shmrt__tunables tun;
	mode_t mode; /* 0 -> 0600 */
	gid_t gid;   /* applied when mode grants group access */
};

/* Process-local view of a keyed table (keytab.h). */
struct shmrt__keytab {
	struct shmrt__keytab_hdr *hdr;
	uint32_t *buckets;
	struct shmrt__key_entry *entries;
	uint32_t nentries; /* 0: the queue has no such table */
	uint32_t bmask;    /* nbuckets - 1 */
};

/* Process-local view of one semaphore (sem.h). */
struct shmrt__semhandle {
	struct shmrt__sem *ctl;
	uint64_t *permits;
	uint32_t limit;
	uint32_t index;
};

/* Process-local view of one queue. */
struct shmrt__qhandle {
	struct shmrt__queue *ctl;
	struct shmrt__ring_cell *cells;
	uint64_t ring_mask;
	unsigned char *slots;
	size_t slot_stride;
	uint32_t capacity;
	uint32_t slot_size;  /* bytes a payload or result may hold */
	uint32_t index;
	uint32_t sem;        /* semaphore index, or SHMRT__NONE */
	struct shmrt__keytab lanes; /* nentries 0: not laned */
	struct shmrt__keytab idem;  /* nentries 0: no idempotency keys */
};

struct shmrt__seg {
	unsigned char *base;
	size_t size;
	int fd;       /* valid only while fd_open: during create, attach and
		       * adopt; closed once mapped (no fd per tenant) */
	bool fd_open;
	char shm_name[8 + SHMRT__TENANT_NAME_MAX]; /* "/shmrt.<tenant>" or "" */
	struct shmrt__seg_header *hdr;
	struct shmrt__participant *parts;
	uint32_t nqueues;
	uint32_t nparticipants;
	uint32_t nsems;
	struct shmrt__qhandle q[SHMRT__MAX_QUEUES];
	struct shmrt__semhandle sem[SHMRT__MAX_SEMS];
};

/* Whether every character of `s` is one of [A-Za-z0-9._-]. */
bool shmrt__name_chars_valid(const char *s);

/*
 * Whether `s` is a valid tenant or queue name: 1 to `max` characters of
 * [A-Za-z0-9._-], not "." or "..". They become file and queue names.
 */
bool shmrt__name_valid(const char *s, size_t max);

/* shmrt__name_valid with the tenant bound (48 characters). */
bool shmrt__tenant_name_valid(const char *tenant);

/*
 * Create the segment /dev/shm/shmrt.<tenant> (O_CREAT|O_EXCL|O_CLOEXEC,
 * made 0600 and then given its group and mode with fchown/fchmod, so the
 * umask never narrows it; posix_fallocate'd, fully initialized, init-done
 * published last) and map it. With tenant NULL the segment is a private
 * memfd (sealed against resizing) that only this process and its children
 * can map.
 * Errors: SHMRT_E_NAME, SHMRT_E_INVAL (geometry), SHMRT_E_EXIST (a regular
 * file holds the name: a segment to attach or adopt), SHMRT_E_NOTREG
 * (something else holds it: "/dev/shm/shmrt.x is a FIFO, not a shmrt
 * segment"; it is never opened), SHMRT_E_NOSPC, SHMRT_E_SYS; nothing is
 * left behind on failure.
 * Pair with shmrt__seg_detach (and shmrt__seg_destroy to remove the name).
 */
int shmrt__seg_create(const char *tenant, const struct shmrt__seg_params *p,
		      struct shmrt__seg *out);

/*
 * Attach to an existing tenant segment. The name is opened with
 * O_NONBLOCK (and shm_open's O_NOFOLLOW), so nothing planted there can
 * block or redirect the open. Validates, before trusting any of it: the
 * file (regular, owner uid or a group of ours - effective or
 * supplementary - with group read-write, no access for others, size),
 * then the header (magic, ABI, header size, init-done, geometry bounds,
 * layout hash, total size), and maps the whole file only once its size is
 * known to cover the layout.
 * Each refusal has its own code and a detail naming the field (see
 * shmrt_last_error): SHMRT_E_NAME, _NOENT, _OWNER, _NOTREG, _TRUNC,
 * _MAGIC, _ABI, _HDRSIZE, _NOTREADY, _LAYOUT, _SYS.
 * Pair with shmrt__seg_detach.
 */
int shmrt__seg_attach(const char *tenant, struct shmrt__seg *out);

/*
 * Adopt the existing segment of `tenant` whose creator has died, so the
 * jobs it holds still run: attach (every check above), require the layout
 * that `p` describes (SHMRT_E_LAYOUT naming the first difference, e.g.
 * "queue q0: capacity 1024, the configuration says 4096"), then make the
 * calling process the creator (pid and start time in the header). Racing
 * adopters are serialized by a flock of the file: one wins, the others
 * see it alive. Refuses with SHMRT_E_EXIST ("tenant NAME is already run
 * by pid N") while the recorded creator is alive, unless it is this
 * process. The segment's state and contents are left as they are: the
 * caller scans and sets the state. Nothing is ever removed.
 * Pair with shmrt__seg_detach.
 */
/*
 * The segment's creator, pid and start time as one consistent pair (an
 * adopter rewrites them: pid 0 first, pid last). pid 0: the creator is
 * being replaced, or its replacer died half way; either way no live
 * creator.
 */
void shmrt__seg_creator(const struct shmrt__seg *seg, pid_t *pid,
			uint64_t *start_time);

int shmrt__seg_adopt(const char *tenant, const struct shmrt__seg_params *p,
		     struct shmrt__seg *out);

/* Unmap and close. Safe on a zeroed handle, a failed create/attach's
 * handle, and twice. */
void shmrt__seg_detach(struct shmrt__seg *seg);

/* Remove the name /dev/shm/shmrt.<tenant>. SHMRT_E_NOENT if absent. */
int shmrt__seg_destroy(const char *tenant);

/* Compute the total size of a geometry's layout; 0 when invalid. */
size_t shmrt__layout_size(const struct shmrt__geometry *geo);

/* The layout hash of a geometry (FNV-1a over ABI, struct sizes, geometry). */
uint64_t shmrt__layout_hash(const struct shmrt__geometry *geo);

/* The queue named `name`, or -1. */
int shmrt__seg_queue_index(const struct shmrt__seg *seg, const char *name);

/* Segment state (acquire) and transitions (release, wakes state waiters). */
uint32_t shmrt__seg_state(const struct shmrt__seg *seg);
void shmrt__seg_set_state(struct shmrt__seg *seg, uint32_t state);

/* The slot at `index` of queue handle `q` (index < q->capacity). */
static inline struct shmrt__slot *shmrt__slot_at(const struct shmrt__qhandle *q,
						 uint32_t index)
{
	return (struct shmrt__slot *)(void *)(q->slots +
					      (size_t)index * q->slot_stride);
}

/* The payload and result buffers of a slot. */
static inline unsigned char *shmrt__slot_payload(const struct shmrt__qhandle *q,
						 struct shmrt__slot *s)
{
	(void)q;
	return (unsigned char *)(s + 1);
}

static inline unsigned char *shmrt__slot_result(const struct shmrt__qhandle *q,
						struct shmrt__slot *s)
{
	return (unsigned char *)(s + 1) + (((size_t)q->slot_size + 7u) & ~7u);
}

#endif /* SHMRT_SEGMENT_H */
