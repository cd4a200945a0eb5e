/* tb_settle.c -- verification.draw_epoch on the testbed: the settled
 * verdicts of every workload request, shared by all the node processes.
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
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "testbed/tb_int.h"
#include "util/assert.h"

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
    void *memory = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (memory == MAP_FAILED) {
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
