"""5 MiB allocated in a generator body after it was resumed by consume(), and
6 MiB in a coroutine run by asyncio.run(), after it was resumed by the event
loop. Both buffers are kept in a module global until exit."""
import asyncio

KEEP = []


def chunks():
    yield b"warm-up"
    data = bytes(5 * 1024 * 1024)  # @gen
    yield data


def consume():
    g = chunks()
    next(g)
    KEEP.append(next(g))  # @consume


async def fetch():
    # Zero-length: only hands control back to the event loop once, so that
    # the allocation below runs in a *resumed* coroutine. Not a timing wait.
    await asyncio.sleep(0)
    data = bytes(6 * 1024 * 1024)  # @coro
    KEEP.append(data)
    # Return something small: asyncio formats the repr of a task's result,
    # which for a 6 MiB bytes object would be a ~24 MiB transient string.
    return len(data)


def main():
    consume()  # @call_consume
    assert asyncio.run(fetch()) == 6 * 1024 * 1024
    assert [len(x) for x in KEEP] == [5 * 1024 * 1024, 6 * 1024 * 1024]


if __name__ == "__main__":
    main()
