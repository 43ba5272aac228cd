/*
 * src/runtime/runtime_manager.h - tenant start and stop.
 *
 * The public side is shmrt_tenant_start/attach/stop/detach/info
 * (shmrt/runtime.h). Per tenant name the manager keeps a record: whether
 * the tenant runs here, the reference to its backend, and its entry in
 * the process's one scan thread (tenant_scanner.h), which scans every
 * tenant started here every [runtime] scan_interval_ms. There is no
 * fixed limit on tenants per process. Start and stop of one tenant are
 * serialized by the record's mutex; different tenants start and stop in
 * parallel.
 *
 * The manager never calls into the workers: a stop works through the
 * tenant's shared state (draining, then stopped), which workers in any
 * process watch, finishing their job and leaving.
 */
#ifndef SHMRT_RUNTIME_MANAGER_H
#define SHMRT_RUNTIME_MANAGER_H

/*
 * Stop every tenant running here, then empty the backend cache (tests:
 * a clean slate between cases). Returns the first error of a stop, or 0.
 */
int shmrt__tenants_reset(void);

#endif /* SHMRT_RUNTIME_MANAGER_H */
