/* world_place.c -- which node has which hardware class and region, and
 * which nodes a fault selector names (the simulator applies the fault to
 * its network in sim/fault.c, the testbed to its processes). Every
 * random choice here uses its own stream (PLACEMENT, or FAULT with the
 * fault's index as id), so adding a fault never changes another's nodes. */
#include <stdio.h>
#include <string.h>

#include "world/world_int.h"
#include "util/alloc.h"
#include "util/assert.h"

/* Largest-remainder apportionment of 'total' items to fractions summing
 * to 1. Ties on remainder go to the lower index: deterministic. */
static void apportion(uint32_t total, const double *fractions, uint32_t count, uint32_t *out)
{
    uint32_t assigned = 0;
    double remainders[SCN_CLASSES_MAX > SCN_REGIONS_MAX ? SCN_CLASSES_MAX : SCN_REGIONS_MAX];
    ASSERT(count >= 1);
    ASSERT(count <= UTIL_ARRAY_COUNT(remainders));
    for (uint32_t i = 0; i < count; i++) {
        double exact = fractions[i] * (double)total;
        out[i] = (uint32_t)exact;
        remainders[i] = exact - (double)out[i];
        assigned += out[i];
    }
    while (assigned < total) {
        uint32_t best = 0;
        for (uint32_t i = 1; i < count; i++) {
            if (remainders[i] > remainders[best]) {
                best = i;
            }
        }
        out[best] += 1;
        remainders[best] = -1.0;
        assigned += 1;
    }
    ASSERT(assigned == total);
}

/* Fills 'labels' with counts[i] copies of i, then shuffles them with
 * Fisher-Yates so classes and regions are spread over node ids. */
static void spread(uint16_t *labels, uint32_t total, const uint32_t *counts, uint32_t count,
                   util_prng *prng)
{
    uint32_t at = 0;
    for (uint32_t i = 0; i < count; i++) {
        for (uint32_t k = 0; k < counts[i]; k++) {
            labels[at++] = (uint16_t)i;
        }
    }
    ASSERT(at == total);
    for (uint32_t i = total; i > 1; i--) {
        uint32_t j = (uint32_t)util_prng_below(prng, i);
        uint16_t swap = labels[i - 1];
        labels[i - 1] = labels[j];
        labels[j] = swap;
    }
}

int world__placement(world_state *world)
{
    const scn_nodes *nodes = &world->scenario->nodes;
    double fractions[SCN_CLASSES_MAX > SCN_REGIONS_MAX ? SCN_CLASSES_MAX : SCN_REGIONS_MAX];
    uint32_t counts[UTIL_ARRAY_COUNT(fractions)];
    util_prng prng;

    util_prng_init_stream(&prng, world->scenario->seed, 0, UTIL_PRNG_PURPOSE_PLACEMENT);
    for (uint32_t i = 0; i < nodes->class_count; i++) {
        fractions[i] = nodes->classes[i].fraction;
    }
    apportion(world->node_count, fractions, nodes->class_count, counts);
    spread(world->result->class_of, world->node_count, counts, nodes->class_count, &prng);
    for (uint32_t i = 0; i < nodes->region_count; i++) {
        fractions[i] = nodes->regions[i].fraction;
    }
    apportion(world->node_count, fractions, nodes->region_count, counts);
    spread(world->result->region_of, world->node_count, counts, nodes->region_count, &prng);
    return 0;
}

/* Marks round(fraction * n) nodes chosen by a partial Fisher-Yates over a
 * virtual identity permutation kept in 'order' (n entries of scratch). */
static void select_fraction(world_state *world, double fraction, uint32_t fault_index,
                            uint8_t *selected)
{
    uint32_t n = world->node_count;
    uint32_t want = (uint32_t)(fraction * (double)n + 0.5);
    uint32_t *order = util_malloc((size_t)n * sizeof(*order));
    util_prng prng;

    ASSERT(order != NULL); /* Setup-time allocation; sized by the scenario. */
    util_prng_init_stream(&prng, world->scenario->seed, fault_index, UTIL_PRNG_PURPOSE_FAULT);
    for (uint32_t i = 0; i < n; i++) {
        order[i] = i;
    }
    for (uint32_t i = 0; i < want && i < n; i++) {
        uint32_t j = i + (uint32_t)util_prng_below(&prng, n - i);
        uint32_t swap = order[i];
        order[i] = order[j];
        order[j] = swap;
        selected[order[i]] = 1;
    }
    util_free(order);
}

uint32_t world_select(world_state *world, const scn_selector *selector, uint32_t fault_index,
                     uint8_t *selected)
{
    uint32_t n = world->node_count;
    uint32_t chosen = 0;

    memset(selected, 0, n);
    for (uint32_t i = 0; i < selector->id_count; i++) {
        ASSERT(selector->ids[i] < n); /* Validated by scn_. */
        selected[selector->ids[i]] = 1;
    }
    if (selector->has_range) {
        ASSERT(selector->range_last < n);
        memset(selected + selector->range_first, 1,
               selector->range_last - selector->range_first + 1);
    }
    if (selector->fraction > 0.0) {
        select_fraction(world, selector->fraction, fault_index, selected);
    }
    for (uint32_t i = 0; i < n; i++) {
        if (selector->all || (selector->class_index >= 0 &&
                              world->result->class_of[i] == (uint16_t)selector->class_index) ||
            (selector->region_index >= 0 &&
             world->result->region_of[i] == (uint16_t)selector->region_index)) {
            selected[i] = 1;
        }
        chosen += selected[i];
    }
    return chosen;
}

const char *world_fault_kind_name(scn_fault_kind kind)
{
    return kind < SCN_FAULT_KIND_COUNT ? scn_fault_kinds[kind].name : "unknown";
}

/* Group of every node for a partition; returns the number of nodes not in
 * group 0 (the nodes that the partition moves away from the rest). */
uint32_t world_partition_groups(world_state *world, const scn_fault *fault, uint32_t fault_index)
{
    uint32_t n = world->node_count;
    uint32_t moved = 0;

    memset(world->groups, 0, n);
    if (fault->shape == SCN_PARTITION_HALVES) {
        memset(world->groups + n / 2, 1, n - n / 2);
    } else if (fault->shape == SCN_PARTITION_REGIONS) {
        for (uint32_t i = 0; i < n; i++) {
            world->groups[i] = (uint8_t)world->result->region_of[i];
        }
    } else if (fault->shape == SCN_PARTITION_ISOLATE) {
        /* Each selected node alone: up to 255 distinct groups; beyond that
         * the selected nodes share groups round-robin, still cut off from
         * every unselected node. */
        uint32_t next = 0;
        world_select(world, &fault->nodes, fault_index, world->scratch);
        for (uint32_t i = 0; i < n; i++) {
            if (world->scratch[i]) {
                world->groups[i] = (uint8_t)(1 + next % 255);
                next++;
            }
        }
    } else {
        for (uint32_t g = fault->group_count; g > 0; g--) {
            world_select(world, &fault->groups[g - 1], fault_index, world->scratch);
            for (uint32_t i = 0; i < n; i++) {
                if (world->scratch[i]) {
                    world->groups[i] = (uint8_t)g; /* First listed group wins. */
                }
            }
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        moved += world->groups[i] != 0;
    }
    return moved;
}
