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

#include "testbed/tb.h"
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
    tb_summary lost;                 /* lives that ended without a summary, summed */
    char run_dir[4096];              /* the private key directory we made, or "" */
} launch_state;

static uint64_t monotonic_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

static int listen_on(uint16_t port, uint16_t *port_out)
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
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
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
    pid_t pid = fork();
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

/* Reads the child's summary until EOF (the child writes it, then exits)
 * or 'deadline_ns'. Returns true when a whole summary arrived. */
static bool summary_read(int fd, tb_summary *summary, uint64_t deadline_ns)
{
    size_t got = 0;
    while (got < sizeof(*summary)) {
        uint64_t now = monotonic_ns();
        if (now >= deadline_ns) {
            return false;
        }
        struct pollfd poll_fd = {fd, POLLIN, 0};
        int ready = poll(&poll_fd, 1, (int)((deadline_ns - now) / 1000000u) + 1);
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready <= 0) {
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
 * 'summary_out' when given. Returns whether a whole summary was read. */
static bool child_reap(launch_child *child, tb_summary *summary_out, uint64_t deadline_ns)
{
    bool read = false;
    if (child->summary_fd >= 0) {
        read = summary_out != NULL && summary_read(child->summary_fd, summary_out, deadline_ns);
        close(child->summary_fd);
        child->summary_fd = -1;
    }
    return read;
}

static void summary_add(tb_summary *total, const tb_summary *one);

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
    summary_add(&state->lost, &snapshot->slots[current]);
}

static void crash_fault(launch_state *state, uint32_t index, bool ending, uint64_t t_ns)
{
    bool hit[TB_PROCESSES_MAX];
    uint32_t nodes = 0;
    crash_processes(state, index, hit, &nodes);
    for (uint32_t p = 0; p < state->config->process_count; p++) {
        launch_child *child = &state->children[p];
        if (!hit[p]) {
            continue;
        }
        if (!ending && !child->down && child->pid > 0) {
            kill(child->pid, SIGKILL);
            waitpid(child->pid, NULL, 0);
            child->reaped_ns = monotonic_ns(); /* Its last frame was received before. */
            child_reap(child, NULL, 0);
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

static void summary_add(tb_summary *total, const tb_summary *one)
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
    total->flops_total += one->flops_total;
    total->compute_calls += one->compute_calls;
    total->memory_bound_calls += one->memory_bound_calls;
    total->failovers += one->failovers;
    total->batches += one->batches;
    total->batched_calls += one->batched_calls;
    total->batch_size_max =
        one->batch_size_max > total->batch_size_max ? one->batch_size_max : total->batch_size_max;
    total->native_flops += one->native_flops;
    total->referee_flops += one->referee_flops;
    total->stake_slashed += one->stake_slashed;
    total->fees_paid += one->fees_paid;
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

/* Stops every live child in turn (each writes its rows alone), then makes
 * sure none is left. */
static void stop_all(launch_state *state, tb_summary *total)
{
    for (uint32_t p = 0; p < state->config->process_count; p++) {
        launch_child *child = &state->children[p];
        if (child->pid <= 0) {
            continue;
        }
        kill(child->pid, SIGTERM);
        uint64_t deadline = monotonic_ns() + 20000000000ull;
        int status = 0;
        tb_summary *summary = util_calloc(1, sizeof(*summary));
        /* The summary is read while the child writes it (it may exceed a
         * pipe's buffer), then the child is reaped. */
        if (summary != NULL && child_reap(child, summary, deadline)) {
            summary_add(total, summary);
        } else {
            life_lost(state, p, true); /* It died before it could write one. */
        }
        util_free(summary);
        while (waitpid(child->pid, &status, WNOHANG) == 0) {
            if (monotonic_ns() > deadline) {
                kill(child->pid, SIGKILL);
                waitpid(child->pid, &status, 0);
                break;
            }
            struct timespec pause = {0, 5000000};
            nanosleep(&pause, NULL);
        }
        child_reap(child, NULL, 0);
        child->pid = 0;
    }
}

/* The key directory the children read: the caller's, or fresh keys in a
 * private run directory. */
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

static int launch_sockets(launch_state *state)
{
    const tb_launch_config *config = state->config;
    for (uint32_t p = 0; p < config->process_count; p++) {
        uint16_t base = config->base_port;
        state->peer_fds[p] = listen_on(base != 0 ? (uint16_t)(base + 2 * p) : 0,
                                       &state->base.peer_ports[p]);
        state->http_fds[p] = listen_on(base != 0 ? (uint16_t)(base + 2 * p + 1) : 0,
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
            child_reap(child, NULL, 0);
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

int tb_launch(const tb_launch_config *config, volatile sig_atomic_t *stop, tb_summary *total_out)
{
    ASSERT(config->process_count >= 1 && config->process_count <= TB_PROCESSES_MAX);
    launch_state *state = util_calloc(1, sizeof(*state));
    if (state == NULL) {
        return TB_ENOMEM;
    }
    memset(total_out, 0, sizeof(*total_out));
    state->config = config;
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
    if (rc == 0) {
        rc = world_host_create(config->scenario, 0, NULL, &state->host);
    }
    if (rc == 0) {
        void *shared = mmap(NULL, (size_t)config->process_count * sizeof(tb_snapshot),
                            PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        state->snapshots = shared != MAP_FAILED ? shared : NULL;
        rc = state->snapshots != NULL ? 0 : TB_ESYS;
    }
    uint64_t epoch = monotonic_ns();
    state->base.epoch_ns = epoch;
    for (uint32_t p = 0; rc == 0 && p < config->process_count; p++) {
        rc = spawn(state, p);
    }
    if (rc == 0 && config->on_ready != NULL) {
        config->on_ready(config->context, state->base.http_ports, config->process_count);
    }
    if (rc == 0) {
        launch_loop(state, stop, epoch);
    }
    stop_all(state, total_out);
    summary_add(total_out, &state->lost);
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
    world_host_destroy(state->host);
    util_free(state);
    return rc;
}
