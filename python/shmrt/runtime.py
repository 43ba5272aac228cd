"""shmrt.runtime - a tenant and its jobs, shaped after RQ.

    rt = shmrt.Runtime("demo", conf="conf/shmrt.ini")

    @rt.handler("upload")
    def upload(payload, run):
        return b"%d bytes" % len(payload)

    job = rt.enqueue("upload", b"...", key="req-42")
    job.wait(5)            # "succeeded", "failed" or "cancelled"
    job.result, job.error

Every blocking call (enqueue on a full queue, wait, stop) is a call into
libshmrt, and cffi releases the GIL for the duration of each call: other
Python threads run meanwhile. With SHMRT_MODE=inline (test mode) the
thread that waits runs the jobs itself, with their Python handlers.
"""
import os

from . import handlers
from ._native import ffi, lib
from .errors import check, error_for

# One C wait lasts at most this long, so that a Python signal handler
# (Ctrl-C) runs between two waits without losing a wakeup: each wait
# re-reads the job's state.
_WAIT_SLICE_MS = 200
_UINT32_MAX = 0xFFFFFFFF
_RESULT_BUF = 4096

_STATES = {lib.SHMRT_JOB_QUEUED: "queued", lib.SHMRT_JOB_RUNNING: "running",
           lib.SHMRT_JOB_SUCCEEDED: "succeeded",
           lib.SHMRT_JOB_FAILED: "failed",
           lib.SHMRT_JOB_CANCELLED: "cancelled"}
FINAL = ("succeeded", "failed", "cancelled")


def _cstr(value, what, required=True):
    """A str argument as NUL-free UTF-8 bytes (None stays None unless
    required)."""
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise TypeError("%s must be str, not %s"
                        % (what, type(value).__name__))
    b = value.encode()
    if b"\0" in b:
        raise ValueError("%s must not contain NUL" % what)
    return b


def _millis(timeout, what):
    """Seconds (int or float, >= 0) as milliseconds for a uint32_t."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError("%s must be a number of seconds, not %s"
                        % (what, type(timeout).__name__))
    if not timeout >= 0:
        raise ValueError("%s must be >= 0 seconds" % what)
    return min(int(timeout * 1000), _UINT32_MAX)


class Runtime:
    """A started or attached tenant.

    Runtime(name, conf=None, serializer=None, start=None):
      conf: the configuration file (None: $SHMRT_CONF, then
        conf/shmrt.ini); it must be the one the tenant runs with.
      serializer: an object with dumps(obj) -> bytes or str and
        loads(bytes) -> obj (json or pickle will do); with one, payloads,
        handler arguments and results are objects; without, bytes.
      start: None attaches to a running tenant (shmrt run) and starts it
        here when none runs; True only starts; False only attaches.
    As a context manager, leaving it stops a tenant started here (drain,
    stop, remove the segment) and detaches from an attached one.
    Raises shmrt.ConfigError, NoSuchTenant, SegmentError, InvalidName.
    Thread-safe: any thread may enqueue and wait at once.
    """

    def __init__(self, name, conf=None, serializer=None, start=None):
        self.name = name
        self._name = _cstr(name, "tenant name")
        self._conf = (None if conf is None else
                      _cstr(os.fspath(conf), "conf path"))
        self.serializer = serializer
        self._queues = {}
        self._open(start)
        self.closed = False

    def _open(self, start):
        if start is not True:
            rc = lib.shmrt_tenant_attach(self._conf or ffi.NULL, self._name)
            if rc == 0 or start is False:
                check(rc)
                return
            if rc != lib.SHMRT_E_NOENT:
                check(rc)
        rc = lib.shmrt_tenant_start(self._conf or ffi.NULL, self._name)
        if rc == lib.SHMRT_E_EXIST and start is None:
            # Another process started it between our attach and start.
            rc = lib.shmrt_tenant_attach(self._conf or ffi.NULL, self._name)
        check(rc)

    # ---------------------------------------------------------- lifecycle
    def info(self):
        """mode ("inline"/"process"), owner (started here), degraded,
        test_mode (jobs run in the waiting caller), queues, backend."""
        i = ffi.new("struct shmrt_tenant_info *")
        check(lib.shmrt_tenant_get_info(self._name, i))
        return {"mode": "process" if i.mode == lib.SHMRT_MODE_PROCESS
                else "inline", "owner": bool(i.owner),
                "degraded": bool(i.degraded), "test_mode": bool(i.sync),
                "queues": i.nqueues,
                "backend": ffi.string(i.backend).decode()}

    def close(self):
        """Stop the tenant if it was started here, else detach. A second
        close does nothing. Raises shmrt.Timeout when jobs or other
        processes outlived the drain deadline (the tenant is stopped and
        detached all the same; its segment stays for the next start)."""
        if self.closed:
            return
        self.closed = True
        check(lib.shmrt_tenant_detach(self._name))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ----------------------------------------------------------- handlers
    def handler(self, kind):
        """Decorator: register fn(payload, run) for job kind `kind` (a
        queue's `handler` key) in this process. It returns bytes, str or
        None (or any object with a serializer); an exception fails the
        attempt with its traceback as the error text, retried while
        attempts remain; shmrt.FailFinal fails it for good."""
        def register(fn):
            return handlers.register(kind, fn, self.serializer)
        return register

    # --------------------------------------------------------------- jobs
    def _queue(self, queue):
        q = self._queues.get(queue)
        if q is None:
            q = self._queues[queue] = _cstr(queue, "queue")
        return q

    def _payload(self, payload):
        if self.serializer is not None:
            payload = self.serializer.dumps(payload)
            if isinstance(payload, str):
                payload = payload.encode()
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise TypeError("payload must be bytes-like, not %s (or give "
                            "the Runtime a serializer)"
                            % type(payload).__name__)
        return payload

    def enqueue(self, queue, payload=b"", lane=None, key=None, timeout=0):
        """Enqueue a job on `queue`: returns a Job. lane: the lane key of
        a laned queue (jobs of a lane run one at a time, in order); key:
        an idempotency key: while it is live, a repeated enqueue returns
        the job that holds it with job.existing True and enqueues nothing.
        timeout: seconds to wait for room when the queue is full.
        Raises TypeError, ValueError, shmrt.NoSuchQueue, PayloadTooBig,
        QueueFull, Draining, LaneError, BadKey, TableFull; nothing is
        enqueued then."""
        q = self._queues.get(queue) or self._queue(queue)
        if self.serializer is not None or type(payload) is not bytes:
            payload = self._payload(payload)
            if type(payload) is not bytes:
                payload = ffi.from_buffer(payload)
        opts = ffi.NULL
        if lane is not None or key is not None or timeout:
            opts, keep = self._opts(lane, key, timeout)
        idp = ffi.new("shmrt_job_id *")
        rc = lib.shmrt_enqueue(self._name, q, payload, len(payload), opts,
                               idp)
        if rc < 0:
            raise error_for(rc)
        return Job(self, idp, queue,
                   existing=rc == lib.SHMRT_ENQUEUE_EXISTING)

    @staticmethod
    def _opts(lane, key, timeout):
        """struct shmrt_enqueue_opts, and the buffers it points into."""
        lane_b = _cstr(lane, "lane", required=False)
        key_b = _cstr(key, "key", required=False)
        opts = ffi.new("struct shmrt_enqueue_opts *")
        keep = (ffi.new("char[]", lane_b) if lane_b is not None else ffi.NULL,
                ffi.new("char[]", key_b) if key_b is not None else ffi.NULL)
        opts.lane, opts.key = keep
        opts.timeout_ms = _millis(timeout, "timeout")
        return opts, keep

    def job(self, job_id, queue=None):
        """A Job for an id (from job.id, possibly of another process).
        Raises shmrt.NoSuchJob when the id names no job now
        (shmrt.Expired, a subclass, when its result is no longer kept)."""
        idp = ffi.new("shmrt_job_id *", [job_id])
        job = Job(self, idp, queue)
        job.status  # raises NoSuchJob
        return job

    # ------------------------------------------------------------- queues
    def stats(self, queue):
        """The queue's counters: queued, running, finished, enqueued,
        succeeded, failed, retried, reclaimed, cancelled, deduplicated."""
        st = ffi.new("struct shmrt_queue_stats *")
        check(lib.shmrt_queue_get_stats(self._name, self._queue(queue), st))
        return {f: getattr(st, f) for f in (
            "queued", "running", "finished", "enqueued", "succeeded",
            "failed", "retried", "reclaimed", "cancelled", "deduplicated")}

    def failed_jobs(self, queue, max_jobs=100):
        """Jobs of `queue` that failed for good and are still retained:
        a list of {"id", "attempts", "error"}, oldest slot first."""
        out = ffi.new("struct shmrt_failed_job[]", max_jobs)
        n = check(lib.shmrt_failed_jobs(self._name, self._queue(queue), out,
                                        max_jobs))
        return [{"id": f.id.v, "attempts": f.attempts,
                 "error": ffi.string(f.error).decode(errors="replace")}
                for f in out[0:n]]

    def scan(self):
        """Reclaim now what dead or hung processes held; returns what the
        scan found (a started tenant also scans by itself)."""
        st = ffi.new("struct shmrt_scan_stats *")
        check(lib.shmrt_scan(self._name, st))
        return {f: getattr(st, f) for f in (
            "dead_participants", "jobs_requeued", "jobs_failed",
            "cells_repaired", "jobs_expired")}


class Job:
    """One job of a Runtime: .id (int), .queue, .existing (True when an
    idempotency key returned a job enqueued before), .status, .wait(),
    .result, .error, .cancel(), .release()."""

    __slots__ = ("runtime", "_idp", "id", "queue", "existing", "_final")

    def __init__(self, runtime, idp, queue, existing=False):
        self.runtime = runtime
        self._idp = idp
        self.id = idp[0].v
        self.queue = queue
        self.existing = existing
        self._final = None  # (info dict, result bytes) once finished

    def __repr__(self):
        return "<shmrt.Job %#x on %s%s>" % (
            self.id, self.queue, " (existing)" if self.existing else "")

    def _fetch(self, rc, info, buf):
        check(rc)
        n = info.result_len
        if buf is not None and n > len(buf):
            # The first look had too small a buffer: read the whole result.
            buf = ffi.new("char[]", n)
            check(lib.shmrt_job_status(self.runtime._name, self._idp[0],
                                       info, buf, n))
        d = {"state": _STATES.get(info.state, "unknown"),
             "attempt": info.attempt, "enqueue_ns": info.enqueue_ns,
             "start_ns": info.start_ns, "finish_ns": info.finish_ns}
        data = ffi.unpack(buf, min(n, len(buf))) if buf is not None else b""
        if d["state"] in FINAL and buf is not None:
            self._final = (d, data)
        return d, data

    def _look(self, with_result):
        if self._final is not None:
            return self._final
        info = ffi.new("struct shmrt_job_info *")
        buf = ffi.new("char[]", _RESULT_BUF) if with_result else None
        rc = lib.shmrt_job_status(self.runtime._name, self._idp[0], info,
                                  buf if buf is not None else ffi.NULL,
                                  len(buf) if buf is not None else 0)
        return self._fetch(rc, info, buf)

    def info(self):
        """state, attempt, and the enqueue_ns / start_ns / finish_ns
        stamps (CLOCK_MONOTONIC, 0 = not yet)."""
        return dict(self._look(False)[0])

    @property
    def status(self):
        """"queued", "running", "succeeded", "failed" or "cancelled"."""
        return self._look(False)[0]["state"]

    def wait(self, timeout=None):
        """Wait until the job is finished; returns its final status.
        timeout: seconds, None: no limit. Releases the GIL while it waits;
        in test mode runs the tenant's jobs in this thread meanwhile.
        Raises shmrt.Timeout, NoSuchJob."""
        left = None if timeout is None else _millis(timeout, "timeout")
        info = ffi.new("struct shmrt_job_info *")
        buf = ffi.new("char[]", _RESULT_BUF)
        while self._final is None:
            ms = _WAIT_SLICE_MS if left is None else min(left, _WAIT_SLICE_MS)
            rc = lib.shmrt_job_wait(self.runtime._name, self._idp[0], ms,
                                    info, buf, len(buf))
            if rc == lib.SHMRT_E_TIMEDOUT and (left is None or left > ms):
                left = None if left is None else left - ms
                continue
            self._fetch(rc, info, buf)
        return self._final[0]["state"]

    def _decoded(self, data):
        s = self.runtime.serializer
        return s.loads(data) if s is not None else data

    @property
    def result(self):
        """The handler's result (bytes, or decoded by the serializer) once
        the job succeeded; None before, or when it failed or was
        cancelled."""
        d, data = self._look(True)
        return self._decoded(data) if d["state"] == "succeeded" else None

    @property
    def error(self):
        """The error text of the last attempt (a Python handler's
        traceback) once the job failed; None otherwise."""
        d, data = self._look(True)
        if d["state"] != "failed":
            return None
        return data.decode(errors="replace")

    def cancel(self):
        """Cancel the job: True when it was queued (it never runs), False
        when it was running (its handler sees run.cancelled()). Raises
        shmrt.InvalidState when it already finished, NoSuchJob."""
        rc = check(lib.shmrt_job_cancel(self.runtime._name, self._idp[0]))
        return rc != lib.SHMRT_CANCEL_REQUESTED

    def release(self):
        """Free the finished job's slot now (its id then names nothing)."""
        check(lib.shmrt_job_release(self.runtime._name, self._idp[0]))
