"""Memory profiling against programs that bring their own allocator (issue 13, item 12).

The user preloads jemalloc or tcmalloc (LD_PRELOAD set before triscope starts); triscope
re-executes itself with its allocator library ahead of the user's. The bar: 5000 live
malloc(100000) blocks (476.8 MB) give a peak within 10% of that under glibc's allocator,
jemalloc and tcmalloc, and the program sees LD_PRELOAD exactly as under plain python.

jemalloc and tcmalloc are Debian's libjemalloc2 and libtcmalloc-minimal4, installed by
`make test` (the allocator-deps target); where one is missing its cases are skipped with a
reason naming the package.
"""
import ctypes.util
import json

import pytest

from conftest import describe, load_profile, marker_line, run_python, run_triscope, workload

PEAK_BAR = 0.10  # relative, the peak of the live blocks

# id: (library name for ctypes.util.find_library, Debian package); None: glibc's allocator.
ALLOCATORS = {
    "glibc": None,
    "jemalloc": ("jemalloc", "libjemalloc2"),
    "tcmalloc": ("tcmalloc_minimal", "libtcmalloc-minimal4"),
}


def within(got, want, bar):
    return abs(got - want) <= bar * want


@pytest.fixture(scope="module", params=sorted(ALLOCATORS))
def allocator_runs(request, tmp_path_factory):
    """mem_allocators.py under plain python and under triscope, with the user's LD_PRELOAD
    naming the allocator (unset for glibc's)."""
    wanted = ALLOCATORS[request.param]
    user_preload = None
    if wanted is not None:
        user_preload = ctypes.util.find_library(wanted[0])
        if user_preload is None:
            pytest.skip(f"*** {request.param} is not installed (Debian package {wanted[1]}; "
                        f"`make test` installs it): its memory accuracy is NOT tested ***")
    script = workload("mem_allocators.py")
    out = {}
    for kind, runner in (("plain", run_python), ("triscope", run_triscope)):
        cwd = tmp_path_factory.mktemp(f"{request.param}-{kind}")
        proc = runner([script], cwd, env={"LD_PRELOAD": user_preload,
                                          "GT_OUT": cwd / "truth.json"})
        assert proc.returncode == 0, describe(proc)
        truth = json.loads((cwd / "truth.json").read_text())
        profile = load_profile(cwd / "profile.json") if kind == "triscope" else None
        out[kind] = (proc, truth, profile)
    return user_preload, script, out


def test_allocator_peak_is_the_live_blocks(allocator_runs):
    _, script, out = allocator_runs
    proc, truth, profile = out["triscope"]
    want = truth["mb"]
    footprint = profile["memory"]["max_footprint_mb"]
    assert within(footprint, want, PEAK_BAR), (
        f"max footprint {footprint:.1f} MB for {want:.1f} MB of live blocks")
    blocks = marker_line(profile, script, "blocks")
    assert blocks is not None, describe(proc)
    assert within(blocks["peak_mb"], want, PEAK_BAR), (
        f"@blocks peak {blocks['peak_mb']:.1f} MB for {want:.1f} MB of live blocks")
    assert within(blocks["alloc_mb"], want, PEAK_BAR), (
        f"@blocks allocated {blocks['alloc_mb']:.1f} MB for {want:.1f} MB requested")


def test_allocator_program_sees_its_own_ld_preload(allocator_runs):
    user_preload, _, out = allocator_runs
    plain, plain_truth, _ = out["plain"]
    proc, truth, _ = out["triscope"]
    assert truth["ld_preload"] == repr(user_preload), truth
    assert truth["ld_preload"] == plain_truth["ld_preload"], (truth, plain_truth)
    assert proc.stdout == plain.stdout, describe(proc)
