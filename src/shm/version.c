/*
 * src/shm/version.c - the library's own version, for callers that were
 * compiled against other headers.
 */
#include <shmrt/version.h>

unsigned int shmrt_version(void)
{
	return SHMRT_VERSION_HEX;
}

const char *shmrt_version_string(void)
{
	return SHMRT_VERSION_STRING;
}
