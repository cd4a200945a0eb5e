/* tool_netns.c -- a deployment across hosts tried on one machine: every
 * host of a hosts file becomes a network namespace (infersim-PID-I) with
 * one end of a veth pair (isvPIDhI, whose other end, eth0, carries the
 * host's address inside) on a bridge (isbPID), and runs
 * `infersim testbed ... --host-index I --deploy-dir D` inside it. The
 * hosts share this machine's disk, so the deployment directory and the
 * database are shared as they would be over NFS. Everything is named by
 * the launcher's pid and removed when it ends (after SIGINT too); what a
 * launcher that died left behind is removed by the next one. Needs root
 * (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2's `ip`. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testbed/tb.h"
#include "tools/tool.h"
#include "util/alloc.h"

#define NETNS_RUN_DIR "/run/netns"
#define NETNS_PREFIX "infersim-"

/* Runs `ip ARGS...`; its exit status (-1 when it cannot run). stdout and,
 * when 'quiet', stderr go to /dev/null. */
static int netns_ip(bool quiet, const char *const *args)
{
    const char *argv[24];
    size_t n = 0;
    argv[n++] = "ip";
    while (*args != NULL && n < 23) {
        argv[n++] = *args++;
    }
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            if (quiet) {
                dup2(null, 2);
            }
        }
        execvp("ip", (char *const *)argv);
        execv("/usr/sbin/ip", (char *const *)argv); /* root's PATH may lack sbin */
        execv("/sbin/ip", (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#define IP(quiet, ...) netns_ip(quiet, (const char *const[]){__VA_ARGS__, NULL})

/* Whether the launcher 'pid' named in a leftover is gone. */
static bool netns_owner_dead(long pid)
{
    return pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Removes the namespaces and links of launchers that are no longer
 * running: infersim-PID-I in /run/netns, isbPID and isvPIDhI links. */
static void netns_clean_stale(void)
{
    DIR *dir = opendir(NETNS_RUN_DIR);
    struct dirent *entry;
    while (dir != NULL && (entry = readdir(dir)) != NULL) {
        long pid = 0;
        unsigned index = 0;
        if (sscanf(entry->d_name, NETNS_PREFIX "%ld-%u", &pid, &index) == 2 &&
            netns_owner_dead(pid)) {
            fprintf(stderr, "infersim testbed: removing stale namespace %s\n", entry->d_name);
            IP(true, "netns", "del", entry->d_name);
        }
    }
    if (dir != NULL) {
        closedir(dir);
    }
    dir = opendir("/sys/class/net");
    while (dir != NULL && (entry = readdir(dir)) != NULL) {
        long pid = 0;
        unsigned index = 0;
        bool ours = sscanf(entry->d_name, "isb%ld", &pid) == 1 ||
                    sscanf(entry->d_name, "isv%ldh%u", &pid, &index) == 2;
        if (ours && strncmp(entry->d_name, "is", 2) == 0 && netns_owner_dead(pid)) {
            fprintf(stderr, "infersim testbed: removing stale link %s\n", entry->d_name);
            IP(true, "link", "del", entry->d_name);
        }
    }
    if (dir != NULL) {
        closedir(dir);
    }
}

typedef struct netns_names {
    char bridge[32];                 /* at most 15 characters (IFNAMSIZ) in use */
    char netns[TB_PROCESSES_MAX][48];
    char veth[TB_PROCESSES_MAX][32]; /* likewise: isv + 7 digits + h + 2 digits */
} netns_names;

static void netns_names_make(netns_names *names, uint32_t count)
{
    long pid = (long)getpid();
    snprintf(names->bridge, sizeof(names->bridge), "isb%ld", pid);
    for (uint32_t i = 0; i < count; i++) {
        snprintf(names->netns[i], sizeof(names->netns[i]), NETNS_PREFIX "%ld-%u", pid, i);
        snprintf(names->veth[i], sizeof(names->veth[i]), "isv%ldh%u", pid, i);
    }
}

/* The hosts must be distinct addresses of one /24 (one bridge, no router). */
static bool netns_addresses_check(const tb_hosts *hosts, const char *path)
{
    for (uint32_t i = 0; i < hosts->count; i++) {
        uint32_t a = ntohl(hosts->hosts[i].address), first = ntohl(hosts->hosts[0].address);
        bool clash = false;
        for (uint32_t j = 0; j < i; j++) {
            clash = clash || hosts->hosts[j].address == hosts->hosts[i].address;
        }
        if ((a >> 8) != (first >> 8) || clash || (a & 0xffu) == 0 || (a & 0xffu) == 255) {
            fprintf(stderr, "infersim testbed: --netns: %s: host %u (%s): the hosts need "
                            "distinct addresses of one /24 (as %s's), one per namespace\n",
                    path, i, hosts->hosts[i].name, hosts->hosts[0].name);
            return false;
        }
    }
    return true;
}

/* Deletes what netns_up made (deleting a namespace deletes its veth). */
static void netns_down(const netns_names *names, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        IP(true, "netns", "del", names->netns[i]);
        IP(true, "link", "del", names->veth[i]);
    }
    IP(true, "link", "del", names->bridge);
}

static int netns_host_up(const netns_names *names, const tb_host *host, uint32_t i)
{
    char address[32];
    struct in_addr in = {host->address};
    snprintf(address, sizeof(address), "%s/24", inet_ntoa(in));
    const char *ns = names->netns[i];
    if (IP(false, "netns", "add", ns) != 0 ||
        IP(false, "link", "add", names->veth[i], "type", "veth", "peer", "name", "eth0",
           "netns", ns) != 0 ||
        IP(false, "link", "set", names->veth[i], "master", names->bridge, "up") != 0 ||
        IP(false, "-n", ns, "addr", "add", address, "dev", "eth0") != 0 ||
        IP(false, "-n", ns, "link", "set", "eth0", "up") != 0 ||
        IP(false, "-n", ns, "link", "set", "lo", "up") != 0) {
        return -1;
    }
    return 0;
}

/* The bridge and one namespace per host. Returns 0, or -1 after undoing
 * what it made (said on stderr). */
static int netns_up(const netns_names *names, const tb_hosts *hosts)
{
    int rc = IP(false, "link", "add", names->bridge, "type", "bridge") == 0 &&
                     IP(false, "link", "set", names->bridge, "up") == 0
                 ? 0
                 : -1;
    for (uint32_t i = 0; rc == 0 && i < hosts->count; i++) {
        rc = netns_host_up(names, &hosts->hosts[i], i);
    }
    if (rc != 0) {
        fprintf(stderr, "infersim testbed: --netns: cannot make the namespaces and links "
                        "(root with CAP_NET_ADMIN and iproute2's ip are needed)\n");
        netns_down(names, hosts->count);
    }
    return rc;
}

/* Host i's command: ours without --netns, with --host-index i and the
 * deployment directory. 'args' has room for argc + 6. */
static void netns_args(int argc, char **argv, uint32_t i, const char *dir, char *index,
                       size_t index_size, char **args)
{
    int n = 0;
    args[n++] = "infersim";
    args[n++] = "testbed";
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--netns") != 0) {
            args[n++] = argv[a];
        }
    }
    snprintf(index, index_size, "%u", i);
    args[n++] = "--host-index";
    args[n++] = index;
    args[n++] = "--deploy-dir";
    args[n++] = (char *)dir;
    args[n] = NULL;
}

/* Starts host i's testbed inside its namespace; its pid or -1. It gets
 * SIGTERM if we die, and stops its processes as on any SIGTERM. */
static pid_t netns_spawn(int argc, char **argv, const netns_names *names, uint32_t i,
                         const char *dir)
{
    char **args = util_calloc((size_t)argc + 8, sizeof(*args));
    if (args == NULL) {
        return -1;
    }
    char index[16], path[128];
    netns_args(argc, argv, i, dir, index, sizeof(index), args);
    snprintf(path, sizeof(path), NETNS_RUN_DIR "/%s", names->netns[i]);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (getppid() != parent || fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
            fprintf(stderr, "infersim testbed: cannot enter %s: %s\n", path, strerror(errno));
            _exit(TOOL_EXIT_INTERNAL);
        }
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        execv("/proc/self/exe", args);
        _exit(127);
    }
    util_free(args);
    return pid;
}

/* Waits for every host; on *stop, SIGTERM to each once. Returns host 0's
 * exit code, else the first failing host's. */
static int netns_wait(const pid_t *pids, uint32_t count, volatile sig_atomic_t *stop)
{
    int codes[TB_PROCESSES_MAX] = {0};
    uint32_t left = 0;
    bool forwarded = false;
    for (uint32_t i = 0; i < count; i++) {
        codes[i] = pids[i] > 0 ? 0 : TOOL_EXIT_INTERNAL;
        left += pids[i] > 0;
    }
    while (left > 0) {
        int status = 0;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0 && errno == EINTR) {
            for (uint32_t i = 0; *stop && !forwarded && i < count; i++) {
                if (pids[i] > 0) {
                    kill(pids[i], SIGTERM);
                }
            }
            forwarded = forwarded || *stop;
            continue;
        }
        if (pid < 0) {
            break;
        }
        for (uint32_t i = 0; i < count; i++) {
            if (pids[i] == pid) {
                codes[i] = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                left -= 1;
            }
        }
    }
    for (uint32_t i = 0; codes[0] == 0 && i < count; i++) {
        if (codes[i] != 0) {
            return codes[i];
        }
    }
    return codes[0];
}

/* Removes the deployment directory and what the hosts wrote in it. */
static void netns_dir_remove(const char *path)
{
    DIR *dir = opendir(path);
    struct dirent *entry;
    char file[4400];
    while (dir != NULL && (entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) {
            snprintf(file, sizeof(file), "%s/%s", path, entry->d_name);
            unlink(file);
        }
    }
    if (dir != NULL) {
        closedir(dir);
    }
    rmdir(path);
}

int tool_netns_testbed(int argc, char **argv, const tb_hosts *hosts, volatile sig_atomic_t *stop)
{
    const char *path = NULL;
    for (int a = 1; a + 1 < argc && path == NULL; a++) {
        path = strcmp(argv[a], "--hosts") == 0 ? argv[a + 1] : NULL;
    }
    if (!netns_addresses_check(hosts, path != NULL ? path : "--hosts")) {
        return TOOL_EXIT_USAGE;
    }
    netns_clean_stale();
    netns_names *names = util_calloc(1, sizeof(*names));
    if (names == NULL) {
        return TOOL_EXIT_INTERNAL;
    }
    netns_names_make(names, hosts->count);
    char dir[4096];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/infersim-deploy-XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    int code = TOOL_EXIT_USAGE;
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "infersim testbed: cannot make %s: %s\n", dir, strerror(errno));
    } else if (netns_up(names, hosts) == 0) {
        pid_t pids[TB_PROCESSES_MAX];
        for (uint32_t i = 0; i < hosts->count; i++) {
            pids[i] = *stop ? -1 : netns_spawn(argc, argv, names, i, dir);
        }
        code = netns_wait(pids, hosts->count, stop);
        netns_down(names, hosts->count);
    }
    if (strstr(dir, "XXXXXX") == NULL) {
        netns_dir_remove(dir);
    }
    util_free(names);
    return code;
}
