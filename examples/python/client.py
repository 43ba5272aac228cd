"""examples/python/client.py - what the service's request handlers do:
enqueue jobs, wait for some, check what shmrt promised. Prints a summary
and exits 0 when every promise held, 1 otherwise."""
import json
import sys
import time

from service import rt

CONVERSATIONS, TURNS, UPLOADS, USERS = 20, 10, 12, 15


def overlap(intervals):
    """The most intervals open at one moment."""
    events = sorted([(a, 1) for a, b in intervals] +
                    [(b, -1) for a, b in intervals])
    most = now = 0
    for _, d in events:
        now += d
        most = max(most, now)
    return most


def main():
    t = time.monotonic()
    chat = [rt.enqueue("chat", json.dumps({"turn": i, "text": "hi %d" % i})
                       .encode(), lane="conv-%d" % c)
            for i in range(TURNS) for c in range(CONVERSATIONS)]
    uploads = [rt.enqueue("upload", b"\0" * (100 * (i + 1)))
               for i in range(UPLOADS)]
    # Every update is sent twice (a client retry): same key, one job.
    profiles = [rt.enqueue("profile", json.dumps(
        {"user": "u%d" % (i % USERS), "fields": ["name", "avatar"]}).encode(),
        key="req-%d" % (i % USERS)) for i in range(2 * USERS)]
    exams = [rt.enqueue("exam", b"answers %d" % i) for i in range(5)]
    jobs = chat + uploads + profiles + exams
    states = [j.wait(60) for j in jobs]
    ok = states.count("succeeded") == len(jobs)
    print("%d jobs in %.2fs: %s" % (len(jobs), time.monotonic() - t,
                                    "all succeeded" if ok else states))

    turns = [json.loads(j.result) for j in chat]
    in_order = 0
    for c in range(CONVERSATIONS):
        mine = [r for r in turns if r["conversation"] == "conv-%d" % c]
        if [r["turn"] for r in mine] == list(range(TURNS)) and all(
                b["t0"] >= a["t1"] for a, b in zip(mine, mine[1:])):
            in_order += 1
    print("chat: %d/%d conversations ran in order, one turn at a time"
          % (in_order, CONVERSATIONS))

    most = overlap([(r["t0"], r["t1"]) for r in
                    (json.loads(j.result) for j in uploads)])
    print("upload: at most %d at once (semaphore_limit = 2)" % most)

    fresh = sum(1 for j in profiles if not j.existing)
    print("profile: %d updates sent, %d jobs (%d answered with the "
          "existing job)" % (len(profiles), fresh, len(profiles) - fresh))
    print("exam (C workers): %s" % ", ".join(
        j.result.decode() for j in exams))

    ok = ok and in_order == CONVERSATIONS and most <= 2 and \
        fresh == USERS and all(j.result.startswith(b"score=") for j in exams)
    rt.close()
    print("example service: %s" % ("ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
