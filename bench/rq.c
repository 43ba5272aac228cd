/*
 * bench/rq.c - RQ, the system users would otherwise run: bench/rq_job.py
 * under /usr/bin/python3 (Debian's python3-rq) against the benchmark's
 * redis-server. The script does the measuring (see its docstring); this
 * side starts it with a deadline, reads its lines and records the rows:
 * the burst workers' jobs/s (the forking Worker and SimpleWorker, and
 * the better of the two), and enqueue->start / enqueue->result seen
 * latencies from one-job-at-a-time runs with a worker process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "proc.h"
#include "results.h"

#define OUT_MAX (1u << 20)

struct rq_out {
	char *text;
	size_t len;
};

/* Read the script's stdout until EOF or the deadline. */
static int read_all(int fd, struct rq_out *o, uint64_t deadline)
{
	o->text = malloc(OUT_MAX);
	o->len = 0;
	if (o->text == NULL)
		return -1;
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		uint64_t now = bench_now_ns();
		ssize_t n;

		if (now >= deadline || o->len + 1 >= OUT_MAX)
			return -1;
		if (poll(&p, 1, (int)((deadline - now) / 1000000 + 1)) < 0 &&
		    errno != EINTR)
			return -1;
		if (!(p.revents & (POLLIN | POLLHUP)))
			continue;
		n = read(fd, o->text + o->len, OUT_MAX - 1 - o->len);
		if (n == 0)
			break;
		if (n < 0 && errno != EINTR)
			return -1;
		if (n > 0)
			o->len += (size_t)n;
	}
	o->text[o->len] = '\0';
	return 0;
}

/* Run the script; its output in *o. 0, or -1 with a reason. */
static int run_script(const struct bench_cfg *c, struct rq_out *o,
		      uint64_t jobs, uint64_t lat_jobs, const char **why)
{
	char port[16], n[24], m[24];
	const char *argv[] = { c->python, c->rq_script, "bench", port, n, m,
			       NULL };
	uint64_t deadline = bench_deadline_ms(c->smoke ? 60000 : 600000);
	struct bench_child child;
	int fds[2], rc;

	snprintf(port, sizeof(port), "%d", c->redis_port);
	snprintf(n, sizeof(n), "%llu", (unsigned long long)jobs);
	snprintf(m, sizeof(m), "%llu", (unsigned long long)lat_jobs);
	if (pipe2(fds, O_CLOEXEC) != 0) {
		*why = "pipe2 failed";
		return -1;
	}
	rc = bench_spawn_program(&child, argv, fds[1]);
	close(fds[1]);
	if (rc == 0)
		rc = read_all(fds[0], o, deadline);
	close(fds[0]);
	if (bench_child_wait(&child, 10000) != 0 || rc != 0) {
		*why = "rq_job.py failed or timed out (its stderr is above)";
		return -1;
	}
	return 0;
}

/* Parse "key value" lines into rows. */
static void record(const char *text, uint64_t lat_jobs)
{
	struct bench_samples start, seen;
	double worker_rate = 0, simple_rate = 0, enqueue_rate = 0;
	const char *const rates[] = { R_RQ_RATE, R_RQ_SIMPLE };
	const char *line = text;
	int done = 0;

	bench_samples_init(&start, lat_jobs);
	bench_samples_init(&seen, lat_jobs);
	while (line != NULL && *line != '\0') {
		unsigned long long v;
		double d;

		if (sscanf(line, "start_ns %llu", &v) == 1)
			bench_samples_add(&start, v);
		else if (sscanf(line, "result_ns %llu", &v) == 1)
			bench_samples_add(&seen, v);
		else if (sscanf(line, "worker_rate %lf", &d) == 1)
			worker_rate = d;
		else if (sscanf(line, "simple_worker_rate %lf", &d) == 1)
			simple_rate = d;
		else if (sscanf(line, "enqueue_rate %lf", &d) == 1)
			enqueue_rate = d;
		else if (strncmp(line, "done", 4) == 0)
			done = 1;
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	if (!done || worker_rate <= 0 || simple_rate <= 0 || start.n == 0) {
		bench_record_failure(G_TPUT_BASE, R_RQ_RATE,
				     "rq_job.py output incomplete");
	} else {
		bench_note(bench_record_rate(G_TPUT_BASE, R_RQ_RATE,
					     worker_rate),
			   "enqueue alone: %.0f jobs/s", enqueue_rate);
		bench_record_rate(G_TPUT_BASE, R_RQ_SIMPLE, simple_rate);
		bench_record_best_rate(G_TPUT_BASE, R_RQ_BEST, rates, 2);
		bench_ref(bench_record_latency(G_IPC, "rq enqueue->start",
					       &start),
			  G_FLOORS, R_FUTEX_FLOOR, "futex floor");
		bench_ref(bench_record_latency(G_IPC,
					       "rq enqueue->result seen (polled)",
					       &seen),
			  G_FLOORS, R_FUTEX_FLOOR, "futex floor");
	}
	bench_samples_free(&start);
	bench_samples_free(&seen);
}

void bench_rq(const struct bench_cfg *c)
{
	uint64_t jobs = bench_n(c, 20, 500), lat_jobs = bench_n(c, 5, 200);
	struct rq_out o = { NULL, 0 };
	const char *why = NULL;

	bench_group(G_TPUT_BASE, "throughput baselines: 1 producer process, "
				 "consumer processes, 64-byte entries");
	if (c->redis_port <= 0) {
		bench_record_skip(G_TPUT_BASE, "rq",
				  "no redis-server: pass --redis-port or run "
				  "scripts/bench.sh");
		return;
	}
	if (access(c->python, X_OK) != 0 || access(c->rq_script, R_OK) != 0) {
		bench_record_skip(G_TPUT_BASE, "rq", "%s or %s not found",
				  c->python, c->rq_script);
		return;
	}
	bench_progress("rq: %llu jobs, burst worker, then %llu one at a time",
		       (unsigned long long)jobs, (unsigned long long)lat_jobs);
	if (run_script(c, &o, jobs, lat_jobs, &why) != 0)
		bench_record_failure(G_TPUT_BASE, R_RQ_RATE, "%s", why);
	else if (strncmp(o.text, "skip ", 5) == 0)
		bench_record_skip(G_TPUT_BASE, "rq", "%.*s",
				  (int)strcspn(o.text + 5, "\n"), o.text + 5);
	else
		record(o.text, lat_jobs);
	free(o.text);
}
