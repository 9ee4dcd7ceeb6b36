/* SPDX-License-Identifier: MIT
 *
 * torchmem.h — PyTorch's view of the GPU memory it uses: the bytes its CUDA caching
 * allocator has handed out to tensors (what `torch.cuda.memory_allocated` says) and the bytes
 * it holds from the driver (`torch.cuda.memory_reserved`), summed over devices. NVML sees
 * only the second, and in a container only device-wide (docs/DEFINITIONS.md, GPU).
 *
 * Read only when the program itself imported torch and initialised CUDA; GIL held.
 */
#ifndef TS_TORCHMEM_H
#define TS_TORCHMEM_H

#include <stdint.h>

typedef struct {
    uint64_t allocated_bytes; /* handed out to tensors, all devices */
    uint64_t reserved_bytes;  /* held from the driver by the caching allocator */
} ts_torchmem_reading_t;

/* What the profile says about it: how often it was read and the peaks of the readings. */
typedef struct {
    uint64_t reads;
    uint64_t peak_allocated_bytes, peak_reserved_bytes;
} ts_torchmem_summary_t;

/* Reads the allocator now: 1 with `out` filled, 0 when there is nothing to read (torch not
 * imported, CUDA not initialised by the program, a forked child's broken CUDA, or a failed
 * call: then it is not asked again in this profile). GIL held. */
int ts_torchmem_read(ts_torchmem_reading_t *out);

void ts_torchmem_summary(ts_torchmem_summary_t *out);

/* A fresh profile: forgets the peaks and asks again after a failure. GIL held. */
void ts_torchmem_reset(void);

#endif
