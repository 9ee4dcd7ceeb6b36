"""What each NVML query that triscope's poll makes costs on this machine (gpu.c, "A poll").

Holds a CUDA context (so this process is among the GPU's compute processes), then times
each query 50 times and prints one JSON object: query name -> median microseconds.
"""
import ctypes
import json
import statistics
import time

cuda = ctypes.CDLL("libcuda.so.1")
nvml = ctypes.CDLL("libnvidia-ml.so.1")


class ProcessInfo(ctypes.Structure):
    _fields_ = [("pid", ctypes.c_uint), ("used", ctypes.c_ulonglong),
                ("gpu_instance", ctypes.c_uint), ("compute_instance", ctypes.c_uint)]


class ProcessSample(ctypes.Structure):
    _fields_ = [("pid", ctypes.c_uint), ("stamp", ctypes.c_ulonglong), ("sm", ctypes.c_uint),
                ("mem", ctypes.c_uint), ("enc", ctypes.c_uint), ("dec", ctypes.c_uint)]


def median_us(call, rounds=50):
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1e6)
    return round(statistics.median(times), 1)


def main():
    context = ctypes.c_void_p()
    assert cuda.cuInit(0) == 0 and cuda.cuDevicePrimaryCtxRetain(ctypes.byref(context), 0) == 0
    cuda.cuCtxSetCurrent(context)
    assert nvml.nvmlInit_v2() == 0
    device = ctypes.c_void_p()
    nvml.nvmlDeviceGetHandleByIndex_v2(0, ctypes.byref(device))
    infos, samples = (ProcessInfo * 256)(), (ProcessSample * 512)()
    count = ctypes.c_uint()
    utilization = (ctypes.c_uint * 2)()
    since = int(time.time() * 1e6) - 1000000

    def processes():
        count.value = 256
        nvml.nvmlDeviceGetComputeRunningProcesses_v3(device, ctypes.byref(count), infos)

    def process_utilization():
        count.value = 512
        nvml.nvmlDeviceGetProcessUtilization(device, samples, ctypes.byref(count),
                                             ctypes.c_ulonglong(since))

    costs = {
        "nvmlDeviceGetComputeRunningProcesses_v3": median_us(processes),
        "nvmlDeviceGetProcessUtilization": median_us(process_utilization),
        "nvmlDeviceGetUtilizationRates": median_us(
            lambda: nvml.nvmlDeviceGetUtilizationRates(device, utilization)),
    }
    print(json.dumps(costs))


if __name__ == "__main__":
    main()
