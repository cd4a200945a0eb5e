/* scn_model.c -- the model section: where the weights come from (a seed and
 * a shape written in the scenario, or a llama2.c checkpoint whose header
 * gives the shape), how the layers are split into contiguous segments, and
 * whether a server of each segment fits the memory of some node class.
 *
 * The shape rules are those of infer_shape_check (node/infer.h), repeated
 * here so that scenarios/ does not link against node/. The checkpoint is
 * untrusted input: only its 28-byte header is read, and the file size must
 * be exactly what the header implies; every problem is reported at the
 * `file:` value. The weights themselves are loaded later by the driver. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "scenarios/scn_int.h"
#include "util/file.h"
#include "util/assert.h"

/* Bounds of infer_shape_check (INFER_*_MAX; hidden_dim is 4 x dim's bound).
 * They also keep every size computed below inside 64 bits. */
#define MODEL_DIM_MAX 8192u
#define MODEL_HIDDEN_MAX (4u * MODEL_DIM_MAX)
#define MODEL_LAYERS_MAX 256u
#define MODEL_VOCAB_MAX 262144u
#define MODEL_SEQ_MAX 8192u
#define MODEL_KV_SLOTS_MAX 65536u
#define MODEL_HEADER_BYTES 28u

/* The shape fields in llama2.c header order, with their YAML names. */
typedef struct model_field {
    const char *name;
    uint32_t max;
    size_t offset;
} model_field;

static const model_field model_fields[] = {
    {"dim", MODEL_DIM_MAX, offsetof(scn_model, dim)},
    {"hidden_dim", MODEL_HIDDEN_MAX, offsetof(scn_model, hidden_dim)},
    {"layers", MODEL_LAYERS_MAX, offsetof(scn_model, layers)},
    {"heads", MODEL_DIM_MAX, offsetof(scn_model, heads)},
    {"kv_heads", MODEL_DIM_MAX, offsetof(scn_model, kv_heads)},
    {"vocab", MODEL_VOCAB_MAX, offsetof(scn_model, vocab)},
    {"seq_len", MODEL_SEQ_MAX, offsetof(scn_model, seq_len)},
};

#define MODEL_FIELD_COUNT (sizeof(model_fields) / sizeof(model_fields[0]))

static uint32_t *model_field_ptr(scn_model *m, size_t i)
{
    return (uint32_t *)(void *)((char *)m + model_fields[i].offset);
}

/* The rules of infer_shape_check. Returns 0, or -1 with the reason in
 * why[why_size] and the name of the field to blame in *field. */
static int model_shape_check(scn_model *m, char *why, size_t why_size, const char **field)
{
    for (size_t i = 0; i < MODEL_FIELD_COUNT; i++) {
        uint32_t value = *model_field_ptr(m, i);
        if (value < 1 || value > model_fields[i].max) {
            *field = model_fields[i].name;
            snprintf(why, why_size, "%s must be between 1 and %u, got %u", model_fields[i].name,
                     model_fields[i].max, value);
            return -1;
        }
    }
    if (m->dim % m->heads != 0) {
        *field = "heads";
        snprintf(why, why_size, "heads (%u) must divide dim (%u)", m->heads, m->dim);
        return -1;
    }
    if (m->heads % m->kv_heads != 0) {
        *field = "kv_heads";
        snprintf(why, why_size, "kv_heads (%u) must divide heads (%u)", m->kv_heads, m->heads);
        return -1;
    }
    if ((m->dim / m->heads) % 2 != 0) {
        *field = "heads";
        snprintf(why, why_size, "the head size dim/heads (%u/%u = %u) must be even", m->dim,
                 m->heads, m->dim / m->heads);
        return -1;
    }
    return 0;
}

/* ---- the seed source: model.shape ---------------------------------------- */

static int model_shape_read(scn_check *check, const scn_node *shape)
{
    scn_model *m = &check->scenario->model;
    int rc = scn__check_section(check, shape, "model.shape", "model.shape");
    for (size_t i = 0; rc == 0 && i < MODEL_FIELD_COUNT; i++) {
        const scn_node *node = scn__map_get(shape, model_fields[i].name);
        char path[64];
        snprintf(path, sizeof(path), "model.shape.%s", model_fields[i].name);
        if (node == NULL && strcmp(model_fields[i].name, "kv_heads") == 0) {
            m->kv_heads = m->heads;
            continue;
        }
        if (node == NULL) {
            return scn__fail(check->error, SCN_ESCHEMA, shape, "missing required key '%s'", path);
        }
        uint64_t value = 0;
        rc = scn__get_uint(check, node, path, 1, model_fields[i].max, &value);
        *model_field_ptr(m, i) = (uint32_t)value;
    }
    m->shared_classifier = true;
    if (rc != 0 || (rc = scn__get_bool(check, scn__map_get(shape, "shared_classifier"),
                                       "model.shape.shared_classifier",
                                       &m->shared_classifier)) != 0) {
        return rc;
    }
    char why[200];
    const char *field = NULL;
    if (model_shape_check(m, why, sizeof(why), &field) != 0) {
        const scn_node *node = scn__map_get(shape, field);
        return scn__fail(check->error, SCN_ESCHEMA, node != NULL ? node : shape,
                         "model.shape: %s", why);
    }
    return 0;
}

/* ---- the file source: a llama2.c checkpoint ------------------------------ */

/* Bytes a llama2.c checkpoint of this shape has: the header, then float32
 * token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final,
 * freq_cis_real and _imag, and the classifier when it is not shared. */
static uint64_t model_checkpoint_bytes(const scn_model *m)
{
    uint64_t dim = m->dim;
    uint64_t layers = m->layers;
    uint64_t kv_dim = dim * m->kv_heads / m->heads;
    uint64_t head_size = dim / m->heads;
    uint64_t floats = (uint64_t)m->vocab * dim + layers * dim +
                      layers * dim * dim * 2 + layers * dim * kv_dim * 2 + layers * dim +
                      layers * (uint64_t)m->hidden_dim * dim * 3 + dim +
                      2 * (uint64_t)m->seq_len * (head_size / 2);
    if (!m->shared_classifier) {
        floats += (uint64_t)m->vocab * dim;
    }
    return MODEL_HEADER_BYTES + 4 * floats;
}

/* model.file resolved against the folder of the scenario file. */
static int model_file_resolve(scn_check *check, const scn_node *file)
{
    scn_model *m = &check->scenario->model;
    const char *source = check->scenario->source_path;
    const char *slash = strrchr(source, '/');
    int folder = file->text[0] == '/' || slash == NULL ? 0 : (int)(slash - source + 1);
    int n = snprintf(m->file, sizeof(m->file), "%.*s%s", folder, source, file->text);
    if (n < 0 || (size_t)n >= sizeof(m->file)) {
        return scn__fail(check->error, SCN_ESCHEMA, file,
                         "model.file: the resolved path is too long (at most %d bytes)",
                         SCN_PATH_MAX - 1);
    }
    return 0;
}

/* Converts the header's 7 little-endian int32 into the shape. */
static int model_header_decode(scn_check *check, const scn_node *file,
                               const uint8_t header[MODEL_HEADER_BYTES])
{
    scn_model *m = &check->scenario->model;
    for (size_t i = 0; i < MODEL_FIELD_COUNT; i++) {
        const uint8_t *p = header + 4 * i;
        uint32_t bits = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                        (uint32_t)p[3] << 24;
        int64_t value = bits >= 0x80000000u ? (int64_t)bits - 0x100000000ll : (int64_t)bits;
        if (strcmp(model_fields[i].name, "vocab") == 0 && value < 0) {
            m->shared_classifier = false;     /* llama2.c: negative vocab, own classifier */
            value = -value;
        }
        if (value <= 0 || value > UINT32_MAX) {
            return scn__fail(check->error, SCN_ESCHEMA, file, "checkpoint header: %s is %lld",
                             model_fields[i].name, (long long)value);
        }
        *model_field_ptr(m, i) = (uint32_t)value;
    }
    char why[200];
    const char *field = NULL;
    if (model_shape_check(m, why, sizeof(why), &field) != 0) {
        return scn__fail(check->error, SCN_ESCHEMA, file, "checkpoint header: %s", why);
    }
    return 0;
}

static int model_file_finite(scn_check *check, const scn_node *file);

static int model_file_read(scn_check *check, const scn_node *file)
{
    scn_model *m = &check->scenario->model;
    int rc = scn__get_string(check, file, "model.file", m->file_written, sizeof(m->file_written));
    if (rc != 0 || (rc = model_file_resolve(check, file)) != 0) {
        return rc;
    }
    FILE *stream = fopen(m->file, "rb");
    if (stream == NULL) {
        return scn__fail(check->error, SCN_ESCHEMA, file, "cannot open '%.200s': %s", file->text,
                         strerror(errno));
    }
    struct stat info;
    if (fstat(fileno(stream), &info) != 0 || !S_ISREG(info.st_mode)) {
        fclose(stream);
        return scn__fail(check->error, SCN_ESCHEMA, file, "'%.200s' is not a regular file",
                         file->text);
    }
    uint8_t header[MODEL_HEADER_BYTES];
    size_t got = fread(header, 1, sizeof(header), stream);
    fclose(stream);
    if (got < sizeof(header)) {
        return scn__fail(check->error, SCN_ESCHEMA, file,
                         "checkpoint header truncated (%zu of %u bytes)", got,
                         MODEL_HEADER_BYTES);
    }
    m->shared_classifier = true;
    if ((rc = model_header_decode(check, file, header)) != 0) {
        return rc;
    }
    uint64_t want = model_checkpoint_bytes(m);
    if ((uint64_t)info.st_size != want) {
        return scn__fail(check->error, SCN_ESCHEMA, file,
                         "checkpoint is %llu bytes, header implies %llu",
                         (unsigned long long)info.st_size, (unsigned long long)want);
    }
    if ((rc = model_file_finite(check, file)) != 0) {
        return rc;
    }
    /* The weights are part of the scenario: other bytes, another hash. */
    if (util_file_sha256_hex(m->file, m->file_sha256) != 0) {
        return scn__fail(check->error, SCN_ESCHEMA, file, "cannot read '%.200s': %s", file->text,
                         strerror(errno));
    }
    return 0;
}

/* ---- non-finite weights ---------------------------------------------------- */

/* Whether 'bytes' (whole float32s, little-endian) hold a NaN or an
 * infinity: exponent bits all ones. Returns the index or SIZE_MAX. */
static size_t model_non_finite(const uint8_t *bytes, size_t floats)
{
    for (size_t i = 0; i < floats; i++) {
        if ((bytes[4 * i + 3] & 0x7fu) == 0x7fu && (bytes[4 * i + 2] & 0x80u) != 0) {
            return i;
        }
    }
    return SIZE_MAX;
}

/* A checkpoint with a NaN or infinite weight is refused here, at
 * validation, with the weight's position: a run on it would complete
 * nothing and say little about why. */
static int model_file_finite(scn_check *check, const scn_node *file)
{
    FILE *stream = fopen(check->scenario->model.file, "rb");
    if (stream == NULL || fseek(stream, MODEL_HEADER_BYTES, SEEK_SET) != 0) {
        if (stream != NULL) {
            fclose(stream);
        }
        return scn__fail(check->error, SCN_ESCHEMA, file, "cannot read '%.200s': %s", file->text,
                         strerror(errno));
    }
    uint8_t chunk[1 << 16];
    size_t index = 0;
    size_t got = 0;
    size_t bad = SIZE_MAX;
    while (bad == SIZE_MAX && (got = fread(chunk, 1, sizeof(chunk), stream)) >= 4) {
        bad = model_non_finite(chunk, got / 4);
        index += bad == SIZE_MAX ? got / 4 : bad;
    }
    fclose(stream);
    if (bad != SIZE_MAX) {
        return scn__fail(check->error, SCN_ESCHEMA, file,
                         "checkpoint weight %zu (byte %zu) is not finite (NaN or infinity)",
                         index, (size_t)MODEL_HEADER_BYTES + 4 * index);
    }
    return 0;
}

/* ---- segments ------------------------------------------------------------ */

/* 'count' segments as even as possible, earlier ones taking the remainder. */
static void model_segments_even(scn_model *m, uint32_t count)
{
    uint32_t first = 0;
    m->segment_count = count;
    for (uint32_t i = 0; i < count; i++) {
        m->segment_first[i] = first;
        m->segment_layers[i] = m->layers / count + (i < m->layers % count ? 1 : 0);
        first += m->segment_layers[i];
    }
}

/* One [first, last] item of the list form; *next is the layer it must start at. */
static int model_segment_range(scn_check *check, const scn_node *item, size_t i, uint32_t *next)
{
    scn_model *m = &check->scenario->model;
    char path[64];
    snprintf(path, sizeof(path), "model.segments.%zu", i);
    if (item->kind != SCN_NODE_SEQ || item->count != 2) {
        return scn__fail(check->error, SCN_ESCHEMA, item,
                         "%s must be a [first, last] layer range, got %s", path,
                         item->kind == SCN_NODE_SEQ ? "another length" : scn__node_kind_name(item));
    }
    uint64_t first = 0;
    uint64_t last = 0;
    int rc = scn__get_uint(check, item->values[0], path, 0, UINT32_MAX, &first);
    if (rc != 0 || (rc = scn__get_uint(check, item->values[1], path, 0, UINT32_MAX, &last)) != 0) {
        return rc;
    }
    if (first > last) {
        return scn__fail(check->error, SCN_ESCHEMA, item, "%s [%llu, %llu] needs first <= last",
                         path, (unsigned long long)first, (unsigned long long)last);
    }
    if (first < *next) {
        return scn__fail(check->error, SCN_ESCHEMA, item,
                         "%s [%llu, %llu] overlaps model.segments.%zu, which ends at layer %u",
                         path, (unsigned long long)first, (unsigned long long)last, i - 1,
                         *next - 1);
    }
    if (first > *next) {
        return scn__fail(check->error, SCN_ESCHEMA, item,
                         "%s starts at layer %llu, leaving layer %u in no segment", path,
                         (unsigned long long)first, *next);
    }
    if (last >= m->layers) {
        return scn__fail(check->error, SCN_ESCHEMA, item,
                         "%s [%llu, %llu] goes past the last layer (%u)", path,
                         (unsigned long long)first, (unsigned long long)last, m->layers - 1);
    }
    m->segment_first[i] = (uint32_t)first;
    m->segment_layers[i] = (uint32_t)(last - first + 1);
    *next = (uint32_t)last + 1;
    return 0;
}

static int model_segments_read(scn_check *check, const scn_node *segments)
{
    scn_model *m = &check->scenario->model;
    if (segments == NULL) {
        model_segments_even(m, 1);
        return 0;
    }
    if (segments->kind == SCN_NODE_SCALAR) {
        uint64_t count = 0;
        int rc = scn__get_uint(check, segments, "model.segments", 1, SCN_SEGMENTS_MAX, &count);
        if (rc == 0 && count > m->layers) {
            return scn__fail(check->error, SCN_ESCHEMA, segments,
                             "model.segments (%llu) must be at most the layer count (%u)",
                             (unsigned long long)count, m->layers);
        }
        if (rc == 0) {
            model_segments_even(m, (uint32_t)count);
        }
        return rc;
    }
    if (segments->kind != SCN_NODE_SEQ || segments->count < 1 ||
        segments->count > SCN_SEGMENTS_MAX) {
        return scn__fail(check->error, SCN_ESCHEMA, segments,
                         "model.segments must be a count or a list of 1 to %d [first, last] "
                         "ranges",
                         SCN_SEGMENTS_MAX);
    }
    uint32_t next = 0;
    for (size_t i = 0; i < segments->count; i++) {
        int rc = model_segment_range(check, segments->values[i], i, &next);
        if (rc != 0) {
            return rc;
        }
    }
    if (next != m->layers) {
        return scn__fail(check->error, SCN_ESCHEMA, segments,
                         "model.segments cover layers 0-%u, but the model has %u layers (0-%u)",
                         next - 1, m->layers, m->layers - 1);
    }
    m->segment_count = (uint32_t)segments->count;
    return 0;
}

/* ---- memory -------------------------------------------------------------- */

uint64_t scn_segment_memory_bytes(const scn_model *model, uint32_t segment)
{
    ASSERT(model != NULL && model->source != SCN_MODEL_NONE);
    ASSERT(segment < model->segment_count && model->heads > 0);
    uint64_t dim = model->dim;
    uint64_t kv_dim = dim * model->kv_heads / model->heads;
    uint64_t layers = model->segment_layers[segment];
    uint64_t per_layer = 2 * dim + dim * dim * 2 + dim * kv_dim * 2 + 3 * dim * model->hidden_dim;
    uint64_t floats = layers * per_layer;
    bool first = segment == 0;
    bool last = segment + 1 == model->segment_count;
    if (first) {
        floats += (uint64_t)model->vocab * dim;            /* token embedding */
    }
    if (last) {
        floats += dim;                                      /* final norm */
        if (!(first && model->shared_classifier)) {
            floats += (uint64_t)model->vocab * dim;        /* classifier (or its copy) */
        }
    }
    uint64_t kv = (uint64_t)model->kv_slots * layers * model->seq_len * kv_dim * 2 * 4;
    return floats * 4 + kv;
}

static int model_memory_check(scn_check *check, const scn_node *where)
{
    const scn_nodes *nodes = &check->scenario->nodes;
    const scn_model *m = &check->scenario->model;
    uint32_t largest = 0;
    for (uint32_t i = 1; i < nodes->class_count; i++) {
        if (nodes->classes[i].memory_bytes > nodes->classes[largest].memory_bytes) {
            largest = i;
        }
    }
    uint64_t have = nodes->classes[largest].memory_bytes;
    for (uint32_t s = 0; s < m->segment_count; s++) {
        uint64_t need = scn_segment_memory_bytes(m, s);
        if (need > have) {
            return scn__fail(check->error, SCN_ESCHEMA, where,
                             "model segment %u (layers %u-%u) needs %llu bytes of memory, but the "
                             "largest node class ('%.40s') has %llu",
                             s, m->segment_first[s], m->segment_first[s] + m->segment_layers[s] - 1,
                             (unsigned long long)need, nodes->classes[largest].name,
                             (unsigned long long)have);
        }
    }
    return 0;
}

/* ---- the section --------------------------------------------------------- */

/* source, seed, file and shape: which ones apply depends on the source. */
static int model_source_read(scn_check *check, const scn_node *section)
{
    static const char *const sources[] = {"seed", "file", NULL};
    scn_model *m = &check->scenario->model;
    const scn_node *file = scn__map_get(section, "file");
    const scn_node *seed = scn__map_get(section, "seed");
    const scn_node *shape = scn__map_get(section, "shape");
    int source = file != NULL ? 1 : 0;
    int rc = scn__get_enum(check, scn__map_get(section, "source"), "model.source", sources,
                           &source);
    if (rc != 0) {
        return rc;
    }
    m->source = source == 1 ? SCN_MODEL_FILE : SCN_MODEL_SEED;
    m->weight_seed = 1;
    if (m->source == SCN_MODEL_SEED) {
        if (file != NULL) {
            return scn__fail(check->error, SCN_ESCHEMA, file,
                             "model.file is only used with source: file");
        }
        if (shape == NULL) {
            return scn__fail(check->error, SCN_ESCHEMA, section,
                             "missing required key 'model.shape' for the seed source");
        }
        rc = scn__get_uint(check, seed, "model.seed", 0, UINT64_MAX, &m->weight_seed);
        return rc != 0 ? rc : model_shape_read(check, shape);
    }
    if (seed != NULL) {
        return scn__fail(check->error, SCN_ESCHEMA, seed,
                         "model.seed is only used with source: seed");
    }
    if (shape != NULL) {
        return scn__fail(check->error, SCN_ESCHEMA, shape,
                         "model.shape is not allowed with source: file: shape comes from the "
                         "checkpoint header");
    }
    if (file == NULL) {
        return scn__fail(check->error, SCN_ESCHEMA, section,
                         "missing required key 'model.file' for the file source");
    }
    return model_file_read(check, file);
}

int scn__check_model(scn_check *check, const scn_node *root)
{
    static const char *const dtypes[] = {"fp32", "fp16", "bf16", "int8", NULL};
    const scn_node *section = scn__map_get(root, "model");
    int rc = scn__check_section(check, section, "model", "model");
    if (rc != 0 || section == NULL) {
        return rc;
    }
    check->model = section;
    scn_model *m = &check->scenario->model;
    const scn_node *segments = scn__map_get(section, "segments");
    const scn_node *replicas = scn__map_get(section, "replicas");
    int dtype = (int)SCN_DTYPE_FP32;
    uint64_t replica_count = 0;
    uint64_t slots = 4;
    if ((rc = model_source_read(check, section)) != 0 ||
        (rc = model_segments_read(check, segments)) != 0 ||
        (rc = scn__get_enum(check, scn__map_get(section, "wire_dtype"), "model.wire_dtype",
                            dtypes, &dtype)) != 0 ||
        (rc = scn__get_uint(check, replicas, "model.replicas", 0, SCN_NODES_MAX,
                            &replica_count)) != 0 ||
        (rc = scn__get_uint(check, scn__map_get(section, "kv_slots"), "model.kv_slots", 1,
                            MODEL_KV_SLOTS_MAX, &slots)) != 0) {
        return rc;
    }
    m->wire_dtype = (scn_dtype)dtype;
    m->replicas = (uint32_t)replica_count;
    m->kv_slots = (uint32_t)slots;
    if (replica_count * m->segment_count > check->scenario->nodes.count) {
        return scn__fail(check->error, SCN_ESCHEMA, replicas,
                         "model.replicas (%llu) x %u segments needs %llu nodes, but nodes.count "
                         "is %u",
                         (unsigned long long)replica_count, m->segment_count,
                         (unsigned long long)(replica_count * m->segment_count),
                         check->scenario->nodes.count);
    }
    if ((rc = scn__check_tokenizer(check, scn__map_get(section, "tokenizer"))) != 0) {
        return rc;
    }
    return model_memory_check(check, segments != NULL ? segments : section);
}
