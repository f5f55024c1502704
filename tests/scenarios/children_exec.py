"""Replaces itself with a new interpreter running this script again."""

import os
import sys

if len(sys.argv) == 1:
    first = bytearray(1_000_000)  # @before_exec
    os.execv(sys.executable, [sys.executable, __file__, "again"])
second = bytearray(2_000_000)  # @after_exec
