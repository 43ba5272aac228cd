"""shmrt.worker - Python worker threads and the worker process.

    python3 -m shmrt worker app:rt -q upload [-q chat] [-n THREADS]
    shmrt-py worker app:rt -q upload

imports module `app` (from the current directory, or --path), takes its
Runtime `rt` (whose handlers the import registered) and runs THREADS
threads of shmrt_worker_run per queue: the same worker loop as the C
workers, so Python workers run beside `shmrt worker` processes on one
tenant. Each thread waits in C with the GIL released and takes the GIL
only while a handler runs.

SIGTERM or SIGINT: the workers finish the job they run and leave (a warm
stop); a second one exits at once (the jobs they ran are then taken back
by the tenant's scan). The process also leaves when the tenant drains.
Exit status: 0 left cleanly, 1 a worker failed, 2 usage error, 3 the app
or its tenant cannot be loaded.
"""
import argparse
import importlib
import os
import signal
import sys
import threading
import time

from ._native import ffi, lib
from .errors import error_for
from .runtime import Runtime

_JOIN_SLICE_S = 0.1


class Worker:
    """Worker threads for queues of a Runtime. start(); stop() asks them
    to leave after their current job; join(timeout) waits; errors lists
    the shmrt.Error of each thread that failed."""

    def __init__(self, runtime, queues, threads=1):
        if isinstance(queues, str):
            queues = [queues]
        if not queues or threads < 1:
            raise ValueError("a worker needs a queue and at least 1 thread")
        self.runtime = runtime
        self.queues = [runtime._queue(q) for q in queues]
        self.nthreads = threads
        self._stop = ffi.new("int *")
        self._threads = []
        self.errors = []

    def _serve(self, queue):
        rc = lib.shmrt_worker_run(self.runtime._name, queue, self._stop)
        if rc < 0:
            self.errors.append(error_for(rc))

    def start(self):
        for q in self.queues:
            for i in range(self.nthreads):
                t = threading.Thread(target=self._serve, args=(q,),
                                     name="shmrt-%s-%d" % (q.decode(), i),
                                     daemon=True)
                t.start()
                self._threads.append(t)
        return self

    def stop(self):
        """Ask every thread to leave once its current job is done (a store
        the loop reads atomically; it looks at least every 100 ms)."""
        self._stop[0] = 1

    def alive(self):
        return any(t.is_alive() for t in self._threads)

    def join(self, timeout=None):
        """Wait (in slices, so signal handlers run) until every thread has
        left; True if they all did before the timeout."""
        deadline = None if timeout is None else \
            time.monotonic() + timeout
        for t in self._threads:
            while t.is_alive():
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                t.join(_JOIN_SLICE_S)
        return True


def load_app(spec, path):
    """'module:attr' -> the Runtime it names."""
    mod_name, _, attr = spec.partition(":")
    if not mod_name or not attr:
        raise ValueError("app must be MODULE:RUNTIME, e.g. app:rt")
    sys.path.insert(0, path)
    rt = getattr(importlib.import_module(mod_name), attr)
    if not isinstance(rt, Runtime):
        raise TypeError("%s is a %s, not a shmrt.Runtime"
                        % (spec, type(rt).__name__))
    return rt


def run_worker(args):
    try:
        rt = load_app(args.app, args.path)
        w = Worker(rt, args.queue, args.threads)
    except Exception as e:  # the app's own import errors too
        print("shmrt-py worker: cannot load %s: %s: %s"
              % (args.app, type(e).__name__, e), file=sys.stderr)
        return 3
    signals = []

    def on_signal(signum, frame):
        signals.append(signum)
        if len(signals) > 1:
            os._exit(1)
        w.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    w.start()
    print("shmrt-py worker %d: tenant %s, queues %s, %d thread(s) each"
          % (os.getpid(), rt.name, ",".join(args.queue), args.threads),
          file=sys.stderr, flush=True)
    w.join()
    for e in w.errors:
        print("shmrt-py worker: %s" % e, file=sys.stderr)
    rt.close()
    print("shmrt-py worker %d: left (%s)" % (
        os.getpid(), "signal %d" % signals[0] if signals else
        "tenant drained"), file=sys.stderr, flush=True)
    return 1 if w.errors else 0


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="shmrt-py", description="Python workers for shmrt tenants.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    wp = sub.add_parser("worker", help="run Python handlers of an app")
    wp.add_argument("app", help="MODULE:RUNTIME, e.g. app:rt")
    wp.add_argument("-q", "--queue", action="append", required=True,
                    help="a queue to serve (repeat for more)")
    wp.add_argument("-n", "--threads", type=int, default=1,
                    help="worker threads per queue (default 1)")
    wp.add_argument("--path", default=os.getcwd(),
                    help="directory to import MODULE from (default: .)")
    args = ap.parse_args(argv)
    if args.threads < 1:
        ap.error("--threads must be at least 1")
    return run_worker(args)
