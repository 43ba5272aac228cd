"""shmrt.errors - one exception hierarchy, mapped from SHMRT_E_*.

Every failing call raises a subclass of shmrt.Error; it carries the code
(negative SHMRT_E_* value), its name ("SHMRT_E_FULL") and shmrt's own
sentence about what failed (shmrt_last_error()). The classes below name
the codes a Python user meets; a code added to the C table later still
raises shmrt.Error, with its C name.
"""
from ._native import ffi, lib


class Error(Exception):
    """A shmrt call failed. .code: SHMRT_E_* value; .name: its C name;
    .detail: shmrt's sentence about what was wrong."""

    def __init__(self, code, detail):
        self.code = code
        self.name = ffi.string(lib.shmrt_err_name(code)).decode()
        self.detail = detail
        super().__init__("%s: %s" % (self.name, detail))


class InvalidArgument(Error, ValueError):
    """SHMRT_E_INVAL: an argument shmrt refused."""


class OutOfMemory(Error, MemoryError):
    """SHMRT_E_NOMEM."""


class InvalidName(Error, ValueError):
    """SHMRT_E_NAME: a tenant name outside 1..48 of [A-Za-z0-9._-]."""


class SegmentError(Error):
    """The tenant's segment cannot be created or attached (exists, owned
    by another uid, wrong magic, ABI or layout, truncated, corrupt ...)."""


class NoSuchTenant(Error, LookupError):
    """SHMRT_E_NOENT: no such tenant (no segment, not started or attached)."""


class QueueFull(Error):
    """SHMRT_E_FULL: the queue holds as many jobs as it can."""


class PayloadTooBig(Error, ValueError):
    """SHMRT_E_TOOBIG: payload larger than the queue's slot_size."""


class NoSuchJob(Error, LookupError):
    """SHMRT_E_NOJOB: an id the tenant never gave out."""


class Expired(NoSuchJob):
    """SHMRT_E_EXPIRED: the job finished and its result is no longer kept
    (released, past retention, or its slot went to new work). A subclass
    of NoSuchJob: either way the job is not there to read."""


class Timeout(Error, TimeoutError):
    """SHMRT_E_TIMEDOUT: the deadline passed first."""


class Again(Error):
    """SHMRT_E_AGAIN: nothing available now."""


class Stale(Error):
    """SHMRT_E_STALE: the lease was lost; the job was taken back."""


class InvalidState(Error):
    """SHMRT_E_STATE: the job's state does not allow this (e.g. cancel of
    a finished job)."""


class TableFull(Error):
    """SHMRT_E_NOPART, _LANES, _KEYS: a fixed table of the segment is full."""


class Draining(Error):
    """SHMRT_E_DRAINING: the tenant is draining or stopped."""


class Busy(Error):
    """SHMRT_E_BUSY: another process is repairing the segment."""


class SysError(Error, OSError):
    """SHMRT_E_SYS: a system call failed."""


class NoSuchQueue(Error, LookupError):
    """SHMRT_E_NOQUEUE: the tenant's configuration has no such queue."""


class ConfigError(Error):
    """SHMRT_E_CONF: the configuration file is invalid (file and line in
    the detail)."""


class BadKey(Error, ValueError):
    """SHMRT_E_KEYLEN: a lane or idempotency key empty or over 64 bytes."""


class LaneError(Error, ValueError):
    """SHMRT_E_NOLANE: a lane on an unlaned queue, or none on a laned one."""


class NoSuchSemaphore(Error, LookupError):
    """SHMRT_E_NOSEM."""


class NoHandler(Error):
    """SHMRT_E_NOHANDLER: no handler registered for the job's kind."""


_BY_NAME = {
    "INVAL": InvalidArgument, "NOMEM": OutOfMemory, "NAME": InvalidName,
    "EXIST": SegmentError, "NOENT": NoSuchTenant, "OWNER": SegmentError,
    "NOTREG": SegmentError, "MAGIC": SegmentError, "ABI": SegmentError,
    "LAYOUT": SegmentError, "TRUNC": SegmentError, "HDRSIZE": SegmentError,
    "NOTREADY": SegmentError, "NOSPC": SegmentError, "FULL": QueueFull,
    "TOOBIG": PayloadTooBig, "NOJOB": NoSuchJob, "TIMEDOUT": Timeout,
    "AGAIN": Again, "STALE": Stale, "STATE": InvalidState,
    "NOPART": TableFull, "DRAINING": Draining, "BUSY": Busy,
    "SYS": SysError, "CORRUPT": SegmentError, "NOQUEUE": NoSuchQueue,
    "CONF": ConfigError, "LANES": TableFull, "KEYS": TableFull,
    "KEYLEN": BadKey, "NOLANE": LaneError, "NOSEM": NoSuchSemaphore,
    "NOHANDLER": NoHandler, "EXPIRED": Expired,
}


def error_class(code):
    """The class raised for a negative SHMRT_E_* code."""
    name = ffi.string(lib.shmrt_err_name(code)).decode()
    return _BY_NAME.get(name[len("SHMRT_E_"):], Error)


def error_for(code):
    """The exception for `code`, just returned by a shmrt call in this
    thread (shmrt_last_error() is per thread)."""
    detail = ffi.string(lib.shmrt_last_error()).decode(errors="replace")
    if not detail:
        detail = ffi.string(lib.shmrt_strerror(code)).decode()
    return error_class(code)(code, detail)


def check(rc):
    """rc if it is not negative, else raise the matching shmrt.Error."""
    if rc < 0:
        raise error_for(rc)
    return rc
