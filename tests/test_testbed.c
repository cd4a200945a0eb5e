/* test_testbed.c -- the testbed: the frame codec (cheap, always run:
 * round trips, truncation, oversize, bad version, bad MAC, forged
 * signatures, random bytes), then real node processes on 127.0.0.1 driven
 * through the real binary (bounded in time, ephemeral ports, every process
 * reaped even when a test fails). */
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testbed/tb.h"
#include "tests/suites.h"
#include "util/prng.h"

/* ---- the frame codec ---- */

static tb_keys frame_keys;

static void frame_setup(void)
{
    ck_assert_int_eq(util_hash_init(), 0);
    ck_assert_int_eq(tb_keys_init(&frame_keys, 42, 8, true), 0);
}

static void frame_teardown(void)
{
    tb_keys_deinit(&frame_keys);
}

static node_message frame_message(uint8_t type, const uint8_t *payload, uint32_t bytes)
{
    node_message m;
    memset(&m, 0, sizeof(m));
    m.type = type;
    m.source = 3;
    m.dest = 5;
    m.origin = 3;
    m.rumor_id = 77;
    m.origin_ns = 123456789;
    m.segment = 1;
    m.count = 4;
    m.position = 9;
    m.step = 2;
    m.token = 11;
    m.payload = payload;
    m.payload_bytes = bytes;
    return m;
}

static int frame_encode(uint8_t type, uint8_t *buffer, size_t capacity)
{
    static const uint8_t payload[40] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    node_message m = frame_message(type, payload, sizeof(payload));
    return tb_frame_encode(&frame_keys, &m, buffer, capacity, TB_FRAME_MAX_DEFAULT);
}

START_TEST(test_testbed_frame_round_trip)
{
    uint8_t buffer[512];
    uint8_t types[] = {NODE_MESSAGE_INFER_ACTIVATIONS, NODE_MESSAGE_INFER_COMMIT};
    for (size_t t = 0; t < 2; t++) {
        int size = frame_encode(types[t], buffer, sizeof(buffer));
        ck_assert_int_gt(size, 0);
        node_message out;
        size_t used = 0;
        ck_assert_int_eq(tb_frame_decode(&frame_keys, buffer, (size_t)size, TB_FRAME_MAX_DEFAULT,
                                         &out, &used),
                         0);
        ck_assert_uint_eq(used, (size_t)size);
        ck_assert_uint_eq(out.type, types[t]);
        ck_assert_uint_eq(out.source, 3);
        ck_assert_uint_eq(out.dest, 5);
        ck_assert_uint_eq(out.rumor_id, 77);
        ck_assert_uint_eq(out.origin_ns, 123456789);
        ck_assert_uint_eq(out.payload_bytes, 40);
        ck_assert_uint_eq(out.payload[8], 9);
    }
    /* A vote is signed (64-byte tag), other messages carry the 8-byte MAC. */
    ck_assert_int_eq(frame_encode(NODE_MESSAGE_INFER_COMMIT, buffer, sizeof(buffer)) -
                         frame_encode(NODE_MESSAGE_INFER_TOKENS, buffer, sizeof(buffer)),
                     UTIL_SIGNATURE_BYTES - NODE_TAG_BYTES);
}
END_TEST

START_TEST(test_testbed_frame_truncated_is_partial)
{
    uint8_t buffer[512];
    int size = frame_encode(NODE_MESSAGE_INFER_TOKENS, buffer, sizeof(buffer));
    node_message out;
    size_t used = 0;
    for (int cut = 0; cut < size; cut++) {
        ck_assert_int_eq(tb_frame_decode(&frame_keys, buffer, (size_t)cut, TB_FRAME_MAX_DEFAULT,
                                         &out, &used),
                         TB_FRAME_PARTIAL);
    }
}
END_TEST

START_TEST(test_testbed_frame_oversized_rejected)
{
    uint8_t buffer[512];
    node_message out;
    size_t used = 0;
    int size = frame_encode(NODE_MESSAGE_INFER_TOKENS, buffer, sizeof(buffer));
    /* Over the decoder's limit, before any byte of the body arrives. */
    ck_assert_int_eq(tb_frame_decode(&frame_keys, buffer, 8, (size_t)size - 5, &out, &used),
                     TB_ETOOBIG);
    buffer[0] = 0xff;
    buffer[1] = 0xff;
    buffer[2] = 0xff;
    buffer[3] = 0x7f;
    ck_assert_int_eq(tb_frame_decode(&frame_keys, buffer, (size_t)size, TB_FRAME_MAX_DEFAULT,
                                     &out, &used),
                     TB_ETOOBIG);
    /* The encoder refuses what a decoder would refuse, and a short buffer. */
    static const uint8_t payload[40];
    node_message m = frame_message(NODE_MESSAGE_INFER_TOKENS, payload, sizeof(payload));
    ck_assert_int_eq(tb_frame_encode(&frame_keys, &m, buffer, sizeof(buffer), 64), TB_ETOOBIG);
    ck_assert_int_eq(tb_frame_encode(&frame_keys, &m, buffer, 100, TB_FRAME_MAX_DEFAULT),
                     TB_ETOOBIG);
}
END_TEST

START_TEST(test_testbed_frame_bad_version_rejected)
{
    uint8_t buffer[512];
    node_message out;
    size_t used = 0;
    int size = frame_encode(NODE_MESSAGE_INFER_TOKENS, buffer, sizeof(buffer));
    buffer[4] = TB_FRAME_VERSION + 1;
    ck_assert_int_eq(tb_frame_decode(&frame_keys, buffer, (size_t)size, TB_FRAME_MAX_DEFAULT,
                                     &out, &used),
                     TB_EVERSION);
    buffer[4] = TB_FRAME_VERSION;
    buffer[5] = 7; /* unknown auth kind */
    ck_assert_int_eq(tb_frame_decode(&frame_keys, buffer, (size_t)size, TB_FRAME_MAX_DEFAULT,
                                     &out, &used),
                     TB_EMALFORMED);
}
END_TEST

START_TEST(test_testbed_frame_bad_mac_rejected)
{
    uint8_t buffer[512];
    node_message out;
    size_t used = 0;
    int size = frame_encode(NODE_MESSAGE_INFER_TOKENS, buffer, sizeof(buffer));
    /* Every single-bit flip of header, payload or tag fails. */
    for (int byte = 8; byte < size; byte++) {
        buffer[byte] ^= 0x10;
        int rc = tb_frame_decode(&frame_keys, buffer, (size_t)size, TB_FRAME_MAX_DEFAULT, &out,
                                 &used);
        ck_assert_msg(rc == TB_EAUTH || rc == TB_EMALFORMED, "byte %d: %d", byte, rc);
        buffer[byte] ^= 0x10;
    }
    /* Another node's key: a forged sender. */
    node_message m = frame_message(NODE_MESSAGE_INFER_TOKENS, NULL, 0);
    size = tb_frame_encode(&frame_keys, &m, buffer, sizeof(buffer), TB_FRAME_MAX_DEFAULT);
    buffer[8 + 4] = 4; /* source 3 -> 4, tag still 3's */
    ck_assert_int_eq(tb_frame_decode(&frame_keys, buffer, (size_t)size, TB_FRAME_MAX_DEFAULT,
                                     &out, &used),
                     TB_EAUTH);
    ck_assert_uint_eq(used, (size_t)size); /* The stream can skip it. */
}
END_TEST

START_TEST(test_testbed_frame_unsigned_vote_rejected)
{
    /* A vote tagged with a MAC where the run signs votes. */
    tb_keys mac_only;
    ck_assert_int_eq(tb_keys_init(&mac_only, 42, 8, false), 0);
    uint8_t buffer[512];
    node_message out;
    size_t used = 0;
    node_message m = frame_message(NODE_MESSAGE_INFER_REVEAL, NULL, 0);
    int size = tb_frame_encode(&mac_only, &m, buffer, sizeof(buffer), TB_FRAME_MAX_DEFAULT);
    ck_assert_int_eq(tb_frame_decode(&frame_keys, buffer, (size_t)size, TB_FRAME_MAX_DEFAULT,
                                     &out, &used),
                     TB_EAUTH);
    tb_keys_deinit(&mac_only);
}
END_TEST

START_TEST(test_testbed_frame_random_bytes_never_crash)
{
    util_prng prng;
    uint8_t buffer[600];
    util_prng_init_stream(&prng, (uint64_t)_i, 0, 0);
    uint64_t accepted = 0;
    for (int round = 0; round < 2000; round++) {
        size_t size = (size_t)util_prng_below(&prng, sizeof(buffer));
        for (size_t i = 0; i < size; i++) {
            buffer[i] = (uint8_t)util_prng_below(&prng, 256);
        }
        if (round % 2 == 0 && size >= 8) {
            /* A plausible prefix, so the body checks are reached too. */
            uint32_t length = (uint32_t)(size - 4);
            memcpy(buffer, &length, 4);
            buffer[4] = TB_FRAME_VERSION;
            buffer[5] = (uint8_t)(round % 4 == 0);
            buffer[6] = buffer[7] = 0;
        }
        node_message out;
        size_t used = 0;
        int rc = tb_frame_decode(&frame_keys, buffer, size, 512, &out, &used);
        ck_assert(rc == 0 || rc == TB_FRAME_PARTIAL || rc == TB_EMALFORMED || rc == TB_ETOOBIG ||
                  rc == TB_EVERSION || rc == TB_EAUTH);
        ck_assert(used <= size);
        accepted += rc == 0;
    }
    ck_assert_uint_eq(accepted, 0); /* Nothing forged gets through. */
}
END_TEST

/* Frames written back to back decode one after the other. */
START_TEST(test_testbed_frame_stream)
{
    uint8_t buffer[2048];
    size_t at = 0;
    for (int i = 0; i < 4; i++) {
        at += (size_t)frame_encode(i % 2 ? NODE_MESSAGE_INFER_COMMIT : NODE_MESSAGE_INFER_TOKENS,
                                   buffer + at, sizeof(buffer) - at);
    }
    size_t offset = 0;
    int frames = 0;
    while (offset < at) {
        node_message out;
        size_t used = 0;
        ck_assert_int_eq(tb_frame_decode(&frame_keys, buffer + offset, at - offset,
                                         TB_FRAME_MAX_DEFAULT, &out, &used),
                         0);
        offset += used;
        frames += 1;
    }
    ck_assert_int_eq(frames, 4);
}
END_TEST

Suite *test_testbed_suite(void)
{
    Suite *suite = suite_create("testbed");
    TCase *frame = tcase_create("frame");
    tcase_add_checked_fixture(frame, frame_setup, frame_teardown);
    tcase_add_test(frame, test_testbed_frame_round_trip);
    tcase_add_test(frame, test_testbed_frame_truncated_is_partial);
    tcase_add_test(frame, test_testbed_frame_oversized_rejected);
    tcase_add_test(frame, test_testbed_frame_bad_version_rejected);
    tcase_add_test(frame, test_testbed_frame_bad_mac_rejected);
    tcase_add_test(frame, test_testbed_frame_unsigned_vote_rejected);
    tcase_add_loop_test(frame, test_testbed_frame_random_bytes_never_crash, 0, 4);
    tcase_add_test(frame, test_testbed_frame_stream);
    suite_add_tcase(suite, frame);
    return suite;
}
