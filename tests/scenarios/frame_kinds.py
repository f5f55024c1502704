"""Allocations in frames of several kinds, each a distinct size, all kept
alive until exit:
  lambda 1 MiB, list comprehension 2 MiB, class body 3 MiB,
  module-level code 5 MiB, exec() of code compiled as "<generated>" 6 MiB
  (the source is generated_snippet.txt, which carries its own marker).
Exactly five big sites, so they are the top five leak sites (`summary` may
list only the top few). Methods are in qualnames.py.
"""
import os

KEEP = []

make_blob = lambda: bytes(1 * 1024 * 1024)  # @lambda
KEEP.append(make_blob())  # @call_lambda

LISTED = [bytes(2 * 1024 * 1024) for _ in range(1)]  # @listcomp


class Holder:  # @class_stmt
    PAYLOAD = bytes(3 * 1024 * 1024)  # @class_body


MODULE_BLOB = bytes(5 * 1024 * 1024)  # @module_level

with open(os.path.join(os.path.dirname(__file__), "generated_snippet.txt"), encoding="utf-8") as f:
    SNIPPET = f.read()
exec(compile(SNIPPET, "<generated>", "exec"), globals())  # @exec_call

assert len(GENERATED) == 6 * 1024 * 1024  # noqa: F821 (defined by the snippet)
