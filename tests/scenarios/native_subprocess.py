"""Starts a shell and a child Python from the profiled program (fork/exec or
posix_spawn happen while the allocator hooks are installed), lets both print
to the inherited stdout, then exits with EXIT_CODE.

Prints one JSON line with the children's return codes after their output.
"""
import json
import subprocess
import sys

EXIT_CODE = 7

shell = subprocess.run(["/bin/sh", "-c", "echo shell-ok"])
sys.stdout.flush()
child = subprocess.run([sys.executable, "-c", "print('child-ok')"])
# A child whose output the program reads through a pipe, too.
piped = subprocess.run([sys.executable, "-c", "print('piped-ok')"], stdout=subprocess.PIPE)
print(json.dumps({
    "shell": shell.returncode,
    "child": child.returncode,
    "piped": piped.returncode,
    "piped_out": piped.stdout.decode(),
}))
sys.exit(EXIT_CODE)
