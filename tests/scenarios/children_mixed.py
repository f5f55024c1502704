"""A Python subprocess and a plain os.fork child, each keeping a known
buffer; the program exits with 5 and the subprocess with 4."""

import os
import subprocess
import sys

kept = bytearray(2_000_000)  # @parent
SUBPROCESS = "x = bytearray(7_000_000)  # exec'd\nimport sys\nsys.exit(4)\n"
status = subprocess.run([sys.executable, "-c", SUBPROCESS]).returncode
pid = os.fork()
if pid == 0:
    child_data = bytearray(4_000_000)  # @forked
    sys.exit(0)
os.waitpid(pid, 0)
print("subprocess exit", status)
sys.exit(5)
