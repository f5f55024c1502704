"""Two bytearrays grown by reallocation and kept alive until exit: one by
`+=` to exactly 6 MiB, one by `.extend()` to exactly 3 MiB. All the growing
of each buffer happens on a single line, so each buffer is one block at that
line."""

CHUNK = bytes(64 * 1024)


def grow_iadd():
    buf = bytearray()
    for _ in range(96):
        buf += CHUNK  # @grow_iadd
    return buf


def grow_extend():
    buf = bytearray()
    for _ in range(48):
        buf.extend(CHUNK)  # @grow_extend
    return buf


KEPT_IADD = grow_iadd()
KEPT_EXTEND = grow_extend()
assert len(KEPT_IADD) == 6 * 1024 * 1024
assert len(KEPT_EXTEND) == 3 * 1024 * 1024
