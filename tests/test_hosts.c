/* test_hosts.c -- the testbed across hosts: the hosts file (every error at
 * file:line:col), a host that never comes (a clear error and a run marked
 * failed), and a real deployment over network namespaces of this machine
 * (root only: it prints why it skips otherwise): every request of the
 * scenario in one run, and no namespace or link left behind, after SIGINT
 * too, while a dead launcher's leftovers are removed. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testbed/tb.h"
#include "tests/suites.h"

#define HOSTS_SCENARIO "scenarios/testbed_small.yaml"

/* ---- the hosts file ---- */

START_TEST(test_hosts_parse_numbers_processes)
{
    static const char text[] = "# a deployment\n"
                               "\n"
                               "10.1.2.3:7000-7003   # two processes\r\n"
                               "  localhost:9000-9005\n"
                               "10.1.2.3:7004-7005";
    tb_hosts hosts;
    char why[256] = "";
    ck_assert_int_eq(tb_hosts_parse("h", text, sizeof(text) - 1, &hosts, why, sizeof(why)), 0);
    ck_assert_uint_eq(hosts.count, 3);
    ck_assert_uint_eq(hosts.process_count, 6);
    ck_assert_str_eq(hosts.hosts[0].name, "10.1.2.3");
    ck_assert_str_eq(hosts.hosts[1].name, "localhost");
    ck_assert_uint_eq(hosts.hosts[1].address, htonl(0x7f000001u));
    ck_assert_uint_eq(hosts.hosts[1].process_first, 2);
    ck_assert_uint_eq(hosts.hosts[1].process_count, 3);
    ck_assert_uint_eq(hosts.hosts[2].port_first, 7004);
    uint32_t expected[6] = {0, 0, 1, 1, 1, 2};
    for (uint32_t p = 0; p < 6; p++) {
        ck_assert_uint_eq(tb_hosts_host_of(&hosts, p), expected[p]);
    }
}
END_TEST

static const struct {
    const char *text;
    const char *why;
} hosts_bad[] = {
    {"10.0.0.1:7000-7003\n10.0.0.2 7000-7003\n",
     "h:2:9: unexpected blank inside host:first-last"},
    {"10.0.0.1\n", "h:1:9: expected ':' and a port range (host:first-last)"},
    {":7000-7001\n", "h:1:1: expected a host before ':' (host:first-last)"},
    {"10.0.0.1:7000\n", "h:1:14: expected '-' and the last port of the range (host:first-last)"},
    {"10.0.0.1:7000-70000\n", "h:1:15: expected a port 1..65535"},
    {"10.0.0.1:x-7001\n", "h:1:10: expected a port 1..65535"},
    {"10.0.0.1:7003-7000\n", "h:1:15: the last port is below the first"},
    {"  10.0.0.1:7000-7002\n",
     "h:1:12: each process takes two ports (frames, HTTP): give a range of an even count"},
    {"10.0.0.1:7000-7001x\n", "h:1:19: unexpected text after the port range"},
    {"10.0.0.1:7000-7003\n10.0.0.1:7002-7005\n",
     "h:2:1: this host's ports overlap an earlier line's"},
    {"10.0.0.1:7000-7099\n10.0.0.2:7000-7031\n", "h:2:10: more than 64 processes in all"},
    {"fe80::1:7000-7001\n", "h:1:1: not a host name or IPv4 address (IPv6 is not supported)"},
    {"no-such-host.invalid:7000-7001\n",
     "h:1:1: cannot resolve 'no-such-host.invalid' to an IPv4 address"},
    {"# nothing\n\n", "h:2:1: no hosts (one host:first-last a line)"},
    {"", "h:1:1: no hosts (one host:first-last a line)"},
};

START_TEST(test_hosts_parse_errors_name_line_and_column)
{
    tb_hosts hosts;
    char why[256] = "";
    int rc = tb_hosts_parse("h", hosts_bad[_i].text, strlen(hosts_bad[_i].text), &hosts, why,
                            sizeof(why));
    ck_assert_int_eq(rc, TB_EINVAL);
    ck_assert_str_eq(why, hosts_bad[_i].why);
}
END_TEST

/* ---- the binary ---- */

/* Starts `infersim ARGS` with stdout and stderr into 'log'; its pid. */
static pid_t hosts_start(const char *args, const char *log)
{
    char command[4096];
    snprintf(command, sizeof(command), "exec %s %s > %s 2>&1", test_infersim_bin(), args, log);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) {
            _exit(127);
        }
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int hosts_wait(pid_t pid)
{
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int hosts_run(const char *args, const char *log)
{
    return hosts_wait(hosts_start(args, log));
}

START_TEST(test_hosts_cli_refuses_bad_files_and_options)
{
    char dir[256], hosts[512], log[512], args[2048];
    test_dir_make(dir, sizeof(dir), "hosts");
    test_dir_write(dir, "hosts", "127.0.0.1:7000-7003\n127.0.0.2:7000-7002\n");
    test_dir_path(dir, "hosts", hosts, sizeof(hosts));
    test_dir_path(dir, "log", log, sizeof(log));
    snprintf(args, sizeof(args), "testbed %s --hosts %s --host-index 0 --deploy-dir %s",
             HOSTS_SCENARIO, hosts, dir);
    ck_assert_int_eq(hosts_run(args, log), 2);
    ck_assert_ptr_nonnull(strstr(test_dir_read(dir, "log"), "hosts:2:11: each process takes"));
    test_dir_write(dir, "hosts", "127.0.0.1:7000-7003\n");
    snprintf(args, sizeof(args), "testbed %s --hosts %s --processes 2", HOSTS_SCENARIO, hosts);
    ck_assert_int_eq(hosts_run(args, log), 2);
    ck_assert_ptr_nonnull(strstr(test_dir_read(dir, "log"), "drop --processes"));
    snprintf(args, sizeof(args), "testbed %s --hosts %s", HOSTS_SCENARIO, hosts);
    ck_assert_int_eq(hosts_run(args, log), 2);
    ck_assert_ptr_nonnull(strstr(test_dir_read(dir, "log"), "needs --host-index I"));
    snprintf(args, sizeof(args), "testbed %s --hosts %s --host-index 1 --deploy-dir %s",
             HOSTS_SCENARIO, hosts, dir);
    ck_assert_int_eq(hosts_run(args, log), 2);
    ck_assert_ptr_nonnull(strstr(test_dir_read(dir, "log"), "has 1 host(s)"));
    test_dir_remove(dir);
}
END_TEST

/* Host 0 of two, alone: host 1's keys never come. A clear error, exit 3,
 * and the run is marked failed, not left looking complete. */
START_TEST(test_hosts_absent_host_fails_the_run)
{
    char dir[256], deploy[512], hosts[512], log[512], db[512], args[2048], text[128];
    test_dir_make(dir, sizeof(dir), "hosts");
    unsigned port = 20000 + (unsigned)getpid() % 20000;
    snprintf(text, sizeof(text), "127.0.0.1:%u-%u\n127.0.0.2:%u-%u\n", port, port + 3, port,
             port + 3);
    test_dir_write(dir, "hosts", text);
    test_dir_path(dir, "hosts", hosts, sizeof(hosts));
    test_dir_path(dir, "log", log, sizeof(log));
    test_dir_path(dir, "r.db", db, sizeof(db));
    test_dir_path(dir, "deploy", deploy, sizeof(deploy));
    ck_assert_int_eq(mkdir(deploy, 0700), 0);
    snprintf(args, sizeof(args),
             "testbed %s --hosts %s --host-index 0 --deploy-dir %s --wait 1 --db %s",
             HOSTS_SCENARIO, hosts, deploy, db);
    ck_assert_int_eq(hosts_run(args, log), 3);
    ck_assert_ptr_nonnull(strstr(test_dir_read(dir, "log"),
                                 "host 1 (127.0.0.2) published no keys"));
    char *rows = test_db_query(db, "SELECT status, error IS NOT NULL FROM runs");
    ck_assert_str_eq(rows, "failed|1\n");
    free(rows);
    /* The directory served that deployment: the next one is refused. */
    ck_assert_int_eq(hosts_run(args, log), 2);
    ck_assert_ptr_nonnull(strstr(test_dir_read(dir, "log"), "serves one deployment"));
    char command[600];
    snprintf(command, sizeof(command), "rm -rf '%s'", deploy);
    ck_assert_int_eq(system(command), 0);
    test_dir_remove(dir);
}
END_TEST

/* ---- network namespaces as hosts ---- */

/* Why namespaces cannot be tried here, or NULL when they can. */
static const char *hosts_netns_refused(void)
{
    if (geteuid() != 0) {
        return "not root";
    }
    char command[256];
    snprintf(command, sizeof(command),
             "ip netns add infersim-probe-%ld >/dev/null 2>&1 && "
             "ip netns del infersim-probe-%ld", (long)getpid(), (long)getpid());
    return system(command) == 0 ? NULL : "network namespaces refused (ip netns add failed)";
}

/* How many namespaces (infersim-PID-*) and links (isbPID, isvPIDh*) of
 * launcher 'pid' exist. */
static int hosts_leftovers(long pid)
{
    char prefix[3][48];
    snprintf(prefix[0], sizeof(prefix[0]), "infersim-%ld-", pid);
    snprintf(prefix[1], sizeof(prefix[1]), "isb%ld", pid);
    snprintf(prefix[2], sizeof(prefix[2]), "isv%ldh", pid);
    int found = 0;
    DIR *dir = opendir("/run/netns");
    struct dirent *entry;
    while (dir != NULL && (entry = readdir(dir)) != NULL) {
        found += strncmp(entry->d_name, prefix[0], strlen(prefix[0])) == 0;
    }
    if (dir != NULL) {
        closedir(dir);
    }
    dir = opendir("/sys/class/net");
    while (dir != NULL && (entry = readdir(dir)) != NULL) {
        found += strcmp(entry->d_name, prefix[1]) == 0;
        found += strncmp(entry->d_name, prefix[2], strlen(prefix[2])) == 0;
    }
    if (dir != NULL) {
        closedir(dir);
    }
    return found;
}

/* A pid no process has now: a child's, once reaped. */
static long hosts_dead_pid(void)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        _exit(0);
    }
    hosts_wait(pid);
    return (long)pid;
}

static void hosts_netns_files(char *dir, size_t size, char *args, size_t args_size,
                              const char *extra)
{
    char hosts[512], db[512], ports[512];
    test_dir_make(dir, size, "hosts");
    test_dir_write(dir, "hosts", "10.77.0.1:7000-7003\n10.77.0.2:7000-7003\n"
                                 "10.77.0.3:7000-7005   # three processes\n");
    test_dir_path(dir, "hosts", hosts, sizeof(hosts));
    test_dir_path(dir, "r.db", db, sizeof(db));
    test_dir_path(dir, "ports", ports, sizeof(ports));
    snprintf(args, args_size, "testbed %s --hosts %s --netns --db %s --ports-file %s %s",
             HOSTS_SCENARIO, hosts, db, ports, extra);
}

START_TEST(test_hosts_netns_deployment_runs_every_request)
{
    const char *refused = hosts_netns_refused();
    if (refused != NULL) {
        printf("hosts: netns deployment skipped: %s\n", refused);
        return;
    }
    long dead = hosts_dead_pid();
    char command[512];
    snprintf(command, sizeof(command),
             "ip netns add infersim-%ld-0 && ip link add isb%ld type bridge", dead, dead);
    ck_assert_int_eq(system(command), 0); /* what a launcher that died left */
    ck_assert_int_eq(hosts_leftovers(dead), 2);
    char dir[256], args[4096], log[512], db[512];
    hosts_netns_files(dir, sizeof(dir), args, sizeof(args), "--check");
    test_dir_path(dir, "log", log, sizeof(log));
    test_dir_path(dir, "r.db", db, sizeof(db));
    pid_t launcher = hosts_start(args, log);
    int code = hosts_wait(launcher);
    ck_assert_msg(code == 0, "exit %d: %s", code, test_dir_read(dir, "log"));
    ck_assert_int_eq(hosts_leftovers(dead), 0);
    ck_assert_int_eq(hosts_leftovers((long)launcher), 0);
    char *rows = test_db_query(db, "SELECT COUNT(*), MIN(status), MIN(check_status) FROM runs");
    ck_assert_str_eq(rows, "1|completed|passed\n");
    free(rows);
    /* Every host's clients' requests, every host's nodes, in that one run. */
    rows = test_db_query(db, "SELECT COUNT(*), SUM(status = 'completed') FROM requests");
    ck_assert_str_eq(rows, "12|12\n");
    free(rows);
    rows = test_db_query(db, "SELECT COUNT(*) FROM nodes");
    ck_assert_str_eq(rows, "7\n");
    free(rows);
    rows = test_db_query(db, "SELECT value FROM metrics WHERE name = 'requests_completed'");
    ck_assert_str_eq(rows, "12.0\n");
    free(rows);
    rows = test_db_query(db, "SELECT key, value FROM params WHERE key LIKE 'testbed.host%' "
                             "ORDER BY key");
    ck_assert_str_eq(rows, "testbed.host.0|10.77.0.1:7000-7003\n"
                           "testbed.host.1|10.77.0.2:7000-7003\n"
                           "testbed.host.2|10.77.0.3:7000-7005\n"
                           "testbed.hosts|3\n");
    free(rows);
    ck_assert_ptr_nonnull(strstr(test_dir_read(dir, "ports.2"), "http://10.77.0.3:7005"));
    test_dir_remove(dir);
}
END_TEST

START_TEST(test_hosts_netns_sigint_tears_down)
{
    const char *refused = hosts_netns_refused();
    if (refused != NULL) {
        printf("hosts: netns SIGINT skipped: %s\n", refused);
        return;
    }
    char dir[256], args[4096], log[512], db[512];
    hosts_netns_files(dir, sizeof(dir), args, sizeof(args), "--quiet --duration 60");
    test_dir_path(dir, "log", log, sizeof(log));
    test_dir_path(dir, "r.db", db, sizeof(db));
    pid_t launcher = hosts_start(args, log);
    for (int i = 0; i < 3000 && test_dir_read(dir, "ports.2")[0] == '\0'; i++) {
        struct timespec pause = {0, 10000000};
        nanosleep(&pause, NULL);
    }
    ck_assert_msg(test_dir_read(dir, "ports.2")[0] != '\0', "%s", test_dir_read(dir, "log"));
    ck_assert_int_gt(hosts_leftovers((long)launcher), 0);
    kill(launcher, SIGINT);
    ck_assert_int_eq(hosts_wait(launcher), 128 + SIGINT);
    ck_assert_int_eq(hosts_leftovers((long)launcher), 0);
    char *rows = test_db_query(db, "SELECT status FROM runs");
    ck_assert_str_eq(rows, "aborted\n");
    free(rows);
    test_dir_remove(dir);
}
END_TEST

Suite *test_hosts_suite(void)
{
    Suite *suite = suite_create("hosts");
    TCase *file = tcase_create("file");
    tcase_add_test(file, test_hosts_parse_numbers_processes);
    tcase_add_loop_test(file, test_hosts_parse_errors_name_line_and_column, 0,
                        (int)(sizeof(hosts_bad) / sizeof(hosts_bad[0])));
    suite_add_tcase(suite, file);
    TCase *cli = tcase_create("cli");
    tcase_set_timeout(cli, 120);
    tcase_add_test(cli, test_hosts_cli_refuses_bad_files_and_options);
    tcase_add_test(cli, test_hosts_absent_host_fails_the_run);
    suite_add_tcase(suite, cli);
    TCase *netns = tcase_create("netns");
    tcase_set_timeout(netns, 240);
    tcase_add_test(netns, test_hosts_netns_deployment_runs_every_request);
    tcase_add_test(netns, test_hosts_netns_sigint_tears_down);
    suite_add_tcase(suite, netns);
    return suite;
}
