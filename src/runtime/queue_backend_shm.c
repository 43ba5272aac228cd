/*
 * src/runtime/queue_backend_shm.c - the shared-memory ring backend.
 */
#define _GNU_SOURCE
#include "queue_backend_shm.h"

#include <sched.h>
#include <stdio.h>
#include <shmrt/error.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime_state.h"
#include "shm/error_detail.h"
#include "shm/job.h"
#include "shm/os.h"
#include "shm/participant.h"
#include "shm/scan.h"
#include "shm/segment.h"

#define POOL_MAX 8u
/* How long a borrower waits for a free pool seat before SHMRT_E_NOPART. */
#define POOL_WAIT_NS 2000000000ull
/* How long adopting a segment waits for the repair lock to scan it. */
#define ADOPT_SCAN_NS 2000000000ull

_Static_assert(sizeof(struct shmrt__lease) <= SHMRT__BE_LEASE_IMPL,
	       "a shm lease must fit in struct shmrt__be_lease");
_Static_assert(SHMRT__BE_KEY_MAX == SHMRT__KEY_MAX, "key sizes agree");

/* One seat of the producer pool: a participant record and who uses it. */
struct pool_seat {
	struct shmrt__part part;
	int joined; /* set once by the holder (release), after part.index */
	int busy;   /* 0 free, 1 held: taken with a CAS, freed with release */
};

struct shm_backend {
	struct shmrt__backend base;
	struct shmrt__seg seg;
	bool created;
	uint32_t npool;
	struct pool_seat pool[POOL_MAX];
};

struct shmrt__consumer {
	struct shmrt__part part;
};

static struct shm_backend *shm_of(struct shmrt__backend *be)
{
	return (struct shm_backend *)(void *)be;
}

/* ---------------------------------------------------------------- pool */

static int seat_take(struct shm_backend *b, struct pool_seat *s)
{
	int rc, expect = 0;

	if (!__atomic_compare_exchange_n(&s->busy, &expect, 1, false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return SHMRT_E_AGAIN;
	if (!s->joined) {
		rc = shmrt__part_join(&b->seg, SHMRT__ROLE_PRODUCER |
						       SHMRT__ROLE_REAPER,
				      &s->part);
		if (rc != 0) {
			__atomic_store_n(&s->busy, 0, __ATOMIC_RELEASE);
			return rc;
		}
		__atomic_store_n(&s->joined, 1, __ATOMIC_RELEASE);
	}
	shmrt__part_heartbeat(&s->part);
	return 0;
}

/*
 * Where this thread starts looking for a free seat: numbered once per
 * thread, so threads spread out (and no system call on every enqueue, as
 * asking the kernel for the thread id would be).
 */
static uint32_t seat_start(void)
{
	static uint32_t next_thread;
	static __thread uint32_t mine;

	if (mine == 0)
		mine = __atomic_add_fetch(&next_thread, 1, __ATOMIC_RELAXED);
	return mine;
}

/*
 * Borrow a participant seat. Seats are tried from one picked per thread,
 * so threads spread out; when all are busy the caller yields until one
 * frees or POOL_WAIT_NS passes. Pair with seat_put.
 */
static int seat_get(struct shm_backend *b, struct pool_seat **out)
{
	uint64_t deadline = 0;
	uint32_t start = seat_start(), i;
	int rc = SHMRT_E_AGAIN;

	for (;;) {
		for (i = 0; i < b->npool; i++) {
			struct pool_seat *s = &b->pool[(start + i) % b->npool];

			rc = seat_take(b, s);
			if (rc == 0) {
				*out = s;
				return 0;
			}
			if (rc != SHMRT_E_AGAIN)
				break;
		}
		if (deadline == 0)
			deadline = shmrt__os_now_ns() + POOL_WAIT_NS;
		if (shmrt__os_now_ns() > deadline)
			break;
		sched_yield();
	}
	if (rc == SHMRT_E_AGAIN)
		rc = SHMRT_E_NOPART;
	return shmrt__fail(rc, "tenant %s: no participant record for this "
			   "thread: %s (raise [runtime] participants)",
			   b->base.tenant, shmrt_strerror(rc));
}

static void seat_put(struct pool_seat *s)
{
	__atomic_store_n(&s->busy, 0, __ATOMIC_RELEASE);
}

static bool seat_is_ours(const struct shm_backend *b, uint32_t index)
{
	uint32_t i;

	for (i = 0; i < b->npool; i++)
		if (__atomic_load_n(&b->pool[i].joined, __ATOMIC_ACQUIRE) &&
		    b->pool[i].part.index == index)
			return true;
	return false;
}

/* ------------------------------------------------------------ producers */

static int shm_enqueue(struct shmrt__backend *be, uint32_t qi,
		       const struct shmrt__enqueue_req *req, shmrt_job_id *id)
{
	struct shm_backend *b = shm_of(be);
	struct shmrt__submit sub = {
		.payload = req->payload,
		.len = req->len,
		.lane = req->lane,
		.lane_len = req->lane_len,
		.key = req->key,
		.key_len = req->key_len,
		.deadline_ns = req->deadline_ns,
	};
	struct pool_seat *s;
	int rc;

	if ((rc = seat_get(b, &s)) != 0)
		return rc;
	rc = shmrt__job_submit(&s->part, qi, &sub, id);
	seat_put(s);
	return rc == SHMRT__SUBMIT_EXISTING ? SHMRT_ENQUEUE_EXISTING : rc;
}

static int shm_cancel(struct shmrt__backend *be, shmrt_job_id id)
{
	struct shm_backend *b = shm_of(be);
	struct pool_seat *s;
	int rc;

	if ((rc = seat_get(b, &s)) != 0)
		return rc;
	rc = shmrt__job_cancel(&s->part, id);
	seat_put(s);
	return rc == SHMRT__CANCEL_REQUESTED ? SHMRT_CANCEL_REQUESTED : rc;
}

static int shm_status(struct shmrt__backend *be, shmrt_job_id id,
		      struct shmrt_job_info *info, void *buf, size_t bufsize)
{
	return shmrt__job_status(&shm_of(be)->seg, id, info, buf, bufsize);
}

static int shm_wait(struct shmrt__backend *be, shmrt_job_id id,
		    uint64_t deadline_ns, struct shmrt_job_info *info,
		    void *buf, size_t bufsize)
{
	return shmrt__job_wait(&shm_of(be)->seg, id, deadline_ns, info, buf,
			       bufsize);
}

static int shm_release(struct shmrt__backend *be, shmrt_job_id id)
{
	return shmrt__job_release(&shm_of(be)->seg, id);
}

/* -------------------------------------------------------------- workers */

static int shm_consumer_open(struct shmrt__backend *be,
			     struct shmrt__consumer **out)
{
	struct shmrt__consumer *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL)
		return shmrt__fail(SHMRT_E_NOMEM, "consumer: out of memory");
	rc = shmrt__part_join(&shm_of(be)->seg, SHMRT__ROLE_WORKER, &c->part);
	if (rc != 0) {
		free(c);
		return shmrt__fail(rc, "tenant %s: worker cannot join: %s",
				   be->tenant, shmrt_strerror(rc));
	}
	*out = c;
	return 0;
}

static void shm_consumer_close(struct shmrt__backend *be,
			       struct shmrt__consumer *c)
{
	(void)be;
	if (c == NULL)
		return;
	shmrt__part_leave(&c->part);
	free(c);
}

static void shm_heartbeat(struct shmrt__backend *be, struct shmrt__consumer *c)
{
	(void)be;
	shmrt__part_heartbeat(&c->part);
}

static struct shmrt__lease *impl_of(struct shmrt__be_lease *l)
{
	return (struct shmrt__lease *)(void *)l->impl;
}

static const struct shmrt__lease *impl_of_c(const struct shmrt__be_lease *l)
{
	return (const struct shmrt__lease *)(const void *)l->impl;
}

static int shm_lease(struct shmrt__backend *be, struct shmrt__consumer *c,
		     uint32_t qi, void *buf, size_t bufsize,
		     uint64_t deadline_ns, struct shmrt__be_lease *out)
{
	struct shmrt__lease *l = impl_of(out);
	int rc;

	(void)be;
	rc = shmrt__job_lease(&c->part, qi, buf, bufsize, deadline_ns, l);
	if (rc != 0)
		return rc;
	out->id = l->id;
	out->queue = l->queue;
	out->attempt = l->attempt;
	out->payload_len = l->payload_len;
	out->enqueue_ns = l->enqueue_ns;
	out->token = l->token;
	out->lane_len = l->lane_key_len <= SHMRT__BE_KEY_MAX ? l->lane_key_len
							     : 0;
	memcpy(out->lane, l->lane_key, out->lane_len);
	return 0;
}

static int shm_complete(struct shmrt__backend *be, struct shmrt__consumer *c,
			const struct shmrt__be_lease *l, const void *result,
			size_t len)
{
	(void)be;
	return shmrt__job_complete(&c->part, impl_of_c(l), result, len);
}

static int shm_fail(struct shmrt__backend *be, struct shmrt__consumer *c,
		    const struct shmrt__be_lease *l, const char *err,
		    size_t len, int retry)
{
	(void)be;
	return shmrt__job_fail(&c->part, impl_of_c(l), err, len, retry);
}

static bool shm_cancel_requested(struct shmrt__backend *be,
				 const struct shmrt__be_lease *l)
{
	return shmrt__job_cancel_requested(&shm_of(be)->seg, impl_of_c(l));
}

static bool shm_lease_valid(struct shmrt__backend *be,
			    const struct shmrt__be_lease *l)
{
	return shmrt__job_lease_valid(&shm_of(be)->seg, impl_of_c(l));
}

/* ----------------------------------------------------------- inspection */

static int shm_depth(struct shmrt__backend *be, uint32_t qi,
		     struct shmrt_queue_stats *st)
{
	const struct shmrt__qhandle *q = &shm_of(be)->seg.q[qi];
	const struct shmrt__queue *ctl = q->ctl;
	uint32_t i;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < q->capacity; i++) {
		uint64_t w = __atomic_load_n(&shmrt__slot_at(q, i)->word,
					     __ATOMIC_RELAXED);

		switch (shmrt__w_state(w)) {
		case SHMRT__S_QUEUED: st->queued++; break;
		case SHMRT__S_RUNNING:
		case SHMRT__S_COMPLETING: st->running++; break;
		case SHMRT__S_SUCCEEDED:
		case SHMRT__S_FAILED:
		case SHMRT__S_CANCELLED: st->finished++; break;
		default: break;
		}
	}
	st->enqueued = __atomic_load_n(&ctl->n_enqueued, __ATOMIC_RELAXED);
	st->succeeded = __atomic_load_n(&ctl->n_succeeded, __ATOMIC_RELAXED);
	st->failed = __atomic_load_n(&ctl->n_failed, __ATOMIC_RELAXED);
	st->retried = __atomic_load_n(&ctl->n_retried, __ATOMIC_RELAXED);
	st->reclaimed = __atomic_load_n(&ctl->n_reclaimed, __ATOMIC_RELAXED);
	st->cancelled = __atomic_load_n(&ctl->n_cancelled, __ATOMIC_RELAXED);
	st->deduplicated = __atomic_load_n(&ctl->n_idem_hits, __ATOMIC_RELAXED);
	st->evicted = __atomic_load_n(&ctl->n_evicted, __ATOMIC_RELAXED);
	return 0;
}

static int shm_failed(struct shmrt__backend *be, uint32_t qi,
		      struct shmrt_failed_job *out, size_t max)
{
	const struct shmrt__seg *seg = &shm_of(be)->seg;
	const struct shmrt__qhandle *q = &seg->q[qi];
	uint32_t i;
	size_t n = 0;

	for (i = 0; i < q->capacity && n < max; i++) {
		uint64_t w = __atomic_load_n(&shmrt__slot_at(q, i)->word,
					     __ATOMIC_ACQUIRE);

		if (shmrt__w_state(w) != SHMRT__S_FAILED)
			continue;
		if (shmrt__backend_failed_entry(be, shmrt__id_make(qi, i,
							shmrt__w_gen(w)),
						&out[n]))
			n++;
	}
	return (int)n;
}

static int shm_finished_times(struct shmrt__backend *be, uint32_t qi,
			      struct shmrt__be_times *out, size_t max)
{
	const struct shmrt__seg *seg = &shm_of(be)->seg;
	const struct shmrt__qhandle *q = &seg->q[qi];
	struct shmrt_job_info info;
	uint32_t i;
	size_t n = 0;

	for (i = 0; i < q->capacity && n < max; i++) {
		uint64_t w = __atomic_load_n(&shmrt__slot_at(q, i)->word,
					     __ATOMIC_ACQUIRE);

		if (!shmrt__state_final(shmrt__w_state(w)) ||
		    shmrt__job_status(seg,
				      shmrt__id_make(qi, i, shmrt__w_gen(w)),
				      &info, NULL, 0) != 0 ||
		    !shmrt__state_final((uint32_t)info.state))
			continue; /* moved on meanwhile */
		out[n].enqueue_ns = info.enqueue_ns;
		out[n].start_ns = info.start_ns;
		out[n++].finish_ns = info.finish_ns;
	}
	return (int)n;
}

/* What worker record i is doing; `owner` is its owner word, non-zero. */
static void worker_of(const struct shmrt__seg *seg, uint32_t i,
		      uint64_t owner, uint64_t now,
		      struct shmrt_worker_info *w)
{
	const struct shmrt__participant *r = &seg->parts[i];
	uint64_t hb = __atomic_load_n(&r->heartbeat_ns, __ATOMIC_RELAXED);
	uint64_t token = __atomic_load_n(&r->lease_token, __ATOMIC_ACQUIRE);
	shmrt_job_id job = { __atomic_load_n(&r->held_job, __ATOMIC_ACQUIRE) };
	uint32_t qi;

	/* held_job counts only under a lease token (written last, cleared
	 * first; a lease CAS that lost leaves held_job behind), read on both
	 * sides of it as scan does. */
	if (token == 0 ||
	    __atomic_load_n(&r->lease_token, __ATOMIC_ACQUIRE) != token)
		job.v = 0;
	qi = shmrt__id_queue(job);

	memset(w, 0, sizeof(*w));
	w->pid = shmrt__owner_pid(owner);
	w->heartbeat_age_ns = hb != 0 && now > hb ? now - hb : 0;
	/* a held id naming no queue is corrupt: reported as no job */
	w->job.v = job.v != 0 && qi < seg->nqueues ? job.v : 0;
	w->queue = w->job.v != 0 ? (int32_t)qi : -1;
	if (!shmrt__part_owner_alive(owner))
		w->state = SHMRT_WORKER_DEAD;
	else if (shmrt__part_hung(seg, i, now))
		w->state = SHMRT_WORKER_HUNG;
	else
		w->state = w->job.v != 0 ? SHMRT_WORKER_BUSY
					 : SHMRT_WORKER_IDLE;
}

static int shm_workers(struct shmrt__backend *be,
		       struct shmrt_worker_info *out, size_t max)
{
	const struct shmrt__seg *seg = &shm_of(be)->seg;
	uint64_t now = shmrt__os_now_ns();
	uint32_t i;
	int n = 0;

	for (i = 0; i < seg->nparticipants; i++) {
		const struct shmrt__participant *r = &seg->parts[i];
		uint64_t owner = __atomic_load_n(&r->owner, __ATOMIC_ACQUIRE);
		uint32_t role = __atomic_load_n(&r->role, __ATOMIC_RELAXED);

		if (owner == 0 || !(role & SHMRT__ROLE_WORKER))
			continue;
		if ((size_t)n < max)
			worker_of(seg, i, owner, now, &out[n]);
		n++;
	}
	return n;
}

static int shm_scan(struct shmrt__backend *be, uint64_t deadline_ns,
		    struct shmrt_scan_stats *st)
{
	struct shm_backend *b = shm_of(be);
	struct shmrt__scan_report r;
	struct pool_seat *s;
	int rc;

	memset(&r, 0, sizeof(r));
	if ((rc = seat_get(b, &s)) != 0)
		return rc;
	rc = shmrt__scan(&s->part, deadline_ns, &r);
	seat_put(s);
	if (st != NULL) {
		memset(st, 0, sizeof(*st));
		st->dead_participants = r.dead_participants;
		st->jobs_requeued = r.jobs_requeued;
		st->jobs_failed = r.jobs_failed;
		st->cells_repaired = r.cells_tombstoned + r.cells_released;
		st->jobs_expired = r.jobs_expired;
	}
	return rc;
}

/* ------------------------------------------------------------ lifecycle */

static int shm_state(struct shmrt__backend *be)
{
	return (int)shmrt__seg_state(&shm_of(be)->seg);
}

static void shm_set_state(struct shmrt__backend *be, int state)
{
	shmrt__seg_set_state(&shm_of(be)->seg, (uint32_t)state);
}

static uint32_t shm_peers(struct shmrt__backend *be)
{
	const struct shm_backend *b = shm_of(be);
	uint32_t i, n = 0;

	for (i = 0; i < b->seg.nparticipants; i++)
		if (__atomic_load_n(&b->seg.parts[i].owner,
				    __ATOMIC_ACQUIRE) != 0 &&
		    !seat_is_ours(b, i))
			n++;
	return n;
}

static void shm_runner(struct shmrt__backend *be, int32_t *pid, bool *alive)
{
	pid_t p;
	uint64_t start;

	shmrt__seg_creator(&shm_of(be)->seg, &p, &start);
	*pid = (int32_t)p;
	*alive = p > 0 && shmrt__os_proc_alive(p, start);
}

static void shm_retire(struct shmrt__backend *be)
{
	struct shm_backend *b = shm_of(be);

	if (b->created && b->seg.shm_name[0] != '\0')
		shmrt__seg_destroy(be->tenant);
	b->created = false;
}

static void shm_close(struct shmrt__backend *be)
{
	struct shm_backend *b = shm_of(be);
	uint32_t i;

	for (i = 0; i < b->npool; i++)
		if (b->pool[i].joined)
			shmrt__part_leave(&b->pool[i].part);
	shmrt__seg_detach(&b->seg);
	free(b);
}

static const struct shmrt__backend_ops shm_ops = {
	.enqueue = shm_enqueue,
	.cancel = shm_cancel,
	.status = shm_status,
	.wait = shm_wait,
	.release = shm_release,
	.consumer_open = shm_consumer_open,
	.consumer_close = shm_consumer_close,
	.heartbeat = shm_heartbeat,
	.lease = shm_lease,
	.complete = shm_complete,
	.fail = shm_fail,
	.cancel_requested = shm_cancel_requested,
	.lease_valid = shm_lease_valid,
	.depth = shm_depth,
	.failed = shm_failed,
	.scan = shm_scan,
	.finished_times = shm_finished_times,
	.workers = shm_workers,
	.state = shm_state,
	.set_state = shm_set_state,
	.runner = shm_runner,
	.peers = shm_peers,
	.retire = shm_retire,
	.close = shm_close,
};

/* ------------------------------------------------------------- creation */

static struct shm_backend *backend_new(const struct shmrt_conf *conf,
				       uint32_t tenant)
{
	struct shm_backend *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->base.ops = &shm_ops;
	b->base.name = "shm";
	b->base.conf = *conf;
	b->base.mode = SHMRT_MODE_PROCESS;
	snprintf(b->base.tenant, sizeof(b->base.tenant), "%s",
		 conf->tenant[tenant].name);
	return b;
}

/* The queues the segment has must be the configuration's, in order. */
static int check_queues(struct shm_backend *b)
{
	uint32_t i;

	if (b->seg.nqueues != b->base.conf.nqueues)
		return shmrt__fail(SHMRT_E_CONF,
				   "segment of tenant %s has %u queues, the "
				   "configuration %s names %u",
				   b->base.tenant, b->seg.nqueues,
				   b->base.conf.path, b->base.conf.nqueues);
	for (i = 0; i < b->seg.nqueues; i++)
		if (strcmp(b->seg.hdr->geo.queue[i].name,
			   b->base.conf.queue[i].name) != 0)
			return shmrt__fail(SHMRT_E_CONF,
					   "segment of tenant %s: queue %u is "
					   "'%.31s', the configuration says "
					   "'%s'",
					   b->base.tenant, i,
					   b->seg.hdr->geo.queue[i].name,
					   b->base.conf.queue[i].name);
	return 0;
}

static void pool_size(struct shm_backend *b)
{
	uint32_t n = b->seg.nparticipants / 4;

	b->npool = n < 1 ? 1 : n > POOL_MAX ? POOL_MAX : n;
}

/*
 * The tenant's segment exists: adopt it, never replace it, because the
 * jobs it holds were accepted. The segment layer checks that it is one
 * of ours with this configuration's layout and that its runner is dead,
 * and makes us its creator. A layout that differs is refused with the way
 * out; nothing is removed behind the operator's back, and never while
 * other participants may be attached.
 */
static int adopt_segment(struct shm_backend *b,
			 const struct shmrt__seg_params *p)
{
	const char *t = b->base.tenant;
	int rc = shmrt__seg_adopt(t, p, &b->seg);

	if (rc == 0 || rc == SHMRT_E_EXIST)
		return rc;
	if (rc == SHMRT_E_LAYOUT)
		return shmrt__fail(rc, "tenant %s: %s; its jobs are kept: run "
				   "it with the configuration it was made "
				   "with, or replace it (its jobs are lost) "
				   "with: shmrt destroy --force -t %s",
				   t, shmrt_last_error(), t);
	return shmrt__fail(rc, "/dev/shm/shmrt.%s exists and is not usable: "
			   "%s", t, shmrt_last_error());
}

static int make_segment(struct shm_backend *b, const char *name,
			bool *adopted)
{
	struct shmrt__seg_params p;
	int rc;

	if ((rc = shmrt__state_params(&b->base.conf, 0, &p)) != 0)
		return rc;
	rc = shmrt__seg_create(name, &p, &b->seg);
	*adopted = rc == SHMRT_E_EXIST && name != NULL;
	if (*adopted)
		rc = adopt_segment(b, &p);
	return rc;
}

/*
 * An adopted segment goes on: a scan reclaims what the dead runner and
 * its dead workers held (their records, cells, running jobs, permits),
 * and the state is READY whatever the dead runner left (ready, draining
 * or stopped): a stop was the dead runner's, this start asks to serve. A
 * scan that cannot finish now (another reaper is busy) is left to the
 * periodic scanner, which starts with the tenant.
 */
static void resume_adopted(struct shm_backend *b)
{
	(void)shm_scan(&b->base, shmrt__os_now_ns() + ADOPT_SCAN_NS, NULL);
	shm_set_state(&b->base, SHMRT__BE_READY);
}

/* Everything create and private share: conf -> params -> segment. */
static int open_created(const struct shmrt_conf *conf, uint32_t tenant,
			bool named, struct shmrt__backend **out)
{
	struct shm_backend *b = backend_new(conf, tenant);
	struct shmrt_conf *c;
	bool adopted;
	int rc;

	if (b == NULL)
		return shmrt__fail(SHMRT_E_NOMEM, "backend: out of memory");
	/* state_params reads tenant 0: make this tenant the only one. */
	c = &b->base.conf;
	c->tenant[0] = conf->tenant[tenant];
	c->ntenants = 1;
	rc = make_segment(b, named ? b->base.tenant : NULL, &adopted);
	if (rc != 0) {
		free(b);
		return rc;
	}
	b->created = named;
	b->base.owner = true;
	pool_size(b);
	if (adopted)
		resume_adopted(b);
	*out = &b->base;
	return 0;
}

int shmrt__backend_shm_create(const struct shmrt_conf *conf, uint32_t tenant,
			      struct shmrt__backend **out)
{
	return open_created(conf, tenant, true, out);
}

int shmrt__backend_shm_private(const struct shmrt_conf *conf,
			       uint32_t tenant, struct shmrt__backend **out)
{
	return open_created(conf, tenant, false, out);
}

int shmrt__backend_shm_attach(const struct shmrt_conf *conf, uint32_t tenant,
			      struct shmrt__backend **out)
{
	struct shm_backend *b = backend_new(conf, tenant);
	int rc;

	if (b == NULL)
		return shmrt__fail(SHMRT_E_NOMEM, "backend: out of memory");
	rc = shmrt__seg_attach(b->base.tenant, &b->seg);
	if (rc == 0 && (rc = check_queues(b)) != 0)
		shmrt__seg_detach(&b->seg);
	if (rc != 0) {
		free(b);
		return rc;
	}
	pool_size(b);
	*out = &b->base;
	return 0;
}

/* Live participants of a segment nobody here has joined. */
static uint32_t live_participants(const struct shmrt__seg *seg)
{
	uint32_t i, n = 0;

	for (i = 0; i < seg->nparticipants; i++) {
		uint64_t owner = __atomic_load_n(&seg->parts[i].owner,
						 __ATOMIC_ACQUIRE);

		n += owner != 0 && shmrt__part_owner_alive(owner);
	}
	return n;
}

/* Whether the segment is in use: its creator or a participant lives. */
static int destroy_check(const char *tenant, const struct shmrt__seg *seg)
{
	pid_t pid = 0;
	uint64_t start = 0;
	bool creator;
	uint32_t live;

	shmrt__seg_creator(seg, &pid, &start);
	creator = pid != 0 && shmrt__os_proc_alive(pid, start);
	live = live_participants(seg);
	if (!creator && live == 0)
		return 0;
	return shmrt__fail(SHMRT_E_BUSY, "tenant %s is running (creator pid "
			   "%d %s, %u live participants): stop it first, or "
			   "force", tenant, (int)pid,
			   creator ? "alive" : "gone", live);
}

int shmrt__backend_shm_destroy(const char *tenant, bool force)
{
	struct shmrt__seg seg;
	int rc;

	memset(&seg, 0, sizeof(seg));
	rc = shmrt__seg_attach(tenant, &seg);
	if (rc == SHMRT_E_NOENT || rc == SHMRT_E_NAME || (rc != 0 && !force))
		return rc;
	if (rc == 0) {
		rc = destroy_check(tenant, &seg);
		shmrt__seg_detach(&seg);
		if (rc != 0 && !force)
			return rc;
	}
	return shmrt__seg_destroy(tenant);
}
