"""triscope: a CPU, GPU and memory profiler for Python with a C core."""

__version__ = "0.1.0"
