/*
 * src/shm/error.c - error names, messages and per-thread detail.
 */
#include "error_detail.h"

#include <shmrt/error.h>
#include <stdarg.h>
#include <stdio.h>

static const char *const shmrt__err_msgs[] = {
	"success",
#define SHMRT__EMSG(name, msg) msg,
	SHMRT_ERRNO_MAP(SHMRT__EMSG)
#undef SHMRT__EMSG
};

static const char *const shmrt__err_names[] = {
	"SHMRT_OK",
#define SHMRT__ENAME(name, msg) "SHMRT_E_" #name,
	SHMRT_ERRNO_MAP(SHMRT__ENAME)
#undef SHMRT__ENAME
};

static _Thread_local char shmrt__detail[512];

static int err_index(int err)
{
	if (err > 0 || -err >= (int)SHMRT__EI_COUNT)
		return -1;
	return -err;
}

const char *shmrt_strerror(int err)
{
	int i = err_index(err);

	return i < 0 ? "unknown error" : shmrt__err_msgs[i];
}

const char *shmrt_err_name(int err)
{
	int i = err_index(err);

	return i < 0 ? "SHMRT_E_UNKNOWN" : shmrt__err_names[i];
}

const char *shmrt_last_error(void)
{
	return shmrt__detail;
}

int shmrt__fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(shmrt__detail, sizeof(shmrt__detail), fmt, ap);
	va_end(ap);
	return err;
}
