"""Reads a whole file at once: the file named by argv[1], made by the test."""

import sys

with open(sys.argv[1], "rb") as f:
    data = f.read()  # @read
print(len(data))
