"""One 10 MiB allocation at a known line, two Python frames below the module.

Prints {"pid": ..., "tid": ...} (the process id and the main thread's native
id) as its only stdout line.
"""
import json
import os
import threading


def allocate_big():
    buf = bytearray(10 * 1024 * 1024)  # @big
    return buf


def main():
    data = allocate_big()  # @call_big
    assert len(data) == 10 * 1024 * 1024
    print(json.dumps({"pid": os.getpid(), "tid": threading.get_native_id()}))
    # `data` is freed when main returns: it is part of the peak, not a leak.


if __name__ == "__main__":
    main()  # @call_main
