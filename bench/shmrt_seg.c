/*
 * bench/shmrt_seg.c - create and tear down a benchmark's segment.
 */
#define _GNU_SOURCE
#include "shmrt_seg.h"

#include <shmrt/error.h>
#include <stdio.h>
#include <string.h>

void bseg_params(struct shmrt__seg_params *p, uint32_t capacity,
		 uint32_t slot_size, uint64_t spin_ns)
{
	memset(p, 0, sizeof(*p));
	p->nqueues = 1;
	p->nparticipants = 16;
	p->queue[0].name = "q";
	p->queue[0].capacity = capacity;
	p->queue[0].slot_size = slot_size;
	p->queue[0].max_attempts = 1;
	p->tun.spin_ns = spin_ns;
	p->tun.retention_ns = 3600ull * 1000000000u;
}

int bseg_open(struct bseg *b, const struct shmrt__seg_params *p, int named)
{
	int rc;

	memset(b, 0, sizeof(*b));
	if (named)
		bench_tenant_new(b->tenant);
	rc = shmrt__seg_create(named ? b->tenant : NULL, p, &b->seg);
	if (rc != 0) {
		bseg_close(b);
		return rc;
	}
	b->created = 1;
	rc = shmrt__part_join(&b->seg,
			      SHMRT__ROLE_PRODUCER | SHMRT__ROLE_WORKER,
			      &b->part);
	if (rc != 0) {
		bseg_close(b);
		return rc;
	}
	b->joined = 1;
	return 0;
}

void bseg_close(struct bseg *b)
{
	if (b->joined)
		shmrt__part_leave(&b->part);
	if (b->created)
		shmrt__seg_detach(&b->seg);
	if (b->tenant[0] != '\0')
		bench_tenant_drop(b->tenant);
	b->joined = b->created = 0;
	b->tenant[0] = '\0';
}

const char *bseg_why(int rc)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "%s: %s", shmrt_err_name(rc),
		 shmrt_last_error());
	return buf;
}
