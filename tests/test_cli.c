/* test_cli.c -- the real binary, as a user runs it: subcommands and exit
 * codes, errors before anything is written, identical rows for identical
 * runs, --check failing on a broken expectation, SIGINT marking a run
 * aborted, SIGKILL leaving it incomplete, export, and every scenario of the
 * library passing its own expectations; the revision a build names. */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "node/node.h"
#include "scenarios/scn.h"
#include "tests/suites.h"

static char cli_dir[256];

static void cli_setup(void)
{
    test_dir_make(cli_dir, sizeof(cli_dir), "cli");
}

static void cli_teardown(void)
{
    test_dir_remove(cli_dir);
}

static void cli_path(char *out, size_t size, const char *name)
{
    test_dir_path(cli_dir, name, out, size);
}

static void write_file(const char *name, const char *text)
{
    test_dir_write(cli_dir, name, text);
}

static const char *read_file(const char *name)
{
    return test_dir_read(cli_dir, name);
}

/* Runs "infersim ARGS" with stdout and stderr captured in the test
 * directory (out.txt, err.txt); returns the exit code. */
static int cli(const char *format, ...)
{
    char args[2048];
    char command[4096];
    va_list list;
    va_start(list, format);
    vsnprintf(args, sizeof(args), format, list);
    va_end(list);
    snprintf(command, sizeof(command), "%s %s >'%s/out.txt' 2>'%s/err.txt' </dev/null",
             test_infersim_bin(), args, cli_dir, cli_dir);
    int status = system(command);
    ck_assert_msg(WIFEXITED(status), "command died: %s", command);
    return WEXITSTATUS(status);
}

/* Runs one SQL query and returns all rows as text ('|' between fields), or
 * NULL when the database cannot answer it (yet). */
static char *query_try(const char *db_name, const char *sql)
{
    char path[512];
    sqlite3 *db = NULL;
    sqlite3_stmt *statement = NULL;
    size_t size = 0;
    char *text = NULL;
    cli_path(path, sizeof(path), db_name);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, sql, -1, &statement, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    FILE *out = open_memstream(&text, &size);
    while (sqlite3_step(statement) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(statement); i++) {
            const unsigned char *value = sqlite3_column_text(statement, i);
            fprintf(out, "%s%s", i ? "|" : "", value ? (const char *)value : "NULL");
        }
        fputc('\n', out);
    }
    sqlite3_finalize(statement);
    sqlite3_close(db);
    fclose(out);
    return text;
}

/* As query_try, failing the test when the query cannot run. */
static char *query(const char *db_name, const char *sql)
{
    char *text = query_try(db_name, sql);
    ck_assert_msg(text != NULL, "query failed: %s", sql);
    return text;
}

static const char small_yaml[] =
    "name: small\n"
    "seed: 3\n"
    "duration: 3s\n"
    "network:\n"
    "  latency: {model: normal, value: 20ms, stddev: 5ms, min: 1ms}\n"
    "  jitter: 2ms\n"
    "  loss: 0.01\n"
    "  corrupt: 0.01\n"
    "nodes:\n"
    "  count: 300\n"
    "  classes: [{name: fast, fraction: 0.5}, {name: slow, fraction: 0.5, bandwidth: 50Mbps}]\n"
    "  regions: [{name: a, fraction: 0.7}, {name: b, fraction: 0.3}]\n"
    "gossip: {mode: pushpull, fanout: 5, pull_interval: 300ms}\n"
    "workload: {messages: 200, rate: 200/s, size: 2KiB}\n"
    "faults:\n"
    "  - {kind: crash, at: 500ms, until: 1500ms, nodes: {fraction: 0.1}}\n"
    "  - {kind: partition, at: 1s, until: 1200ms, shape: halves}\n"
    "expect:\n"
    "  delivery_ratio: \">= 0.99\"\n"
    "output: {sample_interval: 250ms}\n";

START_TEST(test_cli_help_every_subcommand)
{
    const char *const commands[] = {"run", "validate", "runs", "export", "compare"};
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        ck_assert_int_eq(cli("%s --help", commands[i]), 0);
        ck_assert_ptr_nonnull(strstr(read_file("out.txt"), "usage: infersim"));
    }
    ck_assert_int_eq(cli("--help"), 0);
    ck_assert_int_eq(cli("frobnicate"), 2);
    ck_assert_int_eq(cli("run"), 2);
    ck_assert_int_eq(cli("run x.yaml --seed abc"), 2);
    ck_assert_int_eq(cli("export --table runs --format xml"), 2);
    ck_assert_int_eq(cli("compare --frobnicate"), 2);
}
END_TEST

/* Two protocols of the compare family into one database: 'compare' puts
 * them side by side, and the view exports one row per run. */
/* The GNU conventions: --opt=value, '--', suggestions, errors that name
 * the offending value once, lists of the valid tables and kinds. */
START_TEST(test_cli_options_conventions)
{
    write_file("s.yaml", small_yaml);
    ck_assert_int_eq(cli("run --quiet --db=%s/r.db --seed=5 -- %s/s.yaml", cli_dir, cli_dir), 0);
    ck_assert_int_eq(cli("export --db=%s/r.db --table=runs --format=jsonl", cli_dir), 0);
    ck_assert_ptr_nonnull(strstr(read_file("out.txt"), "\"seed\":5"));
    /* A misspelled option: exit 2 and the nearest option. */
    ck_assert_int_eq(cli("export --db %s/r.db --tabel runs", cli_dir), 2);
    ck_assert_ptr_nonnull(strstr(read_file("err.txt"),
                                 "unknown option '--tabel'; did you mean '--table'?"));
    ck_assert_int_eq(cli("runs --db %s/r.db --frobnicate", cli_dir), 2);
    ck_assert_int_eq(cli("run %s/s.yaml --quiet=1", cli_dir), 2);
    ck_assert_ptr_nonnull(strstr(read_file("err.txt"), "'--quiet' takes no value"));
    ck_assert_int_eq(cli("rnu"), 2);
    ck_assert_ptr_nonnull(strstr(read_file("err.txt"), "did you mean 'run'?"));
    /* The missing run is named by its id, once. */
    ck_assert_int_eq(cli("export --db %s/r.db --table runs --run 99", cli_dir), 2);
    const char *err = read_file("err.txt");
    ck_assert_msg(strstr(err, "no run 99 in") != NULL && strstr(err, "'--run'") == NULL, "%s",
                  err);
    /* An unknown table: a suggestion and the list. */
    ck_assert_int_eq(cli("export --db %s/r.db --table violation", cli_dir), 2);
    err = read_file("err.txt");
    ck_assert_msg(strstr(err, "did you mean 'violations'?") != NULL &&
                      strstr(err, "tables: runs params") != NULL && strstr(err, " wide") != NULL,
                  "%s", err);
    /* plot: a missing run, an unknown kind. */
    ck_assert_int_eq(cli("plot --db %s/r.db --kind timeline --run 999 -o %s/x.svg", cli_dir,
                         cli_dir), 2);
    ck_assert_ptr_nonnull(strstr(read_file("err.txt"), "no run 999 in"));
    ck_assert_int_eq(cli("plot --db %s/r.db --kind timelin --run 1 -o %s/x.svg", cli_dir,
                         cli_dir), 2);
    ck_assert_ptr_nonnull(strstr(read_file("err.txt"), "did you mean 'timeline'?"));
    /* A file that is not SQLite is named once, without internal words. */
    write_file("junk.db", "this is not a database, only some text that fills the header\n");
    ck_assert_int_eq(cli("runs --db %s/junk.db", cli_dir), 2);
    err = read_file("err.txt");
    ck_assert_msg(strstr(err, "is not a SQLite database") != NULL &&
                      strstr(err, "inspect") == NULL &&
                      strstr(strstr(err, "junk.db") + 1, "junk.db") == NULL,
                  "%s", err);
    /* A --set error is located by the override, not a pseudo line:col. */
    ck_assert_int_eq(cli("validate %s/s.yaml --set nodes.bogus=3", cli_dir), 2);
    err = read_file("err.txt");
    ck_assert_msg(strstr(err, "--set nodes.bogus=3: unknown key") != NULL &&
                      strstr(err, ":1:1") == NULL,
                  "%s", err);
    /* runs: mode, sweep and point columns. */
    ck_assert_int_eq(cli("runs --db %s/r.db", cli_dir), 0);
    const char *out = read_file("out.txt");
    ck_assert_msg(strstr(out, "mode") != NULL && strstr(out, "sweep") != NULL &&
                      strstr(out, "point") != NULL && strstr(out, " sim ") != NULL,
                  "%s", out);
}
END_TEST

/* tools/git_rev.sh, which names the build's revision: HEAD's 12 digits in a
 * clean checkout; "-dirty" after a tracked file changes or an untracked
 * source file appears, not for another untracked file; "unknown" outside a
 * checkout. The binary names what the script names for this checkout. */
START_TEST(test_cli_git_rev_marks_dirty)
{
    char cwd[512];
    char command[4096];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    ck_assert_msg(system("command -v git >/dev/null 2>&1") == 0,
                  "git is missing: sh tools/deps.sh install puts it in place");
    snprintf(command, sizeof(command),
             "( cd '%s' && export GIT_CEILING_DIRECTORIES='%s' && rev='%s/tools/git_rev.sh' &&"
             " mkdir repo plain && cd repo && git init -q . && echo a >file.txt &&"
             " git add file.txt &&"
             " git -c user.name=test -c user.email=test@example.org -c commit.gpgsign=false commit -q -m one &&"
             " git rev-parse --short=12 HEAD >../head.txt && sh \"$rev\" >../clean.txt &&"
             " echo b >>file.txt && sh \"$rev\" >../changed.txt && git checkout -q file.txt &&"
             " echo notes >notes.txt && sh \"$rev\" >../other.txt &&"
             " echo 'int x;' >new.c && sh \"$rev\" >../source.txt &&"
             " sh \"$rev\" ../plain >../outside.txt &&"
             " cd '%s' && sh tools/git_rev.sh >'%s/here.txt' ) >'%s/git.txt' 2>&1",
             cli_dir, cli_dir, cwd, cwd, cli_dir, cli_dir);
    ck_assert_msg(system(command) == 0, "%s", read_file("git.txt"));
    char head[64];
    snprintf(head, sizeof(head), "%s", read_file("head.txt"));
    ck_assert_int_eq(strlen(head), 13);
    ck_assert_str_eq(read_file("clean.txt"), head);
    ck_assert_str_eq(read_file("other.txt"), head);
    head[12] = '\0';
    char dirty[80];
    snprintf(dirty, sizeof(dirty), "%s-dirty\n", head);
    ck_assert_str_eq(read_file("changed.txt"), dirty);
    ck_assert_str_eq(read_file("source.txt"), dirty);
    ck_assert_str_eq(read_file("outside.txt"), "unknown\n");
    char here[64];
    snprintf(here, sizeof(here), "%s", read_file("here.txt"));
    here[strcspn(here, "\n")] = '\0';
    ck_assert_int_eq(cli("--version"), 0);
    char expected[128];
    snprintf(expected, sizeof(expected), "(git %s)", here);
    ck_assert_msg(strstr(read_file("out.txt"), expected) != NULL, "%s against %s",
                  read_file("out.txt"), expected);
}
END_TEST

/* make install puts the man page, the docs and the completion in place;
 * the page renders; the completion completes a subcommand in bash. */
START_TEST(test_cli_install_man_completion)
{
    char bin[512];
    char build[512];
    snprintf(bin, sizeof(bin), "%s", test_infersim_bin());
    snprintf(build, sizeof(build), "%s", bin);
    char *slash = strrchr(build, '/');
    ck_assert_ptr_nonnull(slash);
    *slash = '\0';
    char command[4096];
    snprintf(command, sizeof(command),
             "make -s --no-print-directory -o '%s' BUILD='%s' install DESTDIR='%s/inst'"
             " PREFIX=/usr >'%s/make.txt' 2>&1",
             bin, build, cli_dir, cli_dir);
    ck_assert_msg(system(command) == 0, "%s: %s", command, read_file("make.txt"));
    static const char *const installed[] = {
        "inst/usr/bin/infersim",
        "inst/usr/share/man/man1/infersim.1",
        "inst/usr/share/doc/infersim/README.md",
        "inst/usr/share/doc/infersim/ARCHITECTURE.md",
        "inst/usr/share/doc/infersim/scenarios/README.md",
        "inst/usr/share/doc/infersim/metrics/README.md",
        "inst/usr/share/doc/infersim/bench/README.md",
        "inst/usr/share/bash-completion/completions/infersim",
    };
    for (size_t i = 0; i < sizeof(installed) / sizeof(installed[0]); i++) {
        char path[512];
        cli_path(path, sizeof(path), installed[i]);
        ck_assert_msg(access(path, R_OK) == 0, "not installed: %s", installed[i]);
    }
    /* Render the page with man, else groff; skip (said) with neither. */
    snprintf(command, sizeof(command),
             "cd '%s' && if command -v man >/dev/null; then"
             " MANWIDTH=80 man -l inst/usr/share/man/man1/infersim.1;"
             " elif command -v groff >/dev/null; then"
             " groff -man -Tutf8 inst/usr/share/man/man1/infersim.1;"
             " else echo SKIP; fi >render.txt 2>&1",
             cli_dir);
    ck_assert_int_eq(system(command), 0);
    const char *page = read_file("render.txt");
    if (strncmp(page, "SKIP", 4) == 0) {
        fprintf(stderr, "test_cli_install_man_completion: neither man nor groff: the page"
                        " was not rendered\n");
    } else {
        ck_assert_msg(strstr(page, "EXIT STATUS") != NULL && strstr(page, "testbed") != NULL,
                      "%s", page);
    }
    /* The completion function, sourced in bash, completes "ru" to run and
     * runs, a table name and a scenario key (the binary by absolute path:
     * the words come from it). */
    char absolute[1024];
    char cwd[512];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    snprintf(absolute, sizeof(absolute), "%s%s%s", bin[0] == '/' ? "" : cwd,
             bin[0] == '/' ? "" : "/", bin);
    snprintf(command, sizeof(command),
             "cd '%s' && bash -c 'source inst/usr/share/bash-completion/completions/infersim;"
             " COMP_WORDS=(%s ru); COMP_CWORD=1; _infersim; echo \"[${COMPREPLY[*]}]\";"
             " COMP_WORDS=(%s export --table violat); COMP_CWORD=3; _infersim;"
             " echo \"[${COMPREPLY[*]}]\";"
             " COMP_WORDS=(%s run x.yaml --set nodes.cou); COMP_CWORD=4; _infersim;"
             " echo \"[${COMPREPLY[*]}]\"' >complete.txt 2>&1",
             cli_dir, absolute, absolute, absolute);
    ck_assert_int_eq(system(command), 0);
    const char *completed = read_file("complete.txt");
    ck_assert_msg(strstr(completed, "[run runs]\n[violations]\n[nodes.count=]\n") != NULL,
                  "%s", completed);
}
END_TEST

START_TEST(test_cli_compare_protocols)
{
    const char *const protocols[] = {"committee", "tee"};
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(cli("run scenarios/compare_%s.yaml --db %s/cmp.db --quiet --set "
                             "workload.requests=12",
                             protocols[i], cli_dir),
                         0);
    }
    ck_assert_int_eq(cli("compare --db %s/cmp.db", cli_dir), 0);
    const char *out = read_file("out.txt");
    ck_assert_ptr_nonnull(strstr(out, "cost_x"));
    const char *committee = strstr(out, "\ncommittee ");
    const char *tee = strstr(out, "\ntee ");
    ck_assert_msg(committee != NULL && tee != NULL && committee < tee, "%s", out);
    /* Committee draws have a measured capture rate, its interval and the
     * closed form's prediction; a tee executor has none. */
    ck_assert_ptr_nonnull(strstr(out, "capture_95ci"));
    const char *bracket = strchr(committee, '[');
    ck_assert_msg(bracket != NULL && bracket < tee, "%s", out);
    ck_assert_msg(strstr(tee, "-                 -         -\n") != NULL, "%s", out);
    ck_assert_int_eq(cli("export --db %s/cmp.db --table protocol_comparison --format jsonl",
                         cli_dir),
                     0);
    out = read_file("out.txt");
    ck_assert_ptr_nonnull(strstr(out, "\"protocol\":\"committee\""));
    ck_assert_ptr_nonnull(strstr(out, "\"protocol\":\"tee\""));
    ck_assert_int_eq(cli("run scenarios/gossip.yaml --db %s/empty.db --quiet --set "
                         "workload.messages=2 --set nodes.count=20",
                         cli_dir),
                     0);
    ck_assert_int_eq(cli("compare --db %s/empty.db", cli_dir), 0);
    ck_assert_ptr_nonnull(strstr(read_file("out.txt"), "none "));
}
END_TEST

/* Forgers outvoted on every committee fall to the reputation floor in
 * exactly the penalties the rule predicts: 11 from 1 to 0.1 at x0.8, 4 at
 * x0.5. Measured from the decisions, beside the closed form. */
START_TEST(test_cli_floor_penalties_as_predicted)
{
    const char *const penalties[] = {"0.8", "0.5"};
    const char *const expected[] = {"11.0|11.0\n", "4.0|4.0\n"};
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(cli("run scenarios/forger_noise.yaml --db %s/floor%zu.db --quiet --set "
                             "verification.reputation.penalty=%s",
                             cli_dir, i, penalties[i]),
                         0);
        char name[32];
        snprintf(name, sizeof(name), "floor%zu.db", i);
        char *rows = query(name, "SELECT m.value, p.value FROM metrics m, metrics p"
                                 " WHERE m.name = 'floor_penalties'"
                                 " AND p.name = 'floor_penalties_predicted'");
        ck_assert_str_eq(rows, expected[i]);
        free(rows);
    }
}
END_TEST

/* A committee of 5 (quorum 3) on two segments: one decisions row per
 * member per decision, every member that computed a hop has its own
 * executions row, and every member of the first and last segments is
 * listed among those that saw the prompt. */
START_TEST(test_cli_decisions_one_row_per_member)
{
    ck_assert_int_eq(cli("run scenarios/committee_tolerant.yaml --db %s/d.db --quiet --set "
                         "workload.requests=12",
                         cli_dir),
                     0);
    /* Members x decisions; one settle per (request, segment, step). */
    char *rows = query("d.db",
                       "SELECT count(*), count(DISTINCT request_id || '-' || segment || '-' ||"
                       " step || '-' || round) * 5, min(member_count), max(member_count),"
                       " sum(accepted), sum(action = 'settle') / 5,"
                       " (SELECT count(*) FROM requests WHERE status = 'completed') * 2 * 4"
                       " FROM decisions WHERE run_id = 1");
    char count[32], expected[32];
    ck_assert_int_eq(sscanf(rows, "%31[0-9]|%31[0-9]|", count, expected), 2);
    ck_assert_str_eq(count, expected);
    ck_assert_ptr_nonnull(strstr(rows, "|5|5|"));
    free(rows);
    rows = query("d.db",
                 "SELECT sum(accepted) = count(DISTINCT request_id || '-' || segment || '-' ||"
                 " step || '-' || round), sum(action = 'settle') / 5 >= (SELECT count(*) FROM"
                 " requests WHERE status = 'completed') * 2 * 4, min(role = 'member'),"
                 " min(protocol = 'committee'), sum(verdict = 'not_judged' AND answered = 1)"
                 " FROM decisions WHERE run_id = 1 AND action = 'settle'");
    ck_assert_str_eq(rows, "1|1|1|1|0\n");
    free(rows);
    /* Every member whose valid answer the client judged ran the hop and has
     * its own executions row, with calls and FLOPs of its own; segments
     * keeps one row per hop whose calls and FLOPs are the members' sum. */
    rows = query("d.db",
                 "SELECT count(*) FROM decisions d WHERE d.run_id = 1 AND d.valid = 1 AND NOT"
                 " EXISTS (SELECT 1 FROM executions e WHERE e.run_id = 1 AND e.request_id ="
                 " d.request_id AND e.segment = d.segment AND e.node_id = d.node_id AND"
                 " e.calls > d.step AND e.flops > 0)");
    ck_assert_str_eq(rows, "0\n");
    free(rows);
    rows = query("d.db",
                 "SELECT count(*) = 5 * 2 * (SELECT count(*) FROM requests WHERE run_id = 1),"
                 " count(DISTINCT request_id || '-' || segment) ="
                 " (SELECT count(*) FROM segments WHERE run_id = 1),"
                 " sum(calls) = (SELECT sum(calls) FROM segments WHERE run_id = 1) AND"
                 " sum(flops) = (SELECT sum(flops) FROM segments WHERE run_id = 1)"
                 " FROM executions WHERE run_id = 1 AND calls > 0");
    ck_assert_str_eq(rows, "1|1|1\n");
    free(rows);
    /* Two segments: every member of either saw the prompt or the tokens. */
    rows = query("d.db",
                 "SELECT count(*) FROM executions e JOIN requests q ON q.run_id = e.run_id AND"
                 " q.request_id = e.request_id WHERE e.run_id = 1 AND instr(' ' ||"
                 " q.saw_tokens || ' ', ' ' || e.node_id || ' ') = 0");
    ck_assert_str_eq(rows, "0\n");
    free(rows);
    /* Honest members all agreed: reputation rose, stake unchanged. */
    rows = query("d.db",
                 "SELECT min(reputation_after >= reputation_before), min(stake_after ="
                 " stake_before) FROM decisions WHERE run_id = 1 AND verdict = 'agreed'");
    ck_assert_str_eq(rows, "1|1\n");
    free(rows);
}
END_TEST

/* output.decisions: false stores no decisions row and changes nothing
 * else a run computes: the same trace, metrics and requests rows (the
 * floor-penalty metric reads the records the run keeps, not the table).
 * The commands that read decisions rows refuse such a scenario. */
START_TEST(test_cli_decisions_key_off)
{
    const char *run = "run scenarios/committee_tolerant.yaml --db %s/d.db --quiet --set "
                      "workload.requests=12%s";
    ck_assert_int_eq(cli(run, cli_dir, ""), 0);
    ck_assert_int_eq(cli(run, cli_dir, " --set output.decisions=false"), 0);
    char *rows = query("d.db", "SELECT (SELECT count(*) > 0 FROM decisions WHERE run_id = 1),"
                               " (SELECT count(*) FROM decisions WHERE run_id = 2),"
                               " (SELECT count(DISTINCT trace_hash) FROM runs),"
                               " (SELECT count(*) FROM requests WHERE run_id = 1) ="
                               " (SELECT count(*) FROM requests WHERE run_id = 2)");
    ck_assert_str_eq(rows, "1|0|1|1\n");
    free(rows);
    rows = query("d.db", "SELECT count(*) FROM (SELECT name, value FROM metrics WHERE run_id = 1"
                         " EXCEPT SELECT name, value FROM metrics WHERE run_id = 2)");
    ck_assert_str_eq(rows, "0\n");
    free(rows);
    rows = query("d.db", "SELECT run_id, value FROM params WHERE key = 'output.decisions'");
    ck_assert_str_eq(rows, "2|false\n");
    free(rows);
    const char *const commands[] = {"swarm %s --runs 1", "shrink %s --seed 1",
                                    "calibrate %s --db %s/c.db"};
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        char line[512];
        snprintf(line, sizeof(line), commands[i], "scenarios/committee_tolerant.yaml", cli_dir);
        ck_assert_int_eq(cli("%s --set output.decisions=false", line), 2);
        ck_assert_ptr_nonnull(strstr(read_file("err.txt"), "output.decisions is false, but"));
    }
    ck_assert_ptr_null(query_try("c.db", "SELECT 1"));
}
END_TEST

/* Cross-validation draws its checkers on a hop with probability p (the
 * beacon's spot check): counted from the decisions table alone, the rate
 * over many hops is within four binomial sigma of p. */
START_TEST(test_cli_decisions_crossval_spot_check_rate)
{
    const double p = 0.3;
    ck_assert_int_eq(cli("run scenarios/compare_crossval.yaml --db %s/x.db --quiet --set "
                         "verification.check_probability=%g --set workload.requests=150 --set "
                         "workload.rate=10/s",
                         cli_dir, p),
                     0);
    char *rows = query("x.db",
                       "WITH hop AS (SELECT request_id, segment, round, max(member_count) > 1"
                       " AS fired, max(spot_check) AS flagged FROM decisions WHERE run_id = 1"
                       " GROUP BY request_id, segment, round)"
                       " SELECT count(*), sum(fired), sum(fired = flagged) FROM hop");
    long hops = 0, fired = 0, flagged = 0;
    ck_assert_int_eq(sscanf(rows, "%ld|%ld|%ld", &hops, &fired, &flagged), 3);
    free(rows);
    ck_assert_int_ge(hops, 200);
    ck_assert_int_eq(flagged, hops);
    double sigma = sqrt((double)hops * p * (1.0 - p));
    ck_assert_msg(fabs((double)fired - (double)hops * p) <= 4.0 * sigma,
                  "%ld of %ld hops checked, p = %g", fired, hops, p);
    /* Roles: member 0 executes, the others check; a checked hop has 1 + 3. */
    rows = query("x.db",
                 "SELECT min(role = CASE member WHEN 0 THEN 'executor' ELSE 'checker' END),"
                 " min(member_count IN (1, 4)) FROM decisions WHERE run_id = 1");
    ck_assert_str_eq(rows, "1|1\n");
    free(rows);
}
END_TEST

START_TEST(test_cli_bad_scenario_writes_nothing)
{
    write_file("bad.yaml", "name: bad\nnodes:\n  count: 10\n  bogus: 1\n");
    ck_assert_int_eq(cli("run %s/bad.yaml --db %s/r.db", cli_dir, cli_dir), 2);
    char expected[512];
    snprintf(expected, sizeof(expected), "%s/bad.yaml:4:3:", cli_dir);
    ck_assert_msg(strstr(read_file("err.txt"), expected) != NULL, "stderr: %s",
                  read_file("err.txt"));
    char db_path[512];
    cli_path(db_path, sizeof(db_path), "r.db");
    ck_assert_int_ne(access(db_path, F_OK), 0);
    ck_assert_int_eq(cli("validate %s/bad.yaml", cli_dir), 2);
    ck_assert_int_eq(cli("run %s/missing.yaml --db %s/r.db", cli_dir, cli_dir), 2);
    ck_assert_int_eq(cli("run %s/bad.yaml --set nodes.bogus= --db %s/r.db", cli_dir, cli_dir), 2);
}
END_TEST

/* Seen-sets of 2.3 TiB (two million nodes, ten million rumors) fit no
 * machine: run, sweep and swarm refuse before they allocate or open the
 * database (exit 2, naming the table, its size and the keys to lower);
 * validate only warns. */
START_TEST(test_cli_seen_sets_beyond_memory_refused)
{
    if ((double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE) > 2.5e12) {
        return; /* a machine that holds them: nothing to refuse */
    }
    write_file("huge.yaml", "name: huge\nduration: 1s\nnodes: {count: 2000000}\n"
                            "gossip: {mode: push, fanout: 6}\n"
                            "workload: {messages: 10000000, rate: 100/s}\n");
    ck_assert_int_eq(cli("run %s/huge.yaml --db %s/h.db", cli_dir, cli_dir), 2);
    const char *err = read_file("err.txt");
    ck_assert_msg(strstr(err, "seen-sets need 2328.3 GiB (2000000 nodes x 10000000 rumors") &&
                      strstr(err, "lower nodes.count or workload.messages"),
                  "stderr: %s", err);
    char db_path[512];
    cli_path(db_path, sizeof(db_path), "h.db");
    ck_assert_int_ne(access(db_path, F_OK), 0);
    ck_assert_int_eq(cli("validate %s/huge.yaml", cli_dir), 0);
    ck_assert_msg(strstr(read_file("err.txt"), "warning: the nodes' seen-sets need") != NULL,
                  "stderr: %s", read_file("err.txt"));
    /* A sweep names the grid point, and runs none; swarm runs nothing. */
    ck_assert_int_eq(cli("sweep %s/huge.yaml --param workload.messages=64,10000000 --db %s/h.db",
                         cli_dir, cli_dir), 2);
    ck_assert_msg(strstr(read_file("err.txt"),
                         "huge.yaml, grid point 'workload.messages=10000000': the nodes'") != NULL,
                  "stderr: %s", read_file("err.txt"));
    ck_assert_int_ne(access(db_path, F_OK), 0);
    ck_assert_int_eq(cli("swarm %s/huge.yaml --runs 2", cli_dir), 2);
    ck_assert_msg(strstr(read_file("err.txt"), "seen-sets need") != NULL, "stderr: %s",
                  read_file("err.txt"));
    /* One word a node (64 rumors) lives in the node: nothing to weigh. */
    ck_assert_int_eq(cli("validate %s/huge.yaml --set workload.messages=64", cli_dir), 0);
    ck_assert_str_eq(read_file("err.txt"), "");
}
END_TEST

/* Runs SQL on a database of the test directory, as a researcher's own
 * sqlite3 session would. */
static void exec_sql(const char *db_name, const char *sql)
{
    char path[512];
    sqlite3 *db = NULL;
    cli_path(path, sizeof(path), db_name);
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* A results file changed by hand: a table rebuilt without a column is
 * refused (exit 2, naming it) before the simulation, and no run row is
 * added; a dropped table is created again, and the next run's rows land
 * in it. */
START_TEST(test_cli_hand_changed_database)
{
    write_file("small.yaml", small_yaml);
    ck_assert_int_eq(cli("run %s/small.yaml --db %s/r.db --quiet", cli_dir, cli_dir), 0);
    exec_sql("r.db", "ALTER TABLE violations DROP COLUMN step");
    ck_assert_int_eq(cli("run %s/small.yaml --db %s/r.db --quiet", cli_dir, cli_dir), 2);
    ck_assert_msg(strstr(read_file("err.txt"), "table 'violations' has no column 'step'") != NULL,
                  "stderr: %s", read_file("err.txt"));
    char *runs = query("r.db", "SELECT count(*) FROM runs");
    ck_assert_str_eq(runs, "1\n");
    free(runs);
    ck_assert_int_eq(cli("export --db %s/r.db --table runs --format csv", cli_dir), 2);
    ck_assert_int_eq(cli("merge %s/merged.db %s/r.db", cli_dir, cli_dir), 2);
    char said[600];
    snprintf(said, sizeof(said), "infersim merge: %s/r.db: table 'violations' has no column",
             cli_dir);
    ck_assert_msg(strstr(read_file("err.txt"), said) != NULL, "stderr: %s", read_file("err.txt"));

    exec_sql("r.db", "ALTER TABLE violations ADD COLUMN step INTEGER; DROP TABLE metrics");
    ck_assert_int_eq(cli("run %s/small.yaml --db %s/r.db --quiet", cli_dir, cli_dir), 0);
    char *metrics = query("r.db", "SELECT count(DISTINCT run_id) FROM metrics");
    ck_assert_str_eq(metrics, "1\n");
    free(metrics);
    ck_assert_int_eq(cli("export --db %s/r.db --table metrics --format csv", cli_dir), 0);
}
END_TEST

/* Every table's rows of run 'id' without run_id and wall-clock columns. */
static char *run_rows(const char *db, int id)
{
    static const char *const selects[] = {
        "SELECT name, mode, scenario_sha256, seed, git_rev, status, check_status, sim_ns,"
        " events, trace_hash, nodes FROM runs WHERE run_id = %d",
        "SELECT key, value FROM params WHERE run_id = %d ORDER BY key",
        "SELECT * FROM nodes WHERE run_id = %d ORDER BY node_id",
        "SELECT fault_index, kind, action, t_ns, nodes_affected, detail FROM faults"
        " WHERE run_id = %d ORDER BY rowid",
        "SELECT t_ns, name, value FROM timeseries WHERE run_id = %d ORDER BY rowid",
        "SELECT * FROM messages WHERE run_id = %d ORDER BY type",
        "SELECT name, value FROM metrics WHERE run_id = %d ORDER BY name",
        "SELECT metric, op, expected, actual, passed FROM expectations WHERE run_id = %d",
        "SELECT * FROM requests WHERE run_id = %d ORDER BY request_id",
        "SELECT * FROM segments WHERE run_id = %d ORDER BY request_id, segment",
        "SELECT * FROM divergence WHERE run_id = %d ORDER BY request_id, class",
    };
    size_t size = 0;
    char *all = NULL;
    FILE *out = open_memstream(&all, &size);
    for (size_t i = 0; i < sizeof(selects) / sizeof(selects[0]); i++) {
        char sql[512];
        snprintf(sql, sizeof(sql), selects[i], id);
        char *rows = query(db, sql);
        /* Tables selected with * start with run_id: drop that first field. */
        for (char *line = strtok(rows, "\n"); line != NULL; line = strtok(NULL, "\n")) {
            bool keyed = i == 2 || i == 5 || i >= 8;
            fprintf(out, "%zu:%s\n", i, keyed ? strchr(line, '|') : line);
        }
        free(rows);
    }
    fclose(out);
    return all;
}

START_TEST(test_cli_same_seed_identical_rows)
{
    write_file("small.yaml", small_yaml);
    ck_assert_int_eq(cli("run %s/small.yaml --db %s/r.db --quiet", cli_dir, cli_dir), 0);
    ck_assert_int_eq(cli("run %s/small.yaml --db %s/r.db --quiet", cli_dir, cli_dir), 0);
    ck_assert_int_eq(cli("run %s/small.yaml --db %s/r.db --quiet --seed 4", cli_dir, cli_dir), 0);
    char *first = run_rows("r.db", 1);
    char *second = run_rows("r.db", 2);
    char *third = run_rows("r.db", 3);
    ck_assert_uint_gt(strlen(first), 10000);
    ck_assert_str_eq(first, second);
    ck_assert_str_ne(first, third);
    char *hashes = query("r.db", "SELECT count(DISTINCT trace_hash), count(DISTINCT "
                                 "scenario_sha256), min(status), max(status) FROM runs");
    ck_assert_str_eq(hashes, "2|1|completed|completed\n");
    free(first);
    free(second);
    free(third);
    free(hashes);
}
END_TEST

static const char inference_yaml[] =
    "name: tiny-serve\n"
    "duration: 10s\n"
    "network: {latency: {model: normal, value: 10ms, stddev: 3ms, min: 1ms}, loss: 0.01}\n"
    "nodes:\n"
    "  count: 30\n"
    "  classes:\n"
    "    - {name: fast, fraction: 0.5, flops: 100TFLOPS, kernel: fma}\n"
    "    - {name: slow, fraction: 0.5, flops: 1TFLOPS, kernel: bf16}\n"
    "model:\n"
    "  shape: {dim: 32, hidden_dim: 96, layers: 3, heads: 4, vocab: 64, seq_len: 32}\n"
    "  segments: [[0, 0], [1, 2]]\n"
    "  wire_dtype: bf16\n"
    "workload: {requests: 20, rate: 5/s, prompt_tokens: [3, 9], generate: 4, timeout: 2s}\n";

START_TEST(test_cli_inference_rows_identical)
{
    write_file("serve.yaml", inference_yaml);
    ck_assert_int_eq(cli("run %s/serve.yaml --db %s/r.db --quiet", cli_dir, cli_dir), 0);
    ck_assert_int_eq(cli("run %s/serve.yaml --db %s/r.db --quiet", cli_dir, cli_dir), 0);
    char *first = run_rows("r.db", 1);
    char *second = run_rows("r.db", 2);
    ck_assert_str_eq(first, second);
    free(first);
    free(second);
    char *rows = query("r.db", "SELECT count(*), sum(status = 'completed') > 15, "
                               "min(prompt_tokens) >= 3, max(prompt_tokens) <= 9 FROM requests "
                               "WHERE run_id = 1");
    ck_assert_str_eq(rows, "20|1|1|1\n");
    free(rows);
    /* Two segments on servers of either class; the divergence table has a
     * row per class for every completed request. */
    rows = query("r.db", "SELECT count(DISTINCT segment), min(flops) > 0, max(layer_count) "
                         "FROM segments WHERE run_id = 1");
    ck_assert_str_eq(rows, "2|1|2\n");
    free(rows);
    rows = query("r.db", "SELECT count(*) = 2 * (SELECT count(*) FROM requests WHERE run_id = 1 "
                         "AND status = 'completed') FROM divergence WHERE run_id = 1");
    ck_assert_str_eq(rows, "1\n");
    free(rows);
}
END_TEST

/* Exact percentiles and units: the stored p50, p95 and p99 of request
 * latency are the nearest-rank values of the stored requests (what SQL finds
 * in the requests table), every metric row names its unit (SCN_METRICS's),
 * and the summary and expectation lines print durations for people, the
 * expectation's actual in the unit its bound was written in. */
START_TEST(test_cli_exact_percentiles_and_units)
{
    char yaml[2048];
    snprintf(yaml, sizeof(yaml), "%s%s", inference_yaml,
             "expect:\n  request_latency_p99: \"<= 60s\"\n  first_token_p50: \"< 500ms\"\n");
    write_file("serve.yaml", yaml);
    ck_assert_int_eq(cli("run %s/serve.yaml --db %s/r.db", cli_dir, cli_dir), 0);
    const char *percentiles[][2] = {
        {"request_latency_p50", "50"},
        {"request_latency_p95", "95"},
        {"request_latency_p99", "99"},
    };
    for (size_t i = 0; i < 3; i++) {
        char sql[1024];
        snprintf(sql, sizeof(sql),
                 "WITH l AS (SELECT finished_ns - submitted_ns AS ns FROM requests"
                 " WHERE run_id = 1 AND status = 'completed')"
                 " SELECT (SELECT ns FROM l ORDER BY ns LIMIT 1 OFFSET"
                 "  (SELECT (count(*) * %s + 99) / 100 - 1 FROM l))"
                 " = (SELECT value FROM metrics WHERE run_id = 1 AND name = '%s'),"
                 " (SELECT count(*) FROM l) > 10",
                 percentiles[i][1], percentiles[i][0]);
        char *rows = query("r.db", sql);
        ck_assert_msg(strcmp(rows, "1|1\n") == 0, "%s: %s", percentiles[i][0], rows);
        free(rows);
    }
    char *rows = query("r.db", "SELECT count(*) > 10, count(unit) = count(*) FROM metrics");
    ck_assert_str_eq(rows, "1|1\n");
    free(rows);
    rows = query("r.db", "SELECT name, unit FROM metrics WHERE run_id = 1 ORDER BY name");
    for (char *line = strtok(rows, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char *bar = strchr(line, '|');
        ck_assert_ptr_nonnull(bar);
        *bar = '\0';
        int m = scn_metric_find(line);
        ck_assert_msg(m >= 0, "unknown metric %s", line);
        ck_assert_str_eq(bar + 1, scn_metrics[m].unit);
    }
    free(rows);

    /* The printed values: what scn_format_* makes of the stored ones. */
    const char *out = read_file("out.txt");
    rows = query("r.db", "SELECT value FROM metrics WHERE run_id = 1 AND name IN "
                         "('request_latency_p50', 'request_latency_p99', 'first_token_p50') "
                         "ORDER BY name");
    double first_token = 0, p50 = 0, p99 = 0;
    ck_assert_int_eq(sscanf(rows, "%lf\n%lf\n%lf", &first_token, &p50, &p99), 3);
    free(rows);
    char text[SCN_FORMAT_MAX], line[256];
    snprintf(line, sizeof(line), "latency    p50 %s ",
             scn_format_value(text, sizeof(text), "ns", p50));
    ck_assert_msg(strstr(out, line) != NULL, "no '%s' in:\n%s", line, out);
    scn_expect bound = {.metric = "request_latency_p99", .cmp = SCN_CMP_LE, .text = "<= 60s"};
    snprintf(line, sizeof(line), "expectation passed: request_latency_p99 <= 60s (actual %s)\n",
             scn_format_expect(text, sizeof(text), &bound, p99));
    ck_assert_msg(strstr(out, line) != NULL, "no '%s' in:\n%s", line, out);
    /* In seconds, as the bound, with three significant digits. */
    char seconds[32];
    ck_assert(p99 >= 0.1e9 && p99 < 9.99e9);
    snprintf(seconds, sizeof(seconds), "%.*f s", p99 >= 0.9995e9 ? 2 : 3, p99 / 1e9);
    ck_assert_str_eq(text, seconds);
    scn_expect first = {.metric = "first_token_p50", .cmp = SCN_CMP_LT, .text = "< 500ms"};
    scn_format_expect(text, sizeof(text), &first, first_token);
    ck_assert_ptr_nonnull(strstr(text, " ms"));
    snprintf(line, sizeof(line), "first_token_p50 < 500ms (actual %s)\n", text);
    ck_assert_msg(strstr(out, line) != NULL, "no '%s' in:\n%s", line, out);
    /* No raw nanoseconds or exponents anywhere in the summary. */
    ck_assert_msg(strstr(out, "e+0") == NULL, "%s", out);
    ck_assert_msg(strstr(out, "0.00M events/s") == NULL, "%s", out);
    ck_assert_msg(strstr(out, " events/s); rows stored in ") != NULL, "%s", out);
}
END_TEST

START_TEST(test_cli_check_names_failed_expectation)
{
    write_file("small.yaml", small_yaml);
    /* Push-only gossip across a partition that never heals cannot deliver
     * to every node: the expectation must fail, and --check must say so. */
    const char *cut = "--set gossip.mode=push --set faults.1.until=100s --set faults.1.at=0s";
    ck_assert_int_eq(cli("run %s/small.yaml --db %s/r.db --quiet --check %s", cli_dir, cli_dir,
                         cut),
                     1);
    const char *err = read_file("err.txt");
    ck_assert_msg(strstr(err, "expectation failed: delivery_ratio >= 0.99") != NULL, "%s", err);
    ck_assert_ptr_nonnull(strstr(err, "reproduce: infersim run"));
    char *rows = query("r.db", "SELECT status, check_status FROM runs");
    ck_assert_str_eq(rows, "completed|failed\n");
    free(rows);
    rows = query("r.db", "SELECT metric, op, passed FROM expectations");
    ck_assert_str_eq(rows, "delivery_ratio|>=|0\n");
    free(rows);
    /* Without --check the outcome is stored but the exit code is 0. */
    ck_assert_int_eq(cli("run %s/small.yaml --db %s/r.db --quiet %s", cli_dir, cli_dir, cut), 0);
}
END_TEST

static double cli_metric(const char *db_name, const char *name)
{
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT value FROM metrics WHERE name = '%s'", name);
    char *text = query(db_name, sql);
    double value = strtod(text, NULL);
    free(text);
    return value;
}

/* workload.until through the binary: scenarios/committee_every_node.yaml
 * stops its arrivals once all 300 nodes have served, well before its
 * 2,000 requests, and says so in params and metrics; every node has an
 * executions row. Held to 100 requests without the rule, its
 * nodes_served expectation fails. */
START_TEST(test_cli_workload_until_all_served)
{
    const char *scenario = "scenarios/committee_every_node.yaml";
    ck_assert_int_eq(cli("run %s --db %s/until.db --quiet --check", scenario, cli_dir), 0);
    char *rows = query("until.db", "SELECT value FROM params WHERE key = 'workload.until'");
    ck_assert_str_eq(rows, "all_served\n");
    free(rows);
    rows = query("until.db", "SELECT count(DISTINCT node_id) FROM executions");
    ck_assert_str_eq(rows, "300\n");
    free(rows);
    rows = query("until.db", "SELECT count(*) < 2000, max(submitted_ns) < 100000000000 "
                             "FROM requests");
    ck_assert_str_eq(rows, "1|1\n");
    free(rows);
    ck_assert_double_eq(cli_metric("until.db", "nodes_served"), 300.0);
    ck_assert_double_gt(cli_metric("until.db", "all_served_ns"), 0.0);
    ck_assert_int_eq(cli("run %s --db %s/fixed.db --quiet --check --set workload.until=requests "
                         "--set workload.requests=100",
                         scenario, cli_dir),
                     1);
    ck_assert_ptr_nonnull(strstr(read_file("err.txt"), "nodes_served == 300"));
    rows = query("fixed.db", "SELECT count(*) FROM params WHERE key = 'workload.until'");
    ck_assert_str_eq(rows, "0\n");
    free(rows);
}
END_TEST

/* Latency routing through the binary: scenarios/inference_routing_latency.yaml
 * passes its own expectations (p50 <= 300 ms, every request, reference
 * tokens); the same scenario with hash routing fails the p50 one. The
 * database holds both p50s and the routing in the params table, and a
 * second run stores the same trace. */

START_TEST(test_cli_routing_latency_beats_hash)
{
    const char *scenario = "scenarios/inference_routing_latency.yaml";
    ck_assert_int_eq(cli("run %s --db %s/lat.db --quiet --check", scenario, cli_dir), 0);
    ck_assert_int_eq(cli("run %s --db %s/hash.db --quiet --check --set workload.routing=hash",
                         scenario, cli_dir),
                     1);
    ck_assert_ptr_nonnull(strstr(read_file("err.txt"), "request_latency_p50 <= 300ms"));
    ck_assert_int_eq(cli("run %s --db %s/lat2.db --quiet", scenario, cli_dir), 0);
    double p50_latency = cli_metric("lat.db", "request_latency_p50");
    double p50_hash = cli_metric("hash.db", "request_latency_p50");
    ck_assert_double_gt(p50_latency, 0.0);
    ck_assert_double_lt(p50_latency * 3.0, p50_hash);
    ck_assert_double_eq(cli_metric("lat.db", "reference_match_ratio"), 1.0);
    ck_assert_double_eq(cli_metric("hash.db", "reference_match_ratio"), 1.0);
    char *rows = query("lat.db", "SELECT key, value FROM params WHERE key LIKE 'workload.rout%' "
                                 "ORDER BY key");
    ck_assert_str_eq(rows, "workload.routing|latency\nworkload.routing_choices|3\n");
    free(rows);
    rows = query("hash.db", "SELECT count(*) FROM params WHERE key LIKE 'workload.rout%'");
    ck_assert_str_eq(rows, "0\n");
    free(rows);
    char *first = query("lat.db", "SELECT trace_hash FROM runs");
    char *second = query("lat2.db", "SELECT trace_hash FROM runs");
    ck_assert_str_eq(first, second);
    free(first);
    free(second);
}
END_TEST

/* Starts a long run in the background and waits until its row says
 * 'running'. Returns the child's pid. */
/* Starts "infersim run SCENARIO --db DB --quiet" (files of the test
 * directory) in a child process, its output thrown away. */
static pid_t start_run(const char *scenario_name, const char *db_name)
{
    char scenario[512], db[512];
    cli_path(scenario, sizeof(scenario), scenario_name);
    cli_path(db, sizeof(db), db_name);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        execl(test_infersim_bin(), "infersim", "run", scenario, "--db", db, "--quiet",
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* As start_long_run, with samples every 'sample_interval'. */
static pid_t start_long_run_sampled(const char *sample_interval)
{
    char db[512], yaml[512];
    snprintf(yaml, sizeof(yaml),
             "name: long\nduration: 10000s\nnodes: {count: 2000}\n"
             "gossip: {mode: pushpull, pull_interval: 10ms}\n"
             "workload: {messages: 100000, rate: 1/s}\n"
             "expect: {delivery_ratio: \">= 0\"}\n"
             "output: {sample_interval: %s}\n",
             sample_interval);
    write_file("long.yaml", yaml);
    cli_path(db, sizeof(db), "r.db");
    pid_t pid = start_run("long.yaml", "r.db");
    for (int i = 0; i < 600; i++) {
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
        if (access(db, F_OK) == 0) {
            /* The file may exist before its schema does: not running yet. */
            char *rows = query_try("r.db", "SELECT status FROM runs");
            int running = rows != NULL && strcmp(rows, "running\n") == 0;
            free(rows);
            if (running) {
                nanosleep(&pause, NULL);
                return pid;
            }
        }
    }
    kill(pid, SIGKILL);
    ck_abort_msg("the run never showed up as running");
    return -1;
}

static pid_t start_long_run(void)
{
    return start_long_run_sampled("100ms");
}

START_TEST(test_cli_sigint_marks_run_aborted)
{
    int status = 0;
    pid_t pid = start_long_run();
    kill(pid, SIGINT);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 128 + SIGINT);
    char *rows = query("r.db", "SELECT status, events > 0, finished_at IS NOT NULL FROM runs");
    ck_assert_str_eq(rows, "aborted|1|1\n");
    free(rows);
    /* Stopped early: no verdict, no expectation rows. */
    rows = query("r.db", "SELECT check_status IS NULL, (SELECT count(*) FROM expectations) "
                         "FROM runs");
    ck_assert_str_eq(rows, "1|0\n");
    free(rows);
    ck_assert_int_eq(cli("runs --db %s/r.db", cli_dir), 0);
    ck_assert_ptr_nonnull(strstr(read_file("out.txt"), "aborted"));
}
END_TEST

/* A run that spends most of its time storing rows (300,000 nodes rows)
 * is sent SIGINT at five points of its wall time, measured first without
 * one: each time, the file says what the exit code says (130 and
 * 'aborted', or 0 and 'completed'); a signal while the rows were stored
 * used to leave 'completed' behind a "marked aborted" message. */
START_TEST(test_cli_sigint_while_storing_agrees)
{
    write_file("store.yaml", "name: store\nduration: 150ms\nnodes: {count: 300000}\n"
                             "gossip: {mode: push, fanout: 2}\n"
                             "workload: {messages: 1, rate: 100/s, start: 100ms}\n"
                             "output: {sample_interval: 0}\n");
    int status = 0;
    double start = test_monotonic_s();
    pid_t pid = start_run("store.yaml", "whole.db");
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    double whole_s = test_monotonic_s() - start;
    int storing = 0;
    for (int i = 0; i < 5; i++) {
        char db[32];
        snprintf(db, sizeof(db), "s%d.db", i);
        pid = start_run("store.yaml", db);
        double wait_s = (0.45 + 0.12 * i) * whole_s;
        struct timespec pause = {(time_t)wait_s, (long)((wait_s - (double)(time_t)wait_s) * 1e9)};
        nanosleep(&pause, NULL);
        kill(pid, SIGINT);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        char *rows = query(db, "SELECT status || '|' || coalesce(error, '') FROM runs");
        if (WEXITSTATUS(status) == 0) {
            ck_assert_str_eq(rows, "completed|\n");
        } else {
            ck_assert_int_eq(WEXITSTATUS(status), 128 + SIGINT);
            ck_assert_msg(strncmp(rows, "aborted|interrupted by signal", 29) == 0, "%s", rows);
            storing += strstr(rows, "while storing rows") != NULL;
        }
        free(rows);
    }
    printf("signal while storing: %d of 5 signals came while the rows were stored\n", storing);
}
END_TEST

/* Two runs into one results file at once, as a shell loop with '&' does:
 * a short run stores itself completely while a long one is simulating.
 * The long run used to hold the file's write lock from its first sample
 * to its end, and the other failed after 5 s with "database is locked". */
START_TEST(test_cli_runs_share_a_results_file)
{
    int status = 0;
    pid_t pid = start_long_run();
    write_file("small.yaml", small_yaml);
    int rc = cli("run %s/small.yaml --db %s/r.db --quiet", cli_dir, cli_dir);
    char *rows = query("r.db", "SELECT run_id, status FROM runs ORDER BY run_id");
    /* The long run's process is alive: listed as running, not incomplete,
     * and a merge leaves it for later instead of copying it as failed. */
    int listed = cli("runs --db %s/r.db", cli_dir);
    char *listing = strdup(read_file("out.txt"));
    int merged = cli("merge %s/out.db %s/r.db", cli_dir, cli_dir);
    char *merge_said = strdup(read_file("out.txt"));
    kill(pid, SIGINT);
    ck_assert_int_eq(listed, 0);
    ck_assert_msg(strstr(listing, " running ") != NULL && strstr(listing, "incomplete") == NULL,
                  "%s", listing);
    ck_assert_int_eq(merged, 0);
    ck_assert_msg(strstr(merge_said, "1 run copied") != NULL &&
                      strstr(merge_said, "1 still running (not copied") != NULL,
                  "%s", merge_said);
    free(listing);
    free(merge_said);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(rc == 0, "the second run: exit %d: %s", rc, read_file("err.txt"));
    ck_assert_str_eq(rows, "1|running\n2|completed\n");
    free(rows);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGINT);
    rows = query("r.db", "SELECT run_id, status, (SELECT count(*) FROM timeseries t "
                         "WHERE t.run_id = r.run_id) > 0 FROM runs r ORDER BY run_id");
    ck_assert_str_eq(rows, "1|aborted|1\n2|completed|1\n");
    free(rows);
    /* Ended, it is merged once, as it ended. */
    ck_assert_int_eq(cli("merge %s/out.db %s/r.db", cli_dir, cli_dir), 0);
    rows = query("out.db", "SELECT name, status FROM runs ORDER BY run_id");
    ck_assert_str_eq(rows, "small|completed\nlong|aborted\n");
    free(rows);
}
END_TEST

/* Ctrl-C while a run waits for another process's lock (up to 10 minutes)
 * ends the wait. Samples every 1 ms fill the run's buffer at once, so its
 * simulation waits for the lock this test holds: the first signal ends
 * that wait and stops the simulation, whose rows then wait to be stored;
 * the second signal ends that wait too. */
START_TEST(test_cli_sigint_ends_a_wait_for_the_lock)
{
    int status = 0;
    char path[512];
    pid_t pid = start_long_run_sampled("1ms");
    cli_path(path, sizeof(path), "r.db");
    sqlite3 *holder = NULL;
    ck_assert_int_eq(sqlite3_open(path, &holder), SQLITE_OK);
    sqlite3_busy_timeout(holder, 5000);
    ck_assert_int_eq(sqlite3_exec(holder, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    struct timespec pause = {1, 0};
    nanosleep(&pause, NULL); /* its samples fill the buffer, which waits for the lock */
    kill(pid, SIGINT);
    nanosleep(&pause, NULL);
    ck_assert_int_eq(waitpid(pid, &status, WNOHANG), 0); /* still waiting */
    double start = test_monotonic_s();
    kill(pid, SIGINT);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    double waited_s = test_monotonic_s() - start;
    sqlite3_exec(holder, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(holder);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 128 + SIGINT);
    ck_assert_msg(waited_s < 3.0, "exited %.1f s after the second signal", waited_s);
    char *rows = query("r.db", "SELECT status FROM runs");
    ck_assert_str_eq(rows, "running\n");   /* never marked: shown as incomplete */
    free(rows);
}
END_TEST

START_TEST(test_cli_killed_run_shows_incomplete)
{
    int status = 0;
    pid_t pid = start_long_run();
    kill(pid, SIGKILL);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(cli("runs --db %s/r.db", cli_dir), 0);
    ck_assert_msg(strstr(read_file("out.txt"), "incomplete") != NULL, "%s",
                  read_file("out.txt"));
}
END_TEST

START_TEST(test_cli_export_matches_database)
{
    write_file("small.yaml", small_yaml);
    ck_assert_int_eq(cli("run %s/small.yaml --db %s/r.db --quiet", cli_dir, cli_dir), 0);
    char *hash = query("r.db", "SELECT trace_hash FROM runs");
    hash[strcspn(hash, "\n")] = '\0';
    ck_assert_int_eq(cli("export --db %s/r.db --table runs --format jsonl", cli_dir), 0);
    ck_assert_ptr_nonnull(strstr(read_file("out.txt"), hash));
    ck_assert_int_eq(cli("export --db %s/r.db --table nodes --run 1 --format csv", cli_dir), 0);
    const char *csv = read_file("out.txt");
    size_t lines = 0;
    for (const char *c = csv; *c != '\0'; c++) {
        lines += *c == '\n';
    }
    ck_assert_uint_eq(lines, 301); /* header + 300 nodes */
    ck_assert_int_eq(cli("export --db %s/r.db --table nope", cli_dir), 2);
    ck_assert_int_eq(cli("export --db %s/r.db --table runs --run 99", cli_dir), 2);
    ck_assert_int_eq(cli("export --db %s/none.db --table runs", cli_dir), 2);
    free(hash);
}
END_TEST

/* The verification scenarios are cheap: CI runs them over several seeds,
 * so an expectation that holds for one draw only is caught. */
static bool library_many_seeds(const char *name)
{
    static const char *const prefixes[] = {"committee_", "cartel_",    "forger_",  "silent_",
                                           "lazy_",      "sybil_",     "adaptive_",
                                           "substituted_", "equivocation", "compare_",
                                           "sampling_",  "crossval_",  "optimistic_", "tee_",
                                           "zk_",        "rational_"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0) {
            return true;
        }
    }
    return false;
}

static void library_run(const char *name)
{
    /* Under the sanitizers (ten times slower) the library is validated
     * only; the plain `make test` runs every scenario for real. */
    if (getenv("INFERSIM_SANITIZE") != NULL) {
        int code = cli("validate scenarios/%s", name);
        ck_assert_msg(code == 0, "scenarios/%s: %s", name, read_file("err.txt"));
        return;
    }
    static const unsigned long long seeds[] = {0, 101, 202};
    size_t runs = library_many_seeds(name) ? 3 : 1;
    for (size_t i = 0; i < runs; i++) {
        char seed[32] = "";
        if (seeds[i] != 0) {
            snprintf(seed, sizeof(seed), "--seed %llu", seeds[i]);
        }
        int code = cli("run scenarios/%s --db %s/lib.db --quiet --check %s", name, cli_dir, seed);
        ck_assert_msg(code == 0, "scenarios/%s %s exited %d: %s", name, seed, code,
                      read_file("err.txt"));
    }
}

/* Every scenario of the library runs and passes its own expectations. */
START_TEST(test_cli_scenario_library_passes)
{
    DIR *dir = opendir("scenarios");
    struct dirent *entry;
    int count = 0;
    ck_assert_ptr_nonnull(dir);
    while ((entry = readdir(dir)) != NULL) {
        size_t length = strlen(entry->d_name);
        if (length < 6 || strcmp(entry->d_name + length - 5, ".yaml") != 0) {
            continue;
        }
        library_run(entry->d_name);
        count += 1;
    }
    closedir(dir);
    ck_assert_int_ge(count, 12);
}
END_TEST

/* ---- vocabularies through the database ----
 * Every fault kind (and each mode of wrong_output) run through the binary:
 * the faults table names the kind as scenarios write it, and the nodes
 * table names the behaviour the fault gave its nodes, never 'unknown'. */

typedef struct vocab_case {
    scn_fault_kind kind;
    const char *keys;                /* the fault's own keys */
    const char *protocol;            /* verification written for it */
    const char *behaviour;           /* nodes.behaviour of the selected nodes */
} vocab_case;

static const vocab_case vocab_cases[] = {
    {SCN_FAULT_CRASH, "nodes: {ids: [1]}", "committee", "honest"},
    {SCN_FAULT_PARTITION, "shape: halves", "committee", "honest"},
    {SCN_FAULT_LOSS, "probability: 0.1, nodes: {ids: [1]}", "committee", "honest"},
    {SCN_FAULT_DUPLICATE, "probability: 0.1, nodes: {ids: [1]}", "committee", "honest"},
    {SCN_FAULT_REORDER, "probability: 0.1, delay: 5ms, nodes: {ids: [1]}", "committee",
     "honest"},
    {SCN_FAULT_CORRUPT, "probability: 0.1, nodes: {ids: [1]}", "committee", "honest"},
    {SCN_FAULT_DELAY, "delay: 5ms, nodes: {ids: [1]}", "committee", "honest"},
    {SCN_FAULT_WRONG_OUTPUT, "nodes: {ids: [1]}", "committee", "wrong_output"},
    {SCN_FAULT_WRONG_OUTPUT, "mode: model, nodes: {ids: [1]}", "committee", "wrong_model"},
    {SCN_FAULT_WRONG_OUTPUT, "mode: layer, nodes: {ids: [1]}", "committee", "wrong_layer"},
    {SCN_FAULT_COLLUDE, "nodes: {ids: [1]}", "committee", "collude"},
    {SCN_FAULT_LAZY_COPY, "nodes: {ids: [1]}", "committee", "lazy_copy"},
    {SCN_FAULT_SILENT, "nodes: {ids: [1]}", "committee", "silent"},
    {SCN_FAULT_SYBIL, "nodes: {ids: [1]}", "committee", "sybil"},
    /* An adaptive node shows what the adversary made of it once drawn. */
    {SCN_FAULT_ADAPTIVE, "nodes: {all: true}", "committee", "collude"},
    {SCN_FAULT_EQUIVOCATE, "nodes: {ids: [1]}", "committee", "equivocate"},
    {SCN_FAULT_FORGE_ATTESTATION, "nodes: {ids: [1]}", "tee", "forge_attestation"},
    {SCN_FAULT_SIDE_CHANNEL, "nodes: {ids: [1]}", "tee", "side_channel"},
    {SCN_FAULT_CURIOUS, "nodes: {ids: [1]}", "committee", "curious"},
    {SCN_FAULT_FORGED_TICKET, "nodes: {ids: [1]}", "committee, selection: vrf", "forged_ticket"},
    {SCN_FAULT_FRAME, "nodes: {ids: [1]}", "committee", "frame"},
};

START_TEST(test_cli_every_fault_and_behaviour_round_trips)
{
    const vocab_case *c = &vocab_cases[_i];
    const char *kind = scn_fault_kinds[c->kind].name;
    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             "name: vocab\nseed: 3\nduration: 3s\n"
             "nodes:\n  count: 12\n"
             "  classes: [{name: cpu, fraction: 1.0, flops: 2TFLOPS, tee: true}]\n"
             "model:\n  shape: {dim: 16, hidden_dim: 32, layers: 2, heads: 2, vocab: 32, "
             "seq_len: 32}\n  segments: 2\n"
             "verification: {protocol: %s}\n"
             "workload: {requests: 6, rate: 6/s, prompt_tokens: [3, 5], generate: 2}\n"
             "faults:\n  - {kind: %s, at: 100ms, until: 2s, %s}\n",
             c->protocol, kind, c->keys);
    write_file("vocab.yaml", yaml);
    int code = cli("run %s/vocab.yaml --db %s/v.db --quiet", cli_dir, cli_dir);
    ck_assert_msg(code == 0, "%s: exit %d: %s", kind, code, read_file("err.txt"));
    char *rows = query("v.db", "SELECT group_concat(DISTINCT kind) FROM faults");
    char expected[128];
    snprintf(expected, sizeof(expected), "%s\n", kind);
    ck_assert_str_eq(rows, expected);
    free(rows);
    rows = query("v.db", "SELECT group_concat(DISTINCT behaviour) FROM "
                         "(SELECT behaviour FROM nodes ORDER BY behaviour = 'honest')");
    bool honest_only = strcmp(c->behaviour, "honest") == 0;
    snprintf(expected, sizeof(expected), "%s%s\n", c->behaviour, honest_only ? "" : ",honest");
    if (c->kind == SCN_FAULT_ADAPTIVE && strcmp(rows, "collude\n") == 0) {
        snprintf(expected, sizeof(expected), "collude\n"); /* every node was drawn */
    }
    ck_assert_msg(strcmp(rows, expected) == 0, "%s: nodes.behaviour %s, expected %s", kind, rows,
                  expected);
    free(rows);
}
END_TEST

/* Every fault kind, behaviour and metric is in the documentation users read. */
START_TEST(test_cli_docs_name_every_fault_and_behaviour)
{
    /* Tests run from the root of the source tree. */
    char *scenarios = strdup(test_dir_read(".", "scenarios/README.md"));
    char *metrics = strdup(test_dir_read(".", "metrics/README.md"));
    ck_assert(scenarios != NULL && scenarios[0] != '\0');
    ck_assert(metrics != NULL && metrics[0] != '\0');
    for (uint32_t k = 0; k < SCN_FAULT_KIND_COUNT; k++) {
        char quoted[80];
        snprintf(quoted, sizeof(quoted), "`%s`", scn_fault_kinds[k].name);
        ck_assert_msg(strstr(scenarios, quoted) != NULL, "scenarios/README.md lacks %s", quoted);
    }
    for (uint32_t b = 0; b < NODE_BEHAVIOUR_COUNT; b++) {
        char quoted[80];
        snprintf(quoted, sizeof(quoted), "`%s`", node_behaviours[b].name);
        ck_assert_msg(strstr(metrics, quoted) != NULL, "metrics/README.md lacks %s", quoted);
    }
    /* Every metric has a row of the metrics table with its unit. */
    for (int m = 0; m < SCN_METRIC_COUNT; m++) {
        char row[160];
        snprintf(row, sizeof(row), "| `%s` | %s |", scn_metrics[m].name, scn_metrics[m].unit);
        ck_assert_msg(strstr(metrics, row) != NULL, "metrics/README.md lacks the row %s", row);
    }
    free(scenarios);
    free(metrics);
}
END_TEST

Suite *test_cli_suite(void)
{
    Suite *suite = suite_create("cli");
    TCase *basics = tcase_create("basics");
    tcase_add_checked_fixture(basics, cli_setup, cli_teardown);
    tcase_set_timeout(basics, 120);
    tcase_add_test(basics, test_cli_help_every_subcommand);
    tcase_add_test(basics, test_cli_options_conventions);
    tcase_add_test(basics, test_cli_install_man_completion);
    tcase_add_test(basics, test_cli_git_rev_marks_dirty);
    tcase_add_test(basics, test_cli_bad_scenario_writes_nothing);
    tcase_add_test(basics, test_cli_seen_sets_beyond_memory_refused);
    tcase_add_test(basics, test_cli_hand_changed_database);
    tcase_add_test(basics, test_cli_same_seed_identical_rows);
    tcase_add_test(basics, test_cli_check_names_failed_expectation);
    tcase_add_test(basics, test_cli_routing_latency_beats_hash);
    tcase_add_test(basics, test_cli_workload_until_all_served);
    tcase_add_test(basics, test_cli_export_matches_database);
    tcase_add_test(basics, test_cli_inference_rows_identical);
    tcase_add_test(basics, test_cli_exact_percentiles_and_units);
    tcase_add_test(basics, test_cli_compare_protocols);
    tcase_add_test(basics, test_cli_floor_penalties_as_predicted);
    tcase_add_test(basics, test_cli_decisions_one_row_per_member);
    tcase_add_test(basics, test_cli_decisions_key_off);
    tcase_add_test(basics, test_cli_decisions_crossval_spot_check_rate);
    tcase_add_test(basics, test_cli_docs_name_every_fault_and_behaviour);
    tcase_add_loop_test(basics, test_cli_every_fault_and_behaviour_round_trips, 0,
                        (int)(sizeof(vocab_cases) / sizeof(vocab_cases[0])));
    suite_add_tcase(suite, basics);
    TCase *signals = tcase_create("signals");
    tcase_add_checked_fixture(signals, cli_setup, cli_teardown);
    tcase_set_timeout(signals, 120);
    tcase_add_test(signals, test_cli_sigint_marks_run_aborted);
    tcase_add_test(signals, test_cli_sigint_while_storing_agrees);
    tcase_add_test(signals, test_cli_runs_share_a_results_file);
    tcase_add_test(signals, test_cli_sigint_ends_a_wait_for_the_lock);
    tcase_add_test(signals, test_cli_killed_run_shows_incomplete);
    suite_add_tcase(suite, signals);
    TCase *library = tcase_create("library");
    tcase_add_checked_fixture(library, cli_setup, cli_teardown);
    tcase_set_timeout(library, 900);
    tcase_add_test(library, test_cli_scenario_library_passes);
    suite_add_tcase(suite, library);
    return suite;
}
