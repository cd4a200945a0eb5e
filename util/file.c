/* file.c -- whole-file helpers (see file.h). */
#include "util/file.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>

int util_file_sha256_hex(const char *path, char hex_out[65])
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        return -1;
    }
    crypto_hash_sha256_state state;
    unsigned char chunk[65536];
    unsigned char digest[crypto_hash_sha256_BYTES];
    size_t got;
    crypto_hash_sha256_init(&state);
    while ((got = fread(chunk, 1, sizeof(chunk), file)) > 0) {
        crypto_hash_sha256_update(&state, chunk, got);
    }
    int failed = ferror(file);
    fclose(file);
    if (failed) {
        errno = EIO;
        return -1;
    }
    crypto_hash_sha256_final(&state, digest);
    sodium_bin2hex(hex_out, 65, digest, sizeof(digest));
    return 0;
}
