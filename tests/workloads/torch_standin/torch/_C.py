"""The stand-in's allocator books, per device, and the C functions triscope calls (in real
PyTorch these are C functions of torch._C with the same names and results)."""
import os

DEVICES = 2
allocated = [0] * DEVICES
reserved = [0] * DEVICES
asked_before_init = 0   # calls made while CUDA was not initialised: must stay 0
asked = 0
imported_by_pid = None


def _cuda_getDeviceCount():
    return DEVICES


def _cuda_isInBadFork():
    return False


def _cuda_memoryStats(device):
    global asked, asked_before_init
    from . import cuda
    asked += 1
    if not cuda._initialized:
        asked_before_init += 1
    if os.environ.get("STANDIN_TORCH_BROKEN"):
        raise RuntimeError("stand-in torch: memory stats unavailable")
    return {"allocated_bytes": {"all": {"current": allocated[device], "peak": 0},
                                "large_pool": {"current": allocated[device]}},
            "reserved_bytes": {"all": {"current": reserved[device]}},
            "num_ooms": 0}
