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
 * enter a hash are serialised little-endian. Each verification protocol's
 * rules live here too, one file per protocol (cons_committee.c, ...), as a
 * table of pure operations (cons_protocol_ops); node/committee.c carries
 * the messages and timers and asks the protocol what to do. */
#ifndef CONS_CONS_H
#define CONS_CONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/hash.h"

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
 * CONS_EINVAL if k > CONS_COMMITTEE_MAX or a weight is invalid. Every
 * candidate's ticket is hashed (the beacon keys them all), 64 at a time in
 * a stack scratch of about 2 KiB; O(count) hashes, and O(count * k)
 * comparisons at worst (a candidate that cannot enter costs one). */
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

/* Draws the committee as cons_committee_select does, but candidate i's
 * ticket is uniforms[i] in (0, 1] (a VRF ticket, cons_vrf_uniform) instead
 * of the public hash ticket; keys are -ln(u) / (stake * reputation) and the
 * order and ties are the same. CONS_EINVAL on a bad k, weight or ticket. */
int cons_committee_select_uniforms(const double *uniforms, const cons_candidate *candidates,
                                   size_t count, uint32_t k, uint32_t *members_out);

/* ---- A draw in slices (cons_sortition.c) ----
 * The committee of a long candidate list drawn slice by slice, so the
 * slices may run anywhere (world/ runs them on its worker pool): each
 * slice keeps its own best k by the selection order (key, node_id, list
 * index). The order is total, so merging the slices' bests gives exactly
 * the committee cons_committee_select (or cons_committee_select_uniforms)
 * draws from the whole list, for every split and every merge order. */
typedef struct cons_draw_best {
    double key[CONS_COMMITTEE_MAX];     /* sorted by the selection order */
    uint32_t node_id[CONS_COMMITTEE_MAX];
    size_t index[CONS_COMMITTEE_MAX];   /* the position in the whole list */
    uint32_t filled;                    /* min(k, candidates offered) */
    uint32_t k;
} cons_draw_best;

/* The best k of candidates[first, last) (positions in the whole list),
 * tickets from uniforms[i] when 'uniforms' is not NULL (indexed like
 * 'candidates'), else hashed under (beacon, segment). Returns 0, or
 * CONS_EINVAL on k > CONS_COMMITTEE_MAX, an invalid weight or a ticket
 * outside (0, 1] in the slice. Reads only its slice; writes only *best_out. */
int cons_draw_slice(const uint8_t *beacon, uint32_t segment, const double *uniforms,
                    const cons_candidate *candidates, size_t first, size_t last, uint32_t k,
                    cons_draw_best *best_out);

/* Offers candidates[first, last) to 'best', which cons_draw_slice began for
 * the same draw (beacon, segment, uniforms, candidates): a slice taken in
 * pieces keeps the best k of all of them, so its caller may prepare each
 * piece just before it is offered. Returns 0, or CONS_EINVAL (best->k then
 * 0) as cons_draw_slice does. */
int cons_draw_extend(const uint8_t *beacon, uint32_t segment, const double *uniforms,
                     const cons_candidate *candidates, size_t first, size_t last,
                     cons_draw_best *best);

/* Merges 'count' slices' bests of one draw of k (any order) into the
 * committee: writes the node_ids (room for k) in the selection order and
 * returns how many, min(k, the candidates of every slice). Cannot fail. */
uint32_t cons_draw_merge(const cons_draw_best *bests, size_t count, uint32_t k,
                         uint32_t *members_out);

/* ---- Tree draws (cons_tree.c) ----
 * verification.draw: tree. Pick j of a draw is the candidate whose stretch
 * of the cumulative weight (in list order, without the candidates picked
 * before) holds the point floor(h x W / 2^64), h the first 8 bytes (little
 * endian) of BLAKE2b-256("infersim.tree.v1" NUL || beacon || segment ||
 * j, both u32 little endian) and W the weight not yet picked: successive
 * weighted sampling without replacement, the race's distribution, in
 * O(k log n) over a Fenwick tree. Weights are integers: stake x reputation
 * times a power of two (cons_tree_scale), floored, at least 1. */
#define CONS_TREE_MAX (1u << 23) /* candidates a tree holds: sums stay below 2^63 */

typedef struct cons_tree {
    uint64_t *sums;      /* count + 1, the caller's: Fenwick sums, 1-based */
    uint64_t *weights;   /* count, the caller's: each position's weight */
    uint32_t count;
    uint32_t top;        /* the largest power of two <= count (1 when empty) */
} cons_tree;

/* The power of two that maps 'bound', the largest weight a candidate can
 * hold, into [2^39, 2^40). A bound outside [2^-900, 2^900] (or NaN) is
 * clamped into it. */
double cons_tree_scale(double bound);

/* A weight as the tree holds it: 0 when not > 0 (never drawn), else
 * floor(weight x scale) clamped to [1, 2^40]. */
uint64_t cons_tree_weight(double weight, double scale);

/* A tree of 'count' (<= CONS_TREE_MAX) positions of weight 0 over the
 * caller's arrays. Cannot fail. */
void cons_tree_init(cons_tree *tree, uint64_t *sums, uint64_t *weights, uint32_t count);

/* Sets one position's weight (<= 2^40): O(log count). */
void cons_tree_set(cons_tree *tree, uint32_t index, uint64_t weight);

/* Rebuilds the sums from tree->weights, written by the caller: O(count). */
void cons_tree_fill(cons_tree *tree);

/* The sum of every weight. */
uint64_t cons_tree_total(const cons_tree *tree);

/* Draws min(k, positions of weight > 0) positions (k <= CONS_COMMITTEE_MAX)
 * into indices_out in pick order and returns how many; the tree is as it
 * was afterwards. O(k log count) and k hashes. Cannot fail. */
uint32_t cons_tree_select(cons_tree *tree, const uint8_t beacon[CONS_BEACON_BYTES],
                          uint32_t segment, uint32_t k, uint32_t *indices_out);

/* The same draw by a scan of 'weights' in list order: O(k x count x k),
 * no tree. The reference cons_tree_select is held to, and anyone's check
 * of a claimed committee. */
uint32_t cons_tree_scan_select(const uint64_t *weights, uint32_t count,
                               const uint8_t beacon[CONS_BEACON_BYTES], uint32_t segment,
                               uint32_t k, uint32_t *indices_out);

/* ---- Thinned tree draws: private selection at tree speed (cons_tree.c) ----
 * selection: vrf with draw: tree. The picks walk the tree as
 * cons_tree_select's do (pick j's point from (beacon, segment, j) and the
 * weight not yet seated), but a pick seats its candidate only on the
 * candidate's m-th hit in this draw, where m is private to the candidate:
 * cons_tree_hits_needed of its VRF ticket, geometric with mean 1/accept.
 * A seated candidate is set aside; one that is not stays in the tree and
 * may be hit again. Each pick thus seats with probability 'accept',
 * independently of where it lands, so the seated order is successive
 * weighted sampling: the law of the race and of the plain tree draw. An
 * observer holding the beacon knows where the picks land until the first
 * seat, and about k / accept nodes that may sit; which of them do is known
 * only from their proofs. With accept = 1 every hit seats: the committee
 * is cons_tree_select's. O((k / accept) log n). */
#define CONS_TREE_WALK_MAX 4096u /* picks a walk takes at most */
#define CONS_TREE_WALK_SLOTS (2u * CONS_TREE_WALK_MAX)

/* The walk's scratch: hit counts of the candidates hit, kept by the walk
 * and empty again when it returns. Large (128 KiB): allocate it once,
 * zeroed, and reuse it for every walk on one thread. */
typedef struct cons_tree_walk {
    uint32_t index[CONS_TREE_WALK_SLOTS];  /* candidate + 1; 0 = free */
    uint32_t hits[CONS_TREE_WALK_SLOTS];
    uint32_t needed[CONS_TREE_WALK_SLOTS];
    uint32_t used[CONS_TREE_WALK_MAX];     /* the slots to free afterwards */
} cons_tree_walk;

/* The hits a candidate whose ticket is u in (0, 1] needs to be seated:
 * 1 + floor(ln u / ln(1 - accept)) for accept in (0, 1), so that
 * P(needed > m) = (1 - accept)^m; 1 when accept >= 1 or u >= 1; at most
 * UINT32_MAX. Cannot fail. */
uint32_t cons_tree_hits_needed(double u, double accept);

/* The candidate at 'index' needs this many hits (>= 1), or
 * CONS_TREE_STOP to end the walk there (a caller that walks ahead to learn
 * which candidates it will need). Called once per candidate per walk, on
 * its first hit. */
#define CONS_TREE_STOP 0u
typedef uint32_t (*cons_tree_need_fn)(void *context, uint32_t index);

/* Seats min(k, positions of weight > 0) positions (k <= CONS_COMMITTEE_MAX)
 * into indices_out in seat order and returns how many: fewer only when the
 * walk ends after CONS_TREE_WALK_MAX picks (at accept >= 1/16 and k <= 64
 * a walk takes 1,024 picks on average; never seen to end so) or 'need'
 * stopped it. *picks_out (may be NULL) receives the picks walked, the
 * stopping one included. The tree and the scratch are as they were
 * afterwards. Cannot fail. */
uint32_t cons_tree_select_thinned(cons_tree *tree, const uint8_t beacon[CONS_BEACON_BYTES],
                                  uint32_t segment, uint32_t k, cons_tree_need_fn need,
                                  void *context, cons_tree_walk *walk, uint32_t *indices_out,
                                  uint32_t *picks_out);

/* ---- Verifiable random function (cons_vrf.c) ----
 * ECVRF-EDWARDS25519-SHA512-TAI of RFC 9381 (suite string 0x03): the key is
 * an RFC 8032 ed25519 key (the 32-byte seed and its public key, the same
 * keys nodes sign with); encode_to_curve is try-and-increment (section
 * 5.4.1.1) with the public key as salt; the nonce is RFC 8032's (section
 * 5.4.2.2); the proof is Gamma (32) || c (16) || s (32) and the output beta
 * is 64 bytes. Only the key's holder can compute beta for an alpha; anyone
 * holding the public key and the proof can check it. Built on util/hash.h's
 * edwards25519 wrappers (libsodium). Checked against RFC 9381 Appendix B.3.
 *
 * Strictness: verify takes a public key and a Gamma only when they are
 * canonical encodings of points of the prime-order subgroup other than the
 * identity (libsodium's point validation). RFC 9381's key validation
 * (section 5.4.5) rejects small-order keys; this also rejects keys and
 * Gammas with a small-order component, which honest keys and proofs never
 * have (a Gamma with one could only re-encode an honest proof, with the
 * same beta). */

#define CONS_VRF_SECRET_KEY_BYTES 32   /* the RFC 8032 seed */
#define CONS_VRF_PUBLIC_KEY_BYTES 32
#define CONS_VRF_PROOF_BYTES 80
#define CONS_VRF_OUTPUT_BYTES 64

/* The public key of 'secret_key': the RFC 8032 public key. Cannot fail. */
void cons_vrf_public_key(const uint8_t secret_key[CONS_VRF_SECRET_KEY_BYTES],
                         uint8_t public_key_out[CONS_VRF_PUBLIC_KEY_BYTES]);

/* ECVRF_prove (RFC 9381 section 5.1) of 'alpha' (alpha_size bytes, may be
 * 0) under 'secret_key'. 0, or CONS_EINVAL when encode_to_curve finds no
 * point in 256 tries or lands on a small-order point (probability about
 * 2^-250: never seen). Deterministic. */
int cons_vrf_prove(const uint8_t secret_key[CONS_VRF_SECRET_KEY_BYTES], const void *alpha,
                   size_t alpha_size, uint8_t proof_out[CONS_VRF_PROOF_BYTES]);

/* ECVRF_proof_to_hash (section 5.2): beta = SHA-512(0x03 || 0x03 ||
 * 8 * Gamma || 0x00). 0, or CONS_EINVAL when Gamma is not a valid point.
 * Does not verify the proof: use cons_vrf_verify on a peer's proof. */
int cons_vrf_proof_to_hash(const uint8_t proof[CONS_VRF_PROOF_BYTES],
                           uint8_t beta_out[CONS_VRF_OUTPUT_BYTES]);

/* The output beta of 'alpha' under 'secret_key' without a proof: the bytes
 * cons_vrf_proof_to_hash gives on cons_vrf_prove's proof, at about half
 * the cost (for a node that needs its output before anyone asks for its
 * proof). 0, or CONS_EINVAL when cons_vrf_prove would fail. */
int cons_vrf_output(const uint8_t secret_key[CONS_VRF_SECRET_KEY_BYTES], const void *alpha,
                    size_t alpha_size, uint8_t beta_out[CONS_VRF_OUTPUT_BYTES]);

/* H = encode_to_curve(Y, alpha) (section 5.4.1.1) is where an output, a
 * proof and a check of one (key, alpha) all begin, and a pure function of
 * the public key and alpha; Gamma = x * H is the output's own point and
 * the proof's first part. A caller that makes more than one of them keeps
 * the H and Gamma cons_vrf_output_h gives, and its public key Y, and passes
 * them to the _h forms, which skip encode_to_curve, Y = x * B and (in a
 * proof) Gamma's multiplication, and give the same bytes and answers as the
 * plain forms. H and Gamma must come from cons_vrf_output_h on the same key
 * and alpha, and 'public_key' must be cons_vrf_public_key of the secret
 * key, never a peer's bytes. */
#define CONS_VRF_H_BYTES 32
#define CONS_VRF_GAMMA_BYTES 32

/* cons_vrf_output, and H and Gamma into h_out and gamma_out. */
int cons_vrf_output_h(const uint8_t secret_key[CONS_VRF_SECRET_KEY_BYTES],
                      const uint8_t public_key[CONS_VRF_PUBLIC_KEY_BYTES], const void *alpha,
                      size_t alpha_size, uint8_t h_out[CONS_VRF_H_BYTES],
                      uint8_t gamma_out[CONS_VRF_GAMMA_BYTES],
                      uint8_t beta_out[CONS_VRF_OUTPUT_BYTES]);

/* cons_vrf_prove of the alpha whose H and Gamma (under this key) are 'h'
 * and 'gamma'. */
int cons_vrf_prove_h(const uint8_t secret_key[CONS_VRF_SECRET_KEY_BYTES],
                     const uint8_t public_key[CONS_VRF_PUBLIC_KEY_BYTES],
                     const uint8_t h[CONS_VRF_H_BYTES], const uint8_t gamma[CONS_VRF_GAMMA_BYTES],
                     uint8_t proof_out[CONS_VRF_PROOF_BYTES]);

/* ECVRF_validate_key (section 5.4.5), with libsodium's rule for a valid
 * point: a canonical encoding of a point of order L (not the identity, no
 * small-order part). A test of a key costs about a third of a check. */
bool cons_vrf_key_valid(const uint8_t public_key[CONS_VRF_PUBLIC_KEY_BYTES]);

/* cons_vrf_verify of the alpha whose H under 'public_key' is 'h', for a key
 * that cons_vrf_key_valid accepted: a caller that keeps a registry of keys
 * tests each key once, not at every check. Safe on a peer's proof (Gamma
 * and s are tested here). 'known_gamma' is NULL, or the Gamma that
 * cons_vrf_output_h gave for this key and H: a proof carrying those bytes
 * skips the test that Gamma lies in the prime-order subgroup (about a
 * third of a check), whose answer for them is yes, so every answer is the
 * one the test would give. */
bool cons_vrf_verify_h(const uint8_t public_key[CONS_VRF_PUBLIC_KEY_BYTES],
                       const uint8_t h[CONS_VRF_H_BYTES],
                       const uint8_t known_gamma[CONS_VRF_GAMMA_BYTES],
                       const uint8_t proof[CONS_VRF_PROOF_BYTES],
                       uint8_t beta_out[CONS_VRF_OUTPUT_BYTES]);

/* ECVRF_verify (section 5.3) with key validation: true iff 'proof' is a
 * valid proof for 'alpha' under 'public_key'; then beta_out (may be NULL)
 * receives the output. False on an invalid key or Gamma, on s >= L, and on
 * a challenge mismatch; beta_out is untouched then. Safe on peer input. */
bool cons_vrf_verify(const uint8_t public_key[CONS_VRF_PUBLIC_KEY_BYTES], const void *alpha,
                     size_t alpha_size, const uint8_t proof[CONS_VRF_PROOF_BYTES],
                     uint8_t beta_out[CONS_VRF_OUTPUT_BYTES]);

/* The VRF input of an epoch: BLAKE2b-256 of a domain tag, the run seed and
 * the epoch number (little-endian). Every node evaluates its VRF on it once
 * per epoch. This is the hook where a ledger's beacon plugs in: a beacon
 * taken from the last committed block before the epoch would replace the
 * run seed, with no other change. Cannot fail. */
void cons_vrf_epoch_alpha(uint64_t run_seed, uint64_t epoch,
                          uint8_t alpha_out[CONS_BEACON_BYTES]);

/* A node's sortition ticket u in (0, 1] for (request beacon, segment) from
 * its epoch VRF output: the first 8 bytes of BLAKE2b-256(domain tag || beta
 * || beacon || segment), mapped as cons_sortition_uniform maps its digest.
 * Nobody can compute it before the node reveals its proof. Cannot fail. */
double cons_vrf_uniform(const uint8_t beta[CONS_VRF_OUTPUT_BYTES],
                        const uint8_t beacon[CONS_BEACON_BYTES], uint32_t segment);

/* cons_vrf_uniform of 'count' outputs under one (beacon, segment):
 * uniforms_out[i] from betas[i], hashed eight at a time
 * (util_hash256_heads); the same values. Cannot fail. */
void cons_vrf_uniform_many(const uint8_t *const *betas, size_t count,
                           const uint8_t beacon[CONS_BEACON_BYTES], uint32_t segment,
                           double *uniforms_out);

/* ---- Commitments (cons_commit.c) ---- */

/* A member's commitment: digest = BLAKE2b-256(output || salt || member as 4
 * LE bytes), where 'member' is the member's node id (sampling's leaves use
 * the member's index in the committee and a zero salt). Binding the member
 * stops one member from replaying another's commitment. Cannot fail. */
void cons_commit_member(const void *output, size_t size, const uint8_t salt[CONS_SALT_BYTES],
                        uint32_t member, uint8_t digest_out[CONS_DIGEST_BYTES]);

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
     * -0.0 and 0.0 tie); any NaN disagrees; top_k >= n always agrees. With
     * a margin m > 0 the sets may also differ by near ties: each output
     * agrees when every index of the other's set holds, in it, a value at
     * least its own k-th largest minus m (for top_k = 1: a[argmax b] >=
     * max a - m and b[argmax a] >= max b - m). */
    CONS_AGREE_TOPK,
} cons_agree_kind;

typedef struct cons_agreement {
    cons_agree_kind kind;
    double epsilon;     /* MAXABS: finite, >= 0 */
    double tau;         /* COSINE: in [-1, 1] */
    uint32_t top_k;     /* TOPK: 1..CONS_TOPK_MAX */
    double margin;      /* TOPK: finite, >= 0; 0: the sets must be equal */
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
 * 'below', as cons_reputation_update would: 0 if from < below already.
 * Reputation never goes under the floor min, so a 'below' at or under min
 * asks for the floor: the deviations that take 'from' down to min (0 when
 * it is there; the reputation floor from 1 with Nesa's rule: 11).
 * UINT32_MAX only if unreachable (penalty 1). Closed form with a log. */
uint32_t cons_reputation_rounds_to_fall(const cons_reputation_rule *rule, double from,
                                        double below);

/* Consecutive honest rounds that take 'from' to at least 'target': 0 if
 * already there; UINT32_MAX if unreachable (target > max). */
uint32_t cons_reputation_rounds_to_recover(const cons_reputation_rule *rule, double from,
                                           double target);

/* The break-even honest fraction h: a member honest in a share h of its
 * rounds keeps its reputation, R x reward^h x penalty^(1 - h) = R per
 * round away from the clamps, so h = ln(1/penalty) / (ln(reward) +
 * ln(1/penalty)); above h it rises, below it falls. Nesa's rule: 0.9573.
 * 0 when penalty is 1 (reputation never falls); 1 when reward is 1 and
 * penalty < 1. ASSERTs a valid rule. */
double cons_reputation_break_even(const cons_reputation_rule *rule);

/* ---- Verification protocols (cons_protocol.c, one cons_<name>.c each) ----
 *
 * A protocol is a table of pure operations. The node that runs it
 * (node/committee.c) owns the transport -- inputs to members, commitments,
 * reveals, timers, relaying reveals among members -- and after each step
 * hands the protocol a cons_tally of what it has seen; the protocol answers
 * with a cons_decision. The driver owns what is IO-like: the committee draw
 * against its ledger, salts and signatures from the nodes' keys, the
 * verdicts' effect on the ledger, the referee's re-execution and a TEE
 * vendor's key.
 *
 * The contract of every protocol, in the order a step runs:
 * 1. The client draws min(draw_size, candidates) members (the driver's
 *    sortition) and sends them the hop's input; members_max bounds every
 *    draw of a run.
 * 2. Each member runs the hop and, under commit-reveal, sends a vote of
 *    vote_bytes (made by 'vote'), later its reveal; without commit-reveal
 *    the reveal at once. A reveal is [salt, output bytes, evidence of
 *    evidence_bytes] ('evidence' writes it, may be NULL when 0 bytes).
 * 3. When every member committed or the commit deadline passed, the client
 *    asks reveal_ask's members to reveal.
 * 4. Each reveal is checked with 'open' (which votes the output opens) and
 *    evidence_verify (NULL: no evidence to check).
 * 5. When every asked member answered (then after settle_hold's delay), when a
 *    deadline passes, or when the referee has ruled, 'decide' returns what
 *    to do: settle on one member's output, ask more reveals, open a dispute
 *    (the referee rules after delay_ns) or start a fresh round. Settling and
 *    fresh rounds carry a verdict per judged member.
 * check_invariants names the first invariant a tally breaks, or NULL. The
 * descriptor also tells the driver who is eligible, whether the draw
 * ignores stake and reputation, whether a referee needs the accepted inputs
 * and what it re-executes, the members a rational cheater faces, and the
 * prover's and enclave's costs.
 *
 * The built-in protocols (one file each):
 * - committee: k members by stake x reputation; a vote is the 32-byte
 *   commitment H(output | salt | member id); every member that committed
 *   reveals; the output backed by a quorum under the agreement rule
 *   settles, the others are proven wrong, the silent time out; no quorum:
 *   a fresh round (judging only members without a valid output).
 * - sampling: n members of one echelon drawn uniformly; a vote is the
 *   64-byte [root, leaf]; one member reveals first; its output settles if
 *   it opens every vote; a member that did not commit: a fresh round; a
 *   mismatch: every member reveals, then the referee after dispute_ns.
 * - crossval: an executor (member 0), plus n verifiers when the beacon's
 *   spot check (probability p) picks the hop; all answer at once; the
 *   executor settles when every valid answer agrees with it, a silent
 *   executor is replaced, a disagreement goes to the referee (dispute_ns).
 * - optimistic: the same with n challengers always drawn and the referee
 *   after the bisection game (ceil(log2 segments) + ceil(log2 layers)
 *   rounds of bisection_round_ns).
 * - tee: one executor whose reveal carries a 64-byte attestation (the
 *   driver's vendor key); a valid one settles, else a proven deviation and
 *   a fresh round.
 * - zk: the same with a proof of proof_bytes, checked for zk_verify_ns
 *   before the client decides.
 * Only the referee's ruling (dispute REFEREE) ends a dispute: the outputs
 * it confirms win, every other answer is proven wrong.
 *
 * Adding a protocol: a cons_<name>.c with its cons_protocol_ops, its slot
 * in cons_protocol.c's table and a CONS_PROTOCOL_ value; a test can add
 * one at run time with cons_protocol_register. */

typedef enum cons_protocol {
    CONS_PROTOCOL_NONE = 0,       /* one server per segment, trusted */
    CONS_PROTOCOL_COMMITTEE,      /* k members, quorum q under an agreement rule */
    CONS_PROTOCOL_SAMPLING,       /* n members of one echelon, unanimity over [root, leaf] */
    CONS_PROTOCOL_CROSSVAL,       /* executor; n checkers with probability p */
    CONS_PROTOCOL_OPTIMISTIC,     /* executor; n challengers, bisection on a dispute */
    CONS_PROTOCOL_TEE,            /* one attested executor */
    CONS_PROTOCOL_ZK,             /* one proven executor (a cost model) */
    CONS_PROTOCOL_BUILTIN         /* how many are built in; registered ones follow */
} cons_protocol;

#define CONS_PROTOCOLS_MAX 10     /* built-in and registered */
#define CONS_VOTE_MAX (2 * CONS_DIGEST_BYTES)  /* sampling's [root, leaf] */
#define CONS_ATTEST_BYTES 64      /* tee: an ed25519 signature by the vendor key */

/* The client's phase of a step and the stage of a dispute. */
#define CONS_PHASE_IDLE 0u
#define CONS_PHASE_COMMIT 1u
#define CONS_PHASE_REVEAL 2u
#define CONS_PHASE_HOLD 3u        /* waiting on the referee or a proof check */
#define CONS_DISPUTE_NONE 0u
#define CONS_DISPUTE_REVEALS 1u   /* every member is asked to reveal */
#define CONS_DISPUTE_REFEREE 2u   /* the referee is deciding */

/* A run's protocol settings (from the scenario). */
typedef struct cons_params {
    uint32_t committee;           /* k (committee, sampling) or 1 (an executor) */
    uint32_t verifiers;           /* crossval's checkers, optimistic's challengers */
    uint32_t quorum;
    bool commit_reveal;
    double check_probability;     /* crossval */
    uint32_t check_answers;       /* crossval: valid checker answers a checked hop needs
                                   * before it settles (0: whatever answers) */
    uint32_t proof_bytes;         /* zk */
    uint64_t dispute_ns;          /* the referee's resolution time */
    uint64_t bisection_round_ns;  /* optimistic: one round of the bisection game */
    uint64_t zk_verify_ns;        /* zk: the client's proof check */
    int32_t echelon;              /* sampling: the one eligible hardware class; -1 = any */
    double tee_overhead;          /* tee: compute time x (1 + overhead) */
    double zk_prover_factor;      /* zk: prover FLOPs per FLOP of inference */
} cons_params;

/* A server as a protocol's eligibility sees it. */
typedef struct cons_server_class {
    uint32_t index;               /* its hardware class */
    bool tee;                     /* the class has a trusted execution environment */
} cons_server_class;

/* Whether two outputs of one hop agree (the segment's rule, which the
 * driver holds), and the quorum rule over 'count' outputs (cons_accept's
 * contract: 0 and the winner, or non-zero without a quorum). */
typedef bool (*cons_agree_fn)(void *context, bool last_segment, const float *a,
                              const float *b, size_t n_floats);
typedef int (*cons_accept_fn)(void *context, bool last_segment, const float *const *outputs,
                              size_t n_floats, uint32_t count, uint32_t *accepted_out,
                              uint64_t *agree_mask_out);

/* What the client has seen of one step. Bit j of a mask is member j. */
typedef struct cons_tally {
    const cons_params *params;
    uint32_t member_count;        /* drawn this round: 1..CONS_COMMITTEE_MAX */
    uint32_t phase;               /* CONS_PHASE_ */
    uint32_t dispute;             /* CONS_DISPUTE_ */
    uint64_t committed;           /* sent a vote */
    uint64_t revealed;            /* revealed a valid output */
    uint64_t answered;            /* revealed, valid or not */
    uint64_t equivocated;         /* signed two different votes */
    uint64_t asked;               /* asked to reveal */
    uint64_t vote_agree;          /* sampling: votes the first output opened */
    uint64_t referee_agree;       /* dispute REFEREE: outputs the referee confirmed */
    uint32_t segment_count;       /* the model's segments */
    uint32_t segment_layers;      /* layers of the step's segment */
    bool last_segment;            /* outputs are logits */
    const float *const *outputs;  /* member_count entries; valid where 'revealed' */
    size_t n_floats;
    cons_agree_fn agree;
    cons_accept_fn accept;
    void *context;                /* for agree and accept */
} cons_tally;

typedef enum cons_action {
    CONS_ACTION_SETTLE = 1,       /* accept member 'member''s output */
    CONS_ACTION_ROUND,            /* no output: a fresh committee (or the request fails) */
    CONS_ACTION_REVEAL,           /* ask the members in 'ask' to reveal */
    CONS_ACTION_DISPUTE           /* the referee rules after 'delay_ns' */
} cons_action;

typedef enum cons_verdict {
    CONS_VERDICT_AGREED = 0,      /* its output is the accepted one (or agrees with it) */
    CONS_VERDICT_DEVIATED,        /* answered something that cannot be held against it */
    CONS_VERDICT_PROVEN,          /* a signed answer that is provably wrong */
    CONS_VERDICT_TIMEOUT          /* did not answer in time */
} cons_verdict;

typedef struct cons_decision {
    cons_action action;
    uint32_t member;              /* SETTLE */
    uint64_t judged;              /* SETTLE, ROUND: the members judged */
    uint64_t agreed;              /* of those: AGREED */
    uint64_t proven;              /* of the others: PROVEN (else DEVIATED or TIMEOUT) */
    uint64_t ask;                 /* REVEAL */
    uint32_t dispute;             /* the dispute stage after the decision */
    uint64_t delay_ns;            /* DISPUTE */
    uint64_t revealed;            /* the valid outputs as the decision counted them (an
                                   * equivocator's may be dropped): the client keeps it */
} cons_decision;

/* What a member commits to: its output's bytes and salt, its node id, its
 * index in a committee of member_count. */
typedef struct cons_vote_input {
    const void *bytes;
    size_t size;
    const uint8_t *salt;          /* CONS_SALT_BYTES */
    uint32_t member_id;
    uint32_t member;
    uint32_t member_count;
} cons_vote_input;

/* A reveal to check against the votes the client holds. */
typedef struct cons_opening {
    const void *bytes;
    size_t size;
    const uint8_t *salt;          /* CONS_SALT_BYTES */
    uint32_t member_id;           /* the sender */
    uint32_t member;              /* its index */
    uint32_t member_count;
    uint64_t committed;
    const uint8_t *votes;         /* member j's vote at votes + j * CONS_VOTE_MAX */
    bool commit_reveal;
} cons_opening;

/* A member's evidence: 'honest' is what it computed, 'bytes' what it
 * reveals; 'attest' is the enclave's signature (the driver's vendor key). */
typedef struct cons_evidence_input {
    bool cheated;                 /* it tampered with its output */
    bool forged;                  /* its enclave attests whatever it reveals */
    bool right_model;             /* it runs the model it was given */
    const void *honest;
    size_t honest_size;
    const void *bytes;
    size_t size;
    void (*attest)(void *context, bool right_model, const void *bytes, size_t size,
                   uint8_t evidence_out[CONS_ATTEST_BYTES]);
    void *context;
} cons_evidence_input;

typedef struct cons_evidence_check {
    const uint8_t *evidence;
    uint32_t evidence_bytes;
    const void *bytes;
    size_t size;
    bool (*attest_verify)(void *context, const void *bytes, size_t size,
                          const uint8_t evidence[CONS_ATTEST_BYTES]);
    void *context;
} cons_evidence_check;

/* One protocol. Every operation is pure and cannot fail; those marked
 * "may be NULL" are absent when the protocol has nothing to say. */
typedef struct cons_protocol_ops {
    const char *name;             /* as scenarios spell it */
    const char *doc;              /* one line */
    uint32_t vote_bytes;          /* CONS_DIGEST_BYTES or CONS_VOTE_MAX */
    uint32_t (*members_max)(const cons_params *params);
    uint32_t (*draw_size)(const cons_params *params, const uint8_t beacon[CONS_BEACON_BYTES],
                          uint32_t segment);
    bool (*commit_reveal)(const cons_params *params);
    uint32_t (*evidence_bytes)(const cons_params *params);
    void (*vote)(const cons_vote_input *input, uint8_t *vote_out);
    uint64_t (*open)(const cons_opening *opening);  /* the members whose vote it opens */
    void (*evidence)(const cons_evidence_input *input, uint8_t *evidence_out); /* may be NULL */
    bool (*evidence_verify)(const cons_evidence_check *check);                  /* may be NULL */
    uint64_t (*reveal_ask)(const cons_tally *tally);   /* who reveals when commits close */
    /* After the last asked reveal: whether the client holds *delay_ns_out
     * before deciding (zk checks the proof), else it decides at once. */
    bool (*settle_hold)(const cons_params *params, uint64_t *delay_ns_out);
    void (*decide)(const cons_tally *tally, cons_decision *decision_out);
    const char *(*check_invariants)(const cons_tally *tally);
    /* What the driver asks beyond the rules; zero or NULL is the common
     * case, so a table that leaves them out is a committee's. */
    bool uniform_draw;            /* candidates weigh 1, not stake x reputation */
    bool referee;                 /* disputes go to a referee: keep the accepted inputs */
    bool referee_bisects;         /* the referee re-executes one layer, not the segment */
    /* Whether a server may sit on its committees (may be NULL: every one). */
    bool (*eligible)(const cons_params *params, const cons_server_class *server);
    /* The members a cheater expects to face, cons_exposure's 'members' (may
     * be NULL: params->committee). */
    uint32_t (*exposure_members)(const cons_params *params);
    /* Evidence's cost: prover FLOPs per FLOP of the hop (may be NULL: 0). */
    double (*prover_factor)(const cons_params *params);
    /* Compute time x (1 + overhead) of its members (may be NULL: 0). */
    double (*time_overhead)(const cons_params *params);
    /* Capture of a draw by its Byzantine members (both NULL when numbers
     * alone capture none of its draws: evidence decides). 'captured': is
     * this draw captured, bit j of 'byzantine' set when its member j (in
     * draw order) is Byzantine -- a committee's quorum of them, a whole
     * sample, a Byzantine executor no honest checker watches. 'capture_
     * probability': the closed form's chance of that for a uniform draw from
     * 'pool' candidates, 'malicious' of them Byzantine. The driver counts
     * captured draws against the prediction (capture_rate). */
    bool (*captured)(const cons_params *params, uint64_t byzantine, uint32_t drawn);
    double (*capture_probability)(const cons_params *params, uint32_t pool, uint32_t malicious,
                                  uint32_t drawn);
} cons_protocol_ops;

/* The protocol's operations; NULL for CONS_PROTOCOL_NONE. ASSERTs that
 * 'protocol' is built in or registered. */
const cons_protocol_ops *cons_protocol_get(cons_protocol protocol);

/* The protocol's name as scenarios write it ("none", "committee", ...).
 * ASSERTs a known protocol. */
const char *cons_protocol_name(cons_protocol protocol);

/* Built-in and registered protocols: ids 0 .. count - 1. Cannot fail. */
uint32_t cons_protocol_count(void);

/* The protocol called 'name': 0 and *out, or CONS_EINVAL. Safe on input. */
int cons_protocol_find(const char *name, cons_protocol *out);

/* Adds a protocol (tests): 'ops' is borrowed for the process's life.
 * Returns its id (>= CONS_PROTOCOL_BUILTIN), or CONS_EINVAL when the name
 * is taken, an operation is missing or the table is full. Not thread-safe:
 * call it before any run starts. */
int cons_protocol_register(const cons_protocol_ops *ops);

/* The verdict the decision gives member j ('answered': the tally's). */
cons_verdict cons_decision_verdict(const cons_decision *decision, uint64_t answered,
                                   uint32_t member);

/* All members' bits: the low member_count bits. Cannot fail. */
uint64_t cons_members_all(uint32_t member_count);

/* Sampling's vote over output bytes for n members: leaf_j = H(O | zero
 * salt | j) and root = H(leaf_0 | .. | leaf_n-1). ASSERTs n <= the max. */
void cons_sampling_leaves(const void *bytes, size_t size, uint32_t n,
                          uint8_t leaves[][CONS_DIGEST_BYTES],
                          uint8_t root[CONS_DIGEST_BYTES]);

/* ---- The settlement ledger (cons_ledger.c) ----
 *
 * Reputation, stake and balance per node, and the run's totals. A member
 * judged on a decision moves its reputation by the rule above; a proven
 * deviation loses 'slash' of its stake, a timeout 'timeout_slash', into the
 * pot; a member that agreed is remembered. Settling the decision pays
 * fee_per_token x rows to each member that agreed and shares the pot out:
 * 'to_honest' split equally among those members (burnt when none agreed),
 * 'to_oracle' to the oracle, 'to_burn' burnt. The pot outlives a decision
 * that never settles (a fresh round): the next settlement shares it.
 *
 * The arrays are the caller's, sized once (node_count); the ledger writes
 * them in place and never allocates. Conservation: the balances plus the
 * pot, the oracle's share and the burnt funds always equal the initial
 * balances plus the fees paid (up to rounding). Pure and deterministic; a
 * stake the caller rewrites (a Sybil operator's shared stake) is the
 * caller's business, and the balance does not move with it. */

typedef struct cons_ledger_terms {
    cons_reputation_rule reputation;
    double slash;                 /* share of stake lost on a proven deviation, [0, 1) */
    double timeout_slash;         /* on a timeout, [0, 1) */
    double fee_per_token;         /* per row, to each member that agreed; >= 0 */
    double to_honest;             /* the pot's shares, each in [0, 1], summing to 1 */
    double to_oracle;
    double to_burn;
} cons_ledger_terms;

typedef struct cons_ledger {
    cons_ledger_terms terms;
    uint32_t node_count;
    double *reputation;           /* node_count each, the caller's */
    double *stake;
    double *balance;
    double initial_total;         /* the balances' sum at init */
    double fees_paid;             /* the totals, from 0 */
    double stake_slashed;
    double slashed_to_oracle;
    double slashed_burnt;
    double pot;                   /* slashed since the last settlement */
    uint32_t agreed[CONS_COMMITTEE_MAX]; /* members that agreed since then (first ones) */
    uint32_t agreed_count;
    /* Called after a judgement moved a member's reputation or stake, when
     * set (init leaves it NULL): world/'s tree draws follow the weights. */
    void (*moved)(void *context, uint32_t member);
    void *moved_context;
} cons_ledger;

/* Returns 0 if the terms are valid (the reputation rule too, the shares
 * summing to 1 within 1e-9), else CONS_EINVAL. */
int cons_ledger_terms_check(const cons_ledger_terms *terms);

/* Starts a ledger over the caller's arrays (node_count >= 1 entries each,
 * borrowed for the ledger's life): every node at the rule's initial
 * reputation, with 'stake' as stake and balance; totals and pot 0. ASSERTs
 * valid terms and a finite stake >= 0. Cannot fail. */
void cons_ledger_init(cons_ledger *ledger, const cons_ledger_terms *terms, uint32_t node_count,
                      double *reputation, double *stake, double *balance, double stake_each);

/* One member's verdict on the open decision: its reputation moves, a
 * proven deviation or a timeout is slashed into the pot, an agreeing
 * member is remembered for the settlement (past CONS_COMMITTEE_MAX of them,
 * no longer). ASSERTs member < node_count. Cannot fail. */
void cons_ledger_judge(cons_ledger *ledger, uint32_t member, cons_verdict verdict);

/* Closes the open decision over 'rows' rows: fees to the members that
 * agreed, the pot shared out, then both forgotten. Cannot fail. */
void cons_ledger_settle(cons_ledger *ledger, uint32_t rows);

/* The first invariant the ledger breaks, or NULL: every stake finite and
 * >= 0, every reputation inside the rule's clamp, the totals >= 0, and
 * conservation within a relative 1e-9. O(node_count); never ASSERTs, so a
 * test can corrupt a ledger and read the name. */
const char *cons_ledger_check(const cons_ledger *ledger);

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
 * cheats on every request, each request drawing its n checkers afresh: a
 * request's lie is caught when the spot check fires and not all n
 * checkers are in the executor's cartel. With checkers drawn
 * independently, a share r of them colluding (the large-pool limit):
 * P(caught within k requests) = 1 - (1 - p (1 - r^n))^k; r = 0 (honest
 * checkers) gives 1 - (1 - p)^k. ASSERTs p and r in [0, 1]. */
double cons_crossval_detection(double p, double colluding_share, uint32_t n, uint32_t k);

/* The same with the n checkers distinct, drawn uniformly without
 * replacement from the 'pool' eligible checkers (the candidates but the
 * executor), 'colluding' of them in the cartel: r^n becomes the
 * hypergeometric C(colluding, n) / C(pool, n). ASSERTs colluding <= pool
 * and n <= pool. */
double cons_crossval_detection_exact(double p, uint32_t pool, uint32_t colluding, uint32_t n,
                                     uint32_t k);

/* What a rational adversary weighs: the probability that one wrong output
 * from a member is caught, by protocol, when 'colluding' of the 'pool'
 * other candidates (the member itself not counted) answer the same lie
 * (none, when it cheats alone). */
typedef struct cons_exposure {
    cons_protocol protocol;
    uint32_t members;             /* committee k / sampled n / checkers n */
    uint32_t quorum;              /* committee only */
    double check_probability;     /* crossval only */
    uint32_t pool;                /* the other candidates the rest are drawn from */
    uint32_t colluding;           /* how many of them are in its cartel, <= pool */
    bool forged_evidence;         /* tee: the enclave's key is in the adversary's hands */
} cons_exposure;

/* P(the lie is caught), in [0, 1], exactly for uniform draws without
 * replacement from the pool (hypergeometric; equal sortition weights). A
 * committee catches it unless its other k - 1 members hold q - 1
 * colluders; sampling unless all n - 1 others collude; crossval when the
 * check happens and not all n checkers collude; optimistic unless every
 * challenger colludes (a draw larger than the pool takes the whole pool);
 * tee never with forged evidence, else always; zk always. ASSERTs a known
 * protocol and colluding <= pool. */
double cons_detection_probability(const cons_exposure *exposure);

/* The rational adversary's rule: cheat iff (1 - P) x gain > P x loss. */
bool cons_rational_cheats(double p_caught, double gain, double loss);

/* ---- Differential-privacy accounting (cons_privacy.c) ----
 * The Gaussian mechanism on one clipped activation row: the sender clips
 * the row to L2 norm C (so its sensitivity is C) and adds N(0, (sigma C)^2)
 * to every coordinate. Its Renyi-DP curve is eps(alpha) = alpha / (2
 * sigma^2) per release (Mironov 2017, Prop. 7); T releases compose by
 * summation, T alpha / (2 sigma^2). The conversion to (epsilon, delta) is
 * the classic one of Mironov 2017 (Prop. 3): epsilon = min over the alpha
 * grid of [rdp(alpha) + ln(1/delta) / (alpha - 1)]. The grid is
 * CONS_RDP_ORDERS: 1.1, 1.2, .., 10.9 (step 0.1), 11, 12, .., 63, then
 * 64, 128, 256, 512, 1024 (the usual one, with large orders for large
 * sigma). Over a continuous alpha the minimum is rho + 2 sqrt(rho ln(1/delta))
 * with rho = T / (2 sigma^2), at alpha = 1 + sqrt(ln(1/delta) / rho): the
 * grid's answer is never below it. All pure; no allocation. */

#define CONS_RDP_ORDERS 157

/* The alpha of grid entry i < CONS_RDP_ORDERS, increasing. Cannot fail. */
double cons_rdp_order(uint32_t i);

/* RDP of 'releases' Gaussian releases of noise multiplier sigma at order
 * alpha > 1: releases x alpha / (2 sigma^2); +inf for sigma <= 0 with
 * releases > 0; 0 for no release. Cannot fail. */
double cons_rdp_gaussian(double sigma, uint64_t releases, double alpha);

/* (epsilon, delta) after 'releases' Gaussian releases of noise multiplier
 * sigma, by the classic conversion over the grid; *alpha_out (may be NULL)
 * gets the order that attains it. 0 for no release, +inf when sigma <= 0
 * and releases > 0. delta in (0, 1) (ASSERTed: validated by the loader). */
double cons_rdp_epsilon(double sigma, uint64_t releases, double delta, double *alpha_out);

/* The smallest noise multiplier (to 1e-9 relative) whose 'releases'
 * releases spend at most 'epsilon' at 'delta' (bisection; epsilon > 0,
 * delta in (0, 1), releases >= 1). Cannot fail. */
double cons_rdp_sigma_for(double epsilon, double delta, uint64_t releases);

/* ---- BFT state-machine replication (cons_bft.c) ----
 *
 * A 2-chain HotStuff (Jolteon / DiemBFT v4) among a fixed validator set of
 * n <= CONS_BFT_VALIDATORS_MAX, tolerating f = (n - 1) / 3 Byzantine ones.
 * Views are numbered from 1; the leader of view v is v mod n (round robin).
 *
 * - PROPOSAL(v, block): the leader's block extends the block of the highest
 *   quorum certificate (QC) it knows; it carries that QC and, when the QC is
 *   not of view v - 1, the timeout certificate (TC) of view v - 1.
 * - VOTE(v, block id), sent to the leader of v + 1. 2f + 1 votes on one
 *   block form its QC. A replica votes at most once per view, and only when
 *   the block's QC is of view v - 1, or the TC of v - 1 is attached and the
 *   QC is at least as high as every high-QC view the TC reports (the safety
 *   rule: no vote can abandon a block that may have been committed).
 * - Commit (2-chain): when a QC certifies block B and B's parent was
 *   certified in view B.view - 1, the parent and its uncommitted ancestors
 *   commit, in height order.
 * - Pacemaker: entering view v arms a timer of view_timeout_ns x 2^k, where k
 *   counts the views in a row that ended by timeout (capped at
 *   backoff_max). When it fires the replica stops voting in v and
 *   broadcasts TIMEOUT(v, its high QC, its TC of v - 1 if any), again each
 *   time the timer fires. 2f + 1 timeouts of v form the TC of v; a QC of v or
 *   a TC of v moves a replica to v + 1.
 * - BLOCK_REQUEST / BLOCK: a replica that must commit a block it never
 *   received asks the sender of the certificate for it; the answer is
 *   checked against the certified id (the id is a hash of the contents).
 *
 * Votes, timeouts and proposals are authenticated by ed25519 signatures, or
 * by 64-bit SipHash MACs (util_mac64) under the signer's key, which every
 * validator holds (a trusted set-up: MACs keep out non-validators, not a
 * validator that forges another's vote). Certificates carry one signature
 * per signer and a signer bitmap of ceil(n / 64) 64-bit words.
 *
 * Pure and sans-IO: the driver owns the replica's memory
 * (cons_bft_replica_size bytes), passes the time of every call and drains
 * the effects of the last call: messages to send to one validator or to all
 * others, timers to arm, blocks committed with their transactions, and the
 * view changes. Every message from a peer is decoded and validated here
 * before it is used: no peer input reaches an assertion. */

#define CONS_BFT_VALIDATORS_MAX 256
#define CONS_BFT_TX_BYTES_MAX 1024      /* a transaction is an opaque byte string */
#define CONS_BFT_BLOCK_TXS_MAX 64       /* bound on max_block_txs */
#define CONS_BFT_BLOCK_BYTES_MAX 6144   /* bound on a block's transaction bytes */
#define CONS_BFT_MEMPOOL_MAX 256        /* pending transactions a replica holds */
/* The largest message: a proposal carrying a QC and a TC signed by all 256
 * validators (about 35 KiB) and a full block of transactions (6 KiB). */
#define CONS_BFT_MESSAGE_BYTES_MAX 49152
#define CONS_BFT_ID_BYTES 32
#define CONS_BFT_BACKOFF_MAX 16

typedef enum cons_bft_auth {
    CONS_BFT_AUTH_ED25519 = 0,
    CONS_BFT_AUTH_MAC
} cons_bft_auth;

/* What a validator does; all but HONEST are Byzantine. TWIN is honest code
 * run by two instances that share one identity (the driver runs both). */
typedef enum cons_bft_behaviour {
    CONS_BFT_HONEST = 0,
    CONS_BFT_EQUIVOCATE,     /* as leader, two blocks in one view, one per half of the
                              * validators; as voter, votes for every valid proposal and
                              * ignores the safety rule */
    CONS_BFT_WITHHOLD,       /* never votes */
    CONS_BFT_DELAY,          /* as leader, proposes delay_ns late */
    CONS_BFT_CRASH,          /* stops (takes no input, sends nothing) at crash_at_ns */
    CONS_BFT_TWIN,
    CONS_BFT_BEHAVIOURS
} cons_bft_behaviour;

/* "honest", "equivocate", ...; NULL for an unknown value. */
const char *cons_bft_behaviour_name(cons_bft_behaviour behaviour);
/* The behaviour named 'name', or -1. */
int cons_bft_behaviour_parse(const char *name);

/* The validator set every replica knows: public keys and MAC keys. */
typedef struct cons_bft_validators {
    uint32_t count;
    uint8_t public_key[CONS_BFT_VALIDATORS_MAX][CONS_PUBLIC_KEY_BYTES];
    uint8_t mac_key[CONS_BFT_VALIDATORS_MAX][16];
} cons_bft_validators;

typedef struct cons_bft_config {
    uint32_t self;                          /* index in the validator set */
    cons_bft_auth auth;
    uint8_t secret_key[64];                 /* own ed25519 secret key */
    uint64_t block_interval_ns;             /* a leader proposes this long after its view starts */
    uint64_t view_timeout_ns;               /* > 0 */
    uint32_t backoff_max;                   /* cap on the doubling exponent */
    uint32_t block_txs_max;                 /* 1..CONS_BFT_BLOCK_TXS_MAX */
    cons_bft_behaviour behaviour;
    uint64_t delay_ns;                      /* DELAY */
    uint64_t crash_at_ns;                   /* CRASH */
    /* External validity (may be NULL: every transaction is valid): an
     * honest replica votes only for a proposal whose every transaction
     * passes, and proposes only transactions that pass. Must be a pure,
     * deterministic function of the bytes, the same at every replica. */
    bool (*tx_valid)(const void *context, const uint8_t *tx, size_t size);
    const void *tx_context;
    /* Signatures already verified (may be NULL: each one verified): a
     * driver that runs many replicas in one thread may share one memo
     * between them, so a quorum certificate every replica checks costs one
     * verification per vote. The answers are util_sign_verify's. */
    util_sign_memo *verified;
} cons_bft_config;

/* Returns 0, or CONS_EINVAL when the set or the configuration is out of
 * bounds (count 1..CONS_BFT_VALIDATORS_MAX, self < count, ...). */
int cons_bft_config_check(const cons_bft_validators *validators, const cons_bft_config *config);

/* f and the quorum 2f + 1 of n validators (n - f, which is >= 2f + 1). */
uint32_t cons_bft_faults(uint32_t validator_count);
uint32_t cons_bft_quorum(uint32_t validator_count);
/* The leader of 'view'. */
uint32_t cons_bft_leader(uint32_t validator_count, uint64_t view);

typedef struct cons_bft_replica cons_bft_replica;

/* Bytes a replica needs (a fixed size, about 2.5 MB: a store of 256 blocks,
 * a mempool of 256 transactions, a message arena). */
size_t cons_bft_replica_size(void);

/* Initialises a replica in the caller's 'memory' (cons_bft_replica_size
 * bytes, 8-aligned; the caller frees it, no deinit). Copies 'validators' and
 * 'config'. ASSERTs a valid configuration (cons_bft_config_check) and
 * enough memory. Cannot fail otherwise. Init writes only the first 210 KB or
 * so; the rest is written before it is read, whatever it held, so memory
 * fresh from the system (util_calloc_sparse) becomes resident only as the
 * replica fills its store, mempool and arena. */
cons_bft_replica *cons_bft_replica_init(void *memory, size_t size,
                                        const cons_bft_validators *validators,
                                        const cons_bft_config *config);

typedef enum cons_bft_effect_kind {
    CONS_BFT_SEND = 1,           /* bytes to validator 'to' */
    CONS_BFT_BROADCAST,          /* bytes to every other validator */
    CONS_BFT_TIMER,              /* call cons_bft_on_timer(token) at at_ns */
    CONS_BFT_COMMIT,             /* a block committed: read it with cons_bft_block_tx */
    CONS_BFT_VIEW                /* the replica entered 'view' (reason: CONS_BFT_BY_*) */
} cons_bft_effect_kind;

typedef enum cons_bft_view_reason {
    CONS_BFT_BY_QC = 1,          /* a QC of the previous view */
    CONS_BFT_BY_TC               /* a TC of the previous view: the leader failed */
} cons_bft_view_reason;

typedef struct cons_bft_block cons_bft_block;

typedef struct cons_bft_effect {
    cons_bft_effect_kind kind;
    uint32_t to;                     /* SEND */
    const uint8_t *bytes;            /* SEND, BROADCAST */
    size_t size;
    uint64_t at_ns;                  /* TIMER */
    uint64_t token;                  /* TIMER */
    const cons_bft_block *block;     /* COMMIT */
    uint64_t view;                   /* VIEW: the new view */
    cons_bft_view_reason reason;     /* VIEW */
} cons_bft_effect;

/* Starts the replica at now_ns: it enters view 1 (the genesis QC is of view
 * 0). Effects as below. Cannot fail. */
void cons_bft_start(cons_bft_replica *replica, uint64_t now_ns);

/* Offers a transaction (1..CONS_BFT_TX_BYTES_MAX bytes, copied). Returns 0,
 * 1 if it is already pending or recently committed, or CONS_EINVAL when it
 * is out of bounds or the mempool is full. No effects. */
int cons_bft_submit(cons_bft_replica *replica, const void *tx, size_t size);

/* Feeds one message from validator 'from' (as the transport authenticated
 * it); 'bytes' is borrowed. Returns 0, or CONS_EINVAL when the message is
 * malformed, badly signed, from a non-validator, or not acceptable in the
 * replica's state: then there are no effects. Safe on any input. */
int cons_bft_on_message(cons_bft_replica *replica, uint64_t now_ns, uint32_t from,
                        const void *bytes, size_t size);

/* A timer armed by a TIMER effect fired; a stale token is ignored. */
void cons_bft_on_timer(cons_bft_replica *replica, uint64_t now_ns, uint64_t token);

/* The effects of the last call on 'replica'. Valid (with their bytes and
 * blocks) until the next call on it. Cannot fail. */
size_t cons_bft_effects(const cons_bft_replica *replica, const cons_bft_effect **effects_out);

/* A committed block's fields; tx 'index' < tx count. Cannot fail. */
uint64_t cons_bft_block_height(const cons_bft_block *block);
uint64_t cons_bft_block_view(const cons_bft_block *block);
uint32_t cons_bft_block_proposer(const cons_bft_block *block);
const uint8_t *cons_bft_block_id(const cons_bft_block *block);
uint32_t cons_bft_block_tx_count(const cons_bft_block *block);
const uint8_t *cons_bft_block_tx(const cons_bft_block *block, uint32_t index, size_t *size_out);

/* The replica's state, for checkers and metrics. */
typedef struct cons_bft_status {
    uint64_t view;
    uint64_t committed_height;
    uint64_t high_qc_view;
    uint64_t last_voted_view;
    uint32_t timeouts_in_row;
    uint64_t rejected;              /* messages refused */
    uint64_t mempool;               /* pending transactions */
} cons_bft_status;
void cons_bft_status_get(const cons_bft_replica *replica, cons_bft_status *status_out);

/* The replica's own invariants (locked and voted views never above the
 * current view, committed height at most the certified chain, ...): NULL
 * if they hold, else the name of the broken one. */
const char *cons_bft_check(const cons_bft_replica *replica);

/* The 64-bit digest a replica keys its mempool by (the first 8 bytes of
 * util_hash256 of the transaction). Cannot fail. */
uint64_t cons_bft_tx_hash(const void *tx, size_t size);

/* Pending transaction 'index' (< cons_bft_status.mempool) of the replica's
 * mempool, oldest first: its bytes (valid until the next call on the
 * replica), size and digest. Cannot fail. */
const uint8_t *cons_bft_mempool_tx(const cons_bft_replica *replica, uint32_t index,
                                   size_t *size_out, uint64_t *hash_out);

/* Whether 'bytes' has the shape of a vote of a set of 'validator_count':
 * then its voter (the header's sender) and the leader of the next view
 * that collects it. Says nothing of the signature. Safe on any input. */
bool cons_bft_vote_route(const void *bytes, size_t size, uint32_t validator_count,
                         uint32_t *voter_out, uint32_t *collector_out);
/* Whether 'bytes' is a vote of the replica's validator set signed (or
 * MACed, by the set's auth) by the voter it names, as its collector would
 * check it: what a gossip relay checks before it forwards a vote. Safe on
 * any input. */
bool cons_bft_vote_authentic(const cons_bft_replica *replica, const void *bytes, size_t size);

/* The message type of 'bytes' as a name ("proposal", "vote", "timeout",
 * "block_request", "block"), or NULL when it is not one. Safe on any input. */
const char *cons_bft_message_name(const void *bytes, size_t size);

#endif
