"""PyTorch's allocator (the stand-in in torch_standin/, on the path the test gives) holds a
known amount while known lines run: 64 MiB on device 1 from the start, and 1 GiB more on
device 0 only while the @holds line runs. Buffer lines (@gap_in, @gap_out) of GAP_S keep the
lines around @holds more than a GPU reading's span away from the allocation and the free.
`no-init` imports torch but never initialises CUDA; `no-torch` never imports it. Writes its
truth to $GT_OUT: what the stand-in was asked, and whether torch was imported.

usage: torch_window.py torch|no-init|no-torch [SECONDS]
"""
import json
import os
import sys
import time

MODE = sys.argv[1] if len(sys.argv) > 1 else "torch"
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 0.8
GAP_S = 0.25
MIB = 1 << 20


def main():
    if MODE != "no-torch":
        import torch
    if MODE == "torch":
        torch.cuda.init()
        kept = torch.cuda.allocate(64 * MIB, device=1)
    end = time.perf_counter() + SECONDS
    while time.perf_counter() < end: pass  # @before
    end = time.perf_counter() + GAP_S
    while time.perf_counter() < end: pass  # @gap_in
    block = torch.cuda.allocate(1024 * MIB) if MODE == "torch" else None
    end = time.perf_counter() + SECONDS
    while time.perf_counter() < end: pass  # @holds
    if block is not None:
        torch.cuda.free(block)
    end = time.perf_counter() + GAP_S
    while time.perf_counter() < end: pass  # @gap_out
    end = time.perf_counter() + SECONDS
    while time.perf_counter() < end: pass  # @after
    if os.environ.get("GT_OUT"):
        standin = sys.modules.get("torch._C")
        with open(os.environ["GT_OUT"], "w") as stream:
            json.dump({"torch_imported": "torch" in sys.modules,
                       "asked": standin.asked if standin else 0,
                       "asked_before_init": standin.asked_before_init if standin else 0},
                      stream)
    print("done")


if __name__ == "__main__":
    main()
