/*
 * shmrt/version.h - the version of the shmrt API and library.
 *
 * The one home of the version: CMakeLists.txt reads these three numbers
 * for project(VERSION), so the shared library's name (libshmrt.so.MAJOR),
 * shmrt.pc and the CMake package carry the same version. Before 1.0 a
 * MINOR release may change the API and ABI; from 1.0 on only a MAJOR
 * release does.
 */
#ifndef SHMRT_VERSION_H
#define SHMRT_VERSION_H

#include <shmrt/export.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHMRT_VERSION_MAJOR 0
#define SHMRT_VERSION_MINOR 1
#define SHMRT_VERSION_PATCH 0

#define SHMRT__VERSION_STR(x) #x
#define SHMRT__VERSION_XSTR(x) SHMRT__VERSION_STR(x)

/* "MAJOR.MINOR.PATCH" of these headers. */
#define SHMRT_VERSION_STRING                                                  \
	SHMRT__VERSION_XSTR(SHMRT_VERSION_MAJOR) "."                          \
	SHMRT__VERSION_XSTR(SHMRT_VERSION_MINOR) "."                          \
	SHMRT__VERSION_XSTR(SHMRT_VERSION_PATCH)

/* One number that orders versions: 0xMMmmpp (0.1.0 is 0x000100). */
#define SHMRT_VERSION_HEX                                                     \
	((SHMRT_VERSION_MAJOR << 16) | (SHMRT_VERSION_MINOR << 8) |           \
	 SHMRT_VERSION_PATCH)

/*
 * The version of the library actually loaded, as SHMRT_VERSION_HEX, which
 * may differ from the headers a program was compiled with (a newer
 * libshmrt.so of the same MAJOR). Thread-safe; never fails.
 */
SHMRT_API unsigned int shmrt_version(void);

/* The same as "MAJOR.MINOR.PATCH"; static storage. Thread-safe. */
SHMRT_API const char *shmrt_version_string(void);

#ifdef __cplusplus
}
#endif

#endif /* SHMRT_VERSION_H */
