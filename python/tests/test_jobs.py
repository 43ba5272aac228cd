"""Jobs from one process: test mode, enqueue/wait/result/cancel, retries
and final failures, idempotency keys, bad input, the exception mapping,
and the GIL while a call blocks."""
import json
import os
import threading
import time

import pytest

import shmrt
from shmrt._native import ffi, lib


def echo_handler(rt, ran_in=None):
    @rt.handler("py.work")
    def work(payload, run):
        if ran_in is not None:
            ran_in.append(threading.get_ident())
        if payload == b"boom":
            raise ValueError("boom on attempt %d" % run.attempt)
        if payload == b"final":
            raise shmrt.FailFinal("bad request")
        if payload == b"huge":
            return b"x" * 4096
        return b"%s:%d" % (payload.upper(), run.attempt)
    return work


def test_test_mode_runs_jobs_in_the_waiting_caller(tenant, inline):
    rt = tenant.runtime()
    assert rt.info()["test_mode"] and rt.info()["mode"] == "inline"
    ran_in = []
    echo_handler(rt, ran_in)
    job = rt.enqueue("work", b"hello")
    assert job.status == "queued" and ran_in == []
    assert job.wait(5) == "succeeded"
    assert ran_in == [threading.get_ident()]
    assert job.result == b"HELLO:1" and job.error is None
    info = job.info()
    assert info["attempt"] == 1
    assert 0 < info["enqueue_ns"] <= info["start_ns"] <= info["finish_ns"]


def test_enqueue_wait_result_cancel_across_processes(tenant, process):
    rt = tenant.runtime()
    assert rt.info()["mode"] == "process" and not rt.info()["test_mode"]
    queued = rt.enqueue("work", b"never runs")
    assert queued.cancel() is True
    assert queued.wait(1) == "cancelled" and queued.result is None
    with pytest.raises(shmrt.InvalidState):
        queued.cancel()
    w = tenant.worker("work")
    job = rt.enqueue("work", json.dumps("hi").encode())
    assert job.wait(10) == "succeeded"
    out = json.loads(job.result)
    assert out["echo"] == "hi" and out["pid"] == w.pid
    assert out["attempt"] == 1 and out["lane"] is None
    again = rt.job(job.id)
    assert again.status == "succeeded" and again.result == job.result
    job.release()
    with pytest.raises(shmrt.Expired):
        rt.job(job.id)
    st = rt.stats("work")
    assert st["enqueued"] == 2 and st["succeeded"] == 1
    assert st["cancelled"] == 1


def test_in_process_worker_threads(tenant, process):
    rt = tenant.runtime()
    echo_handler(rt)
    w = shmrt.Worker(rt, "work", threads=2).start()
    try:
        jobs = [rt.enqueue("work", b"j%d" % i) for i in range(50)]
        assert [j.wait(10) for j in jobs] == ["succeeded"] * 50
        assert jobs[7].result == b"J7:1"
    finally:
        w.stop()
        assert w.join(5)
    assert w.errors == []


def test_cancel_of_a_running_job_reaches_its_handler(tenant, process):
    """run.cancelled() turns true once cancel() is called; the lease stays
    valid meanwhile. A context manager closes the runtime."""
    seen, started = [], threading.Event()
    with tenant.runtime() as rt:
        @rt.handler("py.work")
        def work(payload, run):
            started.set()
            deadline = time.monotonic() + 10
            while not run.cancelled() and time.monotonic() < deadline:
                time.sleep(0.001)
            seen.append((run.cancelled(), run.lease_valid()))
            raise shmrt.FailFinal("cancelled by request")

        w = shmrt.Worker(rt, "work").start()
        try:
            job = rt.enqueue("work", b"long")
            assert started.wait(10)
            assert job.cancel() is False  # running: told, not stopped
            assert job.wait(10) == "failed"
        finally:
            w.stop()
            assert w.join(5)
        assert seen == [(True, True)]
        assert job.error == "FailFinal: cancelled by request"
        assert set(rt.scan()) == {"dead_participants", "jobs_requeued",
                                  "jobs_failed", "cells_repaired",
                                  "jobs_expired"}
    assert rt.closed
    assert not os.path.exists("/dev/shm/shmrt." + tenant.name)


def test_exception_is_retried_then_fails_with_its_traceback(tenant, inline):
    rt = tenant.runtime()
    echo_handler(rt)
    job = rt.enqueue("work", b"boom")
    assert job.wait(5) == "failed"
    assert job.info()["attempt"] == 3  # max_attempts
    assert job.result is None
    err = job.error
    assert err.startswith("Traceback (most recent call last):")
    assert "ValueError: boom on attempt 3" in err
    assert "in work" in err
    st = rt.stats("work")
    assert st["retried"] == 2 and st["failed"] == 1
    failed = rt.failed_jobs("work")
    assert [f["id"] for f in failed] == [job.id]
    assert failed[0]["error"].startswith("Traceback")  # cut to 255 bytes


def test_fail_final_and_oversized_result_are_not_retried(tenant, inline):
    rt = tenant.runtime()
    echo_handler(rt)
    final = rt.enqueue("work", b"final")
    huge = rt.enqueue("work", b"huge")
    assert final.wait(5) == "failed" and huge.wait(5) == "failed"
    assert final.info()["attempt"] == 1
    assert final.error == "FailFinal: bad request"
    assert huge.info()["attempt"] == 1
    assert "result of 4096 bytes is larger than the queue's slot_size" in huge.error
    assert rt.stats("work")["retried"] == 0


def test_oversized_result_fails_in_a_worker(tenant, process):
    """A worker's out buffer is the queue's slot_size: a bigger result
    must fail the job, not be cut short and succeed."""
    rt = tenant.runtime()
    echo_handler(rt)
    w = shmrt.Worker(rt, "work").start()
    try:
        job = rt.enqueue("work", b"huge")
        assert job.wait(10) == "failed"
    finally:
        w.stop()
        assert w.join(5)
    assert job.info()["attempt"] == 1
    assert job.error == ("result of 4096 bytes is larger than the queue's "
                         "slot_size")


def test_repeated_key_returns_the_existing_job(tenant, inline):
    rt = tenant.runtime()
    echo_handler(rt)
    first = rt.enqueue("keyed", b"a", key="profile-7")
    second = rt.enqueue("keyed", b"b", key="profile-7")
    assert not first.existing and second.existing
    assert second.id == first.id
    assert second.wait(5) == "succeeded" and second.result == b"A:1"
    st = rt.stats("keyed")
    assert st["enqueued"] == 1 and st["deduplicated"] == 1


def test_serializer_decodes_payloads_and_results(tenant, inline):
    rt = tenant.runtime(serializer=json)

    @rt.handler("py.work")
    def work(payload, run):
        return {"sum": sum(payload["n"]), "queue": run.queue}

    job = rt.enqueue("work", {"n": [1, 2, 3]})
    assert job.wait(5) == "succeeded"
    assert job.result == {"sum": 6, "queue": "work"}


def test_bad_input_raises_and_enqueues_nothing(tenant, process):
    rt = tenant.runtime()
    cases = [
        (TypeError, lambda: rt.enqueue("work", "text, not bytes")),
        (TypeError, lambda: rt.enqueue("work", 42)),
        (TypeError, lambda: rt.enqueue(7, b"x")),
        (TypeError, lambda: rt.enqueue("chat", b"x", lane=3)),
        (TypeError, lambda: rt.enqueue("keyed", b"x", key=b"bytes")),
        (TypeError, lambda: rt.enqueue("work", b"x", timeout="1")),
        (ValueError, lambda: rt.enqueue("work", b"x", timeout=-1)),
        (ValueError, lambda: rt.enqueue("chat", b"x", lane="a\0b")),
        (shmrt.NoSuchQueue, lambda: rt.enqueue("nope", b"x")),
        (shmrt.PayloadTooBig, lambda: rt.enqueue("work", b"x" * 513)),
        (shmrt.LaneError, lambda: rt.enqueue("chat", b"x")),
        (shmrt.LaneError, lambda: rt.enqueue("work", b"x", lane="l1")),
        (shmrt.BadKey, lambda: rt.enqueue("keyed", b"x", key="k" * 65)),
        (shmrt.InvalidArgument, lambda: rt.enqueue("work", b"x", key="k")),
    ]
    for exc, call in cases:
        with pytest.raises(exc):
            call()
    for q in ("work", "keyed", "chat", "slow"):
        st = rt.stats(q)
        assert st["enqueued"] == 0 and st["queued"] == 0, (q, st)
    with pytest.raises(shmrt.NoSuchQueue) as e:
        rt.stats("nope")
    assert "nope" in e.value.detail
    with pytest.raises(TypeError):
        rt.handler("py.work")("not callable")
    with pytest.raises(shmrt.InvalidArgument):
        rt.handler("bad kind!")(lambda p, r: b"")


def test_unknown_tenant_and_conf_errors(tenant, process):
    with pytest.raises(shmrt.NoSuchTenant):
        shmrt.Runtime(tenant.name, conf=tenant.conf, start=False)
    with pytest.raises(shmrt.SysError) as e:
        shmrt.Runtime(tenant.name, conf=tenant.dir + "/missing.ini")
    assert "missing.ini: cannot open" in str(e.value)
    bad = tenant.dir + "/bad.ini"
    with open(bad, "w") as f:
        f.write("[runtime]\nmode = sideways\n")
    with pytest.raises(shmrt.ConfigError) as e:
        shmrt.Runtime(tenant.name, conf=bad)
    assert "bad.ini" in str(e.value)
    with pytest.raises(shmrt.ConfigError) as e:
        shmrt.Runtime("other", conf=tenant.conf)
    assert "no [tenant other] section" in str(e.value)


def test_every_error_code_maps_to_its_class():
    code, seen = -1, {}
    while ffi.string(lib.shmrt_err_name(code)) != b"unknown error" and \
            code > -1000:
        seen[ffi.string(lib.shmrt_err_name(code)).decode()] = code
        code -= 1
    assert len(seen) >= 35
    expect = {"SHMRT_E_FULL": shmrt.QueueFull,
              "SHMRT_E_DRAINING": shmrt.Draining,
              "SHMRT_E_NOJOB": shmrt.NoSuchJob,
              "SHMRT_E_EXPIRED": shmrt.Expired,
              "SHMRT_E_NOQUEUE": shmrt.NoSuchQueue,
              "SHMRT_E_TIMEDOUT": shmrt.Timeout,
              "SHMRT_E_TOOBIG": shmrt.PayloadTooBig,
              "SHMRT_E_NOENT": shmrt.NoSuchTenant}
    for name, cls in expect.items():
        assert shmrt.errors.error_class(seen[name]) is cls
    for name, c in seen.items():
        err = shmrt.errors.error_class(c)(c, "detail")
        assert isinstance(err, shmrt.Error) and err.name == name
        assert err.code == c and str(err) == name + ": detail"
    assert issubclass(shmrt.Timeout, TimeoutError)


def test_wait_releases_the_gil(tenant, process):
    """A job nobody runs: wait blocks in C for 0.6 s, and another Python
    thread must run all along (a wait that held the GIL would freeze it)."""
    rt = tenant.runtime()
    job = rt.enqueue("work", b"nobody runs this")
    beats, stop = [], threading.Event()

    def counter():
        while not stop.is_set():
            beats.append(time.monotonic())
            time.sleep(0.001)

    t = threading.Thread(target=counter)
    t.start()
    try:
        t0 = time.monotonic()
        with pytest.raises(shmrt.Timeout) as e:
            job.wait(0.6)
        t1 = time.monotonic()
    finally:
        stop.set()
        t.join(5)
    assert t1 - t0 >= 0.55
    assert "wait for job %d of tenant" % job.id in str(e.value)
    assert "not finished before the deadline" in str(e.value)
    inside = [b for b in beats if t0 + 0.1 < b < t1 - 0.1]
    assert len(inside) >= 10, "other thread ran %d times in the wait" % (
        len(inside))
