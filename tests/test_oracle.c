/* test_oracle.c -- the worker pool (util/workers.h) and the oracle on it
 * (world/world_oracle.c): jobs run on every thread count and their results
 * are the caller's after a wait; a run's trace and every result the oracle
 * writes are the same for --threads 1, 2 and 7; output.divergence_sample
 * measures divergence on a deterministic share of requests while the
 * checkers stay exact; a cache hit gives the bits a recomputation gives,
 * and so does a member's call copied from another member's;
 * committee draws cut into slices on the pool (world_draw.c) choose the
 * committee a single slice chooses, and write the same rows; tree and race
 * draws in a world follow the ledger's moves (world_held.c). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "scenarios/scn.h"
#include "sim/sim.h"
#include "tests/suites.h"
#include "util/hash.h"
#include "util/prng.h"
#include "util/workers.h"
#include "world/world_int.h"

/* ---- the pool ---- */

typedef struct square_job {
    util_job job;                    /* first */
    uint64_t input;
    uint64_t output;
    uint32_t thread_index;
} square_job;

static void square_run(util_job *base, uint32_t thread_index)
{
    square_job *job = (square_job *)base;
    uint64_t value = job->input;
    for (int i = 0; i < 1000; i++) {
        value = value * 6364136223846793005ull + 1442695040888963407ull;
    }
    job->output = value;
    job->thread_index = thread_index;
}

static uint64_t square_expected(uint64_t input)
{
    square_job job = {.input = input};
    square_run(&job.job, 0);
    return job.output;
}

/* Every job runs once, on a thread index below the pool's size, and its
 * output is visible after the wait, whatever order the waits come in. */
START_TEST(test_oracle_workers_run_every_job)
{
    static const uint32_t sizes[] = {0, 1, 2, 7};
    enum { JOBS = 200 };
    for (size_t n = 0; n < sizeof(sizes) / sizeof(sizes[0]); n++) {
        util_workers *workers = NULL;
        ck_assert_int_eq(util_workers_create(sizes[n], &workers), 0);
        uint32_t threads = util_workers_threads(workers);
        ck_assert_uint_eq(threads, sizes[n] == 0 ? 1 : sizes[n]);
        square_job *jobs = calloc(JOBS, sizeof(*jobs));
        ck_assert_ptr_nonnull(jobs);
        for (uint32_t i = 0; i < JOBS; i++) {
            jobs[i].job.run = square_run;
            jobs[i].input = i;
            jobs[i].thread_index = UINT32_MAX;
            util_workers_submit(workers, &jobs[i].job);
        }
        for (uint32_t i = JOBS; i-- > 0;) {
            util_workers_wait(workers, &jobs[i].job);
            ck_assert(util_workers_done(workers, &jobs[i].job));
            ck_assert_uint_eq(jobs[i].output, square_expected(i));
            ck_assert_uint_lt(jobs[i].thread_index, threads);
        }
        free(jobs);
        util_workers_destroy(workers);
    }
}
END_TEST

/* Without worker threads a job runs inside submit: the inline order. */
START_TEST(test_oracle_workers_one_thread_runs_at_submit)
{
    util_workers *workers = NULL;
    ck_assert_int_eq(util_workers_create(1, &workers), 0);
    square_job job = {.job = {.run = square_run}, .input = 9, .thread_index = UINT32_MAX};
    util_workers_submit(workers, &job.job);
    ck_assert_uint_eq(job.thread_index, 0);
    ck_assert_uint_eq(job.output, square_expected(9));
    ck_assert(util_workers_done(workers, &job.job));
    util_workers_wait(workers, &job.job);
    util_workers_destroy(workers);
}
END_TEST

/* Destroying a pool with jobs still queued runs them first. */
START_TEST(test_oracle_workers_destroy_drains)
{
    util_workers *workers = NULL;
    ck_assert_int_eq(util_workers_create(3, &workers), 0);
    square_job jobs[50];
    memset(jobs, 0, sizeof(jobs));
    for (uint32_t i = 0; i < 50; i++) {
        jobs[i].job.run = square_run;
        jobs[i].input = 1000 + i;
        util_workers_submit(workers, &jobs[i].job);
    }
    util_workers_destroy(workers);
    for (uint32_t i = 0; i < 50; i++) {
        ck_assert_uint_eq(jobs[i].output, square_expected(1000 + i));
    }
}
END_TEST

/* A tenth of a millisecond's sleep, for the loops that watch a worker. */
static void workers_pause(void)
{
    struct timespec pause = {0, 100000};
    nanosleep(&pause, NULL);
}

/* Returns once a job has set its 'started' flag: a worker has it. */
static void workers_await_start(const volatile int *started)
{
    while (!__atomic_load_n(started, __ATOMIC_SEQ_CST)) {
        workers_pause();
    }
}

/* A job that sleeps, then says it ended; or one that notes, when it
 * starts, whether the sleeper had ended. */
typedef struct ordered_job {
    util_job job;
    struct ordered_job *sleeper;
    volatile int started;
    volatile int ended;
    int sleeper_ended_at_start;
} ordered_job;

static void ordered_run(util_job *base, uint32_t thread_index)
{
    (void)thread_index;
    ordered_job *job = (ordered_job *)base;
    job->started = 1;
    if (job->sleeper == NULL) {
        struct timespec pause = {0, 50000000};
        nanosleep(&pause, NULL);
    } else {
        job->sleeper_ended_at_start = job->sleeper->ended;
    }
    __atomic_store_n(&job->ended, 1, __ATOMIC_SEQ_CST);
}

/* A caller waiting for a short job that a worker runs does not take up a
 * queued longer one meanwhile (util_job.cost): that one starts only once
 * the short one has ended. Without the rule the waiting caller runs it at
 * once, while the short one still sleeps. */
START_TEST(test_oracle_workers_wait_skips_longer_jobs)
{
    util_workers *workers = NULL;
    ck_assert_int_eq(util_workers_create(2, &workers), 0);
    ordered_job short_job = {.job = {.run = ordered_run, .cost = 1}};
    ordered_job long_job = {.job = {.run = ordered_run, .cost = 100}, .sleeper = &short_job};
    util_workers_submit(workers, &short_job.job);
    workers_await_start(&short_job.started);
    util_workers_submit(workers, &long_job.job);
    util_workers_wait(workers, &short_job.job);
    util_workers_wait(workers, &long_job.job);
    ck_assert_int_eq(long_job.sleeper_ended_at_start, 1);
    util_workers_destroy(workers);
}
END_TEST

/* A job that holds its thread until released, and notes the order in
 * which jobs started. */
typedef struct gate_job {
    util_job job;
    volatile int *open;          /* NULL: do not wait */
    volatile int *next_start;    /* the start counter all share */
    volatile int started_at;     /* 1-based; 0 = not started */
} gate_job;

static void gate_run(util_job *base, uint32_t thread_index)
{
    (void)thread_index;
    gate_job *job = (gate_job *)base;
    job->started_at = __atomic_add_fetch(job->next_start, 1, __ATOMIC_SEQ_CST);
    while (job->open != NULL && !__atomic_load_n(job->open, __ATOMIC_SEQ_CST)) {
        workers_pause();
    }
}

/* A job queued first is the next one a worker that comes free takes,
 * ahead of one queued before it. */
START_TEST(test_oracle_workers_first_jumps_the_queue)
{
    util_workers *workers = NULL;
    ck_assert_int_eq(util_workers_create(2, &workers), 0);
    volatile int open = 0, next_start = 0;
    gate_job blocker = {.job = {.run = gate_run}, .open = &open, .next_start = &next_start};
    gate_job older = {.job = {.run = gate_run}, .next_start = &next_start};
    gate_job urgent = {.job = {.run = gate_run}, .next_start = &next_start};
    util_workers_submit(workers, &blocker.job);
    workers_await_start(&blocker.started_at);
    util_workers_submit(workers, &older.job);
    util_workers_submit_first(workers, &urgent.job);
    __atomic_store_n(&open, 1, __ATOMIC_SEQ_CST);
    while (!util_workers_done(workers, &older.job)) {
        workers_pause(); /* the worker runs both, the caller neither */
    }
    ck_assert_int_eq(urgent.started_at, 2);
    ck_assert_int_eq(older.started_at, 3);
    util_workers_wait(workers, &blocker.job);
    util_workers_wait(workers, &urgent.job);
    util_workers_wait(workers, &older.job);
    util_workers_destroy(workers);
}
END_TEST

/* A caller waiting for a job queued first, which a worker runs, does not
 * take up a job queued the usual way meanwhile, whatever its size: that
 * one starts only once the awaited one has ended. */
START_TEST(test_oracle_workers_first_wait_helps_only_first)
{
    util_workers *workers = NULL;
    ck_assert_int_eq(util_workers_create(2, &workers), 0);
    ordered_job urgent = {.job = {.run = ordered_run}};
    ordered_job other = {.job = {.run = ordered_run}, .sleeper = &urgent};
    util_workers_submit_first(workers, &urgent.job);
    workers_await_start(&urgent.started);
    util_workers_submit(workers, &other.job);
    util_workers_wait(workers, &urgent.job);
    util_workers_wait(workers, &other.job);
    ck_assert_int_eq(other.sleeper_ended_at_start, 1);
    util_workers_destroy(workers);
}
END_TEST

/* ---- the oracle on the pool ---- */

static void assert_same_double(double a, double b)
{
    ck_assert_msg(memcmp(&a, &b, sizeof(a)) == 0, "%.17g != %.17g", a, b);
}

static void assert_same_violations(const world_result *a, const world_result *b);

/* Everything the oracle and the checkers write, field by field. */
static void assert_same_judgements(const world_result *a, const world_result *b)
{
    ck_assert_uint_eq(a->trace_hash, b->trace_hash);
    ck_assert_uint_eq(a->events, b->events);
    ck_assert_uint_eq(a->request_count, b->request_count);
    ck_assert_uint_eq(a->native_flops, b->native_flops);
    ck_assert_uint_eq(a->accepted_wrong, b->accepted_wrong);
    ck_assert_uint_eq(a->honest_penalised, b->honest_penalised);
    for (uint64_t r = 0; r < a->request_count; r++) {
        const world_request_record *x = &a->requests[r];
        const world_request_record *y = &b->requests[r];
        ck_assert_int_eq(x->compared, y->compared);
        ck_assert_int_eq(x->reference_match, y->reference_match);
        ck_assert_int_eq(x->divergence_sampled, y->divergence_sampled);
        ck_assert_int_eq(x->accepted_wrong, y->accepted_wrong);
        assert_same_double(x->argmax_agree, y->argmax_agree);
        assert_same_double(x->logits_maxabs, y->logits_maxabs);
        assert_same_double(x->logits_cosine, y->logits_cosine);
    }
    size_t divergence = a->request_count * INFER_KERNEL_COUNT * sizeof(*a->divergence);
    ck_assert(memcmp(a->divergence, b->divergence, divergence) == 0);
    assert_same_violations(a, b);
}

/* Field by field: a violation has padding, which memcmp would read. */
static void assert_same_violations(const world_result *a, const world_result *b)
{
    ck_assert_uint_eq(a->violation_count, b->violation_count);
    for (uint64_t i = 0; i < a->violation_count; i++) {
        const world_violation *x = &a->violations[i];
        const world_violation *y = &b->violations[i];
        ck_assert_int_eq(x->kind, y->kind);
        ck_assert_uint_eq(x->t_ns, y->t_ns);
        ck_assert_uint_eq(x->request, y->request);
        ck_assert_uint_eq(x->segment, y->segment);
        ck_assert_uint_eq(x->node_id, y->node_id);
        ck_assert_uint_eq(x->step, y->step);
    }
}

/* The same rows for 1, 2 and 7 threads: an honest network of four kernel
 * variants, a committee with colluders (both checkers fire, and their
 * violations interleave), and a lossy int8 wire. */
START_TEST(test_oracle_threads_same_results)
{
    static const char *const files[] = {"scenarios/default.yaml",
                                        "scenarios/compare_committee.yaml",
                                        "scenarios/inference_wire_int8.yaml"};
    static const char *const shorter[] = {"workload.requests=40"};
    const char *path = files[_i];
    size_t overrides = _i == 0 ? 1 : 0;
    world_result *one = test_sim_run_file(path, shorter, overrides, 1);
    world_result *two = test_sim_run_file(path, shorter, overrides, 2);
    world_result *seven = test_sim_run_file(path, shorter, overrides, 7);
    ck_assert_uint_gt(one->requests_completed, 0);
    if (_i == 1) {
        /* The checkers must be seen to fire for the order to mean anything. */
        ck_assert_uint_gt(one->accepted_wrong, 0);
        ck_assert_uint_gt(one->honest_penalised, 0);
    }
    assert_same_judgements(one, two);
    assert_same_judgements(one, seven);
    world_result_destroy(one);
    world_result_destroy(two);
    world_result_destroy(seven);
}
END_TEST

/* A sample of the requests has its divergence measured, the same sample
 * for every thread count; those rows are the full run's, and the checkers
 * (accepted_wrong and every violation) do not move. */
START_TEST(test_oracle_divergence_sample_keeps_checkers_exact)
{
    static const char *const half[] = {"output.divergence_sample=0.5"};
    const char *path = "scenarios/compare_committee.yaml";
    world_result *full = test_sim_run_file(path, NULL, 0, 1);
    world_result *sampled = test_sim_run_file(path, half, 1, 1);
    world_result *sampled_threads = test_sim_run_file(path, half, 1, 7);
    assert_same_judgements(sampled, sampled_threads);
    ck_assert_uint_eq(full->trace_hash, sampled->trace_hash);
    ck_assert_uint_eq(full->accepted_wrong, sampled->accepted_wrong);
    ck_assert_uint_gt(sampled->accepted_wrong, 0);
    assert_same_violations(full, sampled);
    uint64_t in = 0, out = 0;
    for (uint64_t r = 0; r < full->request_count; r++) {
        const world_request_record *record = &sampled->requests[r];
        if (!record->compared) {
            continue;
        }
        ck_assert_int_eq(record->reference_match, full->requests[r].reference_match);
        assert_same_double(record->logits_maxabs, full->requests[r].logits_maxabs);
        if (record->divergence_sampled) {
            in += 1;
            ck_assert(memcmp(&sampled->divergence[r * INFER_KERNEL_COUNT],
                             &full->divergence[r * INFER_KERNEL_COUNT],
                             INFER_KERNEL_COUNT * sizeof(*full->divergence)) == 0);
        } else {
            out += 1;
        }
    }
    ck_assert_uint_gt(in, 0);
    ck_assert_uint_gt(out, 0);
    ck_assert_uint_lt(sampled->oracle_runs, full->oracle_runs);
    world_result_destroy(full);
    world_result_destroy(sampled);
    world_result_destroy(sampled_threads);
}
END_TEST

static const char *const tiny_vocab[] = {
    "model.shape.vocab=8", "workload.prompt_tokens=[1, 1]", "workload.requests=40",
    "model.segments=2"};

/* Requests with the same tokens: a tiny vocabulary and one-token prompts
 * make them common. The first computes, the later ones hit the cache, and
 * what they record is what the first recorded -- and what a run with more
 * threads (whose jobs in flight miss the cache) records. */
START_TEST(test_oracle_cache_hit_equals_recomputation)
{
    const char *path = "scenarios/default.yaml";
    size_t count = sizeof(tiny_vocab) / sizeof(tiny_vocab[0]);
    world_result *one = test_sim_run_file(path, tiny_vocab, count, 1);
    world_result *seven = test_sim_run_file(path, tiny_vocab, count, 7);
    ck_assert_uint_gt(one->oracle_cache_hits, 0);
    assert_same_judgements(one, seven);
    /* Requests that share their tokens share their divergence rows. */
    uint32_t pairs = 0;
    for (uint64_t a = 0; a < one->request_count; a++) {
        for (uint64_t b = a + 1; b < one->request_count; b++) {
            const world_request_record *x = &one->requests[a];
            const world_request_record *y = &one->requests[b];
            if (!x->compared || !y->compared || x->reference_match != y->reference_match ||
                memcmp(&one->divergence[a * INFER_KERNEL_COUNT],
                       &one->divergence[b * INFER_KERNEL_COUNT],
                       INFER_KERNEL_COUNT * sizeof(*one->divergence)) != 0) {
                continue;
            }
            pairs += 1;
        }
    }
    ck_assert_uint_gt(pairs, 0);
    world_result_destroy(one);
    world_result_destroy(seven);
}
END_TEST

/* Straight at the cache: the same tokens judged twice through it (a miss,
 * then a hit) and once around it give the same bits for every run, and the
 * hit is counted; other tokens miss. Under a committee with an int8 wire,
 * so the wired runs are cached too. */
START_TEST(test_oracle_cache_probe_bits)
{
    static const char *const overrides[] = {"model.wire_dtype=int8"};
    scn_scenario *scenario = NULL;
    scn_error error;
    ck_assert_int_eq(util_hash_init(), 0);
    ck_assert_int_eq(scn_load_file("scenarios/compare_committee.yaml", overrides, 1, &scenario,
                                   &error), 0);
    world_host *host = NULL;
    ck_assert_int_eq(world_host_create(scenario, 0, NULL, &host), 0);
    world_state *world = world__host_state(host);
    uint32_t generate = world->serving.generate_tokens, vocab = world->serving.vocab;
    size_t floats = (size_t)WORLD_ORACLE_RUNS * generate * vocab;
    float *first = calloc(floats, sizeof(float));
    float *hit = calloc(floats, sizeof(float));
    float *fresh = calloc(floats, sizeof(float));
    ck_assert(first != NULL && hit != NULL && fresh != NULL);
    uint32_t tokens[64], other[64];
    for (uint32_t i = 0; i < 64; i++) {
        tokens[i] = (i * 7 + 3) % vocab;
        other[i] = (i * 5 + 1) % vocab;
    }
    uint32_t have_first = 0, have_hit = 0, have_fresh = 0;
    uint64_t hits = world->result->oracle_cache_hits;
    ck_assert_int_eq(world__oracle_probe(world, tokens, 6, true, first, &have_first), 0);
    ck_assert_uint_eq(world->result->oracle_cache_hits, hits);
    ck_assert_int_eq(world__oracle_probe(world, tokens, 6, true, hit, &have_hit), 0);
    ck_assert_uint_eq(world->result->oracle_cache_hits, hits + 1);
    ck_assert_int_eq(world__oracle_probe(world, tokens, 6, false, fresh, &have_fresh), 0);
    ck_assert_uint_ne(have_first & 1u, 0);
    ck_assert_uint_eq(have_first, have_hit);
    ck_assert(memcmp(first, hit, floats * sizeof(float)) == 0);
    for (uint32_t run = 0; run < WORLD_ORACLE_RUNS; run++) {
        if (have_fresh & have_hit & (1u << run)) {
            size_t at = (size_t)run * generate * vocab;
            ck_assert(memcmp(fresh + at, hit + at, (size_t)generate * vocab * sizeof(float)) == 0);
        }
    }
    /* A prompt one token shorter is another key: a miss. */
    ck_assert_int_eq(world__oracle_probe(world, tokens, 5, true, hit, &have_hit), 0);
    ck_assert_int_eq(world__oracle_probe(world, other, 6, true, hit, &have_hit), 0);
    ck_assert_uint_eq(world->result->oracle_cache_hits, hits + 1);
    ck_assert(memcmp(first, hit, (size_t)generate * vocab * sizeof(float)) != 0);
    free(first);
    free(hit);
    free(fresh);
    world_host_destroy(host);
    scn_destroy(scenario);
}
END_TEST

/* Every row of every table of 'path', as text, in stored order: the runs row
 * without its wall-clock columns (started_at, finished_at, wall_ms). */
static char *every_row(const char *path)
{
    char *tables = test_db_query(path, "SELECT name FROM sqlite_master WHERE type = 'table'"
                                       " ORDER BY name");
    char *all = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&all, &size);
    for (char *name = strtok(tables, "\n"); name != NULL; name = strtok(NULL, "\n")) {
        char sql[512];
        if (strcmp(name, "runs") == 0) {
            snprintf(sql, sizeof(sql), "SELECT run_id, name, mode, scenario_sha256, seed, status,"
                                       " check_status, sim_ns, events, trace_hash, nodes, error"
                                       " FROM runs");
        } else {
            snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\"", name);
        }
        char *rows = test_db_query(path, sql);
        fprintf(out, "== %s\n%s", name, rows);
        free(rows);
    }
    fclose(out);
    free(tables);
    return all;
}

/* A scenario, the --set options it runs with, whether it runs under ASan
 * too (make sanitize, where every run is ten times slower: one case per
 * path the pool takes, inline and at 1 and 2 threads), and a line the
 * summaries of the pooled runs must also print (NULL: none). */
typedef struct pooled_case {
    const char *path;
    const char *sets;
    bool asan;
    const char *summary;
} pooled_case;

/* A run of 'path' with 'sets' with every call inline (--inline, the
 * reference), then at 1, 2 and 7 threads: every table holds the rows the
 * reference writes ('marker' shows the table that matters is not empty),
 * the summary says forward calls ran on the worker pool at 2 and 7
 * threads (and prints c->summary at 1, 2 and 7), and the reference's says
 * that none did. */
static void pooled_same_rows(const char *prefix, const pooled_case *c, const char *marker)
{
    char dir[256], db[4][512], command[4096];
    static const unsigned threads[4] = {1, 1, 2, 7};
    bool asan = getenv("INFERSIM_SANITIZE") != NULL;
    int runs = asan ? 3 : 4;
    if (asan && !c->asan) {
        return;
    }
    const char *path = c->path, *sets = c->sets;
    test_dir_make(dir, sizeof(dir), prefix);
    for (int i = 0; i < runs; i++) {
        char name[32];
        snprintf(name, sizeof(name), "%s%u.db", i == 0 ? "inline" : "t", threads[i]);
        test_dir_path(dir, name, db[i], sizeof(db[i]));
        snprintf(command, sizeof(command),
                 "%s run %s --db '%s' --threads %u %s %s > '%s.out' 2>&1", test_infersim_bin(),
                 path, db[i], threads[i], i == 0 ? "--inline" : "", sets, db[i]);
        ck_assert_int_eq(system(command), 0);
    }
    char *reference = every_row(db[0]);
    ck_assert_ptr_nonnull(strstr(reference, marker));
    for (int i = 1; i < runs; i++) {
        char *other = every_row(db[i]);
        ck_assert_msg(strcmp(reference, other) == 0, "--threads %u wrote other rows",
                      threads[i]);
        free(other);
        snprintf(command, sizeof(command),
                 "grep -q 'compute    [1-9][0-9]* of [0-9]* forward calls ran on the worker pool'"
                 " '%s.out'",
                 db[i]);
        ck_assert(threads[i] == 1 || system(command) == 0);
        if (c->summary != NULL) {
            snprintf(command, sizeof(command), "grep -q '%s' '%s.out'", c->summary, db[i]);
            ck_assert_msg(system(command) == 0, "--threads %u: no '%s'", threads[i], c->summary);
        }
    }
    snprintf(command, sizeof(command), "grep -q 'worker pool' '%s.out'", db[0]);
    ck_assert_int_ne(system(command), 0); /* --inline: every call on the nodes' thread. */
    free(reference);
    test_dir_remove(dir);
}

/* Servers' forward calls on the pool (world_forward.c): with 2 and 7
 * threads every call of the default scenario runs on the worker pool, and
 * every table the run writes is the one a single thread writes -- the
 * requests, segments and executions rows (times, FLOPs), the divergence,
 * the metrics, the trace. Under privacy noise the job noises the rows from
 * the server's stream: the releases, the epsilon spent and what a curious
 * server recovers from the noised rows stay the same. Under failover
 * (with slow cpu servers, so that steps are replayed while the late
 * originals still run) and under churn (a leaving server's calls end
 * before its caches are freed) the rows stay the same too, and under
 * batching, where a step's result waits for its batch and a crash loses
 * the steps still waiting (their calls dropped, their logits kept). */
START_TEST(test_oracle_forward_pooled_every_table)
{
    static const pooled_case cases[] = {
        {"scenarios/default.yaml", "--set workload.requests=60", true, NULL},
        {"scenarios/privacy_dp.yaml", "--set workload.requests=40", false, NULL},
        {"scenarios/privacy_attack.yaml", "", false, NULL},
        {"scenarios/inference_server_failover.yaml",
         "--set nodes.classes.1.overhead=200ms --set 'expect={}'", true, NULL},
        {"scenarios/inference_churn.yaml", "", false, NULL},
        {"scenarios/inference_batching.yaml",
         "--set 'faults=[{kind: crash, at: 1s, until: 1500ms, nodes: {fraction: 0.5}}]'"
         " --set 'expect={}' --set workload.requests=50",
         true, NULL},
    };
    pooled_same_rows("forward", &cases[_i], "== executions\n1|");
}
END_TEST

/* What the summary says when members' calls were copied. */
#define COPIED "compute    [1-9][0-9]* of them copied from a member.s identical call"

/* Committee members' forward calls on the pool: honest members of a
 * commit-reveal protocol hand their calls over, and the driver fills in
 * their reveal bytes and votes (the committee's commitment, sampling's
 * [root, leaf]) by the time the commitment arrives, or is dropped by a
 * lossy link. Under ledger evidence the job signs the vote too, and a
 * commitment under crypto ed25519 is signed when it is sealed: the
 * validators' blocks, slashes and the equivocation proofs stay the same.
 * Under the single-executor protocols the member's reveal leaves at once,
 * to the client and the other members, every copy filled by the job with
 * its salt, output and evidence (a tee attestation, a zk proof). Under
 * selection vrf the node's claim follows the job's vote; under timeout
 * evidence the commitment's copies to the peers carry the ticket too.
 * Honest members of one kernel copy each other's calls (world_forward.c),
 * and the committee's summaries say so; a member whose cache a corrupted
 * layer wrote (a wrong_output fault in layer mode that ends while its
 * requests go on) computes its later steps itself, as on one thread. */
START_TEST(test_oracle_members_pooled_same_rows)
{
    static const pooled_case cases[] = {
        {"scenarios/compare_committee.yaml", "", false, COPIED},
        {"scenarios/compare_sampling.yaml", "", false, NULL},
        {"scenarios/compare_committee.yaml", "--set network.loss=0.05", true, COPIED},
        {"scenarios/ledger_byzantine.yaml", "", true, NULL},
        {"scenarios/equivocation.yaml", "--set workload.requests=40", false, NULL},
        {"scenarios/compare_tee.yaml", "", true, NULL},
        {"scenarios/compare_zk.yaml", "", false, NULL},
        {"scenarios/compare_optimistic.yaml", "", true, NULL},
        {"scenarios/compare_crossval.yaml", "", false, NULL},
        {"scenarios/committee_vrf.yaml", "--set workload.requests=30", true, NULL},
        {"scenarios/ledger_timeout_evidence.yaml", "", false, NULL},
        {"scenarios/compare_committee.yaml",
         "--set 'faults=[{kind: wrong_output, mode: layer, at: 0s, until: 2s,"
         " nodes: {fraction: 0.3}}]' --set 'expect={}' --set workload.rate=20/s"
         " --set workload.generate=8",
         false, NULL},
    };
    pooled_same_rows("members", &cases[_i], "== decisions\n1|");
}
END_TEST

/* ---- committee draws on the pool (world_draw.c) ---- */

/* A draw's preparation as the verifier's: each slice writes its own
 * candidates' weights (from 'stake') and, when 'uniforms', their tickets. */
typedef struct draw_prepare_context {
    cons_candidate *candidates;
    const double *stake;
    double *uniforms;
    const uint8_t *beacon;
} draw_prepare_context;

static void draw_prepare(void *context, size_t first, size_t last)
{
    draw_prepare_context *c = context;
    for (size_t i = first; i < last; i++) {
        c->candidates[i].stake = c->stake[i];
        if (c->uniforms != NULL) {
            c->uniforms[i] = cons_sortition_uniform(c->beacon, 9, c->candidates[i].public_key);
        }
    }
}

/* world_draw_select on 1, 2 and 7 threads, in up to 64 slices, equals
 * cons_committee_select (and _uniforms) on the weights its slices wrote:
 * random sizes, committees, weights over 600 orders of magnitude, hash
 * and VRF-style tickets. */
START_TEST(test_oracle_draw_pooled_equals_select)
{
    enum { NETWORK_MAX = 3000 };
    static cons_candidate candidates[NETWORK_MAX];
    static double stake[NETWORK_MAX], uniforms[NETWORK_MAX];
    static const uint32_t thread_counts[3] = {1, 2, 7};
    ck_assert_int_eq(util_hash_init(), 0);
    util_prng prng;
    util_prng_init(&prng, 77);
    int draws = getenv("INFERSIM_SANITIZE") != NULL ? 20 : 150;
    for (int t = 0; t < 3; t++) {
        util_workers *workers = NULL;
        ck_assert_int_eq(util_workers_create(thread_counts[t], &workers), 0);
        uint32_t sliced = 0;
        for (int d = 0; d < draws; d++) {
            size_t count = (size_t)util_prng_below(&prng, NETWORK_MAX + 1);
            for (size_t i = 0; i < count; i++) {
                candidates[i].node_id = (uint32_t)(i * 7919u % 100003u);
                util_hash256(&candidates[i].node_id, sizeof(uint32_t), candidates[i].public_key);
                candidates[i].reputation = 1.0;
                candidates[i].stake = -1.0; /* invalid until prepared */
                stake[i] = exp(1380.0 * util_prng_uniform(&prng) - 690.0);
            }
            uint8_t beacon[CONS_BEACON_BYTES];
            cons_beacon_derive(77, (uint64_t)d, (uint32_t)t, beacon);
            bool vrf = d % 2 == 1;
            draw_prepare_context context = {candidates, stake, vrf ? uniforms : NULL, beacon};
            world_draw draw = {beacon, 3, vrf ? uniforms : NULL, candidates, count,
                               1 + (uint32_t)util_prng_below(&prng, CONS_COMMITTEE_MAX),
                               1 + (size_t)util_prng_below(&prng, 200), draw_prepare,
                               &context};
            sliced += world_draw_slices(workers, &draw) > 1;
            uint32_t members[CONS_COMMITTEE_MAX], expected[CONS_COMMITTEE_MAX];
            int chosen = world_draw_select(workers, &draw, members);
            int want = vrf ? cons_committee_select_uniforms(uniforms, candidates, count, draw.k,
                                                            expected)
                           : cons_committee_select(beacon, 3, candidates, count, draw.k,
                                                   expected);
            ck_assert_int_eq(chosen, want);
            ck_assert_mem_eq(members, expected, (size_t)chosen * sizeof(uint32_t));
        }
        /* One thread draws inline; more cut nearly every draw. */
        ck_assert(thread_counts[t] == 1 ? sliced == 0 : sliced > (uint32_t)draws / 2);
        util_workers_destroy(workers);
    }
}
END_TEST

/* A committee scenario run from the command line at --threads 1, 2 and 7
 * (1 and 7 under the sanitizers): every table holds the same rows (the
 * trace hash, requests, decisions, ...), and the summary says the draws
 * ran in slices on the pool at more than one thread, not at one. */
static void draws_same_rows(const char *prefix, const char *path, const char *sets,
                            bool slices)
{
    char dir[256], db[3][512], command[4096];
    bool light = getenv("INFERSIM_SANITIZE") != NULL;
    const unsigned threads[3] = {1, light ? 7 : 2, 7};
    int runs = light ? 2 : 3;
    test_dir_make(dir, sizeof(dir), prefix);
    for (int i = 0; i < runs; i++) {
        char name[32];
        snprintf(name, sizeof(name), "t%u.db", threads[i]);
        test_dir_path(dir, name, db[i], sizeof(db[i]));
        snprintf(command, sizeof(command), "%s run %s --db '%s' --threads %u %s > '%s.out' 2>&1",
                 test_infersim_bin(), path, db[i], threads[i], sets, db[i]);
        ck_assert_int_eq(system(command), 0);
    }
    char *one = every_row(db[0]);
    ck_assert_ptr_nonnull(strstr(one, "== decisions\n1|"));
    for (int i = 0; i < runs; i++) {
        char *other = every_row(db[i]);
        ck_assert_msg(strcmp(one, other) == 0, "--threads %u wrote other rows", threads[i]);
        free(other);
        snprintf(command, sizeof(command),
                 "grep -q 'draws      [1-9][0-9]* of [0-9]* committee draws ran in slices'"
                 " '%s.out'",
                 db[i]);
        ck_assert_int_eq(system(command) == 0, slices && threads[i] > 1);
        snprintf(command, sizeof(command),
                 "grep -q 'draws      [1-9][0-9]* committee draws from weight trees' '%s.out'",
                 db[i]);
        ck_assert_int_eq(system(command) == 0, !slices);
    }
    free(one);
    test_dir_remove(dir);
}

/* Hash tickets: 4,200 candidates in one segment, two slices and more. */
START_TEST(test_oracle_draws_sliced_same_rows)
{
    draws_same_rows("draws", "scenarios/compare_committee.yaml",
                    getenv("INFERSIM_SANITIZE") != NULL
                        ? "--set nodes.count=4200 --set model.segments=1"
                          " --set workload.requests=3"
                        : "--set nodes.count=4200 --set model.segments=1"
                          " --set workload.requests=8",
                    true);
}
END_TEST

/* VRF tickets: the draws whose epoch outputs are due run in slices, and
 * on several threads seated members prove and are checked on the pool;
 * 1 s epochs, so requests of one epoch are checked during the next's
 * draws. */
START_TEST(test_oracle_draws_vrf_sliced_same_rows)
{
    draws_same_rows("draws-vrf", "scenarios/committee_vrf.yaml",
                    getenv("INFERSIM_SANITIZE") != NULL
                        ? "--set workload.requests=8 --set verification.vrf_epoch=1s"
                        : "--set workload.requests=26 --set verification.vrf_epoch=1s",
                    true);
}
END_TEST

/* verification.draw: tree: the same rows at every thread count, and no
 * draw in slices (a tree draw is O(k log n) on the event loop): the
 * summary says the draws came from the trees. */
START_TEST(test_oracle_tree_draws_same_rows)
{
    draws_same_rows("draws-tree", "scenarios/compare_committee.yaml",
                    "--set nodes.count=4200 --set verification.draw=tree"
                    " --set workload.requests=8",
                    false);
}
END_TEST

/* VRF selection over trees: the thinned walks (and the outputs they make
 * due, and the seated members' proofs and checks on the pool) give the
 * same rows at every thread count, over 1 s epochs. */
START_TEST(test_oracle_vrf_tree_draws_same_rows)
{
    draws_same_rows("draws-vrf-tree", "scenarios/committee_vrf_tree.yaml",
                    getenv("INFERSIM_SANITIZE") != NULL
                        ? "--set workload.requests=6 --set verification.vrf_epoch=1s"
                        : "--set workload.requests=20 --set verification.vrf_epoch=1s",
                    false);
}
END_TEST

/* ---- tree and race draws in a world (world_tree.c, world_held.c) ---- */

typedef struct tree_world {
    world_state world;
    world_result result;
    scn_scenario scenario;
    cons_candidate candidates[260];
    uint32_t offsets[3];
    double reputation[200], stake[200], balance[200];
    double settled_reputation[200], settled_stake[200];
} tree_world;

/* 200 nodes; segment 0 draws from nodes 0..119, segment 1 from 80..199
 * (nodes 80..119 sit in both); with 'tree' under draw: tree, else race. */
static void tree_world_build(tree_world *t, bool tree)
{
    memset(t, 0, sizeof(*t));
    t->scenario.verification.draw_tree = tree;
    t->scenario.verification.stake = 2.0;
    t->scenario.verification.reputation_max = 1.0;
    t->scenario.model.segment_count = 2;
    t->world.scenario = &t->scenario;
    t->world.node_count = 200;
    uint32_t used = 0;
    for (uint32_t s = 0; s < 2; s++) {
        t->offsets[s] = used;
        for (uint32_t id = s * 80; id < s * 80 + 120; id++) {
            t->candidates[used].node_id = id;
            uint8_t seed[4] = {(uint8_t)id, (uint8_t)(id >> 8), 0, 0};
            util_hash256(seed, sizeof(seed), t->candidates[used++].public_key);
        }
    }
    t->offsets[2] = used;
    t->world.candidates = t->candidates;
    t->world.candidate_offsets = t->offsets;
    t->world.result = &t->result;
    cons_ledger_terms terms = {.reputation = {0.5, 1.05, 0.01, 1.0, 0.5},
                               .slash = 0.25, .timeout_slash = 0.1, .to_honest = 1.0};
    cons_ledger_init(&t->world.ledger, &terms, 200, t->reputation, t->stake, t->balance, 2.0);
    for (uint32_t i = 0; i < 200; i++) {
        t->settled_reputation[i] = 0.5;
        t->settled_stake[i] = 2.0;
    }
    ck_assert_int_eq(world__held_build(&t->world), 0);
    ck_assert_int_eq(world__tree_build(&t->world), 0);
}

static void tree_world_destroy(tree_world *t)
{
    world__tree_destroy(&t->world);
    world__held_destroy(&t->world);
}

/* What a race should draw: every ticket against the weights of now. */
static uint32_t race_world_expected(const tree_world *t, uint32_t segment, const uint8_t *beacon,
                                    uint32_t k, const world_weights *w, uint32_t *members)
{
    cons_candidate pool[120];
    memcpy(pool, t->candidates + t->offsets[segment], sizeof(pool));
    for (uint32_t i = 0; i < 120; i++) {
        pool[i].reputation = world__weights_reputation(w, pool[i].node_id);
        pool[i].stake = world__weights_stake(w, pool[i].node_id);
    }
    int chosen = cons_committee_select(beacon, segment, pool, 120, k, members);
    ck_assert_int_gt(chosen, 0);
    return (uint32_t)chosen;
}

/* What the tree should draw: a scan over the weights quantised now. */
static uint32_t tree_world_expected(const tree_world *t, uint32_t segment, const uint8_t *beacon,
                                    uint32_t k, const world_weights *w, uint32_t *members)
{
    uint64_t weights[120];
    double scale = cons_tree_scale(2.0);
    const cons_candidate *pool = t->candidates + t->offsets[segment];
    for (uint32_t i = 0; i < 120; i++) {
        uint32_t id = pool[i].node_id;
        double r = w->reputation != NULL ? w->reputation[id] : w->reputation_all;
        double st = w->stake != NULL ? w->stake[id] : w->stake_all;
        weights[i] = cons_tree_weight(st * r, scale);
    }
    uint32_t indices[CONS_COMMITTEE_MAX];
    uint32_t chosen = cons_tree_scan_select(weights, 120, beacon, segment, k, indices);
    for (uint32_t j = 0; j < chosen; j++) {
        members[j] = pool[indices[j]].node_id;
    }
    return chosen;
}

/* 'draws' draws from sources that switch (the live ledger, judged between
 * draws; the settled state of a generation; one weight for all), each
 * compared with what the weights of that moment give; returns how many
 * differed. */
static uint32_t tree_world_draws(tree_world *t, uint32_t draws, uint64_t seed)
{
    util_prng prng;
    util_prng_init(&prng, seed);
    uint64_t generation = 0;
    uint32_t moved = 0, differed = 0;
    for (uint32_t d = 0; d < draws; d++) {
        for (uint64_t j = util_prng_below(&prng, 4); j > 0; j--) {
            uint32_t member = (uint32_t)util_prng_below(&prng, 200);
            cons_ledger_judge(&t->world.ledger, member, (cons_verdict)util_prng_below(&prng, 4));
            moved += 1;
        }
        world_weights w = {.reputation = t->reputation, .stake = t->stake,
                           .source = WORLD_WEIGHTS_LIVE};
        uint64_t kind = util_prng_below(&prng, 10);
        if (kind == 0) {
            if (util_prng_below(&prng, 2) == 0) { /* a new generation, a new state */
                t->settled_stake[util_prng_below(&prng, 200)] *= 0.5;
                generation += 1;
            }
            w = (world_weights){.reputation = t->settled_reputation, .stake = t->settled_stake,
                                .source = WORLD_WEIGHTS_SETTLED | generation};
        } else if (kind == 1) {
            w = (world_weights){.reputation_all = 0.5, .stake_all = 2.0,
                                .source = WORLD_WEIGHTS_FIXED};
        }
        uint8_t beacon[CONS_BEACON_BYTES];
        cons_beacon_derive(seed, d, 0, beacon);
        uint32_t segment = d % 2, k = 1 + d % 7;
        uint32_t got[CONS_COMMITTEE_MAX], expected[CONS_COMMITTEE_MAX];
        bool tree = t->scenario.verification.draw_tree;
        uint32_t chosen = tree ? world__tree_draw(&t->world, segment, beacon, k, &w, NULL, got)
                               : world__race_draw(&t->world, segment, beacon, k, &w, NULL, got);
        uint32_t want = tree ? tree_world_expected(t, segment, beacon, k, &w, expected)
                             : race_world_expected(t, segment, beacon, k, &w, expected);
        differed += chosen != want || memcmp(got, expected, chosen * sizeof(uint32_t)) != 0;
    }
    ck_assert_uint_gt(moved, draws);
    return differed;
}

/* 3,000 draws from switching sources, each equal to a scan over the
 * weights of that moment: the trees follow the ledger's moves and refill
 * when the source changes. */
START_TEST(test_oracle_tree_follows_the_ledger)
{
    ck_assert_int_eq(util_hash_init(), 0);
    static tree_world t;
    tree_world_build(&t, true);
    ck_assert_uint_eq(tree_world_draws(&t, 3000, 91), 0);
    tree_world_destroy(&t);
}
END_TEST

/* The race holds each segment's weights in its candidate list between
 * draws: 3,000 draws from switching sources each equal the draw over the
 * weights of that moment, and the same draws with the ledger's hook cut
 * (the moves no longer reach the list) differ: the comparison fires. */
START_TEST(test_oracle_race_follows_the_ledger)
{
    ck_assert_int_eq(util_hash_init(), 0);
    static tree_world t;
    tree_world_build(&t, false);
    ck_assert_uint_eq(tree_world_draws(&t, 3000, 92), 0);
    tree_world_destroy(&t);
    tree_world_build(&t, false);
    t.world.ledger.moved = NULL;
    ck_assert_uint_gt(tree_world_draws(&t, 3000, 92), 100);
    tree_world_destroy(&t);
}
END_TEST

/* From the command line: --threads takes 1..256 (0 is a usage error, exit
 * 2), and two runs at 1 and 2 threads store the same trace and the same
 * divergence and violations rows; a divergence sample stores fewer
 * divergence rows and the same violations. */
START_TEST(test_oracle_cli_threads)
{
    char dir[256], one[512], two[512], half[512], command[2048];
    test_dir_make(dir, sizeof(dir), "oracle");
    test_dir_path(dir, "one.db", one, sizeof(one));
    test_dir_path(dir, "two.db", two, sizeof(two));
    test_dir_path(dir, "half.db", half, sizeof(half));
    const char *bin = test_infersim_bin();
    const char *scenario = "scenarios/compare_committee.yaml";
    snprintf(command, sizeof(command), "%s run %s --threads 0 --quiet 2>/dev/null", bin,
             scenario);
    int status = system(command);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    snprintf(command, sizeof(command),
             "%s run %s --db '%s' --threads 1 --quiet && %s run %s --db '%s' --threads=2 --quiet"
             " && %s run %s --db '%s' --threads 2 --quiet --set output.divergence_sample=0.3",
             bin, scenario, one, bin, scenario, two, bin, scenario, half);
    ck_assert_int_eq(system(command), 0);
    static const char *const queries[] = {
        "SELECT trace_hash, events FROM runs",
        "SELECT * FROM divergence ORDER BY request_id, class",
        "SELECT * FROM violations ORDER BY violation_id",
        "SELECT request_id, reference_match, argmax_agree, logits_maxabs FROM requests"};
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        char *a = test_db_query(one, queries[i]);
        char *b = test_db_query(two, queries[i]);
        ck_assert_msg(strcmp(a, b) == 0, "%s differs", queries[i]);
        ck_assert_msg(strlen(a) > 0, "%s is empty", queries[i]);
        free(a);
        free(b);
    }
    char *full = test_db_query(one, "SELECT count(*) FROM divergence");
    char *sampled = test_db_query(half, "SELECT count(*) FROM divergence");
    ck_assert_int_lt(atoi(sampled), atoi(full));
    ck_assert_int_gt(atoi(sampled), 0);
    char *violations_full = test_db_query(one, queries[2]);
    char *violations_sampled = test_db_query(half, queries[2]);
    ck_assert_str_eq(violations_full, violations_sampled);
    free(full);
    free(sampled);
    free(violations_full);
    free(violations_sampled);
    test_dir_remove(dir);
}
END_TEST

Suite *test_oracle_suite(void)
{
    Suite *suite = suite_create("oracle");
    TCase *workers = tcase_create("workers");
    tcase_add_test(workers, test_oracle_workers_run_every_job);
    tcase_add_test(workers, test_oracle_workers_one_thread_runs_at_submit);
    tcase_add_test(workers, test_oracle_workers_destroy_drains);
    tcase_add_test(workers, test_oracle_workers_wait_skips_longer_jobs);
    tcase_add_test(workers, test_oracle_workers_first_jumps_the_queue);
    tcase_add_test(workers, test_oracle_workers_first_wait_helps_only_first);
    suite_add_tcase(suite, workers);
    TCase *threads = tcase_create("threads");
    tcase_set_timeout(threads, 600);
    tcase_add_loop_test(threads, test_oracle_threads_same_results, 0, 3);
    tcase_add_loop_test(threads, test_oracle_forward_pooled_every_table, 0, 6);
    tcase_add_loop_test(threads, test_oracle_members_pooled_same_rows, 0, 12);
    tcase_add_test(threads, test_oracle_divergence_sample_keeps_checkers_exact);
    tcase_add_test(threads, test_oracle_cache_hit_equals_recomputation);
    tcase_add_test(threads, test_oracle_cache_probe_bits);
    tcase_add_test(threads, test_oracle_cli_threads);
    suite_add_tcase(suite, threads);
    TCase *draws = tcase_create("draws");
    tcase_set_timeout(draws, 120);
    tcase_add_test(draws, test_oracle_draw_pooled_equals_select);
    tcase_add_test(draws, test_oracle_draws_sliced_same_rows);
    tcase_add_test(draws, test_oracle_draws_vrf_sliced_same_rows);
    tcase_add_test(draws, test_oracle_tree_draws_same_rows);
    tcase_add_test(draws, test_oracle_vrf_tree_draws_same_rows);
    tcase_add_test(draws, test_oracle_tree_follows_the_ledger);
    tcase_add_test(draws, test_oracle_race_follows_the_ledger);
    suite_add_tcase(suite, draws);
    return suite;
}
