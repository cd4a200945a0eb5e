/* scn_int.h -- private declarations shared by the files of scenarios/.
 * The loader works in three stages: scn_tree.c turns YAML text into a tree of
 * located nodes (anchors, aliases and merge keys resolved, --set overrides
 * applied), scn.c / scn_fault.c validate the tree into an scn_scenario, and
 * scn_params.c flattens the result into the params table and its hash.
 * scn_model.c checks the model section (shape, checkpoint header, segments,
 * memory), scn_workload.c the workload, which depends on it, and
 * scn_verify.c the verification section, which depends on both.
 * scn_units.c parses the unit-bearing scalars (durations, sizes, rates).
 * scn_keys.c holds the table of every key, which the sections' allowed-key
 * lists are walked from. */
#ifndef SCN_SCN_INT_H
#define SCN_SCN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scenarios/scn.h"

/* At most this many nodes in one document after alias expansion, so a
 * "billion laughs" file fails cleanly instead of exhausting memory. */
#define SCN_TREE_NODES_MAX 1000000u

typedef enum scn_node_kind { SCN_NODE_SCALAR = 0, SCN_NODE_MAP, SCN_NODE_SEQ } scn_node_kind;

/* One YAML node. A map keeps parallel arrays of keys (scalar nodes) and
 * values; a sequence keeps its items in 'values'. 'file' points at a source
 * name owned by the scn_doc (the file name, or "--set <text>" for nodes that
 * came from an override). Every node is owned by its parent. */
typedef struct scn_node {
    scn_node_kind kind;
    uint32_t line;                /* 1-based */
    uint32_t column;              /* 1-based */
    const char *file;
    char *text;                   /* scalar text, NUL-terminated */
    bool plain;                   /* scalar was written unquoted */
    size_t count;                 /* map pairs or sequence items */
    size_t capacity;
    struct scn_node **keys;       /* map only */
    struct scn_node **values;
} scn_node;

/* A parsed document: the root map plus the source names nodes point at. */
typedef struct scn_doc {
    scn_node *root;
    char **sources;
    size_t source_count;
    size_t source_capacity;
    size_t node_count;            /* nodes allocated so far (alias budget) */
} scn_doc;

/* Parses 'text' (a whole file) into doc->root. 'file' names the source in
 * errors. Returns 0, SCN_EPARSE (YAML syntax, aliases, duplicate keys, merge
 * misuse, several documents), SCN_ENOMEM; fills *error on failure. An empty
 * stream gives an empty map. The caller frees doc with scn__doc_free. */
int scn__doc_parse(scn_doc *doc, const char *file, const char *text, scn_error *error);

/* Applies one "a.b.c=value" override to doc->root. Returns 0, SCN_EUSAGE
 * (malformed override; error->file is "--set") or SCN_ENOMEM. */
int scn__doc_override(scn_doc *doc, const char *override, scn_error *error);

/* Removes the key or list item at dotted 'path' ("faults.2"); later items
 * move up. Returns 0, or SCN_EUSAGE when nothing is there. */
int scn__doc_remove(scn_doc *doc, const char *path, scn_error *error);

/* Frees every node and source name; the doc itself is caller memory. */
void scn__doc_free(scn_doc *doc);

/* The value for 'key' in 'map' (a map node), or NULL when absent or null
 * ("key:" with no value means "use the default"). */
const scn_node *scn__map_get(const scn_node *map, const char *key);

/* True for a plain scalar that YAML reads as null: "", "~", "null". */
bool scn__node_is_null(const scn_node *node);

/* "a map", "a sequence", "a scalar": for type errors. */
const char *scn__node_kind_name(const scn_node *node);

/* Fills 'error' from a node position (or none when node is NULL) and a
 * printf-style message. Returns 'code' for tail calls. */
int scn__fail(scn_error *error, int code, const scn_node *node, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

/* As scn__fail with an explicit position (file may be NULL: left empty). */
int scn__fail_at(scn_error *error, int code, const char *file, uint32_t line, uint32_t column,
                 const char *format, ...) __attribute__((format(printf, 6, 7)));

/* Unit parsers. Each returns 0 and stores the value, or -1 with a reason
 * (a sentence fragment without the key name) in why[why_size]. */
int scn__parse_duration(const char *text, uint64_t *ns_out, char *why, size_t why_size);
int scn__parse_bytes(const char *text, uint64_t *bytes_out, char *why, size_t why_size);
/* A memory bandwidth such as 900GB/s or 2TiB/s (bytes per second; 0 alone is allowed). */
int scn__parse_byterate(const char *text, uint64_t *bytes_per_s_out, char *why, size_t why_size);
int scn__parse_bitrate(const char *text, uint64_t *bps_out, char *why, size_t why_size);
int scn__parse_rate(const char *text, double *per_s_out, char *why, size_t why_size);
int scn__parse_uint(const char *text, uint64_t *value_out, char *why, size_t why_size);
int scn__parse_number(const char *text, double *value_out, char *why, size_t why_size);
/* A FLOP rate: a number with FLOPS, KFLOPS, MFLOPS, GFLOPS, TFLOPS or PFLOPS
 * (decimal), or a bare number of FLOP/s. */
int scn__parse_flops(const char *text, double *per_s_out, char *why, size_t why_size);

/* Canonical text of a value, re-readable by the matching parser. */
void scn__format_duration(uint64_t ns, char *buffer, size_t size);
void scn__format_bitrate(uint64_t bps, char *buffer, size_t size);
void scn__format_number(double value, char *buffer, size_t size);
void scn__format_flops(double per_s, char *buffer, size_t size);

/* ---- the key table (scn_keys.c) ------------------------------------------
 * Every key a scenario may write, one row each; the loader's allowed-key
 * lists are walked from it and scenarios/README.md lists every row. */
#define SCN_KEY_TYPES(X)                                                                       \
    X(DURATION, "duration")                                                                    \
    X(COUNT, "count")                                                                          \
    X(NUMBER, "number")                                                                        \
    X(RATIO, "ratio")                                                                          \
    X(ENUM, "enum")                                                                            \
    X(BOOL, "bool")                                                                            \
    X(SIZE, "size")                                                                            \
    X(BITRATE, "bitrate")                                                                      \
    X(BYTERATE, "byterate")                                                                    \
    X(RATE, "rate")                                                                            \
    X(FLOPS, "flops")                                                                          \
    X(STRING, "string")                                                                        \
    X(SELECTOR, "selector")                                                                    \
    X(MAP, "map")                                                                              \
    X(LIST, "list")

typedef enum scn_key_type {
#define SCN_KEY_TYPE_ENUM(suffix, name) SCN_TYPE_##suffix,
    SCN_KEY_TYPES(SCN_KEY_TYPE_ENUM)
#undef SCN_KEY_TYPE_ENUM
    SCN_KEY_TYPE_COUNT
} scn_key_type;

#define SCN_KEY_DERIVED 0x01u     /* params table only: computed, a scenario cannot set it */

typedef struct scn_key_info {
    const char *path;             /* "workload.requests"; "faults[].kind" for a list item's
                                   * key; "network.regions.*" for any key of a named map */
    scn_key_type type;
    const char *unit;             /* "" when none (a duration's unit is written with it) */
    const char *fallback;         /* the default as text; "none" when absent or required */
    const char *scope;            /* "" always; else the workload kind ("gossip",
                                   * "inference") or verification protocol ("zk")
                                   * that owns it: an error under another */
    uint32_t flags;               /* SCN_KEY_* */
    const char *doc;
} scn_key_info;

/* The rows, scn__key_count of them, in the order error messages list keys;
 * the types' names indexed by scn_key_type. */
extern const scn_key_info scn__keys[];
extern const size_t scn__key_count;
extern const char *const scn__key_type_names[SCN_KEY_TYPE_COUNT];

/* Fills names[size] with the keys directly under 'section' ("" for the top
 * level, "faults[]" for a fault, "sweep.params.*" for a range), in table
 * order, NULL-terminated, only of 'scope' unless it is NULL; returns how
 * many. The names point into the table. ASSERTs they fit. */
size_t scn__keys_under(const char *section, const char *scope, const char **names,
                       size_t size);

/* "a, b, c" of a NULL-terminated list into buffer[size], cut at size (scn.c). */
void scn__names_join(const char *const *names, char *buffer, size_t size);

/* The row of 'path' as spelled in the table, or NULL. Cannot fail. */
const scn_key_info *scn__key_find(const char *path);

/* Validation context: the error sink and the scenario being filled. */
typedef struct scn_check {
    scn_error *error;
    scn_scenario *scenario;
    const scn_node *model;        /* the model section, once checked; NULL when absent */
} scn_check;

/* Shared validation helpers (scn.c). Each returns 0 or SCN_ESCHEMA. The
 * getters leave *out untouched when the key is absent (the default stays). */
/* The keys of 'map' must be the children of table section 'section'
 * (scn__keys_under); 'where' names the map in the message. */
int scn__check_keys(scn_check *check, const scn_node *map, const char *where,
                    const char *section);
int scn__check_kind(scn_check *check, const scn_node *node, scn_node_kind kind,
                    const char *path);
int scn__get_uint(scn_check *check, const scn_node *node, const char *path, uint64_t min,
                  uint64_t max, uint64_t *out);
int scn__get_duration(scn_check *check, const scn_node *node, const char *path,
                      uint64_t *out);
/* A rate scalar ("0.5/s", "2/min"), in events per second; nothing when
 * node is NULL. */
int scn__get_rate(scn_check *check, const scn_node *node, const char *path, double *out);
/* A number scalar (no range check); node must not be NULL. */
int scn__get_number(scn_check *check, const scn_node *node, const char *path, double *out);
int scn__get_fraction(scn_check *check, const scn_node *node, const char *path,
                      bool zero_ok, double *out);
int scn__get_enum(scn_check *check, const scn_node *node, const char *path,
                  const char *const *names, int *out);
int scn__get_string(scn_check *check, const scn_node *node, const char *path, char *out,
                    size_t size);
/* true/True/TRUE/yes or false/False/FALSE/no (scn_fault.c). */
int scn__get_bool(scn_check *check, const scn_node *node, const char *path, bool *out);
/* A section: absent (NULL) is fine, anything but a map with known keys is not. */
int scn__check_section(scn_check *check, const scn_node *node, const char *path,
                       const char *section);

/* model.tokenizer, after the model's shape is known, and workload.prompts
 * in the inference workload 'section' (scn_text.c). */
int scn__check_tokenizer(scn_check *check, const scn_node *node);
int scn__check_prompts(scn_check *check, const scn_node *section);

/* The model section (scn_model.c); nodes must be checked first (memory). */
int scn__check_model(scn_check *check, const scn_node *root);
/* The workload section (scn_workload.c); the model must be checked first. */
int scn__check_workload(scn_check *check, const scn_node *root);

/* The verification section (scn_verify.c); model and workload are checked
 * first (a committee needs an inference workload). The defaults go into the
 * struct before any check, whether or not the section is present. */
void scn__verification_defaults(scn_verification *verification);
int scn__check_verification(scn_check *check, const scn_node *root);
/* "exact", "maxabs", "cosine", "topk". */
const char *scn__agree_rule_name(scn_agree_rule rule);

/* The privacy section (scn_privacy.c); model and workload are checked
 * first (segments, tokens per request). */
int scn__check_privacy(scn_check *check, const scn_node *root);
/* The ledger section and verification.settlement (scn_ledger.c); model,
 * workload and verification are checked first. */
int scn__check_ledger(scn_check *check, const scn_node *root);
/* The churn section (scn_churn.c); model, workload and verification are
 * checked first. */
int scn__check_churn(scn_check *check, const scn_node *root);

/* The sweep section (scn_sweep.c): syntax of the grid only; whether a
 * value is valid for its key is known when a grid point is loaded. */
int scn__check_sweep(scn_check *check, const scn_node *root);

/* Faults, selectors and expectations (scn_fault.c); nodes, network and
 * verification are already converted when these run. */
int scn__check_faults(scn_check *check, const scn_node *faults);
/* A node selector at 'node' (the string "all" or a map); 'section' names
 * its rows in the key table ("faults[].nodes", "churn.nodes"). */
int scn__check_selector(scn_check *check, const scn_node *node, const char *path,
                        const char *section, scn_selector *sel);
int scn__check_expect(scn_check *check, const scn_node *expect);
/* True for metrics measured in nanoseconds (expectations accept durations). */
bool scn__metric_is_duration(const char *metric);

/* Builds scenario->params and sha256_hex. Returns 0 or SCN_ENOMEM. */
int scn__params_build(scn_scenario *scenario);
void scn__params_free(scn_scenario *scenario);

#endif
