/* world_vrf.c -- committee selection that nobody can predict
 * (verification.selection: vrf). Every node holds a VRF key, its ed25519
 * key pair derived from (seed, node) as for signing. Once per epoch
 * (verification.vrf_epoch of simulated time; a request belongs to the
 * epoch of its submission) a node evaluates ECVRF-EDWARDS25519-SHA512-TAI
 * (consensus/cons_vrf.c) on the epoch's input, cons_vrf_epoch_alpha (the
 * run seed and the epoch number; a ledger's committed-block beacon plugs in
 * there). Its ticket for a (request beacon, segment) is cons_vrf_uniform of
 * its output beta, so nobody can compute it before the node reveals its
 * proof, and the committee is the Efraimidis-Spirakis race over those
 * tickets weighted by stake x reputation, as with hash tickets.
 *
 * The draw consumes the tickets the candidates claim: an honest node
 * claims its own; a forged_ticket node claims the best ticket there is
 * (u = 1) and, asked for its proof, sends its honest proof with one bit of
 * the challenge flipped. A member's proof rides its commitment
 * (node/committee.c); the client checks it (claim_check) before it counts
 * the vote, so a forger's vote is refused, the refusal counted
 * (vrf_proofs_rejected), and the forger ends its round judged as a member
 * that never committed.
 *
 * Cost: proving and verifying take no simulated time (as ed25519 signature
 * checks do not); they cost wall time, which bench/ measures. A node
 * evaluates its output once per epoch (cons_vrf_output_h, about a proof's
 * cost; it keeps H and Gamma, so the proof costs half what it would) and
 * makes its proof once per epoch when it first claims a seat (per request
 * would cost one proof per candidate per request). A client's check of a
 * member is a real cons_vrf_verify_h on the bytes the message carried
 * (the member's key was tested once, in the registry: vrf_key; Gamma is
 * not tested for the subgroup when it is the member's own, which its
 * output made), unless those bytes are the member's epoch proof that a
 * check found valid before (vrf_verify). A node keeps an output, a proof
 * and a check for two epochs at once (world_vrf_slot): with one, the
 * requests of an epoch still in flight when the next began made their
 * members evaluate, prove and verify again, in turn with the new epoch's
 * draws (at 3,000 nodes 1.26, 1.09 and 1.18 times the needed counts).
 *
 * On several threads a draw's seated members make their proofs, and the
 * proofs are checked as a client would check them, on the draw pool while
 * the run goes on (world__vrf_seated): the run's own thread then finds
 * them made and checked when the member claims and the client checks.
 * The run waits for a node's job before it next uses that node's VRF
 * state (vrf_settle), and the pool's threads never touch a node the run
 * is using, so every output, proof and answer is the one the run's own
 * thread would have computed. */
#include <math.h>
#include <string.h>

#include "consensus/cons.h"
#include "util/alloc.h"
#include "util/assert.h"
#include "util/hash.h"
#include "util/workers.h"
#include "world/world_int.h"

_Static_assert(NODE_CLAIM_MAX == CONS_VRF_PROOF_BYTES, "a claim is one VRF proof");
_Static_assert(WORLD_VRF_SEATS < UINT8_MAX, "vrf_seat_of holds a ring index + 1");

/* A seated member's proof and check as a job of the draw pool
 * (world__vrf_seated). */
typedef struct world_vrf_seat {
    util_job job;                    /* first: the job is the seat */
    world_state *world;
    uint32_t node_id;                /* pending while vrf_seat_of[node_id] names it */
    uint64_t epoch;
    uint8_t alpha[CONS_BEACON_BYTES];
} world_vrf_seat;

/* Node 'node_id''s slot for 'epoch' (world_vrf_slot). */
static world_vrf_slot *vrf_slot(const world_state *world, uint32_t node_id, uint64_t epoch)
{
    ASSERT(node_id < world->node_count);
    return &world->vrf_slots[2 * (size_t)node_id + (epoch & 1u)];
}

/* The tag of node 'node_id''s output for 'epoch''s parity: epoch + 1 when
 * its slot holds that epoch's beta. */
static uint64_t *vrf_evaluated(const world_state *world, uint32_t node_id, uint64_t epoch)
{
    ASSERT(node_id < world->node_count);
    return &world->vrf_evaluated[2 * (size_t)node_id + (epoch & 1u)];
}

/* Whether node 'node_id' has its output of 'epoch' in its slot. */
static bool vrf_has_output(const world_state *world, uint32_t node_id, uint64_t epoch)
{
    return *vrf_evaluated(world, node_id, epoch) == epoch + 1;
}

/* Whether node 'node_id' has its key pair (vrf_key): a node that has an
 * output or a proof in either slot has one. */
static bool vrf_has_key(const world_state *world, uint32_t node_id)
{
    const world_vrf_slot *even = vrf_slot(world, node_id, 0);
    const world_vrf_slot *odd = vrf_slot(world, node_id, 1);
    return (*vrf_evaluated(world, node_id, 0) | even->proven | *vrf_evaluated(world, node_id, 1) |
            odd->proven) != 0;
}

int world__vrf_build(world_state *world)
{
    const scn_verification *v = &world->scenario->verification;
    world->result->vrf_selection = v->selection_vrf;
    if (!v->selection_vrf) {
        return 0;
    }
    uint32_t n = world->node_count;
    /* Per node, written only for nodes a draw reaches (a tree draw
     * reaches few of a million). */
    world->vrf_public = util_calloc_sparse(n, sizeof(*world->vrf_public));
    world->vrf_secret = util_calloc_sparse(n, sizeof(*world->vrf_secret));
    world->vrf_slots = util_calloc_sparse(2 * (size_t)n, sizeof(*world->vrf_slots));
    world->vrf_evaluated = util_calloc_sparse(2 * (size_t)n, sizeof(uint64_t));
    world->vrf_seat_of = util_calloc_sparse(n, sizeof(uint8_t));
    world->vrf_seats = util_calloc(WORLD_VRF_SEATS, sizeof(world_vrf_seat));
    uint32_t segments = world->scenario->model.segment_count;
    world->vrf_uniforms =
        util_calloc(world->candidate_offsets[segments] + 1, sizeof(double));
    if (world->vrf_public == NULL || world->vrf_secret == NULL || world->vrf_slots == NULL ||
        world->vrf_evaluated == NULL ||
        world->vrf_seat_of == NULL || world->vrf_seats == NULL || world->vrf_uniforms == NULL) {
        return WORLD_ENOMEM;
    }
    world->serving.claim_bytes = CONS_VRF_PROOF_BYTES;
    world->verifier.claim = world__vrf_claim;
    world->verifier.claim_check = world__vrf_claim_check;
    return 0;
}

void world__vrf_destroy(world_state *world)
{
    for (uint32_t i = 0; world->vrf_secret != NULL && world->vrf_slots != NULL &&
                         world->vrf_evaluated != NULL && i < world->node_count;
         i++) {
        if (vrf_has_key(world, i)) { /* the others' pages were never written */
            util_memzero(world->vrf_secret[i], sizeof(world->vrf_secret[i]));
        }
    }
    util_free(world->vrf_secret);
    util_free(world->vrf_public);
    util_free(world->vrf_slots);
    util_free(world->vrf_evaluated);
    /* The draw pool is gone: world__oracle_destroy waited for every job. */
    util_free(world->vrf_seat_of);
    util_free(world->vrf_seats);
    util_free(world->vrf_uniforms);
    world->vrf_secret = NULL;
}

/* The epoch of a request: the one it was submitted in. */
static uint64_t vrf_epoch(const world_state *world, uint64_t request)
{
    const world_result *result = world->result;
    ASSERT(request < result->request_count); /* Ids come from the client's own table. */
    return result->requests[request].submitted_ns / world->scenario->verification.vrf_epoch_ns;
}

/* The epoch's VRF input: from the last block the ledger committed before
 * the epoch began when there is one (its id replaces the run seed), else
 * from the run seed. */
static void vrf_alpha(const world_state *world, uint64_t epoch, uint8_t alpha[CONS_BEACON_BYTES])
{
    uint64_t seed = world->scenario->seed;
    (void)world__ledger_beacon(world, epoch * world->scenario->verification.vrf_epoch_ns, &seed);
    cons_vrf_epoch_alpha(seed, epoch, alpha);
}

/* Node 'node_id''s key pair, derived from (seed, node) on the first need
 * of it (a node that has an output or a proof in either slot has one): a
 * tree draw touches few nodes, and a million keys cost some seconds.
 * Writes the node's own key alone. The public key is x * B for a clamped
 * x, so it passes cons_vrf_key_valid by construction: this registry is
 * where the checks' key test is made once (cons_vrf_verify_h). */
static void vrf_key(world_state *world, uint32_t node_id)
{
    if (!vrf_has_key(world, node_id)) {
        util_sign_keypair_from_seed(world->scenario->seed, node_id, world->vrf_public[node_id],
                                    world->vrf_secret[node_id]);
    }
}

/* Node 'node_id's output for 'epoch' (whose input is 'alpha'), evaluated
 * once per epoch with its own secret key; its proof is made only when the
 * node claims a seat (vrf_prove), at about twice the cost. Writes the
 * node's own slots alone, so nodes may be evaluated on several threads at
 * once. */
static void vrf_evaluate_alpha(world_state *world, uint32_t node_id, uint64_t epoch,
                               const uint8_t alpha[CONS_BEACON_BYTES])
{
    if (vrf_has_output(world, node_id, epoch)) {
        return;
    }
    world_vrf_slot *slot = vrf_slot(world, node_id, epoch);
    vrf_key(world, node_id);
    int rc = cons_vrf_output_h(world->vrf_secret[node_id], world->vrf_public[node_id], alpha,
                               CONS_BEACON_BYTES, slot->h, slot->gamma, slot->beta);
    ASSERT(rc == 0); /* Fails with probability ~2^-250 (cons.h). */
    *vrf_evaluated(world, node_id, epoch) = epoch + 1;
}

/* Node 'node_id's proof for 'epoch' (whose input is 'alpha'), made once
 * per epoch, from the H of its output when it has it. Writes the node's
 * own slots alone. */
static world_vrf_slot *vrf_prove_alpha(world_state *world, uint32_t node_id, uint64_t epoch,
                                       const uint8_t alpha[CONS_BEACON_BYTES])
{
    world_vrf_slot *slot = vrf_slot(world, node_id, epoch);
    if (slot->proven == epoch + 1) {
        return slot;
    }
    vrf_key(world, node_id);
    const uint8_t *secret = world->vrf_secret[node_id];
    int rc = vrf_has_output(world, node_id, epoch)
                 ? cons_vrf_prove_h(secret, world->vrf_public[node_id], slot->h, slot->gamma,
                                    slot->proof)
                 : cons_vrf_prove(secret, alpha, CONS_BEACON_BYTES, slot->proof);
    ASSERT(rc == 0); /* Fails with probability ~2^-250 (cons.h). */
    slot->proven = epoch + 1;
    return slot;
}

static const world_vrf_slot *vrf_prove(world_state *world, uint32_t node_id, uint64_t epoch)
{
    world_vrf_slot *slot = vrf_slot(world, node_id, epoch);
    if (slot->proven == epoch + 1) {
        return slot;
    }
    uint8_t alpha[CONS_BEACON_BYTES];
    vrf_alpha(world, epoch, alpha);
    return vrf_prove_alpha(world, node_id, epoch, alpha);
}

static void vrf_evaluate(world_state *world, uint32_t node_id, uint64_t epoch)
{
    if (vrf_has_output(world, node_id, epoch)) {
        return;
    }
    uint8_t alpha[CONS_BEACON_BYTES];
    vrf_alpha(world, epoch, alpha);
    vrf_evaluate_alpha(world, node_id, epoch, alpha);
}

/* Waits for node 'node_id''s seat job (world__vrf_seated) if it has one
 * not yet waited for. Every use of a node's VRF state on the run's own
 * thread does this first, so no job writes what the run reads. */
static void vrf_settle(world_state *world, uint32_t node_id)
{
    uint8_t index = world->vrf_seat_of[node_id];
    if (index == 0) {
        return;
    }
    world_vrf_seat *seat = &world->vrf_seats[index - 1];
    ASSERT(seat->node_id == node_id);
    util_workers_wait(world__draw_workers(world), &seat->job);
    world->vrf_seat_of[node_id] = 0;
}

/* Every seat job waited for: a race's slices read every candidate's slot
 * on the pool's threads. */
static void vrf_settle_all(world_state *world)
{
    for (uint32_t i = 0; i < WORLD_VRF_SEATS; i++) {
        vrf_settle(world, world->vrf_seats[i].node_id);
    }
}

/* A slice in which an ECVRF output is due pays for its job at a handful of
 * candidates (an output costs some hundred microseconds, bench vrf). */
#define VRF_SLICE_MIN_EVALUATING 8u

void world__vrf_draw_begin(world_state *world, uint64_t request, uint32_t segment,
                           const uint8_t beacon[CONS_BEACON_BYTES], bool race,
                           world_vrf_draw *out)
{
    ASSERT(world->vrf_uniforms != NULL);
    if (race) {
        vrf_settle_all(world);
    }
    out->epoch = vrf_epoch(world, request);
    vrf_alpha(world, out->epoch, out->alpha);
    memcpy(out->beacon, beacon, CONS_BEACON_BYTES);
    out->segment = segment;
    out->slice_min = 0;
    const cons_candidate *candidates = world->candidates;
    for (uint32_t i = world->candidate_offsets[segment];
         race && i < world->candidate_offsets[segment + 1] && out->slice_min == 0; i++) {
        if (!vrf_has_output(world, candidates[i].node_id, out->epoch)) {
            out->slice_min = VRF_SLICE_MIN_EVALUATING;
        }
    }
}

void world__vrf_tickets(world_state *world, const world_vrf_draw *draw, uint32_t first,
                        uint32_t last)
{
    const cons_candidate *candidates = world->candidates;
    /* Honest tickets are hashed in batches (cons_vrf_uniform_many). */
    enum { BATCH = 64 };
    const uint8_t *betas[BATCH];
    uint32_t slots[BATCH];
    double uniforms[BATCH];
    uint32_t pending = 0;
    for (uint32_t i = first; i < last; i++) {
        uint32_t id = candidates[i].node_id;
        if (world->behaviour_now[id] == NODE_BEHAVIOUR_FORGED_TICKET) {
            world->vrf_uniforms[i] = 1.0; /* The best ticket there is: key 0. */
        } else {
            vrf_evaluate_alpha(world, id, draw->epoch, draw->alpha);
            betas[pending] = vrf_slot(world, id, draw->epoch)->beta;
            slots[pending++] = i;
        }
        if (pending == BATCH || (i + 1 == last && pending > 0)) {
            cons_vrf_uniform_many(betas, pending, draw->beacon, draw->segment, uniforms);
            for (uint32_t j = 0; j < pending; j++) {
                world->vrf_uniforms[slots[j]] = uniforms[j];
            }
            pending = 0;
        }
    }
}

uint32_t world__vrf_hits(world_state *world, const world_vrf_draw *draw, uint32_t position)
{
    const cons_candidate *candidates = world->candidates;
    uint32_t id = candidates[world->candidate_offsets[draw->segment] + position].node_id;
    if (world->behaviour_now[id] == NODE_BEHAVIOUR_FORGED_TICKET) {
        return 1; /* It claims the best ticket there is: u = 1. */
    }
    vrf_settle(world, id);
    vrf_evaluate_alpha(world, id, draw->epoch, draw->alpha);
    double u = cons_vrf_uniform(vrf_slot(world, id, draw->epoch)->beta, draw->beacon,
                                draw->segment);
    return cons_tree_hits_needed(u, world->scenario->verification.vrf_accept);
}

bool world__vrf_ready(world_state *world, const world_vrf_draw *draw, uint32_t node_id)
{
    vrf_settle(world, node_id);
    return vrf_has_output(world, node_id, draw->epoch) ||
           world->behaviour_now[node_id] == NODE_BEHAVIOUR_FORGED_TICKET;
}

/* One node's output as a job of the draw pool, queued ahead of the
 * pool's other work (util_workers_submit_first): the draw waits for it
 * now, and a worker that comes free takes it rather than the forward
 * passes and seat jobs queued before, which are needed later. Queued at
 * the back, a round's outputs sat behind those, and the run's own thread
 * ran nearly all of them itself: 176,187 of 184,390 at 10,000 nodes on
 * two threads, against 129,160 now. */
typedef struct vrf_job {
    util_job job; /* first: the job is the evaluation */
    world_state *world;
    const world_vrf_draw *draw;
    uint32_t node_id;
} vrf_job;

static void vrf_job_run(util_job *job, uint32_t thread_index)
{
    (void)thread_index;
    vrf_job *v = (vrf_job *)job;
    vrf_evaluate_alpha(v->world, v->node_id, v->draw->epoch, v->draw->alpha);
}

void world__vrf_outputs(world_state *world, const world_vrf_draw *draw, const uint32_t *nodes,
                        uint32_t count)
{
    ASSERT(count <= WORLD_VRF_BATCH_MAX);
    util_workers *workers = world__draw_workers(world);
    vrf_job jobs[WORLD_VRF_BATCH_MAX];
    for (uint32_t i = 0; i < count; i++) {
        vrf_settle(world, nodes[i]);
        jobs[i] = (vrf_job){.job = {.run = vrf_job_run},
                            .world = world,
                            .draw = draw,
                            .node_id = nodes[i]};
        if (workers != NULL) {
            util_workers_submit_first(workers, &jobs[i].job);
        } else {
            vrf_job_run(&jobs[i].job, 0);
        }
    }
    for (uint32_t i = 0; workers != NULL && i < count; i++) {
        util_workers_wait(workers, &jobs[i].job);
    }
}

/* A seated member's output, its proof and a check of that proof as a
 * client would make it (cons_vrf_verify of its bytes, which must give the
 * member's output), kept in the slot's memo (vrf_verify). Writes the
 * node's own slot and key alone. */
static void vrf_seat_run(util_job *job, uint32_t thread_index)
{
    (void)thread_index;
    world_vrf_seat *seat = (world_vrf_seat *)job;
    world_state *world = seat->world;
    uint32_t id = seat->node_id;
    uint64_t epoch = seat->epoch;
    vrf_evaluate_alpha(world, id, epoch, seat->alpha);
    world_vrf_slot *slot = vrf_prove_alpha(world, id, epoch, seat->alpha);
    if (slot->checked == epoch + 1) {
        return;
    }
    uint8_t beta[CONS_VRF_OUTPUT_BYTES];
    if (cons_vrf_verify_h(world->vrf_public[id], slot->h, slot->gamma, slot->proof, beta) &&
        memcmp(beta, slot->beta, CONS_VRF_OUTPUT_BYTES) == 0) {
        slot->checked = epoch + 1;
    }
}

/* The next ring entry, its last job waited for. */
static world_vrf_seat *vrf_seat_take(world_state *world)
{
    world_vrf_seat *seat = &world->vrf_seats[world->vrf_seat_next];
    if (world->vrf_seat_of[seat->node_id] == world->vrf_seat_next + 1) {
        vrf_settle(world, seat->node_id);
    }
    return seat;
}

void world__vrf_seated(world_state *world, const world_vrf_draw *draw, const uint32_t *members,
                       uint32_t count)
{
    util_workers *workers = world__draw_workers(world);
    if (workers == NULL || util_workers_threads(workers) < 2) {
        return;
    }
    uint64_t tag = draw->epoch + 1;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t id = members[i];
        vrf_settle(world, id);
        const world_vrf_slot *slot = vrf_slot(world, id, draw->epoch);
        if (world->behaviour_now[id] == NODE_BEHAVIOUR_FORGED_TICKET ||
            (slot->proven == tag && slot->checked == tag)) {
            continue;
        }
        world_vrf_seat *seat = vrf_seat_take(world);
        *seat = (world_vrf_seat){
            .job = {.run = vrf_seat_run}, .world = world, .node_id = id, .epoch = draw->epoch};
        memcpy(seat->alpha, draw->alpha, CONS_BEACON_BYTES);
        world->vrf_seat_of[id] = (uint8_t)(world->vrf_seat_next + 1);
        world->vrf_seat_next = (world->vrf_seat_next + 1) % WORLD_VRF_SEATS;
        util_workers_submit(workers, &seat->job);
    }
}

void world__vrf_claim(void *context, uint32_t member, uint64_t request, uint32_t segment,
                      uint32_t round, uint8_t proof_out[NODE_CLAIM_MAX])
{
    world_state *world = context;
    (void)segment;
    (void)round;
    vrf_settle(world, member);
    const world_vrf_slot *slot = vrf_prove(world, member, vrf_epoch(world, request));
    memcpy(proof_out, slot->proof, CONS_VRF_PROOF_BYTES);
    if (world->behaviour_now[member] == NODE_BEHAVIOUR_FORGED_TICKET) {
        proof_out[32] ^= 1u; /* c: no proof it can make gives it the ticket it claimed. */
    }
}

/* The ticket 'member' claimed in the draw of (request, segment, round):
 * its own, or the best there is for a forger. */
static double vrf_claimed(const world_state *world, uint32_t member, uint64_t epoch,
                          const uint8_t *beacon, uint32_t segment)
{
    if (world->behaviour_now[member] == NODE_BEHAVIOUR_FORGED_TICKET) {
        return 1.0;
    }
    return cons_vrf_uniform(vrf_slot(world, member, epoch)->beta, beacon, segment);
}

/* cons_vrf_verify of a member's proof for 'epoch', answered without the
 * curve arithmetic when the bytes are the member's own proof of the epoch
 * and a check found that proof valid before: verification is a function
 * of (key, alpha, proof), so the answer and the output are the same. A
 * client checks each member of a committee at every step of a request;
 * this makes it one ECVRF verification per member and epoch. Any other
 * bytes are verified in full, from the H of the member's output when it
 * has one (H is a function of the public key and the input). */
static bool vrf_verify(world_state *world, uint32_t member, uint64_t epoch,
                       const uint8_t alpha[CONS_BEACON_BYTES], const uint8_t *proof,
                       uint8_t beta[CONS_VRF_OUTPUT_BYTES])
{
    world_vrf_slot *slot = vrf_slot(world, member, epoch);
    if (slot->checked == epoch + 1 && slot->proven == epoch + 1 &&
        vrf_has_output(world, member, epoch) &&
        memcmp(proof, slot->proof, CONS_VRF_PROOF_BYTES) == 0) {
        memcpy(beta, slot->beta, CONS_VRF_OUTPUT_BYTES);
        return true;
    }
    const uint8_t *key = world->vrf_public[member];
    bool valid = vrf_has_output(world, member, epoch)
                     ? cons_vrf_verify_h(key, slot->h, slot->gamma, proof, beta)
                     : cons_vrf_verify(key, alpha, CONS_BEACON_BYTES, proof, beta);
    if (valid) {
        vrf_evaluate(world, member, epoch);
        if (slot->proven == epoch + 1 && memcmp(proof, slot->proof, CONS_VRF_PROOF_BYTES) == 0) {
            slot->checked = epoch + 1;
        }
    }
    return valid;
}

bool world__vrf_claim_check(void *context, uint32_t member, uint64_t request, uint32_t segment,
                            uint32_t round, const uint8_t proof[NODE_CLAIM_MAX])
{
    world_state *world = context;
    ASSERT(member < world->node_count); /* The client matched it to a member. */
    uint64_t epoch = vrf_epoch(world, request);
    uint8_t alpha[CONS_BEACON_BYTES], beacon[CONS_BEACON_BYTES], beta[CONS_VRF_OUTPUT_BYTES];
    vrf_alpha(world, epoch, alpha);
    cons_beacon_derive(world->scenario->seed, request, round, beacon);
    vrf_settle(world, member);
    vrf_key(world, member);
    /* The proof must verify and its output give the ticket the draw took. */
    bool valid = vrf_verify(world, member, epoch, alpha, proof, beta);
    if (valid) {
        vrf_evaluate(world, member, epoch);
        valid = cons_vrf_uniform(beta, beacon, segment) ==
                vrf_claimed(world, member, epoch, beacon, segment);
    }
    world->result->vrf_proofs_verified += 1;
    world->result->vrf_proofs_rejected += !valid;
    return valid;
}
