"""A stand-in for PyTorch, as much of it as triscope reads (docs/ARCHITECTURE.md, GPU: the
allocator's view): `torch._C`'s two allocator functions and `torch.cuda`'s flag. The program
moves the stand-in's allocator with torch.cuda.init / allocate / free.
"""
import os

from . import _C, cuda

_C.imported_by_pid = os.getpid()
