/* tb_launch.c -- the launcher: binds every process's listening sockets on
 * 127.0.0.1 first (so ports are known before anyone starts and survive a
 * restart), forks the node processes, applies the scenario's crash faults
 * in real time (kill -9 of the processes hosting the selected nodes, and a
 * restart with the same sockets when the fault ends), and at the end stops
 * the processes one at a time, collecting each one's summary through a
 * pipe. Children die with the launcher (PR_SET_PDEATHSIG): no orphans.
 *
 * Keys: unless the caller names a key directory (infersim keygen), the
 * launcher draws fresh keys, writes them into a private run directory
 * (mode 0700; one 0600 file per node) and wipes them from its memory
 * before the first fork, so a child inherits no secret: each reads the
 * key files of its own nodes. The run directory is removed at the end. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "consensus/cons.h"
#include "testbed/tb_int.h"
#include "util/alloc.h"
#include "util/assert.h"

typedef struct launch_child {
    pid_t pid;
    int summary_fd;                  /* read end of the child's summary pipe */
    uint32_t generation;
    bool down;                       /* killed by a crash fault, restart pending */
    uint64_t reaped_ns;              /* CLOCK_MONOTONIC when its last life was reaped */
} launch_child;

typedef struct launch_state {
    const tb_launch_config *config;
    tb_process_config base;
    int peer_fds[TB_PROCESSES_MAX];
    int http_fds[TB_PROCESSES_MAX];
    launch_child children[TB_PROCESSES_MAX];
    int summary_write_fd;            /* in a child: where its summary goes */
    world_host *host;                  /* fault selections only */
    tb_snapshot *snapshots;          /* shared with the children: one per process */
    tb_settled settled;              /* verification.draw_epoch: the shared log */
    tb_chain chain;                  /* a ledger section: the committed chain */
    tb_summary lost;                 /* lives that ended without a summary, summed */
    volatile sig_atomic_t *stop;     /* the caller's stop flag, or NULL */
    char run_dir[4096];              /* the private key directory we made, or "" */
} launch_state;

#define LAUNCH_STOP_WAIT_NS (UINT64_C(20) * 1000000000u)  /* per process, to write its rows,
                                                          * after a stop signal */
#define LAUNCH_STOP_NOTICE_NS (UINT64_C(2) * 1000000000u) /* then the wait is said */

static uint64_t monotonic_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

/* A listening socket on 'address' (network byte order; 0: 127.0.0.1). */
static int listen_on(uint32_t address_ipv4, uint16_t port, uint16_t *port_out)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in address;
    memset(&address, 0, sizeof(address));
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = address_ipv4 != 0 ? address_ipv4 : htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    socklen_t length = sizeof(address);
    if (bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&address, &length) != 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    *port_out = ntohs(address.sin_port);
    return fd;
}

/* Whether this launcher runs process p (across hosts: its host's only). */
static bool launch_local(const launch_state *state, uint32_t p)
{
    const tb_hosts *hosts = state->config->hosts;
    if (hosts == NULL) {
        return true;
    }
    const tb_host *host = &hosts->hosts[state->config->host_index];
    return p >= host->process_first && p < host->process_first + host->process_count;
}

static void child_on_stop(void *context, const tb_process_config *config,
                          const world_result *result, const tb_summary *summary)
{
    launch_state *state = context;
    if (state->config->on_stop != NULL) {
        state->config->on_stop(state->config->context, config, result, summary);
    }
    ssize_t written = write(state->summary_write_fd, summary, sizeof(*summary));
    (void)written; /* The launcher counts a missing summary as a lost process. */
}

static int spawn(launch_state *state, uint32_t p)
{
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) {
        return TB_ESYS;
    }
    if (state->snapshots != NULL) {
        /* A new life counts from zero: its slot starts empty. */
        memset(&state->snapshots[p], 0, sizeof(state->snapshots[p]));
    }
    pid_t parent = getpid();
    /* A stop signal that comes before the child's handlers are in stays
     * pending until they are (tb_process_run unblocks it): the child then
     * stops as a running one does, its rows written, instead of dying of
     * it -- a run shorter than the processes' start-up lost every row. */
    sigset_t stops, before;
    tb__stop_signals(&stops);
    sigprocmask(SIG_BLOCK, &stops, &before);
    pid_t pid = fork();
    if (pid != 0) {
        sigprocmask(SIG_SETMASK, &before, NULL);
    }
    if (pid < 0) {
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        return TB_ESYS;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(3); /* The launcher died before we could ask. */
        }
        close(pipe_fds[0]);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        tb_process_config config = state->base;
        config.process = p;
        config.peer_fd = state->peer_fds[p];
        config.http_fd = state->http_fds[p];
        config.generation = state->children[p].generation;
        config.fresh_after_ns = state->children[p].generation > 0 ? state->children[p].reaped_ns
                                                                  : state->base.epoch_ns;
        config.on_stop = child_on_stop;
        config.snapshot = state->snapshots != NULL ? &state->snapshots[p] : NULL;
        config.context = state;
        state->summary_write_fd = pipe_fds[1];
        int rc = tb_process_run(&config);
        if (rc != 0) {
            fprintf(stderr, "infersim testbed: process %u: %s\n", p,
                    rc <= TB_EMALFORMED && rc >= TB_EKEYS ? tb_strerror(rc) : world_strerror(rc));
        }
        _exit(rc == 0 ? 0 : 3);
    }
    close(pipe_fds[1]);
    state->children[p].pid = pid;
    state->children[p].summary_fd = pipe_fds[0];
    state->children[p].down = false;
    return 0;
}

/* The processes hosting any node of crash fault 'index'. */
static void crash_processes(launch_state *state, uint32_t index, bool *hit, uint32_t *nodes)
{
    uint32_t n = state->config->scenario->nodes.count;
    uint8_t *selected = util_calloc(n, 1);
    memset(hit, 0, sizeof(bool) * TB_PROCESSES_MAX);
    *nodes = 0;
    if (selected == NULL) {
        return;
    }
    *nodes = world_host_fault_nodes(state->host, index, selected, NULL);
    for (uint32_t i = 0; i < n; i++) {
        if (selected[i]) {
            hit[i % state->config->process_count] = true;
        }
    }
    util_free(selected);
}

/* Whether the caller has asked for the processes to stop at once. */
static bool launch_hurried(const launch_state *state)
{
    return state->config->hurry != NULL && *state->config->hurry != 0;
}

/* One stopping process's wait to write its rows: its deadline moves when
 * a stop signal comes during a run's end (stop_wait_ns), and the first
 * process slow to write them is said, once. */
typedef struct stop_wait {
    uint64_t started_ns;             /* SIGTERM sent */
    uint64_t notice_ns;              /* when to say the wait; 0: said, or not to say */
    uint32_t process;
    uint32_t left;                   /* processes still to stop, this one included */
} stop_wait;

/* Whether a stop signal came (the caller's stop flag). */
static bool launch_signalled(const launch_state *state)
{
    return state->stop != NULL && *state->stop != 0;
}

/* How long each process may take to write its rows: after a stop signal
 * LAUNCH_STOP_WAIT_NS, at the run's end the caller's wait. */
static uint64_t stop_wait_ns(const launch_state *state)
{
    uint64_t end = state->config->end_wait_ns;
    return launch_signalled(state) || end < LAUNCH_STOP_WAIT_NS ? LAUNCH_STOP_WAIT_NS : end;
}

/* Whether the wait is over: its deadline passed, or the caller hurries. */
static bool stop_wait_over(const launch_state *state, const stop_wait *wait, uint64_t now_ns)
{
    return now_ns >= wait->started_ns + stop_wait_ns(state) || launch_hurried(state);
}

static void stop_wait_say(const launch_state *state, stop_wait *wait)
{
    char then[96] = "another";
    if (!launch_signalled(state)) {
        snprintf(then, sizeof(then), "a stop signal cuts that to %llu s, a second",
                 (unsigned long long)(LAUNCH_STOP_WAIT_NS / 1000000000u));
    }
    fprintf(stderr, "infersim testbed: waiting for process %u to write its rows (up to %llu s"
                    " for each of %u process(es) still running; %s stop signal kills them at"
                    " once and loses their rows)\n",
            wait->process, (unsigned long long)(stop_wait_ns(state) / 1000000000u), wait->left,
            then);
    wait->notice_ns = 0;
}

/* Reads the child's summary until EOF (the child writes it, then exits),
 * or until the wait is over, saying the wait once its time comes. Returns
 * true when a whole summary arrived. */
static bool summary_read(const launch_state *state, int fd, tb_summary *summary,
                         stop_wait *wait)
{
    size_t got = 0;
    while (got < sizeof(*summary)) {
        uint64_t now = monotonic_ns();
        if (stop_wait_over(state, wait, now)) {
            return false;
        }
        if (wait->notice_ns != 0 && now >= wait->notice_ns) {
            stop_wait_say(state, wait);
        }
        /* Woken at least every 100 ms: a stop signal moves the deadline. */
        struct pollfd poll_fd = {fd, POLLIN, 0};
        int ready = poll(&poll_fd, 1, 100);
        if ((ready < 0 && errno == EINTR) || ready == 0) {
            continue;
        }
        if (ready < 0) {
            return false;
        }
        ssize_t n = read(fd, (uint8_t *)summary + got, sizeof(*summary) - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false; /* EOF first: the child died without a summary. */
        }
        got += (size_t)n;
    }
    return true;
}

/* Closes the child's summary pipe, first reading its summary into
 * 'summary_out' when given (within 'wait'). Returns whether a whole
 * summary was read. */
static bool child_reap(const launch_state *state, launch_child *child, tb_summary *summary_out,
                       stop_wait *wait)
{
    bool read = false;
    if (child->summary_fd >= 0) {
        read = summary_out != NULL && summary_read(state, child->summary_fd, summary_out, wait);
        close(child->summary_fd);
        child->summary_fd = -1;
    }
    return read;
}

/* Process p's life ended without its summary (killed, or dead before it
 * could write one): what it published last counts instead. */
static void life_lost(launch_state *state, uint32_t p, bool died)
{
    state->lost.lives_lost += 1;
    state->lost.lives_died += died;
    if (state->snapshots == NULL) {
        return;
    }
    const tb_snapshot *snapshot = &state->snapshots[p];
    uint32_t current = atomic_load_explicit(&snapshot->current, memory_order_acquire);
    ASSERT(current <= 1); /* Written only by our own children's code. */
    tb_summary_add(&state->lost, &snapshot->slots[current]);
}

static void crash_fault(launch_state *state, uint32_t index, bool ending, uint64_t t_ns)
{
    bool hit[TB_PROCESSES_MAX];
    uint32_t nodes = 0;
    crash_processes(state, index, hit, &nodes);
    for (uint32_t p = 0; p < state->config->process_count; p++) {
        launch_child *child = &state->children[p];
        if (!hit[p] || !launch_local(state, p)) {
            continue; /* Another host crashes its own processes, at the same instant. */
        }
        if (!ending && !child->down && child->pid > 0) {
            kill(child->pid, SIGKILL);
            waitpid(child->pid, NULL, 0);
            child->reaped_ns = monotonic_ns(); /* Its last frame was received before. */
            child_reap(state, child, NULL, NULL);
            life_lost(state, p, false);
            child->pid = 0;
            child->down = true;
        } else if (ending && child->down && child->generation + 1 < TB_GENERATIONS) {
            child->generation += 1;
            spawn(state, p);
        }
    }
    if (state->config->on_fault != NULL) {
        state->config->on_fault(state->config->context, index,
                                scn_fault_kinds[SCN_FAULT_CRASH].name, ending ? "end" : "start",
                                t_ns, nodes);
    }
}

/* Applies the crash faults due by 'now' and reports every fault's start
 * and end (the node processes apply the others themselves, at the same
 * instants); done[i] bit 0 start, bit 1 end. */
static void fault_schedule(launch_state *state, uint64_t now, uint8_t *done)
{
    const scn_scenario *scenario = state->config->scenario;
    for (uint32_t i = 0; state->config->apply_faults && i < scenario->fault_count; i++) {
        const scn_fault *fault = &scenario->faults[i];
        for (uint32_t end = 0; end < 2; end++) {
            uint64_t at = end ? fault->until_ns : fault->at_ns;
            if ((done[i] >> end) & 1u || now < at || (end && !(done[i] & 1u))) {
                continue;
            }
            done[i] |= (uint8_t)(1u << end);
            if (fault->kind == SCN_FAULT_CRASH) {
                crash_fault(state, i, end != 0, now);
            } else if (state->config->on_fault != NULL) {
                uint8_t *selected = util_calloc(scenario->nodes.count, 1);
                uint32_t nodes = selected != NULL
                                     ? world_host_fault_nodes(state->host, i, selected, NULL)
                                     : 0;
                util_free(selected);
                state->config->on_fault(state->config->context, i, world_fault_kind_name(fault->kind),
                                        end ? "end" : "start", now, nodes);
            }
        }
    }
}

void tb_summary_add(tb_summary *total, const tb_summary *one)
{
    total->frames_in += one->frames_in;
    total->frames_out += one->frames_out;
    total->bytes_in += one->bytes_in;
    total->bytes_out += one->bytes_out;
    for (int i = 0; i < TB_REJECT_REASONS; i++) {
        total->rejected[i] += one->rejected[i];
    }
    total->dropped += one->dropped;
    total->requests_submitted += one->requests_submitted;
    total->requests_completed += one->requests_completed;
    total->requests_finished += one->requests_finished;
    total->accepted_wrong += one->accepted_wrong;
    total->honest_penalised += one->honest_penalised;
    total->disputes += one->disputes;
    total->resamples += one->resamples;
    total->catch_ups += one->catch_ups;
    total->flops_total += one->flops_total;
    total->compute_calls += one->compute_calls;
    total->memory_bound_calls += one->memory_bound_calls;
    total->failovers += one->failovers;
    total->suspicions += one->suspicions;
    total->members_skipped += one->members_skipped;
    total->suspecting = total->suspecting || one->suspecting;
    total->batches += one->batches;
    total->batched_calls += one->batched_calls;
    total->batch_size_max =
        one->batch_size_max > total->batch_size_max ? one->batch_size_max : total->batch_size_max;
    total->native_flops += one->native_flops;
    total->referee_flops += one->referee_flops;
    if (one->ledger_settlement) {
        /* Every process's ledger holds the committed chain's totals. */
        total->stake_slashed =
            one->stake_slashed > total->stake_slashed ? one->stake_slashed : total->stake_slashed;
        total->fees_paid = one->fees_paid > total->fees_paid ? one->fees_paid : total->fees_paid;
    } else {
        total->stake_slashed += one->stake_slashed;
        total->fees_paid += one->fees_paid;
    }
    total->ledger_on = total->ledger_on || one->ledger_on;
    total->ledger_settlement = total->ledger_settlement || one->ledger_settlement;
    total->ledger_blocks =
        one->ledger_blocks > total->ledger_blocks ? one->ledger_blocks : total->ledger_blocks;
    total->view_changes += one->view_changes;
    total->ledger_forks += one->ledger_forks;
    total->unjust_slashes += one->unjust_slashes;
    total->evidence_verified += one->evidence_verified;
    total->evidence_rejected += one->evidence_rejected;
    total->ledger_resends += one->ledger_resends;
    total->ledger_gossip = total->ledger_gossip || one->ledger_gossip;
    total->ledger_gossip_duplicates += one->ledger_gossip_duplicates;
    total->ledger_pull_answers += one->ledger_pull_answers;
    util_hist_merge(&total->ledger_finality, &one->ledger_finality);
    total->tokens_out += one->tokens_out;
    total->lives_lost += one->lives_lost;
    total->lives_died += one->lives_died;
    util_hist_merge(&total->request_latency, &one->request_latency);
    util_hist_merge(&total->finality, &one->finality);
    util_hist_merge(&total->first_token, &one->first_token);
    util_hist_merge(&total->emulate_lateness, &one->emulate_lateness);
    for (uint32_t t = 0; t < NODE_MESSAGE_TYPE_COUNT; t++) {
        const world_type_stats *a = &one->types[t];
        world_type_stats *b = &total->types[t];
        b->sent += a->sent;
        b->bytes_sent += a->bytes_sent;
        b->delivered += a->delivered;
        b->bytes_delivered += a->bytes_delivered;
        for (int d = 0; d < WORLD_DROP_COUNT; d++) {
            b->dropped[d] += a->dropped[d];
        }
        b->duplicated += a->duplicated;
        b->corrupted += a->corrupted;
        b->rejected += a->rejected;
    }
}

/* Stops every live child in turn (each writes its rows alone), giving
 * each stop_wait_ns, or none once the caller hurries; then makes sure none
 * is left. */
static void stop_all(launch_state *state, tb_summary *total)
{
    uint32_t killed = 0, left = 0;
    for (uint32_t p = 0; p < state->config->process_count; p++) {
        left += state->children[p].pid > 0;
    }
    bool said = false;
    for (uint32_t p = 0; p < state->config->process_count; p++) {
        launch_child *child = &state->children[p];
        if (child->pid <= 0) {
            continue;
        }
        kill(child->pid, SIGTERM);
        uint64_t now = monotonic_ns();
        stop_wait wait = {now, said ? 0 : now + LAUNCH_STOP_NOTICE_NS, p, left--};
        int status = 0;
        tb_summary *summary = util_calloc(1, sizeof(*summary));
        /* The summary is read while the child writes it (it may exceed a
         * pipe's buffer), then the child is reaped. */
        if (summary != NULL && child_reap(state, child, summary, &wait)) {
            tb_summary_add(total, summary);
        } else {
            life_lost(state, p, true); /* It died, or was hurried, before it wrote one. */
        }
        util_free(summary);
        while (waitpid(child->pid, &status, WNOHANG) == 0) {
            if (stop_wait_over(state, &wait, monotonic_ns())) {
                kill(child->pid, SIGKILL);
                waitpid(child->pid, &status, 0);
                killed += 1;
                break;
            }
            struct timespec pause = {0, 5000000};
            nanosleep(&pause, NULL);
        }
        child_reap(state, child, NULL, NULL);
        child->pid = 0;
        said = said || wait.notice_ns == 0;
    }
    if (killed > 0) {
        char why[64];
        snprintf(why, sizeof(why), "%llu s each",
                 (unsigned long long)(stop_wait_ns(state) / 1000000000u));
        fprintf(stderr, "infersim testbed: %u process(es) killed while stopping (%s): their rows"
                        " are lost\n",
                killed, launch_hurried(state) ? "another stop signal" : why);
    }
}

/* Whether node 'node_id' runs on host 'host' (its process's host). */
typedef struct keys_owner {
    const tb_hosts *hosts;
    uint32_t host;
} keys_owner;

static bool keys_owned(void *context, uint32_t node_id)
{
    const keys_owner *owner = context;
    return tb_hosts_host_of(owner->hosts, node_id % owner->hosts->process_count) == owner->host;
}

/* Across hosts: keeps only this host's nodes' secrets, publishes their
 * public keys as DIR/roster-I and takes every other host's part of the
 * roster from DIR/roster-J, waiting for it. */
static int launch_keys_exchange(launch_state *state, tb_keys *keys)
{
    const tb_launch_config *config = state->config;
    const tb_hosts *hosts = config->hosts;
    keys_owner mine = {hosts, config->host_index};
    for (uint32_t i = 0; i < keys->node_count; i++) {
        if (!keys_owned(&mine, i)) {
            util_memzero(keys->sign_secret[i], sizeof(keys->sign_secret[i]));
            util_memzero(keys->kx_secret[i], sizeof(keys->kx_secret[i]));
            memset(keys->sign_public[i], 0, sizeof(keys->sign_public[i]));
            memset(keys->kx_public[i], 0, sizeof(keys->kx_public[i]));
            keys->slot_of[i] = UINT32_MAX;
        }
    }
    char name[32], why[512];
    snprintf(name, sizeof(name), "roster-%u", config->host_index);
    if (tb_keys_roster_put(keys, config->deploy_dir, name) != 0) {
        fprintf(stderr, "infersim testbed: cannot write %s/%s: %s\n", config->deploy_dir, name,
                strerror(errno));
        return TB_ESYS;
    }
    for (uint32_t h = 0; h < hosts->count; h++) {
        keys_owner theirs = {hosts, h};
        char probe[1];
        snprintf(name, sizeof(name), "roster-%u", h);
        if (h == config->host_index) {
            continue;
        }
        if (tb_deploy_get(config->deploy_dir, name, config->wait_ns, state->stop, probe,
                          sizeof(probe)) < 0) {
            fprintf(stderr, "infersim testbed: host %u (%s) published no keys (%s/%s) within "
                            "%.0f s: is it started, with the same hosts file and deployment "
                            "directory?\n",
                    h, hosts->hosts[h].name, config->deploy_dir, name,
                    (double)config->wait_ns / 1e9);
            return TB_EHOST;
        }
        int rc = tb_keys_roster_take(keys, config->deploy_dir, name, keys_owned, &theirs, why,
                                     sizeof(why));
        if (rc != 0) {
            fprintf(stderr, "infersim testbed: host %u: %s\n", h, rc == TB_EKEYS ? why
                                                                             : tb_strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* Connects to process p's frame port within 'deadline_ns' (monotonic),
 * retrying while it refuses. Returns 0 or the last errno. */
static int probe_process(const launch_state *state, uint32_t p, uint64_t deadline_ns)
{
    int error = ETIMEDOUT;
    while (monotonic_ns() < deadline_ns && !launch_signalled(state)) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            return errno;
        }
        struct sockaddr_in address;
        memset(&address, 0, sizeof(address));
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = state->base.addresses[p];
        address.sin_port = htons(state->base.peer_ports[p]);
        error = connect(fd, (struct sockaddr *)&address, sizeof(address)) == 0 ? 0 : errno;
        if (error == EINPROGRESS) {
            struct pollfd poll_fd = {fd, POLLOUT, 0};
            uint64_t left_ms = (deadline_ns - monotonic_ns()) / 1000000u + 1;
            socklen_t length = sizeof(error);
            error = poll(&poll_fd, 1, (int)(left_ms < 1000 ? left_ms : 1000)) == 1 &&
                            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0
                        ? error
                        : ETIMEDOUT;
        }
        close(fd);
        if (error == 0) {
            return 0;
        }
        struct timespec pause = {0, 100000000};
        nanosleep(&pause, NULL);
    }
    return error;
}

/* Across hosts: every other host's processes accept a connection before
 * any traffic starts (they listen before they publish their keys). */
static int launch_probe(launch_state *state)
{
    const tb_launch_config *config = state->config;
    uint64_t deadline = monotonic_ns() + config->wait_ns;
    for (uint32_t p = 0; p < config->process_count; p++) {
        if (launch_local(state, p)) {
            continue;
        }
        int error = probe_process(state, p, deadline);
        if (error != 0) {
            uint32_t h = tb_hosts_host_of(config->hosts, p);
            fprintf(stderr, "infersim testbed: host %u (%s) unreachable: process %u at port "
                            "%u: %s\n",
                    h, config->hosts->hosts[h].name, p, state->base.peer_ports[p],
                    strerror(error));
            return TB_EHOST;
        }
    }
    return 0;
}

/* The key directory the children read: the caller's, or fresh keys in a
 * private run directory (across hosts: this host's nodes' secrets and the
 * roster gathered from every host). */
static int launch_keys(launch_state *state)
{
    const tb_launch_config *config = state->config;
    if (config->keys_dir != NULL) {
        state->base.keys_dir = config->keys_dir;
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(state->run_dir, sizeof(state->run_dir), "%s/infersim-run-XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(state->run_dir) == NULL) { /* mode 0700 */
        state->run_dir[0] = '\0';
        return TB_ESYS;
    }
    tb_keys keys;
    int rc = tb_keys_generate(&keys, config->scenario->nodes.count, true);
    if (rc == 0 && config->hosts != NULL) {
        rc = launch_keys_exchange(state, &keys);
    }
    if (rc == 0) {
        rc = tb_keys_write(&keys, state->run_dir);
    }
    tb_keys_deinit(&keys); /* Wiped before any fork. */
    state->base.keys_dir = state->run_dir;
    return rc;
}

static void launch_keys_remove(launch_state *state)
{
    if (state->run_dir[0] != '\0') {
        tb_keys_remove(state->run_dir, state->config->scenario->nodes.count);
        rmdir(state->run_dir);
    }
}

uint64_t tb_summary_rejected(const tb_summary *summary)
{
    uint64_t total = 0;
    for (int i = 1; i < TB_REJECT_REASONS; i++) {
        total += summary->rejected[i];
    }
    return total;
}

/* Across hosts: every process's address and ports from the hosts file;
 * this host's processes listen on them. */
static int launch_sockets_hosts(launch_state *state)
{
    const tb_hosts *hosts = state->config->hosts;
    for (uint32_t p = 0; p < hosts->process_count; p++) {
        const tb_host *host = &hosts->hosts[tb_hosts_host_of(hosts, p)];
        uint16_t port = (uint16_t)(host->port_first + 2 * (p - host->process_first));
        state->base.addresses[p] = host->address;
        state->base.peer_ports[p] = port;
        state->base.http_ports[p] = (uint16_t)(port + 1);
        if (!launch_local(state, p)) {
            continue;
        }
        uint16_t bound = 0;
        state->peer_fds[p] = listen_on(host->address, port, &bound);
        state->http_fds[p] = listen_on(host->address, (uint16_t)(port + 1), &bound);
        if (state->peer_fds[p] < 0 || state->http_fds[p] < 0) {
            fprintf(stderr, "infersim testbed: host %u: cannot listen on %s ports %u, %u: %s\n",
                    state->config->host_index, host->name, port, port + 1, strerror(errno));
            return TB_ESYS;
        }
    }
    return 0;
}

static int launch_sockets(launch_state *state)
{
    const tb_launch_config *config = state->config;
    if (config->hosts != NULL) {
        return launch_sockets_hosts(state);
    }
    for (uint32_t p = 0; p < config->process_count; p++) {
        uint16_t base = config->base_port;
        state->peer_fds[p] = listen_on(0, base != 0 ? (uint16_t)(base + 2 * p) : 0,
                                       &state->base.peer_ports[p]);
        state->http_fds[p] = listen_on(0, base != 0 ? (uint16_t)(base + 2 * p + 1) : 0,
                                       &state->base.http_ports[p]);
        if (state->peer_fds[p] < 0 || state->http_fds[p] < 0) {
            return TB_ESYS;
        }
    }
    return 0;
}

/* Reaps children that died on their own (an admin crash): they stay down. */
static void reap_unexpected(launch_state *state)
{
    for (uint32_t p = 0; p < state->config->process_count; p++) {
        launch_child *child = &state->children[p];
        if (child->pid > 0 && waitpid(child->pid, NULL, WNOHANG) == child->pid) {
            child_reap(state, child, NULL, NULL);
            life_lost(state, p, true);
            child->pid = 0;
        }
    }
}

static void launch_loop(launch_state *state, volatile sig_atomic_t *stop, uint64_t epoch)
{
    uint64_t run_ns = state->config->run_ns != 0 ? state->config->run_ns
                                                 : state->config->scenario->duration_ns;
    uint8_t done[SCN_FAULTS_MAX];
    memset(done, 0, sizeof(done));
    for (;;) {
        uint64_t now = monotonic_ns() - epoch;
        if (now >= run_ns || (stop != NULL && *stop)) {
            break;
        }
        fault_schedule(state, now, done);
        reap_unexpected(state);
        struct timespec pause = {0, 10000000};
        nanosleep(&pause, NULL);
    }
}

/* The shared chain of a ledger section: 'heights' heights, room for
 * each one's fullest block up to LAUNCH_CHAIN_PAYLOAD_MAX bytes in all
 * (the memory is reserved, not committed), and, with one host (whose
 * processes all share it), a height per request id for the draws. */
#define LAUNCH_CHAIN_PAYLOAD_MAX (UINT64_C(256) << 20)
static int launch_chain_map(launch_state *state, const tb_launch_config *config,
                            uint64_t heights)
{
    uint64_t block_bytes = (uint64_t)config->scenario->ledger.block_txs *
                           (4u + CONS_BFT_TX_BYTES_MAX);
    uint64_t payload = heights * block_bytes;
    payload = payload < LAUNCH_CHAIN_PAYLOAD_MAX ? payload : LAUNCH_CHAIN_PAYLOAD_MAX;
    uint64_t requests = config->hosts == NULL ? config->scenario->workload.requests +
                                                    tb_extra_requests(&state->base)
                                              : 0;
    int rc = tb_chain_map(&state->chain, heights, payload, requests);
    state->base.chain = state->chain.memory != NULL ? &state->chain : NULL;
    return rc;
}

int tb_launch(const tb_launch_config *config, volatile sig_atomic_t *stop, tb_summary *total_out)
{
    ASSERT(config->process_count >= 1 && config->process_count <= TB_PROCESSES_MAX);
    launch_state *state = util_calloc(1, sizeof(*state));
    if (state == NULL) {
        return TB_ENOMEM;
    }
    memset(total_out, 0, sizeof(*total_out));
    state->config = config;
    state->stop = stop;
    state->base.scenario = config->scenario;
    state->base.process_count = config->process_count;
    state->base.http_requests = config->http_requests;
    state->base.workload = config->workload;
    state->base.apply_faults = config->apply_faults;
    state->base.emulate = config->emulate;
    state->base.frame_max = config->frame_max != 0 ? config->frame_max : TB_FRAME_MAX_DEFAULT;
    for (uint32_t p = 0; p < TB_PROCESSES_MAX; p++) {
        state->peer_fds[p] = state->http_fds[p] = state->children[p].summary_fd = -1;
    }
    if (config->admin_token != NULL) {
        snprintf(state->base.admin_token, sizeof(state->base.admin_token), "%s",
                 config->admin_token);
    }
    int rc = launch_sockets(state);
    if (rc == 0) {
        rc = launch_keys(state);
    }
    if (rc == 0 && config->hosts != NULL) {
        rc = launch_probe(state);
    }
    if (rc == 0) {
        rc = world_host_create(config->scenario, 0, NULL, &state->host);
    }
    if (rc == 0) {
        void *shared = mmap(NULL, (size_t)config->process_count * sizeof(tb_snapshot),
                            PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        state->snapshots = shared != MAP_FAILED ? shared : NULL;
        rc = state->snapshots != NULL ? 0 : TB_ESYS;
    }
    const scn_verification *v = &config->scenario->verification;
    if (rc == 0 && v->protocol != CONS_PROTOCOL_NONE && v->draw_epoch > 0) {
        rc = tb_settled_map(&state->settled, config->scenario->workload.requests,
                            world_host_settle_capacity(state->host));
        state->base.settled = state->settled.memory != NULL ? &state->settled : NULL;
    }
    const scn_ledger *ledger = &config->scenario->ledger;
    if (rc == 0 && ledger->validators > 0) {
        /* A view proposes at most one block, and views are block_interval
         * apart at the fastest. */
        uint64_t run = config->run_ns > config->scenario->duration_ns ? config->run_ns
                                                                      : config->scenario->duration_ns;
        rc = launch_chain_map(state, config, run / (ledger->block_interval_ns + 1) + 256);
    }
    uint64_t epoch = monotonic_ns();
    state->base.epoch_ns = epoch;
    if (config->hosts != NULL) {
        /* Frames cross machines: their clock is the wall clock (the hosts
         * keep it in step, NTP), not this machine's CLOCK_MONOTONIC. */
        struct timespec wall;
        clock_gettime(CLOCK_REALTIME, &wall);
        uint64_t wall_ns = (uint64_t)wall.tv_sec * 1000000000u + (uint64_t)wall.tv_nsec;
        state->base.wire_offset_ns = wall_ns - monotonic_ns();
    }
    for (uint32_t p = 0; rc == 0 && p < config->process_count; p++) {
        rc = launch_local(state, p) ? spawn(state, p) : 0;
    }
    if (rc == 0 && config->on_ready != NULL) {
        config->on_ready(config->context, state->base.http_ports, config->process_count);
    }
    if (rc == 0) {
        launch_loop(state, stop, epoch);
    }
    stop_all(state, total_out);
    tb_summary_add(total_out, &state->lost);
    if (rc == 0 && state->chain.overflow != NULL &&
        atomic_load_explicit(state->chain.overflow, memory_order_relaxed) != 0) {
        rc = TB_ECHAIN;
    }
    if (state->snapshots != NULL) {
        munmap(state->snapshots, (size_t)config->process_count * sizeof(tb_snapshot));
    }
    for (uint32_t p = 0; p < TB_PROCESSES_MAX; p++) {
        if (state->peer_fds[p] >= 0) {
            close(state->peer_fds[p]);
        }
        if (state->http_fds[p] >= 0) {
            close(state->http_fds[p]);
        }
    }
    launch_keys_remove(state);
    tb_settled_unmap(&state->settled);
    tb_chain_unmap(&state->chain);
    world_host_destroy(state->host);
    util_free(state);
    return rc;
}
