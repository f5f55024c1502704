"""A pre-fork server: builds its state, then forks workers without
gc.freeze(). Each worker exits at once."""

import os

WORKERS = 3
state = [(i, str(i)) for i in range(400_000)]  # @state

children = []
for _ in range(WORKERS):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
