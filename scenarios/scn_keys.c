/* scn_keys.c -- every key a scenario may write, one row each: its path,
 * type, unit, default as text, its scope (the workload kind or the
 * verification protocol that owns it; "" for none) and a doc line. The
 * loader's allowed-key lists (unknown-key errors and the list they print)
 * are the children of a section in this table, in table order, and so are
 * the keys a scope owns; scenarios/README.md lists every row ("Key
 * reference"), and the tests check that every key the params table holds
 * is a row. Paths: "a.b" a key of a map, "a[].b" a key of every item of
 * list a, "a.*" any key of a map whose keys are names (regions, metrics,
 * sweep keys). */
#include <string.h>

#include "scenarios/scn_int.h"
#include "util/assert.h"

const char *const scn__key_type_names[SCN_KEY_TYPE_COUNT] = {
#define SCN_KEY_TYPE_NAME(suffix, name) name,
    SCN_KEY_TYPES(SCN_KEY_TYPE_NAME)
#undef SCN_KEY_TYPE_NAME
};

#define K(path, type, unit, fallback, scope, doc)                                                 \
    {path, SCN_TYPE_##type, unit, fallback, scope, 0, doc}
#define DERIVED(path, type, unit, fallback, doc)                                                 \
    {path, SCN_TYPE_##type, unit, fallback, "", SCN_KEY_DERIVED, doc}

const scn_key_info scn__keys[] = {
    /* The top level, in the order of its error message. */
    K("name", STRING, "", "file base name", "", "the scenario's name, at most 63 bytes"),
    K("seed", COUNT, "", "1", "", "the run seed; --seed overrides"),
    K("duration", DURATION, "", "10s", "", "simulated time the run lasts"),
    K("network", MAP, "", "", "", "links: latency, bandwidth, loss and the like"),
    K("nodes", MAP, "", "", "", "required: the node count, classes and regions"),
    K("gossip", MAP, "", "", "", "the gossip protocol"),
    K("model", MAP, "", "none", "", "the model for inference"),
    K("workload", MAP, "", "", "", "rumors or inference requests"),
    K("verification", MAP, "", "protocol none", "", "verification of outputs and its economics"),
    K("privacy", MAP, "", "none", "", "noise on forwarded activations and its accounting"),
    K("ledger", MAP, "", "none", "", "a BFT validator set that settles verdicts in blocks"),
    K("churn", MAP, "", "none", "", "nodes joining and leaving over time"),
    K("faults", LIST, "", "none", "", "the fault schedule"),
    K("expect", MAP, "", "none", "", "expectations checked at the end of a run"),
    K("output", MAP, "", "", "", "where results go"),
    K("sweep", MAP, "", "none", "", "a parameter grid for infersim sweep"),
    /* network */
    K("network.latency", MAP, "", "constant 20ms", "", "the per-link latency model"),
    K("network.regions", MAP, "", "none", "", "base latency matrix between regions"),
    K("network.jitter", DURATION, "", "0", "", "per message uniform extra in [0, jitter)"),
    K("network.bandwidth", BITRATE, "bit/s", "1Gbps", "", "default per-node uplink"),
    K("network.loss", RATIO, "", "0", "", "probability a message is dropped"),
    K("network.duplicate", RATIO, "", "0", "", "probability a message is delivered twice"),
    K("network.reorder", RATIO, "", "0", "", "probability a message skips link FIFO"),
    K("network.corrupt", RATIO, "", "0", "", "probability a bit is flipped in flight"),
    K("network.reorder_delay", DURATION, "", "10ms", "", "a reordered message's extra hold"),
    K("network.latency.model", ENUM, "", "constant", "", "constant, uniform, normal, lognormal"),
    K("network.latency.value", DURATION, "", "20ms", "", "constant value; normal mean; median"),
    K("network.latency.min", DURATION, "", "0", "", "uniform lower bound; normal floor"),
    K("network.latency.max", DURATION, "", "none", "", "uniform upper bound (required there)"),
    K("network.latency.stddev", DURATION, "", "0", "", "normal: standard deviation"),
    K("network.latency.sigma", NUMBER, "", "0.5", "", "lognormal: shape of the underlying normal"),
    K("network.regions.*", MAP, "", "", "", "a region's row of the matrix"),
    K("network.regions.*.*", DURATION, "", "mirrored", "", "one-way base latency between regions"),
    /* nodes */
    K("nodes.count", COUNT, "nodes", "none", "", "required: nodes in the network, 2..2000000"),
    K("nodes.classes", LIST, "", "one class default", "", "hardware and link classes, 1..16"),
    K("nodes.regions", LIST, "", "one region default", "", "regions, 1..16"),
    K("nodes.classes[].name", STRING, "", "none", "", "required: unique class name"),
    K("nodes.classes[].fraction", RATIO, "", "none", "", "required: share of the nodes"),
    K("nodes.classes[].bandwidth", BITRATE, "bit/s", "0", "", "uplink; 0 = network.bandwidth"),
    K("nodes.classes[].memory", SIZE, "B", "16GiB", "", "memory for weights and KV caches"),
    K("nodes.classes[].flops", FLOPS, "FLOP/s", "10TFLOPS", "", "compute speed"),
    K("nodes.classes[].kernel", ENUM, "", "sequential", "", "sequential, blocked, fma, bf16, q8"),
    K("nodes.classes[].overhead", DURATION, "", "100us", "", "fixed cost of each compute call"),
    K("nodes.classes[].memory_bandwidth", BYTERATE, "B/s", "0", "",
      "roofline: 0 = unbounded, FLOPs alone"),
    K("nodes.classes[].tee", BOOL, "", "false", "", "the class has a TEE (protocol tee)"),
    K("nodes.classes[].max_batch", COUNT, "steps", "1", "",
      "continuous batching: decode steps run as one call, 1..64; 1 = one at a time"),
    K("nodes.regions[].name", STRING, "", "none", "", "required: unique region name"),
    K("nodes.regions[].fraction", RATIO, "", "none", "", "required: share of the nodes"),
    /* gossip */
    K("gossip.mode", ENUM, "", "push", "", "push or pushpull"),
    K("gossip.fanout", COUNT, "peers", "6", "", "peers a node forwards a new rumor to"),
    K("gossip.pull_interval", DURATION, "", "500ms", "", "pushpull: anti-entropy period"),
    K("gossip.pull_max", COUNT, "rumors", "16", "", "pushpull: rumors returned per pull"),
    /* model */
    K("model.source", ENUM, "", "seed, or file with file", "", "where the weights come from"),
    K("model.seed", COUNT, "", "1", "", "seed source: the weights' seed"),
    K("model.file", STRING, "", "none", "", "file source: a llama2.c checkpoint"),
    K("model.shape", MAP, "", "none", "", "seed source (required there): the shape"),
    K("model.segments", LIST, "", "1", "", "a count, or [first, last] layer ranges"),
    K("model.wire_dtype", ENUM, "", "fp32", "", "fp32, fp16, bf16, int8: activations on the wire"),
    K("model.replicas", COUNT, "servers", "0", "", "servers per segment; 0 = every node that fits"),
    K("model.kv_slots", COUNT, "requests", "4", "", "concurrent requests a server holds KV for"),
    K("model.tokenizer", STRING, "", "none", "", "a llama2.c tokenizer.bin for text prompts"),
    DERIVED("model.tokenizer_sha256", STRING, "", "", "SHA-256 of the tokenizer (params table only)"),
    DERIVED("model.file_sha256", STRING, "", "", "SHA-256 of the checkpoint (params table only)"),
    K("model.shape.dim", COUNT, "", "none", "", "required: hidden size"),
    K("model.shape.hidden_dim", COUNT, "", "none", "", "required: feed-forward inner size"),
    K("model.shape.layers", COUNT, "layers", "none", "", "required: transformer layers"),
    K("model.shape.heads", COUNT, "", "none", "", "required: attention heads"),
    K("model.shape.kv_heads", COUNT, "", "heads", "", "key/value heads; must divide heads"),
    K("model.shape.vocab", COUNT, "tokens", "none", "", "required: vocabulary size"),
    K("model.shape.seq_len", COUNT, "tokens", "none", "", "required: longest context"),
    K("model.shape.shared_classifier", BOOL, "", "true", "", "the classifier is the embedding"),
    /* workload */
    K("workload.kind", ENUM, "", "inference with a model, else gossip", "", "gossip or inference"),
    K("workload.messages", COUNT, "rumors", "100", "gossip", "rumors published over the run"),
    K("workload.rate", RATE, "1/s", "100/s", "", "mean arrivals per simulated second"),
    K("workload.arrival", ENUM, "", "poisson, or explicit with times", "",
      "poisson, constant or explicit"),
    K("workload.start", DURATION, "", "0", "", "first arrival not before this"),
    K("workload.size", SIZE, "B", "1KiB", "gossip", "payload of one rumor"),
    K("workload.requests", COUNT, "requests", "100", "inference", "requests over the run"),
    K("workload.times", LIST, "", "none", "inference", "explicit arrival instants"),
    K("workload.prompt_tokens", COUNT, "tokens", "16", "inference", "prompt length, or [min, max]"),
    K("workload.prompts", LIST, "", "none", "inference",
      "text prompts: a file (one per line) or a list; needs model.tokenizer"),
    DERIVED("workload.prompts_sha256", STRING, "", "", "SHA-256 of the prompts file (params only)"),
    K("workload.generate", COUNT, "tokens", "8", "inference", "tokens generated per request"),
    K("workload.timeout", DURATION, "", "30s", "inference", "a request not done by then fails"),
    K("workload.failover", BOOL, "", "false", "inference",
      "replay a step past step_timeout on a fresh route (verification none)"),
    K("workload.step_timeout", DURATION, "", "500ms", "inference",
      "failover only: the client's deadline for each step's token"),
    K("workload.routing", ENUM, "", "hash", "inference",
      "hash or latency: how a client picks each segment's server (verification none)"),
    K("workload.routing_choices", COUNT, "servers", "3", "inference",
      "latency routing only: a hash picks among this many best servers"),
    K("workload.until", ENUM, "", "requests", "inference",
      "requests, or all_served: arrivals also stop once every node has made a forward call"),
    /* verification */
    K("verification.protocol", ENUM, "", "none", "", "none or a protocol of consensus/cons.h"),
    K("verification.committee", COUNT, "members", "3", "", "k members per request and segment"),
    K("verification.quorum", COUNT, "members", "committee/2 + 1", "", "committee: q accept"),
    K("verification.retries", COUNT, "committees", "2 (sampling 3)", "", "fresh committees"),
    K("verification.draw_epoch", COUNT, "requests", "0", "",
      "draws read the verdicts of earlier epochs of this many requests (0 = the live ledger)"),
    K("verification.commit_reveal", BOOL, "", "true", "", "commit before revealing"),
    K("verification.catch_up", BOOL, "", "true", "",
      "a member gets the rows of the steps it missed"),
    K("verification.commit_timeout", DURATION, "", "2s", "", "the commit phase closes then"),
    K("verification.reveal_timeout", DURATION, "", "2s", "", "the reveal phase closes then"),
    K("verification.suspect_after", DURATION, "", "off", "",
      "a member silent this long in a phase is suspected; the client goes on without it"),
    K("verification.agreement", MAP, "", "maxabs 0.05 (sampling exact)", "",
      "agreement of activations before the last segment"),
    K("verification.final_agreement", MAP, "", "topk 1 (sampling exact)", "",
      "agreement of the last segment's logits"),
    K("verification.reputation", MAP, "", "", "", "Nesa's reputation update"),
    K("verification.stake", NUMBER, "stake", "1", "", "every node's stake at the start"),
    K("verification.slash", RATIO, "", "0", "", "share of stake lost per proven deviation"),
    K("verification.crypto", ENUM, "", "mac", "", "mac or ed25519: how votes are authenticated"),
    K("verification.selection", ENUM, "", "hash", "",
      "hash or vrf: public hash tickets or RFC 9381 VRF tickets"),
    K("verification.vrf_epoch", DURATION, "", "10s", "", "selection vrf: one VRF proof per epoch"),
    K("verification.draw", ENUM, "", "race", "",
      "race or tree: every ticket hashed, or O(k log n) picks from the beacon"),
    K("verification.vrf_accept", RATIO, "", "0.25", "",
      "selection vrf with draw tree: the chance a pick seats its node"),
    K("verification.echelon", STRING, "", "any class", "sampling", "the class sampled from"),
    K("verification.verifiers", COUNT, "members", "3 (optimistic 1)", "",
      "crossval: re-executors; optimistic: challengers"),
    K("verification.check_probability", RATIO, "", "0.01", "crossval", "spot-check odds"),
    K("verification.check_answers", COUNT, "members", "1", "crossval",
      "checkers' answers a checked hop needs"),
    K("verification.challenge_window", DURATION, "", "10s", "optimistic", "time to finality"),
    K("verification.bisection_round", DURATION, "", "1s", "optimistic", "one bisection round"),
    K("verification.dispute_time", DURATION, "", "1s", "", "the referee's time per dispute"),
    K("verification.tee_overhead", NUMBER, "", "0.07", "tee", "compute slowdown share"),
    K("verification.zk", MAP, "", "", "zk", "the prover's costs"),
    K("verification.timeout_slash", RATIO, "", "0 (sampling, crossval 0.1)", "",
      "share of stake lost on a timeout"),
    K("verification.fee_per_token", NUMBER, "stake", "0", "", "paid per token to accepted members"),
    K("verification.slashed_to", MAP, "", "", "", "where slashed stake goes"),
    K("verification.unsafe_quorum_slack", COUNT, "members", "0", "",
      "TESTING ONLY: accept with this many votes fewer"),
    K("verification.agreement.rule", ENUM, "", "maxabs", "", "exact, maxabs, cosine, topk"),
    K("verification.agreement.epsilon", NUMBER, "", "0.05", "", "maxabs: largest difference"),
    K("verification.agreement.tau", NUMBER, "", "0.999", "", "cosine: least similarity"),
    K("verification.agreement.top_k", COUNT, "", "1", "", "topk: indices compared"),
    K("verification.agreement.margin", NUMBER, "", "0", "", "topk: near ties tolerated"),
    K("verification.final_agreement.rule", ENUM, "", "topk", "", "exact, maxabs, cosine, topk"),
    K("verification.final_agreement.epsilon", NUMBER, "", "0.05", "", "maxabs: largest difference"),
    K("verification.final_agreement.tau", NUMBER, "", "0.999", "", "cosine: least similarity"),
    K("verification.final_agreement.top_k", COUNT, "", "1", "", "topk: indices compared"),
    K("verification.final_agreement.margin", NUMBER, "", "0", "", "topk: near ties tolerated"),
    K("verification.reputation.penalty", NUMBER, "", "0.8", "", "factor for a disagreeing member"),
    K("verification.reputation.reward", NUMBER, "", "1.01", "", "factor for an agreeing member"),
    K("verification.reputation.min", NUMBER, "", "0.1", "", "lower clamp"),
    K("verification.reputation.max", NUMBER, "", "10", "", "upper clamp"),
    K("verification.reputation.initial", NUMBER, "", "1", "", "every node's reputation at first"),
    K("verification.zk.prover_factor", NUMBER, "", "1000", "", "prover FLOPs per inference FLOP"),
    K("verification.zk.proof_bytes", SIZE, "B", "64KiB", "", "the proof's size on the wire"),
    K("verification.zk.verify_time", DURATION, "", "10ms", "", "the client's verification time"),
    K("verification.slashed_to.honest", RATIO, "", "0.5", "", "share to the agreeing members"),
    K("verification.slashed_to.oracle", RATIO, "", "0.2", "", "share to the oracle"),
    K("verification.slashed_to.burn", RATIO, "", "0.3", "", "share burnt"),
    K("verification.settlement", ENUM, "", "instant", "",
      "instant or ledger: verdicts apply at once or when their block commits"),
    /* ledger */
    K("ledger.validators", COUNT, "nodes", "0", "",
      "validators, nodes 0 .. n - 1 (0 = no ledger; at most 64)"),
    K("ledger.block_interval", DURATION, "", "200ms", "",
      "a leader proposes this long after its view starts (empty blocks too)"),
    K("ledger.view_timeout", DURATION, "", "1s", "",
      "the pacemaker's timeout of a view, doubled per failed view in a row"),
    K("ledger.auth", ENUM, "", "mac", "", "mac or ed25519: how BFT messages are authenticated"),
    K("ledger.block_txs", COUNT, "transactions", "32", "", "most transactions in one block"),
    K("ledger.byzantine", COUNT, "validators", "0", "",
      "the last n validators run ledger.behaviour"),
    K("ledger.behaviour", ENUM, "", "honest", "",
      "equivocate, withhold, delay, crash or twin (consensus/cons_bft.c)"),
    K("ledger.delay", DURATION, "", "2s", "", "behaviour delay: how late a leader proposes"),
    K("ledger.crash_at", DURATION, "", "0", "", "behaviour crash: when the validators stop"),
    K("ledger.evidence", BOOL, "", "true", "",
      "a slash or reputation penalty applies only with evidence the validators verified"),
    K("ledger.timeout_evidence", BOOL, "", "false", "",
      "a timeout penalty applies with a quorum of the committee's attestations"),
    K("ledger.resend_timeout", DURATION, "", "3s", "",
      "a client resends a transaction not seen committed after this long (0 = never)"),
    K("ledger.dissemination", ENUM, "", "direct", "",
      "direct or gossip: how transactions and votes reach the validators"),
    K("ledger.fanout", COUNT, "validators", "3", "",
      "gossip: validators a new transaction or vote is pushed to"),
    K("ledger.pull_interval", DURATION, "", "500ms", "",
      "gossip: a validator's anti-entropy period (0 = push only)"),
    DERIVED("ledger.submit_to", COUNT, "validators", "",
            "validators a client sends each transaction to: f + 1"),
    /* churn */
    K("churn.join_rate", RATE, "1/s", "0/s", "", "joins per simulated second (Poisson)"),
    K("churn.leave_rate", RATE, "1/s", "0/s", "", "leaves per simulated second (Poisson)"),
    K("churn.initially_online", RATIO, "", "1", "", "share of the nodes online at t = 0"),
    K("churn.leave", ENUM, "", "crash", "",
      "crash (vanish at once) or graceful (refuse new steps for drain, then go)"),
    K("churn.drain", DURATION, "", "1s", "", "graceful: how long a leaver refuses before it goes"),
    K("churn.start", DURATION, "", "0", "", "no churn event before this time"),
    K("churn.stop", DURATION, "", "duration", "", "no churn event after this time"),
    K("churn.nodes", SELECTOR, "", "all", "", "the nodes that churn (the others stay online)"),
    K("churn.nodes.all", BOOL, "", "false", "", "every node"),
    K("churn.nodes.ids", LIST, "", "none", "", "those node ids"),
    K("churn.nodes.range", STRING, "", "none", "", "ids first-last inclusive"),
    K("churn.nodes.fraction", RATIO, "", "none", "", "that share of the nodes"),
    K("churn.nodes.class", STRING, "", "none", "", "the nodes of that class"),
    K("churn.nodes.region", STRING, "", "none", "", "the nodes of that region"),
    /* privacy */
    K("privacy.boundaries", LIST, "", "all", "",
      "all, or segment indexes s >= 1 whose incoming activations are noised"),
    K("privacy.clip", NUMBER, "L2 norm", "none", "",
      "required: each activation row is clipped to this L2 norm C"),
    K("privacy.sigma", NUMBER, "x clip", "none", "",
      "noise multiplier: N(0, (sigma C)^2) per coordinate; or give epsilon"),
    K("privacy.epsilon", NUMBER, "", "none", "",
      "target epsilon per request; sigma is derived for the planned releases"),
    K("privacy.delta", NUMBER, "", "1e-5", "", "the delta of every epsilon"),
    K("privacy.curious", RATIO, "", "0", "",
      "share of nodes that are honest-but-curious: they serve correctly and attack"),
    K("privacy.attack_sample", RATIO, "", "1", "", "share of requests curious nodes attack"),
    K("privacy.require_tee_for", LIST, "", "none", "",
      "tokens, activations: only TEE servers for the segments that see them"),
    K("privacy.side_channel_leak", RATIO, "", "1", "",
      "share of the requests a side_channel TEE node processes that leak"),
    DERIVED("privacy.sigma_derived", NUMBER, "x clip", "",
            "the sigma derived from epsilon (params table only)"),
    /* faults */
    K("faults[].kind", ENUM, "", "none", "", "required: a kind of SCN_FAULT_KINDS"),
    K("faults[].at", DURATION, "", "none", "", "required: when the fault starts"),
    K("faults[].until", DURATION, "", "never", "", "when it heals or the nodes recover"),
    K("faults[].nodes", SELECTOR, "", "none", "", "the affected nodes"),
    K("faults[].probability", RATIO, "", "none", "", "link faults: the odds per message"),
    K("faults[].delay", DURATION, "", "none", "", "delay: the spike; reorder: the hold"),
    K("faults[].shape", ENUM, "", "groups", "", "partition: groups, halves, regions, isolate"),
    K("faults[].groups", LIST, "", "none", "", "partition by groups: 1..8 selectors"),
    K("faults[].scale", NUMBER, "", "1", "", "wrong output noise over the output's RMS"),
    K("faults[].budget", COUNT, "nodes", "every selected node", "", "adaptive: nodes to corrupt"),
    K("faults[].mode", ENUM, "", "noise", "", "wrong_output: noise, model or layer"),
    K("faults[].gain", NUMBER, "", "none", "", "a rational adversary's gain from cheating"),
    K("faults[].coordination", ENUM, "", "stream", "",
      "collude: stream (off the network) or messages (the leader tells the cartel)"),
    K("faults[].target_token", COUNT, "", "none", "",
      "collude: the token the cartel's last-segment output makes win (else noise)"),
    K("faults[].second_to", ENUM, "", "client", "",
      "equivocate: who gets the second commitment, the client or the other members"),
    K("faults[].nodes.all", BOOL, "", "false", "", "every node"),
    K("faults[].nodes.ids", LIST, "", "none", "", "those node ids"),
    K("faults[].nodes.range", STRING, "", "none", "", "ids first-last inclusive"),
    K("faults[].nodes.fraction", RATIO, "", "none", "", "that share of the nodes"),
    K("faults[].nodes.class", STRING, "", "none", "", "the nodes of that class"),
    K("faults[].nodes.region", STRING, "", "none", "", "the nodes of that region"),
    K("faults[].groups[].all", BOOL, "", "false", "", "every node"),
    K("faults[].groups[].ids", LIST, "", "none", "", "those node ids"),
    K("faults[].groups[].range", STRING, "", "none", "", "ids first-last inclusive"),
    K("faults[].groups[].fraction", RATIO, "", "none", "", "that share of the nodes"),
    K("faults[].groups[].class", STRING, "", "none", "", "the nodes of that class"),
    K("faults[].groups[].region", STRING, "", "none", "", "the nodes of that region"),
    /* expect, output, sweep */
    K("expect.converge_within", DURATION, "", "none", "", "every request after the heal ends in"),
    K("expect.*", STRING, "", "none", "", "a metric of SCN_METRICS: OP value"),
    K("expect.*.mean", STRING, "", "none", "", "the mean over a grid point's seeds: OP value"),
    K("expect.*.each", STRING, "", "none", "", "a seed passes when its value is: OP value"),
    K("expect.*.passing", STRING, "", "none", "", "the fraction of passing seeds: OP ratio"),
    K("output.db", STRING, "", "results.db", "", "SQLite results file; --db overrides"),
    K("output.sample_interval", DURATION, "", "100ms", "", "timeseries period; 0 = off; at most 10,000,000 in duration"),
    K("output.divergence_sample", RATIO, "", "1", "",
      "share of completed requests whose divergence by class is measured"),
    K("output.node_series", BOOL, "", "true", "",
      "every node's balance at every sample (at most 100,000,000 rows); false: the means only"),
    K("output.decisions", BOOL, "", "true", "",
      "a decisions row per member and decision; false: none stored"),
    K("sweep.seeds", COUNT, "seeds", "1", "", "seeds per grid point"),
    K("sweep.params", MAP, "", "none", "", "key path to a list of values or a range"),
    K("sweep.params.*", LIST, "", "none", "", "the values of one key path"),
    K("sweep.params.*.from", STRING, "", "none", "", "a range's first value"),
    K("sweep.params.*.to", STRING, "", "none", "", "a range's last value"),
    K("sweep.params.*.step", STRING, "", "none", "", "a range's step"),
};

#undef K
#undef DERIVED

const size_t scn__key_count = sizeof(scn__keys) / sizeof(scn__keys[0]);

const char *scn_key_path(size_t index)
{
    size_t seen = 0;
    for (size_t i = 0; i < scn__key_count; i++) {
        if ((scn__keys[i].flags & SCN_KEY_DERIVED) == 0 && seen++ == index) {
            return scn__keys[i].path;
        }
    }
    return NULL;
}

/* The key's name when 'path' is a key written directly under 'section'
 * ("" for the top level), else NULL. */
static const char *keys_child(const char *path, const char *section)
{
    size_t length = strlen(section);
    const char *rest = path;
    if (length > 0) {
        if (strncmp(path, section, length) != 0 || path[length] != '.') {
            return NULL;
        }
        rest = path + length + 1;
    }
    bool plain = strchr(rest, '.') == NULL && strchr(rest, '[') == NULL;
    return plain && strcmp(rest, "*") != 0 ? rest : NULL;
}

/* Walks every row; the names point into the table (static). */
size_t scn__keys_under(const char *section, const char *scope, const char **names, size_t size)
{
    size_t count = 0;
    for (size_t i = 0; i < scn__key_count; i++) {
        const scn_key_info *key = &scn__keys[i];
        const char *name = keys_child(key->path, section);
        bool in_scope = scope == NULL || strcmp(key->scope, scope) == 0;
        if (name != NULL && in_scope && (key->flags & SCN_KEY_DERIVED) == 0) {
            ASSERT(count + 1 < size);
            names[count++] = name;
        }
    }
    names[count] = NULL;
    return count;
}

/* Linear over the rows; cannot fail. */
const scn_key_info *scn__key_find(const char *path)
{
    for (size_t i = 0; i < scn__key_count; i++) {
        if (strcmp(scn__keys[i].path, path) == 0) {
            return &scn__keys[i];
        }
    }
    return NULL;
}
