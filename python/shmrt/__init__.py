"""shmrt - Python handlers, jobs and workers on shmrt, the same-host job
runtime in shared memory, through its public C API (cffi, API mode).

    import shmrt
    rt = shmrt.Runtime("demo", conf="conf/shmrt.ini")
    @rt.handler("upload")
    def upload(payload, run): ...
    job = rt.enqueue("upload", b"...")
    job.wait(5); job.result

See shmrt.runtime (Runtime, Job), shmrt.worker (worker threads and the
`python3 -m shmrt worker` process) and shmrt.errors (the exceptions).
"""
from .errors import (Again, BadKey, Busy, ConfigError, Draining, Error,
                     Expired, InvalidArgument, InvalidName, InvalidState, LaneError,
                     NoHandler, NoSuchJob, NoSuchQueue, NoSuchSemaphore,
                     NoSuchTenant, OutOfMemory, PayloadTooBig, QueueFull,
                     SegmentError, Stale, SysError, TableFull, Timeout)
from .handlers import FailFinal, Run
from .runtime import Job, Runtime
from .worker import Worker

__all__ = [
    "Runtime", "Job", "Run", "Worker", "FailFinal", "Error", "Again",
    "BadKey", "Busy", "ConfigError", "Draining", "Expired",
    "InvalidArgument",
    "InvalidName", "InvalidState", "LaneError", "NoHandler", "NoSuchJob",
    "NoSuchQueue", "NoSuchSemaphore", "NoSuchTenant", "OutOfMemory",
    "PayloadTooBig", "QueueFull", "SegmentError", "Stale", "SysError",
    "TableFull", "Timeout",
]
