/*
 * bench/proc.c - child processes, shared memory, names and cleanup.
 */
#define _GNU_SOURCE
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/os.h"
#include "shm/segment.h"

extern char **environ;

#define MAX_CHILDREN 64
#define MAX_NAMES    32
#define NAME_LEN     80

/*
 * What an interrupted run must undo. Written by the main thread only;
 * read by the signal handler, which only kills and unlinks.
 */
static volatile pid_t live_children[MAX_CHILDREN];
static char shm_paths[MAX_NAMES][NAME_LEN]; /* "/dev/shm/shmrt.<t>" */
static char mq_names[MAX_NAMES][NAME_LEN];
static unsigned tenant_seq;
static int is_child;
static volatile sig_atomic_t watchdog_hit;

static void on_fatal_signal(int sig)
{
	int i;

	for (i = 0; i < MAX_CHILDREN; i++)
		if (live_children[i] > 0)
			kill(live_children[i], SIGKILL);
	for (i = 0; i < MAX_NAMES; i++) {
		if (shm_paths[i][0] != '\0')
			unlink(shm_paths[i]);
		if (mq_names[i][0] != '\0')
			mq_unlink(mq_names[i]);
	}
	_exit(128 + sig);
}

void bench_proc_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* A peer that dies mid-write must not kill the benchmark. */
	signal(SIGPIPE, SIG_IGN);
}

static void track_child(pid_t pid, pid_t replace)
{
	int i;

	for (i = 0; i < MAX_CHILDREN; i++) {
		if (live_children[i] == replace) {
			live_children[i] = pid;
			return;
		}
	}
}

static int spawn_argv(struct bench_child *c, const char *path,
		      char *const *argv, const int *fds, int nfds,
		      int stdout_fd, int search)
{
	posix_spawn_file_actions_t fa;
	int i, rc;

	c->pid = 0;
	posix_spawn_file_actions_init(&fa);
	for (i = 0; i < nfds; i++)
		posix_spawn_file_actions_adddup2(&fa, fds[i],
						 BENCH_CHILD_FD + i);
	if (stdout_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, stdout_fd, 1);
	rc = search ? posix_spawnp(&c->pid, path, &fa, NULL, argv, environ)
		    : posix_spawn(&c->pid, path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		fprintf(stderr, "bench: cannot start %s: %s\n", path,
			strerror(rc));
		c->pid = 0;
		return -1;
	}
	track_child(c->pid, 0);
	return 0;
}

/* This binary's path, so children show up as shmrt_bench in ps. */
static const char *self_path(void)
{
	static char path[1024];
	ssize_t n;

	if (path[0] != '\0')
		return path;
	n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (n <= 0 || (size_t)n >= sizeof(path) - 1)
		snprintf(path, sizeof(path), "/proc/self/exe");
	else
		path[n] = '\0';
	return path;
}

int bench_spawn(struct bench_child *c, const char *name, const int *fds,
		int nfds, const char *const *args)
{
	char *argv[32];
	char ppid[24];
	int n = 0;

	if (nfds > BENCH_CHILD_MAX_FDS)
		return -1;
	snprintf(ppid, sizeof(ppid), "%d", (int)getpid());
	argv[n++] = (char *)"shmrt_bench";
	argv[n++] = (char *)"__child";
	argv[n++] = (char *)name;
	argv[n++] = ppid;
	while (args != NULL && *args != NULL && n < 31)
		argv[n++] = (char *)*args++;
	argv[n] = NULL;
	return spawn_argv(c, self_path(), argv, fds, nfds, -1, 0);
}

int bench_spawn_program(struct bench_child *c, const char *const *argv,
			int stdout_fd)
{
	return spawn_argv(c, argv[0], (char *const *)argv, NULL, 0, stdout_fd,
			  1);
}

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

int bench_child_wait(struct bench_child *c, int timeout_ms)
{
	uint64_t deadline = bench_deadline_ms((uint64_t)timeout_ms);
	int status;

	if (c->pid <= 0)
		return 0;
	for (;;) {
		pid_t r = waitpid(c->pid, &status, WNOHANG);

		if (r == c->pid)
			break;
		if (r < 0 && errno != EINTR) {
			track_child(0, c->pid);
			c->pid = 0;
			return 255;
		}
		if (bench_now_ns() >= deadline) {
			fprintf(stderr, "bench: child %d outlived its %d ms "
					"deadline; killed\n",
				(int)c->pid, timeout_ms);
			bench_child_kill(c);
			return -1;
		}
		shmrt__os_sleep_ns(500000);
	}
	track_child(0, c->pid);
	c->pid = 0;
	return exit_code(status);
}

int bench_child_poll(struct bench_child *c)
{
	int status;
	pid_t r;

	if (c->pid <= 0)
		return 0;
	r = waitpid(c->pid, &status, WNOHANG);
	if (r == 0 || (r < 0 && errno == EINTR))
		return -1;
	track_child(0, c->pid);
	c->pid = 0;
	return r < 0 ? 255 : exit_code(status);
}

void bench_child_kill(struct bench_child *c)
{
	if (c->pid <= 0)
		return;
	kill(c->pid, SIGKILL);
	while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
		;
	track_child(0, c->pid);
	c->pid = 0;
}

int bench_child_main(int argc, char **argv)
{
	const struct bench_child_entry *e;

	if (argc < 4)
		return BENCH_EX_USAGE;
	is_child = 1;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != (pid_t)strtol(argv[3], NULL, 10))
		return BENCH_EX_ORPHAN;
	alarm(BENCH_CHILD_ALARM_S);
	signal(SIGPIPE, SIG_IGN);
	for (e = bench_child_table; e->name != NULL; e++)
		if (strcmp(e->name, argv[2]) == 0)
			return e->fn(argc - 4, argv + 4);
	fprintf(stderr, "bench: unknown child %s\n", argv[2]);
	return BENCH_EX_USAGE;
}

void *bench_shared_new(size_t size, int *fd_out)
{
	int fd = memfd_create("shmrt-bench", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	void *p;

	if (fd < 0)
		return NULL;
	if (ftruncate(fd, (off_t)size) != 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0) {
		close(fd);
		return NULL;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return NULL;
	}
	*fd_out = fd;
	return p;
}

void *bench_shared_child(int index, size_t *size_out)
{
	int fd = BENCH_CHILD_FD + index;
	struct stat st;
	void *p;

	if (fstat(fd, &st) != 0 || st.st_size <= 0)
		return NULL;
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (size_out != NULL)
		*size_out = (size_t)st.st_size;
	return p;
}

void bench_shared_free(void *p, size_t size, int fd)
{
	if (p != NULL)
		munmap(p, size);
	if (fd >= 0)
		close(fd);
}

static void name_set(char table[][NAME_LEN], const char *name)
{
	int i;

	for (i = 0; i < MAX_NAMES; i++) {
		if (table[i][0] == '\0') {
			snprintf(table[i], NAME_LEN, "%s", name);
			return;
		}
	}
}

static void name_clear(char table[][NAME_LEN], const char *name)
{
	int i;

	for (i = 0; i < MAX_NAMES; i++)
		if (strcmp(table[i], name) == 0)
			table[i][0] = '\0';
}

void bench_tenant_new(char out[BENCH_TENANT_MAX])
{
	char path[NAME_LEN];

	snprintf(out, BENCH_TENANT_MAX, "bench-%d-%u", (int)getpid(),
		 tenant_seq++);
	snprintf(path, sizeof(path), "/dev/shm/shmrt.%s", out);
	name_set(shm_paths, path);
}

void bench_tenant_drop(const char *tenant)
{
	char path[NAME_LEN];

	shmrt__seg_destroy(tenant);
	snprintf(path, sizeof(path), "/dev/shm/shmrt.%s", tenant);
	name_clear(shm_paths, path);
}

void bench_mq_register(const char *name)
{
	name_set(mq_names, name);
}

void bench_mq_unregister(const char *name)
{
	name_clear(mq_names, name);
}

static void on_watchdog(int sig)
{
	(void)sig;
	watchdog_hit = 1;
}

void bench_watchdog_arm(int ms)
{
	struct sigaction sa;
	struct itimerval it;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_watchdog; /* no SA_RESTART: calls return EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	watchdog_hit = 0;
	memset(&it, 0, sizeof(it));
	it.it_value.tv_sec = ms / 1000;
	it.it_value.tv_usec = (ms % 1000) * 1000;
	/* Re-fire every 100 ms, so a call entered after the first shot
	 * is interrupted too. */
	it.it_interval.tv_usec = 100000;
	setitimer(ITIMER_REAL, &it, NULL);
}

void bench_watchdog_disarm(void)
{
	struct itimerval it;

	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	signal(SIGALRM, SIG_DFL);
	if (is_child)
		alarm(BENCH_CHILD_ALARM_S); /* the net shares the timer */
}

int bench_watchdog_fired(void)
{
	return watchdog_hit != 0;
}

uint64_t bench_now_ns(void)
{
	return shmrt__os_now_ns();
}

uint64_t bench_deadline_ms(uint64_t ms)
{
	return shmrt__os_now_ns() + ms * 1000000u;
}

int bench_task_sleeping(pid_t tid)
{
	char path[64], buf[512], *close_paren;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "pid (comm) S ...": comm may hold spaces and parentheses. */
	close_paren = strrchr(buf, ')');
	return close_paren != NULL && close_paren[1] == ' ' &&
	       close_paren[2] == 'S';
}

static uint64_t status_kb(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	return p != NULL ? strtoull(p + strlen(key), NULL, 10) : 0;
}

int bench_rss_self(struct bench_rss *out)
{
	char buf[4096];
	ssize_t n;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	memset(out, 0, sizeof(*out));
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	out->rss_kb = status_kb(buf, "VmRSS:");
	out->anon_kb = status_kb(buf, "RssAnon:");
	out->file_kb = status_kb(buf, "RssFile:");
	out->shmem_kb = status_kb(buf, "RssShmem:");
	return 0;
}
