"""An object whose only reference is one that C code holds: a reference
count taken with Py_IncRef and never released, the Python name dropped."""

import ctypes


class Orphan:
    __slots__ = ("payload",)


def orphan():
    o = Orphan()  # @orphan
    o.payload = bytearray(4_000_000)
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(o))


orphan()
