"""Reports how it was started, echoes stdin, writes to both streams, exits 3.

stdout: two text lines, a JSON report, then stdin's bytes verbatim, then a
bulk block (to exercise pipes beyond their buffer size).
"""
import json
import os
import sys

data = sys.stdin.buffer.read()
sys.stdout.write("stdout: first line\n")
sys.stderr.write("stderr: first line\n")
report = {
    "argv": sys.argv,
    "name": __name__,
    "path0": sys.path[0],
    "cwd": os.getcwd(),
    "stdin_len": len(data),
}
print(json.dumps(report, sort_keys=True))
sys.stdout.flush()
sys.stdout.buffer.write(data)
sys.stdout.buffer.write(b"".join(b"bulk line %06d\n" % i for i in range(20000)))
sys.stdout.buffer.flush()
sys.stderr.write("stderr: last line\n")
sys.exit(3)
