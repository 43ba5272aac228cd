"""shmrt.handlers - Python functions as shmrt handlers.

Every Python handler is registered with shmrt_handler_register under the
one C entry point shmrt__py_handler (a cffi extern "Python" callback); its
ctx is a cffi handle to a HandlerEntry, which holds the Python function
and the runtime's serializer. shmrt calls it on a worker thread (or, in
test mode, in the thread that waits), and cffi takes the GIL for the call:
a handler runs with the GIL held, like any Python code.

The handler registry of shmrt is per process (a kind has one handler in a
process, whatever the tenant), and a run already started with a replaced
handler may still use its ctx: so every entry stays referenced for the
life of the process.
"""
import threading
import traceback

from ._native import ffi, lib
from .errors import check

_entries = []          # every HandlerEntry and its handle, kept alive
_entries_lock = threading.Lock()


class FailFinal(Exception):
    """Raise it in a handler to fail the job for good, without a retry;
    its message becomes the job's error text."""


class Run:
    """One run of one job, as a Python handler sees it (valid during the
    call only): .id, .queue, .lane (str or None), .attempt (1 on the first
    run), .token (the lease's fencing token), .cancelled(),
    .lease_valid()."""

    __slots__ = ("id", "queue", "lane", "attempt", "token", "_run")

    def __init__(self, run):
        self._run = run
        self.id = run.id.v
        self.queue = ffi.string(run.queue).decode()
        self.lane = (None if run.lane == ffi.NULL else
                     ffi.unpack(run.lane, run.lane_len).decode(
                         "utf-8", "surrogateescape"))
        self.attempt = run.attempt
        self.token = run.token

    def cancelled(self):
        """True once someone called cancel() on this job: stop early and
        raise (the job then ends as its handler ends it)."""
        return self._run is not None and \
            lib.shmrt_job_run_cancelled(self._run) == 1

    def lease_valid(self):
        """Whether this run still holds its job's lease: call it right
        before committing a side effect (see shmrt/runtime.h)."""
        return self._run is not None and \
            lib.shmrt_job_run_lease_valid(self._run) == 1


def _as_bytes(value, serializer):
    """A handler's return value as result bytes."""
    if serializer is not None:
        value = serializer.dumps(value)
    elif value is None:
        return b""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError("handler returned %s: return bytes or str, or give the "
                    "Runtime a serializer" % type(value).__name__)


def _put(run, data):
    """Write data (bytes) into the run's out buffer, cut to its capacity
    from the front (the end of a traceback says the most)."""
    cap = run.out_cap
    if len(data) > cap:
        data = b"..." + data[len(data) - cap + 3:] if cap > 3 else b""
    ffi.memmove(run.out, data, len(data))
    run.out_len = len(data)


class HandlerEntry:
    """A registered Python handler: fn(payload, run) -> result."""

    def __init__(self, fn, serializer):
        self.fn = fn
        self.serializer = serializer

    def __call__(self, run):
        r = Run(run)
        try:
            payload = ffi.buffer(run.payload, run.payload_len)[:]
            if self.serializer is not None:
                payload = self.serializer.loads(payload)
            data = _as_bytes(self.fn(payload, r), self.serializer)
        except FailFinal as e:
            _put(run, ("FailFinal: %s" % e).encode(errors="replace"))
            return lib.SHMRT_HANDLER_FAIL_FINAL
        except BaseException:
            _put(run, traceback.format_exc().encode(errors="replace"))
            return lib.SHMRT_HANDLER_RETRY
        finally:
            r._run = None
        if len(data) > run.out_cap:
            _put(run, b"result of %d bytes is larger than the queue's "
                 b"slot_size" % len(data))
            return lib.SHMRT_HANDLER_FAIL_FINAL
        _put(run, data)
        return lib.SHMRT_HANDLER_OK


@ffi.def_extern(error=lib.SHMRT_HANDLER_RETRY)
def shmrt__py_handler(ctx, run):
    return ffi.from_handle(ctx)(run)


def register(kind, fn, serializer):
    """Register fn for job kind `kind` in this process (replacing an
    earlier handler of the kind). Raises shmrt.InvalidArgument for a bad
    kind, TypeError when fn is not callable."""
    if not isinstance(kind, str):
        raise TypeError("handler kind must be str, not %s"
                        % type(kind).__name__)
    if not callable(fn):
        raise TypeError("handler must be callable")
    entry = HandlerEntry(fn, serializer)
    handle = ffi.new_handle(entry)
    with _entries_lock:
        _entries.append((entry, handle))
        check(lib.shmrt_handler_register(kind.encode(), lib.shmrt__py_handler,
                                         handle))
    return fn
