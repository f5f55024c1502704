"""Allocates a little, through Python only, and reports the process's threads.

Prints {"main": this thread's native id, "tasks": {tid: thread name}} for
every thread of the process (the tracker's own included).
"""
import json
import os
import threading

data = [bytes(100) for _ in range(100)]
tasks = {}
for tid in os.listdir("/proc/self/task"):
    with open(f"/proc/self/task/{tid}/comm") as f:
        tasks[tid] = f.read().strip()
print(json.dumps({"main": threading.get_native_id(), "tasks": tasks}))
