#!/usr/bin/python3
"""bench/python_bench.py - Python to Python: shmrt against RQ, in one run.

    python_bench.py [--smoke] [--redis-port PORT] [--json FILE]

A producer (this process) and a Python worker process
(`python3 -m shmrt worker python_bench:rt -q bench`, one thread), no-op
handlers, 64-byte payloads:

  * latency, one job at a time, the worker asleep (spin_us = 0, and 1 ms
    idle before each job): enqueue -> start (the job slot's stamps: the
    worker won the lease), enqueue call -> Python handler entry, and
    enqueue call -> result seen by the waiting producer;
  * throughput: enqueue N jobs as fast as they go, wait for the last one;
    jobs/s from the first enqueue to the last result, with the worker
    sleeping when idle (spin_us = 0) and spinning (spin_us = 50).

RQ (Debian's python3-rq) is measured in the same run, with bench/rq_job.py
against a private redis-server (started here on 127.0.0.1 on a free port,
without persistence, unless --redis-port names one): its SimpleWorker
(jobs run in the worker process) and its default Worker (forks a work
horse per job), burst throughput and one-job-at-a-time latency.

Prints the rows with ratios and the goals (>= 100x RQ's throughput, p50
enqueue -> start under 100 us with a sleeping worker); --json writes every
figure. --smoke runs tiny counts (CI keeps it running; its figures mean
nothing). Exit status 1 only when a measurement broke (a job lost or
failed, a peer that did not start). Every child dies with this process and
every wait has a deadline.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CALL_TIMEOUT_S = 30
GOAL_RATIO, GOAL_START_US = 100.0, 100.0

try:
    import shmrt
except ImportError:  # not installed: the package the build made
    sys.path.insert(0, os.path.join(os.environ.get(
        "BUILD_DIR", os.path.join(ROOT, "build")), "python"))
    import shmrt

CONF = """\
[runtime]
mode = process
spin_us = {spin_us}
drain_timeout_ms = 5000

[tenant {tenant}]

[queue bench]
handler = bench.noop
capacity = {capacity}
slot_size = 64
"""


def noop(payload, run):
    """The job: says when it started (CLOCK_MONOTONIC ns)."""
    return time.monotonic_ns().to_bytes(8, "little")


# Imported by the worker process (python3 -m shmrt worker python_bench:rt).
if os.environ.get("SHMRT_PYBENCH_TENANT"):
    rt = shmrt.Runtime(os.environ["SHMRT_PYBENCH_TENANT"], start=False)
    rt.handler("bench.noop")(noop)


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * p / 100.0))] if s else 0


def die_with_parent():
    """For children: SIGKILL when this process dies."""
    import ctypes
    ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)


class Tenant:
    """A process-mode tenant started here, and one Python worker process."""

    def __init__(self, tmp, spin_us, capacity):
        self.name = "pybench-%d-%d" % (os.getpid(), spin_us)
        self.conf = os.path.join(tmp, self.name + ".ini")
        with open(self.conf, "w") as f:
            f.write(CONF.format(spin_us=spin_us, tenant=self.name,
                                capacity=capacity))
        os.environ["SHMRT_MODE"] = "process"
        self.rt = shmrt.Runtime(self.name, conf=self.conf, start=True)
        env = dict(os.environ, SHMRT_PYBENCH_TENANT=self.name,
                   SHMRT_CONF=self.conf, PYTHONPATH=os.pathsep.join(
                       p for p in sys.path if p))
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "shmrt", "worker", "python_bench:rt",
             "--path", HERE, "-q", "bench"], env=env,
            preexec_fn=die_with_parent, stderr=subprocess.DEVNULL)
        # Ready once it has run a job.
        if self.rt.enqueue("bench", b"warm").wait(CALL_TIMEOUT_S) != \
                "succeeded":
            raise RuntimeError("the Python worker did not run a job")

    def close(self):
        self.worker.send_signal(signal.SIGTERM)
        try:
            self.worker.wait(CALL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.worker.kill()
            self.worker.wait(CALL_TIMEOUT_S)
        self.rt.close()


def shmrt_latency(t, jobs):
    start, entry, seen = [], [], []
    payload = b"x" * 64
    for _ in range(jobs):
        time.sleep(0.001)  # the worker goes to sleep (spin_us = 0)
        t0 = time.monotonic_ns()
        job = t.rt.enqueue("bench", payload)
        if job.wait(CALL_TIMEOUT_S) != "succeeded":
            raise RuntimeError("a latency job failed: %s" % job.error)
        t1 = time.monotonic_ns()
        info = job.info()
        start.append(info["start_ns"] - info["enqueue_ns"])
        entry.append(int.from_bytes(job.result, "little") - t0)
        seen.append(t1 - t0)
        job.release()
    return start, entry, seen


def shmrt_throughput(t, jobs):
    payload = b"x" * 64
    before = t.rt.stats("bench")["succeeded"]
    t0 = time.monotonic()
    for _ in range(jobs - 1):
        t.rt.enqueue("bench", payload)
    last = t.rt.enqueue("bench", payload)
    t_enq = time.monotonic()
    if last.wait(CALL_TIMEOUT_S) != "succeeded":
        raise RuntimeError("the last throughput job failed")
    t1 = time.monotonic()
    done = t.rt.stats("bench")["succeeded"] - before
    if done != jobs:
        raise RuntimeError("%d of %d jobs succeeded" % (done, jobs))
    return jobs / (t1 - t0), jobs / (t_enq - t0)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_redis(tmp):
    """A private redis-server: (process, port), or (None, reason)."""
    exe = shutil.which("redis-server")
    if exe is None:
        return None, "redis-server not installed"
    from redis import Redis
    for _ in range(3):
        port = free_port()
        p = subprocess.Popen(
            [exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
             "--appendonly", "no", "--dir", tmp, "--logfile",
             os.path.join(tmp, "redis.log")], preexec_fn=die_with_parent)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and p.poll() is None:
            try:
                if Redis(host="127.0.0.1", port=port).ping():
                    return p, port
            except Exception:
                time.sleep(0.05)
        p.kill()
        p.wait(CALL_TIMEOUT_S)
    return None, "redis-server did not start"


def rq_rows(port, jobs, lat_jobs):
    """{class: {"rate", "start", "seen"}} for SimpleWorker and Worker."""
    sys.path.insert(0, HERE)
    import rq_job
    from redis import Redis
    from rq import Queue

    conn = Redis(host="127.0.0.1", port=port, socket_timeout=CALL_TIMEOUT_S)
    out = {}
    for cls in ("SimpleWorker", "Worker"):
        queue = Queue("shmrt-pybench-%d-%s" % (os.getpid(), cls),
                      connection=conn)
        try:
            rate = rq_job.measure_throughput(conn, queue, jobs, cls)[1]
            lat = rq_job.measure_latency(port, queue, lat_jobs, cls)
        finally:
            queue.delete(delete_jobs=True)
        out[cls] = {"rate": rate, "start": [s for s, _ in lat],
                    "seen": [r for _, r in lat]}
    return out


def lat_row(name, samples, results, key):
    us = [s / 1000.0 for s in samples]
    results[key] = {"p50_us": pct(us, 50), "p99_us": pct(us, 99),
                    "n": len(us)}
    print("  %-44s %10.1f us %10.1f us %6d" % (name, pct(us, 50),
                                               pct(us, 99), len(us)))


def report(sh, rq, rq_why):
    res = {}
    print("\nPython -> Python worker process (1 thread), no-op handler, "
          "64-byte payloads\n")
    print("  %-44s %13s %13s %6s" % ("latency, one job at a time", "p50",
                                     "p99", "n"))
    lat_row("shmrt enqueue->start, sleeping worker", sh["start"], res,
            "shmrt_start")
    lat_row("shmrt enqueue->Python handler entry", sh["entry"], res,
            "shmrt_entry")
    lat_row("shmrt enqueue->result seen by the waiter", sh["seen"], res,
            "shmrt_seen")
    for cls in rq:
        lat_row("rq %s enqueue->start" % cls, rq[cls]["start"], res,
                "rq_%s_start" % cls)
        lat_row("rq %s enqueue->result seen (polled)" % cls,
                rq[cls]["seen"], res, "rq_%s_seen" % cls)
    print("\n  %-44s %13s %s" % ("throughput", "jobs/s",
                                 "  ".join("vs rq %s" % c for c in rq)))
    for key, name in (("rate_sleep", "shmrt, sleeping worker (spin_us=0)"),
                      ("rate_spin", "shmrt, spinning worker (spin_us=50)")):
        ratios = ["%9.0fx" % (sh[key] / rq[c]["rate"]) for c in rq]
        res[key] = {"jobs_per_s": sh[key],
                    "ratio": {c: sh[key] / rq[c]["rate"] for c in rq}}
        print("  %-44s %13.0f   %s" % (name, sh[key], "  ".join(ratios)))
    print("  %-44s %13.0f" % ("shmrt enqueue alone", sh["enqueue_rate"]))
    res["enqueue_rate"] = sh["enqueue_rate"]
    for c in rq:
        res["rq_%s_rate" % c] = rq[c]["rate"]
        print("  %-44s %13.1f" % ("rq %s, burst" % c, rq[c]["rate"]))
    if rq_why:
        print("  rq: skipped (%s)" % rq_why)
    start_p50 = res["shmrt_start"]["p50_us"]
    print("\ngoals: p50 enqueue->start %.1f us (goal < %.0f us: %s)"
          % (start_p50, GOAL_START_US,
             "met" if start_p50 < GOAL_START_US else "missed"))
    if rq:
        worst = min(sh["rate_sleep"] / rq[c]["rate"] for c in rq)
        print("       throughput %.0fx rq's best (goal >= %.0fx: %s)"
              % (worst, GOAL_RATIO, "met" if worst >= GOAL_RATIO else
                 "missed"))
    return res


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--redis-port", type=int)
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    jobs, lat_jobs = (2000, 20) if a.smoke else (100000, 2000)
    rq_jobs, rq_lat = (20, 5) if a.smoke else (1000, 200)
    tmp = tempfile.mkdtemp(prefix="shmrt-pybench-")
    redis = None
    try:
        sh = {}
        for spin, key in ((0, "rate_sleep"), (50, "rate_spin")):
            t = Tenant(tmp, spin, 131072)
            try:
                if spin == 0:
                    sh["start"], sh["entry"], sh["seen"] = \
                        shmrt_latency(t, lat_jobs)
                sh[key], enq = shmrt_throughput(t, jobs)
                sh.setdefault("enqueue_rate", enq)
            finally:
                t.close()
        rq, why = {}, None
        try:
            import rq as _rq  # noqa: F401
            port = a.redis_port
            if port is None:
                redis, port = start_redis(tmp)
                if redis is None:
                    why = port
            if why is None:
                rq = rq_rows(port, rq_jobs, rq_lat)
        except ImportError as e:
            why = "python3-rq not importable: %s" % e
        res = report(sh, rq, why)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(res, f, indent=1)
    finally:
        if redis is not None:
            redis.kill()
            redis.wait(CALL_TIMEOUT_S)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
