"""Python worker processes (python3 -m shmrt worker) on a process-mode
tenant that this test process starts: lane order across two worker
processes, racing idempotent enqueues from several processes, a worker
SIGKILLed in the middle of a job, and SIGTERM."""
import json
import os
import signal
import subprocess
import sys
import time

from conftest import stop_worker, wait_for

LANES, PER_LANE = 8, 25


def test_lanes_keep_order_across_two_worker_processes(tenant, process):
    """Each conversation's turns are enqueued back to back, with uneven
    handler times, so without lanes four worker threads would run turns of
    one conversation at once and finish them out of order."""
    rt = tenant.runtime(serializer=json)
    workers = [tenant.worker("chat", threads=2) for _ in range(2)]
    jobs = [rt.enqueue("chat", {"seq": i, "sleep": 0.002 * (i % 3 == 0)},
                       lane="conv-%d" % lane)
            for lane in range(LANES) for i in range(PER_LANE)]
    assert all(j.wait(60) == "succeeded" for j in jobs)
    out = [j.result for j in jobs]
    assert {o["pid"] for o in out} == {w.pid for w in workers}
    for lane in range(LANES):
        turns = sorted((o for o in out if o["lane"] == "conv-%d" % lane),
                       key=lambda o: o["t0"])
        assert [o["seq"] for o in turns] == list(range(PER_LANE))
        for prev, cur in zip(turns, turns[1:]):
            # each turn started after the previous one of its lane ended
            assert cur["t0"] >= prev["t1"], (lane, prev, cur)
    for w in workers:
        assert stop_worker(w)[0] == 0


RACER = r"""
import os, sys, time, shmrt
rt = shmrt.Runtime(sys.argv[1], conf=sys.argv[2], start=False)
deadline = time.monotonic() + 20
while not os.path.exists(sys.argv[3]):
    if time.monotonic() > deadline:
        sys.exit(3)
for k in range(int(sys.argv[4])):
    job = rt.enqueue("keyed", b"from %d" % os.getpid(), key="key-%d" % k)
    print(k, job.id, int(job.existing))
rt.close()
"""


def test_racing_idempotent_enqueues_get_one_job(tenant, process):
    rt = tenant.runtime()
    keys, racers = 50, 4
    go = os.path.join(tenant.dir, "go")
    procs = [subprocess.Popen([sys.executable, "-c", RACER, tenant.name,
                               tenant.conf, go, str(keys)],
                              stdout=subprocess.PIPE, text=True)
             for _ in range(racers)]
    time.sleep(0.3)  # all of them attached and polling for `go`
    open(go, "w").close()
    lines = []
    for p in procs:
        out, _ = p.communicate(timeout=30)
        assert p.returncode == 0
        lines += [tuple(map(int, ln.split())) for ln in out.splitlines()]
    assert len(lines) == keys * racers
    for k in range(keys):
        answers = [(jid, existing) for kk, jid, existing in lines if kk == k]
        assert len({jid for jid, _ in answers}) == 1, answers
        assert sorted(e for _, e in answers) == [0] + [1] * (racers - 1)
    st = rt.stats("keyed")
    assert st["enqueued"] == keys
    assert st["deduplicated"] == keys * (racers - 1)


def test_worker_killed_mid_job_the_job_is_taken_back(tenant, process):
    rt = tenant.runtime(serializer=json)
    victim = tenant.worker("slow")
    job = rt.enqueue("slow", {})
    marker = os.path.join(tenant.dir, "started-%d" % victim.pid)
    wait_for(lambda: os.path.exists(marker), 20, "the first attempt")
    assert job.status == "running"
    victim.kill()
    victim.wait(10)
    heir = tenant.worker("slow")
    assert job.wait(30) == "succeeded"
    assert job.result["pid"] == heir.pid and job.result["attempt"] == 2
    assert rt.stats("slow")["reclaimed"] == 1
    assert stop_worker(heir)[0] == 0


def test_sigterm_finishes_the_job_then_leaves(tenant, process):
    rt = tenant.runtime(serializer=json)
    w = tenant.worker("chat")
    job = rt.enqueue("chat", {"seq": 0, "sleep": 0.5}, lane="a")
    wait_for(lambda: job.status == "running", 20, "the job to start")
    rc, err = stop_worker(w)
    assert rc == 0 and "left (signal %d)" % signal.SIGTERM in err
    assert job.status == "succeeded"  # finished before it left


def test_worker_leaves_when_the_tenant_stops(tenant, process):
    rt = tenant.runtime()
    w = tenant.worker("work", threads=2)
    rt.close()
    w.wait(10)
    assert w.returncode == 0
    assert "left (tenant drained)" in w.stderr.read()
    assert not os.path.exists("/dev/shm/shmrt." + tenant.name)


def test_worker_refuses_a_bad_app(tenant, process):
    tenant.runtime()
    p = subprocess.run([sys.executable, "-m", "shmrt", "worker", "nosuch:rt",
                        "-q", "work"], env=tenant.env(), capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 3 and "cannot load nosuch:rt" in p.stderr
    p = subprocess.run([sys.executable, "-m", "shmrt", "worker",
                        "workerapp:rt", "--path", os.path.dirname(__file__),
                        "-q", "work", "-n", "0"], env=tenant.env(),
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2

