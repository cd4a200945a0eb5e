/* scn_units.c -- the scalars with units: durations ("50ms", "1.5s"), byte
 * sizes ("1KiB"), bit rates ("1Gbps"), message rates ("100/s"), FLOP rates
 * ("10TFLOPS"), plain unsigned integers and numbers. A number is decimal digits with an optional
 * fraction, never signed; units are case-sensitive and may follow one or more
 * spaces. Parsing uses integer arithmetic for the whole part so large values
 * are exact, and rejects negatives, NaN, overflow and trailing junk with a
 * reason the validator prefixes with the key name. The format functions
 * write the canonical forms used in the params table; each is accepted back
 * by its parser. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenarios/scn_int.h"
#include "util/assert.h"

/* Digits of a fraction kept; later ones cannot change a nanosecond count. */
#define UNITS_FRACTION_DIGITS 18

typedef struct units_decimal {
    uint64_t whole;
    uint64_t fraction;            /* the kept fraction digits as an integer */
    uint64_t fraction_scale;      /* 10^(kept digits) */
    const char *rest;             /* the unit: after the number and spaces */
} units_decimal;

typedef struct units_unit {
    const char *name;
    uint64_t scale;
} units_unit;

static const units_unit units_durations[] = {
    {"ns", 1ull},
    {"us", 1000ull},
    {"\xc2\xb5s", 1000ull},               /* micro sign */
    {"\xce\xbcs", 1000ull},               /* Greek small mu */
    {"ms", 1000000ull},
    {"s", 1000000000ull},
    {"min", 60000000000ull},
    {"h", 3600000000000ull},
};

static const units_unit units_bytes[] = {
    {"B", 1ull},
    {"kB", 1000ull},
    {"KB", 1000ull},
    {"KiB", 1024ull},
    {"MB", 1000000ull},
    {"MiB", 1048576ull},
    {"GB", 1000000000ull},
    {"GiB", 1073741824ull},
};

static const units_unit units_byterates[] = {
    {"B/s", 1ull},
    {"kB/s", 1000ull},
    {"KB/s", 1000ull},
    {"KiB/s", 1024ull},
    {"MB/s", 1000000ull},
    {"MiB/s", 1048576ull},
    {"GB/s", 1000000000ull},
    {"GiB/s", 1073741824ull},
    {"TB/s", 1000000000000ull},
    {"TiB/s", 1099511627776ull},
};

static const units_unit units_bitrates[] = {
    {"bps", 1ull},
    {"Kbps", 1000ull},
    {"kbps", 1000ull},
    {"Mbps", 1000000ull},
    {"Gbps", 1000000000ull},
    {"Tbps", 1000000000000ull},
};

static int units_why(char *why, size_t why_size, const char *format, const char *a,
                     const char *b)
{
    snprintf(why, why_size, format, a, b);
    return -1;
}

/* Reads "digits[.digits]" then spaces. Every failure is explained. */
static int units_decimal_read(const char *text, units_decimal *out, char *why, size_t why_size)
{
    memset(out, 0, sizeof(*out));
    out->fraction_scale = 1;
    const char *p = text;
    if (*p == '-') {
        return units_why(why, why_size, "'%s' must not be negative", text, NULL);
    }
    if (*p == '\0') {
        return units_why(why, why_size, "expected a value, got nothing", NULL, NULL);
    }
    bool digits = false;
    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t digit = (uint64_t)(*p - '0');
        if (out->whole > (UINT64_MAX - digit) / 10) {
            return units_why(why, why_size, "'%s' is too large", text, NULL);
        }
        out->whole = out->whole * 10 + digit;
        digits = true;
    }
    if (*p == '.') {
        int kept = 0;
        for (p++; *p >= '0' && *p <= '9'; p++) {
            if (kept < UNITS_FRACTION_DIGITS) {
                out->fraction = out->fraction * 10 + (uint64_t)(*p - '0');
                out->fraction_scale *= 10;
                kept += 1;
            }
            digits = true;
        }
    }
    if (!digits) {
        return units_why(why, why_size, "'%s' is not a number", text, NULL);
    }
    while (*p == ' ') {
        p++;
    }
    out->rest = p;
    return 0;
}

static const units_unit *units_find(const units_unit *units, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(units[i].name, name) == 0) {
            return &units[i];
        }
    }
    return NULL;
}

/* whole * scale + round(fraction * scale), or -1 on overflow. */
static int units_scale(const units_decimal *d, uint64_t scale, uint64_t *out)
{
    if (d->whole > UINT64_MAX / scale) {
        return -1;
    }
    uint64_t value = d->whole * scale;
    double part = (double)d->fraction / (double)d->fraction_scale * (double)scale;
    uint64_t extra = (uint64_t)floor(part + 0.5);
    if (value > UINT64_MAX - extra) {
        return -1;
    }
    *out = value + extra;
    return 0;
}

/* A kind of scaled quantity: its units, how it is named in messages, and
 * what a bare number means (only 0, or a whole count of the base unit). */
typedef struct units_kind {
    const char *noun;              /* "duration" */
    const char *example;           /* "50ms" */
    const char *expected;          /* the unit list for messages */
    const units_unit *units;
    size_t unit_count;
    bool bare_whole;               /* a bare whole number counts base units */
} units_kind;

static int units_parse_scaled(const char *text, const units_kind *kind, uint64_t *out,
                              char *why, size_t why_size)
{
    units_decimal d;
    char message[160];
    if (units_decimal_read(text, &d, why, why_size) != 0) {
        return -1;
    }
    if (d.rest[0] == '\0') {
        bool zero = d.whole == 0 && d.fraction == 0;
        bool whole = d.fraction_scale == 1 || d.fraction == 0;
        if (zero || (kind->bare_whole && whole)) {
            *out = d.whole;
            return 0;
        }
        snprintf(message, sizeof(message),
                 kind->bare_whole ? "a %s must be whole, got '%%s'"
                                  : "%s needs a unit (e.g. %s), got '%%s'",
                 kind->bare_whole ? "byte count" : kind->noun, kind->example);
        return units_why(why, why_size, message, text, NULL);
    }
    const units_unit *unit = units_find(kind->units, kind->unit_count, d.rest);
    if (unit == NULL) {
        snprintf(message, sizeof(message), "unknown unit '%%s' in %s '%%s' (expected %s)",
                 kind->noun, kind->expected);
        return units_why(why, why_size, message, d.rest, text);
    }
    if (units_scale(&d, unit->scale, out) != 0) {
        snprintf(message, sizeof(message), "%s '%%s' is too large", kind->noun);
        return units_why(why, why_size, message, text, NULL);
    }
    return 0;
}

int scn__parse_duration(const char *text, uint64_t *ns_out, char *why, size_t why_size)
{
    static const units_kind kind = {
        "duration", "50ms", "ns, us, \xc2\xb5s, ms, s, min, h", units_durations,
        sizeof(units_durations) / sizeof(units_durations[0]), false,
    };
    return units_parse_scaled(text, &kind, ns_out, why, why_size);
}

int scn__parse_bytes(const char *text, uint64_t *bytes_out, char *why, size_t why_size)
{
    static const units_kind kind = {
        "size", "4KiB", "B, kB, KB, KiB, MB, MiB, GB, GiB", units_bytes,
        sizeof(units_bytes) / sizeof(units_bytes[0]), true,
    };
    return units_parse_scaled(text, &kind, bytes_out, why, why_size);
}

int scn__parse_bitrate(const char *text, uint64_t *bps_out, char *why, size_t why_size)
{
    static const units_kind kind = {
        "bit rate", "1Gbps", "bps, Kbps, kbps, Mbps, Gbps, Tbps", units_bitrates,
        sizeof(units_bitrates) / sizeof(units_bitrates[0]), false,
    };
    return units_parse_scaled(text, &kind, bps_out, why, why_size);
}

int scn__parse_byterate(const char *text, uint64_t *bytes_per_s_out, char *why, size_t why_size)
{
    static const units_kind kind = {
        "memory bandwidth", "900GB/s", "B/s, kB/s, KB/s, KiB/s, MB/s, MiB/s, GB/s, GiB/s, TB/s, TiB/s",
        units_byterates, sizeof(units_byterates) / sizeof(units_byterates[0]), false,
    };
    return units_parse_scaled(text, &kind, bytes_per_s_out, why, why_size);
}

int scn__parse_rate(const char *text, double *per_s_out, char *why, size_t why_size)
{
    units_decimal d;
    if (units_decimal_read(text, &d, why, why_size) != 0) {
        return -1;
    }
    double count = (double)d.whole + (double)d.fraction / (double)d.fraction_scale;
    if (d.rest[0] == '\0') {
        *per_s_out = count;
        return 0;
    }
    const char *unit_name = d.rest;
    if (*unit_name == '/') {
        unit_name++;
        while (*unit_name == ' ') {
            unit_name++;
        }
    } else {
        return units_why(why, why_size, "bad rate '%s' (expected e.g. 100/s or 2/ms)", text, NULL);
    }
    const units_unit *unit = units_find(
        units_durations, sizeof(units_durations) / sizeof(units_durations[0]), unit_name);
    if (unit == NULL) {
        return units_why(why, why_size,
                         "unknown unit '/%s' in rate '%s' (expected /ns, /us, /ms, /s, /min, /h)",
                         unit_name, text);
    }
    *per_s_out = count * (1e9 / (double)unit->scale);
    return 0;
}

int scn__parse_uint(const char *text, uint64_t *value_out, char *why, size_t why_size)
{
    if (text[0] != '-' && (text[0] < '0' || text[0] > '9')) {
        return units_why(why, why_size, "expected a whole number, got '%s'", text, NULL);
    }
    units_decimal d;
    if (units_decimal_read(text, &d, why, why_size) != 0) {
        return -1;
    }
    if (d.rest[0] != '\0' || strchr(text, '.') != NULL || strchr(text, ' ') != NULL) {
        return units_why(why, why_size, "expected a whole number, got '%s'", text, NULL);
    }
    *value_out = d.whole;
    return 0;
}

static const units_unit units_flops[] = {
    {"FLOPS", 1ull},
    {"KFLOPS", 1000ull},
    {"MFLOPS", 1000000ull},
    {"GFLOPS", 1000000000ull},
    {"TFLOPS", 1000000000000ull},
    {"PFLOPS", 1000000000000000ull},
};

/* The number is read again with strtod (correctly rounded), so the canonical
 * form written by scn__format_flops reads back to the same double. */
int scn__parse_flops(const char *text, double *per_s_out, char *why, size_t why_size)
{
    units_decimal d;
    if (units_decimal_read(text, &d, why, why_size) != 0) {
        return -1;
    }
    uint64_t scale = 1;
    if (d.rest[0] != '\0') {
        const units_unit *unit =
            units_find(units_flops, sizeof(units_flops) / sizeof(units_flops[0]), d.rest);
        if (unit == NULL) {
            return units_why(why, why_size,
                             "unknown unit '%s' in FLOP rate '%s' (expected FLOPS, KFLOPS, "
                             "MFLOPS, GFLOPS, TFLOPS, PFLOPS)",
                             d.rest, text);
        }
        scale = unit->scale;
    }
    char number[64];
    size_t length = (size_t)(d.rest - text);
    if (length >= sizeof(number)) {
        return units_why(why, why_size, "'%s' is too long", text, NULL);
    }
    memcpy(number, text, length);
    number[length] = '\0';
    double value = strtod(number, NULL) * (double)scale;
    if (!isfinite(value)) {
        return units_why(why, why_size, "FLOP rate '%s' is too large", text, NULL);
    }
    *per_s_out = value;
    return 0;
}

/* [+-]digits[.digits][e[+-]digits] or [+-].digits[...]: what strtod may see. */
static bool units_number_shape(const char *p)
{
    bool digits = false;
    if (*p == '+' || *p == '-') {
        p++;
    }
    for (; *p >= '0' && *p <= '9'; p++) {
        digits = true;
    }
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++) {
            digits = true;
        }
    }
    if (!digits) {
        return false;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') {
            p++;
        }
        if (*p < '0' || *p > '9') {
            return false;
        }
        while (*p >= '0' && *p <= '9') {
            p++;
        }
    }
    return *p == '\0';
}

int scn__parse_number(const char *text, double *value_out, char *why, size_t why_size)
{
    if (!units_number_shape(text)) {
        return units_why(why, why_size, "expected a number, got '%s'", text, NULL);
    }
    double value = strtod(text, NULL);
    if (!isfinite(value)) {
        return units_why(why, why_size, "'%s' is too large", text, NULL);
    }
    *value_out = value;
    return 0;
}

void scn__format_duration(uint64_t ns, char *buffer, size_t size)
{
    static const units_unit largest_first[] = {
        {"h", 3600000000000ull}, {"min", 60000000000ull}, {"s", 1000000000ull},
        {"ms", 1000000ull},      {"us", 1000ull},
    };
    if (ns == 0) {
        snprintf(buffer, size, "0");
        return;
    }
    for (size_t i = 0; i < sizeof(largest_first) / sizeof(largest_first[0]); i++) {
        if (ns % largest_first[i].scale == 0) {
            snprintf(buffer, size, "%llu%s", (unsigned long long)(ns / largest_first[i].scale),
                     largest_first[i].name);
            return;
        }
    }
    snprintf(buffer, size, "%lluns", (unsigned long long)ns);
}

void scn__format_bitrate(uint64_t bps, char *buffer, size_t size)
{
    static const units_unit largest_first[] = {
        {"Tbps", 1000000000000ull}, {"Gbps", 1000000000ull}, {"Mbps", 1000000ull},
        {"Kbps", 1000ull},
    };
    if (bps == 0) {
        snprintf(buffer, size, "0");
        return;
    }
    for (size_t i = 0; i < sizeof(largest_first) / sizeof(largest_first[0]); i++) {
        if (bps % largest_first[i].scale == 0) {
            snprintf(buffer, size, "%llu%s", (unsigned long long)(bps / largest_first[i].scale),
                     largest_first[i].name);
            return;
        }
    }
    snprintf(buffer, size, "%llubps", (unsigned long long)bps);
}

/* The largest unit in which the value is at least 1 and divides back
 * exactly; values below 1 FLOP/s (or not exact in any unit) as bare numbers. */
void scn__format_flops(double per_s, char *buffer, size_t size)
{
    ASSERT(isfinite(per_s) && per_s >= 0);
    for (size_t i = sizeof(units_flops) / sizeof(units_flops[0]); i-- > 1;) {
        double scale = (double)units_flops[i].scale;
        double count = per_s / scale;
        if (count >= 1 && count < 1e15 && count * scale == per_s) {
            char number[48];
            scn__format_number(count, number, sizeof(number));
            if (strchr(number, 'e') == NULL) {
                snprintf(buffer, size, "%s%s", number, units_flops[i].name);
                return;
            }
        }
    }
    if (per_s == floor(per_s)) {
        snprintf(buffer, size, "%.0f", per_s);    /* exact, and never an exponent */
        return;
    }
    scn__format_number(per_s, buffer, size);
}

/* Whole numbers as integers, others in the shortest %g form that reads back
 * to the same double. */
void scn__format_number(double value, char *buffer, size_t size)
{
    ASSERT(isfinite(value));
    if (value == floor(value) && fabs(value) < 1e15) {
        snprintf(buffer, size, "%.0f", value);     /* Whole numbers without exponents. */
        return;
    }
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(buffer, size, "%.*g", precision, value);
        if (strtod(buffer, NULL) == value) {
            return;
        }
    }
}

/* ---- values for people ---- */

typedef struct units_prefix {
    double factor;                /* of the base unit */
    const char *suffix;           /* written after the number */
} units_prefix;

/* 'value' (>= 0, finite) in the largest of 'prefixes' (ascending factors)
 * it reaches, with three significant digits ("3.83 s", "704 ms", "53.3");
 * above the last prefix, whole numbers. A value below the first prefix
 * keeps three significant digits. */
static void units_scaled(char *buffer, size_t size, double value, const units_prefix *prefixes,
                         size_t count, const char *sign)
{
    size_t p = 0;
    while (p + 1 < count && value >= prefixes[p + 1].factor * 0.9995) {
        p++;
    }
    double x = value / prefixes[p].factor;
    if (x == 0.0 || x >= 99.95) {
        snprintf(buffer, size, "%s%.0f%s", sign, x, prefixes[p].suffix);
    } else if (x >= 9.995) {
        snprintf(buffer, size, "%s%.1f%s", sign, x, prefixes[p].suffix);
    } else if (x >= 0.9995) {
        snprintf(buffer, size, "%s%.2f%s", sign, x, prefixes[p].suffix);
    } else if (x >= 0.09995) {
        snprintf(buffer, size, "%s%.3f%s", sign, x, prefixes[p].suffix);
    } else if (x >= 0.009995) {
        snprintf(buffer, size, "%s%.4f%s", sign, x, prefixes[p].suffix);
    } else {
        snprintf(buffer, size, "%s%.3g%s", sign, x, prefixes[p].suffix);
    }
}

/* A plain decimal: at most four decimals, trailing zeros dropped ("1",
 * "0.995", "0.0012"); tiny values keep three significant digits. */
static void units_plain(char *buffer, size_t size, double value)
{
    if (value != 0.0 && fabs(value) < 0.001) {
        snprintf(buffer, size, "%.3g", value);
        return;
    }
    snprintf(buffer, size, "%.4f", value);
    char *dot = strchr(buffer, '.');
    if (dot != NULL) {
        char *end = buffer + strlen(buffer);
        while (end > dot + 1 && end[-1] == '0') {
            *--end = '\0';
        }
        if (end == dot + 1) {
            *dot = '\0';
        }
    }
    if (strcmp(buffer, "-0") == 0) {
        snprintf(buffer, size, "0");
    }
}

const char *scn_format_value(char *buffer, size_t size, const char *unit, double value)
{
    static const units_prefix duration[] = {
        {1.0, " ns"}, {1e3, " µs"}, {1e6, " ms"}, {1e9, " s"},
    };
    static const units_prefix bytes[] = {
        {1.0, " B"}, {1e3, " kB"}, {1e6, " MB"}, {1e9, " GB"}, {1e12, " TB"},
    };
    static const units_prefix flops[] = {
        {1.0, " FLOP"}, {1e3, " kFLOP"}, {1e6, " MFLOP"}, {1e9, " GFLOP"}, {1e12, " TFLOP"},
        {1e15, " PFLOP"},
    };
    /* Large counts and rates: k, M and G. */
    static const units_prefix large[] = {{1.0, ""}, {1e3, "k"}, {1e6, "M"}, {1e9, "G"}};
    ASSERT(buffer != NULL && size > 0);
    unit = unit != NULL ? unit : "";
    if (isnan(value)) {
        snprintf(buffer, size, "-");
        return buffer;
    }
    if (isinf(value)) {
        snprintf(buffer, size, "%sinf", value < 0 ? "-" : "");
        return buffer;
    }
    const char *sign = value < 0 ? "-" : "";
    double magnitude = fabs(value);
    if (strcmp(unit, "ns") == 0 || strcmp(unit, "s") == 0) {
        units_scaled(buffer, size, strcmp(unit, "s") == 0 ? magnitude * 1e9 : magnitude, duration,
                     sizeof(duration) / sizeof(duration[0]), sign);
    } else if (strcmp(unit, "B") == 0) {
        units_scaled(buffer, size, magnitude, bytes, sizeof(bytes) / sizeof(bytes[0]), sign);
    } else if (strcmp(unit, "FLOP") == 0) {
        units_scaled(buffer, size, magnitude, flops, sizeof(flops) / sizeof(flops[0]), sign);
    } else if (strcmp(unit, "ratio") == 0 || strcmp(unit, "stake") == 0 ||
               strcmp(unit, "reputation") == 0 || unit[0] == '\0') {
        units_plain(buffer, size, value);
    } else if (strcmp(unit, "count") == 0 && magnitude < 1e6 && magnitude == floor(magnitude)) {
        snprintf(buffer, size, "%s%.0f", sign, magnitude);
    } else {
        /* count (large or fractional) and rates: "53.3 tokens/s", "6.13k events/s",
         * "1.25M events/s". */
        char number[40];
        units_scaled(number, sizeof(number), magnitude, large, sizeof(large) / sizeof(large[0]),
                     sign);
        bool bare = strcmp(unit, "count") == 0;
        snprintf(buffer, size, "%s%s%s", number, bare ? "" : " ", bare ? "" : unit);
    }
    return buffer;
}

const char *scn_format_metric(char *buffer, size_t size, const char *name, double value)
{
    int metric = scn_metric_find(name);
    return scn_format_value(buffer, size, metric >= 0 ? scn_metrics[metric].unit : NULL, value);
}

const char *scn_format_expect(char *buffer, size_t size, const scn_expect *expect, double actual)
{
    ASSERT(expect != NULL);
    int metric = scn_metric_find(expect->metric);
    const char *unit = metric >= 0 ? scn_metrics[metric].unit : NULL;
    if (unit == NULL || strcmp(unit, "ns") != 0 || !isfinite(actual)) {
        return scn_format_value(buffer, size, unit, actual);
    }
    /* The duration unit the bound was written in, if any ("<= 6s"). */
    const char *end = expect->text + strlen(expect->text);
    while (end > expect->text && end[-1] == ' ') {
        end--;
    }
    const char *start = end;
    while (start > expect->text && start[-1] != ' ' && (start[-1] < '0' || start[-1] > '9') &&
           start[-1] != '.') {
        start--;
    }
    char written[8];
    size_t length = (size_t)(end - start);
    const units_unit *found = NULL;
    if (length > 0 && length < sizeof(written)) {
        memcpy(written, start, length);
        written[length] = '\0';
        found = units_find(units_durations, sizeof(units_durations) / sizeof(units_durations[0]),
                           written);
    }
    if (found == NULL) {
        return scn_format_value(buffer, size, unit, actual);
    }
    char suffix[sizeof(written) + 1];
    snprintf(suffix, sizeof(suffix), " %s", written);
    units_prefix in = {(double)found->scale, suffix};
    units_scaled(buffer, size, fabs(actual), &in, 1, actual < 0 ? "-" : "");
    return buffer;
}
