"""Four threads each allocate (i+1) MiB at their own line and hold it until
all four have allocated (a Barrier), then all release. The peak is the moment
the last of the four allocated.

Prints {"main": main native id, "workers": [native id of thread 0..3]}.
"""
import json
import threading

N = 4
barrier = threading.Barrier(N)
native_ids = [None] * N


def worker(i):
    if i == 0:
        buf = bytearray(1 * 1024 * 1024)  # @t0
    elif i == 1:
        buf = bytearray(2 * 1024 * 1024)  # @t1
    elif i == 2:
        buf = bytearray(3 * 1024 * 1024)  # @t2
    else:
        buf = bytearray(4 * 1024 * 1024)  # @t3
    native_ids[i] = threading.get_native_id()
    barrier.wait()  # every thread holds its buffer until all four have allocated
    del buf


def main():
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(x, int) for x in native_ids), native_ids
    print(json.dumps({"main": threading.get_native_id(), "workers": native_ids}))


if __name__ == "__main__":
    main()
