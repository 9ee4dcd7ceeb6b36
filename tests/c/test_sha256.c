/* SPDX-License-Identifier: MIT
 *
 * test_sha256.c — SHA-256 against the test vectors of FIPS 180-4 (the empty message, "abc",
 * the two-block message, a million 'a'), and the same digest whatever the sizes of the
 * pieces the message arrives in (blocks split anywhere, padding crossing a block).
 */
#include "sha256.h"
#include "testhelp.h"

#include <stdlib.h>

static void digest(const void *data, size_t len, char hex[65])
{
    ts_sha256_t hash;
    ts_sha256_init(&hash);
    ts_sha256_update(&hash, data, len);
    ts_sha256_hex(&hash, hex);
}

static void test_standard_vectors(void)
{
    char hex[65];
    digest("", 0, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    digest("abc", 3, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    digest(two_blocks, strlen(two_blocks), hex);
    CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    char *million = malloc(1000000);
    CHECK(million != NULL);
    if (million == NULL)
        return;
    memset(million, 'a', 1000000);
    digest(million, 1000000, hex);
    CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(million);
}

static void test_pieces_of_any_size(void)
{
    unsigned char message[768];
    for (size_t i = 0; i < sizeof message; i++)
        message[i] = (unsigned char)i;
    char whole[65], pieces[65];
    digest(message, sizeof message, whole);
    CHECK_STR(whole, "f3a25aa93aa2fbba28d79260535bbd6a5eb0fc1c24a8b0f04e12b484c1dfe363");
    for (size_t step = 1; step <= 130; step += 7) {
        ts_sha256_t hash;
        ts_sha256_init(&hash);
        for (size_t at = 0; at < sizeof message; at += step)
            ts_sha256_update(&hash, message + at,
                             sizeof message - at < step ? sizeof message - at : step);
        ts_sha256_hex(&hash, pieces);
        CHECK_STR(pieces, whole);
    }
    /* Lengths around the padding boundary: 55 bytes fit one block, 56 need a second. */
    char a[65], b[65];
    digest(message, 55, a);
    digest(message, 56, b);
    CHECK(strcmp(a, b) != 0);
    CHECK_STR(a, "463eb28e72f82e0a96c0a4cc53690c571281131f672aa229e0d45ae59b598b59");
}

int main(void)
{
    RUN(test_standard_vectors);
    RUN(test_pieces_of_any_size);
    return TEST_DONE();
}
