/*
 * src/cli/cmd_run.c - `shmrt run`: a tenant and its workers in the
 * foreground.
 *
 * SIGINT and SIGTERM are blocked before any thread exists (threads
 * inherit the mask) and taken here with sigtimedwait. The tenant also
 * stops when it leaves the ready state by another hand (`shmrt stop`
 * from another process marks it draining).
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <shmrt/error.h>
#include <shmrt/runtime.h>
#include <shmrt/worker.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "workers/handlers.h"
#include "workers/workers.h"

static const char run_usage[] =
	"usage: shmrt run [-c FILE] [-t TENANT] [--mode inline|process] "
	"[--handlers LIB]\n"
	"Starts the tenant and its workers ([queue] workers per queue) and\n"
	"runs in the foreground until SIGINT or SIGTERM, or until\n"
	"`shmrt stop` marks the tenant draining; then drains and stops the\n"
	"workers, stops the tenant and removes its segment. A segment left\n"
	"by a runner that died is adopted (its jobs still run); one whose\n"
	"runner is alive, or whose layout the file no longer matches, is\n"
	"refused (shmrt destroy --force replaces it, losing its jobs).\n"
	"  -c, --conf FILE     configuration (default $SHMRT_CONF, then\n"
	"                      ./conf/shmrt.ini, then the installed one:\n"
	"                      shmrt --help names it)\n"
	"  -t, --tenant NAME   tenant (default: the file's first)\n"
	"  --mode MODE         inline (worker threads here, private memory)\n"
	"                      or process (worker processes; the default of\n"
	"                      [runtime] mode, or $SHMRT_MODE)\n"
	"  --handlers LIB      handler library for the workers\n"
	"Exit: 0 stopped cleanly, 1 start failed or jobs outlived the drain.\n";

/*
 * Until a signal, or the tenant leaves READY. Returns the signal or 0.
 * A signal ends the wait at once; a stop by another hand (its workers are
 * woken by it through the segment) is seen within the 1 s tick, the
 * runner's only periodic wakeup.
 */
static int run_wait(const char *tenant)
{
	struct timespec tick = { 1, 0 };
	sigset_t set;
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	while (sig <= 0) {
		sig = sigtimedwait(&set, NULL, &tick);
		if (sig <= 0 &&
		    shmrt_tenant_get_state(tenant) != SHMRT_TENANT_READY)
			break;
	}
	return sig > 0 ? sig : 0;
}

static int run_tenant(struct cli_target *t, const char *handlers)
{
	struct shmrt__workers_opts wo;
	struct shmrt__workers_info wi;
	struct shmrt_tenant_info ti;
	int rc, sig;

	if (shmrt__handlers_register() != 0 ||
	    (handlers != NULL && shmrt_handlers_load(handlers) != 0)) {
		cli_error("run", "%s", shmrt_last_error());
		return CLI_FAILED;
	}
	if (shmrt_tenant_start(t->conf.path, t->tenant) != 0) {
		cli_error("run", "%s", shmrt_last_error());
		return CLI_FAILED;
	}
	memset(&wo, 0, sizeof(wo));
	wo.process.handlers = handlers;
	if (shmrt__workers_start(t->tenant, &wo) != 0) {
		cli_error("run", "%s", shmrt_last_error());
		shmrt_tenant_stop(t->tenant);
		return CLI_FAILED;
	}
	shmrt_tenant_get_info(t->tenant, &ti);
	shmrt__workers_get_info(t->tenant, &wi);
	printf("shmrt run: tenant %s running (pid %d, %s mode, backend %s, "
	       "%u workers)\n", t->tenant, (int)getpid(),
	       ti.mode == SHMRT_MODE_PROCESS ? "process" : "inline",
	       ti.backend, wi.nworkers);
	fflush(stdout);
	sig = run_wait(t->tenant);
	printf("shmrt run: %s: draining\n",
	       sig ? strsignal(sig) : "tenant stopped from outside");
	fflush(stdout);
	rc = shmrt__workers_stop(t->tenant);
	if (shmrt_tenant_stop(t->tenant) != 0 && rc == 0)
		rc = -1;
	if (rc != 0)
		cli_error("run", "%s", shmrt_last_error());
	printf("shmrt run: tenant %s stopped\n", t->tenant);
	return rc == 0 ? CLI_OK : CLI_FAILED;
}

int cli_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "conf", required_argument, NULL, 'c' },
		{ "tenant", required_argument, NULL, 't' },
		{ "mode", required_argument, NULL, 'm' },
		{ "handlers", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct cli_target t;
	const char *mode = NULL, *handlers = NULL;
	sigset_t set;
	int c;

	while ((c = getopt_long(argc, argv, "c:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': t.conf_arg = optarg; break;
		case 't': t.tenant_arg = optarg; break;
		case 'm': mode = optarg; break;
		case 'H': handlers = optarg; break;
		case 'h': fputs(run_usage, stdout); return CLI_OK;
		default: fputs(run_usage, stderr); return CLI_USAGE;
		}
	}
	if (optind != argc)
		return cli_usage_error(run_usage, "unexpected argument '%s'",
				       argv[optind]);
	if (mode != NULL && strcmp(mode, "inline") != 0 &&
	    strcmp(mode, "process") != 0)
		return cli_usage_error(run_usage, "--mode is inline or "
				       "process, not '%s'", mode);
	if (mode != NULL) { /* still single-threaded */
		setenv("SHMRT_MODE", mode, 1);
		/* Real worker threads, not test mode (runtime.h). */
		setenv("SHMRT_TEST_MODE", "0", 1);
	}
	if ((c = cli_target_load("run", &t)) != CLI_OK)
		return c;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	return run_tenant(&t, handlers);
}
