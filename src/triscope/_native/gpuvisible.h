/* SPDX-License-Identifier: MIT
 *
 * gpuvisible.h — which of NVML's devices a CUDA program may use. NVML lists every GPU of
 * the machine, in PCI bus order; the CUDA runtime shows a program only the devices that
 * $CUDA_VISIBLE_DEVICES names, renumbered from 0 in the order named. Pure C, no NVML:
 * unit-tested alone. The rules it follows are written in docs/ARCHITECTURE.md (GPU).
 */
#ifndef TS_GPUVISIBLE_H
#define TS_GPUVISIBLE_H

/* Fills `cuda_index` (one entry per NVML device, NVML's order) with the number the
 * program's CUDA runtime gives that device, or -1 where the program cannot see it.
 * `spec` is $CUDA_VISIBLE_DEVICES (NULL: unset, every device visible in NVML's order);
 * `uuids` are the devices' NVML UUIDs ("GPU-…", NULL or "" where unknown). Returns how many
 * devices are visible, or -1 when `spec` names devices that cannot be mapped to whole GPUs
 * (MIG instances): then every device is marked visible in NVML's order. */
int ts_gpu_visible_devices(const char *spec, const char *const *uuids, unsigned count,
                           int *cuda_index);

#endif
