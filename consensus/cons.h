/* cons.h -- building blocks of output-agreement verification (Nesa-style
 * committee verification, CDV). For each inference request and model
 * segment a committee of k nodes is drawn by stake- and reputation-weighted
 * sortition from a public per-request beacon, so every node can check it;
 * members commit H(output | salt), then reveal; the revealed outputs are
 * compared by an agreement rule, and an output backed by at least 'quorum'
 * agreeing members is accepted; members that disagree with it (or time out)
 * lose reputation by R' = R * 0.8^M * 1.01^(1-M), clamped to [0.1, 10].
 *
 * This layer is pure: no clock, network, randomness or allocation; every
 * function is deterministic in its arguments. Hashing is BLAKE2b-256 from
 * util/hash.h (util_hash_init must have run). All multi-byte integers that
 * enter a hash are serialised little-endian. The protocol state machine that
 * drives these pieces lives elsewhere. */
#ifndef CONS_CONS_H
#define CONS_CONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONS_EINVAL (-1)        /* an argument or configuration is invalid */
#define CONS_ENOQUORUM (-2)     /* no output reached the quorum */

#define CONS_BEACON_BYTES 32
#define CONS_PUBLIC_KEY_BYTES 32
#define CONS_DIGEST_BYTES 32
#define CONS_SALT_BYTES 16
#define CONS_COMMITTEE_MAX 64   /* bound on k and on cons_accept's count */
#define CONS_TOPK_MAX 64        /* bound on the k of CONS_AGREE_TOPK */

/* Message of a cons_ error code ("unknown error" for others). Cannot fail. */
const char *cons_strerror(int error);

/* ---- Beacon and sortition (cons_sortition.c) ---- */

/* A node eligible for a committee. Weight is stake * reputation; both must
 * be finite and > 0. node_ids in one candidate list must be distinct. */
typedef struct cons_candidate {
    uint32_t node_id;
    uint8_t public_key[CONS_PUBLIC_KEY_BYTES];
    double stake;
    double reputation;
} cons_candidate;

/* The public beacon of (run_seed, request_id, round): BLAKE2b-256 of a
 * domain tag and the three integers. 'round' counts retries of a request,
 * so a re-drawn committee is independent of the failed one. Cannot fail. */
void cons_beacon_derive(uint64_t run_seed, uint64_t request_id, uint32_t round,
                        uint8_t beacon_out[CONS_BEACON_BYTES]);

/* The candidate's lottery ticket u in (0, 1]: the first 8 bytes
 * (little-endian) of BLAKE2b-256(beacon || public_key || segment as 4 LE
 * bytes), top 53 bits plus one, times 2^-53. Never 0. Cannot fail. */
double cons_sortition_uniform(const uint8_t beacon[CONS_BEACON_BYTES], uint32_t segment,
                              const uint8_t public_key[CONS_PUBLIC_KEY_BYTES]);

/* The candidate's race key -ln(u) / (stake * reputation): an exponential
 * arrival time with rate equal to the weight. Taking the k smallest keys is
 * weighted sampling without replacement (Efraimidis-Spirakis). ASSERTs a
 * valid weight (callers check lists with cons_candidates_check). */
double cons_sortition_key(const uint8_t beacon[CONS_BEACON_BYTES], uint32_t segment,
                          const cons_candidate *candidate);

/* Returns 0 if every candidate has a finite weight > 0, else CONS_EINVAL. */
int cons_candidates_check(const cons_candidate *candidates, size_t count);

/* Draws the committee of 'segment' under 'beacon': the min(k, count)
 * candidates with the smallest keys, ties broken by smaller node_id, then
 * by list position. Writes their node_ids to members_out (room for k) in
 * increasing key order and returns how many were written; returns
 * CONS_EINVAL if k > CONS_COMMITTEE_MAX or a weight is invalid. Uses a
 * bounded stack scratch of CONS_COMMITTEE_MAX keys; O(count * k). */
int cons_committee_select(const uint8_t beacon[CONS_BEACON_BYTES], uint32_t segment,
                          const cons_candidate *candidates, size_t count, uint32_t k,
                          uint32_t *members_out);

/* Anyone's check of one claim "node_id is on the committee": recomputes
 * every key and counts the candidates that precede node_id's in the
 * selection order; true iff node_id is listed and fewer than k precede it.
 * O(count), no scratch. False on any invalid weight. Safe on peer input. */
bool cons_sortition_verify(const uint8_t beacon[CONS_BEACON_BYTES], uint32_t segment,
                           const cons_candidate *candidates, size_t count, uint32_t k,
                           uint32_t node_id);

/* Checks a whole claimed committee: true iff 'members' equals, in order,
 * what cons_committee_select returns. Safe on peer input. */
bool cons_committee_verify(const uint8_t beacon[CONS_BEACON_BYTES], uint32_t segment,
                           const cons_candidate *candidates, size_t count, uint32_t k,
                           const uint32_t *members, uint32_t member_count);

/* Cross-validation's spot check of (beacon, segment): true with
 * probability p, from the first 8 bytes of BLAKE2b-256(domain tag ||
 * beacon || segment) as u in (0, 1]: checked iff u <= p. Anyone can
 * recompute it; nobody can bias it without biasing the beacon. */
bool cons_spot_check(const uint8_t beacon[CONS_BEACON_BYTES], uint32_t segment, double p);

/* ---- Commitments (cons_commit.c) ---- */

/* digest = BLAKE2b-256(output || salt). The salt hides low-entropy outputs
 * (e.g. an argmax token) until reveal. Cannot fail. */
void cons_commit(const void *output, size_t size, const uint8_t salt[CONS_SALT_BYTES],
                 uint8_t digest_out[CONS_DIGEST_BYTES]);

/* True iff (output, salt) opens 'digest'. Safe on peer input. */
bool cons_commit_verify(const void *output, size_t size, const uint8_t salt[CONS_SALT_BYTES],
                        const uint8_t digest[CONS_DIGEST_BYTES]);

/* A member's salt for (request_id, segment, round): the first 16 bytes of
 * BLAKE2b-256(domain tag || secret || request_id || segment || round).
 * 'secret' is node-private (e.g. its signing secret key or a seed); the
 * salt is unpredictable to others until revealed. Cannot fail. */
void cons_salt_derive(const void *secret, size_t secret_size, uint64_t request_id,
                      uint32_t segment, uint32_t round, uint8_t salt_out[CONS_SALT_BYTES]);

/* ---- Agreement (cons_agree.c) ---- */

typedef enum cons_agree_kind {
    /* Bitwise equality of the float arrays (memcmp): -0.0 != 0.0, and two
     * NaNs agree only if their bit patterns (sign, payload) are equal. For
     * deterministic kernels on identical hardware only. */
    CONS_AGREE_EXACT,
    /* max_i |a_i - b_i| <= epsilon, differences taken in double; any NaN in
     * either vector disagrees, as does inf vs anything (inf-inf is NaN). */
    CONS_AGREE_MAXABS,
    /* cos(a, b) >= tau, computed in double; two all-zero vectors agree, one
     * all-zero vector disagrees with any other; any NaN or inf disagrees. */
    CONS_AGREE_COSINE,
    /* The index sets of the top_k largest values (logits) are equal as sets;
     * top_k = 1 is argmax equality. Ties rank the lower index first (so
     * -0.0 and 0.0 tie); any NaN disagrees; top_k >= n always agrees. */
    CONS_AGREE_TOPK,
} cons_agree_kind;

typedef struct cons_agreement {
    cons_agree_kind kind;
    double epsilon;     /* MAXABS: finite, >= 0 */
    double tau;         /* COSINE: in [-1, 1] */
    uint32_t top_k;     /* TOPK: 1..CONS_TOPK_MAX */
} cons_agreement;

/* Returns 0 if 'rule' is well formed (kind known, its parameter in range),
 * else CONS_EINVAL. Check rules from configuration with this. */
int cons_agreement_check(const cons_agreement *rule);

/* Whether outputs a and b (n floats each) agree under 'rule'. Symmetric in
 * a and b. ASSERTs a valid rule. Safe on arbitrary float contents. */
bool cons_agree(const cons_agreement *rule, const float *a, const float *b, size_t n);

/* Picks the accepted output among 'count' members' outputs (n_floats each).
 * For each candidate i in index order, its support is the number of members
 * j (including i itself when i agrees with itself) whose output agrees with
 * output i; the candidate with the largest support wins, ties to the lowest
 * index. Tolerant rules are not transitive (a~b and b~c do not give a~c),
 * so there are no equivalence classes: support is measured against one
 * representative, and every member counted agrees with that very output.
 * Always writes the winner to accepted_out and sets bit j of agree_mask_out
 * for each member agreeing with it. Returns 0 if its support >= quorum,
 * else CONS_ENOQUORUM. ASSERTs 1 <= count <= CONS_COMMITTEE_MAX, quorum >= 1
 * and a valid rule. O(count^2 * n_floats). */
int cons_accept(const cons_agreement *rule, const float *const *outputs, size_t n_floats,
                uint32_t count, uint32_t quorum, uint32_t *accepted_out,
                uint64_t *agree_mask_out);

/* ---- Reputation (cons_reputation.c) ---- */

/* Nesa's multiplicative rule: R' = R * penalty^M * reward^(1-M), M = 1 when
 * the member deviated from the accepted output or timed out, clamped to
 * [min, max]; new nodes start at 'initial'. */
typedef struct cons_reputation_rule {
    double penalty;     /* 0.8 */
    double reward;      /* 1.01 */
    double min;         /* 0.1 */
    double max;         /* 10 */
    double initial;     /* 1 */
} cons_reputation_rule;

/* Nesa's constants (0.8, 1.01, 0.1, 10, 1). Cannot fail. */
cons_reputation_rule cons_reputation_rule_default(void);

/* Returns 0 if 0 < penalty <= 1 <= reward, 0 < min <= initial <= max and
 * all are finite; else CONS_EINVAL. penalty = reward = 1 is a reputation
 * that never moves. */
int cons_reputation_rule_check(const cons_reputation_rule *rule);

/* One round's update of reputation r (finite, > 0; clamped first if out of
 * [min, max]). ASSERTs a valid rule. Cannot fail. */
double cons_reputation_update(const cons_reputation_rule *rule, double r, bool deviated);

/* Consecutive deviations that take reputation 'from' strictly below
 * 'below', as cons_reputation_update would: 0 if from < below already;
 * UINT32_MAX if unreachable (below <= min). Closed form with a log. */
uint32_t cons_reputation_rounds_to_fall(const cons_reputation_rule *rule, double from,
                                        double below);

/* Consecutive honest rounds that take 'from' to at least 'target': 0 if
 * already there; UINT32_MAX if unreachable (target > max). */
uint32_t cons_reputation_rounds_to_recover(const cons_reputation_rule *rule, double from,
                                           double target);

/* ---- Analytics (cons_analytic.c) ---- */

/* P(at least 'quorum' of 'k' members drawn uniformly without replacement
 * from 'population' nodes, 'malicious' of them malicious, are malicious):
 * the hypergeometric upper tail. This is the capture probability of
 * equal-weight sortition. ASSERTs malicious <= population, k <= population. */
double cons_capture_probability(uint32_t population, uint32_t malicious, uint32_t k,
                                uint32_t quorum);

/* The same with replacement: the binomial tail with p = malicious /
 * population, the large-population limit of the hypergeometric tail. */
double cons_capture_probability_binomial(uint32_t population, uint32_t malicious, uint32_t k,
                                         uint32_t quorum);

/* Sampling consensus settles a tampered output only when all n sampled
 * nodes are in the cartel. With replacement (an infinite population of
 * malicious share r): r^n. */
double cons_sampling_capture_iid(double malicious_share, uint32_t n);

/* The same for n distinct nodes drawn from 'population' of which
 * 'malicious' collude: the hypergeometric C(m, n) / C(N, n). */
double cons_sampling_capture(uint32_t population, uint32_t malicious, uint32_t n);

/* Cross-validation with check probability p against an executor that
 * cheats on every request: P(caught within k requests) = 1 - (1 - p)^k
 * (with a checking quorum that is honest). */
double cons_crossval_detection(double p, uint32_t k);

/* What a rational adversary weighs: the probability that one wrong output
 * from a member is caught, by protocol, when a share r of the candidates
 * collude with it (or none, when it cheats alone). */
typedef enum cons_protocol {
    CONS_PROTOCOL_COMMITTEE = 1,  /* k members, quorum q */
    CONS_PROTOCOL_SAMPLING,       /* n members, unanimity */
    CONS_PROTOCOL_CROSSVAL,       /* executor; n checkers with probability p */
    CONS_PROTOCOL_OPTIMISTIC,     /* executor; n challengers */
    CONS_PROTOCOL_TEE,            /* one attested executor */
    CONS_PROTOCOL_ZK              /* one proven executor */
} cons_protocol;

typedef struct cons_exposure {
    cons_protocol protocol;
    uint32_t members;             /* committee k / sampled n / checkers n */
    uint32_t quorum;              /* committee only */
    double check_probability;     /* crossval only */
    double colluding_share;       /* r: share of candidates that answer the same lie */
    bool forged_evidence;         /* tee: the enclave's key is in the adversary's hands */
} cons_exposure;

/* P(the lie is caught), in [0, 1], under independent draws (binomial in
 * r). A committee catches it unless the other k - 1 members hold q - 1
 * colluders; sampling unless all n - 1 others collude; crossval when the
 * check happens and not all n checkers collude; optimistic unless every
 * challenger colludes; tee never with forged evidence, else always; zk
 * always. ASSERTs a known protocol and r in [0, 1]. */
double cons_detection_probability(const cons_exposure *exposure);

/* The rational adversary's rule: cheat iff (1 - P) x gain > P x loss. */
bool cons_rational_cheats(double p_caught, double gain, double loss);

#endif
