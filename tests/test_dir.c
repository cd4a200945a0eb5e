/* test_dir.c -- scratch directories for the suites that run the real
 * binary (cli, sweep): made under /tmp, files written and read whole, and
 * removed with everything in them; and one way to run a scenario in the
 * simulator from a test. Not a suite of its own. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sqlite3.h>

#include "scenarios/scn.h"
#include "sim/sim.h"
#include "tests/suites.h"
#include "util/hash.h"
#include "world/world.h"

void test_dir_make(char *dir, size_t size, const char *prefix)
{
    snprintf(dir, size, "/tmp/infersim-%s-XXXXXX", prefix);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

void test_dir_remove(const char *dir)
{
    char command[512];
    snprintf(command, sizeof(command), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(command), 0);
}

void test_dir_path(const char *dir, const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", dir, name);
}

void test_dir_write(const char *dir, const char *name, const char *text)
{
    char path[512];
    test_dir_path(dir, name, path, sizeof(path));
    FILE *file = fopen(path, "w");
    ck_assert_ptr_nonnull(file);
    fputs(text, file);
    fclose(file);
}

const char *test_dir_read(const char *dir, const char *name)
{
    static char buffer[1 << 20];
    char path[512];
    test_dir_path(dir, name, path, sizeof(path));
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return "";
    }
    size_t size = fread(buffer, 1, sizeof(buffer) - 1, file);
    buffer[size] = '\0';
    fclose(file);
    return buffer;
}

void test_stderr_silence(void)
{
    fflush(stderr);
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
        dup2(null, STDERR_FILENO);
        close(null);
    }
}

char *test_db_query(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *statement = NULL;
    size_t size = 0;
    char *text = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &statement, NULL), SQLITE_OK);
    FILE *out = open_memstream(&text, &size);
    while (sqlite3_step(statement) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(statement); i++) {
            const unsigned char *value = sqlite3_column_text(statement, i);
            fprintf(out, "%s%s", i ? "|" : "", value ? (const char *)value : "NULL");
        }
        fputc('\n', out);
    }
    sqlite3_finalize(statement);
    sqlite3_close(db);
    fclose(out);
    return text;
}

static world_result *test_sim_run(scn_scenario *scenario, uint32_t threads)
{
    world_result *result = NULL;
    world_observer observer = {NULL, NULL, NULL, NULL, NULL, threads, false};
    ck_assert_int_eq(sim_run(scenario, threads > 0 ? &observer : NULL, NULL, &result), 0);
    scn_destroy(scenario);
    return result;
}

world_result *test_sim_run_yaml(const char *name, const char *yaml, const char *const *overrides,
                                size_t count, uint32_t threads)
{
    scn_scenario *scenario = NULL;
    scn_error error;
    ck_assert_int_eq(util_hash_init(), 0);
    int rc = scn_load_string(name, yaml, overrides, count, &scenario, &error);
    ck_assert_msg(rc == 0, "%s:%d:%d: %s", name, error.line, error.column, error.message);
    return test_sim_run(scenario, threads);
}

world_result *test_sim_run_file(const char *path, const char *const *overrides, size_t count,
                                uint32_t threads)
{
    scn_scenario *scenario = NULL;
    scn_error error;
    ck_assert_int_eq(util_hash_init(), 0);
    int rc = scn_load_file(path, overrides, count, &scenario, &error);
    ck_assert_msg(rc == 0, "%s:%d:%d: %s", path, error.line, error.column, error.message);
    return test_sim_run(scenario, threads);
}
