"""Allocates from 4,000 distinct code objects, so that the collapsed-stack
output is far larger than a pipe's buffer."""

kept = []
for i in range(4000):
    source = f"kept.append(bytearray({100 + i}))"
    exec(compile(source, f"<generated-{i:04d}>", "exec"))
