/* SPDX-License-Identifier: MIT
 *
 * sha256.h — SHA-256 (FIPS 180-4) of a byte stream: the content hash the profile records
 * for each profiled source file, so that `triscope optimize` sends a file only while it is
 * still the file that was profiled (docs/PROFILE_FORMAT.md, docs/ARCHITECTURE.md).
 */
#ifndef TS_SHA256_H
#define TS_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t state[8];
    uint64_t length;           /* bytes hashed so far */
    unsigned char block[64];   /* the part of the next block received so far */
    size_t used;
} ts_sha256_t;

void ts_sha256_init(ts_sha256_t *hash);
void ts_sha256_update(ts_sha256_t *hash, const void *data, size_t len);
/* Finishes the hash: 64 lowercase hex digits and a NUL into `hex`. */
void ts_sha256_hex(ts_sha256_t *hash, char hex[65]);

#endif
