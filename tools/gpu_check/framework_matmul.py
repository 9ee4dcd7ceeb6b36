"""The same shape as driver_spin.py through a framework: PyTorch or CuPy.

usage: framework_matmul.py torch|cupy

A matrix-product loop line (each product launched and synchronised on the line itself), host
lines of pure Python with the GPU idle, and a line that allocates 2 GiB on the device and
holds it for a second. The matrices and the framework's own start-up (context, cuBLAS) come
first, so the memory before the host line is the baseline. Writes its truth to $GT_OUT and a
result line (a checksum of the product, the same in every run) to stdout.
"""
import functools
import json
import os
import sys
import time

FRAMEWORK = sys.argv[1] if len(sys.argv) > 1 else "torch"
GIB = 1 << 30
N = 8192
KERNEL_SECONDS = 2.0

if FRAMEWORK == "torch":
    import torch

    def matrix(seed):
        generator = torch.Generator(device="cuda").manual_seed(seed)
        return torch.rand((N, N), device="cuda", generator=generator)

    sync = torch.cuda.synchronize

    empty = functools.partial(torch.empty, dtype=torch.uint8, device="cuda")

    def checksum(c):
        return float(c[:64, :64].sum())

    def device_name():
        return torch.cuda.get_device_name(0)

    allocated = torch.cuda.memory_allocated  # what triscope's allocator view must show
elif FRAMEWORK == "cupy":
    import cupy

    def matrix(seed):
        return cupy.random.RandomState(seed).rand(N, N, dtype=cupy.float32)

    sync = cupy.cuda.Device().synchronize

    empty = functools.partial(cupy.empty, dtype=cupy.uint8)

    def checksum(c):
        return float(c[:64, :64].sum())

    def device_name():
        return cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()

    def allocated():
        return None
else:
    raise SystemExit(f"usage: {sys.argv[0]} torch|cupy")


def main():
    started = time.perf_counter()
    a, b = matrix(1), matrix(2)
    c = a @ b; sync()  # the first product loads cuBLAS
    begin = time.perf_counter()
    for _ in range(3): c = a @ b; sync()
    products = max(1, int(KERNEL_SECONDS / ((time.perf_counter() - begin) / 3)))
    # Every marked line does its own work: a profile charges each sample to the innermost
    # line of a profiled file (the framework's own files are not profiled).
    end = time.perf_counter() + 1.0
    while time.perf_counter() < end: sum(i * i for i in range(200))  # @host
    for _ in range(products): c = a @ b; sync()  # @matmul
    end = time.perf_counter() + 0.5
    while time.perf_counter() < end: sum(i * i for i in range(200))  # @host_between
    held_before = allocated()
    buffer = empty(2 * GIB); sync(); time.sleep(1.0)  # @alloc
    held_at_alloc = allocated()
    del buffer
    end = time.perf_counter() + 0.3
    while time.perf_counter() < end: sum(i * i for i in range(200))  # @host_after
    result = checksum(c)
    truth = {"framework": FRAMEWORK, "device": device_name(), "products": products,
             "kernel_lines": ["matmul"], "host_lines": ["host", "host_between", "host_after"],
             "alloc_line": "alloc", "alloc_bytes": 2 * GIB,
             "allocator_before": held_before, "allocator_at_alloc": held_at_alloc,
             "elapsed_s": time.perf_counter() - started}
    if os.environ.get("GT_OUT"):
        with open(os.environ["GT_OUT"], "w") as stream:
            json.dump(truth, stream)
    print(f"{FRAMEWORK}: {N}x{N} product, checksum {result:.6e}")


if __name__ == "__main__":
    main()
