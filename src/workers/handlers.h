/*
 * src/workers/handlers.h - the handlers of the shmrt command.
 *
 * Linked into the `shmrt` binary (and the tests that need them), never
 * into libshmrt: an embedder's library holds only the handlers it
 * registers itself, and none that kills its own process (builtin.crash).
 * They sit in the workers layer because builtin.record and builtin.crash
 * read the tenant's backend (the queue's record_file, whether this is a
 * worker process).
 *
 * Example handlers modelled on a chat service (chat, upload, exam,
 * profile) and built-ins for demos and tests (builtin.echo, builtin.fail,
 * builtin.sleep, builtin.record, builtin.crash), registered by kind into
 * the runtime's handler registry (shmrt_handler_register). Payloads of the
 * example handlers that start with "fail:" fail with the rest as the
 * error text.
 *
 *   builtin.echo    result = payload
 *   builtin.fail    fails (retried per the queue) with the payload as error
 *   builtin.sleep   sleeps payload milliseconds (decimal)
 *   builtin.record  appends "JOB_ID LANE PAYLOAD\n" to the queue's
 *                   record_file with one write ("-" for no lane)
 *   builtin.crash   SIGKILLs its worker process (worker processes only;
 *                   elsewhere fails the job for good)
 */
#ifndef SHMRT_HANDLERS_H
#define SHMRT_HANDLERS_H

/*
 * Register every shipped handler under its kind ("chat", "builtin.echo",
 * ...), replacing earlier registrations of those kinds. Idempotent and
 * thread-safe. Returns 0 or the registry's error.
 */
int shmrt__handlers_register(void);

#endif /* SHMRT_HANDLERS_H */
