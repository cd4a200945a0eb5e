/* test_util.c -- util/: PRNG determinism, stream independence and the
 * distributions; the log-linear histogram against exact quantiles; the
 * allocation hook and failure injection; SHA-256, key derivation and the
 * 64-bit MAC; the edwards25519 arithmetic against libsodium's. All
 * statistical tests use fixed seeds, so they are deterministic; their
 * bounds are several standard deviations wide. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/suites.h"
#include "util/alloc.h"
#include "util/edwards.h"
#include "util/hash.h"
#include "util/hist.h"
#include "util/prng.h"
#include "util/stats.h"

#define TEST_UTIL_DRAWS 100000

/* ---- PRNG ---- */

START_TEST(test_util_prng_same_seed_same_sequence)
{
    util_prng a;
    util_prng b;
    util_prng c;
    util_prng_init(&a, 42);
    util_prng_init(&b, 42);
    util_prng_init(&c, 43);
    int differs = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t value = util_prng_next(&a);
        ck_assert_uint_eq(value, util_prng_next(&b));
        differs += value != util_prng_next(&c);
    }
    ck_assert_int_gt(differs, 990);
}
END_TEST

START_TEST(test_util_prng_splitmix_known_vector)
{
    /* splitmix64 from state 0: first output 0xe220a8397b1dcdaf (Vigna). */
    ck_assert_uint_eq(util_mix64(0x9e3779b97f4a7c15ULL), 0xe220a8397b1dcdafULL);
    util_prng prng;
    util_prng_init(&prng, 0);
    ck_assert_uint_eq(prng.state[0], 0xe220a8397b1dcdafULL);
    ck_assert_uint_ne(util_mix64(1), util_mix64(2));
}
END_TEST

/* Counts positions where the first 'n' draws of two streams agree. */
static int test_util_stream_matches(util_prng *a, util_prng *b, int n)
{
    int matches = 0;
    for (int i = 0; i < n; i++) {
        matches += util_prng_next(a) == util_prng_next(b);
    }
    return matches;
}

START_TEST(test_util_prng_stream_distinct_triples_differ)
{
    util_prng base;
    util_prng other;
    util_prng_init_stream(&base, 7, 3, UTIL_PRNG_PURPOSE_NET);
    util_prng_init_stream(&other, 7, 3, UTIL_PRNG_PURPOSE_NET);
    ck_assert_int_eq(test_util_stream_matches(&base, &other, 100), 100);

    /* Base (7, 3, NET): change one part, or swap two parts around. */
    const uint64_t triples[][3] = {
        {7, 2, UTIL_PRNG_PURPOSE_NET}, {7, 3, UTIL_PRNG_PURPOSE_NODE},
        {8, 3, UTIL_PRNG_PURPOSE_NET}, {7, 4, UTIL_PRNG_PURPOSE_NET},
        {3, 7, UTIL_PRNG_PURPOSE_NET}, {7, UTIL_PRNG_PURPOSE_NET, 3},
    };
    for (size_t t = 0; t < sizeof(triples) / sizeof(triples[0]); t++) {
        util_prng_init_stream(&base, 7, 3, UTIL_PRNG_PURPOSE_NET);
        util_prng_init_stream(&other, triples[t][0], triples[t][1], (uint32_t)triples[t][2]);
        ck_assert_int_eq(test_util_stream_matches(&base, &other, 100), 0);
    }
}
END_TEST

START_TEST(test_util_prng_stream_unaffected_by_other_streams)
{
    util_prng alone;
    util_prng_init_stream(&alone, 99, 5, UTIL_PRNG_PURPOSE_WORKLOAD);
    uint64_t expected[64];
    for (int i = 0; i < 64; i++) {
        expected[i] = util_prng_next(&alone);
    }
    /* The same stream among many others, drawn interleaved with them. */
    util_prng streams[16];
    for (uint32_t id = 0; id < 16; id++) {
        util_prng_init_stream(&streams[id], 99, id, UTIL_PRNG_PURPOSE_WORKLOAD);
    }
    for (int i = 0; i < 64; i++) {
        for (uint32_t id = 0; id < 16; id++) {
            uint64_t value = util_prng_next(&streams[id]);
            if (id == 5) {
                ck_assert_uint_eq(value, expected[i]);
            }
        }
    }
}
END_TEST

/* Pearson correlation of the uniform sequences of two streams. */
static double test_util_correlation(util_prng *a, util_prng *b, int n)
{
    double sum_a = 0.0, sum_b = 0.0, sum_ab = 0.0, sum_aa = 0.0, sum_bb = 0.0;
    for (int i = 0; i < n; i++) {
        double x = util_prng_uniform(a);
        double y = util_prng_uniform(b);
        sum_a += x;
        sum_b += y;
        sum_ab += x * y;
        sum_aa += x * x;
        sum_bb += y * y;
    }
    double cov = sum_ab / n - (sum_a / n) * (sum_b / n);
    double var_a = sum_aa / n - (sum_a / n) * (sum_a / n);
    double var_b = sum_bb / n - (sum_b / n) * (sum_b / n);
    return cov / sqrt(var_a * var_b);
}

START_TEST(test_util_prng_stream_uncorrelated)
{
    /* Neighbouring ids and purposes are the risky pairs for a weak mixer.
     * The standard error of r is 1/sqrt(1e5) ~ 0.003; bound at 0.015. */
    const uint32_t pairs[][4] = {
        {1, UTIL_PRNG_PURPOSE_NET, 2, UTIL_PRNG_PURPOSE_NET},
        {1, UTIL_PRNG_PURPOSE_NET, 1, UTIL_PRNG_PURPOSE_LINK},
        {0, UTIL_PRNG_PURPOSE_KEYS, 1, UTIL_PRNG_PURPOSE_KEYS},
    };
    for (size_t p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++) {
        util_prng a;
        util_prng b;
        util_prng_init_stream(&a, 2024, pairs[p][0], pairs[p][1]);
        util_prng_init_stream(&b, 2024, pairs[p][2], pairs[p][3]);
        double r = test_util_correlation(&a, &b, TEST_UTIL_DRAWS);
        ck_assert_double_lt(fabs(r), 0.015);
    }
    /* Sanity of the statistic itself: a stream against itself gives 1. */
    util_prng a;
    util_prng b;
    util_prng_init_stream(&a, 2024, 1, UTIL_PRNG_PURPOSE_NET);
    util_prng_init_stream(&b, 2024, 1, UTIL_PRNG_PURPOSE_NET);
    ck_assert_double_gt(test_util_correlation(&a, &b, 1000), 0.999);
}
END_TEST

START_TEST(test_util_prng_uniform_mean_and_range)
{
    util_prng prng;
    util_prng_init(&prng, 11);
    double sum = 0.0;
    for (int i = 0; i < TEST_UTIL_DRAWS; i++) {
        double u = util_prng_uniform(&prng);
        TEST_ASSERT(u >= 0.0 && u < 1.0);
        sum += u;
    }
    /* Standard error 0.289 / sqrt(1e5) ~ 0.0009. */
    ck_assert_double_eq_tol(sum / TEST_UTIL_DRAWS, 0.5, 0.005);
}
END_TEST

START_TEST(test_util_prng_below_range_and_uniformity)
{
    util_prng prng;
    util_prng_init(&prng, 12);
    enum { bins = 10 };
    uint64_t counts[bins] = {0};
    for (int i = 0; i < TEST_UTIL_DRAWS; i++) {
        uint64_t value = util_prng_below(&prng, bins);
        TEST_ASSERT(value < bins);
        counts[value] += 1;
    }
    /* Chi-square with 9 degrees of freedom: mean 9, P(> 40) < 1e-5. */
    double expected = (double)TEST_UTIL_DRAWS / bins;
    double chi2 = 0.0;
    for (int b = 0; b < bins; b++) {
        double diff = (double)counts[b] - expected;
        chi2 += diff * diff / expected;
    }
    ck_assert_double_lt(chi2, 40.0);
    ck_assert_uint_eq(util_prng_below(&prng, 1), 0);
    uint64_t big = (UINT64_C(1) << 63) + 1;
    int high = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t value = util_prng_below(&prng, big);
        ck_assert_uint_lt(value, big);
        high += value >= big / 2;
    }
    ck_assert_int_gt(high, 400);
    ck_assert_int_lt(high, 600);
}
END_TEST

START_TEST(test_util_prng_exponential_mean)
{
    util_prng prng;
    util_prng_init(&prng, 13);
    double sum = 0.0;
    for (int i = 0; i < TEST_UTIL_DRAWS; i++) {
        double x = util_prng_exponential(&prng, 250.0);
        TEST_ASSERT(x >= 0.0 && isfinite(x));
        sum += x;
    }
    /* Standard error 250 / sqrt(1e5) ~ 0.8. */
    ck_assert_double_eq_tol(sum / TEST_UTIL_DRAWS, 250.0, 5.0);
}
END_TEST

START_TEST(test_util_prng_normal_mean_and_variance)
{
    util_prng prng;
    util_prng_init(&prng, 14);
    double sum = 0.0;
    double sum_sq = 0.0;
    for (int i = 0; i < TEST_UTIL_DRAWS; i++) {
        double x = util_prng_normal(&prng);
        TEST_ASSERT(isfinite(x));
        sum += x;
        sum_sq += x * x;
    }
    double mean = sum / TEST_UTIL_DRAWS;
    ck_assert_double_eq_tol(mean, 0.0, 0.02);
    ck_assert_double_eq_tol(sum_sq / TEST_UTIL_DRAWS - mean * mean, 1.0, 0.03);
    /* No cached spare: the stream advances two words per call, always. */
    util_prng a;
    util_prng b;
    util_prng_init(&a, 15);
    util_prng_init(&b, 15);
    (void)util_prng_normal(&a);
    (void)util_prng_next(&b);
    (void)util_prng_next(&b);
    ck_assert_uint_eq(util_prng_next(&a), util_prng_next(&b));
}
END_TEST

START_TEST(test_util_prng_chance_edges_do_not_draw)
{
    util_prng prng;
    util_prng_init(&prng, 16);
    util_prng before = prng;
    ck_assert_int_eq(util_prng_chance(&prng, 0.0), 0);
    ck_assert_int_eq(util_prng_chance(&prng, -1.0), 0);
    ck_assert_int_ne(util_prng_chance(&prng, 1.0), 0);
    ck_assert_mem_eq(&before, &prng, sizeof(prng));
    int hits = 0;
    for (int i = 0; i < 10000; i++) {
        hits += util_prng_chance(&prng, 0.25) != 0;
    }
    ck_assert_int_gt(hits, 2300);
    ck_assert_int_lt(hits, 2700);
}
END_TEST

/* ---- histogram ---- */

static int test_util_compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

START_TEST(test_util_hist_quantiles_within_two_percent)
{
    enum { count = 50000 };
    static util_hist hist;
    uint64_t *values = malloc(count * sizeof(uint64_t));
    ck_assert_ptr_nonnull(values);
    util_prng prng;
    util_prng_init(&prng, 21);
    util_hist_init(&hist);
    double sum = 0.0;
    for (int i = 0; i < count; i++) {
        /* Log-normal around 1 ms: spans several powers of two. */
        values[i] = (uint64_t)(1e6 * exp(1.5 * util_prng_normal(&prng)));
        util_hist_add(&hist, values[i]);
        sum += (double)values[i];
    }
    qsort(values, count, sizeof(uint64_t), test_util_compare_u64);
    const double qs[] = {0.0, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0};
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        uint64_t rank = (uint64_t)ceil(qs[i] * count);
        double exact = (double)values[rank == 0 ? 0 : rank - 1];
        double got = (double)util_hist_quantile(&hist, qs[i]);
        ck_assert_double_le(fabs(got - exact) / exact, 0.02);
    }
    ck_assert_uint_eq(util_hist_quantile(&hist, 1.0), values[count - 1]);
    ck_assert_double_eq_tol(util_hist_mean(&hist), sum / count, 1e-6 * sum / count);
    free(values);
}
END_TEST

/* Merging two histograms is adding their samples one by one; an empty
 * histogram's metric is NaN (a percentile of nothing), not 0. */
START_TEST(test_util_hist_merge_and_metric)
{
    util_hist a, b, all;
    util_hist_init(&a);
    util_hist_init(&b);
    util_hist_init(&all);
    ck_assert(isnan(util_hist_metric(&a, 0.5)));
    for (uint64_t v = 1; v <= 5000; v++) {
        uint64_t value = v * v * 37;
        util_hist_add(v % 3 == 0 ? &a : &b, value);
        util_hist_add(&all, value);
    }
    util_hist empty;
    util_hist_init(&empty);
    util_hist_merge(&a, &empty);
    util_hist_merge(&empty, &b);
    util_hist_merge(&empty, &a);
    ck_assert_mem_eq(&empty, &all, sizeof(all));
    ck_assert_double_eq(util_hist_metric(&all, 0.99), (double)util_hist_quantile(&all, 0.99));
}
END_TEST

START_TEST(test_util_hist_small_values_exact)
{
    static util_hist hist;
    util_hist_init(&hist);
    ck_assert_uint_eq(util_hist_quantile(&hist, 0.5), 0);
    ck_assert_double_eq(util_hist_mean(&hist), 0.0);
    for (uint64_t v = 0; v < 64; v++) {
        util_hist_add(&hist, v);
    }
    /* The k-th smallest of 0..63 is k - 1: rank ceil(q * 64). */
    ck_assert_uint_eq(util_hist_quantile(&hist, 0.5), 31);
    ck_assert_uint_eq(util_hist_quantile(&hist, 0.25), 15);
    ck_assert_uint_eq(util_hist_quantile(&hist, 1.0), 63);
    ck_assert_uint_eq(util_hist_quantile(&hist, 0.0), 0);
    util_hist_add(&hist, UINT64_MAX);
    ck_assert_uint_eq(util_hist_quantile(&hist, 1.0), UINT64_MAX);
    ck_assert_uint_eq(hist.total_count, 65);
}
END_TEST

/* ---- allocation ---- */

START_TEST(test_util_alloc_fail_after_injects_failure)
{
    util_alloc_fail_after(1);
    ck_assert_ptr_null(util_malloc(16));
    ck_assert_ptr_null(util_calloc(2, 8));
    util_alloc_fail_after(0);
    void *ok = util_malloc(16);
    ck_assert_ptr_nonnull(ok);
    util_free(ok);

    util_alloc_fail_after(3);
    void *first = util_malloc(8);
    char *second = util_strdup("infersim");
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_nonnull(second);
    ck_assert_str_eq(second, "infersim");
    ck_assert_ptr_null(util_realloc(first, 64));   /* the 3rd: fails, 'first' intact */
    ck_assert_ptr_null(util_malloc(8));            /* and every later one */
    util_alloc_fail_after(0);
    util_free(first);
    util_free(second);
}
END_TEST

START_TEST(test_util_alloc_edge_sizes)
{
    ck_assert_ptr_null(util_malloc(0));
    ck_assert_ptr_null(util_calloc((size_t)-1 / 2, 4));   /* overflow */
    unsigned char *zeroed = util_calloc(32, 1);
    ck_assert_ptr_nonnull(zeroed);
    for (int i = 0; i < 32; i++) {
        ck_assert_uint_eq(zeroed[i], 0);
    }
    ck_assert_ptr_null(util_realloc(zeroed, 0));   /* frees */
    util_free(NULL);
}
END_TEST

typedef struct test_util_counting {
    unsigned long allocs;
    unsigned long frees;
} test_util_counting;

static void *test_util_counting_hook(void *ctx, void *ptr, size_t size)
{
    test_util_counting *counting = ctx;
    if (size == 0) {
        counting->frees += 1;
        free(ptr);
        return NULL;
    }
    counting->allocs += 1;
    return realloc(ptr, size);
}

START_TEST(test_util_alloc_hook_sees_every_call)
{
    test_util_counting counting = {0, 0};
    util_alloc_set_hook(test_util_counting_hook, &counting);
    void *ptr = util_malloc(10);
    ptr = util_realloc(ptr, 100);
    util_free(ptr);
    util_alloc_set_hook(NULL, NULL);
    ck_assert_uint_eq(counting.allocs, 2);
    ck_assert_uint_eq(counting.frees, 1);
    ptr = util_malloc(10);   /* back to libc: not counted */
    util_free(ptr);
    ck_assert_uint_eq(counting.allocs, 2);
}
END_TEST

static void *test_util_wrapping_hook(void *ctx, void *ptr, size_t size)
{
    test_util_counting *counting = ctx;
    counting->allocs += size != 0;
    counting->frees += size == 0;
    return util_alloc_default(NULL, ptr, size);
}

/* A hook that wraps util_alloc_default keeps the default's layout: a
 * block of 2 MiB or more starts on a 2 MiB boundary (the bench counts
 * bytes this way so that measured runs keep their huge pages). */
START_TEST(test_util_alloc_default_wrapped)
{
    test_util_counting counting = {0, 0};
    util_alloc_set_hook(test_util_wrapping_hook, &counting);
    unsigned char *big = util_malloc((size_t)3 << 20);
    unsigned char *small = util_calloc(3, 7);
    ck_assert_ptr_nonnull(big);
    ck_assert_ptr_nonnull(small);
    ck_assert_uint_eq((uintptr_t)big % ((uintptr_t)2 << 20), 0);
    ck_assert_uint_eq(small[20], 0);
    big[((size_t)3 << 20) - 1] = 7;
    big = util_realloc(big, (size_t)4 << 20);
    ck_assert_ptr_nonnull(big);
    ck_assert_uint_eq(big[((size_t)3 << 20) - 1], 7);
    util_free(big);
    util_free(small);
    util_alloc_set_hook(NULL, NULL);
    ck_assert_uint_eq(counting.allocs, 3);
    ck_assert_uint_eq(counting.frees, 2);
}
END_TEST

/* The VmFlags line of the mapping that holds 'address' (/proc/self/smaps),
 * or "" when there is none. */
static void test_util_vm_flags(const void *address, char *flags, size_t size)
{
    flags[0] = '\0';
    FILE *file = fopen("/proc/self/smaps", "r");
    if (file == NULL) {
        return;
    }
    char line[512];
    bool inside = false;
    while (fgets(line, sizeof(line), file) != NULL) {
        unsigned long start, end;
        if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
            inside = (uintptr_t)address >= start && (uintptr_t)address < end;
        } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            snprintf(flags, size, "%s", line + 8);
            break;
        }
    }
    fclose(file);
}

/* A block the default hook put on huge pages goes back to 4 KiB pages:
 * its mapping is marked 'nh' (no huge pages), not 'hg'. Where the kernel
 * has no transparent huge pages the advice means nothing and is not
 * checked. */
START_TEST(test_util_alloc_small_pages)
{
    size_t bytes = (size_t)8 << 20;
    unsigned char *block = util_malloc(bytes);
    ck_assert_ptr_nonnull(block);
    FILE *thp = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (thp != NULL) {
        fclose(thp);
        char flags[512];
        test_util_vm_flags(block + bytes / 2, flags, sizeof(flags));
        ck_assert_ptr_nonnull(strstr(flags, " hg"));
        util_alloc_small_pages(block, bytes);
        test_util_vm_flags(block + bytes / 2, flags, sizeof(flags));
        ck_assert_ptr_nonnull(strstr(flags, " nh"));
        ck_assert_ptr_null(strstr(flags, " hg"));
    }
    block[0] = 1;
    block[bytes - 1] = 2;
    ck_assert_uint_eq(block[0] + block[bytes - 1], 3);
    util_alloc_small_pages(NULL, bytes);
    util_alloc_small_pages(block, 100);
    util_free(block);
}
END_TEST

/* Resident pages of this process (/proc/self/statm), or 0 when unknown. */
static unsigned long test_util_resident_pages(void)
{
    unsigned long size = 0, resident = 0;
    FILE *file = fopen("/proc/self/statm", "r");
    if (file != NULL) {
        if (fscanf(file, "%lu %lu", &size, &resident) != 2) {
            resident = 0;
        }
        fclose(file);
    }
    return resident;
}

/* Under a counting hook, one block of 'calloc' is one allocation and one
 * free: the hook sees it. */
static void test_util_through_hook(void *(*calloc_fn)(size_t, size_t))
{
    test_util_counting counting = {0, 0};
    util_alloc_set_hook(test_util_counting_hook, &counting);
    util_free(calloc_fn(4, 8));
    util_alloc_set_hook(NULL, NULL);
    ck_assert_uint_eq(counting.allocs, 1);
    ck_assert_uint_eq(counting.frees, 1);
}

/* util_calloc_sparse: zeroed, the same refusals as util_calloc, through
 * the hook and failure injection when they are set, and a large array
 * of which one entry is written stays mostly not resident (util_calloc
 * writes every page: 256 MiB here). */
START_TEST(test_util_alloc_sparse)
{
    ck_assert_ptr_null(util_calloc_sparse(0, 8));
    ck_assert_ptr_null(util_calloc_sparse((size_t)-1 / 2, 4));
    util_alloc_fail_after(1);
    ck_assert_ptr_null(util_calloc_sparse(2, 8));
    util_alloc_fail_after(0);
    test_util_through_hook(util_calloc_sparse);

    const size_t bytes = (size_t)256 << 20;
    unsigned long before = test_util_resident_pages();
    unsigned char *big = util_calloc_sparse(bytes, 1);
    ck_assert_ptr_nonnull(big);
    big[bytes / 2] = 1;
    ck_assert_uint_eq(big[bytes / 3], 0);
    unsigned long after = test_util_resident_pages();
    if (before > 0 && !UTIL_ALLOC_ASAN) {
        unsigned long page = 4096;
        ck_assert_msg((after - before) * page < ((size_t)16 << 20),
                      "%lu pages became resident", after - before);
    }
    util_free(big);
}
END_TEST

/* util_calloc_large: zeroed, through the hook; in a plain build the
 * block is written at once (resident, so a run that fills it takes no page
 * faults one 4 KiB page at a time), while under the sanitizers it is
 * util_calloc_sparse (resident pages are not read there, as above). */
START_TEST(test_util_alloc_large)
{
    ck_assert_ptr_null(util_calloc_large(0, 8));
    test_util_through_hook(util_calloc_large);

    const size_t bytes = (size_t)64 << 20;
    unsigned long before = test_util_resident_pages();
    unsigned char *big = util_calloc_large(bytes, 1);
    ck_assert_ptr_nonnull(big);
    ck_assert_uint_eq(big[0] | big[bytes / 2] | big[bytes - 1], 0);
    unsigned long after = test_util_resident_pages();
    if (before > 0 && !UTIL_ALLOC_ASAN) {
        ck_assert_msg((after - before) * 4096 > bytes / 2, "%lu pages became resident",
                      after - before);
    }
    util_free(big);
}
END_TEST

/* ---- hashing ---- */

START_TEST(test_util_hash_sha256_known_vectors)
{
    ck_assert_int_eq(util_hash_init(), 0);
    ck_assert_int_eq(util_hash_init(), 0);   /* idempotent */
    char hex[UTIL_SHA256_HEX_BYTES];
    util_sha256_hex("abc", 3, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    util_sha256_hex(NULL, 0, hex);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
END_TEST

START_TEST(test_util_hash_mac_key_derive_distinct)
{
    ck_assert_int_eq(util_hash_init(), 0);
    uint8_t a[UTIL_MAC_KEY_BYTES];
    uint8_t b[UTIL_MAC_KEY_BYTES];
    util_mac_key_derive(1, 1, a);
    util_mac_key_derive(1, 1, b);
    ck_assert_mem_eq(a, b, sizeof(a));
    util_mac_key_derive(1, 2, b);
    ck_assert(memcmp(a, b, sizeof(a)) != 0);
    util_mac_key_derive(2, 1, b);
    ck_assert(memcmp(a, b, sizeof(a)) != 0);
}
END_TEST

START_TEST(test_util_hash_mac64_sensitive_to_every_bit)
{
    ck_assert_int_eq(util_hash_init(), 0);
    uint8_t key[UTIL_MAC_KEY_BYTES];
    util_mac_key_derive(77, 3, key);
    uint8_t data[24];
    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (uint8_t)(i * 37);
    }
    uint64_t tag = util_mac64(key, data, sizeof(data));
    ck_assert_uint_eq(tag, util_mac64(key, data, sizeof(data)));
    for (size_t bit = 0; bit < sizeof(data) * 8; bit++) {
        data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        ck_assert_uint_ne(util_mac64(key, data, sizeof(data)), tag);
        data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t bit = 0; bit < UTIL_MAC_KEY_BYTES * 8; bit++) {
        key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        ck_assert_uint_ne(util_mac64(key, data, sizeof(data)), tag);
        key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    ck_assert_uint_ne(util_mac64(key, data, sizeof(data) - 1), tag);
}
END_TEST

/* A digest's head: its first 8 bytes read little-endian. */
static uint64_t test_util_head_of(const uint8_t digest[UTIL_HASH256_BYTES])
{
    uint64_t head = 0;
    for (int i = 0; i < 8; i++) {
        head |= (uint64_t)digest[i] << (8 * i);
    }
    return head;
}

/* Cut 'size' bytes into prefix, item and rest: cuts 0 to 2 at multiples of
 * 8 (no prefix; halves; the sortition's 32 and 32), 3 to 5 anywhere. */
static void test_util_heads_cut(size_t size, size_t cut, util_prng *prng, size_t *prefix,
                                size_t *item)
{
    size_t words = size / 8;
    if (cut == 0) {
        *prefix = 0;
        *item = 8 * words;
    } else if (cut == 1) {
        *prefix = 8 * (words / 2);
        *item = 8 * words - *prefix;
    } else if (cut == 2) {
        *prefix = size < 32 ? 0 : 32;
        *item = size - *prefix < 32 ? 0 : 32;
    } else {
        *prefix = (size_t)util_prng_next(prng) % (size + 1);
        *item = (size_t)util_prng_next(prng) % (size - *prefix + 1);
    }
}

/* The lane hash is BLAKE2b-256 bit for bit: every one-block size, cut into
 * prefix, item and suffix at word boundaries and between them, lane counts
 * that fill and do not fill the eight lanes, random bytes. */
START_TEST(test_util_hash256_heads_equal_single)
{
    ck_assert_int_eq(util_hash_init(), 0);
    util_prng prng;
    util_prng_init(&prng, 2026);
    enum { COUNT = 19 };
    uint8_t block[128], items[COUNT][128], input[128];
    const uint8_t *item_of[COUNT];
    uint64_t heads[COUNT];
    for (size_t i = 0; i < COUNT; i++) {
        item_of[i] = items[i];
    }
    for (size_t size = 0; size <= 128; size++) {
        for (size_t cut = 0; cut < 6; cut++) {
            for (size_t i = 0; i < sizeof(block); i++) {
                block[i] = (uint8_t)util_prng_next(&prng);
            }
            for (size_t i = 0; i < COUNT; i++) {
                for (size_t b = 0; b < sizeof(items[i]); b++) {
                    items[i][b] = (uint8_t)util_prng_next(&prng);
                }
            }
            size_t prefix, item;
            test_util_heads_cut(size, cut, &prng, &prefix, &item);
            size_t suffix = size - prefix - item;
            util_hash_batch batch = {block, prefix, item_of, item, block + prefix + item, suffix};
            size_t count = 1 + (size + cut) % COUNT;
            util_hash256_heads(&batch, count, heads);
            for (size_t i = 0; i < count; i++) {
                memcpy(input, block, prefix);
                memcpy(input + prefix, items[i], item);
                memcpy(input + prefix + item, block + prefix + item, suffix);
                uint8_t expected[UTIL_HASH256_BYTES];
                util_hash256(input, size, expected);
                ck_assert_uint_eq(heads[i], test_util_head_of(expected));
            }
        }
    }
    /* A checker that can fire: one flipped item bit changes its head only. */
    util_hash_batch batch = {block, 32, item_of, 32, block + 64, 4};
    util_hash256_heads(&batch, 9, heads);
    uint64_t before[9];
    memcpy(before, heads, sizeof(before));
    items[8][31] ^= 1;
    util_hash256_heads(&batch, 9, heads);
    ck_assert_uint_ne(heads[8], before[8]);
    ck_assert_mem_eq(heads, before, 8 * sizeof(heads[0]));
}
END_TEST

/* The memo of verified signatures answers as util_sign_verify does: a
 * valid triple from the memo the second time, and never a triple that
 * differs from a remembered one in any part -- a flipped signature bit, a
 * shorter or altered message, another key -- nor an invalid one, which is
 * verified every time. A one-slot memo replaces and re-verifies. */
START_TEST(test_util_sign_memo_answers_as_verify)
{
    ck_assert_int_eq(util_hash_init(), 0);
    uint8_t pk[UTIL_SIGN_PUBLIC_KEY_BYTES], sk[UTIL_SIGN_SECRET_KEY_BYTES];
    uint8_t pk_other[UTIL_SIGN_PUBLIC_KEY_BYTES], sk_other[UTIL_SIGN_SECRET_KEY_BYTES];
    util_sign_keypair_from_seed(5, 0, pk, sk);
    util_sign_keypair_from_seed(5, 1, pk_other, sk_other);
    uint8_t message[49] = "a quorum certificate's vote";
    uint8_t signature[UTIL_SIGNATURE_BYTES], empty_signature[UTIL_SIGNATURE_BYTES];
    util_sign(sk, message, sizeof(message), signature);
    util_sign(sk, NULL, 0, empty_signature);
    util_sign_memo *memo = NULL;
    ck_assert_int_eq(util_sign_memo_create(100, &memo), 0);
    ck_assert(util_sign_verify_memo(memo, pk, message, sizeof(message), signature));
    ck_assert(util_sign_verify_memo(memo, pk, message, sizeof(message), signature));
    ck_assert_uint_eq(util_sign_memo_verified(memo), 1);
    ck_assert_uint_eq(util_sign_memo_hits(memo), 1);
    signature[63] ^= 1;
    ck_assert(!util_sign_verify_memo(memo, pk, message, sizeof(message), signature));
    ck_assert(!util_sign_verify_memo(memo, pk, message, sizeof(message), signature));
    signature[63] ^= 1;
    ck_assert(!util_sign_verify_memo(memo, pk, message, sizeof(message) - 1, signature));
    ck_assert(!util_sign_verify_memo(memo, pk_other, message, sizeof(message), signature));
    message[0] ^= 1;
    ck_assert(!util_sign_verify_memo(memo, pk, message, sizeof(message), signature));
    message[0] ^= 1;
    ck_assert_uint_eq(util_sign_memo_verified(memo), 6); /* each invalid one verified */
    ck_assert_uint_eq(util_sign_memo_hits(memo), 1);
    ck_assert(util_sign_verify_memo(memo, pk, NULL, 0, empty_signature));
    ck_assert(util_sign_verify_memo(memo, pk, NULL, 0, empty_signature));
    ck_assert(!util_sign_verify_memo(memo, pk_other, NULL, 0, empty_signature));
    ck_assert_uint_eq(util_sign_memo_hits(memo), 2);
    util_sign_memo_destroy(memo);
    /* One slot: two valid triples take turns, each verified again. */
    ck_assert_int_eq(util_sign_memo_create(1, &memo), 0);
    for (int round = 0; round < 3; round++) {
        ck_assert(util_sign_verify_memo(memo, pk, message, sizeof(message), signature));
        ck_assert(util_sign_verify_memo(memo, pk, NULL, 0, empty_signature));
    }
    ck_assert_uint_eq(util_sign_memo_verified(memo), 6);
    ck_assert_uint_eq(util_sign_memo_hits(memo), 0);
    util_sign_memo_destroy(memo);
    util_sign_memo_destroy(NULL);
    ck_assert(util_sign_verify_memo(NULL, pk, message, sizeof(message), signature));
}
END_TEST

/* The Wilson score interval against hand-worked values: 5 of 10 at
 * z = 1.96 is (0.2366, 0.7634); 0 of 10 is [0, z^2 / (n + z^2)]; all of
 * n ends at 1 exactly; no trials is [0, 1]. */
START_TEST(test_util_wilson_interval_values)
{
    double low, high;
    util_wilson_interval(5, 10, 1.96, &low, &high);
    double z2 = 1.96 * 1.96;
    double half = 1.96 * sqrt(0.025 + z2 / 400.0) / (1.0 + z2 / 10.0);
    ck_assert_double_eq_tol(low, 0.5 - half, 1e-12);
    ck_assert_double_eq_tol(high, 0.5 + half, 1e-12);
    ck_assert_double_eq_tol(low, 0.2366, 1e-4);
    util_wilson_interval(0, 10, 1.96, &low, &high);
    ck_assert(low == 0.0);
    ck_assert_double_eq_tol(high, z2 / (10.0 + z2), 1e-12);
    util_wilson_interval(10, 10, 1.96, &low, &high);
    ck_assert(high == 1.0);
    ck_assert_double_eq_tol(low, 10.0 / (10.0 + z2), 1e-12);
    util_wilson_interval(0, 0, 1.96, &low, &high);
    ck_assert(low == 0.0 && high == 1.0);
    /* Wider at a larger z, narrower with more trials. */
    double low99, high99, low_n, high_n;
    util_wilson_interval(30, 100, 2.576, &low99, &high99);
    util_wilson_interval(30, 100, 1.96, &low, &high);
    util_wilson_interval(300, 1000, 1.96, &low_n, &high_n);
    ck_assert(low99 < low && high99 > high);
    ck_assert(low_n > low && high_n < high);
}
END_TEST

/* The Kolmogorov distribution's tail against its published table:
 * Q(0.5) = 0.9639, Q(1) = 0.2700, Q(1.5) = 0.0222, Q(2) = 0.00067, and the
 * critical values 1.3581 (5 %) and 1.6276 (1 %). */
START_TEST(test_util_kolmogorov_survival_table)
{
    ck_assert_double_eq_tol(util_kolmogorov_survival(0.5), 0.96394524, 1e-7);
    ck_assert_double_eq_tol(util_kolmogorov_survival(1.0), 0.26999967, 1e-7);
    ck_assert_double_eq_tol(util_kolmogorov_survival(1.5), 0.02221796, 1e-7);
    ck_assert_double_eq_tol(util_kolmogorov_survival(2.0), 0.00067093, 1e-7);
    ck_assert_double_eq_tol(util_kolmogorov_survival(1.3581), 0.05, 1e-5);
    ck_assert_double_eq_tol(util_kolmogorov_survival(1.6276), 0.01, 1e-5);
    ck_assert(util_kolmogorov_survival(0.0) == 1.0);
    ck_assert(util_kolmogorov_survival(-1.0) == 1.0);
    ck_assert(util_kolmogorov_survival(NAN) == 1.0);
    ck_assert(util_kolmogorov_survival(0.1) == 1.0);
    ck_assert(util_kolmogorov_survival(10.0) < 1e-80);
}
END_TEST

/* The two-sample statistic on hand-worked samples: disjoint samples are
 * 1 apart, equal ones 0, {1..10} against {6..15} 0.5 with p =
 * Q(sqrt(5) 0.5) = 0.16408; ties step both CDFs together; the order of
 * the input does not matter; an empty sample gives NaN. */
START_TEST(test_util_ks_two_sample_values)
{
    uint64_t a[10], b[10];
    double p = 0.0;
    for (uint64_t i = 0; i < 10; i++) {
        a[i] = 10 - i; /* unsorted on purpose */
        b[i] = 6 + i;
    }
    ck_assert_double_eq_tol(util_ks_two_sample(a, 10, b, 10, &p), 0.5, 1e-12);
    ck_assert_double_eq_tol(p, 0.16407920, 1e-7);
    for (uint64_t i = 0; i < 10; i++) {
        b[i] = 100 + i;
    }
    ck_assert_double_eq_tol(util_ks_two_sample(a, 10, b, 10, &p), 1.0, 1e-12);
    ck_assert_double_eq_tol(p, util_kolmogorov_survival(sqrt(5.0)), 1e-12);
    ck_assert(p < 0.01);
    memcpy(b, a, sizeof(a));
    ck_assert_double_eq_tol(util_ks_two_sample(a, 10, b, 10, &p), 0.0, 1e-12);
    ck_assert(p == 1.0);
    /* Ties: {1, 2, 2, 3} against {2, 2, 2, 2}: at 1 the gap is 1/4, at 2
     * both step (3/4 against 1), so D = 1/4, not 3/4. */
    uint64_t c[4] = {1, 2, 2, 3}, d[4] = {2, 2, 2, 2};
    ck_assert_double_eq_tol(util_ks_two_sample(c, 4, d, 4, NULL), 0.25, 1e-12);
    /* Unequal sizes: {1, 2, 3} against {1, 2, 3, 4, 5, 6}: D = 1/2 at 3. */
    uint64_t e[3] = {3, 1, 2}, f[6] = {6, 5, 4, 3, 2, 1};
    ck_assert_double_eq_tol(util_ks_two_sample(e, 3, f, 6, &p), 0.5, 1e-12);
    ck_assert_double_eq_tol(p, util_kolmogorov_survival(sqrt(2.0) * 0.5), 1e-12);
    ck_assert(isnan(util_ks_two_sample(e, 0, f, 6, &p)) && isnan(p));
}
END_TEST

/* ---- edwards25519 ---- */

static void test_util_edwards_bytes(util_prng *prng, uint8_t *out, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        out[i] = (uint8_t)util_prng_next(prng);
    }
}

/* A random scalar below L. */
static void test_util_edwards_scalar(util_prng *prng, uint8_t scalar[32])
{
    uint8_t wide[64];
    test_util_edwards_bytes(prng, wide, sizeof(wide));
    util_ed25519_scalar_reduce(scalar, wide);
}

/* A random point of the prime-order subgroup, by libsodium. */
static void test_util_edwards_point(util_prng *prng, uint8_t point[32])
{
    uint8_t scalar[32];
    test_util_edwards_scalar(prng, scalar);
    ck_assert_int_eq(util_ed25519_scalarmult_base(point, scalar), 0);
}

/* Every operation gives libsodium's bytes on random points and scalars,
 * short scalars (the VRF's 128-bit c) and zero included. */
START_TEST(test_util_edwards_matches_libsodium)
{
    ck_assert_int_eq(util_hash_init(), 0);
    /* A point of order 8 (the one tests/test_vrf.c adds to Gamma). */
    static const uint8_t order8[32] = {
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
        0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a};
    util_prng prng;
    util_prng_init(&prng, 25519);
    for (int i = 0; i < 300; i++) {
        uint8_t a[32], b[32], p_bytes[32], q_bytes[32], mine[32], theirs[32], bq[32];
        test_util_edwards_point(&prng, p_bytes);
        test_util_edwards_point(&prng, q_bytes);
        test_util_edwards_scalar(&prng, a);
        test_util_edwards_scalar(&prng, b);
        if (i % 3 == 0) {
            memset(b + 16, 0, 16);
        }
        util_edwards_point p, q, r;
        ck_assert(util_edwards_decode(&p, p_bytes) && util_edwards_decode(&q, q_bytes));
        util_edwards_encode(mine, &p);
        ck_assert_mem_eq(mine, p_bytes, 32);
        ck_assert(util_edwards_in_prime_subgroup(&p) && !util_edwards_is_identity(&p));
        util_edwards_mul(&r, a, &p);
        util_edwards_encode(mine, &r);
        ck_assert_int_eq(util_ed25519_scalarmult(theirs, a, p_bytes), 0);
        ck_assert_mem_eq(mine, theirs, 32);
        ck_assert_int_eq(util_ed25519_scalarmult(bq, b, q_bytes), 0);
        util_edwards_mul_sub_vartime(&r, a, &p, b, &q);
        util_edwards_encode(mine, &r);
        ck_assert_int_eq(util_ed25519_point_sub(theirs, theirs, bq), 0);
        ck_assert_mem_eq(mine, theirs, 32);
        util_edwards_mul_sub_vartime(&r, a, NULL, b, &q);
        util_edwards_encode(mine, &r);
        ck_assert_int_eq(util_ed25519_scalarmult_base(theirs, a), 0);
        ck_assert_int_eq(util_ed25519_point_sub(theirs, theirs, bq), 0);
        ck_assert_mem_eq(mine, theirs, 32);
        /* P plus a point of order 8: decodes, is outside the subgroup, and
         * its cofactor multiple is libsodium's three doublings. */
        uint8_t mixed_bytes[32], twice[32];
        ck_assert_int_eq(util_ed25519_point_add(mixed_bytes, p_bytes, order8), 0);
        util_edwards_point mixed;
        ck_assert(util_edwards_decode(&mixed, mixed_bytes));
        ck_assert(!util_edwards_in_prime_subgroup(&mixed));
        util_edwards_mul_cofactor(&r, &mixed);
        util_edwards_encode(mine, &r);
        ck_assert_int_eq(util_ed25519_point_add(twice, mixed_bytes, mixed_bytes), 0);
        ck_assert_int_eq(util_ed25519_point_add(twice, twice, twice), 0);
        ck_assert_int_eq(util_ed25519_point_add(theirs, twice, twice), 0);
        ck_assert_mem_eq(mine, theirs, 32);
    }
    /* Encodings made together are the encodings made one by one, whatever
     * the count: projective points (Z != 1) from products. */
    util_edwards_point products[UTIL_EDWARDS_ENCODE_MAX];
    const util_edwards_point *pointers[UTIL_EDWARDS_ENCODE_MAX];
    uint8_t together[UTIL_EDWARDS_ENCODE_MAX][32], alone[32];
    for (int i = 0; i < UTIL_EDWARDS_ENCODE_MAX; i++) {
        uint8_t scalar[32], bytes[32];
        test_util_edwards_point(&prng, bytes);
        test_util_edwards_scalar(&prng, scalar);
        util_edwards_point q;
        ck_assert(util_edwards_decode(&q, bytes));
        util_edwards_mul(&products[i], scalar, &q);
        pointers[i] = &products[i];
    }
    for (size_t count = 1; count <= UTIL_EDWARDS_ENCODE_MAX; count++) {
        util_edwards_encode_many(together, pointers, count);
        for (size_t i = 0; i < count; i++) {
            util_edwards_encode(alone, &products[i]);
            ck_assert_mem_eq(together[i], alone, 32);
        }
    }
    /* Zero scalars give the identity, which encodes as (0, 1). */
    static const uint8_t zero[32] = {0}, identity[32] = {1};
    util_edwards_point p, r;
    ck_assert(util_edwards_decode(&p, identity) && util_edwards_is_identity(&p));
    ck_assert(util_edwards_in_prime_subgroup(&p));
    util_edwards_mul(&r, zero, &p);
    ck_assert(util_edwards_is_identity(&r));
    util_edwards_mul_sub_vartime(&r, zero, NULL, zero, &p);
    uint8_t mine[32];
    util_edwards_encode(mine, &r);
    ck_assert_mem_eq(mine, identity, 32);
}
END_TEST

/* Decoding is RFC 8032's, as libsodium's decoding plus re-encoding finds
 * it, on random strings and on the edge cases: y = p and y = p + 1 (not
 * canonical), and x = 0 with the sign bit set. */
START_TEST(test_util_edwards_decode_strict)
{
    ck_assert_int_eq(util_hash_init(), 0);
    static const uint8_t identity[32] = {1};
    util_prng prng;
    util_prng_init(&prng, 8032);
    int decoded = 0;
    for (int i = 0; i < 3000; i++) {
        uint8_t bytes[32], again[32];
        test_util_edwards_bytes(&prng, bytes, sizeof(bytes));
        if (i % 10 == 0) { /* near p: y = p - 3 .. p + 6, either sign */
            memset(bytes, 0xff, 32);
            bytes[0] = (uint8_t)(0xea + i / 10 % 10);
            bytes[31] = i % 20 == 0 ? 0xff : 0x7f;
        }
        bool theirs = util_ed25519_point_add(again, bytes, identity) == 0 &&
                      memcmp(again, bytes, 32) == 0;
        util_edwards_point p;
        bool mine = util_edwards_decode(&p, bytes);
        ck_assert_msg(mine == theirs, "string %d", i);
        if (mine) {
            util_edwards_encode(again, &p);
            ck_assert_mem_eq(again, bytes, 32);
            ck_assert(util_edwards_in_prime_subgroup(&p) == util_ed25519_point_valid(bytes) ||
                      util_edwards_is_identity(&p));
            decoded++;
        }
    }
    ck_assert_int_gt(decoded, 1000); /* about half of all strings are points */
    uint8_t bytes[32];
    util_edwards_point p;
    memset(bytes, 0xff, 32);
    bytes[0] = 0xed;
    bytes[31] = 0x7f; /* y = p, which would be y = 0 */
    ck_assert(!util_edwards_decode(&p, bytes));
    bytes[0] = 0xee; /* y = p + 1 */
    ck_assert(!util_edwards_decode(&p, bytes));
    memcpy(bytes, identity, 32);
    bytes[31] = 0x80; /* (0, 1) with the sign bit */
    ck_assert(!util_edwards_decode(&p, bytes));
}
END_TEST

Suite *test_util_suite(void)
{
    Suite *suite = suite_create("util");

    TCase *prng = tcase_create("prng");
    tcase_set_timeout(prng, 10);
    tcase_add_test(prng, test_util_prng_same_seed_same_sequence);
    tcase_add_test(prng, test_util_prng_splitmix_known_vector);
    tcase_add_test(prng, test_util_prng_stream_distinct_triples_differ);
    tcase_add_test(prng, test_util_prng_stream_unaffected_by_other_streams);
    tcase_add_test(prng, test_util_prng_stream_uncorrelated);
    tcase_add_test(prng, test_util_prng_uniform_mean_and_range);
    tcase_add_test(prng, test_util_prng_below_range_and_uniformity);
    tcase_add_test(prng, test_util_prng_exponential_mean);
    tcase_add_test(prng, test_util_prng_normal_mean_and_variance);
    tcase_add_test(prng, test_util_prng_chance_edges_do_not_draw);
    suite_add_tcase(suite, prng);

    TCase *hist = tcase_create("hist");
    tcase_set_timeout(hist, 10);
    tcase_add_test(hist, test_util_hist_quantiles_within_two_percent);
    tcase_add_test(hist, test_util_hist_small_values_exact);
    tcase_add_test(hist, test_util_hist_merge_and_metric);
    tcase_add_test(hist, test_util_wilson_interval_values);
    tcase_add_test(hist, test_util_kolmogorov_survival_table);
    tcase_add_test(hist, test_util_ks_two_sample_values);
    suite_add_tcase(suite, hist);

    TCase *alloc = tcase_create("alloc");
    tcase_set_timeout(alloc, 10);
    tcase_add_test(alloc, test_util_alloc_fail_after_injects_failure);
    tcase_add_test(alloc, test_util_alloc_edge_sizes);
    tcase_add_test(alloc, test_util_alloc_hook_sees_every_call);
    tcase_add_test(alloc, test_util_alloc_sparse);
    tcase_add_test(alloc, test_util_alloc_large);
    tcase_add_test(alloc, test_util_alloc_default_wrapped);
    tcase_add_test(alloc, test_util_alloc_small_pages);
    suite_add_tcase(suite, alloc);

    TCase *hash = tcase_create("hash");
    tcase_set_timeout(hash, 10);
    tcase_add_test(hash, test_util_hash_sha256_known_vectors);
    tcase_add_test(hash, test_util_hash_mac_key_derive_distinct);
    tcase_add_test(hash, test_util_hash_mac64_sensitive_to_every_bit);
    tcase_add_test(hash, test_util_hash256_heads_equal_single);
    tcase_add_test(hash, test_util_sign_memo_answers_as_verify);
    suite_add_tcase(suite, hash);

    TCase *edwards = tcase_create("edwards");
    tcase_set_timeout(edwards, 30);
    tcase_add_test(edwards, test_util_edwards_matches_libsodium);
    tcase_add_test(edwards, test_util_edwards_decode_strict);
    suite_add_tcase(suite, edwards);
    return suite;
}
