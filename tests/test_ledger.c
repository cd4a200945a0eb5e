/* test_ledger.c -- the BFT settlement ledger in the simulator: the ledger
 * scenarios run through the real binary and their rows are read back
 * (blocks at consecutive heights, verdicts that move reputation only at a
 * commit, settlement times), the ledger_fork checker fires beyond the
 * Byzantine bound and not within it, unjust_slash fires when a committed
 * verdict penalises an honest node, runs are deterministic, runs without
 * a ledger are unchanged, the loader refuses bad ledger sections, and a
 * validator refuses hostile ledger messages with no effect. Under
 * ledger.timeout_evidence a missed commit deadline is penalised on a
 * quorum of peers' attestations, which the evidence check verifies, and
 * framing clients collect none against honest members. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "node/node.h"
#include "scenarios/scn.h"
#include "tests/suites.h"
#include "util/assert.h"
#include "world/world.h"

static char ledger_dir[256];

static void ledger_setup(void)
{
    test_dir_make(ledger_dir, sizeof(ledger_dir), "ledger");
}

static void ledger_teardown(void)
{
    test_dir_remove(ledger_dir);
}

/* "infersim run SCENARIO --db DIR/DB ARGS"; the exit code. */
static int ledger_run(const char *scenario, const char *db, const char *format, ...)
{
    char args[1024], command[2048];
    va_list list;
    va_start(list, format);
    vsnprintf(args, sizeof(args), format, list);
    va_end(list);
    snprintf(command, sizeof(command),
             "%s run scenarios/%s --db '%s/%s' --check %s >'%s/out.txt' 2>'%s/err.txt' </dev/null",
             test_infersim_bin(), scenario, ledger_dir, db, args, ledger_dir, ledger_dir);
    int status = system(command);
    ck_assert_msg(WIFEXITED(status), "command died: %s", command);
    return WEXITSTATUS(status);
}

/* One query on DIR/DB; the caller frees. */
static char *ledger_query(const char *db, const char *sql)
{
    char path[512];
    test_dir_path(ledger_dir, db, path, sizeof(path));
    return test_db_query(path, sql);
}

/* The first column of the first row as a number (NaN when none or NULL). */
static double ledger_number(const char *db, const char *sql)
{
    char *text = ledger_query(db, sql);
    double value = text[0] != '\0' && strncmp(text, "NULL", 4) != 0 ? atof(text) : NAN;
    free(text);
    return value;
}

static double ledger_metric(const char *db, int run, const char *name)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT value FROM metrics WHERE run_id = %d AND name = '%s'",
             run, name);
    return ledger_number(db, sql);
}

/* ledger_honest.yaml: its expectations pass; blocks at heights 1 .. n with
 * no gap, carrying every decision; every request settled after it was
 * submitted; no ledger violation; BFT traffic in the messages table. */
START_TEST(test_ledger_honest_blocks)
{
    ck_assert_int_eq(ledger_run("ledger_honest.yaml", "h.db", ""), 0);
    double blocks = ledger_number("h.db", "SELECT count(*) FROM blocks WHERE run_id = 1");
    ck_assert(blocks >= 20);
    ck_assert(ledger_number("h.db", "SELECT max(height) FROM blocks") == blocks);
    ck_assert(ledger_number("h.db", "SELECT min(height) FROM blocks") == 1);
    ck_assert(ledger_number("h.db", "SELECT count(*) FROM blocks b JOIN blocks c"
                                    " ON c.height = b.height + 1 WHERE c.t_ns < b.t_ns") == 0);
    double decisions = ledger_number(
        "h.db", "SELECT count(*) FROM (SELECT DISTINCT request_id, segment, step, round"
                " FROM decisions)");
    ck_assert(decisions > 0);
    ck_assert(ledger_number("h.db", "SELECT sum(settled) FROM blocks") == decisions);
    ck_assert(ledger_number("h.db", "SELECT count(*) FROM requests WHERE settlement_ns IS NULL"
                                    " OR settlement_ns < finished_ns") == 0);
    ck_assert(ledger_number("h.db", "SELECT count(*) FROM violations") == 0);
    ck_assert(ledger_number("h.db", "SELECT sent FROM messages WHERE type = 'ledger_bft'") > 0);
    ck_assert(ledger_number("h.db", "SELECT sent FROM messages WHERE type = 'ledger_tx'") > 0);
    /* Each request's committees read the height committed at its first
     * draw: set for every request that finished, never above the chain,
     * never lower than an earlier request's. */
    ck_assert(ledger_number("h.db", "SELECT count(*) FROM requests WHERE status = 'completed'"
                                    " AND ledger_height IS NULL") == 0);
    ck_assert(ledger_number("h.db", "SELECT max(ledger_height) FROM requests") > 0);
    ck_assert(ledger_number("h.db", "SELECT max(ledger_height) FROM requests") <= blocks);
    ck_assert(ledger_number("h.db", "SELECT count(*) FROM requests a JOIN requests b"
                                    " ON b.submitted_ns > a.submitted_ns"
                                    " WHERE b.ledger_height < a.ledger_height") == 0);
    ck_assert(ledger_metric("h.db", 1, "ledger_forks") == 0);
    ck_assert(ledger_metric("h.db", 1, "ledger_finality_p50") > 0);
    ck_assert(ledger_metric("h.db", 1, "settlement_latency_p99") >=
              ledger_metric("h.db", 1, "settlement_latency_p50"));
    /* The run's summary says what the ledger did. */
    char line[128];
    snprintf(line, sizeof(line), "  ledger     %.0f blocks, finality p50 ", blocks);
    const char *out = test_dir_read(ledger_dir, "out.txt");
    ck_assert_msg(strstr(out, line) != NULL, "no '%s' in:\n%s", line, out);
    ck_assert_ptr_nonnull(strstr(out, "0 forks, 0 unjust slashes\n"));
    ck_assert_ptr_nonnull(strstr(out, "  settle     verdicts on the ledger: settlement latency p50 "));
}
END_TEST

/* The largest validator set, 256, in the simulator: each broadcast fits one
 * node call's outbox (no BFT send dropped), and blocks commit safely. */
START_TEST(test_ledger_largest_set)
{
    const char *const overrides[] = {"ledger.validators=256", "nodes.count=300",
                                     "duration=3s", "ledger.auth=mac", "expect={}"};
    world_result *result = test_sim_run_file("scenarios/ledger_honest.yaml", overrides,
                                             UTIL_ARRAY_COUNT(overrides), 1);
    ck_assert_ptr_nonnull(result);
    ck_assert_uint_eq(result->ledger_sends_dropped, 0);
    ck_assert_uint_eq(result->ledger_forks, 0);
    ck_assert_uint_ge(result->block_count, 5);
    world_result_destroy(result);
}
END_TEST

/* With 3 s between proposals the first block commits after 8 s: every
 * reputation sample before it is the initial 1 although hundreds of
 * decisions were made; after it reputations move. Under instant
 * settlement the first sample has moved already. */
START_TEST(test_ledger_reputation_moves_only_at_commit)
{
    ck_assert_int_eq(ledger_run("ledger_honest.yaml", "r.db", "--set ledger.block_interval=3s"
                                " --set expect.ledger_blocks='>= 1'"),
                     0);
    double first = ledger_number("r.db", "SELECT min(t_ns) FROM blocks");
    ck_assert(first > 8e9);
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM decisions WHERE t_ns < %.0f", first);
    ck_assert(ledger_number("r.db", sql) > 100);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM timeseries WHERE name = 'reputation_honest_mean'"
             " AND t_ns < %.0f AND value <> 1", first);
    ck_assert(ledger_number("r.db", sql) == 0);
    ck_assert(ledger_number("r.db", "SELECT value FROM timeseries WHERE name ="
                                    " 'reputation_honest_mean' ORDER BY t_ns DESC LIMIT 1") > 1);
    ck_assert_int_eq(ledger_run("ledger_honest.yaml", "i.db",
                                "--set verification.settlement=instant --set expect={}"),
                     0);
    ck_assert(ledger_number("i.db", "SELECT value FROM timeseries WHERE name ="
                                    " 'reputation_honest_mean' ORDER BY t_ns LIMIT 1") > 1);
    ck_assert(ledger_number("i.db", "SELECT count(*) FROM requests"
                                    " WHERE settlement_ns IS NOT NULL") == 0);
}
END_TEST

/* f >= n/3 Twins and a partition of the honest validators: both sides
 * commit their own chain, and the checker says so (rows, metric, the
 * blocks' flag). The honest run above had none. */
START_TEST(test_ledger_fork_fires_beyond_third)
{
    ck_assert_int_eq(ledger_run("ledger_twins_fork.yaml", "f.db", ""), 0);
    ck_assert(ledger_number("f.db", "SELECT count(*) FROM violations"
                                    " WHERE kind = 'ledger_fork'") >= 1);
    ck_assert(ledger_metric("f.db", 1, "ledger_forks") >= 1);
    ck_assert(ledger_number("f.db", "SELECT count(*) FROM blocks WHERE forked = 1") >= 1);
    char *detail = ledger_query("f.db", "SELECT detail FROM violations"
                                        " WHERE kind = 'ledger_fork' LIMIT 1");
    ck_assert_ptr_nonnull(strstr(detail, "height "));
    free(detail);
    /* The same run without the partition's split of honest validators: a
     * single twin is below the bound and nothing forks. */
    ck_assert_int_eq(ledger_run("ledger_twins_fork.yaml", "g.db",
                                "--set ledger.byzantine=1 --set expect={}"),
                     0);
    ck_assert(ledger_metric("g.db", 1, "ledger_forks") == 0);
}
END_TEST

/* f < n/3 of each of cons_bft's Byzantine kinds: safe and live. */
START_TEST(test_ledger_byzantine_below_third_safe_and_live)
{
    static const char *const kinds[] = {"equivocate", "withhold", "delay", "crash"};
    const char *kind = kinds[_i];
    char db[32];
    snprintf(db, sizeof(db), "b%d.db", _i);
    ck_assert_int_eq(ledger_run("ledger_byzantine.yaml", db,
                                "--set ledger.behaviour=%s --set expect={}", kind),
                     0);
    ck_assert_msg(ledger_metric(db, 1, "ledger_forks") == 0, "%s forked", kind);
    ck_assert_msg(ledger_metric(db, 1, "ledger_blocks") >= 8, "%s stalled", kind);
    ck_assert(ledger_number(db, "SELECT count(*) FROM requests WHERE settlement_ns IS NOT NULL")
              > 0);
}
END_TEST

/* No quorum during the partition: nothing commits from shortly after it
 * starts until it heals; the first block after the heal commits within 5 s. */
START_TEST(test_ledger_partition_heal_live)
{
    ck_assert_int_eq(ledger_run("ledger_partition_heal.yaml", "p.db", ""), 0);
    ck_assert(ledger_number("p.db", "SELECT count(*) FROM blocks"
                                    " WHERE t_ns > 4e9 AND t_ns < 8e9") == 0);
    double after = ledger_number("p.db", "SELECT min(t_ns) FROM blocks WHERE t_ns >= 8e9");
    ck_assert(after < 13e9);
    ck_assert(ledger_number("p.db", "SELECT count(*) FROM view_changes WHERE reason = 'tc'")
              >= 2);
}
END_TEST

/* Honest members that crash time out, and with ledger.evidence off the
 * committed verdicts against them are unjust slashes; with evidence
 * required a timeout is never applied (it has no evidence kind); the
 * instant run of the same scenario has none. */
START_TEST(test_ledger_unjust_slash_fires)
{
    ck_assert_int_eq(ledger_run("committee_crash_delay.yaml", "u.db",
                                "--set ledger.validators=7 --set verification.settlement=ledger"
                                " --set ledger.evidence=false"),
                     0);
    ck_assert(ledger_number("u.db", "SELECT count(*) FROM violations"
                                    " WHERE kind = 'unjust_slash'") > 0);
    ck_assert(ledger_metric("u.db", 1, "unjust_slashes") > 0);
    ck_assert_int_eq(ledger_run("committee_crash_delay.yaml", "v.db", ""), 0);
    ck_assert(ledger_number("v.db", "SELECT count(*) FROM violations"
                                    " WHERE kind = 'unjust_slash'") == 0);
    ck_assert(isnan(ledger_metric("v.db", 1, "unjust_slashes")));
    ck_assert_int_eq(ledger_run("committee_crash_delay.yaml", "w.db",
                                "--set ledger.validators=7 --set verification.settlement=ledger"
                                " --set expect={}"),
                     0);
    ck_assert(ledger_metric("w.db", 1, "unjust_slashes") == 0);
}
END_TEST

/* ledger_framing.yaml: clients that report every member as provably
 * wrong. Under ledger settlement the validators refuse every such penalty
 * (evidence_rejected counts them), no honest node is penalised or slashed
 * and the honest clients' decisions settle; under instant settlement the
 * same run penalises honest members and the honest_penalised checker
 * fires. */
START_TEST(test_ledger_framing_caught_only_on_ledger)
{
    ck_assert_int_eq(ledger_run("ledger_framing.yaml", "fl.db", ""), 0);
    ck_assert(ledger_metric("fl.db", 1, "evidence_rejected") > 0);
    ck_assert(ledger_metric("fl.db", 1, "honest_penalised") == 0);
    ck_assert(ledger_metric("fl.db", 1, "unjust_slashes") == 0);
    ck_assert(ledger_metric("fl.db", 1, "stake_slashed") == 0);
    ck_assert(ledger_number("fl.db", "SELECT count(*) FROM violations") == 0);
    ck_assert(ledger_number("fl.db", "SELECT count(*) FROM requests r JOIN nodes n"
                                     " ON n.run_id = r.run_id AND n.node_id = r.client"
                                     " WHERE n.behaviour = 'honest' AND r.settlement_ns IS NULL")
              == 0);
    ck_assert(ledger_number("fl.db", "SELECT count(*) FROM requests r JOIN nodes n"
                                     " ON n.run_id = r.run_id AND n.node_id = r.client"
                                     " WHERE n.behaviour = 'frame'") > 0);
    ck_assert_int_eq(ledger_run("ledger_framing.yaml", "fi.db",
                                "--set verification.settlement=instant"),
                     1);
    ck_assert(ledger_metric("fi.db", 1, "honest_penalised") > 0);
    ck_assert(ledger_metric("fi.db", 1, "stake_slashed") > 0);
    ck_assert(ledger_metric("fi.db", 1, "reputation_honest_mean") < 1);
    ck_assert(ledger_number("fi.db", "SELECT count(*) FROM violations"
                                     " WHERE kind = 'honest_penalised'") > 0);
    ck_assert(ledger_number("fi.db", "SELECT count(*) FROM expectations"
                                     " WHERE metric = 'honest_penalised' AND passed = 0") == 1);
    /* Evidence switched off, the ledger takes the client's word too. */
    ck_assert_int_eq(ledger_run("ledger_framing.yaml", "fo.db",
                                "--set ledger.evidence=false --set expect={}"),
                     0);
    ck_assert(ledger_metric("fo.db", 1, "unjust_slashes") > 0);
    ck_assert(ledger_number("fo.db", "SELECT count(*) FROM violations"
                                     " WHERE kind = 'unjust_slash'") > 0);
}
END_TEST

/* A framing client that is itself a validator (3, 4 and 6 are clients of
 * requests in this run) offers its transactions to its own replica: the
 * replica refuses them as it refuses a peer's, no block carries one
 * (honest replicas would not vote for it: tests/test_bft.c), and nobody
 * honest is slashed. */
START_TEST(test_ledger_framing_validator_refuses_own)
{
    ck_assert_int_eq(ledger_run("ledger_framing.yaml", "fc.db",
                                "--set 'faults=[{kind: frame, at: 0s, nodes: {ids: [3, 4, 6]}}]'"
                                " --set expect={}"),
                     0);
    ck_assert(ledger_metric("fc.db", 1, "evidence_rejected") > 0);
    ck_assert(ledger_number("fc.db", "SELECT sum(refused) FROM blocks") == 0);
    ck_assert(ledger_number("fc.db", "SELECT sum(penalties) FROM blocks") == 0);
    ck_assert(ledger_metric("fc.db", 1, "unjust_slashes") == 0);
    ck_assert(ledger_metric("fc.db", 1, "stake_slashed") == 0);
}
END_TEST

/* Real deviations come with real evidence: equivocators' two signed votes
 * and wrong outputs the referee refutes. The penalties commit (blocks,
 * evidence_verified), stake is slashed, nothing is refused, and the
 * honest members keep their standing. */
START_TEST(test_ledger_evidence_applied)
{
    ck_assert_int_eq(ledger_run("ledger_honest.yaml", "ev.db",
                                "--set 'faults=[{kind: equivocate, at: 0s, nodes: {ids: [20, 21]}},"
                                "{kind: wrong_output, at: 0s, scale: 1, nodes: {ids: [25, 26]}}]'"),
                     0);
    ck_assert(ledger_metric("ev.db", 1, "evidence_verified") > 0);
    ck_assert(ledger_metric("ev.db", 1, "evidence_rejected") == 0);
    ck_assert(ledger_metric("ev.db", 1, "stake_slashed") > 0);
    ck_assert(ledger_metric("ev.db", 1, "reputation_byzantine_mean") < 1);
    ck_assert(ledger_metric("ev.db", 1, "unjust_slashes") == 0);
    ck_assert(ledger_number("ev.db", "SELECT sum(penalties) FROM blocks") ==
              ledger_metric("ev.db", 1, "evidence_verified"));
    ck_assert(ledger_number("ev.db", "SELECT sum(refused) FROM blocks") == 0);
}
END_TEST

/* Equivocators that show their second commitment only to their peers: the
 * client never gets it from them, yet the pair reaches it (the honest
 * members relay it, signed), and the validators apply the penalties with
 * the pair as evidence -- as many as when the client gets both directly. */
START_TEST(test_ledger_equivocation_shown_to_peers)
{
    const char *commits = "SELECT sent FROM messages WHERE type = 'infer_commit'";
    ck_assert_int_eq(ledger_run("equivocation_peers.yaml", "ep.db", ""), 0);
    ck_assert(ledger_metric("ep.db", 1, "evidence_verified") > 0);
    ck_assert(ledger_metric("ep.db", 1, "evidence_rejected") == 0);
    ck_assert(ledger_metric("ep.db", 1, "unjust_slashes") == 0);
    ck_assert(ledger_metric("ep.db", 1, "honest_penalised") == 0);
    ck_assert_int_eq(ledger_run("equivocation_peers.yaml", "ec.db",
                                "--set faults.0.second_to=client"),
                     0);
    /* Shown to k - 1 peers and relayed by each: more commitments travel. */
    ck_assert(ledger_number("ep.db", commits) > ledger_number("ec.db", commits));
    ck_assert(ledger_metric("ep.db", 1, "evidence_verified") >=
              ledger_metric("ec.db", 1, "evidence_verified") / 2);
}
END_TEST

/* A transaction the partition dropped is sent again: with resends every
 * request of ledger_partition_heal.yaml settles; without, some never do. */
START_TEST(test_ledger_resend_settles_dropped)
{
    ck_assert_int_eq(ledger_run("ledger_partition_heal.yaml", "rs.db", ""), 0);
    ck_assert(ledger_metric("rs.db", 1, "ledger_resends") > 0);
    ck_assert(ledger_number("rs.db", "SELECT count(*) FROM requests"
                                     " WHERE settlement_ns IS NULL") == 0);
    ck_assert(ledger_number("rs.db", "SELECT sent FROM messages"
                                     " WHERE type = 'ledger_receipt'") > 0);
    ck_assert(ledger_number("rs.db", "SELECT count(*) FROM (SELECT DISTINCT request_id, segment,"
                                     " step, round FROM decisions)") ==
              ledger_number("rs.db", "SELECT sum(settled) FROM blocks"));
    ck_assert_int_eq(ledger_run("ledger_partition_heal.yaml", "r0.db",
                                "--set ledger.resend_timeout=0"),
                     0);
    ck_assert(ledger_number("r0.db", "SELECT count(*) FROM requests"
                                     " WHERE settlement_ns IS NULL") > 0);
    ck_assert(ledger_metric("r0.db", 1, "ledger_resends") == 0);
}
END_TEST

/* Same seed, same trace and rows; another seed, another trace. */
START_TEST(test_ledger_deterministic)
{
    ck_assert_int_eq(ledger_run("ledger_byzantine.yaml", "d.db", ""), 0);
    ck_assert_int_eq(ledger_run("ledger_byzantine.yaml", "d.db", ""), 0);
    ck_assert_int_eq(ledger_run("ledger_byzantine.yaml", "d.db", "--seed 5 --set expect={}"), 0);
    char *hashes = ledger_query("d.db", "SELECT trace_hash FROM runs ORDER BY run_id");
    char first[64], second[64], third[64];
    ck_assert_int_eq(sscanf(hashes, "%63s %63s %63s", first, second, third), 3);
    ck_assert_str_eq(first, second);
    ck_assert_str_ne(first, third);
    free(hashes);
    char *blocks = ledger_query("d.db", "SELECT count(*) FROM (SELECT height, view, proposer, t_ns,"
                                        " tx_count FROM blocks WHERE run_id = 1 EXCEPT"
                                        " SELECT height, view, proposer, t_ns, tx_count"
                                        " FROM blocks WHERE run_id = 2)");
    ck_assert_str_eq(blocks, "0\n");
    free(blocks);
}
END_TEST

/* selection vrf on a ledger: the epochs' VRF input is the committed
 * beacon, and every member's proof still checks against it. */
START_TEST(test_ledger_vrf_beacon)
{
    ck_assert_int_eq(ledger_run("committee_vrf.yaml", "vrf.db",
                                "--set ledger.validators=7 --set verification.settlement=ledger"
                                " --set verification.vrf_epoch=2s"),
                     0);
    ck_assert(ledger_metric("vrf.db", 1, "vrf_proofs_verified") >= 1000);
    ck_assert(ledger_metric("vrf.db", 1, "vrf_proofs_rejected") == 0);
    ck_assert(ledger_number("vrf.db", "SELECT count(*) FROM blocks WHERE t_ns < 2e9") > 0);
}
END_TEST

/* The testbed runs a ledger only when every process hosts an honest
 * validator (it learns the committed blocks from it): 4 validators, one
 * Byzantine, refuse 4 processes (and 5) before any process starts. */
START_TEST(test_ledger_testbed_refuses)
{
    static const char *const cases[2] = {"--processes 5",
                                         "--processes 4 --set ledger.byzantine=1"
                                         " --set ledger.behaviour=withhold"};
    for (int i = 0; i < 2; i++) {
        char command[1024];
        snprintf(command, sizeof(command),
                 "%s testbed scenarios/testbed_ledger.yaml %s --db '%s/t.db' >/dev/null "
                 "2>'%s/err.txt'",
                 test_infersim_bin(), cases[i], ledger_dir, ledger_dir);
        int status = system(command);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2);
        ck_assert_ptr_nonnull(
            strstr(test_dir_read(ledger_dir, "err.txt"), "host an honest validator"));
    }
}
END_TEST

/* A run without a ledger writes no ledger rows or metrics. */
START_TEST(test_ledger_off_writes_nothing)
{
    ck_assert_int_eq(ledger_run("compare_committee.yaml", "o.db", ""), 0);
    ck_assert(ledger_number("o.db", "SELECT count(*) FROM blocks") == 0);
    ck_assert(ledger_number("o.db", "SELECT count(*) FROM view_changes") == 0);
    ck_assert(ledger_number("o.db", "SELECT count(*) FROM messages WHERE type LIKE 'ledger%'")
              == 0);
    ck_assert(ledger_number("o.db", "SELECT count(*) FROM metrics WHERE name LIKE 'ledger%'"
                                    " OR name LIKE 'settlement%'") == 0);
    ck_assert(ledger_number("o.db", "SELECT count(*) FROM params WHERE key LIKE 'ledger.%'") == 0);
    ck_assert(ledger_number("o.db", "SELECT count(*) FROM requests") > 0);
    ck_assert(ledger_number("o.db", "SELECT count(*) FROM requests"
                                    " WHERE ledger_height IS NOT NULL") == 0);
}
END_TEST

static const char ledger_yaml[] =
    "name: l\n"
    "duration: 2s\n"
    "nodes: {count: 12}\n"
    "model:\n"
    "  shape: {dim: 32, hidden_dim: 64, layers: 2, heads: 2, vocab: 64, seq_len: 32}\n"
    "  segments: 2\n"
    "verification: {protocol: committee, settlement: ledger}\n"
    "ledger: {validators: 4, auth: mac}\n"
    "workload: {requests: 2, rate: 2/s, prompt_tokens: 4, generate: 2}\n";

START_TEST(test_ledger_scenario_errors)
{
    static const struct {
        const char *overrides[2];
        size_t count;
        const char *message;
    } cases[] = {
        {{"ledger.validators=13"}, 1, "exceeds nodes.count"},
        {{"ledger.validators=65"}, 1, "ledger.validators"},
        {{"ledger.validators=0"}, 1, "needs a ledger section with validators > 0"},
        {{"ledger.byzantine=1"}, 1, "needs ledger.behaviour"},
        {{"ledger.behaviour=lazy"}, 1, "ledger.behaviour"},
        {{"ledger.view_timeout=0s"}, 1, "ledger.view_timeout must be > 0"},
        {{"verification.settlement=later"}, 1, "verification.settlement"},
        {{"verification.protocol=none"}, 1, "needs a protocol other than none"},
        {{"ledger.auth=rsa"}, 1, "ledger.auth"},
        {{"ledger.block_txs=65"}, 1, "ledger.block_txs"},
        {{"faults=[{kind: equivocate, at: 0s, nodes: {ids: [1]}, second_to: peers}]",
          "ledger.evidence=false"},
         2, "peers needs ledger settlement with evidence"},
        {{"faults=[{kind: equivocate, at: 0s, nodes: {ids: [1]}, second_to: nobody}]"}, 1,
         "second_to"},
        {{"faults=[{kind: silent, at: 0s, nodes: {ids: [1]}, second_to: peers}]"}, 1,
         "key 'second_to' is not allowed for a silent fault"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        scn_scenario *scenario = NULL;
        scn_error error;
        int rc = scn_load_string("l.yaml", ledger_yaml, cases[i].overrides, cases[i].count,
                                 &scenario, &error);
        ck_assert_msg(rc != 0, "case %zu loaded", i);
        ck_assert_msg(strstr(error.message, cases[i].message) != NULL, "case %zu: %s", i,
                      error.message);
    }
    scn_scenario *scenario = NULL;
    scn_error error;
    ck_assert_int_eq(scn_load_string("l.yaml", ledger_yaml, NULL, 0, &scenario, &error), 0);
    ck_assert_uint_eq(scenario->ledger.validators, 4);
    ck_assert_uint_eq(scenario->ledger.submit_to, 2);
    ck_assert(scenario->ledger.settlement_ledger && scenario->ledger.auth_mac);
    scn_destroy(scenario);
    const char *const peers[] = {
        "faults=[{kind: equivocate, at: 0s, nodes: {ids: [1]}, second_to: peers}]"};
    ck_assert_int_eq(scn_load_string("l.yaml", ledger_yaml, peers, 1, &scenario, &error), 0);
    ck_assert(scenario->faults[0].second_to_peers);
    scn_destroy(scenario);
}
END_TEST

/* Delivers 'm' to its dest; node_on_event's rc, and the effects. */
static int ledger_deliver(world_host *host, const node_message *m, uint32_t *effects_out)
{
    int rc = 0;
    node_event event = {.kind = NODE_EVENT_MESSAGE, .message = m};
    const node_outbox *outbox = world_host_event(host, m->dest, 1000, &event, &rc);
    *effects_out = outbox != NULL ? outbox->count : 0;
    return rc;
}

static void ledger_expect_rejected(world_host *host, const node_message *m, const char *what)
{
    uint32_t effects = 0;
    ck_assert_msg(ledger_deliver(host, m, &effects) == NODE_EMALFORMED, "%s accepted", what);
    ck_assert_uint_eq(effects, 0);
}

/* Encodes 'tx' under its client's tag into bytes[CONS_BFT_TX_BYTES_MAX]. */
static size_t ledger_tx_tagged(const node_serving *serving, node_ledger_tx *tx, uint8_t *bytes)
{
    size_t size = node_ledger_tx_encode(tx, bytes);
    tx->tag = serving->verifier->ledger_tag(serving->verifier->context, tx->client, bytes,
                                            size - NODE_LEDGER_TX_TAG_BYTES);
    return node_ledger_tx_encode(tx, bytes);
}

/* The same decision with agreements only: no penalty, nothing to prove, taken. */
static void ledger_expect_taken(world_host *host, const node_serving *serving,
                                const node_ledger_tx *base)
{
    node_ledger_tx tx = *base;
    tx.verdicts[1] = CONS_VERDICT_AGREED;
    uint8_t bytes[CONS_BFT_TX_BYTES_MAX];
    size_t size = ledger_tx_tagged(serving, &tx, bytes);
    node_message m = {.type = NODE_MESSAGE_LEDGER_TX, .source = tx.client, .dest = 0,
                      .payload_bytes = (uint32_t)size, .payload = bytes};
    uint32_t effects = 0;
    ck_assert_int_eq(ledger_deliver(host, &m, &effects), 0);
    ck_assert_uint_eq(effects, 0);
}

/* A slash with made-up evidence: the member's "signed" vote and a
 * "referee's" signature that are random bytes, or an equivocation whose
 * two votes are equal. node_ledger_evidence_check refuses each, and a
 * validator refuses the transaction. */
static void ledger_expect_evidence_rejected(world_host *host, const node_serving *serving,
                                            const node_ledger_tx *base)
{
    node_ledger_tx tx = *base;
    tx.verdicts[1] = CONS_VERDICT_PROVEN;
    tx.evidence_count = 1;
    node_ledger_evidence *e = &tx.evidence[0];
    e->kind = NODE_EVIDENCE_REFEREE;
    e->member = 1;
    e->size = (uint16_t)(serving->vote_bytes + 2 * NODE_SIGNATURE_BYTES);
    for (uint32_t i = 0; i < e->size; i++) {
        e->body[i] = (uint8_t)(i * 37 + 11);
    }
    ck_assert(!node_ledger_evidence_check(serving, &tx, 1));
    ck_assert(!node_ledger_evidence_check(serving, &tx, 0)); /* an agreement needs none */
    ck_assert_uint_eq(node_ledger_penalties_unproven(serving, &tx), 1);
    uint8_t bytes[CONS_BFT_TX_BYTES_MAX];
    size_t size = ledger_tx_tagged(serving, &tx, bytes);
    node_ledger_tx decoded;
    ck_assert_int_eq(node_ledger_tx_decode(bytes, size, &decoded), 0);
    ck_assert_uint_eq(decoded.evidence_count, 1);
    ck_assert_int_eq(memcmp(decoded.evidence[0].body, e->body, e->size), 0);
    node_message m = {.type = NODE_MESSAGE_LEDGER_TX, .source = tx.client, .dest = 0,
                      .payload_bytes = (uint32_t)size, .payload = bytes};
    uint32_t effects = 0;
    ck_assert_int_eq(ledger_deliver(host, &m, &effects), 0);
    ck_assert_uint_eq(effects, 1); /* the refusal */
    e->kind = NODE_EVIDENCE_EQUIVOCATION;
    e->size = (uint16_t)(2 * (serving->vote_bytes + NODE_SIGNATURE_BYTES));
    memcpy(e->body + serving->vote_bytes + NODE_SIGNATURE_BYTES, e->body,
           serving->vote_bytes + NODE_SIGNATURE_BYTES);
    ck_assert(!node_ledger_evidence_check(serving, &tx, 1));
    e->size = 3; /* a body of the wrong size */
    ck_assert(!node_ledger_evidence_check(serving, &tx, 1));
}

/* A validator refuses BFT bytes that are garbage, from or to a
 * non-validator, or with a header field set; a transaction with a wrong
 * tag, a client other than its sender, or ids out of range; a
 * non-validator refuses both. A well-formed transaction is taken. */
START_TEST(test_ledger_hostile_messages_rejected)
{
    scn_scenario *scenario = NULL;
    scn_error error;
    ck_assert_int_eq(scn_load_string("l.yaml", ledger_yaml, NULL, 0, &scenario, &error), 0);
    world_host *host = NULL;
    ck_assert_int_eq(world_host_create(scenario, 0, NULL, &host), 0);
    const node_serving *serving = world_host_serving(host);
    int rc = 0;
    node_event start = {.kind = NODE_EVENT_START};
    ck_assert_ptr_nonnull(world_host_event(host, 0, 0, &start, &rc));
    ck_assert_int_eq(rc, 0);
    uint8_t garbage[64];
    memset(garbage, 0x5a, sizeof(garbage));
    node_message bft = {.type = NODE_MESSAGE_LEDGER_BFT, .source = 1, .dest = 0,
                        .payload_bytes = sizeof(garbage), .payload = garbage};
    ledger_expect_rejected(host, &bft, "garbage BFT bytes");
    node_message m = bft;
    m.source = 7;
    ledger_expect_rejected(host, &m, "BFT from a non-validator");
    m = bft;
    m.dest = 7;
    ledger_expect_rejected(host, &m, "BFT to a non-validator");
    m = bft;
    m.segment = 1;
    ledger_expect_rejected(host, &m, "BFT with a segment");
    m = bft;
    m.payload_bytes = 0;
    m.payload = NULL;
    ledger_expect_rejected(host, &m, "empty BFT");

    node_ledger_tx tx = {.member_count = 2, .segment = 1, .request = 1, .step = 0, .round = 0,
                         .rows = 4, .client = 9, .submitted_ns = 5, .members = {3, 4},
                         .verdicts = {CONS_VERDICT_AGREED, CONS_VERDICT_TIMEOUT}};
    uint8_t bytes[CONS_BFT_TX_BYTES_MAX];
    size_t size = node_ledger_tx_encode(&tx, bytes);
    tx.tag = serving->verifier->ledger_tag(serving->verifier->context, 9, bytes,
                                           size - NODE_LEDGER_TX_TAG_BYTES);
    size = node_ledger_tx_encode(&tx, bytes);
    node_message good = {.type = NODE_MESSAGE_LEDGER_TX, .source = 9, .dest = 0,
                         .payload_bytes = (uint32_t)size, .payload = bytes};
    uint32_t effects = 0;
    /* Well formed, but its timeout penalty has no evidence: refused, and
     * the refusal is the one effect. */
    ck_assert_int_eq(ledger_deliver(host, &good, &effects), 0);
    ck_assert_uint_eq(effects, 1);
    ledger_expect_taken(host, serving, &tx);
    ledger_expect_evidence_rejected(host, serving, &tx);
    m = good;
    m.source = 8;
    ledger_expect_rejected(host, &m, "a transaction from another client");
    m = good;
    m.dest = 6;
    ledger_expect_rejected(host, &m, "a transaction to a non-validator");
    m = good;
    m.payload_bytes -= 1;
    ledger_expect_rejected(host, &m, "a short transaction");
    uint8_t bad[CONS_BFT_TX_BYTES_MAX];
    memcpy(bad, bytes, size);
    bad[size - 1] ^= 1;
    m = good;
    m.payload = bad;
    ledger_expect_rejected(host, &m, "a transaction with a wrong tag");
    memcpy(bad, bytes, size);
    bad[NODE_LEDGER_TX_HEADER_BYTES] = 200; /* member 0 = node 200 */
    ledger_expect_rejected(host, &m, "a transaction naming no node");
    memcpy(bad, bytes, size);
    bad[NODE_LEDGER_TX_HEADER_BYTES + 4] = 9; /* no such verdict */
    ledger_expect_rejected(host, &m, "a transaction with no verdict");
    memcpy(bad, bytes, size);
    bad[size - NODE_LEDGER_TX_TAG_BYTES - 1] = 3; /* an evidence count past the bytes */
    ledger_expect_rejected(host, &m, "a transaction with truncated evidence");
    node_message receipt = {.type = NODE_MESSAGE_LEDGER_RECEIPT, .source = 7, .dest = 9,
                            .rumor_id = 1};
    ledger_expect_rejected(host, &receipt, "a receipt from a non-validator");
    receipt.source = 1;
    receipt.segment = 9;
    ledger_expect_rejected(host, &receipt, "a receipt about no segment");
    world_host_destroy(host);
    scn_destroy(scenario);
}
END_TEST

/* ledger_timeout_evidence.yaml: silent members are penalised for missed
 * commit deadlines by committed blocks carrying a quorum of their peers'
 * attestations, and lose stake; framing clients collect no attestation
 * against an honest member, so nobody honest is penalised. Framing alone:
 * not one attestation, not one timeout penalty. Switched off, no timeout
 * applies and the silent members keep their stake. */
START_TEST(test_ledger_timeout_evidence_penalises_silent)
{
    ck_assert_int_eq(ledger_run("ledger_timeout_evidence.yaml", "te.db", ""), 0);
    ck_assert(ledger_metric("te.db", 1, "timeout_penalties") > 0);
    ck_assert(ledger_metric("te.db", 1, "timeout_attestations") > 0);
    ck_assert(ledger_metric("te.db", 1, "unjust_slashes") == 0);
    ck_assert(ledger_metric("te.db", 1, "honest_penalised") == 0);
    ck_assert(ledger_number("te.db", "SELECT count(*) FROM violations") == 0);
    ck_assert(ledger_number("te.db", "SELECT max(stake) FROM nodes WHERE behaviour = 'silent'")
              < 10);
    ck_assert(ledger_number("te.db", "SELECT min(stake) FROM nodes WHERE behaviour != 'silent'")
              == 10);
    ck_assert(ledger_number("te.db", "SELECT sent FROM messages WHERE type = 'infer_attest'")
              == ledger_metric("te.db", 1, "timeout_attestations"));
    ck_assert_int_eq(ledger_run("ledger_timeout_evidence.yaml", "tf.db",
                                "--set 'faults=[{kind: frame, at: 0s, nodes: {range: 30-33}}]'"
                                " --set expect={}"),
                     0);
    ck_assert(ledger_metric("tf.db", 1, "timeout_attestations") == 0);
    ck_assert(ledger_metric("tf.db", 1, "timeout_penalties") == 0);
    ck_assert(ledger_metric("tf.db", 1, "evidence_rejected") > 0);
    ck_assert(ledger_metric("tf.db", 1, "unjust_slashes") == 0);
    ck_assert(ledger_number("tf.db", "SELECT sum(penalties) FROM blocks") == 0);
    ck_assert_int_eq(ledger_run("ledger_timeout_evidence.yaml", "to.db",
                                "--set ledger.timeout_evidence=false --set expect={}"),
                     0);
    ck_assert(isnan(ledger_metric("to.db", 1, "timeout_penalties")));
    ck_assert(ledger_number("to.db", "SELECT min(stake) FROM nodes") == 10);
    ck_assert(ledger_number("to.db", "SELECT count(*) FROM messages"
                                     " WHERE type LIKE 'infer_attest%'") == 0);
}
END_TEST

/* Crash-stopped honest members under timeout evidence: their silence is
 * real, so peers attest it and the timeout penalties commit; the checker
 * counts them as honest nodes penalised (as instant settlement does) but
 * not as unjust slashes, since each member's own record shows it never
 * committed. */
START_TEST(test_ledger_timeout_evidence_crashes)
{
    ck_assert_int_eq(ledger_run("committee_crash_delay.yaml", "tc.db",
                                "--set ledger.validators=7 --set verification.settlement=ledger"
                                " --set ledger.timeout_evidence=true --set expect={}"),
                     0);
    ck_assert(ledger_metric("tc.db", 1, "timeout_penalties") > 0);
    ck_assert(ledger_metric("tc.db", 1, "honest_penalised") > 0);
    ck_assert(ledger_metric("tc.db", 1, "unjust_slashes") == 0);
    ck_assert(ledger_number("tc.db", "SELECT count(*) FROM violations"
                                     " WHERE kind = 'unjust_slash'") == 0);
}
END_TEST

/* A scenario with timeout evidence: ledger_yaml, a committee of 5. */
static const char *const ledger_timeout_overrides[] = {"verification.committee=5",
                                                       "ledger.timeout_evidence=true"};

static world_host *ledger_timeout_host(scn_scenario **scenario_out)
{
    scn_error error;
    ck_assert_int_eq(scn_load_string("l.yaml", ledger_yaml, ledger_timeout_overrides, 2,
                                     scenario_out, &error),
                     0);
    world_host *host = NULL;
    ck_assert_int_eq(world_host_create(*scenario_out, 0, NULL, &host), 0);
    int rc = 0;
    node_event start = {.kind = NODE_EVENT_START};
    ck_assert_ptr_nonnull(world_host_event(host, 0, 0, &start, &rc));
    return host;
}

/* A decision of the hop (request 1, segment 1, step 0, round 0) whose
 * member 1 timed out, over the committee the verifier draws. */
static node_ledger_tx ledger_timeout_tx(const node_serving *serving)
{
    node_ledger_tx tx = {.segment = 1, .request = 1, .rows = 4, .client = 9, .submitted_ns = 5};
    tx.member_count = serving->verifier->committee(serving->verifier->context, 1, 1, 0,
                                                   tx.members);
    ck_assert_uint_eq(tx.member_count, 5);
    for (uint32_t j = 0; j < tx.member_count; j++) {
        tx.verdicts[j] = CONS_VERDICT_AGREED;
    }
    tx.verdicts[1] = CONS_VERDICT_TIMEOUT;
    return tx;
}

/* Member 1's timeout item: attesters[i] (member indices) each sign that
 * node 'claimed' missed the deadline. */
static void ledger_timeout_item(const node_serving *serving, node_ledger_tx *tx,
                                const uint32_t *attesters, uint32_t count, uint32_t claimed)
{
    const node_verifier *verifier = serving->verifier;
    uint8_t statement[NODE_LEDGER_STATEMENT_MAX];
    size_t size = node_ledger_timeout_statement(tx->request, tx->segment, tx->step, tx->round,
                                                claimed, statement);
    node_ledger_evidence *e = &tx->evidence[0];
    tx->evidence_count = 1;
    e->kind = NODE_EVIDENCE_TIMEOUT;
    e->member = 1;
    e->size = (uint16_t)(count * NODE_LEDGER_ATTESTATION_BYTES);
    for (uint32_t i = 0; i < count; i++) {
        uint8_t *at = e->body + i * NODE_LEDGER_ATTESTATION_BYTES;
        at[0] = (uint8_t)attesters[i];
        verifier->evidence_sign(verifier->context, tx->members[attesters[i]], statement, size,
                                at + 1);
    }
}

/* Delivers 'tx' to validator 0: the effects (0 taken, 1 the refusal). */
static uint32_t ledger_offer(world_host *host, const node_serving *serving, node_ledger_tx *tx)
{
    uint8_t bytes[CONS_BFT_TX_BYTES_MAX];
    size_t size = ledger_tx_tagged(serving, tx, bytes);
    node_message m = {.type = NODE_MESSAGE_LEDGER_TX, .source = tx->client, .dest = 0,
                      .payload_bytes = (uint32_t)size, .payload = bytes};
    uint32_t effects = 0;
    ck_assert_int_eq(ledger_deliver(host, &m, &effects), 0);
    return effects;
}

/* node_ledger_evidence_check on a timeout: a quorum (3 of the 4 others)
 * of distinct valid attestations proves it, and a validator takes it;
 * too few, one signer twice, the accused attesting for itself, a claim
 * about another member, another hop, a forged signature, members that are
 * not the drawn committee, a verdict other than TIMEOUT, or the key off:
 * each refused (and the validator refuses the transaction). */
START_TEST(test_ledger_timeout_evidence_check)
{
    scn_scenario *scenario = NULL;
    world_host *host = ledger_timeout_host(&scenario);
    const node_serving *serving = world_host_serving(host);
    ck_assert(serving->ledger_timeout_evidence);
    ck_assert_uint_eq(node_ledger_attest_quorum(1), 1);
    ck_assert_uint_eq(node_ledger_attest_quorum(3), 3);
    ck_assert_uint_eq(node_ledger_attest_quorum(4), 3);
    ck_assert_uint_eq(node_ledger_attest_quorum(6), 5);
    ck_assert_uint_eq(node_ledger_attest_quorum(7), 5);
    node_ledger_tx base = ledger_timeout_tx(serving);
    uint32_t accused = base.members[1];
    static const uint32_t quorum[] = {0, 2, 3};
    node_ledger_tx tx = base;
    ck_assert(!node_ledger_evidence_check(serving, &tx, 1)); /* no evidence */
    ledger_timeout_item(serving, &tx, quorum, 3, accused);
    ck_assert(node_ledger_evidence_check(serving, &tx, 1));
    ck_assert_uint_eq(node_ledger_penalties_unproven(serving, &tx), 0);
    ck_assert_uint_eq(ledger_offer(host, serving, &tx), 0);
    static const uint32_t all[] = {4, 3, 2, 0};
    ledger_timeout_item(serving, &tx, all, 4, accused);
    ck_assert(node_ledger_evidence_check(serving, &tx, 1)); /* more than a quorum */

    ledger_timeout_item(serving, &tx, quorum, 2, accused);
    ck_assert(!node_ledger_evidence_check(serving, &tx, 1)); /* too few */
    ck_assert_uint_eq(ledger_offer(host, serving, &tx), 1);
    static const uint32_t twice[] = {0, 2, 2};
    ledger_timeout_item(serving, &tx, twice, 3, accused);
    ck_assert(!node_ledger_evidence_check(serving, &tx, 1));
    static const uint32_t itself[] = {0, 1, 2};
    ledger_timeout_item(serving, &tx, itself, 3, accused);
    ck_assert(!node_ledger_evidence_check(serving, &tx, 1));
    static const uint32_t outside[] = {0, 2, 9};
    ledger_timeout_item(serving, &tx, outside, 2, accused);
    tx.evidence[0].body[2 * NODE_LEDGER_ATTESTATION_BYTES] = 9; /* no such member */
    tx.evidence[0].size = 3 * NODE_LEDGER_ATTESTATION_BYTES;
    ck_assert(!node_ledger_evidence_check(serving, &tx, 1));
    ledger_timeout_item(serving, &tx, quorum, 3, base.members[2]);
    ck_assert(!node_ledger_evidence_check(serving, &tx, 1)); /* a claim about another */
    ck_assert_uint_eq(ledger_offer(host, serving, &tx), 1);
    ledger_timeout_item(serving, &tx, quorum, 3, accused);
    tx.step = 1;
    ck_assert(!node_ledger_evidence_check(serving, &tx, 1)); /* signed for another hop */
    tx.step = 0;
    tx.evidence[0].body[1 + NODE_LEDGER_ATTESTATION_BYTES + 7] ^= 0x20;
    ck_assert(!node_ledger_evidence_check(serving, &tx, 1)); /* a forged signature */
    ck_assert_uint_eq(ledger_offer(host, serving, &tx), 1);
    tx.evidence[0].size -= 1;
    ck_assert(!node_ledger_evidence_check(serving, &tx, 1)); /* a ragged body */

    tx = base;
    tx.members[0] = base.members[4]; /* a committee the client made up */
    tx.members[4] = base.members[0];
    ledger_timeout_item(serving, &tx, quorum, 3, accused);
    ck_assert(!node_ledger_evidence_check(serving, &tx, 1));
    tx = base;
    ledger_timeout_item(serving, &tx, quorum, 3, accused);
    tx.verdicts[1] = CONS_VERDICT_PROVEN;
    ck_assert(!node_ledger_evidence_check(serving, &tx, 1)); /* proves no deviation */
    tx.verdicts[1] = CONS_VERDICT_TIMEOUT;
    node_serving off = *serving;
    off.ledger_timeout_evidence = false;
    ck_assert(!node_ledger_evidence_check(&off, &tx, 1));
    world_host_destroy(host);
    scn_destroy(scenario);
}
END_TEST

/* Attestation messages from a hostile peer: a payload of the wrong size,
 * an ask to a node outside the committee or about the asked member
 * itself, an attestation to a node that is not the request's client, a
 * "peer commitment" from a node that is not the member it names -- each
 * refused with no effect; without timeout evidence both types are. A
 * well-formed ask about a member this one never heard from, before it
 * committed itself, gets no attestation. */
START_TEST(test_ledger_timeout_hostile_messages)
{
    scn_scenario *scenario = NULL;
    world_host *host = ledger_timeout_host(&scenario);
    const node_serving *serving = world_host_serving(host);
    node_ledger_tx tx = ledger_timeout_tx(serving);
    uint32_t outsider = 0;
    for (bool member = true; member; outsider++) {
        member = false;
        for (uint32_t j = 0; j < tx.member_count; j++) {
            member = member || tx.members[j] == outsider;
        }
    }
    outsider -= 1;
    uint8_t signature[NODE_SIGNATURE_BYTES + 1];
    memset(signature, 7, sizeof(signature));
    node_message ask = {.type = NODE_MESSAGE_INFER_ATTEST_ASK, .source = 9, .dest = tx.members[0],
                        .rumor_id = 1, .origin = 9, .segment = 1, .count = 4, .token = 1};
    uint32_t effects = 0;
    ck_assert_int_eq(ledger_deliver(host, &ask, &effects), 0);
    ck_assert_uint_eq(effects, 0); /* it never committed: nothing to attest */
    node_message m = ask;
    m.payload = signature;
    m.payload_bytes = 4;
    ledger_expect_rejected(host, &m, "an ask with a payload");
    m = ask;
    m.dest = outsider;
    ledger_expect_rejected(host, &m, "an ask to a node outside the committee");
    m = ask;
    m.token = 0;
    ledger_expect_rejected(host, &m, "an ask about the asked member itself");
    m = ask;
    m.token = 7;
    ledger_expect_rejected(host, &m, "an ask about no member");
    node_message attest = ask;
    attest.type = NODE_MESSAGE_INFER_ATTEST;
    attest.source = tx.members[0];
    attest.dest = 9;
    attest.payload = signature;
    attest.payload_bytes = NODE_SIGNATURE_BYTES + 1;
    ledger_expect_rejected(host, &attest, "an attestation of the wrong size");
    attest.payload_bytes = NODE_SIGNATURE_BYTES;
    ledger_expect_rejected(host, &attest, "an attestation to a node that is not the client");
    node_message commit = ask;
    commit.type = NODE_MESSAGE_INFER_COMMIT;
    commit.source = outsider;
    commit.dest = tx.members[0];
    commit.token = 1;
    commit.payload = signature;
    commit.payload_bytes = serving->vote_bytes + serving->claim_bytes + serving->commit_sig_bytes;
    uint8_t vote[NODE_VOTE_MAX + NODE_CLAIM_MAX + NODE_SIGNATURE_BYTES];
    memset(vote, 3, sizeof(vote));
    commit.payload = vote;
    ledger_expect_rejected(host, &commit, "a peer commitment from another node");
    commit.source = tx.members[1];
    /* The member's: recorded, and relayed to the client (which finds an
     * equivocator's second commitment that way). */
    ck_assert_int_eq(ledger_deliver(host, &commit, &effects), 0);
    ck_assert_uint_eq(effects, 1);
    world_host_destroy(host);
    scn_destroy(scenario);

    scn_error error;
    ck_assert_int_eq(scn_load_string("l.yaml", ledger_yaml, NULL, 0, &scenario, &error), 0);
    ck_assert_int_eq(world_host_create(scenario, 0, NULL, &host), 0);
    ask.dest = 0;
    ledger_expect_rejected(host, &ask, "an ask without timeout evidence");
    ledger_expect_rejected(host, &attest, "an attestation without timeout evidence");
    world_host_destroy(host);
    scn_destroy(scenario);
}
END_TEST

Suite *test_ledger_suite(void)
{
    Suite *suite = suite_create("ledger");
    TCase *runs = tcase_create("runs");
    tcase_add_checked_fixture(runs, ledger_setup, ledger_teardown);
    tcase_add_test(runs, test_ledger_honest_blocks);
    tcase_add_test(runs, test_ledger_reputation_moves_only_at_commit);
    tcase_add_test(runs, test_ledger_fork_fires_beyond_third);
    tcase_add_loop_test(runs, test_ledger_byzantine_below_third_safe_and_live, 0, 4);
    tcase_add_test(runs, test_ledger_partition_heal_live);
    tcase_add_test(runs, test_ledger_unjust_slash_fires);
    tcase_add_test(runs, test_ledger_deterministic);
    tcase_add_test(runs, test_ledger_off_writes_nothing);
    tcase_add_test(runs, test_ledger_vrf_beacon);
    tcase_add_test(runs, test_ledger_testbed_refuses);
    tcase_add_test(runs, test_ledger_largest_set);
    tcase_add_test(runs, test_ledger_framing_caught_only_on_ledger);
    tcase_add_test(runs, test_ledger_framing_validator_refuses_own);
    tcase_add_test(runs, test_ledger_evidence_applied);
    tcase_add_test(runs, test_ledger_equivocation_shown_to_peers);
    tcase_add_test(runs, test_ledger_resend_settles_dropped);
    tcase_add_test(runs, test_ledger_timeout_evidence_penalises_silent);
    tcase_add_test(runs, test_ledger_timeout_evidence_crashes);
    tcase_set_timeout(runs, 120);
    suite_add_tcase(suite, runs);
    TCase *input = tcase_create("input");
    tcase_add_test(input, test_ledger_scenario_errors);
    tcase_add_test(input, test_ledger_hostile_messages_rejected);
    tcase_add_test(input, test_ledger_timeout_evidence_check);
    tcase_add_test(input, test_ledger_timeout_hostile_messages);
    tcase_set_timeout(input, 30);
    suite_add_tcase(suite, input);
    return suite;
}
