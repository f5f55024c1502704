"""Allocations in a method, a method of a nested class and a nested function,
kept alive until exit. memsleuth names them by co_qualname on 3.11+
(Outer.method, Outer.Inner.deep, outer.<locals>.inner), by co_name before."""

KEEP = []


class Outer:
    def method(self):
        return bytes(1 * 1024 * 1024)  # @method

    class Inner:
        def deep(self):
            return bytes(2 * 1024 * 1024)  # @nested_method


def outer():
    def inner():
        return bytes(3 * 1024 * 1024)  # @nested_function

    return inner()  # @call_inner


KEEP.append(Outer().method())  # @call_method
KEEP.append(Outer.Inner().deep())  # @call_deep
KEEP.append(outer())  # @call_outer
assert [len(x) for x in KEEP] == [n * 1024 * 1024 for n in (1, 2, 3)]
