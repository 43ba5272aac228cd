"""examples/python/service.py - the jobs of a small Python API service on
shmrt: chat turns on lanes, uploads capped by a semaphore, profile
updates with idempotency keys. The service's request handlers (client.py)
enqueue; the worker process runs these handlers:

    python3 -m shmrt worker service:rt -q chat -q upload -q profile

The tenant runs under `shmrt run -c example.ini` (run.sh starts it all).
"""
import json
import os
import time

import shmrt

HERE = os.path.dirname(os.path.abspath(__file__))

rt = shmrt.Runtime(os.environ.get("SHMRT_EXAMPLE_TENANT", "pyexample"),
                   conf=os.environ.get("SHMRT_CONF",
                                       os.path.join(HERE, "example.ini")))


def reply(**fields):
    return json.dumps(fields)


@rt.handler("chat.reply")
def chat_reply(payload, run):
    """A turn of a conversation: its lane is the conversation, so turns
    run one at a time, in the order they were sent."""
    turn = json.loads(payload)
    t0 = time.monotonic_ns()
    time.sleep(0.002)  # the model's answer
    return reply(conversation=run.lane, turn=turn["turn"],
                 text="re: " + turn["text"], t0=t0, t1=time.monotonic_ns())


@rt.handler("upload.store")
def upload_store(payload, run):
    """Store an upload: slow I/O, so the queue's semaphore keeps at most
    two of them in flight, whatever the number of workers."""
    t0 = time.monotonic_ns()
    time.sleep(0.02)
    return reply(stored=len(payload), t0=t0, t1=time.monotonic_ns())


@rt.handler("profile.update")
def profile_update(payload, run):
    """Apply a profile update; a client's retry of the same request
    (same idempotency key) is answered with this job, not run again."""
    update = json.loads(payload)
    if not update.get("user"):
        raise shmrt.FailFinal("a profile update needs a user")
    return reply(user=update["user"], fields=sorted(update["fields"]),
                 token=run.token)
