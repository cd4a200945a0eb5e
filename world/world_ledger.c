/* world_ledger.c -- the BFT settlement ledger's wiring. At build time each
 * validator (nodes 0 .. ledger.validators - 1) gets a cons_bft replica in
 * the node store, with keys derived from the run seed; the last
 * 'byzantine' validators run the scenario's behaviour. While the run goes,
 * the recorder turns the validators' observations into the ledger's
 * state: the first commit of a height by an honest validator is the
 * height's block -- recorded, and under ledger settlement its transactions
 * applied to the ledger (consensus/cons_ledger.c) once per decision --
 * and every later honest commit of that height is compared with it by
 * block id (a different id is a ledger_fork). Views entered by a timeout
 * certificate are recorded as view changes. Reputation and stake change
 * only here under ledger settlement, so the committee draws, which read
 * them, read the committed state. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/assert.h"
#include "util/bytes.h"
#include "util/hash.h"
#include "world/world_int.h"

#define LEDGER_KEY_DOMAIN UINT64_C(0x6c6564676572) /* "ledger": keys apart from the nodes' */

#define TAG_KEY_DOMAIN UINT64_C(0x74782d746167) /* "tx-tag" */
#define LEDGER_SIGN_MEMO_SLOTS (1u << 16) /* 2 MiB of verified signatures */
/* Replicas' memory past this, in all, is allocated sparse: see ledger_alloc. */
#define LEDGER_SPARSE_MIN ((size_t)256 << 20)

/* A transaction's tag under its client's key. A hosted world (the testbed)
 * holds only its own nodes' secrets, so a validator there could not check
 * a remote client's tag with them: its tag keys come from the run seed, as
 * the validators' keys do (a limit of the testbed's ledger: any process
 * could compute them). */
static uint64_t ledger_tag(void *context, uint32_t client, const void *bytes, size_t size)
{
    world_state *world = context;
    ASSERT(client < world->node_count);
    if (world->hosted) {
        uint8_t key[UTIL_MAC_KEY_BYTES];
        util_mac_key_derive(world->scenario->seed ^ TAG_KEY_DOMAIN, client, key);
        return util_mac64(key, bytes, size);
    }
    return util_mac64(world->keys[client], bytes, size);
}

/* ---- evidence: signatures and the referee's ruling ---- */

#define EVIDENCE_KEY_DOMAIN UINT64_C(0x65766964656e6365) /* "evidence" */

static void ledger_evidence_sign(void *context, uint32_t signer, const void *bytes, size_t size,
                                 uint8_t signature_out[NODE_SIGNATURE_BYTES])
{
    world_state *world = context;
    const world_ledger_state *s = &world->ledger_bft;
    ASSERT(signer < world->node_count || signer == NODE_SIGNER_REFEREE); /* a node's own call */
    util_sign(signer == NODE_SIGNER_REFEREE ? s->referee_secret : s->evidence_secret[signer],
              bytes, size, signature_out);
}

static bool ledger_evidence_verify(void *context, uint32_t signer, const void *bytes,
                                   size_t size, const uint8_t signature[NODE_SIGNATURE_BYTES])
{
    world_state *world = context;
    const world_ledger_state *s = &world->ledger_bft;
    if (signer >= world->node_count && signer != NODE_SIGNER_REFEREE) {
        return false;
    }
    return util_sign_verify_memo(s->verified,
                                 signer == NODE_SIGNER_REFEREE ? s->referee_public
                                                               : s->evidence_public[signer],
                                 bytes, size, signature);
}

/* Whether the output, encoded as the member sent it, with its salt opens
 * the member's vote under the protocol. */
static bool ledger_ruling_opens(world_state *world, const node_ruling *ruling)
{
    const node_serving *serving = &world->serving;
    size_t size = 0;
    if (ruling->last_segment) {
        size = infer_wire_bytes(INFER_DTYPE_FP32, 1, serving->vocab);
        infer_wire_encode(INFER_DTYPE_FP32, ruling->output, 1, serving->vocab,
                          world->ledger_bft.wire);
    } else {
        size = infer_wire_bytes(serving->wire_dtype, ruling->rows, serving->dim);
        infer_wire_encode(serving->wire_dtype, ruling->output, ruling->rows, serving->dim,
                          world->ledger_bft.wire);
    }
    uint8_t *votes = world->ledger_bft.votes;
    ASSERT(ruling->member < ruling->member_count && ruling->member_count <= NODE_COMMITTEE_MAX);
    memcpy(votes + (size_t)ruling->member * NODE_VOTE_MAX, ruling->vote, serving->vote_bytes);
    cons_opening opening = {.bytes = world->ledger_bft.wire, .size = size,
                            .salt = ruling->salt, .member_id = ruling->member_id,
                            .member = ruling->member, .member_count = ruling->member_count,
                            .committed = UINT64_C(1) << ruling->member, .votes = votes,
                            .commit_reveal = true};
    return ((serving->protocol->open(&opening) >> ruling->member) & 1u) != 0;
}

/* The referee signs that the member's output is wrong only when it opens
 * the member's vote and the referee's own re-execution of the hop, on the
 * member's hardware class, disagrees with it. */
static bool ledger_referee_rule(void *context, const node_ruling *ruling,
                                uint8_t signature_out[NODE_SIGNATURE_BYTES])
{
    world_state *world = context;
    if (!ledger_ruling_opens(world, ruling)) {
        return false;
    }
    const float *outputs[1] = {ruling->output};
    uint32_t members[1] = {ruling->member_id};
    if (world__referee(world, ruling->last_segment, ruling->request, ruling->segment, outputs,
                       members, ruling->n_floats, 1) != 0) {
        return false;
    }
    uint8_t statement[NODE_LEDGER_STATEMENT_MAX];
    size_t size = node_ledger_ruling_statement(ruling->request, ruling->segment, ruling->step,
                                               ruling->round, ruling->member_id, ruling->vote,
                                               world->serving.vote_bytes, statement);
    util_sign(world->ledger_bft.referee_secret, statement, size, signature_out);
    return true;
}

/* Every node's evidence key pair and the referee's; the wire scratch. */
static int ledger_evidence_build(world_state *world)
{
    world_ledger_state *s = &world->ledger_bft;
    uint32_t n = world->node_count;
    uint64_t seed = world->scenario->seed ^ EVIDENCE_KEY_DOMAIN;
    s->evidence_public = util_calloc(n, sizeof(*s->evidence_public));
    s->evidence_secret = util_calloc(n, sizeof(*s->evidence_secret));
    s->wire = util_calloc(world->serving.output_floats + world->serving.tokens_max,
                          sizeof(float));
    s->votes = util_calloc(NODE_COMMITTEE_MAX, NODE_VOTE_MAX);
    if (s->evidence_public == NULL || s->evidence_secret == NULL || s->wire == NULL ||
        s->votes == NULL) {
        return WORLD_ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        util_sign_keypair_from_seed(seed, i, s->evidence_public[i], s->evidence_secret[i]);
    }
    util_sign_keypair_from_seed(seed, UINT32_MAX, s->referee_public, s->referee_secret);
    world->verifier.evidence_sign = ledger_evidence_sign;
    world->verifier.evidence_verify = ledger_evidence_verify;
    world->verifier.referee_rule = ledger_referee_rule;
    world->serving.ledger_evidence = true;
    world->serving.commit_sig_bytes = world->serving.commit_reveal ? NODE_SIGNATURE_BYTES : 0;
    return 0;
}

/* Timeout evidence: the members' records of their peers' commitments, per
 * (request, segment, slot, step), and the clients' claims. */
static int ledger_attest_build(world_state *world)
{
    node_serving *serving = &world->serving;
    node_store *store = &world->store;
    size_t slots = (size_t)serving->request_capacity * serving->segment_count *
                   serving->committee * (serving->retries + 1u) * (serving->generate_tokens + 1u);
    store->attest_seen = util_calloc_sparse(slots, sizeof(*store->attest_seen));
    store->ledger_claim_of = util_calloc_sparse(serving->request_capacity, sizeof(uint32_t));
    if (store->attest_seen == NULL || store->ledger_claim_of == NULL) {
        return WORLD_ENOMEM;
    }
    util_pool_init(&store->ledger_claim_pool, sizeof(node_ledger_claim));
    serving->ledger_timeout_evidence = true;
    world->result->ledger_timeout_evidence = true;
    return 0;
}

bool world__ledger_honest(const world_state *world, uint32_t validator)
{
    const scn_ledger *l = &world->scenario->ledger;
    return validator < l->validators - l->byzantine;
}

/* Keys of the validator set: ed25519 pairs and MAC keys from (seed, i). */
static void ledger_keys(world_state *world, cons_bft_validators *set, uint8_t (*secret)[64])
{
    uint64_t seed = world->scenario->seed ^ LEDGER_KEY_DOMAIN;
    memset(set, 0, sizeof(*set));
    set->count = world->scenario->ledger.validators;
    for (uint32_t i = 0; i < set->count; i++) {
        util_sign_keypair_from_seed(seed, i, set->public_key[i], secret[i]);
        util_mac_key_derive(seed, i, set->mac_key[i]);
    }
}

/* cons_bft's external validity under ledger settlement. */
static bool ledger_tx_admissible(const void *context, const uint8_t *tx, size_t size)
{
    const world_state *world = context;
    return node_ledger_tx_admissible(&world->serving, world->node_count, tx, size);
}

static cons_bft_config ledger_config(const world_state *world, uint32_t self,
                                     const uint8_t secret[64])
{
    const scn_ledger *l = &world->scenario->ledger;
    cons_bft_config config;
    memset(&config, 0, sizeof(config));
    config.self = self;
    config.auth = l->auth_mac ? CONS_BFT_AUTH_MAC : CONS_BFT_AUTH_ED25519;
    memcpy(config.secret_key, secret, sizeof(config.secret_key));
    config.block_interval_ns = l->block_interval_ns;
    config.view_timeout_ns = l->view_timeout_ns;
    config.backoff_max = 4;
    config.block_txs_max = l->block_txs;
    config.behaviour = world__ledger_honest(world, self) ? CONS_BFT_HONEST
                                                         : (cons_bft_behaviour)l->behaviour;
    config.delay_ns = l->delay_ns;
    config.crash_at_ns = l->crash_at_ns;
    config.verified = world->ledger_bft.verified;
    if (l->settlement_ledger) {
        config.tx_valid = ledger_tx_admissible;
        config.tx_context = world;
    }
    return config;
}

static int ledger_alloc(world_state *world, uint32_t n)
{
    world_ledger_state *s = &world->ledger_bft;
    const node_serving *serving = &world->serving;
    s->replica_size = (cons_bft_replica_size() + 63) & ~(size_t)63;
    /* A Twins validator's second instance after the n first ones. A replica
     * is 2.5 MB, most of it a store, mempool and arena that fill as the run
     * goes (cons_bft_replica_init). Zeroed at once, a small set costs less
     * on huge pages than page faults one 4 KiB page at a time (64
     * validators: x0.84 the wall time; 7: x0.95), except under
     * AddressSanitizer (util_calloc_large: the peer fuzz target's saved
     * inputs, a short world each, replay in about half the time sparse);
     * past LEDGER_SPARSE_MIN in all (about 100 validators), fresh zero
     * pages that become resident only as used cost less (256 validators:
     * x0.79 the wall time, 185 against 645 MiB at its peak). */
    size_t count = (size_t)n + world->scenario->ledger.byzantine;
    s->memory = count * s->replica_size > LEDGER_SPARSE_MIN
                    ? util_calloc_sparse(count, s->replica_size)
                    : util_calloc_large(count, s->replica_size);
    s->replicas = util_calloc(n, sizeof(*s->replicas));
    s->twins = util_calloc(n, sizeof(*s->twins));
    s->twin_of = util_calloc(world->node_count, sizeof(*s->twin_of));
    s->timer_token = util_calloc(n, sizeof(*s->timer_token));
    s->timer_at_ns = util_calloc(n, sizeof(*s->timer_at_ns));
    s->decision_slots = serving->request_capacity * serving->segment_count *
                        (serving->generate_tokens + 1u) * (serving->retries + 1u);
    s->settled = util_calloc((size_t)(s->decision_slots / 64 + 1), sizeof(uint64_t));
    s->refused = util_calloc((size_t)(s->decision_slots / 64 + 1), sizeof(uint64_t));
    /* Signatures to verify: ed25519 certificates, or members' evidence. */
    const scn_ledger *l = &world->scenario->ledger;
    bool signatures = !l->auth_mac || (l->settlement_ledger && l->evidence);
    if ((signatures && util_sign_memo_create(LEDGER_SIGN_MEMO_SLOTS, &s->verified) != 0) ||
        s->memory == NULL || s->replicas == NULL || s->twins == NULL || s->twin_of == NULL ||
        s->timer_token == NULL || s->timer_at_ns == NULL || s->settled == NULL ||
        s->refused == NULL) {
        return WORLD_ENOMEM;
    }
    return 0;
}

/* dissemination: gossip: the validators' seen rings and who stays mute. */
static int ledger_gossip_build(world_state *world)
{
    const scn_ledger *l = &world->scenario->ledger;
    node_serving *serving = &world->serving;
    world->store.ledger_seen = util_calloc((size_t)l->validators * NODE_LEDGER_SEEN_MAX,
                                           sizeof(uint64_t));
    world->store.ledger_seen_next = util_calloc(l->validators, sizeof(uint32_t));
    world->store.ledger_pull_generation = util_calloc(l->validators, sizeof(uint32_t));
    if (world->store.ledger_seen == NULL || world->store.ledger_seen_next == NULL ||
        world->store.ledger_pull_generation == NULL) {
        return WORLD_ENOMEM;
    }
    serving->ledger_gossip = true;
    serving->ledger_entry = 1;
    serving->ledger_fanout = l->fanout;
    serving->ledger_pull_ns = l->pull_interval_ns;
    bool mute = l->behaviour == CONS_BFT_WITHHOLD || l->behaviour == CONS_BFT_CRASH;
    serving->ledger_mute_from = mute ? l->validators - l->byzantine : l->validators;
    serving->ledger_mute_at_ns = l->behaviour == CONS_BFT_CRASH ? l->crash_at_ns : 0;
    world->result->ledger_gossip = true;
    return 0;
}

int world__ledger_build(world_state *world)
{
    const scn_ledger *l = &world->scenario->ledger;
    if (l->validators == 0) {
        return 0;
    }
    uint32_t n = l->validators;
    int rc = ledger_alloc(world, n);
    if (rc != 0) {
        return rc;
    }
    cons_bft_validators set;
    uint8_t (*secret)[64] = util_calloc(n, sizeof(*secret));
    if (secret == NULL) {
        return WORLD_ENOMEM;
    }
    ledger_keys(world, &set, secret);
    world_ledger_state *s = &world->ledger_bft;
    uint32_t next = n;
    for (uint32_t i = 0; i < n; i++) {
        cons_bft_config config = ledger_config(world, i, secret[i]);
        ASSERT(cons_bft_config_check(&set, &config) == 0); /* the loader checked the bounds */
        s->replicas[i] = cons_bft_replica_init(s->memory + (size_t)i * s->replica_size,
                                               s->replica_size, &set, &config);
        if (config.behaviour == CONS_BFT_TWIN) {
            s->twin_of[i] = 1;
            s->twins[i] = cons_bft_replica_init(s->memory + (size_t)next++ * s->replica_size,
                                                s->replica_size, &set, &config);
        }
    }
    util_free(secret);
    world->store.bft = s->replicas;
    world->store.bft_twin = s->twins;
    world->serving.ledger_twin_of = s->twin_of;
    world->store.bft_timer_token = s->timer_token;
    world->store.bft_timer_at_ns = s->timer_at_ns;
    world->serving.ledger_validators = n;
    world->serving.ledger_submit_to = l->submit_to;
    world->serving.ledger_entry = l->submit_to;
    world->serving.ledger_settlement = l->settlement_ledger;
    world->verifier.ledger_tag = ledger_tag;
    world->serving.ledger_resend_ns = l->settlement_ledger ? l->resend_timeout_ns : 0;
    if (world->serving.ledger_resend_ns > 0) {
        world->store.ledger_pending_of =
            util_calloc_sparse(world->serving.request_capacity, sizeof(uint32_t));
        if (world->store.ledger_pending_of == NULL) {
            return WORLD_ENOMEM;
        }
        util_pool_init(&world->store.ledger_pending_pool, sizeof(node_ledger_pending));
    }
    if (l->settlement_ledger && l->evidence && (rc = ledger_evidence_build(world)) != 0) {
        return rc;
    }
    /* The loader allows the key only with settlement and evidence; a
     * protocol whose members never commit has no deadline to attest. */
    if (l->timeout_evidence && world->serving.commit_sig_bytes > 0 &&
        (rc = ledger_attest_build(world)) != 0) {
        return rc;
    }
    if (l->gossip && (rc = ledger_gossip_build(world)) != 0) {
        return rc;
    }
    world->result->ledger_on = true;
    world->result->ledger_settlement = l->settlement_ledger;
    return 0;
}

void world__ledger_counters(world_state *world)
{
    if (world->result != NULL && world->result->ledger_on) {
        world->result->ledger_sends_dropped = world->store.ledger_sends_dropped;
        world->result->ledger_gossip_duplicates = world->store.ledger_gossip_duplicates;
        world->result->ledger_pull_answers = world->store.ledger_pull_answers;
    }
}

void world__ledger_destroy(world_state *world)
{
    world_ledger_state *s = &world->ledger_bft;
    world__ledger_counters(world);
    util_free(world->store.ledger_seen);
    util_free(world->store.ledger_seen_next);
    util_free(world->store.ledger_pull_generation);
    util_free(s->memory);
    util_free(s->replicas);
    util_free(s->twins);
    util_free(s->twin_of);
    util_free(s->timer_token);
    util_free(s->timer_at_ns);
    util_free(s->settled);
    util_free(s->refused);
    util_sign_memo_destroy(s->verified);
    s->verified = NULL;
    if (world->store.ledger_pending_pool.block_bytes != 0) {
        util_pool_deinit(&world->store.ledger_pending_pool);
    }
    util_free(world->store.ledger_pending_of);
    world->store.ledger_pending_of = NULL;
    if (world->store.ledger_claim_pool.block_bytes != 0) {
        util_pool_deinit(&world->store.ledger_claim_pool);
    }
    util_free(world->store.ledger_claim_of);
    util_free(world->store.attest_seen);
    world->store.ledger_claim_of = NULL;
    world->store.attest_seen = NULL;
    util_free(s->evidence_public);
    util_free(s->evidence_secret);
    util_free(s->wire);
    util_free(s->votes);
    util_free(s->ids);
    for (uint64_t h = 0; s->payloads != NULL && h < s->applied_height; h++) {
        util_free(s->payloads[h]);
    }
    util_free(s->payloads);
    util_free(s->payload_sizes);
    memset(s, 0, sizeof(*s));
}

/* ---- applying a committed block ---- */

/* A decision's slot in the settled set, or UINT64_MAX when out of range. */
static uint64_t ledger_slot(const world_state *world, const node_ledger_tx *tx)
{
    const node_serving *serving = &world->serving;
    if (tx->request >= serving->request_capacity || tx->segment >= serving->segment_count ||
        tx->step > serving->generate_tokens || tx->round > serving->retries) {
        return UINT64_MAX;
    }
    return ((tx->request * serving->segment_count + tx->segment) * (serving->generate_tokens + 1u) +
            tx->step) * (serving->retries + 1u) + tx->round;
}

/* A committed transaction the validators would refuse: a bad encoding or
 * tag, ids out of range, a decision already applied (per 'applied'). */
bool world__ledger_tx_parse(world_state *world, const uint64_t *applied, const uint8_t *bytes,
                            size_t size, node_ledger_tx *tx, uint64_t *slot_out)
{
    if (node_ledger_tx_decode(bytes, size, tx) != 0 || tx->client >= world->node_count ||
        tx->rows == 0 || tx->rows > world->serving.tokens_max ||
        ledger_tag(world, tx->client, bytes, size - NODE_LEDGER_TX_TAG_BYTES) != tx->tag) {
        return false;
    }
    for (uint32_t j = 0; j < tx->member_count; j++) {
        if (tx->members[j] >= world->node_count) {
            return false;
        }
    }
    uint64_t slot = ledger_slot(world, tx);
    if (slot == UINT64_MAX || ((applied[slot / 64] >> (slot % 64)) & 1u)) {
        return false;
    }
    *slot_out = slot;
    return true;
}

bool world__ledger_verdict_proven(world_state *world, const node_ledger_tx *tx, uint32_t j)
{
    uint8_t verdict = tx->verdicts[j];
    return verdict != NODE_LEDGER_TX_UNJUDGED &&
           (verdict == CONS_VERDICT_AGREED || !world->serving.ledger_evidence ||
            node_ledger_evidence_check(&world->serving, tx, j));
}

/* Marks decision 'slot' as having had a penalty refused: true the first
 * time, so a refusal counts once however many validators refuse it. */
static bool ledger_refuse_once(world_state *world, uint64_t slot)
{
    uint64_t *word = &world->ledger_bft.refused[slot / 64];
    uint64_t bit = UINT64_C(1) << (slot % 64);
    bool first = (*word & bit) == 0;
    *word |= bit;
    return first;
}

/* Whether this world counts what transaction 'tx' does to the run's
 * figures: always in the simulator; in a hosted world (the testbed, where
 * every process applies every block it learns of, so its ledger holds the
 * committed state) only in the process that hosts the tx's client, so
 * that the processes' counts add up to the simulator's. */
static bool ledger_tx_ours(const world_state *world, const node_ledger_tx *tx)
{
    return world->result->requests[tx->request].submitted;
}

/* Whether member j's verdict applies (world__ledger_verdict_proven, the test
 * the testbed's chain view applies too): an agreement always; a penalty only
 * with evidence that verifies (ledger.evidence), else it is refused. */
static bool ledger_verdict_applies(world_state *world, const node_ledger_tx *tx, uint32_t j,
                                   uint64_t slot, world_block_record *row)
{
    uint8_t verdict = tx->verdicts[j];
    if (!world__ledger_verdict_proven(world, tx, j)) {
        if (verdict != NODE_LEDGER_TX_UNJUDGED) { /* a penalty whose evidence failed */
            row->refused += 1;
            if (ledger_refuse_once(world, slot) && ledger_tx_ours(world, tx)) {
                world->result->evidence_rejected +=
                    node_ledger_penalties_unproven(&world->serving, tx);
            }
        }
        return false;
    }
    if (verdict == CONS_VERDICT_AGREED) {
        return true;
    }
    row->penalties += 1;
    if (world->serving.ledger_evidence && ledger_tx_ours(world, tx)) {
        world->result->evidence_verified += 1;
        world->result->timeout_penalties += verdict == CONS_VERDICT_TIMEOUT;
    }
    return true;
}

/* A timeout proven by attestations against a member whose own record
 * (node_store.attest_seen, read as a checker) shows it never committed to
 * the hop: its silence was real -- a crash or a silent member -- and the
 * penalty is the protocol's timeout_slash, not an unjust slash. */
static bool ledger_timeout_just(const world_state *world, const node_ledger_tx *tx, uint32_t j)
{
    const node_serving *serving = &world->serving;
    if (tx->verdicts[j] != CONS_VERDICT_TIMEOUT || !serving->ledger_timeout_evidence) {
        return false;
    }
    uint32_t slot = tx->round * serving->committee + j;
    size_t index = ((size_t)tx->request * serving->segment_count + tx->segment) *
                       serving->committee * (serving->retries + 1u) +
                   slot;
    return world->store.attest_seen[index * (serving->generate_tokens + 1u) + tx->step]
               .committed_ns == 0;
}

/* The verdicts of one decision, then its settlement, as instant settlement
 * would have applied them when the client decided. */
static void ledger_apply_tx(world_state *world, const node_ledger_tx *tx, uint64_t slot,
                            world_block_record *row)
{
    world_result *result = world->result;
    for (uint32_t j = 0; j < tx->member_count; j++) {
        if (!ledger_verdict_applies(world, tx, j, slot, row)) {
            continue;
        }
        uint32_t member = tx->members[j];
        cons_ledger_judge(&world->ledger, member, (cons_verdict)tx->verdicts[j]);
        if (ledger_tx_ours(world, tx) &&
            world__verify_honest_judged(world, member, (cons_verdict)tx->verdicts[j],
                                        tx->request, tx->segment) &&
            !ledger_timeout_just(world, tx, j)) {
            result->unjust_slashes += 1;
            world__check_violation(world, WORLD_VIOLATION_UNJUST_SLASH, tx->request,
                                   tx->segment, member, tx->step);
        }
    }
    cons_ledger_settle(&world->ledger, tx->rows);
    world__verify_totals(world);
    if (!ledger_tx_ours(world, tx)) {
        return;
    }
    util_hist_add(&result->ledger_finality, world->now_ns - tx->submitted_ns);
    world_request_record *r = &result->requests[tx->request];
    r->ledger_txs_committed += 1;
    if (r->ledger_txs_committed >= r->ledger_txs_sent) {
        r->settled_ns = world->now_ns;
    }
}

static void ledger_apply_block(world_state *world, const cons_bft_block *block,
                               world_block_record *row)
{
    uint32_t count = cons_bft_block_tx_count(block);
    for (uint32_t i = 0; i < count; i++) {
        size_t size = 0;
        const uint8_t *bytes = cons_bft_block_tx(block, i, &size);
        node_ledger_tx tx;
        uint64_t slot = 0;
        row->bytes += size;
        if (!world->serving.ledger_settlement ||
            !world__ledger_tx_parse(world, world->ledger_bft.settled, bytes, size, &tx, &slot)) {
            continue;
        }
        world->ledger_bft.settled[slot / 64] |= UINT64_C(1) << (slot % 64);
        ledger_apply_tx(world, &tx, slot, row);
        row->settled += 1;
    }
}

static void ledger_grow(world_state *world, uint64_t height)
{
    world_ledger_state *s = &world->ledger_bft;
    world_result *result = world->result;
    if (height > s->height_capacity) {
        uint64_t capacity = s->height_capacity ? s->height_capacity * 2 : 256;
        uint8_t (*ids)[CONS_BFT_ID_BYTES] = util_realloc(s->ids, capacity * sizeof(*ids));
        ASSERT(ids != NULL); /* Host out of memory mid-run. */
        s->ids = ids;
        if (world->hosted) {
            uint8_t **payloads = util_realloc(s->payloads, capacity * sizeof(*payloads));
            ASSERT(payloads != NULL);
            s->payloads = payloads;
            size_t *sizes = util_realloc(s->payload_sizes, capacity * sizeof(*sizes));
            ASSERT(sizes != NULL);
            s->payload_sizes = sizes;
        }
        s->height_capacity = capacity;
    }
    if (result->block_count == result->block_capacity) {
        uint64_t capacity = result->block_capacity ? result->block_capacity * 2 : 256;
        world_block_record *grown = util_realloc(result->blocks, capacity * sizeof(*grown));
        ASSERT(grown != NULL);
        result->blocks = grown;
        result->block_capacity = capacity;
    }
}

/* Hosted: keeps the transactions of the block at 'height' for the driver
 * to share (world_host_block_txs), each as its size (4 bytes LE) then its
 * bytes. */
static void ledger_keep_payload(world_state *world, uint64_t height, const cons_bft_block *block)
{
    world_ledger_state *s = &world->ledger_bft;
    uint32_t count = cons_bft_block_tx_count(block);
    size_t bytes = 0;
    for (uint32_t i = 0; i < count; i++) {
        size_t size = 0;
        (void)cons_bft_block_tx(block, i, &size);
        bytes += 4 + size;
    }
    uint8_t *payload = util_malloc(bytes > 0 ? bytes : 1);
    ASSERT(payload != NULL); /* Host out of memory mid-run. */
    uint8_t *at = payload;
    for (uint32_t i = 0; i < count; i++) {
        size_t size = 0;
        const uint8_t *tx = cons_bft_block_tx(block, i, &size);
        util_put_u32(at, (uint32_t)size); /* at most CONS_BFT_TX_BYTES_MAX */
        memcpy(at + 4, tx, size);
        at += 4 + size;
    }
    s->payloads[height - 1] = payload;
    s->payload_sizes[height - 1] = bytes;
}

void world__ledger_fork(world_state *world, uint64_t height, uint32_t validator)
{
    ASSERT(height >= 1 && height <= world->ledger_bft.applied_height);
    world_block_record *row = &world->result->blocks[height - 1];
    if (!row->forked) {
        row->forked = true;
        world->result->ledger_forks += 1;
        world__check_violation(world, WORLD_VIOLATION_LEDGER_FORK, UINT64_MAX, 0, validator,
                               (uint32_t)height);
    }
}

/* An honest validator committed 'block': the height's first commit is its
 * block; a later one must have the same id. */
static void ledger_commit(world_state *world, uint32_t validator, const cons_bft_block *block)
{
    world_ledger_state *s = &world->ledger_bft;
    uint64_t height = cons_bft_block_height(block);
    const uint8_t *id = cons_bft_block_id(block);
    if (height <= s->applied_height) {
        if (memcmp(s->ids[height - 1], id, CONS_BFT_ID_BYTES) != 0) {
            world__ledger_fork(world, height, validator);
        }
        return;
    }
    ASSERT(height == s->applied_height + 1); /* a replica commits in height order */
    ledger_grow(world, height);
    memcpy(s->ids[height - 1], id, CONS_BFT_ID_BYTES);
    if (world->hosted) {
        ledger_keep_payload(world, height, block);
    }
    s->applied_height = height;
    world_block_record *row = &world->result->blocks[world->result->block_count++];
    *row = (world_block_record){
        .height = height,
        .view = cons_bft_block_view(block),
        .proposer = cons_bft_block_proposer(block),
        .committer = validator,
        .t_ns = world->now_ns,
        .tx_count = cons_bft_block_tx_count(block),
    };
    ledger_apply_block(world, block, row);
}

static void ledger_view(world_state *world, uint32_t validator, uint64_t view, uint32_t reason)
{
    world_result *result = world->result;
    if (reason != CONS_BFT_BY_TC) {
        return;
    }
    if (result->view_change_count == result->view_change_capacity) {
        uint64_t capacity = result->view_change_capacity ? result->view_change_capacity * 2 : 256;
        world_view_change_record *grown =
            util_realloc(result->view_changes, capacity * sizeof(*grown));
        ASSERT(grown != NULL);
        result->view_changes = grown;
        result->view_change_capacity = capacity;
    }
    result->view_changes[result->view_change_count++] =
        (world_view_change_record){validator, view, world->now_ns, reason};
}

/* An honest validator refused a transaction (its ids were validated). */
static void ledger_refused(world_state *world, const node_effect *effect)
{
    node_ledger_tx tx = {.request = effect->rumor_id, .segment = effect->segment,
                         .step = (uint32_t)effect->value,
                         .round = (uint32_t)(effect->value >> 32)};
    uint64_t slot = ledger_slot(world, &tx);
    ASSERT(slot != UINT64_MAX); /* node/validate.c checked the ids */
    if (ledger_refuse_once(world, slot)) {
        world->result->evidence_rejected += effect->attempt;
    }
}

void world__ledger_observe(world_state *world, uint32_t node_id, const node_effect *effect)
{
    if (effect->observation == NODE_OBS_LEDGER_TX) {
        ASSERT(effect->rumor_id < world->result->request_count);
        world->result->requests[effect->rumor_id].ledger_txs_sent += 1;
        return;
    }
    if (effect->observation == NODE_OBS_LEDGER_RESEND) {
        world->result->ledger_resends += 1;
        return;
    }
    if (effect->observation == NODE_OBS_ATTEST) {
        world->result->timeout_attestations += 1;
        return;
    }
    if (effect->observation == NODE_OBS_LEDGER_REFUSED) {
        if (world__ledger_honest(world, node_id)) {
            ledger_refused(world, effect);
        }
        return;
    }
    if (!world__ledger_honest(world, node_id)) {
        return; /* A Byzantine validator's view of the chain proves nothing. */
    }
    if (effect->observation == NODE_OBS_LEDGER_COMMIT) {
        ledger_commit(world, node_id, effect->block);
    } else {
        ledger_view(world, node_id, effect->value, effect->segment);
    }
}

bool world__ledger_beacon(const world_state *world, uint64_t before_ns, uint64_t *seed_out)
{
    const world_result *result = world->result;
    uint64_t count = 0;
    while (count < result->block_count && result->blocks[count].t_ns < before_ns) {
        count += 1;
    }
    if (count == 0) {
        return false;
    }
    const uint8_t *id = world->ledger_bft.ids[result->blocks[count - 1].height - 1];
    uint64_t seed = 0;
    for (int i = 7; i >= 0; i--) {
        seed = (seed << 8) | id[i];
    }
    *seed_out = seed;
    return true;
}

/* ---- metrics ---- */

static int ledger_compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Submit-to-settlement of requests that finished and whose every
 * transaction committed: the q-quantile (nearest rank), NaN when none. */
static double ledger_settlement_quantile(const world_result *result, double q)
{
    uint64_t *values = util_calloc(result->request_reach + 1, sizeof(*values));
    ASSERT(values != NULL);
    uint64_t count = 0;
    for (uint64_t i = 0; i < result->request_reach; i++) {
        const world_request_record *r = &result->requests[i];
        if (r->status != 0 && r->ledger_txs_sent > 0 &&
            r->ledger_txs_committed >= r->ledger_txs_sent) {
            values[count++] = r->settled_ns - r->submitted_ns;
        }
    }
    double value = NAN;
    if (count > 0) {
        qsort(values, count, sizeof(*values), ledger_compare_u64);
        uint64_t rank = (uint64_t)ceil(q * (double)count);
        value = (double)values[rank > 0 ? rank - 1 : 0];
    }
    util_free(values);
    return value;
}

double world__ledger_metric(const world_result *result, scn_metric metric)
{
    if (!result->ledger_on) {
        return NAN;
    }
    const world_type_stats *bft = &result->types[NODE_MESSAGE_LEDGER_BFT];
    const world_type_stats *g = &result->types[NODE_MESSAGE_LEDGER_GOSSIP];
    bool gossip = result->ledger_gossip;
    double blocks = (double)result->block_count;
    double sent = (double)(bft->sent + g->sent);
    double bytes = (double)(bft->bytes_sent + g->bytes_sent);
    switch (metric) {
    case SCN_METRIC_LEDGER_BLOCKS: return blocks;
    case SCN_METRIC_LEDGER_FINALITY_P50: return util_hist_metric(&result->ledger_finality, 0.50);
    case SCN_METRIC_LEDGER_FINALITY_P99: return util_hist_metric(&result->ledger_finality, 0.99);
    case SCN_METRIC_VIEW_CHANGES: return (double)result->view_change_count;
    case SCN_METRIC_LEDGER_MESSAGES_PER_BLOCK: return blocks > 0 ? sent / blocks : NAN;
    case SCN_METRIC_LEDGER_BYTES_PER_BLOCK: return blocks > 0 ? bytes / blocks : NAN;
    case SCN_METRIC_SETTLEMENT_LATENCY_P50: return ledger_settlement_quantile(result, 0.50);
    case SCN_METRIC_SETTLEMENT_LATENCY_P99: return ledger_settlement_quantile(result, 0.99);
    case SCN_METRIC_LEDGER_FORKS: return (double)result->ledger_forks;
    case SCN_METRIC_UNJUST_SLASHES: return (double)result->unjust_slashes;
    case SCN_METRIC_EVIDENCE_VERIFIED: return (double)result->evidence_verified;
    case SCN_METRIC_EVIDENCE_REJECTED: return (double)result->evidence_rejected;
    case SCN_METRIC_LEDGER_RESENDS: return (double)result->ledger_resends;
    case SCN_METRIC_LEDGER_GOSSIP_MESSAGES: return gossip ? (double)g->sent : NAN;
    case SCN_METRIC_LEDGER_GOSSIP_BYTES: return gossip ? (double)g->bytes_sent : NAN;
    case SCN_METRIC_LEDGER_GOSSIP_DUPLICATES:
        return gossip ? (double)result->ledger_gossip_duplicates : NAN;
    case SCN_METRIC_LEDGER_PULL_ANSWERS: return gossip ? (double)result->ledger_pull_answers : NAN;
    case SCN_METRIC_TIMEOUT_ATTESTATIONS:
        return result->ledger_timeout_evidence ? (double)result->timeout_attestations : NAN;
    case SCN_METRIC_TIMEOUT_PENALTIES:
        return result->ledger_timeout_evidence ? (double)result->timeout_penalties : NAN;
    default: return NAN;
    }
}
