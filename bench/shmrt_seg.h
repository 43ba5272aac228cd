/*
 * bench/shmrt_seg.h - a benchmark's shmrt segment: parameters, creation
 * (named for process mode, a private memfd for inline mode), the
 * benchmark's own producer participant, and teardown.
 */
#ifndef SHMRT_BENCH_SHMRT_SEG_H
#define SHMRT_BENCH_SHMRT_SEG_H

#include <stdint.h>

#include "proc.h"
#include "shm/participant.h"
#include "shm/segment.h"

#define BSEG_SPIN_POLLED 200000000ull /* 200 ms: never sleeps in practice */
#define BSEG_SPIN_SLEEP	 0ull	      /* sleep at once */

struct bseg {
	char tenant[BENCH_TENANT_MAX]; /* "" for a private segment */
	struct shmrt__seg seg;
	struct shmrt__part part; /* the benchmark's producer */
	int created, joined;
};

/* One queue "q" of `capacity` slots of `slot_size` bytes. */
void bseg_params(struct shmrt__seg_params *p, uint32_t capacity,
		 uint32_t slot_size, uint64_t spin_ns);

/*
 * Create the segment (named "bench-<pid>-<n>" when `named`, else a
 * private memfd) and join it as producer and worker. Returns 0, or a
 * negative shmrt error with shmrt_last_error() telling why; nothing is
 * left behind on failure. Pair with bseg_close.
 */
int bseg_open(struct bseg *b, const struct shmrt__seg_params *p, int named);

/* Leave, detach, and remove the name. Safe after a failed open. */
void bseg_close(struct bseg *b);

/* "<what failed>: <shmrt error name>: <detail>" for failure rows. */
const char *bseg_why(int rc);

#endif /* SHMRT_BENCH_SHMRT_SEG_H */
