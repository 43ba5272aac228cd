/*
 * src/shm/error.c - error names, messages and per-thread detail.
 */
#include "error_detail.h"

#include <shmrt/error.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char shmrt__detail[512];

/* A switch, not an array: the values are pinned and may have gaps. */
const char *shmrt_strerror(int err)
{
	switch (err) {
	case SHMRT_OK:
		return "success";
#define SHMRT__EMSG(name, value, msg) case value: return msg;
	SHMRT_ERRNO_MAP(SHMRT__EMSG)
#undef SHMRT__EMSG
	default:
		return "unknown error";
	}
}

const char *shmrt_err_name(int err)
{
	switch (err) {
	case SHMRT_OK:
		return "SHMRT_OK";
#define SHMRT__ENAME(name, value, msg) case value: return "SHMRT_E_" #name;
	SHMRT_ERRNO_MAP(SHMRT__ENAME)
#undef SHMRT__ENAME
	default:
		return "SHMRT_E_UNKNOWN";
	}
}

const char *shmrt_last_error(void)
{
	return shmrt__detail;
}

void shmrt__fail_clear(void)
{
	shmrt__detail[0] = '\0';
}

/*
 * Formats into a local buffer first: an argument may be
 * shmrt_last_error() itself (a caller wrapping the cause it just got),
 * and vsnprintf into the buffer it reads from is undefined behaviour.
 */
int shmrt__fail(int err, const char *fmt, ...)
{
	char msg[sizeof(shmrt__detail)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	memcpy(shmrt__detail, msg, sizeof(msg));
	return err;
}
