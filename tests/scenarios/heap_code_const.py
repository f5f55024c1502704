"""A function whose code object holds a 30,000-character str constant that
nothing else refers to. The function is compiled at run time so that this
file stays small; the constant is not an identifier, so it is not interned."""

SIZE = 30_000

exec('def spelled():\n    return "' + "q-" * (SIZE // 2) + '"\n')  # @compile
assert len(spelled()) == SIZE  # noqa: F821 (defined by the exec above)
