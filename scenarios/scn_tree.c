/* scn_tree.c -- YAML text to a tree of located nodes, with libyaml's event
 * API. This is the only file that includes yaml.h. Aliases are expanded into
 * deep copies (an anchor table keeps its own copy of every anchored node), so
 * the result is a plain tree in which every node has one owner; merge keys
 * ("<<: *base", "<<: [*a, *b]") are resolved when their map ends, explicit
 * keys winning over merged ones and earlier merge sources over later ones.
 * The same builder parses the value of each --set override. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "scenarios/scn_int.h"
#include "util/alloc.h"
#include "util/assert.h"

/* Deeper nesting than this is not a scenario; refuse it before the stack grows. */
#define TREE_DEPTH_MAX 64
/* Keys per map: duplicate detection is quadratic, so keep maps small. */
#define TREE_MAP_KEYS_MAX 4096

typedef struct tree_frame {
    scn_node *node;
    scn_node *key;                /* map: the key awaiting its value */
    char *anchor;                 /* anchor named on this container, or NULL */
} tree_frame;

typedef struct tree_anchor {
    char *name;
    scn_node *copy;               /* owned deep copy of the anchored node */
} tree_anchor;

typedef struct tree_builder {
    scn_doc *doc;
    const char *file;
    scn_error *error;
    tree_frame frames[TREE_DEPTH_MAX];
    size_t depth;
    tree_anchor *anchors;
    size_t anchor_count;
    size_t anchor_capacity;
    size_t document_count;
    scn_node *root;
} tree_builder;

int scn__fail_at(scn_error *error, int code, const char *file, uint32_t line, uint32_t column,
                 const char *format, ...)
{
    if (error == NULL) {
        return code;
    }
    memset(error, 0, sizeof(*error));
    if (file != NULL) {
        snprintf(error->file, sizeof(error->file), "%s", file);
    }
    error->line = line;
    error->column = column;
    va_list args;
    va_start(args, format);
    vsnprintf(error->message, sizeof(error->message), format, args);
    va_end(args);
    return code;
}

int scn__fail(scn_error *error, int code, const scn_node *node, const char *format, ...)
{
    if (error == NULL) {
        return code;
    }
    memset(error, 0, sizeof(*error));
    if (node != NULL) {
        snprintf(error->file, sizeof(error->file), "%s", node->file != NULL ? node->file : "");
        error->line = node->line;
        error->column = node->column;
    }
    va_list args;
    va_start(args, format);
    vsnprintf(error->message, sizeof(error->message), format, args);
    va_end(args);
    return code;
}

const scn_node *scn__map_get(const scn_node *map, const char *key)
{
    ASSERT(map != NULL && key != NULL);
    if (map->kind != SCN_NODE_MAP) {
        return NULL;
    }
    for (size_t i = 0; i < map->count; i++) {
        if (map->keys[i] != NULL && strcmp(map->keys[i]->text, key) == 0) {
            return scn__node_is_null(map->values[i]) ? NULL : map->values[i];
        }
    }
    return NULL;
}

bool scn__node_is_null(const scn_node *node)
{
    if (node == NULL || node->kind != SCN_NODE_SCALAR || !node->plain) {
        return false;
    }
    const char *t = node->text;
    return t[0] == '\0' || strcmp(t, "~") == 0 || strcmp(t, "null") == 0 ||
           strcmp(t, "Null") == 0 || strcmp(t, "NULL") == 0;
}

const char *scn__node_kind_name(const scn_node *node)
{
    switch (node->kind) {
    case SCN_NODE_MAP:
        return "a map";
    case SCN_NODE_SEQ:
        return "a sequence";
    case SCN_NODE_SCALAR:
    default:
        return scn__node_is_null(node) ? "nothing (null)" : "a scalar";
    }
}

static void node_free(scn_node *node)
{
    if (node == NULL) {
        return;
    }
    for (size_t i = 0; i < node->count; i++) {
        if (node->keys != NULL) {
            node_free(node->keys[i]);
        }
        node_free(node->values[i]);
    }
    util_free(node->keys);
    util_free(node->values);
    util_free(node->text);
    util_free(node);
}

/* Allocates a node at a position; counts it against the document budget. */
static int node_new(scn_doc *doc, scn_error *error, scn_node_kind kind, const char *file,
                    uint32_t line, uint32_t column, scn_node **out)
{
    *out = NULL;
    if (doc->node_count >= SCN_TREE_NODES_MAX) {
        return scn__fail_at(error, SCN_EPARSE, file, line, column,
                            "document too large (more than %u nodes after alias expansion)",
                            SCN_TREE_NODES_MAX);
    }
    scn_node *node = util_calloc(1, sizeof(*node));
    if (node == NULL) {
        return scn__fail_at(error, SCN_ENOMEM, file, line, column, "out of memory");
    }
    doc->node_count += 1;
    node->kind = kind;
    node->file = file;
    node->line = line;
    node->column = column;
    *out = node;
    return 0;
}

/* Appends an item (sequence) or a pair (map, key != NULL). Takes ownership of
 * both only on success. */
static int node_push(scn_node *node, scn_node *key, scn_node *value)
{
    if (node->count == node->capacity) {
        size_t capacity = node->capacity == 0 ? 4 : node->capacity * 2;
        scn_node **values = util_realloc(node->values, capacity * sizeof(*values));
        if (values == NULL) {
            return SCN_ENOMEM;
        }
        node->values = values;
        if (node->kind == SCN_NODE_MAP) {
            scn_node **keys = util_realloc(node->keys, capacity * sizeof(*keys));
            if (keys == NULL) {
                return SCN_ENOMEM;
            }
            node->keys = keys;
        }
        node->capacity = capacity;
    }
    if (node->kind == SCN_NODE_MAP) {
        node->keys[node->count] = key;
    }
    node->values[node->count] = value;
    node->count += 1;
    return 0;
}

static int node_copy(scn_doc *doc, scn_error *error, const scn_node *src, scn_node **out)
{
    scn_node *copy = NULL;
    int rc = node_new(doc, error, src->kind, src->file, src->line, src->column, &copy);
    if (rc != 0) {
        return rc;
    }
    copy->plain = src->plain;
    if (src->text != NULL && (copy->text = util_strdup(src->text)) == NULL) {
        rc = scn__fail(error, SCN_ENOMEM, src, "out of memory");
        goto fail_copy;
    }
    for (size_t i = 0; i < src->count; i++) {
        scn_node *key = NULL;
        scn_node *value = NULL;
        if (src->kind == SCN_NODE_MAP && (rc = node_copy(doc, error, src->keys[i], &key)) != 0) {
            goto fail_copy;
        }
        if ((rc = node_copy(doc, error, src->values[i], &value)) != 0) {
            node_free(key);
            goto fail_copy;
        }
        if (node_push(copy, key, value) != 0) {
            node_free(key);
            node_free(value);
            rc = scn__fail(error, SCN_ENOMEM, src, "out of memory");
            goto fail_copy;
        }
    }
    *out = copy;
    return 0;
fail_copy:
    node_free(copy);
    return rc;
}

/* Gives every node of a subtree one position (override values). */
static void node_relocate(scn_node *node, const char *file)
{
    node->file = file;
    node->line = 1;
    node->column = 1;
    for (size_t i = 0; i < node->count; i++) {
        if (node->keys != NULL) {
            node_relocate(node->keys[i], file);
        }
        node_relocate(node->values[i], file);
    }
}

static long map_find(const scn_node *map, const char *key)
{
    for (size_t i = 0; i < map->count; i++) {
        if (map->keys[i] != NULL && strcmp(map->keys[i]->text, key) == 0) {
            return (long)i;
        }
    }
    return -1;
}

static bool node_is_merge_key(const scn_node *key)
{
    return key != NULL && key->plain && strcmp(key->text, "<<") == 0;
}

static const char *doc_add_source(scn_doc *doc, const char *name)
{
    if (doc->source_count == doc->source_capacity) {
        size_t capacity = doc->source_capacity == 0 ? 4 : doc->source_capacity * 2;
        char **sources = util_realloc(doc->sources, capacity * sizeof(*sources));
        if (sources == NULL) {
            return NULL;
        }
        doc->sources = sources;
        doc->source_capacity = capacity;
    }
    char *copy = util_strdup(name);
    if (copy == NULL) {
        return NULL;
    }
    doc->sources[doc->source_count++] = copy;
    return copy;
}

void scn__doc_free(scn_doc *doc)
{
    if (doc == NULL) {
        return;
    }
    node_free(doc->root);
    for (size_t i = 0; i < doc->source_count; i++) {
        util_free(doc->sources[i]);
    }
    util_free(doc->sources);
    memset(doc, 0, sizeof(*doc));
}

/* ---- merge keys ---------------------------------------------------------- */

/* Checks every "<<" value of 'map' (a map or a sequence of maps) and counts
 * the pairs they could contribute. */
static int merge_check(tree_builder *b, const scn_node *map, size_t *extra_out, bool *any_out)
{
    *extra_out = 0;
    *any_out = false;
    for (size_t i = 0; i < map->count; i++) {
        if (!node_is_merge_key(map->keys[i])) {
            continue;
        }
        const scn_node *value = map->values[i];
        *any_out = true;
        if (value->kind == SCN_NODE_MAP) {
            *extra_out += value->count;
            continue;
        }
        if (value->kind != SCN_NODE_SEQ) {
            return scn__fail(b->error, SCN_EPARSE, value,
                             "merge key '<<' needs a map or a list of maps, got %s",
                             scn__node_kind_name(value));
        }
        for (size_t j = 0; j < value->count; j++) {
            if (value->values[j]->kind != SCN_NODE_MAP) {
                return scn__fail(b->error, SCN_EPARSE, value->values[j],
                                 "merge key '<<' list entries must be maps, got %s",
                                 scn__node_kind_name(value->values[j]));
            }
            *extra_out += value->values[j]->count;
        }
    }
    return 0;
}

/* Moves the pairs of 'source' whose keys 'map' lacks into 'map'. */
static void merge_from(scn_node *map, scn_node *source)
{
    for (size_t i = 0; i < source->count; i++) {
        if (map_find(map, source->keys[i]->text) >= 0) {
            continue;
        }
        ASSERT(map->count < map->capacity);     /* Sized by merge_check. */
        map->keys[map->count] = source->keys[i];
        map->values[map->count] = source->values[i];
        map->count += 1;
        source->keys[i] = NULL;
        source->values[i] = NULL;
    }
}

static int tree_merge(tree_builder *b, scn_node *map)
{
    size_t extra = 0;
    bool any = false;
    int rc = merge_check(b, map, &extra, &any);
    if (rc != 0 || !any) {
        return rc;
    }
    size_t capacity = map->count + extra;
    scn_node **keys = util_calloc(capacity, sizeof(*keys));
    scn_node **values = util_calloc(capacity, sizeof(*values));
    if (keys == NULL || values == NULL) {
        util_free(keys);
        util_free(values);
        return scn__fail(b->error, SCN_ENOMEM, map, "out of memory");
    }
    scn_node merged = *map;
    merged.keys = keys;
    merged.values = values;
    merged.count = 0;
    merged.capacity = capacity;
    for (size_t i = 0; i < map->count; i++) {
        if (!node_is_merge_key(map->keys[i])) {
            merged.keys[merged.count] = map->keys[i];
            merged.values[merged.count] = map->values[i];
            merged.count += 1;
        }
    }
    for (size_t i = 0; i < map->count; i++) {
        if (!node_is_merge_key(map->keys[i])) {
            continue;
        }
        scn_node *value = map->values[i];
        if (value->kind == SCN_NODE_MAP) {
            merge_from(&merged, value);
        } else {
            for (size_t j = 0; j < value->count; j++) {
                merge_from(&merged, value->values[j]);
            }
        }
        node_free(map->keys[i]);
        node_free(value);
    }
    util_free(map->keys);
    util_free(map->values);
    *map = merged;
    return 0;
}

/* ---- the event builder --------------------------------------------------- */

static int builder_fail_mark(tree_builder *b, int code, yaml_mark_t mark, const char *format,
                             const char *arg)
{
    return scn__fail_at(b->error, code, b->file, (uint32_t)mark.line + 1,
                        (uint32_t)mark.column + 1, format, arg);
}

static int builder_anchor(tree_builder *b, const char *name, const scn_node *node)
{
    scn_node *copy = NULL;
    int rc = node_copy(b->doc, b->error, node, &copy);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < b->anchor_count; i++) {
        if (strcmp(b->anchors[i].name, name) == 0) {
            node_free(b->anchors[i].copy);          /* A redefined anchor wins from here on. */
            b->anchors[i].copy = copy;
            return 0;
        }
    }
    if (b->anchor_count == b->anchor_capacity) {
        size_t capacity = b->anchor_capacity == 0 ? 8 : b->anchor_capacity * 2;
        tree_anchor *anchors = util_realloc(b->anchors, capacity * sizeof(*anchors));
        if (anchors == NULL) {
            node_free(copy);
            return scn__fail(b->error, SCN_ENOMEM, node, "out of memory");
        }
        b->anchors = anchors;
        b->anchor_capacity = capacity;
    }
    char *name_copy = util_strdup(name);
    if (name_copy == NULL) {
        node_free(copy);
        return scn__fail(b->error, SCN_ENOMEM, node, "out of memory");
    }
    b->anchors[b->anchor_count].name = name_copy;
    b->anchors[b->anchor_count].copy = copy;
    b->anchor_count += 1;
    return 0;
}

/* Hands a finished node to its parent (or makes it the root). Takes
 * ownership of 'node' in every case. */
static int builder_attach(tree_builder *b, scn_node *node)
{
    if (b->depth == 0) {
        ASSERT(b->root == NULL);
        b->root = node;
        return 0;
    }
    tree_frame *top = &b->frames[b->depth - 1];
    int rc = 0;
    if (top->node->kind == SCN_NODE_MAP && top->key == NULL) {
        if (node->kind != SCN_NODE_SCALAR) {
            rc = scn__fail(b->error, SCN_EPARSE, node, "map keys must be scalars, got %s",
                           scn__node_kind_name(node));
        } else if (map_find(top->node, node->text) >= 0) {
            long first = map_find(top->node, node->text);
            rc = scn__fail(b->error, SCN_EPARSE, node, "duplicate key '%s' (first at line %u)",
                           node->text, top->node->keys[first]->line);
        } else if (top->node->count >= TREE_MAP_KEYS_MAX) {
            rc = scn__fail(b->error, SCN_EPARSE, node, "too many keys in one map (at most %d)",
                           TREE_MAP_KEYS_MAX);
        } else {
            top->key = node;
            return 0;
        }
        node_free(node);
        return rc;
    }
    if (node_push(top->node, top->key, node) != 0) {
        rc = scn__fail(b->error, SCN_ENOMEM, node, "out of memory");
        node_free(node);
        return rc;      /* top->key stays in the frame and is freed with it. */
    }
    top->key = NULL;
    return 0;
}

static int builder_scalar(tree_builder *b, const yaml_event_t *event)
{
    scn_node *node = NULL;
    int rc = node_new(b->doc, b->error, SCN_NODE_SCALAR, b->file,
                      (uint32_t)event->start_mark.line + 1, (uint32_t)event->start_mark.column + 1,
                      &node);
    if (rc != 0) {
        return rc;
    }
    size_t length = event->data.scalar.length;
    node->plain = event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    node->text = util_malloc(length + 1);
    if (node->text == NULL) {
        node_free(node);
        return scn__fail(b->error, SCN_ENOMEM, NULL, "out of memory");
    }
    memcpy(node->text, event->data.scalar.value, length);
    node->text[length] = '\0';
    const char *anchor = (const char *)event->data.scalar.anchor;
    if (anchor != NULL && (rc = builder_anchor(b, anchor, node)) != 0) {
        node_free(node);
        return rc;
    }
    return builder_attach(b, node);
}

static int builder_start(tree_builder *b, const yaml_event_t *event, scn_node_kind kind)
{
    if (b->depth == TREE_DEPTH_MAX) {
        return builder_fail_mark(b, SCN_EPARSE, event->start_mark, "%s", "nesting too deep");
    }
    const yaml_char_t *anchor = kind == SCN_NODE_MAP ? event->data.mapping_start.anchor
                                                     : event->data.sequence_start.anchor;
    scn_node *node = NULL;
    int rc = node_new(b->doc, b->error, kind, b->file, (uint32_t)event->start_mark.line + 1,
                      (uint32_t)event->start_mark.column + 1, &node);
    if (rc != 0) {
        return rc;
    }
    char *anchor_copy = NULL;
    if (anchor != NULL && (anchor_copy = util_strdup((const char *)anchor)) == NULL) {
        node_free(node);
        return scn__fail(b->error, SCN_ENOMEM, NULL, "out of memory");
    }
    b->frames[b->depth].node = node;
    b->frames[b->depth].key = NULL;
    b->frames[b->depth].anchor = anchor_copy;
    b->depth += 1;
    return 0;
}

static int builder_end(tree_builder *b)
{
    ASSERT(b->depth > 0);
    tree_frame frame = b->frames[--b->depth];
    ASSERT(frame.key == NULL);      /* libyaml always pairs keys with values. */
    int rc = 0;
    if (frame.node->kind == SCN_NODE_MAP) {
        rc = tree_merge(b, frame.node);
    }
    if (rc == 0 && frame.anchor != NULL) {
        rc = builder_anchor(b, frame.anchor, frame.node);
    }
    util_free(frame.anchor);
    if (rc != 0) {
        node_free(frame.node);
        return rc;
    }
    return builder_attach(b, frame.node);
}

static int builder_alias(tree_builder *b, const yaml_event_t *event)
{
    const char *name = (const char *)event->data.alias.anchor;
    for (size_t i = 0; i < b->anchor_count; i++) {
        if (strcmp(b->anchors[i].name, name) == 0) {
            scn_node *copy = NULL;
            int rc = node_copy(b->doc, b->error, b->anchors[i].copy, &copy);
            return rc != 0 ? rc : builder_attach(b, copy);
        }
    }
    return builder_fail_mark(b, SCN_EPARSE, event->start_mark,
                             "alias '*%s' refers to an undefined anchor", name);
}

static int builder_event(tree_builder *b, const yaml_event_t *event)
{
    switch (event->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (b->document_count++ > 0) {
            return builder_fail_mark(b, SCN_EPARSE, event->start_mark, "%s",
                                     "multiple documents in one file are not supported");
        }
        return 0;
    case YAML_SCALAR_EVENT:
        return builder_scalar(b, event);
    case YAML_SEQUENCE_START_EVENT:
        return builder_start(b, event, SCN_NODE_SEQ);
    case YAML_MAPPING_START_EVENT:
        return builder_start(b, event, SCN_NODE_MAP);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return builder_end(b);
    case YAML_ALIAS_EVENT:
        return builder_alias(b, event);
    default:
        return 0;
    }
}

/* The reader (encoding) errors give a byte offset, not a mark. */
static yaml_mark_t builder_offset_mark(const char *text, size_t offset)
{
    yaml_mark_t mark = {0, 0, 0};
    size_t length = strlen(text);
    for (size_t i = 0; i < offset && i < length; i++) {
        if (text[i] == '\n') {
            mark.line += 1;
            mark.column = 0;
        } else {
            mark.column += 1;
        }
    }
    return mark;
}

static int builder_syntax_error(tree_builder *b, const yaml_parser_t *parser, const char *text)
{
    if (parser->error == YAML_MEMORY_ERROR) {
        return scn__fail_at(b->error, SCN_ENOMEM, b->file, 0, 0, "out of memory");
    }
    yaml_mark_t mark = parser->problem_mark;
    if (parser->error == YAML_READER_ERROR) {
        mark = builder_offset_mark(text, parser->problem_offset);
    }
    const char *problem = parser->problem != NULL ? parser->problem : "syntax error";
    if (parser->context != NULL) {
        return scn__fail_at(b->error, SCN_EPARSE, b->file, (uint32_t)mark.line + 1,
                            (uint32_t)mark.column + 1, "%s (%s)", problem, parser->context);
    }
    return scn__fail_at(b->error, SCN_EPARSE, b->file, (uint32_t)mark.line + 1,
                        (uint32_t)mark.column + 1, "%s", problem);
}

static void builder_free(tree_builder *b)
{
    for (size_t i = 0; i < b->depth; i++) {
        node_free(b->frames[i].node);
        node_free(b->frames[i].key);
        util_free(b->frames[i].anchor);
    }
    for (size_t i = 0; i < b->anchor_count; i++) {
        util_free(b->anchors[i].name);
        node_free(b->anchors[i].copy);
    }
    util_free(b->anchors);
    b->depth = 0;
    b->anchor_count = 0;
    b->anchors = NULL;
}

/* Parses one YAML stream into *root_out (NULL for an empty stream). */
static int tree_parse(scn_doc *doc, const char *file, const char *text, scn_error *error,
                      scn_node **root_out)
{
    *root_out = NULL;
    yaml_parser_t parser;
    if (yaml_parser_initialize(&parser) == 0) {
        return scn__fail_at(error, SCN_ENOMEM, file, 0, 0, "out of memory");
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
    tree_builder b;
    memset(&b, 0, sizeof(b));
    b.doc = doc;
    b.file = file;
    b.error = error;
    int rc = 0;
    bool done = false;
    while (rc == 0 && !done) {
        yaml_event_t event;
        if (yaml_parser_parse(&parser, &event) == 0) {
            rc = builder_syntax_error(&b, &parser, text);
            break;
        }
        done = event.type == YAML_STREAM_END_EVENT;
        rc = builder_event(&b, &event);
        yaml_event_delete(&event);
    }
    builder_free(&b);
    yaml_parser_delete(&parser);
    if (rc != 0) {
        node_free(b.root);
        return rc;
    }
    *root_out = b.root;
    return 0;
}

int scn__doc_parse(scn_doc *doc, const char *file, const char *text, scn_error *error)
{
    ASSERT(doc != NULL && file != NULL && text != NULL);
    memset(doc, 0, sizeof(*doc));
    const char *source = doc_add_source(doc, file);
    if (source == NULL) {
        return scn__fail_at(error, SCN_ENOMEM, file, 0, 0, "out of memory");
    }
    scn_node *root = NULL;
    int rc = tree_parse(doc, source, text, error, &root);
    if (rc != 0) {
        return rc;
    }
    if (root != NULL && root->kind != SCN_NODE_MAP && !scn__node_is_null(root)) {
        rc = scn__fail(error, SCN_ESCHEMA, root, "expected a map at the top level, got %s",
                       scn__node_kind_name(root));
        node_free(root);
        return rc;
    }
    if (root == NULL || root->kind != SCN_NODE_MAP) {
        node_free(root);
        root = NULL;
        if ((rc = node_new(doc, error, SCN_NODE_MAP, source, 1, 1, &root)) != 0) {
            return rc;
        }
    }
    doc->root = root;
    return 0;
}

/* ---- --set overrides ----------------------------------------------------- */

/* One step of an override path: where it starts in the path and its length. */
typedef struct override_part {
    size_t offset;
    size_t length;
} override_part;

#define OVERRIDE_PARTS_MAX 32

static int override_split(const char *override, size_t path_length, override_part *parts,
                          size_t *count_out, scn_error *error)
{
    size_t count = 0;
    size_t start = 0;
    for (size_t i = 0; i <= path_length; i++) {
        if (i < path_length && override[i] != '.') {
            continue;
        }
        if (i == start) {
            return scn__fail_at(error, SCN_EUSAGE, "--set", 0, 0,
                                "override '%s' has an empty path component", override);
        }
        if (count == OVERRIDE_PARTS_MAX) {
            return scn__fail_at(error, SCN_EUSAGE, "--set", 0, 0,
                                "override '%s' has too many path components", override);
        }
        parts[count].offset = start;
        parts[count].length = i - start;
        count += 1;
        start = i + 1;
    }
    *count_out = count;
    return 0;
}

/* A plain scalar holding 'text' as is (empty: null). */
static int override_plain(scn_doc *doc, const char *source, const char *text, scn_error *error,
                          scn_node **out)
{
    int rc = node_new(doc, error, SCN_NODE_SCALAR, source, 1, 1, out);
    if (rc != 0) {
        return rc;
    }
    (*out)->plain = true;
    if (((*out)->text = util_strdup(text)) == NULL) {
        node_free(*out);
        *out = NULL;
        return scn__fail_at(error, SCN_ENOMEM, "--set", 0, 0, "out of memory");
    }
    return 0;
}

/* The value half of an override. A flow collection ("[1, 2]", "{a: 1}") or
 * a quoted scalar is parsed as YAML; anything else is taken verbatim, so
 * "expect.delivery_ratio=>= 0.99" needs no quoting. Empty means null. */
static int override_value(scn_doc *doc, const char *source, const char *override,
                          const char *text, scn_error *error, scn_node **out)
{
    if (strchr("[{\"'", text[0]) == NULL || text[0] == '\0') {
        return override_plain(doc, source, text, error, out);
    }
    scn_error value_error;
    int rc = tree_parse(doc, source, text, &value_error, out);
    if (rc == SCN_ENOMEM) {
        return scn__fail_at(error, SCN_ENOMEM, "--set", 0, 0, "out of memory");
    }
    if (rc != 0) {
        return scn__fail_at(error, SCN_EUSAGE, "--set", 0, 0, "override '%s': bad value: %s",
                            override, value_error.message);
    }
    if (*out == NULL && (rc = override_plain(doc, source, "", error, out)) != 0) {
        return rc;
    }
    node_relocate(*out, source);
    return 0;
}

/* Adds key 'name' to 'map' with 'value' (owned on success). */
static int override_insert(scn_doc *doc, scn_node *map, const char *source, const char *name,
                           size_t length, scn_node *value, scn_error *error)
{
    scn_node *key = NULL;
    int rc = node_new(doc, error, SCN_NODE_SCALAR, source, 1, 1, &key);
    if (rc != 0) {
        return rc;
    }
    key->plain = true;
    key->text = util_malloc(length + 1);
    if (key->text == NULL || node_push(map, key, value) != 0) {
        node_free(key);
        return scn__fail_at(error, SCN_ENOMEM, "--set", 0, 0, "out of memory");
    }
    memcpy(key->text, name, length);
    key->text[length] = '\0';
    return 0;
}

/* A plain empty scalar: the YAML null that stands for "not set yet". */
static int null_placeholder(scn_doc *doc, const char *source, scn_error *error, scn_node **out)
{
    int rc = node_new(doc, error, SCN_NODE_SCALAR, source, 1, 1, out);
    if (rc != 0) {
        return rc;
    }
    (*out)->plain = true;
    (*out)->text = util_strdup("");
    if ((*out)->text == NULL) {
        node_free(*out);
        *out = NULL;
        return scn__fail_at(error, SCN_ENOMEM, "--set", 0, 0, "out of memory");
    }
    return 0;
}

static bool part_is_index(const char *name, override_part part)
{
    for (size_t i = 0; i < part.length; i++) {
        if (name[i] < '0' || name[i] > '9') {
            return false;
        }
    }
    return part.length > 0 && part.length <= 9;
}

/* The slot of item 'part' of a sequence; index == count appends one. */
static int override_index(scn_doc *doc, const char *source, const char *override,
                          override_part part, scn_node *node, scn_node ***slot, scn_error *error)
{
    const char *name = override + part.offset;
    size_t prefix = part.offset == 0 ? 0 : part.offset - 1;
    size_t index = 0;
    if (!part_is_index(name, part)) {
        return scn__fail_at(error, SCN_EUSAGE, "--set", 0, 0,
                            "override '%s': '%.*s' is a list, '%.*s' is not an index", override,
                            (int)prefix, override, (int)part.length, name);
    }
    for (size_t i = 0; i < part.length; i++) {
        index = index * 10 + (size_t)(name[i] - '0');
    }
    if (index > node->count) {
        return scn__fail_at(error, SCN_EUSAGE, "--set", 0, 0,
                            "override '%s': index %zu out of range ('%.*s' has %zu entries; "
                            "%zu appends one)",
                            override, index, (int)prefix, override, node->count, node->count);
    }
    if (index == node->count) {
        scn_node *item = NULL;
        int rc = null_placeholder(doc, source, error, &item);
        if (rc != 0) {
            return rc;
        }
        if (node_push(node, NULL, item) != 0) {
            node_free(item);
            return scn__fail_at(error, SCN_ENOMEM, "--set", 0, 0, "out of memory");
        }
    }
    *slot = &node->values[index];
    return 0;
}

/* Finds the slot of one path step in the container **slot. A missing
 * container becomes a list when the step is an index, else a map; a
 * missing key gets a null placeholder that the next step or the value
 * replaces. */
static int override_step(scn_doc *doc, const char *source, const char *override,
                         override_part part, scn_node ***slot, scn_error *error)
{
    scn_node *node = **slot;
    const char *name = override + part.offset;
    size_t prefix = part.offset == 0 ? 0 : part.offset - 1;
    int rc = 0;
    if (scn__node_is_null(node)) {
        scn_node *container = NULL;
        scn_node_kind kind = part_is_index(name, part) ? SCN_NODE_SEQ : SCN_NODE_MAP;
        if ((rc = node_new(doc, error, kind, source, 1, 1, &container)) != 0) {
            return rc;
        }
        node_free(node);
        **slot = node = container;
    }
    if (node->kind == SCN_NODE_SEQ) {
        return override_index(doc, source, override, part, node, slot, error);
    }
    if (node->kind == SCN_NODE_SCALAR) {
        return scn__fail_at(error, SCN_EUSAGE, "--set", 0, 0,
                            "override '%s': '%.*s' is a scalar, there is nothing inside it",
                            override, (int)prefix, override);
    }
    for (size_t i = 0; i < node->count; i++) {
        const char *key = node->keys[i]->text;
        if (strlen(key) == part.length && memcmp(key, name, part.length) == 0) {
            *slot = &node->values[i];
            return 0;
        }
    }
    scn_node *placeholder = NULL;
    if ((rc = null_placeholder(doc, source, error, &placeholder)) != 0) {
        return rc;
    }
    if ((rc = override_insert(doc, node, source, name, part.length, placeholder, error)) != 0) {
        node_free(placeholder);
        return rc;
    }
    *slot = &node->values[node->count - 1];
    return 0;
}

int scn__doc_override(scn_doc *doc, const char *override, scn_error *error)
{
    ASSERT(doc != NULL && doc->root != NULL && override != NULL);
    const char *equals = strchr(override, '=');
    if (equals == NULL) {
        return scn__fail_at(error, SCN_EUSAGE, "--set", 0, 0,
                            "override '%s' has no '=' (expected path=value)", override);
    }
    size_t path_length = (size_t)(equals - override);
    if (path_length == 0) {
        return scn__fail_at(error, SCN_EUSAGE, "--set", 0, 0, "override '%s' has an empty path",
                            override);
    }
    override_part parts[OVERRIDE_PARTS_MAX];
    size_t part_count = 0;
    int rc = override_split(override, path_length, parts, &part_count, error);
    if (rc != 0) {
        return rc;
    }
    char label[SCN_PATH_MAX];
    snprintf(label, sizeof(label), "--set %s", override);
    const char *source = doc_add_source(doc, label);
    if (source == NULL) {
        return scn__fail_at(error, SCN_ENOMEM, "--set", 0, 0, "out of memory");
    }
    scn_node *value = NULL;
    if ((rc = override_value(doc, source, override, equals + 1, error, &value)) != 0) {
        return rc;
    }
    /* Walk (creating maps) to the container of the last step, then set it. */
    scn_node **slot = &doc->root;
    for (size_t i = 0; i < part_count; i++) {
        if ((rc = override_step(doc, source, override, parts[i], &slot, error)) != 0) {
            node_free(value);
            return rc;
        }
    }
    node_free(*slot);
    *slot = value;
    return 0;
}

/* ---- removing a key or a list item (scn_yaml_edit) ------------------------ */

/* The child of 'node' named by one path step, or NULL when absent; its
 * index in *index_out. */
static scn_node *remove_child(const scn_node *node, const char *name, override_part part,
                              size_t *index_out)
{
    if (node->kind == SCN_NODE_SEQ) {
        size_t index = 0;
        if (!part_is_index(name, part)) {
            return NULL;
        }
        for (size_t i = 0; i < part.length; i++) {
            index = index * 10 + (size_t)(name[i] - '0');
        }
        *index_out = index;
        return index < node->count ? node->values[index] : NULL;
    }
    for (size_t i = 0; node->kind == SCN_NODE_MAP && i < node->count; i++) {
        const char *key = node->keys[i]->text;
        if (strlen(key) == part.length && memcmp(key, name, part.length) == 0) {
            *index_out = i;
            return node->values[i];
        }
    }
    return NULL;
}

int scn__doc_remove(scn_doc *doc, const char *path, scn_error *error)
{
    ASSERT(doc != NULL && doc->root != NULL && path != NULL);
    override_part parts[OVERRIDE_PARTS_MAX];
    size_t part_count = 0;
    int rc = override_split(path, strlen(path), parts, &part_count, error);
    if (rc != 0) {
        return rc;
    }
    scn_node *parent = doc->root;
    scn_node *child = NULL;
    size_t index = 0;
    for (size_t i = 0; i < part_count; i++) {
        if (i > 0) {
            parent = child;
        }
        child = remove_child(parent, path + parts[i].offset, parts[i], &index);
        if (child == NULL) {
            return scn__fail_at(error, SCN_EUSAGE, "--set", 0, 0,
                                "cannot remove '%s': no such key or item", path);
        }
    }
    if (parent->kind == SCN_NODE_MAP) {
        node_free(parent->keys[index]);
    }
    node_free(child);
    for (size_t i = index; i + 1 < parent->count; i++) {
        if (parent->kind == SCN_NODE_MAP) {
            parent->keys[i] = parent->keys[i + 1];
        }
        parent->values[i] = parent->values[i + 1];
    }
    parent->count -= 1;
    return 0;
}
