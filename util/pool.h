/* pool.h -- a pool of fixed-size blocks that grows in chunks and recycles
 * freed blocks, so a steady state allocates nothing. Blocks never move:
 * a pointer stays valid until the block is released or the pool destroyed.
 * Used for per-request memory whose count is bounded by what is in flight
 * (KV caches, the oracle's copies of logits). */
#ifndef UTIL_POOL_H
#define UTIL_POOL_H

#include <stddef.h>
#include <stdint.h>

#define UTIL_POOL_CHUNK 16   /* blocks per chunk */

typedef struct util_pool {
    size_t block_bytes;      /* rounded up to 64 */
    uint8_t **chunks;
    uint32_t chunk_count;
    uint32_t *free_blocks;   /* stack of free block ids */
    uint32_t free_count;
    uint32_t block_count;
} util_pool;

/* Empty pool of blocks of 'block_bytes' (> 0). Cannot fail. */
void util_pool_init(util_pool *pool, size_t block_bytes);
/* Frees every chunk. Cannot fail. */
void util_pool_deinit(util_pool *pool);
/* Takes a block: returns its id in *block_out and 0, or -1 when memory ran
 * out. */
int util_pool_take(util_pool *pool, uint32_t *block_out);
void util_pool_give(util_pool *pool, uint32_t block);
/* The block's memory, 64-byte aligned relative to its chunk. */
void *util_pool_block(const util_pool *pool, uint32_t block);

#endif
