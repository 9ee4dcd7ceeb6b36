"""What one CPython version changes and the profile must not: the JIT of 3.14+.

With the JIT enabled (PYTHON_JIT=1, where the build has one: Debian's 3.15 does) hot loops
run as machine code in anonymous memory. That code is the program's Python, so its time is
Python time (docs/DEFINITIONS.md, "Time"); calls out of it stay native. Runs on every version
whose build has a JIT, and is skipped, saying so, on the others.
"""
import pytest

from conftest import marker_line, pcts, profile_workload, run_python

JIT_ON = {"PYTHON_JIT": "1"}


def jit_enabled(tmp_path):
    probe = run_python(["-c", "import sys; j = getattr(sys, '_jit', None); "
                              "print(bool(j and j.is_enabled()))"], tmp_path, env=JIT_ON)
    return probe.stdout.strip() == "True"


def test_jit_machine_code_is_python_time(tmp_path):
    if not jit_enabled(tmp_path):
        pytest.skip("this CPython has no JIT (or cannot enable it)")
    run = profile_workload(tmp_path, "native_mix.py", "0.5",
                           options=["--cpu", "--json", "-o", "profile.json"], env=JIT_ON)
    python, native, _ = pcts(marker_line(run.profile, run.script, "pure"))
    assert python > 0, "the pure loop has no CPU time"
    assert native <= 0.1 * (python + native), \
        f"the JIT-compiled pure loop: Python {python:.1f} %, native {native:.1f} %"
    python, native, _ = pcts(marker_line(run.profile, run.script, "native_zlib"))
    assert native >= 0.9 * (python + native), \
        f"zlib called from JIT code: Python {python:.1f} %, native {native:.1f} %"


def test_call_opcodes_name_every_call_dis_knows():
    """The table of opcodes that call out, built from the opcode module alone (without
    dis, which costs a start 1.6 ms), marks exactly the opcodes dis names as calls, the
    specialised ones included."""
    import dis
    import opcode
    from triscope import _compat
    names = dict(enumerate(getattr(dis, "_all_opname", opcode.opname)))
    names.update({n: name for name, n in getattr(opcode, "_specialized_opmap", {}).items()})
    expected = bytes(1 if "CALL" in names.get(n, "") else 0 for n in range(256))
    assert _compat.call_opcodes() == expected
    assert sum(expected) >= 5  # CALL, its specialisations and CALL_FUNCTION_EX at least


def test_the_built_in_call_opcodes_are_this_interpreters():
    """The C core's table is made when the extension is built (tools/call_opcodes_header.py,
    from _compat.call_opcodes): it must be the running interpreter's."""
    from triscope import _compat, _native
    assert _native.CALL_OPCODES == _compat.call_opcodes()
    assert sum(_native.CALL_OPCODES) >= 5
