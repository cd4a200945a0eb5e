/* cons_int.h -- what the protocol files of consensus/ share: the built-in
 * operation tables and the pieces several protocols use (a commitment vote
 * and its opening, the referee's ruling, a dispute, the invariants common
 * to every tally). Not for use outside consensus/. */
#ifndef CONS_CONS_INT_H
#define CONS_CONS_INT_H

#include "consensus/cons.h"

/* A ticket u in (0, 1] from a digest's first 8 bytes read little-endian
 * (its head, util_hash256_heads): top 53 bits plus one, times 2^-53.
 * Shared by the hash and VRF tickets. */
double cons__sortition_uniform_of_head(uint64_t head);
double cons__sortition_uniform_of(const uint8_t digest[CONS_DIGEST_BYTES]);

extern const cons_protocol_ops cons__committee_ops;
extern const cons_protocol_ops cons__sampling_ops;
extern const cons_protocol_ops cons__crossval_ops;
extern const cons_protocol_ops cons__optimistic_ops;
extern const cons_protocol_ops cons__tee_ops;
extern const cons_protocol_ops cons__zk_ops;

/* members_max / draw_size of a protocol that draws params->committee. */
uint32_t cons__members_committee(const cons_params *params);
uint32_t cons__draw_committee(const cons_params *params, const uint8_t beacon[CONS_BEACON_BYTES],
                              uint32_t segment);
/* members_max of an executor with its checkers: 1 + verifiers. */
uint32_t cons__members_checkers(const cons_params *params);
/* exposure_members of an executor with checkers: the verifiers. */
uint32_t cons__exposure_checkers(const cons_params *params);
/* params->commit_reveal; no evidence; no delay. */
bool cons__commit_reveal(const cons_params *params);
uint32_t cons__evidence_none(const cons_params *params);
bool cons__hold_none(const cons_params *params, uint64_t *delay_ns_out);

/* vote = cons_commit_member(bytes, salt, member_id). */
void cons__vote_commitment(const cons_vote_input *input, uint8_t *vote_out);
/* The revealing member's bit when (bytes, salt) opens its commitment (or
 * when there is no commit phase), else 0. Safe on peer bytes. */
uint64_t cons__open_commitment(const cons_opening *opening);

/* Every member that committed and has not answered yet. */
uint64_t cons__ask_committed(const cons_tally *tally);

/* Outputs that count: revealed and not from an equivocator. */
uint64_t cons__valid(const cons_tally *tally);

/* The decision kinds, filled in. */
void cons__settle(cons_decision *out, const cons_tally *tally, uint32_t member,
                  uint64_t judged, uint64_t agreed, uint64_t proven);
void cons__round(cons_decision *out, const cons_tally *tally, uint64_t judged,
                 uint64_t agreed, uint64_t proven);
void cons__dispute(cons_decision *out, const cons_tally *tally, uint64_t delay_ns);

/* The referee ruled (dispute REFEREE): the outputs it confirmed win, every
 * other answer is provably wrong; none confirmed: a fresh round. */
void cons__decide_referee(const cons_tally *tally, cons_decision *out);

/* An executor (member 0) and its checkers: the executor's output settles
 * when every valid answer agrees with it; a silent executor is replaced (a
 * fresh round); any disagreement is a dispute for the referee after
 * 'dispute_delay_ns'. Checkers that did not answer time out. */
void cons__decide_executor(const cons_tally *tally, uint64_t dispute_delay_ns,
                           cons_decision *out);
/* The common invariants; no reveal dispute; without a commit phase every
 * member is asked at once. */
const char *cons__check_executor(const cons_tally *tally);

/* One executor whose answer carries evidence: a valid answer settles; an
 * invalid one is a proven deviation and a fresh round. */
void cons__decide_single(const cons_tally *tally, cons_decision *out);
/* The common invariants; one member; no dispute. */
const char *cons__check_single(const cons_tally *tally);

/* Invariants of every tally: member count, masks inside the committee,
 * revealed => answered, equivocated => committed, known phase and
 * dispute stage, a referee only while holding or idle. */
const char *cons__check_common(const cons_tally *tally);

#endif
