/* pool.c -- chunked fixed-size block pool (see pool.h). */
#include "util/pool.h"

#include <string.h>

#include "util/alloc.h"
#include "util/assert.h"

void util_pool_init(util_pool *pool, size_t block_bytes)
{
    ASSERT(block_bytes > 0);
    memset(pool, 0, sizeof(*pool));
    pool->block_bytes = (block_bytes + 63) & ~(size_t)63;
}

void util_pool_deinit(util_pool *pool)
{
    for (uint32_t c = 0; c < pool->chunk_count; c++) {
        util_free(pool->chunks[c]);
    }
    util_free(pool->chunks);
    util_free(pool->free_blocks);
    memset(pool, 0, sizeof(*pool));
}

/* Adds one chunk of blocks. Returns 0 or -1 (no memory; pool unchanged in
 * what it hands out). */
static int pool_grow(util_pool *pool)
{
    uint8_t **chunks = util_realloc(pool->chunks, (pool->chunk_count + 1) * sizeof(*chunks));
    if (chunks == NULL) {
        return -1;
    }
    pool->chunks = chunks;
    size_t slots = (size_t)pool->block_count + UTIL_POOL_CHUNK;
    uint32_t *free_blocks = util_realloc(pool->free_blocks, slots * sizeof(uint32_t));
    if (free_blocks == NULL) {
        return -1;
    }
    pool->free_blocks = free_blocks;
    uint8_t *chunk = util_malloc(pool->block_bytes * UTIL_POOL_CHUNK);
    if (chunk == NULL) {
        return -1;
    }
    pool->chunks[pool->chunk_count++] = chunk;
    /* Pushed in reverse so the lowest new id is taken first. */
    for (uint32_t i = 0; i < UTIL_POOL_CHUNK; i++) {
        pool->free_blocks[pool->free_count++] = pool->block_count + UTIL_POOL_CHUNK - 1 - i;
    }
    pool->block_count += UTIL_POOL_CHUNK;
    return 0;
}

int util_pool_take(util_pool *pool, uint32_t *block_out)
{
    ASSERT(pool->block_bytes > 0);
    if (pool->free_count == 0 && pool_grow(pool) != 0) {
        return -1;
    }
    *block_out = pool->free_blocks[--pool->free_count];
    return 0;
}

void util_pool_give(util_pool *pool, uint32_t block)
{
    ASSERT(block < pool->block_count);
    ASSERT(pool->free_count < pool->block_count);
    pool->free_blocks[pool->free_count++] = block;
}

void *util_pool_block(const util_pool *pool, uint32_t block)
{
    ASSERT(block < pool->block_count);
    return pool->chunks[block / UTIL_POOL_CHUNK] +
           (size_t)(block % UTIL_POOL_CHUNK) * pool->block_bytes;
}
