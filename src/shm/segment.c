/*
 * src/shm/segment.c - create, attach, validate, detach, destroy.
 */
#define _GNU_SOURCE
#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <shmrt/error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error_detail.h"
#include "os.h"
#include "plock.h"

#define ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((size_t)(a)-1))

bool shmrt__name_chars_valid(const char *s)
{
	for (; *s != '\0'; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

bool shmrt__name_valid(const char *s, size_t max)
{
	size_t n;

	if (s == NULL)
		return false;
	n = strlen(s);
	if (n == 0 || n > max || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	return shmrt__name_chars_valid(s);
}

bool shmrt__tenant_name_valid(const char *tenant)
{
	return shmrt__name_valid(tenant, SHMRT__TENANT_NAME_MAX);
}

static uint32_t ring_cells_for(uint32_t capacity)
{
	uint32_t cells = 2;

	/* Twice the slots: room for every job plus the rare duplicate ref. */
	while (cells < 2u * capacity)
		cells <<= 1;
	return cells;
}

static size_t slot_stride_for(uint32_t slot_size)
{
	return ALIGN_UP(sizeof(struct shmrt__slot) +
				2 * ALIGN_UP((size_t)slot_size, 8),
			SHMRT__CACHELINE);
}

static uint32_t buckets_for(uint32_t nentries)
{
	uint32_t b = 1;

	while (b < nentries)
		b <<= 1;
	return b;
}

/* Bytes of a keyed table of n entries (0 for none). */
static size_t keytab_bytes(uint32_t n)
{
	if (n == 0)
		return 0;
	return ALIGN_UP(sizeof(struct shmrt__keytab_hdr) +
				(size_t)buckets_for(n) * sizeof(uint32_t),
			SHMRT__CACHELINE) +
	       (size_t)n * sizeof(struct shmrt__key_entry);
}

static void keytab_map(unsigned char *at, uint32_t n, struct shmrt__keytab *t)
{
	memset(t, 0, sizeof(*t));
	if (n == 0)
		return;
	t->hdr = (struct shmrt__keytab_hdr *)(void *)at;
	t->buckets = (uint32_t *)(void *)(at + sizeof(struct shmrt__keytab_hdr));
	t->entries = (struct shmrt__key_entry *)(void *)(at +
		ALIGN_UP(sizeof(struct shmrt__keytab_hdr) +
				 (size_t)buckets_for(n) * sizeof(uint32_t),
			 SHMRT__CACHELINE));
	t->nentries = n;
	t->bmask = buckets_for(n) - 1;
}

static size_t sem_bytes(uint32_t limit)
{
	return ALIGN_UP(sizeof(struct shmrt__sem) + (size_t)limit * sizeof(uint64_t),
			SHMRT__CACHELINE);
}

/* Checks one semaphore's geometry; returns a static reason or NULL. */
static const char *sem_geo_invalid(const struct shmrt__sem_geo *g)
{
	size_t n = strnlen(g->name, SHMRT__SEM_NAME_MAX);

	if (n == 0 || n == SHMRT__SEM_NAME_MAX)
		return "semaphore name is empty or not terminated";
	if (g->limit == 0 || g->limit > SHMRT__MAX_SEM_LIMIT)
		return "semaphore limit out of range";
	return NULL;
}

/* Checks one queue's geometry; returns a static reason or NULL. */
static const char *queue_geo_invalid(const struct shmrt__queue_geo *g,
				     uint32_t nsems)
{
	size_t n = strnlen(g->name, SHMRT__QUEUE_NAME_MAX);

	if (n == 0 || n == SHMRT__QUEUE_NAME_MAX)
		return "name is empty or not terminated";
	if (g->capacity == 0 || g->capacity > SHMRT__MAX_CAPACITY)
		return "capacity out of range";
	if (g->slot_size == 0 || g->slot_size > SHMRT__MAX_SLOT_SIZE)
		return "slot_size out of range";
	if (g->ring_cells != ring_cells_for(g->capacity))
		return "ring_cells does not match capacity";
	if (g->nlanes > SHMRT__MAX_KEYS)
		return "nlanes out of range";
	if (g->nidem > SHMRT__MAX_KEYS)
		return "nidem out of range";
	if (g->sem != SHMRT__NONE && g->sem >= nsems)
		return "semaphore index out of range";
	return NULL;
}

/*
 * Validates a geometry and walks its layout. Every offset the process uses
 * is produced here from bounded values, so it cannot overflow. With `seg`
 * non-NULL and `base` mapped, fills in the handle's pointers.
 */
static size_t layout_walk(const struct shmrt__geometry *geo,
			  struct shmrt__seg *seg, const char **why)
{
	size_t off;
	uint32_t i;

	*why = NULL;
	if (geo->nqueues == 0 || geo->nqueues > SHMRT__MAX_QUEUES) {
		*why = "nqueues out of range";
		return 0;
	}
	if (geo->nparticipants == 0 ||
	    geo->nparticipants > SHMRT__MAX_PARTICIPANTS) {
		*why = "nparticipants out of range";
		return 0;
	}
	if (geo->nsems > SHMRT__MAX_SEMS) {
		*why = "nsems out of range";
		return 0;
	}
	off = ALIGN_UP(sizeof(struct shmrt__seg_header), SHMRT__CACHELINE);
	if (seg != NULL)
		seg->hdr = (struct shmrt__seg_header *)(void *)seg->base;
	for (i = 0; i < geo->nqueues; i++) {
		if ((*why = queue_geo_invalid(&geo->queue[i], geo->nsems)) !=
		    NULL)
			return 0;
		if (seg != NULL)
			seg->q[i].ctl = (struct shmrt__queue *)(void *)(seg->base +
									off);
		off += sizeof(struct shmrt__queue);
	}
	if (seg != NULL)
		seg->parts =
			(struct shmrt__participant *)(void *)(seg->base + off);
	off += (size_t)geo->nparticipants * sizeof(struct shmrt__participant);
	for (i = 0; i < geo->nsems; i++) {
		const struct shmrt__sem_geo *g = &geo->sem[i];

		if ((*why = sem_geo_invalid(g)) != NULL)
			return 0;
		off = ALIGN_UP(off, SHMRT__CACHELINE);
		if (seg != NULL) {
			struct shmrt__semhandle *h = &seg->sem[i];

			h->ctl = (struct shmrt__sem *)(void *)(seg->base + off);
			h->permits = (uint64_t *)(void *)(h->ctl + 1);
			h->limit = g->limit;
			h->index = i;
		}
		off += sem_bytes(g->limit);
	}
	for (i = 0; i < geo->nqueues; i++) {
		const struct shmrt__queue_geo *g = &geo->queue[i];
		struct shmrt__qhandle *q = seg != NULL ? &seg->q[i] : NULL;

		off = ALIGN_UP(off, SHMRT__CACHELINE);
		if (q != NULL) {
			q->cells = (struct shmrt__ring_cell *)(void *)(seg->base +
								       off);
			q->ring_mask = (uint64_t)g->ring_cells - 1;
			q->capacity = g->capacity;
			q->slot_size = g->slot_size;
			q->slot_stride = slot_stride_for(g->slot_size);
			q->index = i;
		}
		off += (size_t)g->ring_cells * sizeof(struct shmrt__ring_cell);
		off = ALIGN_UP(off, SHMRT__CACHELINE);
		if (q != NULL)
			q->slots = seg->base + off;
		off += (size_t)g->capacity * slot_stride_for(g->slot_size);
		off = ALIGN_UP(off, SHMRT__CACHELINE);
		if (q != NULL) {
			q->sem = g->sem;
			keytab_map(seg->base + off, g->nlanes, &q->lanes);
		}
		off += keytab_bytes(g->nlanes);
		off = ALIGN_UP(off, SHMRT__CACHELINE);
		if (q != NULL)
			keytab_map(seg->base + off, g->nidem, &q->idem);
		off += keytab_bytes(g->nidem);
		if (off > SHMRT__MAX_SEGMENT_SIZE) {
			*why = "total size over 1 TiB";
			return 0;
		}
	}
	if (seg != NULL) {
		seg->nqueues = geo->nqueues;
		seg->nparticipants = geo->nparticipants;
		seg->nsems = geo->nsems;
	}
	return ALIGN_UP(off, 4096);
}

size_t shmrt__layout_size(const struct shmrt__geometry *geo)
{
	const char *why;

	return layout_walk(geo, NULL, &why);
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

uint64_t shmrt__layout_hash(const struct shmrt__geometry *geo)
{
	const uint64_t sizes[] = {
		SHMRT__ABI_VERSION,
		sizeof(struct shmrt__seg_header),
		sizeof(struct shmrt__queue),
		sizeof(struct shmrt__participant),
		sizeof(struct shmrt__ring_cell),
		sizeof(struct shmrt__slot),
		sizeof(struct shmrt__plock),
		sizeof(struct shmrt__keytab_hdr),
		sizeof(struct shmrt__key_entry),
		sizeof(struct shmrt__sem),
	};
	uint64_t h = 0xcbf29ce484222325ull;

	h = fnv1a(h, sizes, sizeof(sizes));
	return fnv1a(h, geo, sizeof(*geo));
}

static void shm_name_for(const char *tenant, char *out, size_t len)
{
	snprintf(out, len, "/shmrt.%s", tenant);
}

static int geometry_from_params(const struct shmrt__seg_params *p,
				struct shmrt__geometry *geo)
{
	uint32_t i, j;

	memset(geo, 0, sizeof(*geo));
	if (p->nqueues == 0 || p->nqueues > SHMRT__MAX_QUEUES)
		return shmrt__fail(SHMRT_E_INVAL, "create: %u queues (1..%u)",
				   p->nqueues, SHMRT__MAX_QUEUES);
	geo->nqueues = p->nqueues;
	geo->nparticipants = p->nparticipants;
	if (p->nsems > SHMRT__MAX_SEMS)
		return shmrt__fail(SHMRT_E_INVAL, "create: %u semaphores (0..%u)",
				   p->nsems, SHMRT__MAX_SEMS);
	geo->nsems = p->nsems;
	for (i = 0; i < p->nsems; i++) {
		const char *name = p->sem[i].name;

		if (name == NULL || strlen(name) >= SHMRT__SEM_NAME_MAX)
			return shmrt__fail(SHMRT_E_INVAL,
					   "create: semaphore %u: name missing "
					   "or longer than %u",
					   i, SHMRT__SEM_NAME_MAX - 1);
		memcpy(geo->sem[i].name, name, strlen(name) + 1);
		geo->sem[i].limit = p->sem[i].limit;
	}
	for (i = 0; i < p->nqueues; i++) {
		const char *name = p->queue[i].name;

		if (name == NULL || strlen(name) >= SHMRT__QUEUE_NAME_MAX)
			return shmrt__fail(SHMRT_E_INVAL,
					   "create: queue %u: name missing or "
					   "longer than %u",
					   i, SHMRT__QUEUE_NAME_MAX - 1);
		for (j = 0; j < i; j++)
			if (strcmp(geo->queue[j].name, name) == 0)
				return shmrt__fail(SHMRT_E_INVAL,
						   "create: duplicate queue %s",
						   name);
		memcpy(geo->queue[i].name, name, strlen(name) + 1);
		geo->queue[i].capacity = p->queue[i].capacity;
		geo->queue[i].slot_size = p->queue[i].slot_size;
		geo->queue[i].ring_cells =
			p->queue[i].capacity <= SHMRT__MAX_CAPACITY
				? ring_cells_for(p->queue[i].capacity)
				: 0;
		geo->queue[i].nlanes = p->queue[i].nlanes;
		geo->queue[i].nidem = p->queue[i].nidem;
		if (p->queue[i].sem > p->nsems)
			return shmrt__fail(SHMRT_E_INVAL,
					   "create: queue %s: semaphore %u of %u",
					   name, p->queue[i].sem, p->nsems);
		geo->queue[i].sem = p->queue[i].sem ? p->queue[i].sem - 1
						    : SHMRT__NONE;
	}
	return 0;
}

static void keytab_init(const struct shmrt__keytab *t)
{
	uint32_t i;

	if (t->nentries == 0)
		return;
	t->hdr->nentries = t->nentries;
	t->hdr->nbuckets = t->bmask + 1;
	for (i = 0; i <= t->bmask; i++)
		t->buckets[i] = SHMRT__NONE;
	for (i = 0; i < t->nentries; i++)
		t->entries[i].next = SHMRT__NONE;
}

/* Fills a freshly fallocate'd (zeroed) mapping; init_done is set last. */
static int init_contents(struct shmrt__seg *seg,
			 const struct shmrt__seg_params *p,
			 const struct shmrt__geometry *geo)
{
	struct shmrt__seg_header *h = seg->hdr;
	uint32_t i, k;

	h->magic = SHMRT__MAGIC;
	h->abi_version = SHMRT__ABI_VERSION;
	h->header_size = sizeof(*h);
	h->layout_hash = shmrt__layout_hash(geo);
	h->total_size = seg->size;
	h->creator_uid = (uint32_t)geteuid();
	h->creator_pid = shmrt__os_pid();
	h->creator_start_time = shmrt__os_proc_start_time(h->creator_pid);
	h->created_wall_ns = shmrt__os_wall_ns();
	h->tun = p->tun;
	h->geo = *geo;
	shmrt__plock_init(&h->repair_lock);
	for (i = 0; i < seg->nsems; i++)
		seg->sem[i].ctl->limit = seg->sem[i].limit;
	for (i = 0; i < seg->nqueues; i++) {
		struct shmrt__qhandle *q = &seg->q[i];

		q->ctl->max_attempts = p->queue[i].max_attempts ? p->queue[i].max_attempts : 1;
		q->ctl->job_timeout_ns = p->queue[i].job_timeout_ns;
		q->ctl->retry_backoff_ns = p->queue[i].retry_backoff_ns;
		q->ctl->idem_ttl_ns = p->queue[i].idem_ttl_ns;
		q->ctl->retention_strict = p->queue[i].retention_strict;
		shmrt__plock_init(&q->ctl->state_lock);
		for (k = 0; k <= q->ring_mask; k++)
			q->cells[k].seq = k;
		for (k = 0; k < q->capacity; k++) {
			struct shmrt__slot *s = shmrt__slot_at(q, k);

			s->lane = SHMRT__NONE;
			s->lane_next = SHMRT__NONE;
		}
		keytab_init(&q->lanes);
		keytab_init(&q->idem);
	}
	for (i = 0; i < seg->nparticipants; i++) {
		seg->parts[i].push_pos = SHMRT__POS_NONE;
		seg->parts[i].pop_pos = SHMRT__POS_NONE;
	}
	__atomic_store_n(&h->state, SHMRT__SEG_READY, __ATOMIC_RELAXED);
	__atomic_store_n(&h->init_done, 1u, __ATOMIC_RELEASE);
	return 0;
}

/* What a file type is, for messages about what sits at a segment's name. */
static const char *file_kind(mode_t mode)
{
	if (S_ISREG(mode))
		return "a regular file";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISLNK(mode))
		return "a symbolic link";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	return "not a regular file";
}

/*
 * Refuses what another local user may have planted at the segment's name:
 * opening a FIFO would block, a link would lead elsewhere.
 */
static int refuse_not_regular(const struct shmrt__seg *seg,
			      const struct stat *st)
{
	return shmrt__fail(SHMRT_E_NOTREG,
			   "/dev/shm%s is %s, not a shmrt segment (those "
			   "are regular files); it belongs to uid %ld: "
			   "remove it",
			   seg->shm_name, file_kind(st->st_mode),
			   (long)st->st_uid);
}

/*
 * Why the existing name could not be opened (errno `err`): lstat never
 * opens nor follows, so it cannot block on a planted object.
 */
static int refuse_open(const struct shmrt__seg *seg, int err)
{
	char path[16 + sizeof(seg->shm_name)];
	struct stat st;

	snprintf(path, sizeof(path), "/dev/shm%s", seg->shm_name);
	if (lstat(path, &st) != 0)
		return shmrt__fail(err == EACCES ? SHMRT_E_OWNER : SHMRT_E_SYS,
				   "shm_open %s: %s", seg->shm_name,
				   strerror(err));
	if (!S_ISREG(st.st_mode))
		return refuse_not_regular(seg, &st);
	if (err == EACCES)
		return shmrt__fail(SHMRT_E_OWNER,
				   "segment %s: permission denied (owned by "
				   "uid %ld, mode 0%o; this is uid %ld)",
				   seg->shm_name, (long)st.st_uid,
				   (unsigned)(st.st_mode & 07777),
				   (long)geteuid());
	return shmrt__fail(SHMRT_E_SYS, "shm_open %s: %s", seg->shm_name,
			   strerror(err));
}

/*
 * Sets the group and then the mode explicitly: the umask must not narrow
 * it (umask 0277 would give 0400 and lock out the owner's own workers).
 * The object was made 0600, so no one else can open it before this.
 */
static int set_mode(struct shmrt__seg *seg, const struct shmrt__seg_params *p)
{
	mode_t mode = p->mode ? p->mode : 0600;

	if (((mode & 070) && fchown(seg->fd, (uid_t)-1, p->gid) != 0) ||
	    fchmod(seg->fd, mode) != 0)
		return shmrt__fail(SHMRT_E_SYS, "set group/mode of %s: %s",
				   seg->shm_name, strerror(errno));
	return 0;
}

/* The name exists: say what holds it, without opening it. */
static int refuse_existing(const struct shmrt__seg *seg)
{
	char path[16 + sizeof(seg->shm_name)];
	struct stat st;

	snprintf(path, sizeof(path), "/dev/shm%s", seg->shm_name);
	if (lstat(path, &st) != 0)
		return shmrt__fail(SHMRT_E_EXIST, "segment %s exists (%s)",
				   seg->shm_name, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return refuse_not_regular(seg, &st);
	return shmrt__fail(SHMRT_E_EXIST,
			   "segment %s exists and is owned by uid %ld; "
			   "stop its runtime or remove it (shmrt destroy)",
			   seg->shm_name, (long)st.st_uid);
}

static int open_new_object(const char *tenant, struct shmrt__seg *seg,
			   const struct shmrt__seg_params *p)
{
	if (tenant == NULL) {
		seg->fd = memfd_create("shmrt.private",
				       MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (seg->fd < 0)
			return shmrt__fail(SHMRT_E_SYS, "memfd_create: %s",
					   strerror(errno));
		seg->fd_open = true;
		return 0;
	}
	shm_name_for(tenant, seg->shm_name, sizeof(seg->shm_name));
	seg->fd = shm_open(seg->shm_name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC,
			   0600);
	if (seg->fd >= 0) {
		seg->fd_open = true;
		return set_mode(seg, p);
	}
	if (errno == EEXIST)
		return refuse_existing(seg);
	return shmrt__fail(SHMRT_E_SYS, "shm_open %s: %s", seg->shm_name,
			   strerror(errno));
}

/* Reserves real pages: a sparse object would SIGBUS later when /dev/shm fills. */
static int size_new_object(struct shmrt__seg *seg)
{
	int rc = posix_fallocate(seg->fd, 0, (off_t)seg->size);

	if (rc == ENOSPC || rc == EFBIG)
		return shmrt__fail(SHMRT_E_NOSPC,
				   "segment %s needs %zu bytes: %s",
				   seg->shm_name, seg->size, strerror(rc));
	if (rc != 0)
		return shmrt__fail(SHMRT_E_SYS, "posix_fallocate %s: %s",
				   seg->shm_name, strerror(rc));
	if (seg->shm_name[0] == '\0')
		fcntl(seg->fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
	return 0;
}

static int map_fd(struct shmrt__seg *seg)
{
	void *p = mmap(NULL, seg->size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       seg->fd, 0);

	if (p == MAP_FAILED)
		return shmrt__fail(SHMRT_E_SYS, "mmap %s (%zu bytes): %s",
				   seg->shm_name, seg->size, strerror(errno));
	seg->base = p;
	return 0;
}

/*
 * Once mapped, a segment needs no descriptor: the mapping keeps the
 * object alive, and nothing after create, attach or adopt uses the fd.
 * Closing it means a tenant costs no file descriptor, so a process can
 * run thousands of tenants under an ordinary RLIMIT_NOFILE.
 */
static void fd_release(struct shmrt__seg *seg)
{
	if (seg->fd_open)
		close(seg->fd);
	seg->fd = -1;
	seg->fd_open = false;
}

int shmrt__seg_create(const char *tenant, const struct shmrt__seg_params *p,
		      struct shmrt__seg *out)
{
	struct shmrt__geometry geo;
	const char *why;
	int rc;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	if (tenant != NULL && !shmrt__tenant_name_valid(tenant))
		return shmrt__fail(SHMRT_E_NAME, "tenant name '%s' is invalid",
				   tenant);
	if ((rc = geometry_from_params(p, &geo)) != 0)
		return rc;
	out->size = layout_walk(&geo, NULL, &why);
	if (out->size == 0)
		return shmrt__fail(SHMRT_E_INVAL, "create: %s", why);
	if ((rc = open_new_object(tenant, out, p)) != 0) {
		if (out->fd_open)
			goto fail_unlink;
		goto fail;
	}
	if ((rc = size_new_object(out)) != 0 || (rc = map_fd(out)) != 0)
		goto fail_unlink;
	layout_walk(&geo, out, &why);
	if ((rc = init_contents(out, p, &geo)) != 0)
		goto fail_unlink;
	fd_release(out);
	return 0;

fail_unlink:
	if (out->shm_name[0] != '\0')
		shm_unlink(out->shm_name);
fail:
	shmrt__seg_detach(out);
	return rc;
}

/* Whether `gid` is the effective group or a supplementary group of ours. */
static bool in_my_groups(gid_t gid)
{
	gid_t *groups;
	int n, i;
	bool found = false;

	if (gid == getegid())
		return true;
	n = getgroups(0, NULL);
	if (n <= 0 || (groups = calloc((size_t)n, sizeof(*groups))) == NULL)
		return false;
	n = getgroups(n, groups);
	for (i = 0; i < n && !found; i++)
		found = groups[i] == gid;
	free(groups);
	return found;
}

/*
 * The file must be a regular file of ours: owned by this uid, or shared
 * read-write with a group we are in (effective or supplementary, as the
 * kernel's own permission check counts it), and closed to everyone else.
 */
static int check_file(struct shmrt__seg *seg, struct stat *st)
{
	if (fstat(seg->fd, st) != 0)
		return shmrt__fail(SHMRT_E_SYS, "fstat %s: %s", seg->shm_name,
				   strerror(errno));
	if (!S_ISREG(st->st_mode))
		return refuse_not_regular(seg, st);
	if (st->st_uid != geteuid() &&
	    !((st->st_mode & 060) == 060 && in_my_groups(st->st_gid)))
		return shmrt__fail(SHMRT_E_OWNER,
				   "segment %s is owned by uid %ld (group %ld, "
				   "mode 0%o), not %ld or a group of ours",
				   seg->shm_name, (long)st->st_uid,
				   (long)st->st_gid,
				   (unsigned)(st->st_mode & 07777),
				   (long)geteuid());
	if (st->st_mode & 07)
		return shmrt__fail(SHMRT_E_NOTREG,
				   "segment %s has mode 0%o: other users may "
				   "open it (shmrt makes 0600, or 0660 with a "
				   "group)",
				   seg->shm_name,
				   (unsigned)(st->st_mode & 07777));
	if ((size_t)st->st_size < sizeof(struct shmrt__seg_header))
		return shmrt__fail(SHMRT_E_TRUNC,
				   "segment %s is %lld bytes, smaller than its "
				   "%zu-byte header",
				   seg->shm_name, (long long)st->st_size,
				   sizeof(struct shmrt__seg_header));
	return 0;
}

/*
 * Validates a private copy of the header, field by field, in the order
 * that gives the most precise reason. Returns the total size to map.
 */
static int check_header(const struct shmrt__seg *seg,
			const struct shmrt__seg_header *h, off_t file_size)
{
	const char *n = seg->shm_name;
	const char *why;
	size_t need;

	if (h->magic != SHMRT__MAGIC)
		return shmrt__fail(SHMRT_E_MAGIC,
				   "attach %s: magic is 0x%016llx, expected "
				   "0x%016llx",
				   n, (unsigned long long)h->magic,
				   (unsigned long long)SHMRT__MAGIC);
	if (h->abi_version != SHMRT__ABI_VERSION)
		return shmrt__fail(SHMRT_E_ABI,
				   "attach %s: abi_version is %u, expected %u",
				   n, h->abi_version, SHMRT__ABI_VERSION);
	if (h->header_size != sizeof(*h))
		return shmrt__fail(SHMRT_E_HDRSIZE,
				   "attach %s: header_size is %u, expected %zu",
				   n, h->header_size, sizeof(*h));
	if (h->init_done != 1)
		return shmrt__fail(SHMRT_E_NOTREADY,
				   "attach %s: init_done is %u: the creator (pid "
				   "%d) has not finished initializing it",
				   n, h->init_done, h->creator_pid);
	need = layout_walk(&h->geo, NULL, &why);
	if (need == 0)
		return shmrt__fail(SHMRT_E_LAYOUT, "attach %s: geometry: %s", n,
				   why);
	if (h->layout_hash != shmrt__layout_hash(&h->geo))
		return shmrt__fail(SHMRT_E_LAYOUT,
				   "attach %s: layout_hash 0x%016llx does not "
				   "match the geometry (0x%016llx)",
				   n, (unsigned long long)h->layout_hash,
				   (unsigned long long)shmrt__layout_hash(&h->geo));
	if (h->total_size != need)
		return shmrt__fail(SHMRT_E_HDRSIZE,
				   "attach %s: total_size is %llu, the layout "
				   "needs %zu",
				   n, (unsigned long long)h->total_size, need);
	if ((size_t)file_size < need)
		return shmrt__fail(SHMRT_E_TRUNC,
				   "attach %s: file is %lld bytes, the layout "
				   "needs %zu (truncated)",
				   n, (long long)file_size, need);
	if ((size_t)file_size != need)
		return shmrt__fail(SHMRT_E_HDRSIZE,
				   "attach %s: file is %lld bytes, total_size "
				   "says %zu",
				   n, (long long)file_size, need);
	return 0;
}

/* Names the first field where two queue geometries differ; false if none. */
static bool queue_geo_diff(uint32_t i, const struct shmrt__queue_geo *have,
			   const struct shmrt__queue_geo *want, char *buf,
			   size_t len)
{
	static const char *const field[] = { "capacity", "slot_size",
					     "lanes", "idempotency_keys" };
	const uint32_t h[] = { have->capacity, have->slot_size, have->nlanes,
			       have->nidem };
	const uint32_t w[] = { want->capacity, want->slot_size, want->nlanes,
			       want->nidem };
	uint32_t k;

	if (strncmp(have->name, want->name, SHMRT__QUEUE_NAME_MAX) != 0) {
		snprintf(buf, len, "queue %u is '%.31s', the configuration "
			 "says '%.31s'", i, have->name, want->name);
		return true;
	}
	for (k = 0; k < sizeof(h) / sizeof(h[0]); k++) {
		if (h[k] != w[k]) {
			snprintf(buf, len, "queue %.31s: %s %u, the "
				 "configuration says %u", want->name, field[k],
				 h[k], w[k]);
			return true;
		}
	}
	if (have->sem != want->sem) {
		snprintf(buf, len, "queue %.31s: its semaphore_limit was added, "
			 "removed or moved", want->name);
		return true;
	}
	return false;
}

/* Names the first difference between the segment's geometry and the one
 * the configuration asks for, so the operator knows what changed. */
static void geo_diff(const struct shmrt__geometry *have,
		     const struct shmrt__geometry *want, char *buf, size_t len)
{
	uint32_t i;

	snprintf(buf, len, "it was made by a shmrt build with other "
		 "structure sizes");
	if (have->nqueues != want->nqueues) {
		snprintf(buf, len, "%u queues, the configuration has %u",
			 have->nqueues, want->nqueues);
		return;
	}
	if (have->nparticipants != want->nparticipants) {
		snprintf(buf, len, "%u participants, the configuration says "
			 "%u", have->nparticipants, want->nparticipants);
		return;
	}
	for (i = 0; i < have->nqueues && i < SHMRT__MAX_QUEUES; i++)
		if (queue_geo_diff(i, &have->queue[i], &want->queue[i], buf,
				   len))
			return;
	if (memcmp(have->sem, want->sem, sizeof(have->sem)) != 0 ||
	    have->nsems != want->nsems)
		snprintf(buf, len, "a semaphore_limit differs");
}

/* The segment must have exactly the layout `want` (a configuration's). */
static int check_layout_wanted(const struct shmrt__seg *seg,
			       const struct shmrt__seg_header *h,
			       const struct shmrt__geometry *want)
{
	char diff[160];

	if (h->layout_hash == shmrt__layout_hash(want))
		return 0;
	geo_diff(&h->geo, want, diff, sizeof(diff));
	return shmrt__fail(SHMRT_E_LAYOUT,
			   "segment %s has another layout than the "
			   "configuration asks for: %s",
			   seg->shm_name, diff);
}

/*
 * O_NONBLOCK: a FIFO planted at the name must not block the open (fstat
 * then refuses it); shm_open adds O_NOFOLLOW, so a link fails with ELOOP.
 */
static int open_existing(const char *tenant, struct shmrt__seg *out)
{
	shm_name_for(tenant, out->shm_name, sizeof(out->shm_name));
	out->fd = shm_open(out->shm_name, O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
	if (out->fd >= 0) {
		out->fd_open = true;
		return 0;
	}
	if (errno == ENOENT)
		return shmrt__fail(SHMRT_E_NOENT,
				   "no tenant '%s': %s does not exist", tenant,
				   out->shm_name);
	return refuse_open(out, errno);
}

/* Attach; with `want` non-NULL the layout must also be that geometry. */
static int attach_checked(const char *tenant,
			  const struct shmrt__geometry *want,
			  struct shmrt__seg *out)
{
	struct shmrt__seg_header h;
	struct stat st;
	const char *why;
	int rc;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	if (!shmrt__tenant_name_valid(tenant))
		return shmrt__fail(SHMRT_E_NAME, "tenant name '%s' is invalid",
				   tenant ? tenant : "(null)");
	if ((rc = open_existing(tenant, out)) != 0 ||
	    (rc = check_file(out, &st)) != 0)
		goto fail;
	/* Read the header with pread: no mapping exists yet to fault on. */
	if (pread(out->fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		rc = shmrt__fail(SHMRT_E_TRUNC, "attach %s: short header read",
				 out->shm_name);
		goto fail;
	}
	if ((rc = check_header(out, &h, st.st_size)) != 0 ||
	    (want != NULL && (rc = check_layout_wanted(out, &h, want)) != 0))
		goto fail;
	out->size = (size_t)st.st_size;
	if ((rc = map_fd(out)) != 0)
		goto fail;
	layout_walk(&h.geo, out, &why);
	/*
	 * The handle uses the geometry from the private copy `h`, validated
	 * above; a peer rewriting the shared header later changes nothing
	 * this process derived.
	 */
	return 0;
fail:
	shmrt__seg_detach(out);
	return rc;
}

int shmrt__seg_attach(const char *tenant, struct shmrt__seg *out)
{
	int rc = attach_checked(tenant, NULL, out);

	if (rc == 0)
		fd_release(out);
	return rc;
}

/* Whether the file lock is ours before `deadline_ns`. */
static bool lock_file(int fd, uint64_t deadline_ns)
{
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if ((errno != EWOULDBLOCK && errno != EINTR) ||
		    shmrt__os_now_ns() >= deadline_ns)
			return false;
		shmrt__os_sleep_ns(1000000);
	}
	return true;
}

void shmrt__seg_creator(const struct shmrt__seg *seg, pid_t *pid,
			uint64_t *start_time)
{
	const struct shmrt__seg_header *h = seg->hdr;
	int tries;

	/* A seqlock whose sequence is the pid; the writer holds the file
	 * lock for three stores, so a few tries see it done. */
	for (tries = 0; tries < 1000; tries++) {
		pid_t first = __atomic_load_n(&h->creator_pid, __ATOMIC_ACQUIRE);

		*start_time = __atomic_load_n(&h->creator_start_time,
					      __ATOMIC_ACQUIRE);
		*pid = __atomic_load_n(&h->creator_pid, __ATOMIC_ACQUIRE);
		if (*pid == first)
			return;
	}
	*pid = 0; /* still changing hands: nobody live to name */
}

/*
 * Makes the calling process the creator of an attached segment whose
 * recorded creator is dead. Racing adopters are serialized by an
 * exclusive flock of the file, held only for this check-and-write (the
 * kernel drops it if its holder dies): the first one finds the creator
 * dead and writes itself, the others then find it alive and refuse.
 */
static int claim_creator(struct shmrt__seg *seg, const char *tenant)
{
	struct shmrt__seg_header *h = seg->hdr;
	pid_t me = shmrt__os_pid(), pid;
	uint64_t start;
	int rc = 0;

	if (!lock_file(seg->fd, shmrt__os_now_ns() + 1000000000u))
		return shmrt__fail(SHMRT_E_EXIST, "tenant %s: another process "
				   "holds the lock of %s (taking it over?)",
				   tenant, seg->shm_name);
	shmrt__seg_creator(seg, &pid, &start);
	if (pid != me && pid != 0 && shmrt__os_proc_alive(pid, start)) {
		rc = shmrt__fail(SHMRT_E_EXIST, "tenant %s is already run by "
				 "pid %d", tenant, (int)pid);
	} else {
		/* pid 0 between: a reader never pairs one creator's pid
		 * with the other's start time (shmrt__seg_creator). */
		__atomic_store_n(&h->creator_pid, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&h->creator_start_time,
				 shmrt__os_proc_start_time(me),
				 __ATOMIC_RELEASE);
		__atomic_store_n(&h->creator_pid, me, __ATOMIC_RELEASE);
	}
	(void)flock(seg->fd, LOCK_UN);
	return rc;
}

int shmrt__seg_adopt(const char *tenant, const struct shmrt__seg_params *p,
		     struct shmrt__seg *out)
{
	struct shmrt__geometry want;
	int rc;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	if ((rc = geometry_from_params(p, &want)) != 0 ||
	    (rc = attach_checked(tenant, &want, out)) != 0)
		return rc;
	if ((rc = claim_creator(out, tenant)) != 0)
		shmrt__seg_detach(out);
	else
		fd_release(out);
	return rc;
}

void shmrt__seg_detach(struct shmrt__seg *seg)
{
	if (seg->base != NULL)
		munmap(seg->base, seg->size);
	if (seg->fd_open)
		close(seg->fd);
	seg->base = NULL;
	seg->hdr = NULL;
	seg->fd = -1;
	seg->fd_open = false;
}

int shmrt__seg_destroy(const char *tenant)
{
	char name[8 + SHMRT__TENANT_NAME_MAX];

	if (!shmrt__tenant_name_valid(tenant))
		return shmrt__fail(SHMRT_E_NAME, "tenant name '%s' is invalid",
				   tenant ? tenant : "(null)");
	shm_name_for(tenant, name, sizeof(name));
	if (shm_unlink(name) != 0)
		return errno == ENOENT
			       ? shmrt__fail(SHMRT_E_NOENT, "no tenant '%s'",
					     tenant)
			       : shmrt__fail(SHMRT_E_SYS, "shm_unlink %s: %s",
					     name, strerror(errno));
	return 0;
}

int shmrt__seg_queue_index(const struct shmrt__seg *seg, const char *name)
{
	uint32_t i;

	for (i = 0; i < seg->nqueues; i++)
		if (strncmp(seg->hdr->geo.queue[i].name, name,
			    SHMRT__QUEUE_NAME_MAX) == 0)
			return (int)i;
	return -1;
}

uint32_t shmrt__seg_state(const struct shmrt__seg *seg)
{
	return __atomic_load_n(&seg->hdr->state, __ATOMIC_ACQUIRE);
}

void shmrt__seg_set_state(struct shmrt__seg *seg, uint32_t state)
{
	uint32_t i;

	__atomic_store_n(&seg->hdr->state, state, __ATOMIC_RELEASE);
	shmrt__ec_inc(&seg->hdr->state_ec);
	/* Sleeping workers look at the state when they wake: a draining
	 * tenant's workers leave once their queue is empty. */
	for (i = 0; i < seg->nqueues; i++)
		shmrt__waitq_post_all(&seg->q[i].ctl->jobs_wq);
}
