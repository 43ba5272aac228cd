/*
 * src/shm/pause.c - named pause points (see pause.h).
 */
#include "pause.h"

#ifdef SHMRT_PAUSE_POINTS
#include <signal.h>
#include <stdbool.h>
#include <string.h>

#define PAUSE_NAME_MAX 64

static char armed_name[PAUSE_NAME_MAX];
static unsigned armed_left; /* passes until it fires; 0 = disarmed */
static enum shmrt__pause_action armed_action;

void shmrt__pause_arm(const char *name, unsigned nth,
		      enum shmrt__pause_action action)
{
	__atomic_store_n(&armed_left, 0u, __ATOMIC_RELEASE);
	if (name == NULL || nth == 0)
		return;
	strncpy(armed_name, name, sizeof(armed_name) - 1);
	armed_name[sizeof(armed_name) - 1] = '\0';
	armed_action = action;
	__atomic_store_n(&armed_left, nth, __ATOMIC_RELEASE);
}

void shmrt__pause_point(const char *name)
{
	unsigned left = __atomic_load_n(&armed_left, __ATOMIC_ACQUIRE);

	if (left == 0 || strcmp(name, armed_name) != 0)
		return;
	/* Exactly one pass (of any thread) sees the count reach zero. */
	while (left != 0 &&
	       !__atomic_compare_exchange_n(&armed_left, &left, left - 1,
					    false, __ATOMIC_ACQ_REL,
					    __ATOMIC_ACQUIRE))
		;
	if (left != 1)
		return;
	raise(armed_action == SHMRT__PAUSE_KILL ? SIGKILL : SIGSTOP);
}
#else
/* ISO C wants a translation unit to declare something. */
typedef int shmrt__pause_points_disabled;
#endif
