/* scn_emit.c -- a scenario written back as YAML, after edits. `infersim
 * shrink` reduces a scenario one edit at a time and must leave a file
 * that loads: the text is parsed into the loader's own tree (anchors,
 * aliases and merge keys resolved), each edit applied as a --set override
 * or a removal, and the tree emitted by libyaml, which quotes whatever a
 * plain scalar cannot carry. Comments and anchors of the original are not
 * kept. Collections of scalars below the top-level sections are written
 * in flow style ({kind: crash, at: 1s}), the rest in block style. */
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "scenarios/scn_int.h"
#include "util/assert.h"

typedef struct emit_buffer {
    char *text;
    size_t length;
    size_t capacity;
    bool failed;
} emit_buffer;

static int emit_write(void *context, unsigned char *bytes, size_t size)
{
    emit_buffer *buffer = context;
    if (buffer->length + size + 1 > buffer->capacity) {
        size_t capacity = (buffer->capacity + size + 1) * 2;
        char *text = realloc(buffer->text, capacity);
        if (text == NULL) {
            buffer->failed = true;
            return 0;
        }
        buffer->text = text;
        buffer->capacity = capacity;
    }
    memcpy(buffer->text + buffer->length, bytes, size);
    buffer->length += size;
    buffer->text[buffer->length] = '\0';
    return 1;
}

static bool emit_scalars_only(const scn_node *node)
{
    for (size_t i = 0; i < node->count; i++) {
        if (node->values[i]->kind != SCN_NODE_SCALAR) {
            return false;
        }
    }
    return true;
}

static int emit_scalar(yaml_emitter_t *emitter, const scn_node *node)
{
    yaml_event_t event;
    bool null_value = scn__node_is_null(node);
    const char *text = null_value ? "~" : node->text;
    yaml_scalar_style_t style = node->plain || null_value ? YAML_PLAIN_SCALAR_STYLE
                                                          : YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    if (!yaml_scalar_event_initialize(&event, NULL, NULL, (yaml_char_t *)text, (int)strlen(text),
                                      node->plain || null_value, !node->plain, style)) {
        return -1;
    }
    return yaml_emitter_emit(emitter, &event) ? 0 : -1;
}

static int emit_node(yaml_emitter_t *emitter, const scn_node *node, int depth)
{
    yaml_event_t event;
    if (node->kind == SCN_NODE_SCALAR) {
        return emit_scalar(emitter, node);
    }
    bool flow = depth >= 2 && emit_scalars_only(node);
    yaml_mapping_style_t map_style = flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE;
    yaml_sequence_style_t seq_style = flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE;
    int ok = node->kind == SCN_NODE_MAP
                 ? yaml_mapping_start_event_initialize(&event, NULL, NULL, 1, map_style)
                 : yaml_sequence_start_event_initialize(&event, NULL, NULL, 1, seq_style);
    if (!ok || !yaml_emitter_emit(emitter, &event)) {
        return -1;
    }
    for (size_t i = 0; i < node->count; i++) {
        if (node->kind == SCN_NODE_MAP && emit_scalar(emitter, node->keys[i]) != 0) {
            return -1;
        }
        if (emit_node(emitter, node->values[i], depth + 1) != 0) {
            return -1;
        }
    }
    ok = node->kind == SCN_NODE_MAP ? yaml_mapping_end_event_initialize(&event)
                                    : yaml_sequence_end_event_initialize(&event);
    return ok && yaml_emitter_emit(emitter, &event) ? 0 : -1;
}

static int emit_document(yaml_emitter_t *emitter, const scn_node *root)
{
    yaml_event_t event;
    if (!yaml_stream_start_event_initialize(&event, YAML_UTF8_ENCODING) ||
        !yaml_emitter_emit(emitter, &event) ||
        !yaml_document_start_event_initialize(&event, NULL, NULL, NULL, 1) ||
        !yaml_emitter_emit(emitter, &event) || emit_node(emitter, root, 0) != 0 ||
        !yaml_document_end_event_initialize(&event, 1) || !yaml_emitter_emit(emitter, &event) ||
        !yaml_stream_end_event_initialize(&event) || !yaml_emitter_emit(emitter, &event)) {
        return -1;
    }
    return yaml_emitter_flush(emitter) ? 0 : -1;
}

/* Writes doc's tree as YAML text into *out (malloc'd). */
static int emit_tree(const scn_doc *doc, char **out, scn_error *error)
{
    yaml_emitter_t emitter;
    emit_buffer buffer = {NULL, 0, 0, false};
    if (!yaml_emitter_initialize(&emitter)) {
        return scn__fail_at(error, SCN_ENOMEM, NULL, 0, 0, "out of memory");
    }
    yaml_emitter_set_output(&emitter, emit_write, &buffer);
    yaml_emitter_set_width(&emitter, 96);
    yaml_emitter_set_unicode(&emitter, 1);
    int rc = emit_document(&emitter, doc->root);
    yaml_emitter_delete(&emitter);
    if (rc != 0 || buffer.failed || buffer.text == NULL) {
        free(buffer.text);
        return scn__fail_at(error, SCN_ENOMEM, NULL, 0, 0, "cannot write the scenario as YAML");
    }
    *out = buffer.text;
    return 0;
}

int scn_yaml_edit(const char *name, const char *text, const char *const *edits,
                  size_t edit_count, char **yaml_out, scn_error *error)
{
    ASSERT(name != NULL && text != NULL && yaml_out != NULL && error != NULL);
    scn_doc doc;
    memset(&doc, 0, sizeof(doc));
    memset(error, 0, sizeof(*error));
    *yaml_out = NULL;
    int rc = scn__doc_parse(&doc, name, text, error);
    for (size_t i = 0; rc == 0 && i < edit_count; i++) {
        rc = edits[i][0] == '-' ? scn__doc_remove(&doc, edits[i] + 1, error)
                                : scn__doc_override(&doc, edits[i], error);
    }
    if (rc == 0) {
        rc = emit_tree(&doc, yaml_out, error);
    }
    scn__doc_free(&doc);
    return rc;
}
