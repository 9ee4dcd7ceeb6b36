"""GPU work through the CUDA driver alone (ctypes on libcuda.so.1): no framework needed.

A PTX kernel spins on the GPU's global timer for a given time, so every kernel line's GPU
time is known in advance; each kernel line launches and synchronises in one statement, so
the GPU time belongs to that line and to no other. Host lines run pure Python with the GPU
idle. One line allocates 2 GiB on the device and holds it for a second. Writes its truth
(durations, bytes, device name, driver version, elapsed time) to $GT_OUT and a result line
to stdout. Lines are marked `# @name` for tools/gpu_check/check.py.

usage: driver_spin.py [lines|async]
  lines   the shape above (the default)
  async   one line launches a 2 s kernel without waiting, the next runs 2 s of Python while
          it runs, the third waits: GPU time goes to the Python line, or with blocking
          launches (CUDA_LAUNCH_BLOCKING=1, triscope --gpu-sync) to the launching line
"""
import ctypes
import functools
import json
import os
import sys
import time

# Spins until `ns` nanoseconds of the GPU's global timer have passed since it started.
SPIN_PTX = b"""
.version 7.0
.target sm_50
.address_size 64
.visible .entry spin(.param .u64 ns)
{
    .reg .u64 %rd<5>;
    .reg .pred %p1;
    ld.param.u64 %rd1, [ns];
    mov.u64 %rd2, %globaltimer;
LOOP:
    mov.u64 %rd3, %globaltimer;
    sub.u64 %rd4, %rd3, %rd2;
    setp.lt.u64 %p1, %rd4, %rd1;
    @%p1 bra LOOP;
    ret;
}
\0"""
GIB = 1 << 30
BLOCKS, THREADS = 264, 128  # every SM of an H100 or H200 busy, twice over
cuda = ctypes.CDLL("libcuda.so.1")
c_size_p = ctypes.POINTER(ctypes.c_size_t)
cuda.cuLaunchKernel.argtypes = [ctypes.c_void_p] + [ctypes.c_uint] * 7 + [
    ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
cuda.cuMemAlloc_v2.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_size_t]
cuda.cuMemFree_v2.argtypes = [ctypes.c_uint64]
cuda.cuMemGetInfo_v2.argtypes = [c_size_p, c_size_p]


def check(rc, what):
    if rc != 0:
        name = ctypes.c_char_p()
        cuda.cuGetErrorName(rc, ctypes.byref(name))
        raise SystemExit(f"driver_spin: {what} failed: {name.value!r} ({rc})")


def setup():
    check(cuda.cuInit(0), "cuInit")
    device = ctypes.c_int()
    check(cuda.cuDeviceGet(ctypes.byref(device), 0), "cuDeviceGet")
    name = ctypes.create_string_buffer(256)
    check(cuda.cuDeviceGetName(name, 256, device), "cuDeviceGetName")
    version = ctypes.c_int()
    check(cuda.cuDriverGetVersion(ctypes.byref(version)), "cuDriverGetVersion")
    context = ctypes.c_void_p()
    check(cuda.cuDevicePrimaryCtxRetain(ctypes.byref(context), device), "cuDevicePrimaryCtxRetain")
    check(cuda.cuCtxSetCurrent(context), "cuCtxSetCurrent")
    module = ctypes.c_void_p()
    check(cuda.cuModuleLoadData(ctypes.byref(module), SPIN_PTX), "cuModuleLoadData")
    function = ctypes.c_void_p()
    check(cuda.cuModuleGetFunction(ctypes.byref(function), module, b"spin"), "cuModuleGetFunction")
    return function, name.value.decode(), version.value


def spin_for(seconds):
    """The spin kernel's parameters for `seconds` (kept alive by the caller's statement)."""
    ns = ctypes.c_uint64(int(seconds * 1e9))
    return (ctypes.c_void_p * 1)(ctypes.cast(ctypes.pointer(ns), ctypes.c_void_p)), ns


def free_bytes():
    free, total = ctypes.c_size_t(), ctypes.c_size_t()
    check(cuda.cuMemGetInfo_v2(ctypes.byref(free), ctypes.byref(total)), "cuMemGetInfo")
    return free.value


def allocate(size):
    pointer = ctypes.c_uint64()
    check(cuda.cuMemAlloc_v2(ctypes.byref(pointer), size), "cuMemAlloc")
    return pointer


def write_truth(truth):
    if os.environ.get("GT_OUT"):
        with open(os.environ["GT_OUT"], "w") as stream:
            json.dump(truth, stream)


# Every marked line does its own work, launching and waiting or computing on the line
# itself: a profile charges each sample to the innermost line, so a helper function's
# lines would carry the time instead.

def overlap(function, device, driver, started):
    launch = functools.partial(cuda.cuLaunchKernel, function, BLOCKS, 1, 1, THREADS, 1, 1, 0, None)
    params, _ = spin_for(2.0)
    check(launch(params, None), "cuLaunchKernel")  # @launch_async
    end = time.perf_counter() + 2.0
    while time.perf_counter() < end: sum(i * i for i in range(200))  # @host_overlap
    check(cuda.cuCtxSynchronize(), "cuCtxSynchronize")  # @sync
    write_truth({"device": device, "driver_version": driver, "kernel_s": 2.0,
                 "launch_line": "launch_async", "overlap_line": "host_overlap",
                 "elapsed_s": time.perf_counter() - started})
    print(f"driver_spin async: {device}, driver {driver}")


def main():
    started = time.perf_counter()
    function, device, driver = setup()
    # A C-level partial: no Python frame of its own between the marked line and the driver.
    launch = functools.partial(cuda.cuLaunchKernel, function, BLOCKS, 1, 1, THREADS, 1, 1, 0, None)
    (warm_up, _), (long_kernel, _long), (short_kernel, _short) = map(spin_for, (0.05, 2.0, 0.05))
    check(launch(warm_up, None) or cuda.cuCtxSynchronize(), "warm-up")
    if sys.argv[1:] == ["async"]:
        return overlap(function, device, driver, started)
    end = time.perf_counter() + 1.0
    while time.perf_counter() < end: sum(i * i for i in range(200))  # @host
    check(launch(long_kernel, None) or cuda.cuCtxSynchronize(), "kernel")  # @kernel_long
    end = time.perf_counter() + 0.5
    while time.perf_counter() < end: sum(i * i for i in range(200))  # @host_between
    for _ in range(20): check(launch(short_kernel, None) or cuda.cuCtxSynchronize(), "kernel")  # @kernel_short
    before = free_bytes()
    buffer = allocate(2 * GIB); time.sleep(1.0)  # @alloc
    allocated = before - free_bytes()
    check(cuda.cuMemFree_v2(buffer), "cuMemFree")
    end = time.perf_counter() + 0.3
    while time.perf_counter() < end: sum(i * i for i in range(200))  # @host_after
    truth = {"device": device, "driver_version": driver, "kernel_s": 3.0,
             "kernel_lines": ["kernel_long", "kernel_short"],
             "host_lines": ["host", "host_between", "host_after"],
             "alloc_line": "alloc", "alloc_bytes": allocated,
             "elapsed_s": time.perf_counter() - started}
    write_truth(truth)
    print(f"driver_spin: {device}, driver {driver}, {allocated / GIB:.2f} GiB allocated")


if __name__ == "__main__":
    main()
