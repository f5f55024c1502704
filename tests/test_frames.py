"""Frames of every kind: generators and coroutines (test 6); lambdas,
comprehensions, class bodies, methods, module code and exec() (test 7)."""

import pytest

from conftest import (
    MiB,
    SCENARIOS,
    assert_bytes_about,
    code_name,
    frame,
    frame_of,
    marker_line,
    module_listcomp_name,
    single_site_at,
)


# Test 6 ---------------------------------------------------------------------


@pytest.mark.parametrize("which", ["peak_sites", "leak_sites"])
def test_generator_frame_and_its_resumer(profile, which):
    cap = profile("gen_async.py")
    script = cap.script
    site = single_site_at(cap.summary[which], script, cap.line("gen"), which)
    assert site["function"] == code_name("chunks")
    assert_bytes_about(site, 5 * MiB)
    stack = [frame_of(f) for f in site["stack"]]
    assert stack[1] == frame(script, cap.line("consume"), code_name("consume"))
    assert stack[2] == frame(script, cap.line("call_consume"), code_name("main"))


@pytest.mark.parametrize("which", ["peak_sites", "leak_sites"])
def test_coroutine_frame(profile, which):
    cap = profile("gen_async.py")
    site = single_site_at(cap.summary[which], cap.script, cap.line("coro"), which)
    assert site["function"] == code_name("fetch")
    assert_bytes_about(site, 6 * MiB)


# Test 7 ---------------------------------------------------------------------

# marker, qualname (None: computed), size in MiB
FRAME_KINDS = [
    ("lambda", "<lambda>", 1),
    ("listcomp", None, 2),
    ("class_body", "Holder", 3),
    ("module_level", "<module>", 5),
]


@pytest.mark.parametrize("marker,qualname,mib", FRAME_KINDS, ids=[k[0] for k in FRAME_KINDS])
def test_frame_kind_leak_site(profile, marker, qualname, mib):
    cap = profile("frame_kinds.py")
    site = single_site_at(cap.summary["leak_sites"], cap.script, cap.line(marker), "leak sites")
    expected = module_listcomp_name() if qualname is None else code_name(qualname)
    assert site["function"] == expected
    assert_bytes_about(site, mib * MiB)


def test_frame_kind_callers(profile):
    cap = profile("frame_kinds.py")
    script, leaks = cap.script, cap.summary["leak_sites"]

    def caller(marker):
        return frame_of(single_site_at(leaks, script, cap.line(marker), "leak sites")["stack"][1])

    assert caller("lambda") == frame(script, cap.line("call_lambda"), "<module>")
    assert caller("class_body") == frame(script, cap.line("class_stmt"), "<module>")
    if module_listcomp_name() == "<listcomp>":  # its own frame, called by the module
        assert caller("listcomp") == frame(script, cap.line("listcomp"), "<module>")


def test_exec_of_generated_code(profile):
    cap = profile("frame_kinds.py")
    line = marker_line(SCENARIOS / "generated_snippet.txt", "exec_alloc")
    site = single_site_at(cap.summary["leak_sites"], "<generated>", line, "leak sites")
    assert site["function"] == "<module>"
    assert_bytes_about(site, 6 * MiB)
    # exec() is a C function: the Python frame below is the module at the exec() line.
    assert frame_of(site["stack"][1]) == frame(cap.script, cap.line("exec_call"), "<module>")


# Qualified names ---------------------------------------------------------------

QUALNAMES = [
    ("method", "Outer.method", 1, "call_method", "<module>"),
    ("nested_method", "Outer.Inner.deep", 2, "call_deep", "<module>"),
    ("nested_function", "outer.<locals>.inner", 3, "call_inner", "outer"),
]


@pytest.mark.parametrize("marker,qualname,mib,call,caller", QUALNAMES, ids=[q[0] for q in QUALNAMES])
def test_qualified_names(profile, marker, qualname, mib, call, caller):
    cap = profile("qualnames.py")
    site = single_site_at(cap.summary["leak_sites"], cap.script, cap.line(marker), "leak sites")
    assert site["function"] == code_name(qualname)
    assert_bytes_about(site, mib * MiB)
    assert frame_of(site["stack"][1]) == frame(cap.script, cap.line(call), caller)
