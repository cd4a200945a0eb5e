/* infer_wire.c -- wire encodings of activations handed from one segment
 * server to the next. All little-endian, row after row:
 *
 *   FP32  4 bytes per value, the float's bits.
 *   FP16  IEEE binary16, round to nearest even. Finite values beyond the
 *         range saturate to +-65504 (an activation that large is an outlier,
 *         not an infinity); inf stays inf and NaN stays NaN, so the decoder
 *         rejects them.
 *   BF16  the top 16 bits of the float, round to nearest even; finite values
 *         that would round to inf saturate to +-3.3895e38; inf and NaN kept.
 *   INT8  per row a float32 scale = max|x| / 127 (0 for an all-zero row),
 *         then dim int8 values round(x / scale) (half away from zero),
 *         clamped to [-127, 127]. A row holding inf or NaN gets a NaN scale.
 *
 * Decoding treats the bytes as untrusted: the size must match exactly, and
 * any non-finite value, negative or non-finite scale, or int8 -128 (never
 * produced) is INFER_EFORMAT. */
#include <math.h>
#include <string.h>

#include "node/infer_int.h"
#include "util/assert.h"
#include "util/bytes.h"

static uint32_t float_bits(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof(bits));
    return bits;
}

static float bits_float(uint32_t bits)
{
    float value;
    memcpy(&value, &bits, sizeof(value));
    return value;
}

/* m >> shift, rounded to nearest even. */
static uint32_t shift_round_even(uint32_t m, uint32_t shift)
{
    uint32_t result = m >> shift;
    uint32_t rest = m & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (result & 1u) != 0)) {
        result += 1;
    }
    return result;
}

static uint16_t fp16_from_float(float value)
{
    uint32_t bits = float_bits(value);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
    uint32_t magnitude = bits & 0x7fffffffu;
    if (magnitude >= 0x7f800000u) {
        return (uint16_t)(sign | (magnitude > 0x7f800000u ? 0x7e00u : 0x7c00u));
    }
    uint32_t exponent = magnitude >> 23;
    uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
    uint32_t half;
    if (exponent >= 113) {
        /* Normal range of binary16; a carry out of the mantissa bumps the
         * exponent, which is the right result. */
        half = ((exponent - 112) << 10) + shift_round_even(mantissa, 13) - 0x400u;
        if (half >= 0x7c00u) {
            half = 0x7bffu;
        }
    } else if (exponent >= 102) {
        half = shift_round_even(mantissa, 126 - exponent);
    } else {
        half = 0;
    }
    return (uint16_t)(sign | half);
}

static int fp16_to_float(uint16_t half, float *out)
{
    uint32_t sign = (uint32_t)(half & 0x8000u) << 16;
    uint32_t exponent = (half >> 10) & 0x1fu;
    uint32_t mantissa = half & 0x3ffu;
    if (exponent == 31) {
        return INFER_EFORMAT;
    }
    if (exponent == 0) {
        float value = (float)mantissa * 5.9604644775390625e-8f; /* 2^-24, exact */
        *out = sign != 0 ? -value : value;
        return 0;
    }
    *out = bits_float(sign | (exponent + 112) << 23 | mantissa << 13);
    return 0;
}

static uint16_t bf16_from_float(float value)
{
    uint32_t bits = float_bits(value);
    uint32_t sign = bits & 0x80000000u;
    if ((bits & 0x7f800000u) == 0x7f800000u) {
        return (uint16_t)((bits & 0x7fffffffu) > 0x7f800000u ? (sign >> 16) | 0x7fc0u
                                                              : bits >> 16);
    }
    uint32_t rounded = float_bits(infer__round_bf16(value));
    if ((rounded & 0x7f800000u) == 0x7f800000u) {
        return (uint16_t)((sign >> 16) | 0x7f7fu);
    }
    return (uint16_t)(rounded >> 16);
}

static void int8_encode_row(const float *x, uint32_t dim, uint8_t *out)
{
    float max = 0.0f;
    bool finite = true;
    for (uint32_t i = 0; i < dim; i++) {
        finite = finite && isfinite(x[i]);
        max = fabsf(x[i]) > max ? fabsf(x[i]) : max;
    }
    float scale = finite ? max / 127.0f : NAN;
    util_put_u32(out, float_bits(scale));
    for (uint32_t i = 0; i < dim; i++) {
        float q = 0.0f;
        if (finite && scale > 0.0f) {
            q = roundf(x[i] / scale);
            q = q > 127.0f ? 127.0f : q < -127.0f ? -127.0f : q;
        }
        out[4 + i] = (uint8_t)(int8_t)q;
    }
}

size_t infer_wire_bytes(infer_dtype dtype, uint32_t rows, uint32_t dim)
{
    size_t values = (size_t)rows * dim;
    switch (dtype) {
    case INFER_DTYPE_FP32:
        return 4 * values;
    case INFER_DTYPE_FP16:
    case INFER_DTYPE_BF16:
        return 2 * values;
    case INFER_DTYPE_INT8:
        return values + 4 * (size_t)rows;
    default:
        ASSERT(!"unknown dtype");
        return 0;
    }
}

void infer_wire_encode(infer_dtype dtype, const float *x, uint32_t rows, uint32_t dim,
                       uint8_t *out)
{
    ASSERT((unsigned)dtype < INFER_DTYPE_COUNT);
    ASSERT((x != NULL && out != NULL) || (size_t)rows * dim == 0);
    size_t values = (size_t)rows * dim;
    if (dtype == INFER_DTYPE_INT8) {
        for (uint32_t r = 0; r < rows; r++) {
            int8_encode_row(x + (size_t)r * dim, dim, out + (size_t)r * (4 + dim));
        }
        return;
    }
    for (size_t i = 0; i < values; i++) {
        if (dtype == INFER_DTYPE_FP32) {
            util_put_u32(out + 4 * i, float_bits(x[i]));
        } else if (dtype == INFER_DTYPE_FP16) {
            util_put_u16(out + 2 * i, fp16_from_float(x[i]));
        } else {
            util_put_u16(out + 2 * i, bf16_from_float(x[i]));
        }
    }
}

static int int8_decode_row(const uint8_t *bytes, uint32_t dim, float *x)
{
    float scale = bits_float(util_get_u32(bytes));
    if (!isfinite(scale) || signbit(scale)) {
        return INFER_EFORMAT;
    }
    for (uint32_t i = 0; i < dim; i++) {
        int8_t q = (int8_t)bytes[4 + i];
        if (q == -128) {
            return INFER_EFORMAT;
        }
        x[i] = (float)q * scale;
    }
    return 0;
}

static int value_decode(infer_dtype dtype, const uint8_t *bytes, size_t i, float *x)
{
    if (dtype == INFER_DTYPE_FP32) {
        x[i] = bits_float(util_get_u32(bytes + 4 * i));
        return isfinite(x[i]) ? 0 : INFER_EFORMAT;
    }
    if (dtype == INFER_DTYPE_FP16) {
        return fp16_to_float(util_get_u16(bytes + 2 * i), &x[i]);
    }
    x[i] = bits_float((uint32_t)util_get_u16(bytes + 2 * i) << 16);
    return isfinite(x[i]) ? 0 : INFER_EFORMAT;
}

int infer_wire_decode(infer_dtype dtype, const uint8_t *bytes, size_t size, uint32_t rows,
                      uint32_t dim, float *x)
{
    ASSERT((unsigned)dtype < INFER_DTYPE_COUNT);
    if (size != infer_wire_bytes(dtype, rows, dim)) {
        return INFER_EFORMAT;
    }
    ASSERT((bytes != NULL && x != NULL) || size == 0 || (size_t)rows * dim == 0);
    if (dtype == INFER_DTYPE_INT8) {
        for (uint32_t r = 0; r < rows; r++) {
            int rc = int8_decode_row(bytes + (size_t)r * (4 + dim), dim, x + (size_t)r * dim);
            if (rc != 0) {
                return rc;
            }
        }
        return 0;
    }
    size_t values = (size_t)rows * dim;
    for (size_t i = 0; i < values; i++) {
        int rc = value_decode(dtype, bytes, i, x);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}
