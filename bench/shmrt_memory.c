/*
 * bench/shmrt_memory.c - what shmrt costs in memory.
 *
 *   segment size   shmrt__layout_size() of a geometry per configured
 *                  capacity and slot size (and with lane and key tables):
 *                  the exact bytes a tenant's segment takes, fixed at
 *                  creation, posix_fallocate'd, never grown;
 *   worker RSS     VmRSS of a worker process after it ran jobs, split
 *                  into its own memory (RssAnon + RssFile) and the
 *                  segment pages it touched (RssShmem), next to the RSS
 *                  of an idle process of the same binary.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "results.h"
#include "shm/job.h"
#include "shmrt_seg.h"
#include "shmrt_worker.h"

#define CHILD_EXIT_MS 10000

/* Ring cells for a capacity, as the segment lays them out (segment.c):
 * a power of two, at least twice the slots. */
static uint32_t ring_cells(uint32_t capacity)
{
	uint32_t cells = 2;

	while (cells < 2u * capacity)
		cells <<= 1;
	return cells;
}

/* One row: the layout size of the template with this queue geometry.
 * Returns the size (0 when the geometry is rejected). */
static size_t size_row(const struct shmrt__geometry *tmpl, uint32_t capacity,
		       uint32_t slot_size, uint32_t nlanes, uint32_t nidem,
		       size_t plain)
{
	struct shmrt__geometry geo = *tmpl;
	uint32_t entries = nlanes + nidem;
	struct bench_result *r;
	char row[96];
	size_t size;

	geo.queue[0].capacity = capacity;
	geo.queue[0].slot_size = slot_size;
	geo.queue[0].ring_cells = ring_cells(capacity);
	geo.queue[0].nlanes = nlanes;
	geo.queue[0].nidem = nidem;
	snprintf(row, sizeof(row), "segment, %u slots of %u B%s%s", capacity,
		 slot_size, nlanes ? ", 100k lanes" : "",
		 nidem ? ", 100k keys" : "");
	size = shmrt__layout_size(&geo);
	if (size == 0) {
		bench_record_failure(G_MEM, row, "geometry rejected");
		return 0;
	}
	r = bench_record_value(G_MEM, row, "bytes", (double)size);
	if (entries != 0 && plain != 0 && size > plain)
		bench_note(r, "%.0f B per table entry",
			   (double)(size - plain) / entries);
	else
		bench_note(r, "%.0f B per slot", (double)size / capacity);
	return size;
}

static void segment_sizes(void)
{
	struct shmrt__seg_params p;
	const struct shmrt__geometry *geo;
	struct bseg b;
	size_t plain = 0;
	uint32_t cap;
	int rc;

	bseg_params(&p, 1000, BW_PAYLOAD, 0);
	if ((rc = bseg_open(&b, &p, 0)) != 0) {
		bench_record_failure(G_MEM, "segment sizes", "%s", bseg_why(rc));
		return;
	}
	geo = &b.seg.hdr->geo;
	for (cap = 1000; cap <= 1000000; cap *= 10) {
		size_t size = size_row(geo, cap, BW_PAYLOAD, 0, 0, 0);

		if (cap == 10000)
			plain = size;
	}
	size_row(geo, 10000, 1024, 0, 0, 0);
	size_row(geo, 10000, BW_PAYLOAD, 100000, 0, plain);
	size_row(geo, 10000, BW_PAYLOAD, 0, 100000, plain);
	bseg_close(&b);
}

/* An idle process of this binary reports its RSS. */
int bench_rss_child(int argc, char **argv)
{
	struct bench_rss *out = bench_shared_child(0, NULL);

	(void)argc;
	(void)argv;
	if (out == NULL)
		return BENCH_EX_SETUP;
	return bench_rss_self(out) == 0 ? BENCH_EX_OK : BENCH_EX_SETUP;
}

static int idle_rss(struct bench_rss *out)
{
	struct bench_child child;
	struct bench_rss *sh;
	int fd, rc = -1;

	sh = bench_shared_new(sizeof(*sh), &fd);
	if (sh == NULL)
		return -1;
	if (bench_spawn(&child, "rss", &fd, 1, NULL) == 0 &&
	    bench_child_wait(&child, CHILD_EXIT_MS) == 0) {
		*out = *sh;
		rc = 0;
	}
	bench_shared_free(sh, sizeof(*sh), fd);
	return rc;
}

/* A process worker runs n jobs; its RSS afterwards. */
static int worker_rss(uint64_t n, struct bench_rss *out, size_t *seg_size)
{
	struct shmrt__seg_params p;
	struct bw_payload pl;
	struct bw_set ws;
	shmrt_job_id id;
	struct bseg b;
	uint64_t i;
	int rc;

	bseg_params(&p, 10000, BW_PAYLOAD, BSEG_SPIN_SLEEP);
	if ((rc = bseg_open(&b, &p, 1)) != 0)
		return rc;
	*seg_size = b.seg.size;
	rc = bw_start(&ws, &b.seg, b.tenant, 1, BW_RELEASE);
	bw_payload_init(&pl, BW_JOB, 0, 0);
	for (i = 0; i < n && rc == 0; i++)
		rc = shmrt__job_enqueue(&b.part, 0, &pl, sizeof(pl),
					bench_deadline_ms(CHILD_EXIT_MS), &id);
	if (ws.reps != NULL) {
		if (bw_stop(&ws, &b.part) != 0 && rc == 0)
			rc = -1;
		*out = ws.reps[0].rss;
		bw_free(&ws);
	}
	bseg_close(&b);
	return rc;
}

static void rss_rows(uint64_t n)
{
	struct bench_rss idle, w;
	struct bench_result *r;
	size_t seg_size = 0;
	char row[96];

	if (idle_rss(&idle) != 0) {
		bench_record_failure(G_MEM, "idle process RSS", "no report");
		return;
	}
	bench_note(bench_record_value(G_MEM, "idle process RSS (this binary)",
				      "kB", (double)idle.rss_kb),
		   "anon %llu kB, file %llu kB",
		   (unsigned long long)idle.anon_kb,
		   (unsigned long long)idle.file_kb);
	if (worker_rss(n, &w, &seg_size) != 0) {
		bench_record_failure(G_MEM, "worker RSS", "worker failed");
		return;
	}
	snprintf(row, sizeof(row), "worker RSS after %llu jobs",
		 (unsigned long long)n);
	r = bench_record_value(G_MEM, row, "kB", (double)w.rss_kb);
	bench_ref(r, G_MEM, "idle process RSS (this binary)", "idle process");
	bench_note(r, "anon %llu kB, file %llu kB, shared %llu kB of a "
		      "%zu kB segment",
		   (unsigned long long)w.anon_kb, (unsigned long long)w.file_kb,
		   (unsigned long long)w.shmem_kb, seg_size / 1024);
}

void bench_shmrt_memory(const struct bench_cfg *c)
{
	bench_group(G_MEM, "memory: segment size per configuration, and "
			   "worker RSS");
	bench_progress("memory: segment sizes");
	segment_sizes();
	bench_progress("memory: worker RSS");
	rss_rows(bench_n(c, 2000, 100000));
}
