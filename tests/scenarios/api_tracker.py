"""The Python API, driven from a script: ``python api_tracker.py MODE CAPTURE``.

Each mode prints one JSON line on stdout for the test to read.
"""

import json
import sys
import time

import memsleuth

MODE, CAPTURE = sys.argv[1], sys.argv[2]
MiB = 1024 * 1024


def context():
    with memsleuth.Tracker(CAPTURE) as tracker:
        block = bytearray(8 * MiB)  # @context_alloc
    result = tracker.result
    print(json.dumps({"path": result.path, "events": result.events, "bytes": result.bytes_written}))
    return block


def decorated_target():
    return bytearray(6 * MiB)  # @decorated_alloc


def decorator():
    tracked = memsleuth.Tracker(CAPTURE)(decorated_target)
    block = tracked()
    print(json.dumps({"len": len(block), "name": tracked.__name__}))


def wait_for(predicate, timeout_s=10.0):
    """Polls until the writer has flushed what the predicate looks for."""
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)


def queries():
    with memsleuth.Tracker(CAPTURE):
        data = bytearray(20 * MiB)  # @query_alloc
        wait_for(lambda: memsleuth.current_bytes() >= 20 * MiB)
        current, peak = memsleuth.current_bytes(), memsleuth.peak_bytes()
        sites = [s._asdict() for s in memsleuth.top_sites(3)]
        for _ in range(50):  # the queries themselves must leave no trace
            memsleuth.current_bytes()
            memsleuth.top_sites(5)
        del data
        wait_for(lambda: memsleuth.current_bytes() < 20 * MiB)
        after = memsleuth.current_bytes()
        peak_after = memsleuth.peak_bytes()
    print(json.dumps({"current": current, "peak": peak, "sites": sites, "after": after, "peak_after": peak_after}))


def twice():
    refusals = []
    tracker = memsleuth.Tracker(CAPTURE).start()
    for attempt in (tracker, memsleuth.Tracker(CAPTURE + ".second")):
        try:
            attempt.start()
        except memsleuth.TrackerError as e:
            refusals.append(str(e))
    tracker.stop()
    for query in (tracker.stop, memsleuth.current_bytes):
        try:
            query()
        except memsleuth.TrackerError as e:
            refusals.append(str(e))
    print(json.dumps({"refusals": refusals}))


class Record:
    def __init__(self, n):
        self.n = n


def snapshot():
    with memsleuth.Tracker(CAPTURE):
        records = [Record(i) for i in range(5000)]  # @snapshot_records
        number = memsleuth.snapshot()
    print(json.dumps({"snapshot": number, "records": len(records)}))


def under_run():
    """Under `memsleuth run`: a Tracker is refused, the queries work."""
    try:
        memsleuth.Tracker(CAPTURE).start()
        refusal = None
    except memsleuth.TrackerError as e:
        refusal = str(e)
    data = bytearray(12 * MiB)  # @run_alloc
    wait_for(lambda: memsleuth.current_bytes() >= 12 * MiB)
    print(json.dumps({"refusal": refusal, "current": memsleuth.current_bytes(), "len": len(data)}))


{"context": context, "decorator": decorator, "queries": queries, "twice": twice,
 "snapshot": snapshot, "under-run": under_run}[MODE]()
