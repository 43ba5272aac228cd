/*
 * bench/ipc.c - what users would otherwise use between two processes on
 * one host: a pipe pair, a Unix stream socket, a POSIX message queue.
 *
 * Each is a ping-pong of 64-byte messages (a job's payload size in the
 * shmrt workloads) with a blocking receive on both sides, so every
 * handoff is a kernel wakeup; a sample is half a round trip. A message
 * whose first byte is 'S' stops the echoing child.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "proc.h"
#include "results.h"

#define MSG	       64
#define RUN_MS	       120000 /* the whole ping-pong, either side */
#define CHILD_EXIT_MS  10000
#define MQ_CALL_MS     10000

/* Read or write exactly MSG bytes; -1 on error, EOF or the watchdog. */
static int xfer(int fd, unsigned char *buf, int writing)
{
	size_t done = 0;

	while (done < MSG) {
		ssize_t n = writing ? write(fd, buf + done, MSG - done)
				    : read(fd, buf + done, MSG - done);

		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR && !bench_watchdog_fired())
			continue;
		return -1;
	}
	return 0;
}

static struct timespec mq_deadline(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += MQ_CALL_MS / 1000;
	return ts;
}

/* One message through a channel: fds, or the two queues. */
struct chan {
	int in, out; /* fds; -1 for mq */
	mqd_t mq_in, mq_out;
};

static int chan_send(const struct chan *ch, unsigned char *buf)
{
	struct timespec ts;

	if (ch->out >= 0)
		return xfer(ch->out, buf, 1);
	ts = mq_deadline();
	return mq_timedsend(ch->mq_out, (const char *)buf, MSG, 0, &ts);
}

static int chan_recv(const struct chan *ch, unsigned char *buf)
{
	struct timespec ts;

	if (ch->in >= 0)
		return xfer(ch->in, buf, 0);
	ts = mq_deadline();
	return mq_timedreceive(ch->mq_in, (char *)buf, MSG, NULL, &ts) == MSG
		       ? 0
		       : -1;
}

/* argv: kind ("pipe", "unix", "mq") [mq request name, mq reply name] */
int bench_ipc_child(int argc, char **argv)
{
	struct chan ch = { BENCH_CHILD_FD, BENCH_CHILD_FD, (mqd_t)-1,
			   (mqd_t)-1 };
	unsigned char buf[MSG];
	int rc = BENCH_EX_OK;

	if (argc < 1)
		return BENCH_EX_USAGE;
	if (strcmp(argv[0], "pipe") == 0) {
		ch.out = BENCH_CHILD_FD + 1;
	} else if (strcmp(argv[0], "mq") == 0) {
		if (argc < 3)
			return BENCH_EX_USAGE;
		ch.in = ch.out = -1;
		ch.mq_in = mq_open(argv[1], O_RDONLY | O_CLOEXEC);
		ch.mq_out = mq_open(argv[2], O_WRONLY | O_CLOEXEC);
		if (ch.mq_in == (mqd_t)-1 || ch.mq_out == (mqd_t)-1)
			return BENCH_EX_SETUP;
	}
	bench_watchdog_arm(RUN_MS);
	for (;;) {
		if (chan_recv(&ch, buf) != 0) {
			rc = BENCH_EX_TIMEOUT;
			break;
		}
		if (buf[0] == 'S')
			break;
		if (chan_send(&ch, buf) != 0) {
			rc = BENCH_EX_TIMEOUT;
			break;
		}
	}
	bench_watchdog_disarm();
	return rc;
}

static int pingpong(const struct chan *ch, uint64_t warmup,
		    struct bench_samples *s)
{
	unsigned char buf[MSG];
	uint64_t i, total = warmup + s->cap;
	int rc = 0;

	memset(buf, 'j', sizeof(buf));
	bench_watchdog_arm(RUN_MS);
	for (i = 0; i < total && rc == 0; i++) {
		uint64_t t0 = bench_now_ns();

		rc = chan_send(ch, buf);
		if (rc == 0)
			rc = chan_recv(ch, buf);
		if (rc == 0 && i >= warmup)
			bench_samples_add(s, (bench_now_ns() - t0) / 2);
	}
	buf[0] = 'S';
	if (chan_send(ch, buf) != 0)
		rc = -1;
	bench_watchdog_disarm();
	return rc;
}

/* Start the echo child, ping-pong, reap it; record the row. */
static void run_chan(const char *row, const struct chan *ch, const int *fds,
		     int nfds, const char *const *args, uint64_t n)
{
	struct bench_child child;
	struct bench_samples s;
	int rc = -1, i;

	if (bench_samples_init(&s, n) != 0) {
		bench_record_failure(G_IPC, row, "out of memory");
		return;
	}
	if (bench_spawn(&child, "ipc", fds, nfds, args) == 0) {
		for (i = 0; i < nfds; i++)
			close(fds[i]); /* the child's ends: EOF if we die */
		rc = pingpong(ch, n / 10 + 50, &s);
		if (bench_child_wait(&child, CHILD_EXIT_MS) != 0)
			rc = -1;
	}
	if (rc == 0)
		bench_ref(bench_record_latency(G_IPC, row, &s), G_FLOORS,
			  R_FUTEX_FLOOR, "futex floor");
	else
		bench_record_failure(G_IPC, row, "ping-pong broke: %s",
				     strerror(errno));
	bench_samples_free(&s);
}

static void run_pipe(uint64_t n)
{
	int p2c[2], c2p[2], fds[2];
	const char *args[] = { "pipe", NULL };
	struct chan ch;

	if (pipe2(p2c, O_CLOEXEC) != 0 || pipe2(c2p, O_CLOEXEC) != 0) {
		bench_record_failure(G_IPC, "pipe pair", "pipe2: %s",
				     strerror(errno));
		return;
	}
	ch = (struct chan){ c2p[0], p2c[1], (mqd_t)-1, (mqd_t)-1 };
	fds[0] = p2c[0];
	fds[1] = c2p[1];
	run_chan("pipe pair", &ch, fds, 2, args, n);
	close(p2c[1]);
	close(c2p[0]);
}

static void run_unix(uint64_t n)
{
	const char *args[] = { "unix", NULL };
	struct chan ch;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		bench_record_failure(G_IPC, "unix stream socket",
				     "socketpair: %s", strerror(errno));
		return;
	}
	ch = (struct chan){ sv[0], sv[0], (mqd_t)-1, (mqd_t)-1 };
	run_chan("unix stream socket", &ch, &sv[1], 1, args, n);
	close(sv[0]);
}

static void run_mq(uint64_t n)
{
	struct mq_attr attr = { .mq_maxmsg = 8, .mq_msgsize = MSG };
	char req[64], rep[64];
	const char *args[] = { "mq", req, rep, NULL };
	struct chan ch = { -1, -1, (mqd_t)-1, (mqd_t)-1 };

	snprintf(req, sizeof(req), "/shmrt-bench-%d-req", (int)getpid());
	snprintf(rep, sizeof(rep), "/shmrt-bench-%d-rep", (int)getpid());
	bench_mq_register(req);
	bench_mq_register(rep);
	ch.mq_out = mq_open(req, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC,
			    0600, &attr);
	ch.mq_in = mq_open(rep, O_CREAT | O_EXCL | O_RDONLY | O_CLOEXEC,
			   0600, &attr);
	if (ch.mq_out == (mqd_t)-1 || ch.mq_in == (mqd_t)-1)
		bench_record_skip(G_IPC, "posix message queue",
				  "mq_open: %s", strerror(errno));
	else
		run_chan("posix message queue", &ch, NULL, 0, args, n);
	if (ch.mq_out != (mqd_t)-1)
		mq_close(ch.mq_out);
	if (ch.mq_in != (mqd_t)-1)
		mq_close(ch.mq_in);
	mq_unlink(req);
	mq_unlink(rep);
	bench_mq_unregister(req);
	bench_mq_unregister(rep);
}

void bench_ipc(const struct bench_cfg *c)
{
	uint64_t n = bench_n(c, 300, 50000);

	bench_group(G_IPC, "alternatives: one-way latency of a 64-byte message "
			   "between two processes");
	bench_progress("alternatives: pipe ping-pong");
	run_pipe(n);
	bench_progress("alternatives: unix socket ping-pong");
	run_unix(n);
	bench_progress("alternatives: posix mq ping-pong");
	run_mq(n);
}
