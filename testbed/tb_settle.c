/* tb_settle.c -- what the node processes share through memory the
 * launcher maps before it forks: under verification.draw_epoch the settled
 * verdicts of every workload request, and with a ledger section the
 * committed chain (at the end of the file): each height's block id and
 * transactions, written by the first process to commit it, and each
 * request's agreed height, written by its client's process at its first
 * draw, from which every process draws its committees (world_chain.c).
 *
 * The launcher maps the log (MAP_SHARED, anonymous) before it forks, so
 * every process, a restarted one included, sees the same memory. When a
 * request finishes, the process that hosts its client copies the request's
 * log (world_host_settle_log: its verdicts in the order the client applied
 * them) into the request's slot and then publishes it (a release store).
 * Each process's world reads the slots through tb__settle_fetch (an
 * acquire load) to replay the requests before an epoch into its settled
 * ledger, in request order, so every process draws every committee from
 * the same state, and the simulator's. A slot is written once, by one
 * process: a request has one client. A log longer than the slot (it
 * cannot be: the capacity bounds every decision a request can make) is
 * published truncated and said on stderr. */
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "consensus/cons.h"
#include "testbed/tb_int.h"
#include "util/assert.h"

_Static_assert(TB_BLOCK_ID_BYTES == CONS_BFT_ID_BYTES, "the shared chain holds cons_bft's ids");

/* 'bytes' of memory every process forked after this call shares, zeroed;
 * NULL when it cannot be mapped. */
static void *shared_map(size_t bytes)
{
    void *memory = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return memory == MAP_FAILED ? NULL : memory;
}

int tb_settled_map(tb_settled *settled, uint64_t requests, uint64_t capacity)
{
    memset(settled, 0, sizeof(*settled));
    if (requests == 0 || capacity == 0) {
        return 0;
    }
    size_t state_bytes = (size_t)requests * sizeof(uint32_t);
    size_t count_bytes = (size_t)requests * sizeof(uint32_t);
    size_t entry_bytes = (size_t)requests * capacity * sizeof(world_settle_entry);
    size_t bytes = state_bytes + count_bytes + entry_bytes;
    void *memory = shared_map(bytes);
    if (memory == NULL) {
        return TB_ESYS;
    }
    uint8_t *at = memory;
    settled->memory = memory;
    settled->bytes = bytes;
    settled->requests = requests;
    settled->capacity = capacity;
    settled->state = (_Atomic uint32_t *)(void *)at;
    settled->count = (uint32_t *)(void *)(at + state_bytes);
    settled->entries = (world_settle_entry *)(void *)(at + state_bytes + count_bytes);
    return 0;
}

void tb_settled_unmap(tb_settled *settled)
{
    if (settled->memory != NULL) {
        munmap(settled->memory, settled->bytes);
    }
    memset(settled, 0, sizeof(*settled));
}

void tb__settle_publish(tb_proc *proc, uint64_t request)
{
    const tb_settled *settled = proc->config->settled;
    uint32_t count = 0;
    const world_settle_entry *log =
        settled != NULL ? world_host_settle_log(proc->host, request, &count) : NULL;
    if (log == NULL || request >= settled->requests ||
        atomic_load_explicit(&settled->state[request], memory_order_acquire) != 0) {
        return;
    }
    uint32_t state = 1;
    if (count > settled->capacity) {
        fprintf(stderr, "infersim testbed: request %llu settled %u verdicts, more than %llu\n",
                (unsigned long long)request, count, (unsigned long long)settled->capacity);
        count = (uint32_t)settled->capacity;
        state = 2;
    }
    memcpy(settled->entries + request * settled->capacity, log, count * sizeof(*log));
    settled->count[request] = count;
    atomic_store_explicit(&settled->state[request], state, memory_order_release);
}

bool tb__settle_fetch(void *context, uint64_t request, const world_settle_entry **entries,
                      uint32_t *count)
{
    const tb_settled *settled = context;
    if (request >= settled->requests ||
        atomic_load_explicit(&settled->state[request], memory_order_acquire) == 0) {
        return false;
    }
    uint32_t n = settled->count[request];
    *entries = settled->entries + request * settled->capacity;
    *count = n <= settled->capacity ? n : (uint32_t)settled->capacity;
    return true;
}

/* ---- the committed chain (a ledger section) ---- */

int tb_chain_map(tb_chain *chain, uint64_t heights, uint64_t payload_bytes, uint64_t requests)
{
    memset(chain, 0, sizeof(*chain));
    if (heights == 0) {
        return 0;
    }
    size_t entry_bytes = (size_t)heights * sizeof(tb_chain_entry);
    size_t counter_bytes = 2 * sizeof(uint64_t);
    size_t height_bytes = (size_t)requests * sizeof(uint64_t);
    size_t bytes = entry_bytes + counter_bytes + height_bytes + (size_t)payload_bytes;
    void *memory = shared_map(bytes);
    if (memory == NULL) {
        return TB_ESYS;
    }
    uint8_t *at = memory;
    chain->memory = memory;
    chain->bytes = bytes;
    chain->heights = heights;
    chain->entries = memory;
    chain->payload_used = (_Atomic uint64_t *)(void *)(at + entry_bytes);
    chain->overflow = (_Atomic uint32_t *)(void *)(at + entry_bytes + sizeof(uint64_t));
    chain->request_height = (_Atomic uint64_t *)(void *)(at + entry_bytes + counter_bytes);
    chain->requests = requests;
    chain->payload = at + entry_bytes + counter_bytes + height_bytes;
    chain->payload_bytes = payload_bytes;
    chain->draws = requests > 0;
    return 0;
}

void tb_chain_unmap(tb_chain *chain)
{
    if (chain->memory != NULL) {
        munmap(chain->memory, chain->bytes);
    }
    memset(chain, 0, sizeof(*chain));
}

uint32_t tb__chain_payload(const tb_chain *chain, tb_chain_entry *entry, uint64_t height,
                           const uint8_t *bytes, size_t size)
{
    uint64_t offset = atomic_fetch_add_explicit(chain->payload_used, size, memory_order_relaxed);
    if (offset > chain->payload_bytes || size > chain->payload_bytes - offset) {
        fprintf(stderr,
                "infersim testbed: the block at height %llu (%zu bytes of transactions) does "
                "not fit in the shared chain's %llu bytes; draws stop below it\n",
                (unsigned long long)height, size, (unsigned long long)chain->payload_bytes);
        atomic_store_explicit(chain->overflow, 1, memory_order_relaxed);
        return 3;
    }
    if (size > 0) {
        memcpy(chain->payload + offset, bytes, size);
    }
    entry->offset = offset;
    entry->size = size;
    return 2;
}

/* Height 'height' with id 'id' against the shared entry: claims a free
 * one and writes it; compares a written one. An entry another process is
 * writing (a few instructions between its claim and its release) is
 * waited for, a bounded while: a writer killed in between (a crash
 * fault) leaves it unwritten, and the height is not compared (nor drawn
 * at, nor above). */
static void chain_height(tb_proc *proc, tb_chain_entry *entry, uint64_t height,
                         const uint8_t *id)
{
    uint32_t expected = 0;
    if (atomic_compare_exchange_strong_explicit(&entry->state, &expected, 1,
                                                memory_order_acq_rel, memory_order_acquire)) {
        entry->process = proc->config->process;
        memcpy(entry->id, id, TB_BLOCK_ID_BYTES);
        size_t size = 0;
        const uint8_t *bytes = world_host_block_txs(proc->host, height, &size);
        uint32_t state = tb__chain_payload(proc->config->chain, entry, height, bytes, size);
        atomic_store_explicit(&entry->state, state, memory_order_release);
        return;
    }
    for (uint32_t i = 0; atomic_load_explicit(&entry->state, memory_order_acquire) < 2; i++) {
        if (i == 100000) {
            return;
        }
        sched_yield();
    }
    if (memcmp(entry->id, id, TB_BLOCK_ID_BYTES) != 0) {
        world_host_block_forked(proc->host, height);
    }
}

void tb__chain_check(tb_proc *proc)
{
    const tb_chain *chain = proc->config->chain;
    if (chain == NULL) {
        return;
    }
    const uint8_t *id = NULL;
    while (proc->chain_checked < chain->heights &&
           (id = world_host_block_id(proc->host, proc->chain_checked + 1)) != NULL) {
        proc->chain_checked += 1;
        chain_height(proc, &chain->entries[proc->chain_checked - 1], proc->chain_checked, id);
    }
}

bool tb__chain_block(void *context, uint64_t height, const uint8_t **bytes, size_t *size)
{
    const tb_proc *proc = context;
    const tb_chain *chain = proc->config->chain;
    if (height == 0 || height > chain->heights) {
        return false;
    }
    const tb_chain_entry *entry = &chain->entries[height - 1];
    if (atomic_load_explicit(&entry->state, memory_order_acquire) != 2) {
        return false;
    }
    *bytes = chain->payload + entry->offset;
    *size = entry->size;
    return true;
}

/* The highest height published, with its transactions, without a gap. */
static uint64_t chain_contiguous(tb_proc *proc)
{
    const tb_chain *chain = proc->config->chain;
    while (proc->chain_published < chain->heights &&
           atomic_load_explicit(&chain->entries[proc->chain_published].state,
                                memory_order_acquire) == 2) {
        proc->chain_published += 1;
    }
    return proc->chain_published;
}

bool tb__chain_height(void *context, uint64_t request, bool claim, uint64_t *height_out)
{
    tb_proc *proc = context;
    const tb_chain *chain = proc->config->chain;
    if (request >= chain->requests) {
        return false;
    }
    _Atomic uint64_t *slot = &chain->request_height[request];
    uint64_t value = atomic_load_explicit(slot, memory_order_acquire);
    if (value == 0 && claim) {
        /* Set once: a restarted client's process finds the height its first
         * life set, and a recycled HTTP id keeps its first use's (other
         * processes may hold the committee drawn there). */
        uint64_t expected = 0;
        value = chain_contiguous(proc) + 1;
        if (!atomic_compare_exchange_strong_explicit(slot, &expected, value,
                                                     memory_order_acq_rel,
                                                     memory_order_acquire)) {
            value = expected;
        }
    }
    *height_out = value > 0 ? value - 1 : 0;
    return value > 0;
}
