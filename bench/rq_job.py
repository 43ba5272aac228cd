#!/usr/bin/python3
"""bench/rq_job.py - RQ (Debian's python3-rq), run the way its users run it.

shmrt_bench starts this script with /usr/bin/python3 (the interpreter
python3-rq is installed for) against the redis-server of scripts/bench.sh:

    rq_job.py bench PORT JOBS LATENCY_JOBS
    rq_job.py worker PORT QUEUE MAX_JOBS [Worker|SimpleWorker]

1. throughput: enqueue JOBS no-op jobs, then run a burst worker until
   the queue is empty: the default rq Worker (which forks a work horse
   per job), then again with SimpleWorker (runs jobs in its own process,
   no fork: RQ at its best);
2. latency: start a worker process, then enqueue one job at a time and
   poll its status until it is finished.

It prints lines for the benchmark to parse, and nothing else on stdout:

    skip REASON          python3-rq is not usable: the benchmark skips rq
    enqueue_rate JOBS/S
    worker_rate JOBS/S         the forking Worker
    simple_worker_rate JOBS/S  SimpleWorker
    start_ns NS          per latency job: enqueued_at -> started_at (rq's
                         own timestamps, microsecond resolution)
    result_ns NS         per latency job: enqueue call -> finished seen
    done

Every process it starts dies with its parent (PR_SET_PDEATHSIG), and
every wait has a deadline.

bench/python_bench.py imports it too, to measure rq with SimpleWorker
(jobs run in the worker process itself) beside the forking Worker:
measure_throughput and measure_latency take the worker class.
"""
import ctypes
import os
import signal
import subprocess
import sys
import time

CALL_TIMEOUT_S = 10
WORKER_START_S = 10
WARMUP_JOBS = 3


def noop():
    """The job: does nothing."""
    return None


def die_with_parent():
    """Ask the kernel to SIGKILL this process when its parent dies."""
    pr_set_pdeathsig = 1
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:
        sys.exit(1)


def emit(key, value):
    print("%s %s" % (key, value), flush=True)


def worker_class(name):
    """rq's Worker (forks a work horse per job) or SimpleWorker."""
    import rq

    return getattr(rq, name)


def run_worker(port, qname, max_jobs, cls_name="Worker"):
    from redis import Redis
    from rq import Queue

    conn = Redis(host="127.0.0.1", port=port, socket_timeout=CALL_TIMEOUT_S)
    queue = Queue(qname, connection=conn)
    worker_class(cls_name)([queue], connection=conn).work(
        burst=False, max_jobs=max_jobs, logging_level="WARNING")


def wait_for(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for " + what)
        time.sleep(0.0002)


def measure_throughput(conn, queue, jobs, cls_name="Worker"):
    """Enqueue `jobs` no-op jobs, then run a burst worker of class
    cls_name until the queue is empty: (enqueue jobs/s, worker jobs/s)."""
    t0 = time.monotonic()
    enqueued = [queue.enqueue("rq_job.noop", result_ttl=600)
                for _ in range(jobs)]
    t1 = time.monotonic()
    worker_class(cls_name)([queue], connection=conn).work(
        burst=True, logging_level="WARNING")
    t2 = time.monotonic()
    finished = sum(1 for j in enqueued if j.get_status() == "finished")
    if finished != jobs:
        raise RuntimeError("%d of %d rq jobs finished" % (finished, jobs))
    return jobs / (t1 - t0), jobs / (t2 - t1)


def throughput(conn, queue, jobs):
    enqueue_rate, worker_rate = measure_throughput(conn, queue, jobs)
    emit("enqueue_rate", "%.3f" % enqueue_rate)
    emit("worker_rate", "%.3f" % worker_rate)
    _, simple_rate = measure_throughput(conn, queue, jobs, "SimpleWorker")
    emit("simple_worker_rate", "%.3f" % simple_rate)


def measure_latency(port, queue, jobs, cls_name="Worker"):
    """A worker process of class cls_name, then one job at a time: a list
    of (enqueued_at -> started_at, enqueue call -> finished seen), in ns."""
    from rq import Worker

    env = dict(os.environ, PYTHONPATH=os.path.dirname(
        os.path.abspath(__file__)))
    total = WARMUP_JOBS + jobs
    worker = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "worker", str(port),
         queue.name, str(total), cls_name], env=env)
    samples = []
    try:
        wait_for(lambda: len(Worker.all(queue=queue)) > 0, WORKER_START_S,
                 "the rq worker to register")
        for i in range(total):
            t_enqueue = time.time()
            job = queue.enqueue("rq_job.noop", result_ttl=600)
            wait_for(lambda: job.get_status() == "finished", CALL_TIMEOUT_S,
                     "an rq job to finish")
            t_seen = time.time()
            job.refresh()
            if i < WARMUP_JOBS:
                continue
            start = (job.started_at - job.enqueued_at).total_seconds()
            samples.append((int(start * 1e9),
                            int((t_seen - t_enqueue) * 1e9)))
        worker.wait(timeout=CALL_TIMEOUT_S)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=CALL_TIMEOUT_S)
    return samples


def latency(port, conn, queue, jobs):
    for start_ns, result_ns in measure_latency(port, queue, jobs):
        emit("start_ns", "%d" % start_ns)
        emit("result_ns", "%d" % result_ns)


def bench(port, jobs, latency_jobs):
    try:
        from redis import Redis
        from rq import Queue
    except ImportError as e:
        emit("skip", "python3-rq not importable by %s: %s"
             % (sys.executable, e))
        return 0
    conn = Redis(host="127.0.0.1", port=port, socket_timeout=CALL_TIMEOUT_S)
    queue = Queue("shmrt-bench-%d" % os.getpid(), connection=conn)
    try:
        throughput(conn, queue, jobs)
        latency(port, conn, queue, latency_jobs)
    finally:
        queue.delete(delete_jobs=True)
    emit("done", "")
    return 0


def main(argv):
    die_with_parent()
    if len(argv) in (5, 6) and argv[1] == "worker":
        run_worker(int(argv[2]), argv[3], int(argv[4]), *argv[5:])
        return 0
    if len(argv) == 5 and argv[1] == "bench":
        return bench(int(argv[2]), int(argv[3]), int(argv[4]))
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
