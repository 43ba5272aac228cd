"""The app the tests' worker processes run (python3 -m shmrt worker
workerapp:rt): the tenant and configuration come from the environment
(conftest.Tenant.env)."""
import json
import os
import time

import shmrt

rt = shmrt.Runtime(os.environ["SHMRT_TEST_TENANT"],
                   conf=os.environ["SHMRT_CONF"], serializer=json,
                   start=False)


def stamp(run, **more):
    return dict(pid=os.getpid(), attempt=run.attempt, lane=run.lane,
                **more)


@rt.handler("py.work")
def work(payload, run):
    return stamp(run, echo=payload)


@rt.handler("py.chat")
def chat(payload, run):
    t0 = time.monotonic_ns()
    time.sleep(payload.get("sleep", 0))
    return stamp(run, seq=payload["seq"], t0=t0, t1=time.monotonic_ns())


@rt.handler("py.slow")
def slow(payload, run):
    """The first attempt says it started (a file) and then hangs, to be
    killed; later attempts succeed at once."""
    if run.attempt == 1:
        path = os.path.join(os.environ["SHMRT_TEST_DIR"],
                            "started-%d" % os.getpid())
        with open(path, "w") as f:
            f.write(str(run.id))
        time.sleep(60)
    return stamp(run)
