"""Fixtures of the shmrt Python tests: a configuration of their own in a
tmp dir, a tenant name of their own, worker processes that are killed at
the end, and segments that are removed.

Every wait has a deadline; a worker process that hangs is SIGKILLed at
teardown."""
import itertools
import os
import select
import signal
import subprocess
import sys
import time

import pytest

import shmrt

HERE = os.path.dirname(os.path.abspath(__file__))
_names = itertools.count()

CONF = """\
[runtime]
mode = process
scan_interval_ms = 50
drain_timeout_ms = 3000
retention_ms = 60000

[tenant {tenant}]

[queue work]
handler = py.work
max_attempts = 3
retry_backoff_ms = 10
slot_size = 512

[queue keyed]
handler = py.work
idempotency_ttl_ms = 60000

[queue chat]
handler = py.chat
laned = true
capacity = 1024

[queue slow]
handler = py.slow
max_attempts = 3
"""


class Tenant:
    """A tenant of one test: .name, .conf (path), .runtime(...) opens a
    Runtime on it (closed at teardown), .worker(...) starts a Python
    worker process (killed at teardown)."""

    def __init__(self, tmp_path):
        self.name = "pyt%d-%d" % (os.getpid(), next(_names))
        self.dir = str(tmp_path)
        self.conf = os.path.join(self.dir, "shmrt.ini")
        with open(self.conf, "w") as f:
            f.write(CONF.format(tenant=self.name))
        self.runtimes = []
        self.workers = []

    def runtime(self, **kw):
        rt = shmrt.Runtime(self.name, conf=self.conf, **kw)
        self.runtimes.append(rt)
        return rt

    def env(self):
        return dict(os.environ, SHMRT_TEST_TENANT=self.name,
                    SHMRT_CONF=self.conf, SHMRT_TEST_DIR=self.dir)

    def worker(self, *queues, threads=1):
        """A `python3 -m shmrt worker workerapp:rt` process serving
        `queues`, once it says it runs."""
        cmd = [sys.executable, "-m", "shmrt", "worker", "workerapp:rt",
               "--path", HERE, "-n", str(threads)]
        for q in queues:
            cmd += ["-q", q]
        p = subprocess.Popen(cmd, env=self.env(), stderr=subprocess.PIPE,
                             text=True)
        self.workers.append(p)
        line = read_line(p.stderr, 20)
        assert "thread(s) each" in line, line
        return p

    def close(self):
        for rt in reversed(self.runtimes):
            try:
                rt.close()
            except shmrt.Error:
                pass
        for p in self.workers:
            if p.poll() is None:
                p.kill()
            p.wait(10)
            p.stderr.close()
        seg = "/dev/shm/shmrt." + self.name
        if os.path.exists(seg):
            os.unlink(seg)


def read_line(stream, seconds):
    """One line of a child's pipe, or "" at the deadline."""
    ready, _, _ = select.select([stream], [], [], seconds)
    return stream.readline() if ready else ""


def wait_for(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.005)


def stop_worker(p, seconds=10):
    """SIGTERM, then the exit status and what it wrote to stderr."""
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(seconds)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(seconds)
        raise AssertionError("worker %d ignored SIGTERM" % p.pid)
    return p.returncode, p.stderr.read()


@pytest.fixture
def tenant(tmp_path):
    t = Tenant(tmp_path)
    yield t
    t.close()


@pytest.fixture
def inline(monkeypatch):
    """Test mode: jobs run in the thread that waits."""
    monkeypatch.setenv("SHMRT_MODE", "inline")


@pytest.fixture
def process(monkeypatch):
    """Process mode: a segment in /dev/shm, workers in other processes."""
    monkeypatch.setenv("SHMRT_MODE", "process")

