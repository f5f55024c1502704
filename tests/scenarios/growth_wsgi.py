"""A WSGI-style service loop for growth detection (`memsleuth leaks`).

A handler is called REQUESTS times, as a server would. Each request:

- appends a copy of its body to a module-level audit log that is never
  trimmed: a leak, one bytes object of BODY_BYTES + 1 bytes per request, at
  the line marked @leak;
- renders its page through a cache of ROUTES routes: the cache fills during
  the first ROUTES requests (10% of the run) and then only hits, a warm-up
  cache that levels off, at the line marked @warmup;
- works in a scratch buffer of SCRATCH_BYTES that is freed when it returns,
  at the line marked @temporary;
- waits LATENCY_S, as for a database, so that the run spans many timeline
  samples (at least 64 at the default 10 ms).
"""

import time

REQUESTS = 3000
ROUTES = 300
BODY_BYTES = 1023
PAGE_BYTES = 4096
SCRATCH_BYTES = 64 * 1024
LATENCY_S = 0.0003

AUDIT_LOG = []
PAGE_CACHE = {}


def render(route):
    page = PAGE_CACHE.get(route)
    if page is None:
        page = bytes(PAGE_BYTES)  # @warmup
        PAGE_CACHE[route] = page
    return page


def application(environ, start_response):
    body = environ["wsgi.input"]
    entry = body + b"\n"  # @leak
    AUDIT_LOG.append(entry)
    scratch = bytearray(SCRATCH_BYTES)  # @temporary
    scratch[: len(body)] = body
    page = render(environ["PATH_INFO"])
    time.sleep(LATENCY_S)
    start_response("200 OK", [("Content-Length", str(len(page)))])
    return [page]


def serve():
    body = b"x" * BODY_BYTES
    statuses = []
    for i in range(REQUESTS):
        environ = {"PATH_INFO": f"/page/{i % ROUTES}", "wsgi.input": body}
        application(environ, lambda status, headers: statuses.append(status))  # @call_application
        statuses.clear()


if __name__ == "__main__":
    serve()  # @call_serve
