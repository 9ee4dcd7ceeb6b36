"""The stand-in's torch.cuda: `_initialized` (the flag is_initialized() reads), and calls
that move its allocator: init(), allocate(nbytes, device) → handle, free(handle)."""
from . import _C

_initialized = False
_blocks = {}


def is_initialized():
    return _initialized


def init():
    global _initialized
    _initialized = True


def allocate(nbytes, device=0):
    handle = object()
    _blocks[id(handle)] = (device, nbytes)
    _C.allocated[device] += nbytes
    # a caching allocator keeps what it got from the driver
    _C.reserved[device] = max(_C.reserved[device], _C.allocated[device])
    return handle


def free(handle):
    device, nbytes = _blocks.pop(id(handle))
    _C.allocated[device] -= nbytes
