/*
 * bench/bench.h - the workloads of shmrt_bench and the names they share.
 *
 * Each workload is one function that measures, records its rows
 * (results.h) and returns; a missing peer is a skipped row, a broken
 * measurement a failed row. Peer processes are this binary again
 * (proc.h); their entries are the *_child functions below.
 *
 * Row names that other rows or the goals refer to are macros here, so a
 * ratio cannot silently lose its baseline to a typo.
 */
#ifndef SHMRT_BENCH_H
#define SHMRT_BENCH_H

#include <stdbool.h>
#include <stdint.h>

struct bench_cfg {
	bool smoke;		/* tiny counts: every workload in seconds */
	int redis_port;		/* 0: no redis-server */
	const char *python;	/* the interpreter that has python3-rq */
	const char *rq_script;	/* bench/rq_job.py */
	const char *out_dir;	/* JSON, plot data, plot */
	const char *shmrt_exe;	/* the shmrt command (runner.h) */
	const char *conf;	/* the default configuration, conf/shmrt.ini */
};

/* Pick the smoke or the full count. */
static inline uint64_t bench_n(const struct bench_cfg *c, uint64_t smoke,
			       uint64_t full)
{
	return c->smoke ? smoke : full;
}

/* ------------------------------------------------- groups and rows */
#define G_FLOORS      "floors"
#define R_SPIN_FLOOR  "spin handoff, 1 cache line"
#define R_FUTEX_FLOOR "futex wake, not private"

#define G_IPC	      "alternatives latency"
#define R_REDIS_PING  "redis LPUSH/BRPOP ping-pong"

#define G_TPUT_BASE    "throughput baselines"
#define R_RING_SPSC    "ck_ring SPSC, 1 -> 1"
#define R_RING_MPMC    "ck_ring MPMC, 1 -> 1"
#define R_RING_MPMC2   "ck_ring MPMC, 1 -> 2"
#define R_REDIS_SINGLE "redis LPUSH/BRPOP, 1 client each"
#define R_REDIS_PIPE   "redis LPUSH/BRPOP, pipelined x64"
#define R_REDIS_BEST1  "redis, best with one job per command"
#define R_REDIS_BEST   "redis, best configuration above"
#define R_RQ_RATE      "rq burst Worker (forks a work horse per job)"
#define R_RQ_SIMPLE    "rq burst SimpleWorker (no fork)"
#define R_RQ_BEST      "rq, best configuration above"

#define G_LATENCY	  "shmrt latency"
#define R_LAT_SPIN_FLOOR  "spin floor, measured alongside"
#define R_LAT_FUTEX_FLOOR "futex floor, measured alongside"
#define R_LAT_SPIN_START  "enqueue->start, spinning worker, process"
#define R_LAT_SLEEP_START "enqueue->start, sleeping worker, process"
#define R_LAT_PUB_SPIN	  "enqueue->start, spinning worker, public API"

#define G_TPUT	       "shmrt throughput"
#define R_TPUT_RING    "ck_ring MPMC 1 -> 1, measured alongside"

#define G_API	      "shmrt throughput, public API"
#define R_API_RING    "ck_ring MPMC 1 -> 1, measured alongside"
#define R_API_1W      "1 -> 1 worker process"
#define R_API_2W      "1 -> 2 worker processes"
#define R_API_LANED1  "1 -> 1 worker process, 50 lanes"
#define R_API_LANED2  "1 -> 2 worker processes, 50 lanes"
#define R_API_FIRE    "1 -> 1 worker process, fire-and-forget"

#define G_WAKE		"shmrt idle-tenant latency"
#define R_WAKE_START1	"enqueue->start, 1 worker asleep"
#define R_WAKE_START6	"enqueue->start, 6 workers asleep"
#define R_WAKE_SEEN1	"enqueue->result seen, 1 worker asleep"
#define R_WAKE_SEEN6	"enqueue->result seen, 6 workers asleep"

#define G_IDLE	      "idle tenant"
#define R_IDLE_WAKE   "default tenant idle: wakeups"
#define R_IDLE_CPU    "default tenant idle: CPU"

#define G_RB	  "shmrt redis backend"
#define R_RB_LAT  "enqueue->start, redis backend, worker on host 2"
#define R_RB_TPUT "redis backend, 4 producers -> 4 workers on host 2"

#define G_DEPTH "shmrt cost vs depth"
#define G_LANES "shmrt cost vs lanes"
#define G_IDEM	"shmrt cost vs idempotency fill"
#define G_OVER	"oversubscription"
#define G_MEM	"memory"

/* ---------------------------------------------------------- workloads */
void bench_floors(const struct bench_cfg *c);
void bench_ipc(const struct bench_cfg *c);
void bench_ring(const struct bench_cfg *c);
void bench_redis(const struct bench_cfg *c);
void bench_rq(const struct bench_cfg *c);
void bench_shmrt_latency(const struct bench_cfg *c);
void bench_shmrt_throughput(const struct bench_cfg *c);
void bench_shmrt_api(const struct bench_cfg *c);
void bench_shmrt_wake(const struct bench_cfg *c);
void bench_shmrt_idle(const struct bench_cfg *c);
void bench_shmrt_depth(const struct bench_cfg *c);
void bench_shmrt_keys(const struct bench_cfg *c);
void bench_shmrt_oversub(const struct bench_cfg *c);
void bench_shmrt_memory(const struct bench_cfg *c);
void bench_shmrt_tenants(const struct bench_cfg *c);
void bench_shmrt_redis(const struct bench_cfg *c);

/*
 * Baselines that other workloads measure again, interleaved with their
 * own rounds, so that a ratio compares figures taken minutes apart on a
 * machine whose vCPU placement drifts (see bench/README.md).
 */
struct bench_samples;
/* Append n one-way samples of a spin (futex 0) or futex ping-pong. */
int bench_floor_measure(int futex, uint64_t n, struct bench_samples *s);
/* Move n entries through ck_ring 1 -> ncons; the elapsed ns. */
int bench_ring_measure(int mpmc, int ncons, uint64_t n, uint64_t *elapsed);

/*
 * The raw ring (ck_ring MPMC 1 -> 1) measured once per round of another
 * workload, beside its configurations: add one round (`what` names the
 * workload in the progress line), then record the rate over all rounds
 * as row `row` of `group` (a failed row if a round broke). A round moves
 * BENCH_RING_ROUND entries (smoke: 20,000): at tens of millions a second
 * a shorter one is a few milliseconds, which one preemption halves.
 */
#define BENCH_RING_ROUND 4000000
struct bench_ring_rounds {
	uint64_t entries, ns;
	int rounds, failed;
};
void bench_ring_round(struct bench_ring_rounds *rr, const struct bench_cfg *c,
		      const char *what);
void bench_ring_record(const struct bench_ring_rounds *rr, const char *group,
		       const char *row);

/*
 * Record a shmrt throughput row of `group`: jobs over ns, with its ratios
 * to the raw ring measured alongside (`ring_row` of the same group) and
 * to the best configurations of Redis (batched, and one job per
 * command) and RQ.
 */
struct bench_result;
struct bench_result *bench_record_shmrt_rate(const char *group,
					     const char *row, uint64_t jobs,
					     uint64_t ns, const char *ring_row);

/* ------------------------------------------------------ child entries */
int bench_floors_child(int argc, char **argv);
int bench_ipc_child(int argc, char **argv);
int bench_ring_child(int argc, char **argv);
int bench_redis_child(int argc, char **argv);
int bench_worker_child(int argc, char **argv);
int bench_oversub_child(int argc, char **argv);
int bench_mutex_ring_child(int argc, char **argv);
int bench_rss_child(int argc, char **argv);
int bench_exec_child(int argc, char **argv);
int bench_tick_child(int argc, char **argv);
int bench_shmrt_redis_child(int argc, char **argv);

#endif /* SHMRT_BENCH_H */
