/* test_met.c -- the results database: schema creation, refusal, the
 * version 1, 2, 3 and 5 upgrades and files changed by hand, the run
 * lifecycle, batched writes,
 * the split inference and verification tables, and export round trips. Every test works on
 * its own mkstemp file under /tmp and removes it (and the -wal/-shm files)
 * afterwards. Exports go to open_memstream buffers that the test parses
 * back with a small CSV parser and a minimal JSON-object parser, so every
 * value, REALs included, is compared exactly. */
#include <dirent.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "metrics/met.h"
#include "tests/suites.h"
#include "util/alloc.h"
#include "util/assert.h"

#define FIELDS_MAX 32
#define ROWS_MAX 64
#define TEXT_MAX 256
#define MET_ERRMSG_PROBE 600

/* ---- temp files ---------------------------------------------------------------------- */

typedef struct temp_db {
    char path[96];
} temp_db;

/* One private directory per TCase, made and removed by an unchecked
 * fixture in the parent process: a test that fails an assertion exits its
 * forked child at once, and its files still go away with the directory. */
/* "V|V" for the current schema version V (user_version and meta's copy). */
static const char *met_version_pair(void)
{
    static char pair[32];
    snprintf(pair, sizeof(pair), "%d|%d", MET_SCHEMA_VERSION, MET_SCHEMA_VERSION);
    return pair;
}

static char temp_dir[64];

static void temp_dir_make(void)
{
    snprintf(temp_dir, sizeof(temp_dir), "/tmp/infersim_test_met_XXXXXX");
    if (mkdtemp(temp_dir) == NULL) {
        temp_dir[0] = '\0';
    }
}

static void temp_dir_remove(void)
{
    char path[96 + 256];
    DIR *dir = temp_dir[0] != '\0' ? opendir(temp_dir) : NULL;
    if (dir == NULL) {
        return;
    }
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) {
            snprintf(path, sizeof(path), "%s/%s", temp_dir, entry->d_name);
            unlink(path);
        }
    }
    closedir(dir);
    rmdir(temp_dir);
}

static void temp_db_make(temp_db *temp)
{
    ck_assert_msg(temp_dir[0] != '\0', "no temp directory");
    snprintf(temp->path, sizeof(temp->path), "%s/db_XXXXXX", temp_dir);
    int fd = mkstemp(temp->path);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

static void temp_db_remove(const temp_db *temp)
{
    char side[128];
    unlink(temp->path);
    snprintf(side, sizeof(side), "%s-wal", temp->path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", temp->path);
    unlink(side);
}

static met_db *met_open_ok(const temp_db *temp)
{
    met_db *db = NULL;
    char why[256] = "";
    int rc = met_db_open(temp->path, &db, why, sizeof(why));
    ck_assert_msg(rc == 0, "met_db_open: %d %s", rc, why);
    ck_assert_ptr_nonnull(db);
    return db;
}

/* Runs one query on a separate raw connection and returns column 0 as
 * text (into out) or "" when no row. */
static void raw_query_text(const temp_db *temp, const char *sql, char *out, size_t size)
{
    sqlite3 *raw = NULL;
    sqlite3_stmt *stmt = NULL;
    ck_assert_int_eq(sqlite3_open(temp->path, &raw), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(raw, sql, -1, &stmt, NULL), SQLITE_OK);
    out[0] = '\0';
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != NULL) {
        snprintf(out, size, "%s", (const char *)sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(raw);
}

static void raw_exec(const temp_db *temp, const char *sql)
{
    sqlite3 *raw = NULL;
    ck_assert_int_eq(sqlite3_open(temp->path, &raw), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(raw, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
}

static int64_t run_begin_ok(met_db *db, const char *name, uint64_t seed, const scn_param *params,
                            size_t count)
{
    met_run_info info = {name, "0123abcd", "rev1", "sim", seed, 3};
    int64_t run_id = 0;
    ck_assert_int_eq(met_run_begin(db, &info, params, count, &run_id), 0);
    ck_assert_int_gt(run_id, 0);
    return run_id;
}

/* Exports into a heap buffer; returns the met_export code. */
static int export_to_buffer(met_db *db, const char *table, int64_t run_id, met_format format,
                            char **text)
{
    size_t size = 0;
    *text = NULL;
    FILE *stream = open_memstream(text, &size);
    ck_assert_ptr_nonnull(stream);
    int rc = met_export(db, table, run_id, format, stream);
    fclose(stream);
    return rc;
}

/* ---- a small RFC 4180 CSV parser ----------------------------------------------------- */

typedef struct csv_field {
    char text[TEXT_MAX];
    int quoted;
} csv_field;

typedef struct csv_table {
    csv_field fields[ROWS_MAX][FIELDS_MAX];
    int field_count[ROWS_MAX];
    int row_count;
} csv_table;

/* Parses one field at *p; returns the char that ended it (',', '\n' or 0). */
static char csv_field_parse(const char **p, csv_field *field)
{
    size_t length = 0;
    const char *s = *p;
    field->quoted = *s == '"';
    if (field->quoted) {
        s++;
        while (!(s[0] == '"' && s[1] != '"')) {
            ck_assert_msg(s[0] != '\0', "unterminated quoted field");
            if (s[0] == '"') {
                s++;    /* doubled quote */
            }
            ck_assert_uint_lt(length, TEXT_MAX - 1);
            field->text[length++] = *s++;
        }
        s++;
    } else {
        while (*s != ',' && *s != '\n' && *s != '\0') {
            ck_assert_msg(*s != '"' && *s != '\r', "bare quote or CR in unquoted field");
            ck_assert_uint_lt(length, TEXT_MAX - 1);
            field->text[length++] = *s++;
        }
    }
    field->text[length] = '\0';
    char end = *s;
    ck_assert_msg(end == ',' || end == '\n' || end == '\0', "junk after field");
    *p = end == '\0' ? s : s + 1;
    return end;
}

static void csv_parse(const char *text, csv_table *table)
{
    memset(table, 0, sizeof(*table));
    const char *p = text;
    while (*p != '\0') {
        ck_assert_int_lt(table->row_count, ROWS_MAX);
        int row = table->row_count++;
        char end;
        do {
            ck_assert_int_lt(table->field_count[row], FIELDS_MAX);
            end = csv_field_parse(&p, &table->fields[row][table->field_count[row]++]);
        } while (end == ',');
        ck_assert_msg(end == '\n', "row not ended by a newline");
    }
}

/* ---- a minimal JSON object parser (one flat object) ---------------------------------- */

enum { JSON_STRING, JSON_NUMBER, JSON_NULL };

typedef struct json_field {
    char key[64];
    int kind;
    char text[TEXT_MAX];
    double number;
} json_field;

typedef struct json_object {
    json_field fields[FIELDS_MAX];
    int count;
} json_object;

static const char *json_string_parse(const char *s, char *out, size_t size)
{
    size_t length = 0;
    ck_assert_int_eq(*s, '"');
    s++;
    while (*s != '"') {
        char c = *s++;
        ck_assert_msg((unsigned char)c >= 0x20, "raw control character in JSON string");
        if (c == '\\') {
            char e = *s++;
            if (e == 'n') {
                c = '\n';
            } else if (e == 'r') {
                c = '\r';
            } else if (e == 't') {
                c = '\t';
            } else if (e == 'u') {
                char hex[5] = {s[0], s[1], s[2], s[3], '\0'};
                long code = strtol(hex, NULL, 16);
                ck_assert_int_lt(code, 0x80);    /* the writer only escapes ASCII */
                c = (char)code;
                s += 4;
            } else {
                ck_assert_msg(e == '"' || e == '\\' || e == '/', "bad escape");
                c = e;
            }
        }
        ck_assert_uint_lt(length, size - 1);
        out[length++] = c;
    }
    out[length] = '\0';
    return s + 1;
}

/* Parses one object at 's'; returns the text after it. */
static const char *json_object_parse(const char *s, json_object *object)
{
    memset(object, 0, sizeof(*object));
    ck_assert_int_eq(*s, '{');
    s++;
    while (*s != '}') {
        ck_assert_int_lt(object->count, FIELDS_MAX);
        json_field *field = &object->fields[object->count++];
        s = json_string_parse(s, field->key, sizeof(field->key));
        ck_assert_int_eq(*s, ':');
        s++;
        if (*s == '"') {
            field->kind = JSON_STRING;
            s = json_string_parse(s, field->text, sizeof(field->text));
        } else if (strncmp(s, "null", 4) == 0) {
            field->kind = JSON_NULL;
            s += 4;
        } else {
            char *end = NULL;
            field->kind = JSON_NUMBER;
            field->number = strtod(s, &end);
            ck_assert_ptr_ne(end, s);
            s = end;
        }
        if (*s == ',') {
            s++;
        }
    }
    return s + 1;
}

static const json_field *json_get(const json_object *object, const char *key)
{
    for (int i = 0; i < object->count; i++) {
        if (strcmp(object->fields[i].key, key) == 0) {
            return &object->fields[i];
        }
    }
    ck_abort_msg("missing JSON key %s", key);
    return NULL;
}

/* ---- fixtures ------------------------------------------------------------------------ */

static const char *const tricky_values[] = {
    "plain",
    "a,b,c",
    "say \"hi\", \"bye\"",
    "line one\nline two",
    "crlf\r\nend",
    "tab\there \\ backslash",
    "unicode: \xc3\xbc" "n\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x9a\x80",
    "ctrl \x01\x1f bell",
    "",
};
#define TRICKY_COUNT (sizeof(tricky_values) / sizeof(tricky_values[0]))

/* Not -0.0: SQLite stores whole REALs as integers and loses its sign. */
static const double tricky_doubles[] = {
    0.1, 1.0 / 3.0, -2.5e17, 1e-300, 4.9406564584124654e-324, DBL_MAX, -7.0, 3.0,
    123456789.123456789, 2.2250738585072014e-308,
};
#define DOUBLE_COUNT (sizeof(tricky_doubles) / sizeof(tricky_doubles[0]))

/* Params keyed k0..k8 holding the tricky strings; keys sort as inserted. */
static int64_t run_with_tricky_rows(met_db *db)
{
    char keys[TRICKY_COUNT][8];
    scn_param params[TRICKY_COUNT];
    for (size_t i = 0; i < TRICKY_COUNT; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
        params[i].key = keys[i];
        params[i].value = (char *)tricky_values[i];
    }
    int64_t run_id = run_begin_ok(db, "tricky, \"run\"", 42, params, TRICKY_COUNT);
    for (size_t i = 0; i < DOUBLE_COUNT; i++) {
        ck_assert_int_eq(met_timeseries_add(db, run_id, 1000 * i, tricky_values[i % 7],
                                            tricky_doubles[i]),
                         0);
    }
    return run_id;
}

/* ---- schema -------------------------------------------------------------------------- */

START_TEST(test_met_db_open_creates_schema)
{
    temp_db temp;
    char text[128];
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    met_db_close(db);

    raw_query_text(&temp, "PRAGMA user_version", text, sizeof(text));
    ck_assert_int_eq(atoi(text), MET_SCHEMA_VERSION);
    raw_query_text(&temp, "SELECT value FROM meta WHERE key = 'created_by'", text, sizeof(text));
    ck_assert_str_eq(text, "infersim");
    raw_query_text(&temp, "SELECT value FROM meta WHERE key = 'schema_version'", text,
                   sizeof(text));
    ck_assert_int_eq(atoi(text), MET_SCHEMA_VERSION);
    raw_query_text(&temp, "PRAGMA journal_mode", text, sizeof(text));
    ck_assert_str_eq(text, "wal");
    raw_query_text(&temp,
                   "SELECT count(*) FROM sqlite_master WHERE name IN ('runs','params','nodes',"
                   "'faults','timeseries','messages','metrics','expectations','run_summary',"
                   "'requests','segments','divergence','segments_node','violations')",
                   text, sizeof(text));
    ck_assert_str_eq(text, "14");

    /* A second open of our own file is accepted and changes nothing. */
    db = met_open_ok(&temp);
    met_db_close(db);
    raw_query_text(&temp, "SELECT count(*) FROM meta", text, sizeof(text));
    ck_assert_str_eq(text, "2");
    temp_db_remove(&temp);
}
END_TEST

START_TEST(test_met_db_open_refuses_newer_schema)
{
    temp_db temp;
    temp_db_make(&temp);
    met_db_close(met_open_ok(&temp));
    raw_exec(&temp, "PRAGMA user_version = 99");

    met_db *db = (met_db *)&temp;    /* must be overwritten with NULL */
    char why[256] = "";
    ck_assert_int_eq(met_db_open(temp.path, &db, why, sizeof(why)), MET_ESCHEMA);
    ck_assert_ptr_null(db);
    ck_assert_ptr_nonnull(strstr(why, "newer"));
    ck_assert_str_ne(met_strerror(MET_ESCHEMA), met_strerror(0));

    /* One past the build's version is refused just the same. */
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", MET_SCHEMA_VERSION + 1);
    raw_exec(&temp, sql);
    ck_assert_int_eq(met_db_open(temp.path, &db, why, sizeof(why)), MET_ESCHEMA);
    ck_assert_ptr_null(db);
    temp_db_remove(&temp);
}
END_TEST

/* A results file damaged in the middle is refused at open (MET_ECORRUPT)
 * and left byte for byte as it was: nothing is appended to it. */
START_TEST(test_met_db_open_refuses_damaged_file)
{
    temp_db temp;
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    for (int i = 0; i < 200; i++) {
        run_begin_ok(db, "filler-run-with-a-longer-name-to-take-pages", (uint64_t)i, NULL, 0);
    }
    met_db_close(db);
    FILE *file = fopen(temp.path, "r+b");
    ck_assert_ptr_nonnull(file);
    ck_assert_int_eq(fseek(file, 0, SEEK_END), 0);
    long size = ftell(file);
    ck_assert_int_gt(size, 4 * 8192);
    ck_assert_int_eq(fseek(file, size / 2, SEEK_SET), 0);
    for (int i = 0; i < 8192; i++) {
        fputc((i * 131 + 7) & 0xff, file);
    }
    fclose(file);
    struct stat before;
    ck_assert_int_eq(stat(temp.path, &before), 0);
    char why[512] = "";
    db = (met_db *)&temp;
    ck_assert_int_eq(met_db_open(temp.path, &db, why, sizeof(why)), MET_ECORRUPT);
    ck_assert_ptr_null(db);
    ck_assert_ptr_nonnull(strstr(why, "damaged"));
    ck_assert_ptr_null(strchr(why, '\n'));
    struct stat after;
    ck_assert_int_eq(stat(temp.path, &after), 0);
    ck_assert_int_eq(before.st_size, after.st_size);
    ck_assert_int_eq(before.st_mtime, after.st_mtime);
    temp_db_remove(&temp);
}
END_TEST

/* A file opened for reading lists and exports its runs, refuses writes,
 * and refuses an empty or older file it cannot upgrade. */
START_TEST(test_met_db_open_read_lists_and_refuses_writes)
{
    temp_db temp;
    temp_db_make(&temp);
    char why[256] = "";
    met_db *db = NULL;
    ck_assert_int_eq(met_db_open_read(temp.path, &db, why, sizeof(why)), MET_ESCHEMA);
    ck_assert_ptr_null(db);
    db = met_open_ok(&temp);
    run_begin_ok(db, "listed", 5, NULL, 0);
    met_db_close(db);
    ck_assert_int_eq(met_db_open_read(temp.path, &db, why, sizeof(why)), 0);
    char *text = NULL;
    ck_assert_int_eq(export_to_buffer(db, "runs", 0, MET_FORMAT_CSV, &text), 0);
    ck_assert_ptr_nonnull(strstr(text, "listed"));
    free(text);
    met_run_info info = {"write", "0123abcd", "rev1", "sim", 1, 3};
    int64_t run_id = 0;
    ck_assert_int_ne(met_run_begin(db, &info, NULL, 0, &run_id), 0);
    met_db_close(db);
    raw_exec(&temp, "PRAGMA user_version = 1");
    ck_assert_int_eq(met_db_open_read(temp.path, &db, why, sizeof(why)), MET_ESCHEMA);
    ck_assert_ptr_nonnull(strstr(why, "write access"));
    ck_assert_int_eq(met_db_open_read("/nonexistent/dir/x.db", &db, why, sizeof(why)),
                     MET_EOPEN);
    temp_db_remove(&temp);
}
END_TEST

/* A file at this build's version that lost a table, a view and an index
 * by hand (a researcher shrinking it) is whole again after a writer's
 * open: each is created again, empty, the other runs' rows are kept, and
 * a run stores its rows in them. */
START_TEST(test_met_db_open_recreates_dropped_objects)
{
    temp_db temp;
    char text[128];
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    int64_t kept = run_begin_ok(db, "kept", 1, NULL, 0);
    ck_assert_int_eq(met_metric_add(db, kept, "delivery_ratio", 0.5, NULL), 0);
    met_db_close(db);
    raw_exec(&temp, "DROP TABLE metrics; DROP VIEW run_summary; DROP INDEX decisions_node;");

    db = met_open_ok(&temp);
    raw_query_text(&temp,
                   "SELECT count(*) FROM sqlite_master WHERE name IN ('metrics', 'run_summary',"
                   " 'decisions_node')",
                   text, sizeof(text));
    ck_assert_str_eq(text, "3");
    raw_query_text(&temp, "SELECT count(*) FROM metrics", text, sizeof(text));
    ck_assert_str_eq(text, "0");
    raw_query_text(&temp, "SELECT name FROM runs WHERE run_id = 1", text, sizeof(text));
    ck_assert_str_eq(text, "kept");
    int64_t later = run_begin_ok(db, "later", 2, NULL, 0);
    ck_assert_int_eq(met_metric_add(db, later, "delivery_ratio", 1.0, NULL), 0);
    met_db_close(db);
    raw_query_text(&temp, "SELECT delivery_ratio FROM run_summary WHERE run_id = 2", text,
                   sizeof(text));
    ck_assert_str_eq(text, "1.0");
    temp_db_remove(&temp);
}
END_TEST

/* A table rebuilt without one of its columns is refused by a writer and a
 * reader alike, naming the table and the column, and the file is left as
 * it was; so is a table dropped from a file that can only be read. A
 * dropped index does not stop a reader. */
START_TEST(test_met_db_open_refuses_hand_changed_table)
{
    temp_db temp;
    temp_db_make(&temp);
    met_db_close(met_open_ok(&temp));
    raw_exec(&temp, "ALTER TABLE violations DROP COLUMN step; PRAGMA wal_checkpoint(TRUNCATE);");
    struct stat before;
    ck_assert_int_eq(stat(temp.path, &before), 0);
    char why[512] = "";
    met_db *db = (met_db *)&temp;
    ck_assert_int_eq(met_db_open(temp.path, &db, why, sizeof(why)), MET_ESCHEMA);
    ck_assert_ptr_null(db);
    ck_assert_ptr_nonnull(strstr(why, "table 'violations' has no column 'step'"));
    struct stat after;
    ck_assert_int_eq(stat(temp.path, &after), 0);
    ck_assert_int_eq(before.st_size, after.st_size);
    ck_assert_int_eq(before.st_mtime, after.st_mtime);
    ck_assert_int_eq(met_db_open_read(temp.path, &db, why, sizeof(why)), MET_ESCHEMA);
    ck_assert_ptr_nonnull(strstr(why, "'step'"));
    temp_db_remove(&temp);

    temp_db_make(&temp);
    met_db_close(met_open_ok(&temp));
    raw_exec(&temp, "DROP INDEX decisions_node");
    ck_assert_int_eq(met_db_open_read(temp.path, &db, why, sizeof(why)), 0);
    met_db_close(db);
    raw_exec(&temp, "DROP TABLE decisions");
    ck_assert_int_eq(met_db_open_read(temp.path, &db, why, sizeof(why)), MET_ESCHEMA);
    ck_assert_ptr_nonnull(strstr(why, "table 'decisions' is missing"));
    ck_assert_ptr_nonnull(strstr(why, "write access"));
    temp_db_remove(&temp);
}
END_TEST

START_TEST(test_met_db_open_refuses_foreign_sqlite)
{
    temp_db temp;
    temp_db_make(&temp);
    raw_exec(&temp, "CREATE TABLE inventory (sku TEXT); INSERT INTO inventory VALUES ('x');");

    met_db *db = NULL;
    char why[256] = "";
    ck_assert_int_eq(met_db_open(temp.path, &db, why, sizeof(why)), MET_ESCHEMA);
    ck_assert_ptr_null(db);
    ck_assert_ptr_nonnull(strstr(why, "not an infersim"));
    /* The foreign table is untouched and no schema was added. */
    char text[32];
    raw_query_text(&temp, "SELECT count(*) FROM sqlite_master", text, sizeof(text));
    ck_assert_str_eq(text, "1");
    temp_db_remove(&temp);
}
END_TEST

START_TEST(test_met_db_open_rejects_garbage_file)
{
    temp_db temp;
    temp_db_make(&temp);
    FILE *file = fopen(temp.path, "w");
    ck_assert_ptr_nonnull(file);
    for (int i = 0; i < 512; i++) {
        fputs("this is not a database, just text\n", file);
    }
    fclose(file);

    met_db *db = NULL;
    char why[256] = "";
    int rc = met_db_open(temp.path, &db, why, sizeof(why));
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_null(db);
    ck_assert_str_ne(why, "");
    temp_db_remove(&temp);
}
END_TEST

/* A directory, a device or a FIFO is refused before SQLite sees it, by
 * name, for a writer and a reader alike (SQLite blocks on a FIFO). */
START_TEST(test_met_db_open_not_regular_file_fails)
{
    temp_db fifo;
    temp_db_make(&fifo);
    ck_assert_int_eq(unlink(fifo.path), 0);
    ck_assert_int_eq(mkfifo(fifo.path, 0600), 0);
    const char *const paths[] = {"/dev/null", temp_dir, fifo.path};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        met_db *db = NULL;
        char why[256] = "";
        ck_assert_int_eq(met_db_open(paths[i], &db, why, sizeof(why)), MET_EOPEN);
        ck_assert_ptr_null(db);
        ck_assert_ptr_nonnull(strstr(why, "is not a regular file"));
        why[0] = '\0';
        ck_assert_int_eq(met_db_open_read(paths[i], &db, why, sizeof(why)), MET_EOPEN);
        ck_assert_ptr_null(db);
        ck_assert_ptr_nonnull(strstr(why, "is not a regular file"));
    }
}
END_TEST

START_TEST(test_met_db_open_unwritable_path_fails)
{
    met_db *db = NULL;
    char why[256] = "";
    int rc = met_db_open("/nonexistent_dir_infersim/x.db", &db, why, sizeof(why));
    ck_assert_int_eq(rc, MET_EOPEN);
    ck_assert_ptr_null(db);
    ck_assert_str_ne(why, "");
}
END_TEST

/* ---- runs ---------------------------------------------------------------------------- */

START_TEST(test_met_run_reopen_keeps_runs)
{
    temp_db temp;
    met_run_totals totals = {10, 2000000000, 77, 0x1234, NULL, NULL};
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    int64_t first = run_begin_ok(db, "first", 1, NULL, 0);
    ck_assert_int_eq(met_run_finish(db, first, "completed", &totals), 0);
    met_db_close(db);

    db = met_open_ok(&temp);
    int64_t second = run_begin_ok(db, "second", 2, NULL, 0);
    ck_assert_int_ne(first, second);
    ck_assert_int_eq(met_run_finish(db, second, "failed", &totals), 0);
    ck_assert_int_eq(met_run_exists(db, first), 1);
    ck_assert_int_eq(met_run_exists(db, second), 1);
    ck_assert_int_eq(met_run_exists(db, second + 100), 0);

    char *text = NULL;
    ck_assert_int_eq(export_to_buffer(db, "runs", 0, MET_FORMAT_JSONL, &text), 0);
    json_object object;
    const char *p = json_object_parse(text, &object);
    ck_assert_str_eq(json_get(&object, "name")->text, "first");
    ck_assert_str_eq(json_get(&object, "status")->text, "completed");
    ck_assert_int_eq(*p++, '\n');
    p = json_object_parse(p, &object);
    ck_assert_str_eq(json_get(&object, "name")->text, "second");
    ck_assert_str_eq(json_get(&object, "status")->text, "failed");
    ck_assert_str_eq(p, "\n");
    free(text);
    met_db_close(db);
    temp_db_remove(&temp);
}
END_TEST

/* One valid decisions row of node 'node_id' in 'run_id'. */
static void decision_add_ok(met_db *db, int64_t run_id, uint32_t node_id)
{
    met_decision_row row = {
        .request_id = node_id, .protocol = "committee", .member_count = 1,
        .node_id = node_id, .role = "member", .behaviour = "honest", .action = "settle",
        .verdict = "agreed", .dispute = "none", .spot_check = -1, .skipped = -1,
    };
    ck_assert_int_eq(met_decisions_add(db, run_id, &row, 1), 0);
}

/* How many of the bulk tables' per-node indexes the file holds. */
static int bulk_indexes(const temp_db *temp)
{
    char text[32];
    raw_query_text(temp,
                   "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN"
                   " ('segments_node', 'executions_node', 'decisions_node', 'privacy_node')",
                   text, sizeof(text));
    return atoi(text);
}

/* met_rows_begin drops the per-node index of every bulk table that holds
 * no row, met_rows_end builds it again over the rows written meanwhile;
 * a table that already holds rows keeps its index throughout; an open
 * after a writer that stopped in between creates the missing ones. */
START_TEST(test_met_rows_bulk_indexes)
{
    temp_db temp;
    char text[64];
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    int64_t first = run_begin_ok(db, "first", 1, NULL, 0);
    ck_assert_int_eq(met_rows_begin(db), 0);
    decision_add_ok(db, first, 7);
    ck_assert_int_eq(met_flush(db), 0);
    ck_assert_int_eq(bulk_indexes(&temp), 0);
    ck_assert_int_eq(met_rows_end(db), 0);
    ck_assert_int_eq(bulk_indexes(&temp), 4);
    raw_query_text(&temp, "SELECT count(*) FROM decisions INDEXED BY decisions_node"
                          " WHERE run_id = 1 AND node_id = 7", text, sizeof(text));
    ck_assert_str_eq(text, "1");
    /* decisions holds a row now: its index stays; the empty ones go. */
    int64_t second = run_begin_ok(db, "second", 2, NULL, 0);
    ck_assert_int_eq(met_rows_begin(db), 0);
    decision_add_ok(db, second, 8);
    ck_assert_int_eq(met_flush(db), 0);
    ck_assert_int_eq(bulk_indexes(&temp), 1);
    ck_assert_int_eq(met_run_finish(db, second, "completed", NULL), 0);
    ck_assert_int_eq(bulk_indexes(&temp), 4);
    met_db_close(db);
    /* A writer that stopped between the two: the next open repairs it. */
    raw_exec(&temp, "DROP INDEX decisions_node; DROP INDEX privacy_node");
    ck_assert_int_eq(bulk_indexes(&temp), 2);
    db = met_open_ok(&temp);
    ck_assert_int_eq(bulk_indexes(&temp), 4);
    raw_query_text(&temp, "SELECT count(*) FROM decisions INDEXED BY decisions_node"
                          " WHERE run_id = 2 AND node_id = 8", text, sizeof(text));
    ck_assert_str_eq(text, "1");
    met_db_close(db);
    temp_db_remove(&temp);
}
END_TEST

static void assert_utc_stamp(const char *stamp)
{
    ck_assert_uint_eq(strlen(stamp), 20);
    ck_assert_int_eq(stamp[4], '-');
    ck_assert_int_eq(stamp[10], 'T');
    ck_assert_int_eq(stamp[19], 'Z');
}

/* What `infersim runs` prints for the file. */
static char *runs_listing(met_db *db)
{
    char *listing = NULL;
    size_t size = 0;
    FILE *stream = open_memstream(&listing, &size);
    ck_assert_int_eq(met_runs_list(db, stream), 0);
    fclose(stream);
    return listing;
}

/* Sets every run's writer to the SQL expression 'writer' and checks that
 * the listing labels the run 'label'. */
static void assert_listed_as(const temp_db *temp, met_db *db, const char *writer,
                             const char *label)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "UPDATE runs SET writer = %s", writer);
    raw_exec(temp, sql);
    char *listing = runs_listing(db);
    ck_assert_msg(strstr(listing, label) != NULL, "writer %s: %s", writer, listing);
    free(listing);
}

START_TEST(test_met_run_lifecycle_running_to_completed)
{
    temp_db temp;
    char text[128];
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    scn_param params[] = {{"network.loss", "0.01"}, {"nodes.count", "3"}};
    int64_t run_id = run_begin_ok(db, "life", 7, params, 2);

    /* Visible to another connection while it runs. */
    raw_query_text(&temp, "SELECT status FROM runs", text, sizeof(text));
    ck_assert_str_eq(text, "running");
    raw_query_text(&temp, "SELECT count(*) FROM params", text, sizeof(text));
    ck_assert_str_eq(text, "2");
    raw_query_text(&temp, "SELECT started_at FROM runs", text, sizeof(text));
    assert_utc_stamp(text);

    /* Its writer is this process: alive, so running, not incomplete. */
    char host[256] = "";
    gethostname(host, sizeof(host));
    char writer[320];
    snprintf(writer, sizeof(writer), "%s %ld ", host, (long)getpid());
    raw_query_text(&temp, "SELECT writer FROM runs", text, sizeof(text));
    ck_assert_msg(strncmp(text, writer, strlen(writer)) == 0, "writer '%s'", text);
    char *listing = runs_listing(db);
    ck_assert_ptr_nonnull(strstr(listing, "life"));
    ck_assert_ptr_nonnull(strstr(listing, "running  "));
    ck_assert_ptr_null(strstr(listing, "incomplete"));
    free(listing);
    /* The same process id with another start time is another process. */
    assert_listed_as(&temp, db, "writer || '1'", "running (incomplete)");
    assert_listed_as(&temp, db, "'no-such-host.invalid 1 1'", "running (other host)");
    assert_listed_as(&temp, db, "NULL", "running (incomplete)");

    ck_assert_int_eq(met_metric_add(db, run_id, "delivery_ratio", 0.75, "ratio"), 0);
    ck_assert_int_eq(met_metric_add(db, run_id, "latency_p99", 5e6, "ns"), 0);      /* sim's name */
    ck_assert_int_eq(met_metric_add(db, run_id, "latency_p50_ns", 2e6, "ns"), 0);   /* alias */
    ck_assert_int_eq(met_expect_add(db, run_id, "delivery_ratio", ">=", 0.5, 0.75, 1), 0);
    met_run_totals totals = {123, 4500000000ull, 98765, 0xdeadbeefull, "passed", NULL};
    ck_assert_int_eq(met_run_finish(db, run_id, "completed", &totals), 0);

    raw_query_text(&temp,
                   "SELECT status || '|' || check_status || '|' || events || '|' || sim_ns"
                   " || '|' || wall_ms || '|' || trace_hash || '|' || nodes FROM runs",
                   text, sizeof(text));
    ck_assert_str_eq(text, "completed|passed|98765|4500000000|123|00000000deadbeef|3");
    raw_query_text(&temp, "SELECT finished_at FROM runs", text, sizeof(text));
    assert_utc_stamp(text);
    raw_query_text(&temp,
                   "SELECT delivery_ratio || '|' || latency_p50_ns || '|' || latency_p99_ns"
                   " FROM run_summary",
                   text, sizeof(text));
    ck_assert_str_eq(text, "0.75|2000000.0|5000000.0");
    raw_query_text(&temp, "SELECT passed FROM expectations", text, sizeof(text));
    ck_assert_str_eq(text, "1");

    listing = runs_listing(db);
    ck_assert_ptr_null(strstr(listing, "incomplete"));
    ck_assert_ptr_nonnull(strstr(listing, "completed"));
    ck_assert_ptr_nonnull(strstr(listing, "4.500"));
    free(listing);

    ck_assert_int_eq(met_run_finish(db, run_id + 5, "aborted", &totals), MET_ENORUN);
    met_db_close(db);
    temp_db_remove(&temp);
}
END_TEST

START_TEST(test_met_runs_list_empty_says_no_runs)
{
    temp_db temp;
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    char *listing = NULL;
    size_t size = 0;
    FILE *stream = open_memstream(&listing, &size);
    ck_assert_int_eq(met_runs_list(db, stream), 0);
    fclose(stream);
    ck_assert_str_eq(listing, "no runs\n");
    free(listing);
    met_db_close(db);
    temp_db_remove(&temp);
}
END_TEST

START_TEST(test_met_timeseries_batched_rows_all_land)
{
    temp_db temp;
    char text[64];
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    int64_t run_id = run_begin_ok(db, "batch", 3, NULL, 0);
    for (int i = 0; i < 10000; i++) {
        ck_assert_int_eq(met_timeseries_add(db, run_id, (uint64_t)i * 1000, "queue", i), 0);
        if (i == 4999) {
            /* Mid-run, full batches are committed and the rest is still open. */
            raw_query_text(&temp, "SELECT count(*) FROM timeseries", text, sizeof(text));
            ck_assert_int_gt(atoi(text), 0);
            ck_assert_int_lt(atoi(text), 5000);
        }
    }
    met_fault_row fault = {0, "partition", "start", 500, 2, NULL};
    ck_assert_int_eq(met_fault_add(db, run_id, &fault), 0);
    met_node_row nodes[3] = {{0, "gpu", "eu", "honest", 1, 2, 3, 4, 5, 6, 7, NAN, NAN, NAN},
                             {1, "gpu", "us", "honest", 0, 0, 0, 0, 0, 0, 0, NAN, NAN, NAN},
                             {2, "cpu", "us", "honest", 0, 0, 0, 0, 0, 0, 1, NAN, NAN, NAN}};
    ck_assert_int_eq(met_nodes_add(db, run_id, nodes, 3), 0);
    met_message_row message = {"rumor", 10, 1000, 9, 900, 1, 0, 0, 0, 0, 0, 0};
    ck_assert_int_eq(met_messages_add(db, run_id, &message, 1), 0);
    met_run_totals totals = {1, 1, 1, 1, NULL, NULL};
    ck_assert_int_eq(met_run_finish(db, run_id, "completed", &totals), 0);

    /* Checked from another connection before closing: finish committed. */
    raw_query_text(&temp, "SELECT count(*) || '|' || sum(value) FROM timeseries", text,
                   sizeof(text));
    ck_assert_str_eq(text, "10000|49995000.0");
    raw_query_text(&temp, "SELECT sum(crashes) || '|' || count(*) FROM nodes", text,
                   sizeof(text));
    ck_assert_str_eq(text, "8|3");
    raw_query_text(&temp, "SELECT kind || '|' || nodes_affected FROM faults", text,
                   sizeof(text));
    ck_assert_str_eq(text, "partition|2");
    raw_query_text(&temp, "SELECT bytes_delivered FROM messages", text, sizeof(text));
    ck_assert_str_eq(text, "900");
    met_db_close(db);
    temp_db_remove(&temp);
}
END_TEST

/* Samples and faults wait in memory, not in an open transaction: while the
 * caller runs (a simulation, between two samples) another process can
 * write the file at once. They are written in the order they came, their
 * strings copied, a batch at a time and at the flush. */
START_TEST(test_met_samples_leave_the_file_unlocked)
{
    temp_db temp;
    char text[64];
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    int64_t run_id = run_begin_ok(db, "unlocked", 1, NULL, 0);
    met_fault_row fault = {3, "crash", "start", 7, 2, NULL};
    for (int i = 0; i < 5000; i++) {
        char name[16];
        snprintf(name, sizeof(name), "m%d", i % 7);
        ck_assert_int_eq(met_timeseries_add(db, run_id, (uint64_t)i, name, i), 0);
        if (i == 10) {
            ck_assert_int_eq(met_fault_add(db, run_id, &fault), 0);
        }
    }
    /* A writer with no busy timeout at all gets the lock. */
    raw_exec(&temp, "BEGIN IMMEDIATE; INSERT INTO meta VALUES ('probe', '1'); COMMIT");
    /* The first 4,096 rows (the fault among them) were written on their own. */
    raw_query_text(&temp, "SELECT count(*) FROM timeseries", text, sizeof(text));
    ck_assert_str_eq(text, "4095");
    ck_assert_int_eq(met_flush(db), 0);
    raw_query_text(&temp, "SELECT count(*) || '|' || sum(value) FROM timeseries", text,
                   sizeof(text));
    ck_assert_str_eq(text, "5000|12497500.0");
    raw_query_text(&temp, "SELECT count(*) FROM timeseries a JOIN timeseries b "
                          "ON b.rowid = a.rowid + 1 WHERE b.t_ns <= a.t_ns", text, sizeof(text));
    ck_assert_str_eq(text, "0");
    raw_query_text(&temp, "SELECT group_concat(name) FROM (SELECT name FROM timeseries "
                          "WHERE t_ns >= 4997 ORDER BY t_ns)", text, sizeof(text));
    ck_assert_str_eq(text, "m6,m0,m1");
    raw_query_text(&temp, "SELECT fault_index || kind || action || t_ns || nodes_affected || "
                          "(detail IS NULL) FROM faults", text, sizeof(text));
    ck_assert_str_eq(text, "3crashstart721");
    met_db_close(db);
    temp_db_remove(&temp);
}
END_TEST

/* Holds the file's write lock for 300 ms from another connection. */
static void *hold_lock_briefly(void *context)
{
    sqlite3 *raw = context;
    struct timespec pause = {0, 300 * 1000 * 1000};
    nanosleep(&pause, NULL);
    sqlite3_exec(raw, "ROLLBACK", NULL, NULL, NULL);
    return NULL;
}

/* Another process in the middle of a write: an open waits for it instead
 * of failing. */
START_TEST(test_met_db_open_waits_for_another_writer)
{
    temp_db temp;
    temp_db_make(&temp);
    met_db_close(met_open_ok(&temp));
    sqlite3 *raw = NULL;
    ck_assert_int_eq(sqlite3_open(temp.path, &raw), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(raw, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    pthread_t holder;
    ck_assert_int_eq(pthread_create(&holder, NULL, hold_lock_briefly, raw), 0);
    double start = test_monotonic_s();
    met_db *db = met_open_ok(&temp);
    double waited_s = test_monotonic_s() - start;
    pthread_join(holder, NULL);
    sqlite3_close(raw);
    ck_assert_msg(waited_s > 0.2, "opened after %.3f s, inside the other's transaction",
                  waited_s);
    int64_t run_id = run_begin_ok(db, "after", 1, NULL, 0);
    ck_assert_int_gt(run_id, 0);
    met_db_close(db);
    temp_db_remove(&temp);
}
END_TEST

/* Rows in a batch are written without their CHECK constraints (their
 * values are the module's callers' constants): a wrong one is taken, the
 * writes after the batch are checked again, and the next open's
 * quick_check finds the wrong row and refuses the file. */
START_TEST(test_met_batch_checks_skipped_then_seen)
{
    temp_db temp;
    char why[512] = "";
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    int64_t run_id = run_begin_ok(db, "checks", 1, NULL, 0);
    met_decision_row decision = {
        .request_id = 0, .protocol = "committee", .member_count = 1, .role = "member",
        .behaviour = "honest", .action = "settle", .verdict = "agreed", .dispute = "none",
        .spot_check = -1, .skipped = -1,
    };
    ck_assert_int_eq(met_decisions_add(db, run_id, &decision, 1), 0);
    decision.request_id = 1;
    decision.verdict = "not-a-verdict";
    ck_assert_int_eq(met_decisions_add(db, run_id, &decision, 1), 0);
    met_run_totals totals = {1, 1, 1, 1, "not-a-check", NULL};
    ck_assert_int_eq(met_run_finish(db, run_id, "completed", &totals), MET_ESQL);
    ck_assert_ptr_nonnull(strstr(met_db_errmsg(db), "CHECK constraint failed"));
    totals.check = "passed";
    ck_assert_int_eq(met_run_finish(db, run_id, "completed", &totals), 0);
    met_db_close(db);
    db = NULL;
    ck_assert_int_eq(met_db_open(temp.path, &db, why, sizeof(why)), MET_ECORRUPT);
    ck_assert_ptr_null(db);
    ck_assert_ptr_nonnull(strstr(why, "CHECK constraint failed in decisions"));
    temp_db_remove(&temp);
}
END_TEST

START_TEST(test_met_timeseries_unknown_run_is_sql_error)
{
    temp_db temp;
    char text[MET_ERRMSG_PROBE];
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    int64_t run_id = run_begin_ok(db, "err", 5, NULL, 0);
    /* Samples wait in memory: the bad one is reported by the flush that
     * writes it, and only it is lost. */
    ck_assert_int_eq(met_timeseries_add(db, run_id + 1, 0, "x", 1.0), 0);
    ck_assert_int_eq(met_timeseries_add(db, run_id, 0, "x", 1.0), 0);
    ck_assert_int_eq(met_flush(db), MET_ESQL);
    ck_assert_ptr_nonnull(strstr(met_db_errmsg(db), "FOREIGN KEY"));

    /* The CLI passes met_db_errmsg(db) itself as the run's error text. */
    met_run_totals totals = {1, 0, 0, 0, NULL, met_db_errmsg(db)};
    ck_assert_int_eq(met_run_finish(db, run_id, "failed", &totals), 0);
    raw_query_text(&temp, "SELECT status || '|' || error FROM runs", text, sizeof(text));
    ck_assert_ptr_nonnull(strstr(text, "failed|"));
    ck_assert_ptr_nonnull(strstr(text, "FOREIGN KEY"));
    raw_query_text(&temp, "SELECT count(*) FROM timeseries", text, sizeof(text));
    ck_assert_str_eq(text, "1");
    met_db_close(db);
    temp_db_remove(&temp);
}
END_TEST

static int ignore_row(void *context, size_t count, const met_value *values)
{
    (void)context;
    (void)count;
    (void)values;
    return 0;
}

/* The last batch of a run fails at COMMIT (as on a full disk; here a
 * foreign key checked at COMMIT): met_run_finish returns the error and the
 * run is 'failed' with it, not the 'completed' the caller asked for, since
 * the batch's rows are gone. */
START_TEST(test_met_run_finish_failed_commit_is_failed)
{
    temp_db temp;
    char text[MET_ERRMSG_PROBE];
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    int64_t run_id = run_begin_ok(db, "lost", 5, NULL, 0);
    ck_assert_int_eq(met_timeseries_add(db, run_id, 0, "kept", 1.0), 0);
    /* Until the next COMMIT; met_query commits the batch before it. */
    ck_assert_int_eq(met_query(db, "PRAGMA defer_foreign_keys = ON", NULL, 0, ignore_row, NULL),
                     0);
    ck_assert_int_eq(met_timeseries_add(db, run_id, 1, "x", 1.0), 0);
    ck_assert_int_eq(met_timeseries_add(db, run_id + 1, 1, "x", 1.0), 0);
    met_run_totals totals = {1, 2, 3, 4, "passed", NULL};
    ck_assert_int_eq(met_run_finish(db, run_id, "completed", &totals), MET_ESQL);
    ck_assert_ptr_nonnull(strstr(met_db_errmsg(db), "FOREIGN KEY"));
    met_db_close(db);
    raw_query_text(&temp, "SELECT status || '|' || error FROM runs", text, sizeof(text));
    ck_assert_ptr_nonnull(strstr(text, "failed|storing rows: COMMIT: FOREIGN KEY"));
    raw_query_text(&temp, "SELECT group_concat(name) FROM timeseries", text, sizeof(text));
    ck_assert_str_eq(text, "kept");
    temp_db_remove(&temp);
}
END_TEST

/* Samples that do not fit in the file (a page limit standing in for a
 * full disk) make the flush that writes them fail with the reason. */
START_TEST(test_met_samples_full_disk_is_reported)
{
    temp_db temp;
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    int64_t run_id = run_begin_ok(db, "full", 1, NULL, 0);
    ck_assert_int_eq(met_query(db, "PRAGMA max_page_count = 1", NULL, 0, ignore_row, NULL), 0);
    char name[200];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(met_timeseries_add(db, run_id, (uint64_t)i, name, i), 0);
    }
    ck_assert_int_eq(met_flush(db), MET_ESQL);
    ck_assert_msg(strstr(met_db_errmsg(db), "full") != NULL, "%s", met_db_errmsg(db));
    met_db_close(db);
    temp_db_remove(&temp);
}
END_TEST

/* ---- export -------------------------------------------------------------------------- */

/* The wide table: one row per run, the swept keys then the metrics as
 * columns (sorted by name), NULL where a run lacks one; a swept value that
 * is a number is written as one. */
START_TEST(test_met_export_wide)
{
    temp_db temp;
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    int64_t a = run_begin_ok(db, "wide-a", 1, NULL, 0);
    int64_t b = run_begin_ok(db, "wide-b", 2, NULL, 0);
    ck_assert_int_eq(met_metric_add(db, a, "latency_p50", 2.5, NULL), 0);
    ck_assert_int_eq(met_metric_add(db, a, "delivery_ratio", 1.0, NULL), 0);
    ck_assert_int_eq(met_metric_add(db, b, "latency_p50", 4.0, NULL), 0);
    ck_assert_int_eq(met_flush(db), 0);
    met_db_close(db);
    raw_exec(&temp, "INSERT INTO sweep_values VALUES (1, 'gossip.fanout', '3'),"
                    " (2, 'gossip.fanout', '6'), (2, 'network.kind', 'slow,lossy')");
    db = met_open_ok(&temp);
    char *text = NULL;
    ck_assert_int_eq(export_to_buffer(db, "wide", 0, MET_FORMAT_CSV, &text), 0);
    ck_assert_str_eq(text,
                     "run_id,name,mode,seed,status,check_status,sweep_id,point,gossip.fanout,"
                     "network.kind,delivery_ratio,latency_p50\n"
                     "1,wide-a,sim,1,running,,,,3,,1,2.5\n"
                     "2,wide-b,sim,2,running,,,,6,\"slow,lossy\",,4\n");
    free(text);
    ck_assert_int_eq(export_to_buffer(db, "wide", b, MET_FORMAT_JSONL, &text), 0);
    ck_assert_str_eq(text, "{\"run_id\":2,\"name\":\"wide-b\",\"mode\":\"sim\",\"seed\":2,"
                           "\"status\":\"running\",\"check_status\":null,\"sweep_id\":null,"
                           "\"point\":null,\"gossip.fanout\":6,\"network.kind\":\"slow,lossy\","
                           "\"latency_p50\":4}\n");
    free(text);
    met_db_close(db);
    temp_db_remove(&temp);
}
END_TEST

START_TEST(test_met_export_csv_round_trip)
{
    temp_db temp;
    csv_table *table = util_malloc(sizeof(*table));
    ck_assert_ptr_nonnull(table);
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    int64_t run_id = run_with_tricky_rows(db);

    char *text = NULL;
    ck_assert_int_eq(export_to_buffer(db, "params", 0, MET_FORMAT_CSV, &text), 0);
    csv_parse(text, table);
    free(text);
    ck_assert_int_eq(table->row_count, (int)TRICKY_COUNT + 1);
    ck_assert_str_eq(table->fields[0][0].text, "run_id");
    ck_assert_str_eq(table->fields[0][1].text, "key");
    ck_assert_str_eq(table->fields[0][2].text, "value");
    for (size_t i = 0; i < TRICKY_COUNT; i++) {
        const csv_field *row = table->fields[i + 1];
        ck_assert_int_eq(table->field_count[i + 1], 3);
        ck_assert_int_eq(atoll(row[0].text), run_id);
        ck_assert_int_eq(row[1].text[0], 'k');
        ck_assert_int_eq(atoi(row[1].text + 1), (int)i);
        ck_assert_str_eq(row[2].text, tricky_values[i]);
    }
    /* The empty string is "" (quoted), unlike NULL. */
    ck_assert_int_eq(table->fields[TRICKY_COUNT][2].quoted, 1);

    ck_assert_int_eq(export_to_buffer(db, "timeseries", run_id, MET_FORMAT_CSV, &text), 0);
    csv_parse(text, table);
    free(text);
    ck_assert_int_eq(table->row_count, (int)DOUBLE_COUNT + 1);
    ck_assert_str_eq(table->fields[0][3].text, "value");
    for (size_t i = 0; i < DOUBLE_COUNT; i++) {
        const csv_field *row = table->fields[i + 1];
        ck_assert_int_eq(atoll(row[1].text), (long long)(1000 * i));
        ck_assert_str_eq(row[2].text, tricky_values[i % 7]);
        double value = strtod(row[3].text, NULL);
        ck_assert_msg(memcmp(&value, &tricky_doubles[i], sizeof(value)) == 0,
                      "row %zu: %s is not %.17g", i, row[3].text, tricky_doubles[i]);
    }
    util_free(table);
    met_db_close(db);
    temp_db_remove(&temp);
}
END_TEST

START_TEST(test_met_export_csv_null_is_empty_field)
{
    temp_db temp;
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    int64_t run_id = run_begin_ok(db, "nulls", 1, NULL, 0);
    met_fault_row fault = {4, "loss", "end", 77, 0, NULL};
    ck_assert_int_eq(met_fault_add(db, run_id, &fault), 0);
    char *text = NULL;
    ck_assert_int_eq(export_to_buffer(db, "faults", 0, MET_FORMAT_CSV, &text), 0);
    ck_assert_str_eq(text, "run_id,fault_index,kind,action,t_ns,nodes_affected,detail\n"
                           "1,4,loss,end,77,0,\n");
    free(text);
    met_db_close(db);
    temp_db_remove(&temp);
}
END_TEST

START_TEST(test_met_export_jsonl_round_trip)
{
    temp_db temp;
    json_object object;
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    int64_t run_id = run_with_tricky_rows(db);
    ck_assert_int_eq(met_timeseries_add(db, run_id, 99000, "inf", INFINITY), 0);

    char *text = NULL;
    ck_assert_int_eq(export_to_buffer(db, "params", run_id, MET_FORMAT_JSONL, &text), 0);
    const char *p = text;
    for (size_t i = 0; i < TRICKY_COUNT; i++) {
        p = json_object_parse(p, &object);
        ck_assert_int_eq(*p++, '\n');
        ck_assert_int_eq(object.count, 3);
        ck_assert_str_eq(object.fields[0].key, "run_id");    /* table column order */
        ck_assert_int_eq(json_get(&object, "run_id")->kind, JSON_NUMBER);
        ck_assert(json_get(&object, "run_id")->number == (double)run_id);
        ck_assert_int_eq(json_get(&object, "value")->kind, JSON_STRING);
        ck_assert_str_eq(json_get(&object, "value")->text, tricky_values[i]);
    }
    ck_assert_str_eq(p, "");
    free(text);

    ck_assert_int_eq(export_to_buffer(db, "timeseries", run_id, MET_FORMAT_JSONL, &text), 0);
    p = text;
    for (size_t i = 0; i <= DOUBLE_COUNT; i++) {
        p = json_object_parse(p, &object);
        ck_assert_int_eq(*p++, '\n');
        const json_field *value = json_get(&object, "value");
        if (i == DOUBLE_COUNT) {
            ck_assert_int_eq(value->kind, JSON_NULL);    /* inf is not JSON */
        } else {
            ck_assert_int_eq(value->kind, JSON_NUMBER);
            ck_assert(memcmp(&value->number, &tricky_doubles[i], sizeof(double)) == 0);
            ck_assert_str_eq(json_get(&object, "name")->text, tricky_values[i % 7]);
        }
    }
    ck_assert_str_eq(p, "");
    free(text);
    met_db_close(db);
    temp_db_remove(&temp);
}
END_TEST

/* Brackets and braces balance outside strings; returns the object count. */
static int json_array_check(const char *text)
{
    int depth = 0;
    int objects = 0;
    int in_string = 0;
    size_t length = strlen(text);
    ck_assert_uint_ge(length, 3);
    ck_assert_int_eq(text[0], '[');
    ck_assert_str_eq(text + length - 2, "]\n");
    for (size_t i = 0; i < length; i++) {
        char c = text[i];
        if (in_string) {
            ck_assert_msg((unsigned char)c >= 0x20, "raw control char in string");
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                in_string = 0;
            }
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '[' || c == '{') {
            objects += c == '{' && depth == 1;
            depth++;
        } else if (c == ']' || c == '}') {
            depth--;
            ck_assert_int_ge(depth, 0);
            ck_assert_msg(depth > 0 || i == length - 2, "content after the array");
        }
    }
    ck_assert_int_eq(depth, 0);
    ck_assert_int_eq(in_string, 0);
    return objects;
}

START_TEST(test_met_export_json_is_valid_array)
{
    temp_db temp;
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    char *text = NULL;
    ck_assert_int_eq(export_to_buffer(db, "params", 0, MET_FORMAT_JSON, &text), 0);
    ck_assert_str_eq(text, "[]\n");
    free(text);

    int64_t run_id = run_with_tricky_rows(db);
    ck_assert_int_eq(export_to_buffer(db, "params", 0, MET_FORMAT_JSON, &text), 0);
    ck_assert_int_eq(json_array_check(text), (int)TRICKY_COUNT);
    ck_assert_ptr_nonnull(strstr(text, "\"ctrl \\u0001\\u001f bell\""));
    ck_assert_ptr_nonnull(strstr(text, "\"say \\\"hi\\\", \\\"bye\\\"\""));
    free(text);

    ck_assert_int_eq(met_metric_add(db, run_id, "delivery_ratio", 0.5, "ratio"), 0);
    ck_assert_int_eq(export_to_buffer(db, "run_summary", 0, MET_FORMAT_JSON, &text), 0);
    ck_assert_int_eq(json_array_check(text), 1);
    ck_assert_ptr_nonnull(strstr(text, "\"delivery_ratio\":0.5,\"latency_p50_ns\":null"));
    /* A gossip run has no inference metrics: the new columns are null. */
    ck_assert_ptr_nonnull(strstr(text, "\"latency_p99_ns\":null,\"completed_ratio\":null,"
                                       "\"request_latency_p50_ns\":null,"
                                       "\"request_latency_p99_ns\":null,"
                                       "\"tokens_per_s\":null,\"accepted_wrong\":null,"
                                       "\"honest_penalised\":null}"));
    free(text);
    met_db_close(db);
    temp_db_remove(&temp);
}
END_TEST

START_TEST(test_met_export_unknown_table_refused)
{
    temp_db temp;
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    static const char *const bad[] = {"users", "RUNS", "", "meta", "sqlite_master",
                                      "runs; DROP TABLE runs", "runs WHERE 1", "request",
                                      "Requests", "divergences", "segments_node",
                                      "violation", "Violations"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *text = NULL;
        ck_assert_int_eq(export_to_buffer(db, bad[i], 0, MET_FORMAT_CSV, &text), MET_ENOTABLE);
        ck_assert_str_eq(text, "");
        free(text);
    }
    char *text = NULL;
    ck_assert_int_eq(export_to_buffer(db, "expectations", 0, MET_FORMAT_CSV, &text), 0);
    ck_assert_str_eq(text, "run_id,metric,op,expected,actual,passed\n");
    free(text);
    met_db_close(db);
    temp_db_remove(&temp);
}
END_TEST

START_TEST(test_met_export_run_filter)
{
    temp_db temp;
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    scn_param first_params[] = {{"a", "1"}, {"b", "2"}};
    scn_param second_params[] = {{"a", "10"}};
    int64_t first = run_begin_ok(db, "one", 1, first_params, 2);
    int64_t second = run_begin_ok(db, "two", 2, second_params, 1);
    ck_assert_int_eq(met_metric_add(db, first, "m", 1.5, "ns"), 0);
    ck_assert_int_eq(met_metric_add(db, second, "m", 2.5, NULL), 0);

    char *text = NULL;
    char expected[128];
    ck_assert_int_eq(export_to_buffer(db, "params", second, MET_FORMAT_CSV, &text), 0);
    snprintf(expected, sizeof(expected), "run_id,key,value\n%lld,a,10\n", (long long)second);
    ck_assert_str_eq(text, expected);
    free(text);
    ck_assert_int_eq(export_to_buffer(db, "metrics", first, MET_FORMAT_CSV, &text), 0);
    snprintf(expected, sizeof(expected), "run_id,name,value,unit\n%lld,m,1.5,ns\n",
             (long long)first);
    ck_assert_str_eq(text, expected);
    free(text);
    ck_assert_int_eq(export_to_buffer(db, "params", 0, MET_FORMAT_CSV, &text), 0);
    snprintf(expected, sizeof(expected), "run_id,key,value\n%lld,a,1\n%lld,b,2\n%lld,a,10\n",
             (long long)first, (long long)first, (long long)second);
    ck_assert_str_eq(text, expected);
    free(text);

    ck_assert_int_eq(export_to_buffer(db, "params", second + 40, MET_FORMAT_CSV, &text),
                     MET_ENORUN);
    ck_assert_str_eq(text, "");
    free(text);
    ck_assert_int_eq(export_to_buffer(db, "runs", 999, MET_FORMAT_JSON, &text), MET_ENORUN);
    free(text);
    met_db_close(db);
    temp_db_remove(&temp);
}
END_TEST

START_TEST(test_met_export_write_error_is_eio)
{
    FILE *full = fopen("/dev/full", "w");
    if (full == NULL) {
        return;    /* no /dev/full on this system: nothing to test */
    }
    temp_db temp;
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    (void)run_with_tricky_rows(db);
    ck_assert_int_eq(met_export(db, "params", 0, MET_FORMAT_CSV, full), MET_EIO);
    fclose(full);
    met_db_close(db);
    temp_db_remove(&temp);
}
END_TEST

/* ---- inference tables (schema 2) ----------------------------------------------------- */

/* One expected exported value. */
enum { CELL_INT, CELL_REAL, CELL_TEXT, CELL_NULL };

typedef struct cell {
    int kind;
    long long integer;
    double real;
    const char *text;
} cell;

#define CELL_I(v) ((cell){CELL_INT, (long long)(v), 0.0, NULL})
#define CELL_R(v) ((cell){CELL_REAL, 0, (v), NULL})
#define CELL_T(v) ((cell){CELL_TEXT, 0, 0.0, (v)})
#define CELL_N ((cell){CELL_NULL, 0, 0.0, NULL})

/* A NULL string or NaN is stored as NULL. */
static cell cell_text(const char *text)
{
    return text == NULL ? CELL_N : CELL_T(text);
}

static cell cell_real(double value)
{
    return isnan(value) ? CELL_N : CELL_R(value);
}

/* An optional integer: negative is stored as NULL. */
static cell cell_int(long long value)
{
    return value < 0 ? CELL_N : CELL_I(value);
}

static const char *const request_columns[] = {
    "run_id", "request_id", "client", "submitted_ns", "first_token_ns", "finished_ns",
    "status", "prompt_tokens", "tokens_out", "reference_match", "argmax_agree",
    "logits_maxabs", "logits_cosine", "saw_tokens", "saw_activations", "verified",
    "accepted_wrong", "rounds", "prompt_text", "output_ids", "output_text", "settlement_ns", "failovers",
    "batch_size_mean", "batch_size_max", "ledger_height",
};
static const char *const segment_columns[] = {
    "run_id", "request_id", "segment", "node_id", "class", "kernel", "first_layer",
    "layer_count", "start_ns", "end_ns", "calls", "flops", "bytes_in", "bytes_out",
};
static const char *const divergence_columns[] = {
    "run_id", "request_id", "class", "kernel", "logits_maxabs", "logits_cosine",
    "argmax_agree", "noised_logits_maxabs", "noised_logits_cosine", "noised_argmax_agree",
};

/* Inserted out of key order; exports must come back sorted by key. */
static const met_request_row request_rows[] = {
    {7, 2, 1000, 0, 0, "timeout", 5, 0, 0, 0.0, 0.0, 0.0, "2 4", NULL, -1, -1, -1, NULL, NULL, NULL,
     0, -1, NAN, 0, -1},
    {3, 1, 500, 2500, 9000, "completed", 4, 8, 1, 1.0, 3.0517578125e-05,
     0.99999999999999989, "1 4 9", "5 6", 1, 0, 1, "Once upon", "17 5 9", " a time", 9500, 3, 2.5, 4, 5},
    {12, 0, 700, 1700, 0, "failed", 3, 2, 0, 1.0 / 3.0, 0.1, 2.2250738585072014e-308, "0 8",
     "", 1, 1, 3, NULL, NULL, NULL, 0, 0, 1.0, 1, 0},
};
static const size_t request_order[] = {1, 0, 2};

static const met_segment_row segment_rows[] = {
    {3, 1, 6, "cpu", "blocked", 4, 4, 2100, 8800, 9, 123456789012ull, 4096, 64},
    {3, 0, 4, "gpu", "fma", 0, 4, 600, 8000, 9, 98765432109ull, 64, 4096},
    {12, 0, 8, "gpu", "fma", 0, 8, 900, 1600, 2, 1ull << 40, 48, 0},
};
static const size_t segment_order[] = {1, 0, 2};

static const met_divergence_row divergence_rows[] = {
    {3, "gpu", "fma", 1.52587890625e-05, 0.99999999999999978, 1.0, 0.5, 0.75, 0.25},
    {3, "cpu", "blocked", 0.0, 1.0, 1.0, NAN, NAN, NAN},
    {12, "tpu", "bf16", 1e-300, NAN, 0.5, 2.0, NAN, 0.0},    /* NaN is stored as NULL */
};
static const size_t divergence_order[] = {1, 0, 2};

static const char *const violation_columns[] = {
    "run_id", "violation_id", "kind", "t_ns", "request_id", "segment", "node_id", "detail",
    "step",
};
static const char *const node_columns[] = {
    "run_id", "node_id", "class", "region", "behaviour", "messages_sent", "bytes_sent",
    "messages_received", "bytes_received", "rejected", "delivered", "crashes", "stake",
    "reputation", "balance",
};

/* Schema 3 (step: schema 19): every optional column NULL in some row and
 * set in another. */
static const met_violation_row violation_rows[] = {
    {2, "double_finalization", 9100, 3, -1, -1, NULL, 5},
    {0, "accepted_wrong", 8800, 12, 1, 6, "maxabs 0.25 > tol 0.0625, \"exact\"\nrule", 0},
    {1, "honest_penalised", 8900, -1, 0, 0, "", -1},
    {3, "accepted_wrong", 0, 0, 0, 4, "request 0, segment 0", 2},
};
static const size_t violation_order[] = {1, 2, 0, 3};

/* Stake, reputation and balance: values in a verification run, NaN (NULL)
 * without. */
static const met_node_row node_rows[] = {
    {5, "gpu", "eu", "lazy", 1, 2, 3, 4, 5, 6, 7, 0.0, -0.125, 7.5},
    {4, "cpu", "us", "honest", 9, 8, 7, 6, 5, 4, 3, 1234.5, 0.99999999999999989, -1e-300},
    {6, "cpu", "us", "honest", 0, 0, 0, 0, 0, 0, 0, NAN, NAN, NAN},
};
static const size_t node_order[] = {1, 0, 2};

static size_t request_cells(int64_t run_id, const met_request_row *row, cell *cells)
{
    size_t n = 0;
    cells[n++] = CELL_I(run_id);
    cells[n++] = CELL_I(row->request_id);
    cells[n++] = CELL_I(row->client);
    cells[n++] = CELL_I(row->submitted_ns);
    cells[n++] = row->first_token_ns == 0 ? CELL_N : CELL_I(row->first_token_ns);
    cells[n++] = row->finished_ns == 0 ? CELL_N : CELL_I(row->finished_ns);
    cells[n++] = cell_text(row->status);
    cells[n++] = CELL_I(row->prompt_tokens);
    cells[n++] = CELL_I(row->tokens_out);
    cells[n++] = CELL_I(row->reference_match);
    cells[n++] = cell_real(row->argmax_agree);
    cells[n++] = cell_real(row->logits_maxabs);
    cells[n++] = cell_real(row->logits_cosine);
    cells[n++] = cell_text(row->saw_tokens);
    cells[n++] = cell_text(row->saw_activations);
    cells[n++] = cell_int(row->verified);
    cells[n++] = cell_int(row->accepted_wrong);
    cells[n++] = cell_int(row->rounds);
    cells[n++] = cell_text(row->prompt_text);
    cells[n++] = cell_text(row->output_ids);
    cells[n++] = cell_text(row->output_text);
    cells[n++] = row->settlement_ns == 0 ? CELL_N : CELL_I(row->settlement_ns);
    cells[n++] = row->failovers < 0 ? CELL_N : CELL_I(row->failovers);
    cells[n++] = row->batch_size_max == 0 ? CELL_N : cell_real(row->batch_size_mean);
    cells[n++] = row->batch_size_max == 0 ? CELL_N : CELL_I(row->batch_size_max);
    cells[n++] = row->ledger_height < 0 ? CELL_N : CELL_I(row->ledger_height);
    return n;
}

static size_t segment_cells(int64_t run_id, const met_segment_row *row, cell *cells)
{
    size_t n = 0;
    cells[n++] = CELL_I(run_id);
    cells[n++] = CELL_I(row->request_id);
    cells[n++] = CELL_I(row->segment);
    cells[n++] = CELL_I(row->node_id);
    cells[n++] = cell_text(row->class_name);
    cells[n++] = cell_text(row->kernel);
    cells[n++] = CELL_I(row->first_layer);
    cells[n++] = CELL_I(row->layer_count);
    cells[n++] = CELL_I(row->start_ns);
    cells[n++] = CELL_I(row->end_ns);
    cells[n++] = CELL_I(row->calls);
    cells[n++] = CELL_I(row->flops);
    cells[n++] = CELL_I(row->bytes_in);
    cells[n++] = CELL_I(row->bytes_out);
    return n;
}

static size_t divergence_cells(int64_t run_id, const met_divergence_row *row, cell *cells)
{
    size_t n = 0;
    cells[n++] = CELL_I(run_id);
    cells[n++] = CELL_I(row->request_id);
    cells[n++] = cell_text(row->class_name);
    cells[n++] = cell_text(row->kernel);
    cells[n++] = cell_real(row->logits_maxabs);
    cells[n++] = cell_real(row->logits_cosine);
    cells[n++] = cell_real(row->argmax_agree);
    cells[n++] = cell_real(row->noised_logits_maxabs);
    cells[n++] = cell_real(row->noised_logits_cosine);
    cells[n++] = cell_real(row->noised_argmax_agree);
    return n;
}

static size_t violation_cells(int64_t run_id, const met_violation_row *row, cell *cells)
{
    size_t n = 0;
    cells[n++] = CELL_I(run_id);
    cells[n++] = CELL_I(row->violation_id);
    cells[n++] = cell_text(row->kind);
    cells[n++] = CELL_I(row->t_ns);
    cells[n++] = cell_int(row->request_id);
    cells[n++] = cell_int(row->segment);
    cells[n++] = cell_int(row->node_id);
    cells[n++] = cell_text(row->detail);
    cells[n++] = cell_int(row->step);
    return n;
}

static size_t node_cells(int64_t run_id, const met_node_row *row, cell *cells)
{
    size_t n = 0;
    cells[n++] = CELL_I(run_id);
    cells[n++] = CELL_I(row->node_id);
    cells[n++] = cell_text(row->class_name);
    cells[n++] = cell_text(row->region);
    cells[n++] = cell_text(row->behaviour);
    cells[n++] = CELL_I(row->messages_sent);
    cells[n++] = CELL_I(row->bytes_sent);
    cells[n++] = CELL_I(row->messages_received);
    cells[n++] = CELL_I(row->bytes_received);
    cells[n++] = CELL_I(row->rejected);
    cells[n++] = CELL_I(row->delivered);
    cells[n++] = CELL_I(row->crashes);
    cells[n++] = cell_real(row->stake);
    cells[n++] = cell_real(row->reputation);
    cells[n++] = cell_real(row->balance);
    return n;
}

/* The expected cells of row 'index' (in export order) of one table. */
typedef size_t (*table_cells_fn)(int64_t run_id, size_t index, cell *cells);

static size_t request_cells_at(int64_t run_id, size_t index, cell *cells)
{
    return request_cells(run_id, &request_rows[request_order[index]], cells);
}

static size_t segment_cells_at(int64_t run_id, size_t index, cell *cells)
{
    return segment_cells(run_id, &segment_rows[segment_order[index]], cells);
}

static size_t divergence_cells_at(int64_t run_id, size_t index, cell *cells)
{
    return divergence_cells(run_id, &divergence_rows[divergence_order[index]], cells);
}

static size_t violation_cells_at(int64_t run_id, size_t index, cell *cells)
{
    return violation_cells(run_id, &violation_rows[violation_order[index]], cells);
}

static size_t node_cells_at(int64_t run_id, size_t index, cell *cells)
{
    return node_cells(run_id, &node_rows[node_order[index]], cells);
}

typedef struct inference_table {
    const char *name;
    const char *const *columns;
    size_t column_count;
    size_t row_count;
    table_cells_fn cells_at;
} inference_table;

static const inference_table inference_tables[] = {
    {"requests", request_columns, UTIL_ARRAY_COUNT(request_columns),
     UTIL_ARRAY_COUNT(request_rows), request_cells_at},
    {"segments", segment_columns, UTIL_ARRAY_COUNT(segment_columns),
     UTIL_ARRAY_COUNT(segment_rows), segment_cells_at},
    {"divergence", divergence_columns, UTIL_ARRAY_COUNT(divergence_columns),
     UTIL_ARRAY_COUNT(divergence_rows), divergence_cells_at},
    {"violations", violation_columns, UTIL_ARRAY_COUNT(violation_columns),
     UTIL_ARRAY_COUNT(violation_rows), violation_cells_at},
    {"nodes", node_columns, UTIL_ARRAY_COUNT(node_columns), UTIL_ARRAY_COUNT(node_rows),
     node_cells_at},
};

static void cell_check_csv(const csv_field *field, const cell *expected, const char *where)
{
    switch (expected->kind) {
    case CELL_INT:
        ck_assert_msg(field->quoted == 0 && strtoll(field->text, NULL, 10) == expected->integer,
                      "%s: %s is not %lld", where, field->text, expected->integer);
        break;
    case CELL_REAL: {
        double value = strtod(field->text, NULL);
        ck_assert_msg(memcmp(&value, &expected->real, sizeof(value)) == 0, "%s: %s is not %.17g",
                      where, field->text, expected->real);
        break;
    }
    case CELL_TEXT:
        ck_assert_msg(strcmp(field->text, expected->text) == 0, "%s: '%s' is not '%s'", where,
                      field->text, expected->text);
        ck_assert_msg(expected->text[0] != '\0' || field->quoted == 1, "%s: \"\" unquoted", where);
        break;
    default:
        ck_assert_msg(field->text[0] == '\0' && field->quoted == 0, "%s: '%s' is not NULL", where,
                      field->text);
        break;
    }
}

static void cell_check_json(const json_field *field, const cell *expected, const char *where)
{
    switch (expected->kind) {
    case CELL_INT:
        ck_assert_msg(field->kind == JSON_NUMBER && field->number == (double)expected->integer,
                      "%s: not %lld", where, expected->integer);
        break;
    case CELL_REAL:
        ck_assert_msg(field->kind == JSON_NUMBER &&
                          memcmp(&field->number, &expected->real, sizeof(double)) == 0,
                      "%s: %.17g is not %.17g", where, field->number, expected->real);
        break;
    case CELL_TEXT:
        ck_assert_msg(field->kind == JSON_STRING && strcmp(field->text, expected->text) == 0,
                      "%s: '%s' is not '%s'", where, field->text, expected->text);
        break;
    default:
        ck_assert_msg(field->kind == JSON_NULL, "%s: not null", where);
        break;
    }
}

/* A run with the fixture rows of the inference and verification tables. */
static int64_t run_with_inference_rows(met_db *db)
{
    int64_t run_id = run_begin_ok(db, "infer", 9, NULL, 0);
    ck_assert_int_eq(met_requests_add(db, run_id, request_rows, UTIL_ARRAY_COUNT(request_rows)),
                     0);
    ck_assert_int_eq(met_segments_add(db, run_id, segment_rows, UTIL_ARRAY_COUNT(segment_rows)),
                     0);
    ck_assert_int_eq(met_divergence_add(db, run_id, divergence_rows,
                                        UTIL_ARRAY_COUNT(divergence_rows)),
                     0);
    ck_assert_int_eq(met_violations_add(db, run_id, violation_rows,
                                        UTIL_ARRAY_COUNT(violation_rows)),
                     0);
    ck_assert_int_eq(met_nodes_add(db, run_id, node_rows, UTIL_ARRAY_COUNT(node_rows)), 0);
    return run_id;
}

static void inference_csv_check(met_db *db, int64_t run_id, int64_t filter, csv_table *table)
{
    cell cells[FIELDS_MAX];
    char where[96];
    for (size_t t = 0; t < UTIL_ARRAY_COUNT(inference_tables); t++) {
        const inference_table *spec = &inference_tables[t];
        char *text = NULL;
        ck_assert_int_eq(export_to_buffer(db, spec->name, filter, MET_FORMAT_CSV, &text), 0);
        csv_parse(text, table);
        free(text);
        ck_assert_int_eq(table->row_count, (int)spec->row_count + 1);
        for (size_t c = 0; c < spec->column_count; c++) {
            ck_assert_int_eq(table->field_count[0], (int)spec->column_count);
            ck_assert_str_eq(table->fields[0][c].text, spec->columns[c]);
        }
        for (size_t r = 0; r < spec->row_count; r++) {
            ck_assert_uint_eq(spec->cells_at(run_id, r, cells), spec->column_count);
            ck_assert_int_eq(table->field_count[r + 1], (int)spec->column_count);
            for (size_t c = 0; c < spec->column_count; c++) {
                snprintf(where, sizeof(where), "%s row %zu %s", spec->name, r, spec->columns[c]);
                cell_check_csv(&table->fields[r + 1][c], &cells[c], where);
            }
        }
    }
}

START_TEST(test_met_export_inference_csv_round_trip)
{
    temp_db temp;
    csv_table *table = util_malloc(sizeof(*table));
    ck_assert_ptr_nonnull(table);
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    int64_t other = run_begin_ok(db, "gossip", 1, NULL, 0);
    int64_t run_id = run_with_inference_rows(db);
    ck_assert_int_ne(other, run_id);
    inference_csv_check(db, run_id, 0, table);
    inference_csv_check(db, run_id, run_id, table);

    char *text = NULL;
    ck_assert_int_eq(export_to_buffer(db, "requests", other, MET_FORMAT_CSV, &text), 0);
    ck_assert_str_eq(text, "run_id,request_id,client,submitted_ns,first_token_ns,finished_ns,"
                           "status,prompt_tokens,tokens_out,reference_match,argmax_agree,"
                           "logits_maxabs,logits_cosine,saw_tokens,saw_activations,"
                           "verified,accepted_wrong,rounds,prompt_text,output_ids,output_text,"
                           "settlement_ns,failovers,batch_size_mean,batch_size_max,ledger_height\n");
    free(text);
    ck_assert_int_eq(export_to_buffer(db, "violations", other, MET_FORMAT_CSV, &text), 0);
    ck_assert_str_eq(text, "run_id,violation_id,kind,t_ns,request_id,segment,node_id,detail,step\n");
    free(text);
    util_free(table);
    met_db_close(db);
    temp_db_remove(&temp);
}
END_TEST

START_TEST(test_met_export_inference_jsonl_round_trip)
{
    temp_db temp;
    json_object object;
    cell cells[FIELDS_MAX];
    char where[96];
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    int64_t run_id = run_with_inference_rows(db);
    for (size_t t = 0; t < UTIL_ARRAY_COUNT(inference_tables); t++) {
        const inference_table *spec = &inference_tables[t];
        char *text = NULL;
        ck_assert_int_eq(export_to_buffer(db, spec->name, run_id, MET_FORMAT_JSONL, &text), 0);
        const char *p = text;
        for (size_t r = 0; r < spec->row_count; r++) {
            p = json_object_parse(p, &object);
            ck_assert_int_eq(*p++, '\n');
            ck_assert_int_eq(object.count, (int)spec->column_count);
            ck_assert_uint_eq(spec->cells_at(run_id, r, cells), spec->column_count);
            for (size_t c = 0; c < spec->column_count; c++) {
                snprintf(where, sizeof(where), "%s row %zu %s", spec->name, r, spec->columns[c]);
                ck_assert_str_eq(object.fields[c].key, spec->columns[c]);
                cell_check_json(&object.fields[c], &cells[c], where);
            }
        }
        ck_assert_str_eq(p, "");
        free(text);
    }
    met_db_close(db);
    temp_db_remove(&temp);
}
END_TEST

START_TEST(test_met_requests_zero_times_are_null)
{
    temp_db temp;
    char text[128];
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    int64_t run_id = run_with_inference_rows(db);
    ck_assert_int_eq(met_flush(db), 0);
    raw_query_text(&temp,
                   "SELECT count(*) FROM requests WHERE first_token_ns IS NULL"
                   " AND finished_ns IS NULL",
                   text, sizeof(text));
    ck_assert_str_eq(text, "1");    /* request 7 */
    raw_query_text(&temp,
                   "SELECT quote(first_token_ns) || '|' || quote(finished_ns)"
                   " FROM requests WHERE request_id = 12",
                   text, sizeof(text));
    ck_assert_str_eq(text, "1700|NULL");
    raw_query_text(&temp, "SELECT finished_ns - submitted_ns FROM requests WHERE request_id = 3",
                   text, sizeof(text));
    ck_assert_str_eq(text, "8500");
    /* Schema 3: negative is NULL, other values are stored as given. */
    raw_query_text(&temp,
                   "SELECT group_concat(request_id || ':' || quote(verified) || ','"
                   " || quote(accepted_wrong) || ',' || quote(rounds), ' ') FROM"
                   " (SELECT * FROM requests ORDER BY request_id)",
                   text, sizeof(text));
    ck_assert_str_eq(text, "3:1,0,1 7:NULL,NULL,NULL 12:1,1,3");
    raw_query_text(&temp,
                   "SELECT group_concat(node_id || ':' || quote(stake) || ','"
                   " || quote(round(reputation, 6)), ' ') FROM (SELECT * FROM nodes"
                   " ORDER BY node_id)",
                   text, sizeof(text));
    ck_assert_str_eq(text, "4:1234.5,1.0 5:0.0,-0.125 6:NULL,NULL");
    raw_query_text(&temp,
                   "SELECT count(*) || '|' || sum(kind = 'accepted_wrong') || '|' ||"
                   " sum(request_id IS NULL) || '|' || sum(segment IS NULL) || '|' ||"
                   " sum(node_id IS NULL) || '|' || sum(detail IS NULL) || '|' ||"
                   " sum(step IS NULL) FROM violations",
                   text, sizeof(text));
    ck_assert_str_eq(text, "4|2|1|1|1|1|1");

    /* Writing a key again replaces the row; an unknown run is refused. */
    met_request_row again = request_rows[0];
    again.finished_ns = 4000;
    again.status = "completed";
    ck_assert_int_eq(met_requests_add(db, run_id, &again, 1), 0);
    ck_assert_int_eq(met_flush(db), 0);
    raw_query_text(&temp,
                   "SELECT count(*) || '|' || (SELECT status || finished_ns FROM requests"
                   " WHERE request_id = 7) FROM requests",
                   text, sizeof(text));
    ck_assert_str_eq(text, "3|completed4000");
    met_violation_row violation = violation_rows[0];
    violation.detail = "replaced";
    ck_assert_int_eq(met_violations_add(db, run_id, &violation, 1), 0);
    ck_assert_int_eq(met_violations_add(db, run_id + 1, &violation, 1), MET_ESQL);
    ck_assert_ptr_nonnull(strstr(met_db_errmsg(db), "FOREIGN KEY"));
    ck_assert_int_eq(met_flush(db), 0);
    raw_query_text(&temp,
                   "SELECT count(*) || '|' || (SELECT detail FROM violations"
                   " WHERE violation_id = 2) FROM violations",
                   text, sizeof(text));
    ck_assert_str_eq(text, "4|replaced");
    ck_assert_int_eq(met_segments_add(db, run_id + 1, segment_rows, 1), MET_ESQL);
    ck_assert_ptr_nonnull(strstr(met_db_errmsg(db), "FOREIGN KEY"));
    met_db_close(db);
    temp_db_remove(&temp);
}
END_TEST

START_TEST(test_met_run_summary_inference_columns)
{
    temp_db temp;
    char text[160];
    temp_db_make(&temp);
    met_db *db = met_open_ok(&temp);
    int64_t run_id = run_with_inference_rows(db);
    ck_assert_int_eq(met_metric_add(db, run_id, "completed_ratio", 0.75, "ratio"), 0);
    ck_assert_int_eq(met_metric_add(db, run_id, "request_latency_p50", 2.5e6, "ns"), 0);
    /* An alias. */
    ck_assert_int_eq(met_metric_add(db, run_id, "request_latency_p99_ns", 9e6, "ns"), 0);
    ck_assert_int_eq(met_metric_add(db, run_id, "tokens_per_s", 1234.5, "tokens/s"), 0);
    ck_assert_int_eq(met_metric_add(db, run_id, "latency_p50", 1.0, "ns"), 0);  /* a gossip name */
    ck_assert_int_eq(met_metric_add(db, run_id, "accepted_wrong", 2.0, "count"), 0);
    ck_assert_int_eq(met_metric_add(db, run_id, "accepted_wrong_ratio", 0.5, "ratio"), 0);
    ck_assert_int_eq(met_metric_add(db, run_id, "honest_penalised", 0.0, "count"), 0);
    int64_t gossip = run_begin_ok(db, "gossip", 2, NULL, 0);
    ck_assert_int_eq(met_flush(db), 0);
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT completed_ratio || '|' || request_latency_p50_ns || '|' ||"
             " request_latency_p99_ns || '|' || tokens_per_s || '|' || latency_p50_ns || '|' ||"
             " accepted_wrong || '|' || honest_penalised FROM run_summary WHERE run_id = %lld",
             (long long)run_id);
    raw_query_text(&temp, sql, text, sizeof(text));
    ck_assert_str_eq(text, "0.75|2500000.0|9000000.0|1234.5|1.0|2.0|0.0");
    snprintf(sql, sizeof(sql),
             "SELECT coalesce(completed_ratio, request_latency_p50_ns, request_latency_p99_ns,"
             " tokens_per_s, accepted_wrong, honest_penalised, 'all null') FROM run_summary"
             " WHERE run_id = %lld",
             (long long)gossip);
    raw_query_text(&temp, sql, text, sizeof(text));
    ck_assert_str_eq(text, "all null");
    met_db_close(db);
    temp_db_remove(&temp);
}
END_TEST

/* ---- migration ----------------------------------------------------------------------- */

/* Schema version 1 exactly as infersim 1 created it, kept verbatim so the
 * migration is tested against the real old layout. Do not edit. */
static const char schema_v1_sql[] =
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE runs ("
    " run_id INTEGER PRIMARY KEY, name TEXT, mode TEXT, scenario_sha256 TEXT,"
    " seed INTEGER, git_rev TEXT,"
    " status TEXT NOT NULL CHECK (status IN ('running','completed','failed','aborted')),"
    " check_status TEXT CHECK (check_status IS NULL OR check_status IN ('passed','failed')),"
    " started_at TEXT, finished_at TEXT, wall_ms INTEGER, sim_ns INTEGER, events INTEGER,"
    " trace_hash TEXT, nodes INTEGER, error TEXT);"
    "CREATE TABLE params ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), key TEXT NOT NULL, value TEXT,"
    " PRIMARY KEY (run_id, key));"
    "CREATE TABLE nodes ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), node_id INTEGER NOT NULL,"
    " class TEXT, region TEXT, behaviour TEXT, messages_sent INTEGER, bytes_sent INTEGER,"
    " messages_received INTEGER, bytes_received INTEGER, rejected INTEGER,"
    " delivered INTEGER, crashes INTEGER, PRIMARY KEY (run_id, node_id));"
    "CREATE TABLE faults ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), fault_index INTEGER, kind TEXT,"
    " action TEXT, t_ns INTEGER, nodes_affected INTEGER, detail TEXT);"
    "CREATE INDEX faults_run ON faults(run_id);"
    "CREATE TABLE timeseries ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), t_ns INTEGER, name TEXT,"
    " value REAL);"
    "CREATE INDEX timeseries_run ON timeseries(run_id, name, t_ns);"
    "CREATE TABLE messages ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), type TEXT NOT NULL, sent INTEGER,"
    " bytes_sent INTEGER, delivered INTEGER, bytes_delivered INTEGER,"
    " dropped_loss INTEGER, dropped_partition INTEGER, dropped_crashed INTEGER,"
    " duplicated INTEGER, reordered INTEGER, corrupted INTEGER, rejected INTEGER,"
    " PRIMARY KEY (run_id, type));"
    "CREATE TABLE metrics ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), name TEXT NOT NULL, value REAL,"
    " PRIMARY KEY (run_id, name));"
    "CREATE TABLE expectations ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), metric TEXT, op TEXT,"
    " expected REAL, actual REAL, passed INTEGER);"
    "CREATE INDEX expectations_run ON expectations(run_id);"
    "CREATE VIEW run_summary AS SELECT r.run_id, r.name, r.seed, r.status,"
    " r.check_status, r.events, r.sim_ns, r.wall_ms,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name = 'delivery_ratio') AS delivery_ratio,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name IN ('latency_p50', 'latency_p50_ns') ORDER BY m.name LIMIT 1)"
    "  AS latency_p50_ns,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name IN ('latency_p99', 'latency_p99_ns') ORDER BY m.name LIMIT 1)"
    "  AS latency_p99_ns"
    " FROM runs r;"
    "INSERT INTO meta (key, value) VALUES ('schema_version', '1'), ('created_by', 'infersim');"
    "PRAGMA user_version = 1;";

/* One finished gossip run as version 1 stored it. */
static const char run_v1_sql[] =
    "INSERT INTO runs (name, mode, scenario_sha256, seed, git_rev, status, started_at,"
    " finished_at, wall_ms, sim_ns, events, trace_hash, nodes)"
    " VALUES ('old', 'sim', 'abcd', 5, 'rev0', 'completed', '2024-01-01T00:00:00Z',"
    " '2024-01-01T00:00:01Z', 1000, 2000000000, 4242, '00000000000000ff', 8);"
    "INSERT INTO params VALUES (1, 'network.loss', '0.01');"
    "INSERT INTO metrics VALUES (1, 'delivery_ratio', 0.875);"
    "INSERT INTO timeseries VALUES (1, 1000, 'in_flight', 3.0);";

/* A node row as versions 1 and 2 stored it (no stake or reputation). */
static const char node_v1_sql[] =
    "INSERT INTO nodes VALUES (1, 0, 'gpu', 'eu', 'honest', 10, 1000, 9, 900, 0, 4, 2);";

/* The additions of schema version 2 exactly as infersim 2 made them over
 * version 1 (tables, index, the version 2 view, meta), kept verbatim so
 * the version 3 upgrade is tested against the real old layout. Do not
 * edit. Run after schema_v1_sql. */
static const char schema_v2_sql[] =
    "CREATE TABLE requests ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), request_id INTEGER NOT NULL,"
    " client INTEGER, submitted_ns INTEGER, first_token_ns INTEGER, finished_ns INTEGER,"
    " status TEXT, prompt_tokens INTEGER, tokens_out INTEGER, reference_match INTEGER,"
    " argmax_agree REAL, logits_maxabs REAL, logits_cosine REAL, saw_tokens TEXT,"
    " saw_activations TEXT, PRIMARY KEY (run_id, request_id));"
    "CREATE TABLE segments ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), request_id INTEGER NOT NULL,"
    " segment INTEGER NOT NULL, node_id INTEGER, class TEXT, kernel TEXT,"
    " first_layer INTEGER, layer_count INTEGER, start_ns INTEGER, end_ns INTEGER,"
    " calls INTEGER, flops INTEGER, bytes_in INTEGER, bytes_out INTEGER,"
    " PRIMARY KEY (run_id, request_id, segment));"
    "CREATE INDEX segments_node ON segments(run_id, node_id);"
    "CREATE TABLE divergence ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), request_id INTEGER NOT NULL,"
    " class TEXT NOT NULL, kernel TEXT, logits_maxabs REAL, logits_cosine REAL,"
    " argmax_agree REAL, PRIMARY KEY (run_id, request_id, class));"
    "DROP VIEW IF EXISTS run_summary;"
    "CREATE VIEW run_summary AS SELECT r.run_id, r.name, r.seed, r.status,"
    " r.check_status, r.events, r.sim_ns, r.wall_ms,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name = 'delivery_ratio') AS delivery_ratio,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name IN ('latency_p50', 'latency_p50_ns') ORDER BY m.name LIMIT 1)"
    "  AS latency_p50_ns,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name IN ('latency_p99', 'latency_p99_ns') ORDER BY m.name LIMIT 1)"
    "  AS latency_p99_ns,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name = 'completed_ratio') AS completed_ratio,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name IN ('request_latency_p50', 'request_latency_p50_ns') ORDER BY m.name"
    "  LIMIT 1) AS request_latency_p50_ns,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name IN ('request_latency_p99', 'request_latency_p99_ns') ORDER BY m.name"
    "  LIMIT 1) AS request_latency_p99_ns,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name = 'tokens_per_s') AS tokens_per_s"
    " FROM runs r;"
    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', '2'),"
    " ('created_by', 'infersim'); PRAGMA user_version = 2;";

/* An inference run's request and metric as version 2 stored them. */
static const char run_v2_sql[] =
    "INSERT INTO requests VALUES (1, 4, 0, 100, 200, 900, 'completed', 3, 5, 1, 1.0, 0.0,"
    " 1.0, '0 2', '1');"
    "INSERT INTO segments VALUES (1, 4, 0, 2, 'gpu', 'fma', 0, 4, 150, 850, 6, 1000, 12, 64);"
    "INSERT INTO metrics VALUES (1, 'completed_ratio', 1.0);";

START_TEST(test_met_db_open_migrates_v2)
{
    temp_db temp;
    char text[256];
    temp_db_make(&temp);
    raw_exec(&temp, schema_v1_sql);
    raw_exec(&temp, schema_v2_sql);
    raw_exec(&temp, run_v1_sql);
    raw_exec(&temp, node_v1_sql);
    raw_exec(&temp, run_v2_sql);

    met_db *db = met_open_ok(&temp);
    raw_query_text(&temp,
                   "SELECT (SELECT value FROM meta WHERE key = 'schema_version') || '|' ||"
                   " (SELECT count(*) FROM meta) || '|' || (SELECT count(*) FROM violations)",
                   text, sizeof(text));
    char expected[32];
    snprintf(expected, sizeof(expected), "%d|2|0", MET_SCHEMA_VERSION);
    ck_assert_str_eq(text, expected);
    raw_query_text(&temp, "PRAGMA user_version", text, sizeof(text));
    ck_assert_int_eq(atoi(text), MET_SCHEMA_VERSION);

    /* Old rows kept, new columns NULL, the view has grown at its end. */
    raw_query_text(&temp,
                   "SELECT status || tokens_out || saw_tokens || '|' || quote(verified) ||"
                   " quote(accepted_wrong) || quote(rounds) || '|' ||"
                   " (SELECT bytes_received || quote(stake) || quote(reputation) ||"
                   " quote(balance) FROM nodes)"
                   " || '|' || (SELECT flops FROM segments) FROM requests",
                   text, sizeof(text));
    ck_assert_str_eq(text, "completed50 2|NULLNULLNULL|900NULLNULLNULL|1000");
    /* Schema 4's comparison view reads the old run: no protocol, no numbers. */
    raw_query_text(&temp,
                   "SELECT protocol || '|' || coalesce(cost_ratio, 'null') FROM"
                   " protocol_comparison",
                   text, sizeof(text));
    ck_assert_str_eq(text, "none|null");
    raw_query_text(&temp,
                   "SELECT completed_ratio || '|' || delivery_ratio || '|' ||"
                   " coalesce(accepted_wrong, honest_penalised, 'null') FROM run_summary",
                   text, sizeof(text));
    ck_assert_str_eq(text, "1.0|0.875|null");

    /* The new columns and table take values, for the old run too. */
    met_request_row request = request_rows[2];
    request.request_id = 4;
    ck_assert_int_eq(met_requests_add(db, 1, &request, 1), 0);
    ck_assert_int_eq(met_nodes_add(db, 1, &node_rows[0], 1), 0);
    ck_assert_int_eq(met_violations_add(db, 1, violation_rows, UTIL_ARRAY_COUNT(violation_rows)),
                     0);
    ck_assert_int_eq(met_metric_add(db, 1, "honest_penalised", 3.0, "count"), 0);
    met_db_close(db);
    raw_query_text(&temp,
                   "SELECT (SELECT verified || accepted_wrong || rounds FROM requests) || '|' ||"
                   " (SELECT count(*) || sum(reputation) FROM nodes) || '|' ||"
                   " (SELECT count(*) FROM violations) || '|' ||"
                   " (SELECT honest_penalised FROM run_summary)",
                   text, sizeof(text));
    ck_assert_str_eq(text, "113|2-0.125|4|3.0");
    temp_db_remove(&temp);
}
END_TEST

START_TEST(test_met_db_open_migrates_v1)
{
    temp_db temp;
    char text[256];
    temp_db_make(&temp);
    raw_exec(&temp, schema_v1_sql);
    raw_exec(&temp, run_v1_sql);

    raw_exec(&temp, node_v1_sql);

    met_db *db = met_open_ok(&temp);
    raw_query_text(&temp, "PRAGMA user_version", text, sizeof(text));
    ck_assert_int_eq(atoi(text), MET_SCHEMA_VERSION);
    ck_assert_int_gt(MET_SCHEMA_VERSION, 7);
    raw_query_text(&temp, "SELECT value FROM meta WHERE key = 'schema_version'", text,
                   sizeof(text));
    ck_assert_int_eq(atoi(text), MET_SCHEMA_VERSION);
    raw_query_text(&temp, "SELECT count(*) FROM meta", text, sizeof(text));
    ck_assert_str_eq(text, "2");

    /* The old run and its rows are all there, and the view has grown. */
    ck_assert_int_eq(met_run_exists(db, 1), 1);
    raw_query_text(&temp,
                   "SELECT name || '|' || status || '|' || trace_hash || '|' || events ||"
                   " '|' || (SELECT value FROM params) || '|' || (SELECT count(*) FROM"
                   " timeseries) FROM runs",
                   text, sizeof(text));
    ck_assert_str_eq(text, "old|completed|00000000000000ff|4242|0.01|1");
    raw_query_text(&temp,
                   "SELECT delivery_ratio || '|' || coalesce(completed_ratio, tokens_per_s,"
                   " request_latency_p50_ns, request_latency_p99_ns, 'null')"
                   " FROM run_summary",
                   text, sizeof(text));
    ck_assert_str_eq(text, "0.875|null");
    /* Through version 2 then 3: the old node row has NULL stake and reputation. */
    raw_query_text(&temp,
                   "SELECT crashes || '|' || quote(stake) || '|' || quote(reputation) ||"
                   " '|' || (SELECT count(*) FROM violations) || '|' ||"
                   " coalesce((SELECT accepted_wrong FROM run_summary), 'null') FROM nodes",
                   text, sizeof(text));
    ck_assert_str_eq(text, "2|NULL|NULL|0|null");

    /* The new tables are usable, for a new run as for the old one. */
    int64_t run_id = run_begin_ok(db, "new", 6, NULL, 0);
    ck_assert_int_eq(run_id, 2);
    ck_assert_int_eq(met_requests_add(db, run_id, request_rows, 2), 0);
    ck_assert_int_eq(met_segments_add(db, 1, segment_rows, 1), 0);
    ck_assert_int_eq(met_divergence_add(db, run_id, divergence_rows, 1), 0);
    ck_assert_int_eq(met_metric_add(db, run_id, "completed_ratio", 0.5, "ratio"), 0);
    ck_assert_int_eq(met_violations_add(db, 1, violation_rows, 2), 0);
    /* Version 9's privacy table and version 13's columns: NaN epsilons and
     * reconstructions and a negative step count are NULL. */
    const met_privacy_row privacy_rows[] = {
        {0, 3, "client", 1, -1, 0, 0, NAN, NAN, NAN, -1, NAN},
        {0, 7, "server", 0, 2, 1, 1, 1.5, 0.25, 0.75, 3, 0.5},
    };
    ck_assert_int_eq(met_privacy_add(db, run_id, privacy_rows, 2), 0);
    /* Version 13's weights table. */
    const met_weights_row weights_rows[] = {{7, 2, 4, 2, 1000, 1}};
    ck_assert_int_eq(met_weights_add(db, run_id, weights_rows, 1), 0);
    met_db_close(db);
    raw_query_text(&temp,
                   "SELECT group_concat(node_id || ',' || role || ',' || saw_tokens || ',' ||"
                   " quote(saw_activations) || ',' || saw_logits || ',' || in_tee || ',' ||"
                   " quote(epsilon) || ',' || quote(reconstruction) || ',' ||"
                   " quote(epsilon_received) || ',' || quote(generation_steps) || ',' ||"
                   " quote(generation_reconstruction), ';') FROM privacy",
                   text, sizeof(text));
    ck_assert_str_eq(text, "3,client,1,NULL,0,0,NULL,NULL,NULL,NULL,NULL;"
                           "7,server,0,2,1,1,1.5,0.25,0.75,3,0.5");
    raw_query_text(&temp, "SELECT group_concat(node_id || ',' || segment || ',' || first_layer"
                          " || ',' || layer_count || ',' || params || ',' || in_tee) FROM weights",
                   text, sizeof(text));
    ck_assert_str_eq(text, "7,2,4,2,1000,1");
    raw_query_text(&temp,
                   "SELECT (SELECT count(*) FROM requests WHERE run_id = 2) || '|' ||"
                   " (SELECT count(*) FROM segments WHERE run_id = 1) || '|' ||"
                   " (SELECT count(*) FROM divergence) || '|' ||"
                   " (SELECT completed_ratio FROM run_summary WHERE run_id = 2) || '|' ||"
                   " (SELECT count(*) FROM violations WHERE run_id = 1)",
                   text, sizeof(text));
    ck_assert_str_eq(text, "2|1|1|0.5|2");

    /* Opening again is a no-op at version 4. */
    met_db_close(met_open_ok(&temp));
    raw_query_text(&temp, "SELECT count(*) FROM runs", text, sizeof(text));
    ck_assert_str_eq(text, "2");
    temp_db_remove(&temp);
}
END_TEST

/* The additions of schema version 3 exactly as infersim 3 made them over
 * version 2 (columns, table, the version 3 view, meta), kept verbatim so
 * the version 4 upgrade is tested against the real old layout. Do not
 * edit. Run after schema_v2_sql. */
static const char schema_v3_sql[] =
    "ALTER TABLE nodes ADD COLUMN stake REAL;"
    "ALTER TABLE nodes ADD COLUMN reputation REAL;"
    "ALTER TABLE requests ADD COLUMN verified INTEGER;"
    "ALTER TABLE requests ADD COLUMN accepted_wrong INTEGER;"
    "ALTER TABLE requests ADD COLUMN rounds INTEGER;"
    "CREATE TABLE violations ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), violation_id INTEGER NOT NULL,"
    " kind TEXT NOT NULL, t_ns INTEGER, request_id INTEGER, segment INTEGER,"
    " node_id INTEGER, detail TEXT, PRIMARY KEY (run_id, violation_id));"
    "DROP VIEW IF EXISTS run_summary;"
    "CREATE VIEW run_summary AS SELECT r.run_id, r.name, r.seed, r.status,"
    " r.check_status, r.events, r.sim_ns, r.wall_ms,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name = 'delivery_ratio') AS delivery_ratio,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name IN ('latency_p50', 'latency_p50_ns') ORDER BY m.name LIMIT 1)"
    "  AS latency_p50_ns,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name IN ('latency_p99', 'latency_p99_ns') ORDER BY m.name LIMIT 1)"
    "  AS latency_p99_ns,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name = 'completed_ratio') AS completed_ratio,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name IN ('request_latency_p50', 'request_latency_p50_ns') ORDER BY m.name"
    "  LIMIT 1) AS request_latency_p50_ns,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name IN ('request_latency_p99', 'request_latency_p99_ns') ORDER BY m.name"
    "  LIMIT 1) AS request_latency_p99_ns,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name = 'tokens_per_s') AS tokens_per_s,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name = 'accepted_wrong') AS accepted_wrong,"
    " (SELECT m.value FROM metrics m WHERE m.run_id = r.run_id"
    "  AND m.name = 'honest_penalised') AS honest_penalised"
    " FROM runs r;"
    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', '3'),"
    " ('created_by', 'infersim'); PRAGMA user_version = 3;";

START_TEST(test_met_db_open_migrates_v3)
{
    temp_db temp;
    char text[256];
    temp_db_make(&temp);
    raw_exec(&temp, schema_v1_sql);
    raw_exec(&temp, schema_v2_sql);
    raw_exec(&temp, schema_v3_sql);
    raw_exec(&temp, run_v1_sql);

    met_db *db = met_open_ok(&temp);
    raw_query_text(&temp,
                   "SELECT (SELECT value FROM meta WHERE key = 'schema_version') || '|' ||"
                   " user_version FROM pragma_user_version",
                   text, sizeof(text));
    ck_assert_str_eq(text, met_version_pair());
    /* The old run is kept, outside any sweep; the view sees no sweep. */
    raw_query_text(&temp,
                   "SELECT name || '|' || quote(sweep_id) || '|' || quote(point) || '|' ||"
                   " (SELECT count(*) FROM sweep_summary) || '|' ||"
                   " (SELECT count(*) FROM student_t) FROM runs",
                   text, sizeof(text));
    ck_assert_str_eq(text, "old|NULL|NULL|0|39");

    /* A sweep over the old file: three seeds of one point. */
    int64_t sweep_id = 0;
    ck_assert_int_eq(met_sweep_register(db, "sw", "base", "k=1; seeds=3", 3, 1, &sweep_id), 0);
    ck_assert_int_eq(sweep_id, 1);
    const char *keys[1] = {"k"}, *values[1] = {"1"};
    static const double samples[3] = {1.0, 2.0, 4.0};
    for (int i = 0; i < 3; i++) {
        int64_t run_id = run_begin_ok(db, "sw", (uint64_t)i + 1, NULL, 0);
        ck_assert_int_eq(met_metric_add(db, run_id, "m", samples[i], NULL), 0);
        met_run_totals totals = {0};
        ck_assert_int_eq(met_run_finish(db, run_id, "completed", &totals), 0);
        ck_assert_int_eq(met_run_tag(db, run_id, sweep_id, "k=1", keys, values, 1), 0);
        ck_assert_int_eq(met_sweep_run_done(db, sweep_id, "k=1", (uint64_t)i + 1), 1);
    }
    ck_assert_int_eq(met_sweep_run_done(db, sweep_id, "k=1", 9), 0);
    ck_assert_int_eq(met_sweep_run_done(db, sweep_id, "k=2", 1), 0);
    met_db_close(db);
    /* mean 7/3, variance ((4/3)^2 + (1/3)^2 + (5/3)^2) / 2 = 7/3, t(2) = 4.3027 */
    raw_query_text(&temp,
                   "SELECT n || '|' || printf('%.6f|%.6f|%.4f|%.6f|%.6f', mean, variance, t,"
                   " ci95_low, ci95_high) FROM sweep_summary WHERE metric = 'm'",
                   text, sizeof(text));
    ck_assert_str_eq(text, "3|2.333333|2.333333|4.3027|-1.461291|6.127958");
    temp_db_remove(&temp);
}
END_TEST

/* The additions of schema versions 4 and 5 exactly as infersim 5 made them
 * over version 3 (column, tables, index, the sweep view, meta), kept
 * verbatim so the version 6 upgrade is tested against the real old layout
 * (the run_summary and protocol_comparison views are recreated by every
 * upgrade). Do not edit. Run after schema_v3_sql. */
static const char schema_v4_v5_sql[] =
    "ALTER TABLE nodes ADD COLUMN balance REAL;"
    "CREATE TABLE sweeps ("
    " sweep_id INTEGER PRIMARY KEY, name TEXT, scenario_sha256 TEXT NOT NULL UNIQUE,"
    " spec TEXT, seeds INTEGER, points INTEGER, created_at TEXT);"
    "ALTER TABLE runs ADD COLUMN sweep_id INTEGER REFERENCES sweeps(sweep_id);"
    "ALTER TABLE runs ADD COLUMN point TEXT;"
    "CREATE INDEX runs_sweep ON runs(sweep_id, point, seed);"
    "CREATE TABLE sweep_values ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id), key TEXT NOT NULL, value TEXT,"
    " PRIMARY KEY (run_id, key));"
    "CREATE TABLE student_t (df INTEGER PRIMARY KEY, t975 REAL NOT NULL);"
    "INSERT INTO student_t VALUES (1, 12.7062), (2, 4.3027), (3, 3.1824), (4, 2.7764),"
    " (5, 2.5706), (6, 2.4469), (7, 2.3646), (8, 2.3060), (9, 2.2622), (10, 2.2281),"
    " (11, 2.2010), (12, 2.1788), (13, 2.1604), (14, 2.1448), (15, 2.1314), (16, 2.1199),"
    " (17, 2.1098), (18, 2.1009), (19, 2.0930), (20, 2.0860), (21, 2.0796), (22, 2.0739),"
    " (23, 2.0687), (24, 2.0639), (25, 2.0595), (26, 2.0555), (27, 2.0518), (28, 2.0484),"
    " (29, 2.0452), (30, 2.0423), (40, 2.0211), (50, 2.0086), (60, 2.0003), (80, 1.9901),"
    " (100, 1.9840), (120, 1.9799), (200, 1.9719), (500, 1.9647), (1000, 1.9623);"
    "CREATE VIEW sweep_summary AS"
    " WITH v AS (SELECT r.sweep_id, r.point, m.name AS metric, m.value FROM runs r"
    "  JOIN metrics m ON m.run_id = r.run_id WHERE r.sweep_id IS NOT NULL"
    "  AND r.status = 'completed' AND m.value IS NOT NULL),"
    " a AS (SELECT sweep_id, point, metric, count(*) AS n, avg(value) AS mean FROM v"
    "  GROUP BY sweep_id, point, metric),"
    " d AS (SELECT a.sweep_id, a.point, a.metric, a.n, a.mean,"
    "  CASE WHEN a.n > 1 THEN sum((v.value - a.mean) * (v.value - a.mean)) / (a.n - 1) END"
    "  AS variance FROM a JOIN v ON v.sweep_id = a.sweep_id AND v.point = a.point"
    "  AND v.metric = a.metric GROUP BY a.sweep_id, a.point, a.metric),"
    " e AS (SELECT d.*, (SELECT t975 FROM student_t WHERE df <= d.n - 1 ORDER BY df DESC"
    "  LIMIT 1) AS t FROM d)"
    " SELECT sweep_id, point, metric, n, mean, variance, sqrt(variance) AS stddev, t,"
    "  mean - t * sqrt(variance / n) AS ci95_low, mean + t * sqrt(variance / n) AS ci95_high"
    " FROM e;"
    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', '5'),"
    " ('created_by', 'infersim'); PRAGMA user_version = 5;";



static const char segment_v5_sql[] =
    "INSERT INTO segments VALUES (1, 4, 0, 2, 'gpu', 'fma', 0, 4, 150, 850, 6, 1000, 12, 64);";

/* A version 5 file with an inference run gains version 6's executions and
 * decisions tables (its segments row kept as it was) and version 7's
 * metrics.unit (old rows keep their values with a NULL unit, new rows
 * carry theirs). */
START_TEST(test_met_db_open_migrates_v5)
{
    temp_db temp;
    char text[256];
    temp_db_make(&temp);
    raw_exec(&temp, schema_v1_sql);
    raw_exec(&temp, schema_v2_sql);
    raw_exec(&temp, schema_v3_sql);
    raw_exec(&temp, schema_v4_v5_sql);
    raw_exec(&temp, run_v1_sql);
    raw_exec(&temp, segment_v5_sql);

    met_db *db = met_open_ok(&temp);
    raw_query_text(&temp,
                   "SELECT (SELECT value FROM meta WHERE key = 'schema_version') || '|' ||"
                   " user_version FROM pragma_user_version",
                   text, sizeof(text));
    ck_assert_str_eq(text, met_version_pair());
    /* The old run and its segment row are kept as they were; the new
     * tables are there, empty. */
    raw_query_text(&temp,
                   "SELECT (SELECT name FROM runs) || '|' ||"
                   " (SELECT node_id || ':' || calls || ':' || flops FROM segments) || '|' ||"
                   " (SELECT count(*) FROM executions) || '|' || (SELECT count(*) FROM decisions)"
                   " || '|' || (SELECT count(*) FROM sqlite_master WHERE name IN"
                   " ('executions_node', 'decisions_node'))",
                   text, sizeof(text));
    ck_assert_str_eq(text, "old|2:6:1000|0|0|2");

    /* The new tables take rows, for the old run too. */
    met_execution_row executions[2] = {
        {4, 0, 2, "gpu", "fma", 0, 4, 150, 850, 6, 1000, 12, 64},
        {4, 0, 3, "gpu", "fma", 0, 4, 0, 0, 0, 0, 12, 0},
    };
    ck_assert_int_eq(met_executions_add(db, 1, executions, 2), 0);
    met_decision_row decision = {
        .request_id = 4, .segment = 0, .step = 0, .round = 0, .member = 1,
        .protocol = "crossval", .member_count = 2, .node_id = 3, .role = "checker",
        .behaviour = "collude", .t_ns = 900, .action = "settle", .committed = 1,
        .answered = 1, .valid = 1, .equivocated = 0, .verdict = "proven", .accepted = 0,
        .dispute = "referee", .spot_check = 1, .reputation_before = 1.0,
        .reputation_after = 0.5, .stake_before = 10.0, .stake_after = 5.0,
    };
    ck_assert_int_eq(met_decisions_add(db, 1, &decision, 1), 0);
    ck_assert_int_eq(met_flush(db), 0);
    raw_query_text(&temp,
                   "SELECT (SELECT group_concat(node_id || ':' || calls || ':' ||"
                   " quote(start_ns), ',') FROM executions) || '|' ||"
                   " (SELECT role || verdict || dispute || spot_check || stake_after FROM"
                   " decisions)",
                   text, sizeof(text));
    ck_assert_str_eq(text, "2:6:150,3:0:NULL|checkerprovenreferee15.0");
    raw_query_text(&temp,
                   "SELECT name || '|' || value || '|' || quote(unit) FROM metrics",
                   text, sizeof(text));
    ck_assert_str_eq(text, "delivery_ratio|0.875|NULL");
    /* The unit is the last column, after the version 1 ones. */
    raw_query_text(&temp, "SELECT group_concat(name, ',') FROM pragma_table_info('metrics')",
                   text, sizeof(text));
    ck_assert_str_eq(text, "run_id,name,value,unit");
    int64_t run_id = run_begin_ok(db, "new", 2, NULL, 0);
    ck_assert_int_eq(met_metric_add(db, run_id, "request_latency_p50", 2.5e9, "ns"), 0);
    met_run_totals totals = {0};
    ck_assert_int_eq(met_run_finish(db, run_id, "completed", &totals), 0);
    met_db_close(db);
    raw_query_text(&temp,
                   "SELECT unit || '|' || (SELECT request_latency_p50_ns FROM run_summary"
                   " WHERE run_id = 2) FROM metrics WHERE run_id = 2",
                   text, sizeof(text));
    ck_assert_str_eq(text, "ns|2500000000.0");
    /* Opening again is a no-op at version 8. */
    db = met_open_ok(&temp);
    met_db_close(db);
    raw_query_text(&temp, "PRAGMA user_version", text, sizeof(text));
    ck_assert_int_eq(atoi(text), MET_SCHEMA_VERSION);
    temp_db_remove(&temp);
}
END_TEST

START_TEST(test_met_db_open_failed_migration_changes_nothing)
{
    temp_db temp;
    char text[128];
    temp_db_make(&temp);
    raw_exec(&temp, schema_v1_sql);
    raw_exec(&temp, run_v1_sql);
    /* A user's own 'divergence' table makes step 2 fail half way. */
    raw_exec(&temp, "CREATE TABLE divergence (note TEXT)");

    met_db *db = NULL;
    char why[256] = "";
    ck_assert_int_eq(met_db_open(temp.path, &db, why, sizeof(why)), MET_ESQL);
    ck_assert_ptr_null(db);
    ck_assert_ptr_nonnull(strstr(why, "schema version 2"));
    ck_assert_ptr_nonnull(strstr(why, "divergence"));
    raw_query_text(&temp, "PRAGMA user_version", text, sizeof(text));
    ck_assert_str_eq(text, "1");
    raw_query_text(&temp,
                   "SELECT count(*) FROM sqlite_master WHERE name IN ('requests', 'segments')",
                   text, sizeof(text));
    ck_assert_str_eq(text, "0");    /* rolled back */
    raw_query_text(&temp, "SELECT value FROM meta WHERE key = 'schema_version'", text,
                   sizeof(text));
    ck_assert_str_eq(text, "1");
    raw_query_text(&temp, "SELECT count(*) FROM runs", text, sizeof(text));
    ck_assert_str_eq(text, "1");
    temp_db_remove(&temp);
}
END_TEST

Suite *test_met_suite(void)
{
    Suite *suite = suite_create("met");
    TCase *schema = tcase_create("schema");
    tcase_add_unchecked_fixture(schema, temp_dir_make, temp_dir_remove);
    tcase_set_timeout(schema, 20);
    tcase_add_test(schema, test_met_db_open_creates_schema);
    tcase_add_test(schema, test_met_db_open_refuses_newer_schema);
    tcase_add_test(schema, test_met_db_open_refuses_foreign_sqlite);
    tcase_add_test(schema, test_met_db_open_refuses_damaged_file);
    tcase_add_test(schema, test_met_db_open_read_lists_and_refuses_writes);
    tcase_add_test(schema, test_met_db_open_rejects_garbage_file);
    tcase_add_test(schema, test_met_db_open_not_regular_file_fails);
    tcase_add_test(schema, test_met_db_open_unwritable_path_fails);
    tcase_add_test(schema, test_met_db_open_migrates_v1);
    tcase_add_test(schema, test_met_db_open_migrates_v5);
    tcase_add_test(schema, test_met_db_open_migrates_v2);
    tcase_add_test(schema, test_met_db_open_migrates_v3);
    tcase_add_test(schema, test_met_db_open_recreates_dropped_objects);
    tcase_add_test(schema, test_met_db_open_refuses_hand_changed_table);
    tcase_add_test(schema, test_met_db_open_failed_migration_changes_nothing);
    suite_add_tcase(suite, schema);

    TCase *runs = tcase_create("runs");
    tcase_add_unchecked_fixture(runs, temp_dir_make, temp_dir_remove);
    tcase_set_timeout(runs, 30);
    tcase_add_test(runs, test_met_run_reopen_keeps_runs);
    tcase_add_test(runs, test_met_rows_bulk_indexes);
    tcase_add_test(runs, test_met_run_lifecycle_running_to_completed);
    tcase_add_test(runs, test_met_runs_list_empty_says_no_runs);
    tcase_add_test(runs, test_met_timeseries_batched_rows_all_land);
    tcase_add_test(runs, test_met_timeseries_unknown_run_is_sql_error);
    tcase_add_test(runs, test_met_run_finish_failed_commit_is_failed);
    tcase_add_test(runs, test_met_samples_leave_the_file_unlocked);
    tcase_add_test(runs, test_met_samples_full_disk_is_reported);
    tcase_add_test(runs, test_met_db_open_waits_for_another_writer);
    tcase_add_test(runs, test_met_batch_checks_skipped_then_seen);
    tcase_add_test(runs, test_met_requests_zero_times_are_null);
    tcase_add_test(runs, test_met_run_summary_inference_columns);
    suite_add_tcase(suite, runs);

    TCase *export = tcase_create("export");
    tcase_add_unchecked_fixture(export, temp_dir_make, temp_dir_remove);
    tcase_set_timeout(export, 20);
    tcase_add_test(export, test_met_export_csv_round_trip);
    tcase_add_test(export, test_met_export_wide);
    tcase_add_test(export, test_met_export_csv_null_is_empty_field);
    tcase_add_test(export, test_met_export_jsonl_round_trip);
    tcase_add_test(export, test_met_export_json_is_valid_array);
    tcase_add_test(export, test_met_export_unknown_table_refused);
    tcase_add_test(export, test_met_export_run_filter);
    tcase_add_test(export, test_met_export_write_error_is_eio);
    tcase_add_test(export, test_met_export_inference_csv_round_trip);
    tcase_add_test(export, test_met_export_inference_jsonl_round_trip);
    suite_add_tcase(suite, export);
    return suite;
}
