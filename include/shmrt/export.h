/*
 * shmrt/export.h - symbol visibility for the public API.
 *
 * The library is built with -fvisibility=hidden; only declarations marked
 * SHMRT_API are exported from libshmrt.so. SHMRT_STATIC is defined by users
 * of the static library (and by shmrt's own tests of internals), where no
 * visibility attribute is wanted.
 */
#ifndef SHMRT_EXPORT_H
#define SHMRT_EXPORT_H

#if defined(SHMRT_STATIC)
#define SHMRT_API
#elif defined(__GNUC__)
#define SHMRT_API __attribute__((visibility("default")))
#else
#define SHMRT_API
#endif

#endif /* SHMRT_EXPORT_H */
