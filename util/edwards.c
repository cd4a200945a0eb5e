/* edwards.c -- the edwards25519 group for the VRF (util/edwards.h).
 *
 * The field GF(p), p = 2^255 - 19, keeps five 51-bit limbs and multiplies
 * them with 128-bit products, folding 2^255 back as 19. A product is
 * carried back to limbs just above 2^51; sums and differences are not
 * carried, and the formulas below never let a limb a product takes reach
 * 2^54 (fe_add).
 *
 * The curve is -x^2 + y^2 = 1 + d x^2 y^2. Points are extended (X : Y : Z :
 * T); an addend is first put in the cached form (Y + X, Y - X, 2Z, 2dT),
 * so an addition takes eight multiplications and a doubling four squares
 * and three multiplications, four when an addition needs its T (the a = -1
 * formulas of Hisil, Wong, Carter and Dawson, 2008). */
#include "util/edwards.h"

#include <pthread.h>
#include <string.h>

#include "util/assert.h"
#include "util/hash.h"

typedef util_edwards_fe fe;
typedef util_edwards_point point;
__extension__ typedef unsigned __int128 edwards_u128; /* GCC and Clang */

#define EDWARDS_MASK ((UINT64_C(1) << 51) - 1)

/* The addend's cached form. */
typedef struct cached {
    fe y_plus_x, y_minus_x, z2, t2d;
} cached;

static const fe fe_d2 = {{0x69b9426b2f159ULL, 0x35050762add7aULL, 0x3cf44c0038052ULL,
                          0x6738cc7407977ULL, 0x2406d9dc56dffULL}};
static const fe fe_d = {{0x34dca135978a3ULL, 0x1a8283b156ebdULL, 0x5e7a26001c029ULL,
                         0x739c663a03cbbULL, 0x52036cee2b6ffULL}};
static const fe fe_sqrtm1 = {{0x61b274a0ea0b0ULL, 0x0d5a5fc8f189dULL, 0x7ef5e9cbd0c60ULL,
                              0x78595a6804c9eULL, 0x2b8324804fc1dULL}};
/* The base point B = (x, 4/5) with x even. */
static const point edwards_base = {
    .x = {{0x62d608f25d51aULL, 0x412a4b4f6592aULL, 0x75b7171a4b31dULL, 0x1ff60527118feULL,
           0x216936d3cd6e5ULL}},
    .y = {{0x6666666666658ULL, 0x4ccccccccccccULL, 0x1999999999999ULL, 0x3333333333333ULL,
           0x6666666666666ULL}},
    .z = {{1, 0, 0, 0, 0}},
    .t = {{0x68ab3a5b7dda3ULL, 0x00eea2a5eadbbULL, 0x2af8df483c27eULL, 0x332b375274732ULL,
           0x67875f0fd78b7ULL}},
};
/* The group order L, little-endian. */
static const uint8_t edwards_order[UTIL_EDWARDS_BYTES] = {
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};

/* ---- the field ---- */

static void fe_set(fe *h, uint64_t small)
{
    *h = (fe){{small, 0, 0, 0, 0}};
}

/* Carries every limb into the next, the top one back into the first as 19:
 * limbs below 2^51, the first below 2^51 + 2^18. */
static inline void fe_carry(fe *h)
{
    uint64_t *v = h->v;
    v[1] += v[0] >> 51;
    v[0] &= EDWARDS_MASK;
    v[2] += v[1] >> 51;
    v[1] &= EDWARDS_MASK;
    v[3] += v[2] >> 51;
    v[2] &= EDWARDS_MASK;
    v[4] += v[3] >> 51;
    v[3] &= EDWARDS_MASK;
    v[0] += 19 * (v[4] >> 51);
    v[4] &= EDWARDS_MASK;
}

/* Sums and differences are not carried: a product's limbs are below
 * 2^51 + 2^13, a sum of two below 2^52.1 and a difference below 2^53.4,
 * and fe_mul takes limbs up to 2^54. */
static inline void fe_add(fe *h, const fe *f, const fe *g)
{
    h->v[0] = f->v[0] + g->v[0];
    h->v[1] = f->v[1] + g->v[1];
    h->v[2] = f->v[2] + g->v[2];
    h->v[3] = f->v[3] + g->v[3];
    h->v[4] = f->v[4] + g->v[4];
}

/* f - g + 4p, so that no limb goes below zero: g's limbs must be below
 * 2^53 (a product or a sum of two, or carried). */
static inline void fe_sub(fe *h, const fe *f, const fe *g)
{
    const uint64_t four_p0 = 0x1fffffffffffb4ULL, four_p = 0x1ffffffffffffcULL;
    h->v[0] = f->v[0] + four_p0 - g->v[0];
    h->v[1] = f->v[1] + four_p - g->v[1];
    h->v[2] = f->v[2] + four_p - g->v[2];
    h->v[3] = f->v[3] + four_p - g->v[3];
    h->v[4] = f->v[4] + four_p - g->v[4];
}

static void fe_neg(fe *h, const fe *f)
{
    fe zero;
    fe_set(&zero, 0);
    fe_sub(h, &zero, f);
}

/* The five 128-bit column sums of a product, carried into limbs. Inputs
 * below 2^52 keep every sum below 2^110, so the carry out of the top one
 * times 19 fits 64 bits. */
static inline void fe_reduce_wide(fe *h, edwards_u128 r0, edwards_u128 r1, edwards_u128 r2,
                                  edwards_u128 r3, edwards_u128 r4)
{
    r1 += (uint64_t)(r0 >> 51);
    r2 += (uint64_t)(r1 >> 51);
    r3 += (uint64_t)(r2 >> 51);
    r4 += (uint64_t)(r3 >> 51);
    uint64_t h0 = ((uint64_t)r0 & EDWARDS_MASK) + 19 * (uint64_t)(r4 >> 51);
    h->v[0] = h0 & EDWARDS_MASK;
    h->v[1] = ((uint64_t)r1 & EDWARDS_MASK) + (h0 >> 51);
    h->v[2] = (uint64_t)r2 & EDWARDS_MASK;
    h->v[3] = (uint64_t)r3 & EDWARDS_MASK;
    h->v[4] = (uint64_t)r4 & EDWARDS_MASK;
}

static inline void fe_mul(fe *h, const fe *f, const fe *g)
{
    const uint64_t *a = f->v, *b = g->v;
    uint64_t b1 = 19 * b[1], b2 = 19 * b[2], b3 = 19 * b[3], b4 = 19 * b[4];
    edwards_u128 r0, r1, r2, r3, r4;
    r0 = (edwards_u128)a[0] * b[0] + (edwards_u128)a[1] * b4 + (edwards_u128)a[2] * b3 +
           (edwards_u128)a[3] * b2 + (edwards_u128)a[4] * b1;
    r1 = (edwards_u128)a[0] * b[1] + (edwards_u128)a[1] * b[0] + (edwards_u128)a[2] * b4 +
           (edwards_u128)a[3] * b3 + (edwards_u128)a[4] * b2;
    r2 = (edwards_u128)a[0] * b[2] + (edwards_u128)a[1] * b[1] + (edwards_u128)a[2] * b[0] +
           (edwards_u128)a[3] * b4 + (edwards_u128)a[4] * b3;
    r3 = (edwards_u128)a[0] * b[3] + (edwards_u128)a[1] * b[2] + (edwards_u128)a[2] * b[1] +
           (edwards_u128)a[3] * b[0] + (edwards_u128)a[4] * b4;
    r4 = (edwards_u128)a[0] * b[4] + (edwards_u128)a[1] * b[3] + (edwards_u128)a[2] * b[2] +
           (edwards_u128)a[3] * b[1] + (edwards_u128)a[4] * b[0];
    fe_reduce_wide(h, r0, r1, r2, r3, r4);
}

static inline void fe_sq(fe *h, const fe *f)
{
    const uint64_t *a = f->v;
    uint64_t a0_2 = 2 * a[0], a1_2 = 2 * a[1];
    uint64_t a3_19 = 19 * a[3], a4_19 = 19 * a[4];
    edwards_u128 r0, r1, r2, r3, r4;
    r0 = (edwards_u128)a[0] * a[0] + (edwards_u128)a1_2 * a4_19 +
           (edwards_u128)(2 * a[2]) * a3_19;
    r1 = (edwards_u128)a0_2 * a[1] + (edwards_u128)(2 * a[2]) * a4_19 +
           (edwards_u128)a[3] * a3_19;
    r2 = (edwards_u128)a0_2 * a[2] + (edwards_u128)a[1] * a[1] + (edwards_u128)(2 * a[3]) * a4_19;
    r3 = (edwards_u128)a0_2 * a[3] + (edwards_u128)a1_2 * a[2] + (edwards_u128)a[4] * a4_19;
    r4 = (edwards_u128)a0_2 * a[4] + (edwards_u128)a1_2 * a[3] + (edwards_u128)a[2] * a[2];
    fe_reduce_wide(h, r0, r1, r2, r3, r4);
}

/* h = f^(2^n). */
static void fe_sq_times(fe *h, const fe *f, int n)
{
    fe_sq(h, f);
    for (int i = 1; i < n; i++) {
        fe_sq(h, h);
    }
}

/* z^(2^250 - 1) into 'out', and z^11 into 'z11'. */
static void fe_pow_2_250_1(fe *out, fe *z11, const fe *z)
{
    fe t0, t1, t2;
    fe_sq(&t0, z);                /* 2 */
    fe_sq_times(&t1, &t0, 2);     /* 8 */
    fe_mul(&t1, &t1, z);          /* 9 */
    fe_mul(z11, &t0, &t1);        /* 11 */
    fe_sq(&t0, z11);              /* 22 */
    fe_mul(&t1, &t1, &t0);        /* 2^5 - 1 */
    fe_sq_times(&t0, &t1, 5);
    fe_mul(&t1, &t0, &t1);        /* 2^10 - 1 */
    fe_sq_times(&t0, &t1, 10);
    fe_mul(&t2, &t0, &t1);        /* 2^20 - 1 */
    fe_sq_times(&t0, &t2, 20);
    fe_mul(&t0, &t0, &t2);        /* 2^40 - 1 */
    fe_sq_times(&t0, &t0, 10);
    fe_mul(&t1, &t0, &t1);        /* 2^50 - 1 */
    fe_sq_times(&t0, &t1, 50);
    fe_mul(&t2, &t0, &t1);        /* 2^100 - 1 */
    fe_sq_times(&t0, &t2, 100);
    fe_mul(&t0, &t0, &t2);        /* 2^200 - 1 */
    fe_sq_times(&t0, &t0, 50);
    fe_mul(out, &t0, &t1);        /* 2^250 - 1 */
}

/* z^(p - 2) = 1 / z (0 for 0). */
static void fe_invert(fe *h, const fe *z)
{
    fe t, z11;
    fe_pow_2_250_1(&t, &z11, z);
    fe_sq_times(&t, &t, 5);       /* 2^255 - 32 */
    fe_mul(h, &t, &z11);          /* 2^255 - 21 */
}

/* z^((p - 5) / 8) = z^(2^252 - 3). */
static void fe_pow_p58(fe *h, const fe *z)
{
    fe t, z11;
    fe_pow_2_250_1(&t, &z11, z);
    fe_sq_times(&t, &t, 2);       /* 2^252 - 4 */
    fe_mul(h, &t, z);
}

/* The canonical value (below p) as 32 little-endian bytes, bit 255 clear. */
static void fe_to_bytes(uint8_t s[32], const fe *f)
{
    fe h = *f;
    fe_carry(&h);
    /* q = 1 iff h >= p: the carry out of bit 255 of h + 19. */
    uint64_t q = (h.v[0] + 19) >> 51;
    for (int i = 1; i < 5; i++) {
        q = (h.v[i] + q) >> 51;
    }
    h.v[0] += 19 * q;
    for (int i = 0; i < 4; i++) {
        h.v[i + 1] += h.v[i] >> 51;
        h.v[i] &= EDWARDS_MASK;
    }
    h.v[4] &= EDWARDS_MASK;
    uint64_t words[4] = {h.v[0] | h.v[1] << 51, h.v[1] >> 13 | h.v[2] << 38,
                         h.v[2] >> 26 | h.v[3] << 25, h.v[3] >> 39 | h.v[4] << 12};
    for (int i = 0; i < 32; i++) {
        s[i] = (uint8_t)(words[i / 8] >> (8 * (i % 8)));
    }
}

/* The low 255 bits of s (bit 255 ignored). */
static void fe_from_bytes(fe *h, const uint8_t s[32])
{
    uint64_t words[4] = {0};
    for (int i = 0; i < 32; i++) {
        words[i / 8] |= (uint64_t)s[i] << (8 * (i % 8));
    }
    h->v[0] = words[0] & EDWARDS_MASK;
    h->v[1] = (words[0] >> 51 | words[1] << 13) & EDWARDS_MASK;
    h->v[2] = (words[1] >> 38 | words[2] << 26) & EDWARDS_MASK;
    h->v[3] = (words[2] >> 25 | words[3] << 39) & EDWARDS_MASK;
    h->v[4] = (words[3] >> 12) & EDWARDS_MASK;
}

static bool fe_is_zero(const fe *f)
{
    uint8_t s[32];
    fe_to_bytes(s, f);
    uint8_t any = 0;
    for (int i = 0; i < 32; i++) {
        any |= s[i];
    }
    return any == 0;
}

static bool fe_equal(const fe *f, const fe *g)
{
    fe difference;
    fe_sub(&difference, f, g);
    return fe_is_zero(&difference);
}

static int fe_is_negative(const fe *f)
{
    uint8_t s[32];
    fe_to_bytes(s, f);
    return s[0] & 1;
}

/* ---- points ---- */

static void point_identity(point *p)
{
    fe_set(&p->x, 0);
    fe_set(&p->y, 1);
    fe_set(&p->z, 1);
    fe_set(&p->t, 0);
}

static void point_to_cached(cached *c, const point *p)
{
    fe_add(&c->y_plus_x, &p->y, &p->x);
    fe_sub(&c->y_minus_x, &p->y, &p->x);
    fe_add(&c->z2, &p->z, &p->z);
    fe_mul(&c->t2d, &p->t, &fe_d2);
}

/* r = p + q, or p - q when 'minus'. */
static void point_add(point *r, const point *p, const cached *q, bool minus)
{
    fe a, b, c, d, e, f, g, h;
    fe_sub(&a, &p->y, &p->x);
    fe_mul(&a, &a, minus ? &q->y_plus_x : &q->y_minus_x);
    fe_add(&b, &p->y, &p->x);
    fe_mul(&b, &b, minus ? &q->y_minus_x : &q->y_plus_x);
    fe_mul(&c, &p->t, &q->t2d);
    fe_mul(&d, &p->z, &q->z2);
    fe_sub(&e, &b, &a);
    fe_add(&h, &b, &a);
    if (minus) {
        fe_add(&f, &d, &c);
        fe_sub(&g, &d, &c);
    } else {
        fe_sub(&f, &d, &c);
        fe_add(&g, &d, &c);
    }
    fe_mul(&r->x, &e, &f);
    fe_mul(&r->y, &g, &h);
    fe_mul(&r->t, &e, &h);
    fe_mul(&r->z, &f, &g);
}

/* r = 2p, from p's X, Y and Z; T only when 'want_t' (a doubling that
 * another doubling follows does without it). The a = -1 formulas with
 * every intermediate negated, which needs no negation. */
static void point_double(point *r, const point *p, bool want_t)
{
    fe a, b, c, e, f, g, h;
    fe_sq(&a, &p->x);
    fe_sq(&b, &p->y);
    fe_sq(&c, &p->z);
    fe_add(&c, &c, &c);
    fe_add(&e, &p->x, &p->y);
    fe_sq(&e, &e);
    fe_add(&h, &a, &b);
    fe_sub(&e, &h, &e);           /* -2xy */
    fe_sub(&g, &a, &b);
    fe_add(&f, &g, &c);
    fe_mul(&r->x, &e, &f);
    fe_mul(&r->y, &g, &h);
    if (want_t) {
        fe_mul(&r->t, &e, &h);
    }
    fe_mul(&r->z, &f, &g);
}

bool util_edwards_decode(point *p, const uint8_t bytes[UTIL_EDWARDS_BYTES])
{
    uint8_t again[32];
    fe_from_bytes(&p->y, bytes);
    fe_to_bytes(again, &p->y);
    again[31] |= bytes[31] & 0x80;
    if (memcmp(again, bytes, 32) != 0) {
        return false; /* y >= p */
    }
    fe one, u, v, v3, x, check;
    fe_set(&one, 1);
    fe_sq(&u, &p->y);
    fe_mul(&v, &u, &fe_d);
    fe_sub(&u, &u, &one);         /* y^2 - 1 */
    fe_add(&v, &v, &one);         /* d y^2 + 1 */
    fe_carry(&u);
    /* x = u v^3 (u v^7)^((p - 5) / 8) */
    fe_sq(&v3, &v);
    fe_mul(&v3, &v3, &v);
    fe_sq(&x, &v3);
    fe_mul(&x, &x, &v);
    fe_mul(&x, &x, &u);
    fe_pow_p58(&x, &x);
    fe_mul(&x, &x, &v3);
    fe_mul(&x, &x, &u);
    fe_sq(&check, &x);
    fe_mul(&check, &check, &v);
    if (!fe_equal(&check, &u)) {
        fe_neg(&u, &u);
        fe_carry(&u);
        if (!fe_equal(&check, &u)) {
            return false; /* u / v is not a square */
        }
        fe_mul(&x, &x, &fe_sqrtm1);
    }
    int sign = bytes[31] >> 7;
    if (sign && fe_is_zero(&x)) {
        return false;
    }
    if (fe_is_negative(&x) != sign) {
        fe_neg(&x, &x);
        fe_carry(&x);
    }
    p->x = x;
    fe_set(&p->z, 1);
    fe_mul(&p->t, &p->x, &p->y);
    return true;
}

/* p's encoding, given 1 / Z. */
static void encode_with(uint8_t bytes[UTIL_EDWARDS_BYTES], const point *p, const fe *inverse)
{
    fe x, y;
    fe_mul(&x, &p->x, inverse);
    fe_mul(&y, &p->y, inverse);
    fe_to_bytes(bytes, &y);
    bytes[31] |= (uint8_t)(fe_is_negative(&x) << 7);
}

void util_edwards_encode(uint8_t bytes[UTIL_EDWARDS_BYTES], const point *p)
{
    fe inverse;
    fe_invert(&inverse, &p->z);
    encode_with(bytes, p, &inverse);
}

/* Montgomery's trick: the products Z_0 ... Z_i are inverted once, and each
 * 1 / Z_i peeled off with two multiplications. No Z is 0 (the formulas are
 * complete). */
void util_edwards_encode_many(uint8_t (*bytes)[UTIL_EDWARDS_BYTES], const point *const *points,
                              size_t count)
{
    ASSERT(count >= 1 && count <= UTIL_EDWARDS_ENCODE_MAX);
    fe prefix[UTIL_EDWARDS_ENCODE_MAX], inverse, own;
    prefix[0] = points[0]->z;
    for (size_t i = 1; i < count; i++) {
        fe_mul(&prefix[i], &prefix[i - 1], &points[i]->z);
    }
    fe_invert(&inverse, &prefix[count - 1]);
    for (size_t i = count - 1; i > 0; i--) {
        fe_mul(&own, &inverse, &prefix[i - 1]);
        fe_mul(&inverse, &inverse, &points[i]->z);
        encode_with(bytes[i], points[i], &own);
    }
    encode_with(bytes[0], points[0], &inverse);
}

bool util_edwards_is_identity(const point *p)
{
    return fe_is_zero(&p->x) && fe_equal(&p->y, &p->z);
}

void util_edwards_mul_cofactor(point *r, const point *p)
{
    point_double(r, p, false);
    point_double(r, r, false);
    point_double(r, r, true);
}

/* ---- constant-time multiplication ---- */

/* 64 signed digits in [-8, 8] with n = sum digits[i] 16^i; n < 2^255. */
static void mul_recode(int8_t digits[64], const uint8_t n[32])
{
    for (int i = 0; i < 32; i++) {
        digits[2 * i] = (int8_t)(n[i] & 15);
        digits[2 * i + 1] = (int8_t)(n[i] >> 4);
    }
    int8_t carry = 0;
    for (int i = 0; i < 63; i++) {
        digits[i] = (int8_t)(digits[i] + carry);
        carry = (int8_t)((digits[i] + 8) >> 4);
        digits[i] = (int8_t)(digits[i] - carry * 16);
    }
    digits[63] = (int8_t)(digits[63] + carry);
}

/* dest = src when mask is all ones, unchanged when it is zero. */
static void fe_select(fe *dest, const fe *src, uint64_t mask)
{
    for (int i = 0; i < 5; i++) {
        dest->v[i] ^= mask & (dest->v[i] ^ src->v[i]);
    }
}

/* digit * P from table[j] = (j + 1) * P, reading every entry. */
static void mul_lookup(cached *out, const cached table[8], int8_t digit)
{
    uint64_t negative = (uint64_t)(int64_t)digit >> 63;
    uint64_t magnitude = (uint64_t)(((int64_t)digit ^ -(int64_t)negative) + (int64_t)negative);
    fe_set(&out->y_plus_x, 1);
    fe_set(&out->y_minus_x, 1);
    fe_set(&out->z2, 2);
    fe_set(&out->t2d, 0);
    for (uint64_t j = 0; j < 8; j++) {
        uint64_t mask = -(((magnitude ^ (j + 1)) - 1) >> 63);
        fe_select(&out->y_plus_x, &table[j].y_plus_x, mask);
        fe_select(&out->y_minus_x, &table[j].y_minus_x, mask);
        fe_select(&out->z2, &table[j].z2, mask);
        fe_select(&out->t2d, &table[j].t2d, mask);
    }
    /* A negative digit: -Q swaps Y + X with Y - X and negates T. */
    fe swapped = out->y_plus_x, minus_t;
    fe_select(&out->y_plus_x, &out->y_minus_x, -negative);
    fe_select(&out->y_minus_x, &swapped, -negative);
    fe_neg(&minus_t, &out->t2d);
    fe_select(&out->t2d, &minus_t, -negative);
    fe_carry(&out->t2d);
}

void util_edwards_mul(point *r, const uint8_t n[UTIL_EDWARDS_BYTES], const point *p)
{
    cached table[8];
    point multiple = *p;
    point_to_cached(&table[0], p);
    for (int j = 1; j < 8; j++) {
        point_add(&multiple, &multiple, &table[0], false);
        point_to_cached(&table[j], &multiple);
    }
    int8_t digits[64];
    mul_recode(digits, n);
    point_identity(r);
    cached addend;
    for (int i = 63; i >= 0; i--) {
        for (int k = 0; k < 4 && i < 63; k++) {
            point_double(r, r, k == 3);
        }
        mul_lookup(&addend, table, digits[i]);
        point_add(r, r, &addend, false);
    }
    util_memzero(digits, sizeof(digits));
}

/* ---- variable-time multiplication ---- */

/* Digits that are 0 or odd in [-15, 15], with n = sum digits[i] 2^i, most
 * of them 0 (sliding windows of up to five bits); n < 2^255. */
static void vartime_recode(int8_t digits[256], const uint8_t n[32])
{
    for (int i = 0; i < 256; i++) {
        digits[i] = (int8_t)((n[i / 8] >> (i % 8)) & 1);
    }
    for (int i = 0; i < 256; i++) {
        if (digits[i] == 0) {
            continue;
        }
        for (int b = 1; b <= 4 && i + b < 256; b++) {
            if (digits[i + b] == 0) {
                continue;
            }
            int shifted = digits[i + b] << b;
            if (digits[i] + shifted <= 15) {
                digits[i] = (int8_t)(digits[i] + shifted);
                digits[i + b] = 0;
            } else if (digits[i] - shifted >= -15) {
                digits[i] = (int8_t)(digits[i] - shifted);
                for (int k = i + b; k < 256; k++) { /* add 2^(i+b) */
                    if (digits[k] == 0) {
                        digits[k] = 1;
                        break;
                    }
                    digits[k] = 0;
                }
            } else {
                break;
            }
        }
    }
}

/* table[j] = (2j + 1) * p. */
static void vartime_odd_multiples(cached table[8], const point *p)
{
    point twice, multiple = *p;
    cached twice_cached;
    point_double(&twice, p, true);
    point_to_cached(&twice_cached, &twice);
    point_to_cached(&table[0], p);
    for (int j = 1; j < 8; j++) {
        point_add(&multiple, &multiple, &twice_cached, false);
        point_to_cached(&table[j], &multiple);
    }
}

static void vartime_step(point *r, const cached table[8], int8_t digit, bool minus)
{
    if (digit > 0) {
        point_add(r, r, &table[digit / 2], minus);
    } else if (digit < 0) {
        point_add(r, r, &table[-digit / 2], !minus);
    }
}

/* One term of a sum: +- n * P, as P's odd multiples and n's digits. */
typedef struct vartime_term {
    const cached *table;
    int8_t digits[256];
    bool minus;
} vartime_term;

/* term = +- n * (the point whose odd multiples 'table' holds). */
static void vartime_term_set(vartime_term *term, const cached *table,
                             const uint8_t n[UTIL_EDWARDS_BYTES], bool minus)
{
    term->table = table;
    term->minus = minus;
    vartime_recode(term->digits, n);
}

/* True iff some term has a digit at position i. */
static bool vartime_any(const vartime_term *terms, int count, int i)
{
    for (int j = 0; j < count; j++) {
        if (terms[j].digits[i] != 0) {
            return true;
        }
    }
    return false;
}

/* r = the sum of the terms, their doublings shared: as many as the
 * longest scalar has digits. */
static void vartime_sum(point *r, const vartime_term *terms, int count)
{
    int top = 255;
    while (top >= 0 && !vartime_any(terms, count, top)) {
        top--;
    }
    point_identity(r);
    for (int i = top; i >= 0; i--) {
        point_double(r, r, vartime_any(terms, count, i));
        for (int j = 0; j < count; j++) {
            vartime_step(r, terms[j].table, terms[j].digits[i], terms[j].minus);
        }
    }
}

/* The odd multiples of B and of 2^128 B, made once: a * B is then
 * lo * B + hi * (2^128 B) for the halves of a, whose doublings stop at
 * bit 128 rather than 253 (a check's other scalar, c, has 128 bits). */
static cached base_tables[2][8];
static pthread_once_t base_tables_once = PTHREAD_ONCE_INIT;

static void base_tables_make(void)
{
    point high = edwards_base;
    for (int i = 0; i < 128; i++) {
        point_double(&high, &high, i == 127);
    }
    vartime_odd_multiples(base_tables[0], &edwards_base);
    vartime_odd_multiples(base_tables[1], &high);
}

void util_edwards_mul_sub_vartime(point *r, const uint8_t a[UTIL_EDWARDS_BYTES], const point *p,
                                  const uint8_t b[UTIL_EDWARDS_BYTES], const point *q)
{
    vartime_term terms[3];
    cached p_table[8], q_table[8];
    int count = 0;
    if (p != NULL) {
        vartime_odd_multiples(p_table, p);
        vartime_term_set(&terms[count++], p_table, a, false);
    } else {
        (void)pthread_once(&base_tables_once, base_tables_make);
        uint8_t half[UTIL_EDWARDS_BYTES] = {0};
        for (int j = 0; j < 2; j++) {
            memcpy(half, a + 16 * j, 16);
            vartime_term_set(&terms[count++], base_tables[j], half, false);
        }
    }
    vartime_odd_multiples(q_table, q);
    vartime_term_set(&terms[count++], q_table, b, true);
    vartime_sum(r, terms, count);
}

bool util_edwards_in_prime_subgroup(const point *p)
{
    vartime_term term;
    cached table[8];
    vartime_odd_multiples(table, p);
    vartime_term_set(&term, table, edwards_order, false);
    point product;
    vartime_sum(&product, &term, 1);
    return util_edwards_is_identity(&product);
}
