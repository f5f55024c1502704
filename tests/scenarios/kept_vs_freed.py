"""A 4 MiB bytes object freed before exit, and an 8 MiB one kept in a module
global until exit."""


def transient():
    tmp = bytes(4 * 1024 * 1024)  # @freed
    return len(tmp)  # `tmp` is freed when the function returns


SIZE = transient()  # @call_transient
assert SIZE == 4 * 1024 * 1024

KEPT = bytes(8 * 1024 * 1024)  # @kept
