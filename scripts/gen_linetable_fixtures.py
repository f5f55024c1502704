#!/usr/bin/env python3
"""Write the line-table fixtures for crates/analysis/tests/linetable.rs.

Run it once under each supported interpreter:

    for v in 3.9.18 3.10.13 3.11.7 3.12.1 3.13.0; do
        /root/.pyenv/versions/$v/bin/python3 scripts/gen_linetable_fixtures.py
    done

It compiles a set of deliberately awkward snippets, walks every code object
(recursively through ``co_consts``) and records, per code object:

* ``table``: the raw line-table bytes as hex, exactly what the tracker records
  (``co_lnotab`` on 3.9, ``co_linetable`` on 3.10 and later);
* ``first_line``: ``co_firstlineno``;
* ``lines``: the interpreter's own line for every code unit, i.e. for byte
  offset ``2 * i`` (so every instruction offset, and on 3.11+ every inline
  cache entry as well); ``null`` where the interpreter says "no line";
* ``past_end``: the interpreter's answer for byte offsets ``len(co_code)`` and
  ``len(co_code) + 1000`` (outside the code: exercises the "table exhausted"
  path).

The expected lines come from the interpreter's C function
``PyCode_Addr2Line`` itself (called through ctypes), which is exactly what a
traceback or ``frame.f_lineno`` uses. They are cross-checked against the
pure-Python views (``dis.findlinestarts`` on 3.9, ``code.co_lines()`` on
3.10+, ``code.co_positions()`` on 3.11+); any disagreement is written to the
fixture's ``disagreements`` list and reported on stderr (Addr2Line stays the
reference).
"""

import argparse
import ctypes
import dis
import json
import os
import sys
import types

VERSION = sys.version_info[:2]
FORMAT = {(3, 9): "Lnotab", (3, 10): "Linetable310"}.get(VERSION, "Locations311")
FORMAT_ID = {"Lnotab": 1, "Linetable310": 2, "Locations311": 3}[FORMAT]

_addr2line = ctypes.pythonapi.PyCode_Addr2Line
_addr2line.argtypes = [ctypes.py_object, ctypes.c_int]
_addr2line.restype = ctypes.c_int


def addr2line(code, offset):
    line = _addr2line(code, offset)
    return None if line == -1 else line


def table_of(code):
    return code.co_lnotab if VERSION < (3, 10) else code.co_linetable


# ---------------------------------------------------------------------------
# Snippets. Each is (name, source). Some are generated so that they contain
# large line jumps (> 127, > 255, > 2**16) and long single-line bytecode runs.
# ---------------------------------------------------------------------------

SNIPPETS = []


def snippet(name, src, min_version=(3, 9)):
    if VERSION >= min_version:
        SNIPPETS.append((name, src))


snippet("multiline_expr", '''\
def multi(a, b):
    x = (a +
         b *
         (a -
          b))
    y = foo(
        a,
        b,
    )[
        0
    ].attr.method(
        x
    )
    return {
        "k": x,
        "v": [y,
              a,
              b],
    }
''')

snippet("backwards", '''\
def back(a, b):
    return (a
            if b else
            a + 1)


def back2(items):
    total = sum(
        x
        for x in items
    )
    d = {
        k:
        v
        for k, v in items
    }
    return total, d


def chained(a):
    return (a
            .b
            .c(
                1)
            .d)
''')

snippet("generators", '''\
def gen(n):
    for i in range(n):
        yield i
    yield from other(n)
    x = yield
    return n


genexp = (x * 2
          for x in range(10)
          if x % 3)


def gen_in_gen(n):
    yield (y for y in
           (z for z in range(n)))
''')

snippet("async", '''\
async def coro(x):
    async with lock:
        await thing(x)
    async for y in aiter_(x):
        await other(y)
    try:
        await a()
    except ValueError:
        await b()
    finally:
        await c()
    return [z async for z in aiter_(x)]


async def agen(x):
    for i in x:
        yield await i
    async with a as b, c as d:
        yield b, d
''')

snippet("comprehensions", '''\
lst = [x for x in range(3)]
st = {x
      for x in range(3)
      if x}
dct = {k: v for k, v in zip("ab", "cd")}
nested = [[y * x for y in range(x)] for x in range(4)]


def in_function(data):
    return [
        (a, b)
        for a in data
        if a
        for b in data
        if not b
    ]
''')

snippet("lambdas", '''\
f = lambda x: x + 1
g = lambda x: (x +
               1)
h = lambda a, b=lambda: 0: (lambda c: a + b() + c)
sorted([3, 1, 2], key=lambda v: (
    -v,
    v))
''')

snippet("classes", '''\
import functools


class Outer:
    """Doc."""
    attr = 1
    other = [attr for _ in range(2)]

    def method(self, x):
        return x

    @property
    def prop(self):
        return self.attr

    @staticmethod
    def static(
        a,
        b,
    ):
        return a, b

    class Inner:
        def deep(self):
            class Local:
                z = 3
            return Local

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)


class Derived(Outer,
              metaclass=type):
    pass
''')

snippet("module_level", '''\
"""Module docstring."""
import os
import sys as _sys

X = 1
if X:
    Y = 2
else:
    Y = 3
for i in range(2):
    X += i
while X > 100:
    X -= 1
try:
    import nonexistent_module_for_fixture
except ImportError:
    nonexistent_module_for_fixture = None
del i
''')

snippet("try_except", '''\
def tef(x):
    try:
        a = x()
    except (TypeError,
            ValueError) as e:
        a = e
    except Exception:
        raise
    except:
        pass
    else:
        a = 2
    finally:
        print("done")
    return a


def nested_try(x):
    try:
        try:
            return x()
        finally:
            x.close()
    except KeyError:
        return None
    finally:
        for i in x:
            if i:
                break
        else:
            return 3


def with_stmt(path):
    with open(path) as f, open(path) as g:
        return f.read() + g.read()


def return_in_finally(x):
    try:
        return 1
    finally:
        if x:
            return 2
''')

snippet("except_star", '''\
def star(x):
    try:
        x()
    except* ValueError as eg:
        print(eg)
    except* (TypeError, KeyError):
        pass
''', min_version=(3, 11))

snippet("match_stmt", '''\
def m(cmd):
    match cmd:
        case [x, y, *rest]:
            return x
        case {"k": v,
              **kw}:
            return v
        case Point(x=0, y=0) | Point(x=1):
            return 0
        case str() as s if s:
            return s
        case _:
            return None
''', min_version=(3, 10))

snippet("loops", '''\
def loops(n):
    i = 0
    while i < n:
        i += 1
        if i % 2:
            continue
        if i > 10:
            break
    else:
        i = -1
    for a in range(n):
        for b in range(a):
            if a == b:
                break
        else:
            continue
        break
    while True:
        n -= 1
        if not n:
            break
    return i
''')

snippet("decorators", '''\
import functools


@functools.lru_cache(
    maxsize=None,
)
@staticmethod
def decorated(x):
    return x


def deco(f):
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        return f(*args,
                 **kwargs)
    return wrapper


@deco
class K:
    @deco
    @deco
    def m(self): return 1
''')

snippet("fstrings", '''\
def fs(a, b):
    return (f"{a}"
            f"{b!r:>{a}}"
            f"""{
            a + b
            }""")
''')

snippet("closures", '''\
def outer():
    x = 1

    def inner():
        nonlocal x
        x += 1

        def innermost():
            return x
        return innermost
    return inner
''')

snippet("tiny", "pass\n")
snippet("empty", "")
snippet("comments_first", "# a comment\n\n\n\n# more\nx = 1\n")
snippet("one_liners", "def f(): return 1\nclass C: pass\nif 1: y = 2\n")

# --- generated: big line jumps -------------------------------------------

# > 127, > 255 and huge forward jumps between consecutive statements.
_big = ["def big_jumps(a):", "    a += 1"]
for gap in (130, 300, 1000, 5000):
    _big.extend(["    # filler"] * gap)
    _big.append("    a += %d" % gap)
_big.append("    return a")
snippet("big_jumps", "\n".join(_big) + "\n")

# Backward jumps of > 128 and > 255 lines inside one statement.
_bb = ["def big_back(a, b):",
       "    x = (a"]
_bb.extend([""] * 300)
_bb.append("         if b else")
_bb.extend([""] * 140)
_bb.append("         b)")
_bb.append("    y = call(")
_bb.extend(["        a,"] * 400)
_bb.append("    )")
_bb.append("    for i in range(3):")
_bb.extend(["        a += i"] * 300)
_bb.append("    return x, y")
snippet("big_back", "\n".join(_bb) + "\n")

# A lot of bytecode on a single line: > 255 bytes (and > 8 code units per
# entry on 3.11+) with no line change, plus EXTENDED_ARG.
_wide = ", ".join("a%d" % i for i in range(400))
snippet("wide_line", "def wide(%s):\n    x = [%s]\n    return x\n" % (_wide, _wide))
snippet("wide_module", "x = {%s}\ny = x\n" % ", ".join("%d: 'v%d'" % (i, i) for i in range(300)))

# A long function: many statements, long jumps, EXTENDED_ARG on branches.
_long = ["def long_function(n):", "    total = 0"]
for i in range(600):
    if i % 50 == 0:
        _long.append("    if n > %d:" % i)
        _long.append("        total += n")
    _long.append("    total += %d * n" % i)
_long.append("    while total > 0:")
_long.append("        total -= 1000")
_long.append("    return total")
snippet("long_function", "\n".join(_long) + "\n")

# Lines beyond 2**16 (multi-chunk varints on 3.11+, long lnotab runs).
snippet("deep_module", "\n" * 70000 + "def far_away(x):\n    return x\n\n"
        + "\n" * 200 + "far_away(1)\n")


# ---------------------------------------------------------------------------


def walk(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from walk(const)


def cross_check(code, offset):
    """The pure-Python view of the line of `offset`, for comparison."""
    if VERSION < (3, 10):
        line = None
        for start, l in dis.findlinestarts(code):
            if start <= offset:
                line = l
        return line if line is not None else code.co_firstlineno
    for start, end, line in code.co_lines():
        if start <= offset < end:
            return line
    return None


def describe(name, code):
    n = len(code.co_code)
    lines = [addr2line(code, off) for off in range(0, n, 2)]
    disagreements = []
    for i, expect in enumerate(lines):
        off = 2 * i
        other = cross_check(code, off)
        if other != expect:
            disagreements.append({"offset": off, "addr2line": expect,
                                  "python_view": other})
        if VERSION >= (3, 11):
            pos = list(code.co_positions())[i][0]
            if pos != expect:
                disagreements.append({"offset": off, "addr2line": expect,
                                      "co_positions": pos})
    instr = [ins.offset for ins in dis.get_instructions(code)]
    return {
        "name": name,
        "first_line": code.co_firstlineno,
        "code_len": n,
        "instructions": len(instr),
        "table": table_of(code).hex(),
        "lines": lines,
        "past_end": [addr2line(code, n), addr2line(code, n + 1000)],
    }, disagreements


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    default_out = os.path.join(
        root, "crates", "analysis", "tests", "fixtures",
        "linetable-%d.%d.json" % VERSION)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default=default_out)
    args = ap.parse_args()

    objects = []
    all_disagreements = []
    for snip, src in SNIPPETS:
        top = compile(src, "<%s>" % snip, "exec")
        for code in walk(top):
            qual = getattr(code, "co_qualname", code.co_name)
            name = "%s:%s:%d" % (snip, qual, code.co_firstlineno)
            obj, dis_ = describe(name, code)
            objects.append(obj)
            for d in dis_:
                d["code"] = name
                all_disagreements.append(d)

    for d in all_disagreements:
        print("disagreement:", d, file=sys.stderr)

    head = {
        "python": sys.version.split()[0],
        "format": FORMAT,
        "format_id": FORMAT_ID,
        "expected_from": "PyCode_Addr2Line (ctypes)",
        "offset_step": 2,
        "disagreements": all_disagreements,
    }
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        # One code object per line keeps diffs readable and the file small.
        f.write("{\n")
        for key, value in head.items():
            f.write("%s: %s,\n" % (json.dumps(key), json.dumps(value)))
        f.write('"code_objects": [\n')
        f.write(",\n".join(json.dumps(o, separators=(",", ":"))
                           for o in objects))
        f.write("\n]\n}\n")
    offsets = sum(len(o["lines"]) for o in objects)
    nones = sum(1 for o in objects for l in o["lines"] if l is None)
    print("%s: %d code objects, %d offsets (%d with no line), %d disagreements, %d bytes -> %s"
          % (head["python"], len(objects), offsets, nones,
             len(all_disagreements), os.path.getsize(args.output), args.output),
          file=sys.stderr)


if __name__ == "__main__":
    main()
