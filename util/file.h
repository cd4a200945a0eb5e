/* file.h -- whole-file helpers for setup time (never the event loop). */
#ifndef UTIL_FILE_H
#define UTIL_FILE_H

/* SHA-256 of the file at 'path', streamed, as 64 lowercase hex digits plus
 * NUL. Returns 0, or -1 when the file cannot be read (errno is set). */
int util_file_sha256_hex(const char *path, char hex_out[65]);

#endif
