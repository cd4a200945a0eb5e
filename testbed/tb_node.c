/* tb_node.c -- one node process: a libevent loop driving the nodes it
 * hosts (node id % processes == its index) in real time. The world is
 * sim/'s (world_host): the same placement, serving context and committees
 * as a simulated run of the scenario; the frame keys are random, read from
 * this process's own key files (tb_keys.c). A node's SEND effect becomes a
 * frame (tb_frame.c) written to the TCP connection of the process that
 * hosts the destination (itself included, so every message crosses a real
 * socket); a TIMER effect becomes a libevent timer; a frame that arrives is
 * decoded and authenticated, then handed to its node. Time is
 * CLOCK_MONOTONIC since the run's epoch, which every process of a host
 * shares; the stamps frames carry are on that clock plus the wire offset
 * (0 on one host; across hosts, the wall clock's).
 *
 * Faults: the scenario's network faults (loss, delay, reorder, duplicate,
 * corrupt, partition) become rules on the frames this process sends, in
 * real time; behaviour faults switch the hosted nodes' behaviour as in the
 * simulator; crashes are the launcher's (kill -9 and restart). */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "testbed/tb_int.h"
#include "util/alloc.h"
#include "util/assert.h"

enum { TIMER_NODE = 1, TIMER_SEND, TIMER_SUBMIT, TIMER_FAULT };

struct tb_timer {
    tb_timer *prev;
    tb_timer *next;
    tb_proc *proc;
    struct event *event;
    int kind;
    uint32_t node;                   /* NODE: the node; SEND: destination process */
    uint64_t id;                     /* NODE: timer id; SUBMIT: plan index; FAULT: index*2+end */
    uint8_t *frame;                  /* SEND: owned */
    size_t frame_bytes;
};

void tb__stop_signals(sigset_t *out)
{
    sigemptyset(out);
    sigaddset(out, SIGINT);
    sigaddset(out, SIGTERM);
}

uint64_t tb__now_ns(const tb_proc *proc)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    return ns > proc->config->epoch_ns ? ns - proc->config->epoch_ns : 0;
}

uint64_t tb__wire_ns(const tb_proc *proc, uint64_t now_ns)
{
    return proc->config->epoch_ns + now_ns + proc->config->wire_offset_ns;
}

bool tb__hosts(const tb_proc *proc, uint32_t node_id)
{
    return node_id < proc->node_count &&
           node_id % proc->config->process_count == proc->config->process;
}

static bool hosts_client(void *context, uint32_t node_id)
{
    return tb__hosts(context, node_id);
}

/* xorshift64*: loss and corruption draws. Not part of any deterministic
 * result: the testbed's network is real. */
static double proc_random(tb_proc *proc)
{
    uint64_t x = proc->prng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    proc->prng_state = x;
    return (double)((x * UINT64_C(0x2545F4914F6CDD1D)) >> 11) / 9007199254740992.0;
}

/* ---- timers ---- */

static void timer_fire(evutil_socket_t fd, short what, void *arg);

static tb_timer *timer_start(tb_proc *proc, int kind, uint64_t at_ns)
{
    tb_timer *timer = util_calloc(1, sizeof(*timer));
    if (timer == NULL) {
        return NULL;
    }
    timer->event = evtimer_new(proc->base, timer_fire, timer);
    if (timer->event == NULL) {
        util_free(timer);
        return NULL;
    }
    timer->proc = proc;
    timer->kind = kind;
    timer->next = proc->timers;
    if (proc->timers != NULL) {
        proc->timers->prev = timer;
    }
    proc->timers = timer;
    uint64_t now = tb__now_ns(proc);
    uint64_t wait = at_ns > now ? at_ns - now : 0;
    struct timeval tv = {(time_t)(wait / 1000000000u), (suseconds_t)((wait % 1000000000u) / 1000)};
    evtimer_add(timer->event, &tv);
    return timer;
}

static void timer_free(tb_proc *proc, tb_timer *timer)
{
    if (timer->prev != NULL) {
        timer->prev->next = timer->next;
    } else {
        proc->timers = timer->next;
    }
    if (timer->next != NULL) {
        timer->next->prev = timer->prev;
    }
    event_free(timer->event);
    util_free(timer->frame);
    util_free(timer);
}

/* ---- sending ---- */

static void out_event(struct bufferevent *bev, short what, void *arg)
{
    tb_proc *proc = arg;
    if ((what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) == 0) {
        return;
    }
    /* The peer process is gone (crashed or restarting): frames in flight
     * are lost, as on a real network; the next send reconnects. */
    for (uint32_t p = 0; p < proc->config->process_count; p++) {
        if (proc->out[p] == bev) {
            proc->out[p] = NULL;
        }
    }
    bufferevent_free(bev);
}

static struct bufferevent *out_connection(tb_proc *proc, uint32_t process)
{
    if (proc->out[process] != NULL) {
        return proc->out[process];
    }
    struct bufferevent *bev = bufferevent_socket_new(proc->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        return NULL;
    }
    struct sockaddr_in address;
    memset(&address, 0, sizeof(address));
    address.sin_family = AF_INET;
    uint32_t ipv4 = proc->config->addresses[process];
    address.sin_addr.s_addr = ipv4 != 0 ? ipv4 : htonl(INADDR_LOOPBACK);
    address.sin_port = htons(proc->config->peer_ports[process]);
    bufferevent_setcb(bev, NULL, NULL, out_event, proc);
    if (bufferevent_socket_connect(bev, (struct sockaddr *)&address, sizeof(address)) != 0) {
        bufferevent_free(bev);
        return NULL;
    }
    bufferevent_enable(bev, EV_READ);
    proc->out[process] = bev;
    return bev;
}

static void frame_write(tb_proc *proc, uint32_t process, const uint8_t *frame, size_t bytes)
{
    struct bufferevent *bev = out_connection(proc, process);
    if (bev == NULL || bufferevent_write(bev, frame, bytes) != 0) {
        proc->summary.dropped += 1;
        return;
    }
    proc->summary.frames_out += 1;
    proc->summary.bytes_out += bytes;
}

/* A Twins validator's two instances are two machines, one on each side
 * of any partition: no partition cuts its links (as the simulator's
 * net_config.partition_exempt). */
static bool partition_exempt(const tb_proc *proc, uint32_t from, uint32_t to)
{
    const uint8_t *twin_of = world_host_serving(proc->host)->ledger_twin_of;
    return twin_of != NULL && (twin_of[from] != 0 || twin_of[to] != 0);
}

/* The rules this send meets: whether to drop it and how long to hold it. */
static bool rules_pass(tb_proc *proc, uint32_t from, uint32_t to, uint64_t *delay_ns,
                       bool *corrupt, bool *duplicate)
{
    for (uint32_t i = 0; i < TB_RULES_MAX; i++) {
        const tb_rule *rule = &proc->rules[i];
        if (!rule->active) {
            continue;
        }
        if (rule->kind == SCN_FAULT_PARTITION) {
            if (rule->groups[from] != rule->groups[to] && !partition_exempt(proc, from, to)) {
                return false;
            }
            continue;
        }
        bool applies = rule->selected != NULL ? rule->selected[from] != 0 || rule->selected[to] != 0
                                              : (rule->from == UINT32_MAX || rule->from == from) &&
                                                    (rule->to == UINT32_MAX || rule->to == to);
        if (!applies || (rule->probability < 1.0 && proc_random(proc) >= rule->probability)) {
            continue;
        }
        switch (rule->kind) {
        case SCN_FAULT_LOSS: return false;
        case SCN_FAULT_DELAY: *delay_ns += rule->delay_ns; break;
        case SCN_FAULT_REORDER:
            *delay_ns += (uint64_t)(proc_random(proc) * (double)rule->delay_ns);
            break;
        case SCN_FAULT_CORRUPT: *corrupt = true; break;
        case SCN_FAULT_DUPLICATE: *duplicate = true; break;
        default: break;
        }
    }
    return true;
}

/* --emulate: the frame goes to the link emulator, which holds it until the
 * model's arrival (admin rules still apply before: a delay postpones its
 * departure, a duplicate sends it twice). Frees 'frame'. */
static void emulate_send(tb_proc *proc, const node_message *m, uint8_t *frame, size_t size,
                         uint64_t leave_ns, bool duplicate)
{
    tb_emulate_frame held = {
        .source = m->source,
        .dest = m->dest,
        .type = m->type,
        .wire_bytes = node_message_wire_size(m),
        .leave_ns = leave_ns,
        .bytes_at = frame,
        .bytes = size,
    };
    for (int copy = 0; copy < (duplicate ? 2 : 1); copy++) {
        tb__emulate_send(proc->emulator, &held);
    }
    util_free(frame);
}

static void emulate_deliver(void *context, uint32_t dest, const uint8_t *frame, size_t bytes)
{
    tb_proc *proc = context;
    frame_write(proc, dest % proc->config->process_count, frame, bytes);
}

static void send_effect(tb_proc *proc, uint32_t node_id, const node_effect *effect, uint64_t now)
{
    const node_message *m = &effect->message;
    world_result *result = world_host_result(proc->host);
    uint64_t delay_ns = effect->send_at_ns > now ? effect->send_at_ns - now : 0;
    bool corrupt = false, duplicate = false;
    if (m->dest >= proc->node_count ||
        !rules_pass(proc, node_id, m->dest, &delay_ns, &corrupt, &duplicate)) {
        proc->summary.dropped += 1;
        result->types[m->type].dropped[WORLD_DROP_LOSS] += 1;
        return;
    }
    size_t size = tb_frame_size(&proc->keys, m);
    uint8_t *frame = util_malloc(size);
    int rc = frame != NULL ? tb_frame_encode(&proc->keys, m, tb__wire_ns(proc, now), frame,
                                             size, proc->config->frame_max)
                           : TB_ENOMEM;
    if (rc < 0) {
        util_free(frame);
        proc->summary.dropped += 1;
        return;
    }
    if (corrupt) {
        frame[size - 1] ^= 0x04; /* In the tag: the receiver rejects it, framing intact. */
        result->types[m->type].corrupted += 1;
    }
    if (proc->emulator != NULL) {
        emulate_send(proc, m, frame, size, now + delay_ns, duplicate);
        return;
    }
    uint32_t process = m->dest % proc->config->process_count;
    for (int copy = 0; copy < (duplicate ? 2 : 1); copy++) {
        if (delay_ns == 0) {
            frame_write(proc, process, frame, size);
            continue;
        }
        tb_timer *timer = timer_start(proc, TIMER_SEND, now + delay_ns);
        uint8_t *held = copy == 0 ? frame : util_malloc(size);
        if (timer == NULL || held == NULL) {
            if (held != frame) {
                util_free(held);
            }
            continue;
        }
        if (held != frame) {
            memcpy(held, frame, size);
        }
        timer->node = process;
        timer->frame = held;
        timer->frame_bytes = size;
        if (copy == 0) {
            frame = NULL; /* Owned by the timer now. */
        }
    }
    result->types[m->type].duplicated += duplicate;
    util_free(frame);
}

void tb__effects(tb_proc *proc, uint32_t node_id, const node_outbox *outbox)
{
    uint64_t now = tb__now_ns(proc);
    for (uint32_t i = 0; i < outbox->count; i++) {
        const node_effect *effect = &outbox->effects[i];
        if (effect->kind == NODE_EFFECT_SEND) {
            send_effect(proc, node_id, effect, now);
        } else if (effect->kind == NODE_EFFECT_TIMER) {
            tb_timer *timer = timer_start(proc, TIMER_NODE, effect->at_ns);
            if (timer != NULL) {
                timer->node = node_id;
                timer->id = effect->timer_id;
            }
        } else if (effect->kind == NODE_EFFECT_OUTPUT) {
            tb__http_finished(proc, effect->rumor_id, (uint32_t)effect->value, effect->outcome);
            tb__settle_publish(proc, effect->rumor_id);
        }
    }
}

static void node_event_run(tb_proc *proc, uint32_t node_id, const node_event *event)
{
    int rc = 0;
    const node_outbox *outbox = world_host_event(proc->host, node_id, tb__now_ns(proc), event, &rc);
    if (rc == 0) {
        tb__effects(proc, node_id, outbox);
    }
    tb__chain_check(proc);
}

/* ---- receiving ---- */

static void deliver(tb_proc *proc, const node_message *message, size_t frame_bytes)
{
    world_result *result = world_host_result(proc->host);
    if (!tb__hosts(proc, message->dest)) {
        proc->summary.rejected[-TB_EMALFORMED] += 1; /* Not ours: misrouted or forged. */
        return;
    }
    result->nodes[message->dest].messages_received += 1;
    result->nodes[message->dest].bytes_received += frame_bytes;
    result->types[message->type].delivered += 1;
    result->types[message->type].bytes_delivered += frame_bytes;
    node_event event = {.kind = NODE_EVENT_MESSAGE, .message = message};
    node_event_run(proc, message->dest, &event);
}

/* Decodes every complete frame in the connection's input. Returns false
 * when the stream is unusable (the connection is then closed). */
static bool frames_read(tb_proc *proc, struct evbuffer *input)
{
    for (;;) {
        size_t available = evbuffer_get_length(input);
        uint8_t prefix[TB_FRAME_PREFIX_BYTES];
        if (available < sizeof(prefix)) {
            return true;
        }
        evbuffer_copyout(input, prefix, sizeof(prefix));
        uint32_t length = (uint32_t)prefix[0] | (uint32_t)prefix[1] << 8 |
                          (uint32_t)prefix[2] << 16 | (uint32_t)prefix[3] << 24;
        size_t want = length <= proc->config->frame_max ? (size_t)length + 4 : sizeof(prefix);
        if (available < want) {
            return true;
        }
        uint8_t *bytes = evbuffer_pullup(input, (ev_ssize_t)want);
        node_message message;
        size_t used = 0;
        int rc = tb_frame_decode(&proc->keys, bytes, want, proc->config->frame_max, &message,
                                 &used);
        if (rc == 0) {
            proc->summary.frames_in += 1;
            proc->summary.bytes_in += used;
            deliver(proc, &message, used);
            evbuffer_drain(input, used);
            continue;
        }
        proc->summary.rejected[rc < 0 && -rc < TB_REJECT_REASONS ? -rc : 0] += 1;
        if ((rc == TB_EAUTH || rc == TB_EREPLAY) && used > 0) {
            evbuffer_drain(input, used); /* Framing is intact: skip just this one. */
            continue;
        }
        return false;
    }
}

static void in_read(struct bufferevent *bev, void *arg)
{
    if (!frames_read(arg, bufferevent_get_input(bev))) {
        bufferevent_free(bev);
    }
}

static void in_event(struct bufferevent *bev, short what, void *arg)
{
    (void)arg;
    if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
        bufferevent_free(bev);
    }
}

static void on_accept(struct evconnlistener *listener, evutil_socket_t fd,
                      struct sockaddr *address, int length, void *arg)
{
    (void)listener;
    (void)address;
    (void)length;
    tb_proc *proc = arg;
    struct bufferevent *bev = bufferevent_socket_new(proc->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        evutil_closesocket(fd);
        return;
    }
    bufferevent_setcb(bev, in_read, NULL, in_event, proc);
    bufferevent_enable(bev, EV_READ);
}

/* ---- the scenario's workload and faults, in real time ---- */

static void submit_planned(tb_proc *proc, uint64_t index)
{
    const world_plan_entry *entry = &proc->plan[index];
    int rc = 0;
    if (!world_host_settle_ready(proc->host, index)) {
        /* verification.draw_epoch: a request before its epoch is still
         * running somewhere; look again in a millisecond. */
        tb_timer *timer = timer_start(proc, TIMER_SUBMIT, tb__now_ns(proc) + 1000000u);
        if (timer != NULL) {
            timer->id = index;
        }
        return;
    }
    const node_outbox *outbox = world_host_submit(proc->host, entry->client, index, tb__now_ns(proc),
                                                entry->tokens, entry->prompt_tokens, &rc);
    if (outbox != NULL && rc == 0) {
        proc->summary.requests_submitted += 1;
        tb__effects(proc, entry->client, outbox);
    }
}

static void fault_rule(tb_proc *proc, uint32_t index, bool ending)
{
    const scn_fault *fault = &proc->scenario->faults[index];
    tb_rule *rule = &proc->rules[index]; /* Scenario faults own the first slots. */
    if (ending) {
        rule->active = false;
        if (proc->emulator != NULL) {
            tb__emulate_fault(proc->emulator, index, fault, NULL, NULL, true);
        }
        return;
    }
    util_free(rule->selected);
    util_free(rule->groups);
    memset(rule, 0, sizeof(*rule));
    rule->selected = util_calloc(proc->node_count, 1);
    rule->groups = util_calloc(proc->node_count, 1);
    if (rule->selected == NULL || rule->groups == NULL) {
        return;
    }
    world_host_fault_nodes(proc->host, index, rule->selected, rule->groups);
    if (proc->emulator != NULL) {
        /* The model's fault, as in the simulator; the rule stays inactive. */
        tb__emulate_fault(proc->emulator, index, fault, rule->selected, rule->groups, false);
        return;
    }
    rule->kind = fault->kind;
    rule->probability = fault->kind == SCN_FAULT_PARTITION ? 1.0 : fault->probability;
    rule->delay_ns = fault->delay_ns;
    rule->active = true;
}

static void fault_apply(tb_proc *proc, uint32_t index, bool ending)
{
    const scn_fault *fault = &proc->scenario->faults[index];
    if (fault->kind == SCN_FAULT_CRASH) {
        return; /* The launcher kills and restarts processes. */
    }
    if (scn_fault_kinds[fault->kind].byzantine) {
        world_host_behaviour(proc->host, index, ending);
        return;
    }
    fault_rule(proc, index, ending);
}

static void timer_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tb_timer *timer = arg;
    tb_proc *proc = timer->proc;
    if (timer->kind == TIMER_NODE) {
        node_event event = {.kind = NODE_EVENT_TIMER, .timer_id = timer->id};
        node_event_run(proc, timer->node, &event);
    } else if (timer->kind == TIMER_SEND) {
        frame_write(proc, timer->node, timer->frame, timer->frame_bytes);
    } else if (timer->kind == TIMER_SUBMIT) {
        submit_planned(proc, timer->id);
    } else if (timer->kind == TIMER_FAULT) {
        fault_apply(proc, (uint32_t)(timer->id / 2), timer->id % 2 != 0);
    }
    timer_free(proc, timer);
}

static int schedule_workload(tb_proc *proc)
{
    const scn_scenario *scenario = proc->scenario;
    uint64_t capacity = scenario->workload.requests;
    proc->plan = util_calloc(capacity > 0 ? capacity : 1, sizeof(*proc->plan));
    proc->plan_tokens = util_calloc((capacity > 0 ? capacity : 1) * scenario->workload.prompt_max,
                                    sizeof(uint32_t));
    if (proc->plan == NULL || proc->plan_tokens == NULL) {
        return TB_ENOMEM;
    }
    for (uint64_t i = 0; i < capacity; i++) {
        proc->plan[i].tokens = proc->plan_tokens + i * scenario->workload.prompt_max;
    }
    if (world_workload_plan(scenario, proc->plan, capacity, &proc->plan_count) != 0) {
        return TB_EINVAL;
    }
    uint64_t now = tb__now_ns(proc);
    for (uint64_t i = 0; proc->config->workload && i < proc->plan_count; i++) {
        /* A late start submits what is due at once; a restarted process
         * does not replay what its first life missed. */
        if (!tb__hosts(proc, proc->plan[i].client) ||
            (proc->config->generation > 0 && proc->plan[i].at_ns < now)) {
            continue;
        }
        tb_timer *timer = timer_start(proc, TIMER_SUBMIT, proc->plan[i].at_ns);
        if (timer == NULL) {
            return TB_ENOMEM;
        }
        timer->id = i;
    }
    return 0;
}

static int schedule_faults(tb_proc *proc)
{
    uint64_t now = tb__now_ns(proc);
    for (uint32_t i = 0; proc->config->apply_faults && i < proc->scenario->fault_count; i++) {
        const scn_fault *fault = &proc->scenario->faults[i];
        if (fault->until_ns <= now) {
            continue;
        }
        for (uint64_t end = 0; end < 2; end++) {
            uint64_t at = end ? fault->until_ns : fault->at_ns;
            if (at > proc->scenario->duration_ns) {
                continue;
            }
            tb_timer *timer = timer_start(proc, TIMER_FAULT, at);
            if (timer == NULL) {
                return TB_ENOMEM;
            }
            timer->id = (uint64_t)i * 2 + end;
        }
    }
    return 0;
}

int tb__rule_add(tb_proc *proc, const tb_rule *rule)
{
    for (uint32_t i = SCN_FAULTS_MAX; i < TB_RULES_MAX; i++) {
        if (!proc->rules[i].active) {
            util_free(proc->rules[i].selected);
            util_free(proc->rules[i].groups);
            proc->rules[i] = *rule;
            proc->rules[i].active = true;
            return 0;
        }
    }
    return TB_ENOMEM;
}

void tb__rules_clear(tb_proc *proc)
{
    for (uint32_t i = 0; i < TB_RULES_MAX; i++) {
        proc->rules[i].active = false;
    }
}

/* ---- life of the process ---- */

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(((tb_proc *)arg)->base);
}

uint64_t tb_extra_requests(const tb_process_config *config)
{
    return (uint64_t)config->process_count * TB_GENERATIONS * config->http_requests;
}

/* This process's keys: the roster and its own nodes' key files, nothing
 * derived from the seed. Its session starts now. */
static int proc_keys(tb_proc *proc)
{
    const scn_scenario *scenario = proc->scenario;
    bool signing = scenario->verification.protocol != CONS_PROTOCOL_NONE &&
                   scenario->verification.sign_ed25519;
    char why[512];
    int rc = tb_keys_load(&proc->keys, proc->config->keys_dir, proc->node_count, signing,
                          hosts_client, proc, why, sizeof(why));
    if (rc == TB_EKEYS) {
        fprintf(stderr, "infersim testbed: process %u: %s\n", proc->config->process, why);
    }
    if (rc == 0) {
        tb_keys_start(&proc->keys, tb__wire_ns(proc, tb__now_ns(proc)) + 1,
                      proc->config->fresh_after_ns + proc->config->wire_offset_ns);
    }
    /* The world's per-node secrets (commitment salts) come from the key
     * files too: nothing in this process is derived from the seed. */
    for (uint32_t i = proc->config->process; rc == 0 && i < proc->node_count;
         i += proc->config->process_count) {
        uint32_t slot = proc->keys.slot_of[i];
        if (slot == UINT32_MAX ||
            world_host_node_secret(proc->host, i, proc->keys.kx_secret[slot],
                                 sizeof(proc->keys.kx_secret[slot])) != 0) {
            rc = TB_EKEYS;
        }
    }
    return rc;
}

/* An event base; with precise timers (timerfd rather than epoll's
 * millisecond timeout) when the emulator holds frames to the microsecond. */
static struct event_base *proc_base_new(bool precise)
{
    struct event_config *config = event_config_new();
    if (config == NULL) {
        return NULL;
    }
    if (precise) {
        event_config_set_flag(config, EVENT_BASE_FLAG_PRECISE_TIMER);
    }
    struct event_base *base = event_base_new_with_config(config);
    event_config_free(config);
    return base;
}

/* The link emulator over the world's placement: regions and the uplinks
 * of the nodes' classes, as the simulator's network has them. A restarted
 * process draws from fresh streams. */
static int proc_emulator(tb_proc *proc)
{
    const scn_scenario *scenario = proc->scenario;
    world_result *result = world_host_result(proc->host);
    uint64_t *uplink = util_malloc((size_t)proc->node_count * sizeof(*uplink));
    if (uplink == NULL) {
        return TB_ENOMEM;
    }
    for (uint32_t i = 0; i < proc->node_count; i++) {
        uint64_t bps = scenario->nodes.classes[result->class_of[i]].bandwidth_bps;
        uplink[i] = bps != 0 ? bps : scenario->network.bandwidth_bps;
    }
    uint32_t generation = proc->config->generation;
    tb_emulate_config config = {
        .base = proc->base,
        .network = &scenario->network,
        .node_count = proc->node_count,
        .region_of = result->region_of,
        .uplink_bps_of = uplink,
        .run_seed = generation == 0 ? scenario->seed : util_mix64(scenario->seed + generation),
        .epoch_ns = proc->config->epoch_ns,
        .types = result->types,
        .dropped = &proc->summary.dropped,
        .deliver = emulate_deliver,
        .context = proc,
    };
    int rc = tb__emulate_create(&config, &proc->emulator);
    util_free(uplink);
    return rc;
}

static int proc_open(tb_proc *proc)
{
    const tb_process_config *config = proc->config;
    int rc = world_host_create(config->scenario, tb_extra_requests(config), NULL, &proc->host);
    if (rc != 0) {
        return rc;
    }
    if (config->settled != NULL) {
        world_host_settle_source(proc->host, tb__settle_fetch, (void *)config->settled);
    }
    if (config->chain != NULL && config->chain->draws &&
        world_host_chain_source(proc->host, tb__chain_block, tb__chain_height, proc) != 0) {
        return TB_ENOMEM;
    }
    uint64_t capacity = world_host_request_capacity(proc->host);
    proc->pending = util_calloc(capacity, sizeof(*proc->pending));
    proc->base = proc_base_new(config->emulate);
    if (proc->pending == NULL || proc->base == NULL) {
        return TB_ENOMEM;
    }
    if (config->emulate && (rc = proc_emulator(proc)) != 0) {
        return rc;
    }
    rc = proc_keys(proc);
    if (rc != 0) {
        return rc;
    }
    proc->listener = evconnlistener_new(proc->base, on_accept, proc,
                                        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, -1,
                                        config->peer_fd);
    proc->signal_term = evsignal_new(proc->base, SIGTERM, on_signal, proc);
    proc->signal_int = evsignal_new(proc->base, SIGINT, on_signal, proc);
    if (proc->listener == NULL || proc->signal_term == NULL || proc->signal_int == NULL ||
        evsignal_add(proc->signal_term, NULL) != 0 || evsignal_add(proc->signal_int, NULL) != 0) {
        return TB_ESYS;
    }
    /* The launcher forks with them blocked: one that came since is pending,
     * and now stops the loop at its first turn. */
    sigset_t stops;
    tb__stop_signals(&stops);
    pthread_sigmask(SIG_UNBLOCK, &stops, NULL);
    rc = tb__http_start(proc);
    if (rc == 0) {
        rc = schedule_workload(proc);
    }
    if (rc == 0) {
        rc = schedule_faults(proc);
    }
    return rc;
}

static void proc_close(tb_proc *proc)
{
    while (proc->timers != NULL) {
        timer_free(proc, proc->timers);
    }
    tb__http_stop(proc);
    for (uint32_t p = 0; p < TB_PROCESSES_MAX; p++) {
        if (proc->out[p] != NULL) {
            bufferevent_free(proc->out[p]);
        }
    }
    for (uint32_t i = 0; i < TB_RULES_MAX; i++) {
        util_free(proc->rules[i].selected);
        util_free(proc->rules[i].groups);
    }
    if (proc->listener != NULL) {
        evconnlistener_free(proc->listener);
    }
    if (proc->signal_term != NULL) {
        event_free(proc->signal_term);
    }
    if (proc->snapshot_event != NULL) {
        event_free(proc->snapshot_event);
    }
    if (proc->signal_int != NULL) {
        event_free(proc->signal_int);
    }
    tb__emulate_destroy(proc->emulator);
    if (proc->base != NULL) {
        event_base_free(proc->base);
    }
    tb_keys_deinit(&proc->keys);
    util_free(proc->plan);
    util_free(proc->plan_tokens);
    util_free(proc->pending);
    world_host_destroy(proc->host);
}

static void proc_summarise_ledger(tb_summary *summary, const world_result *result)
{
    summary->ledger_on = result->ledger_on;
    summary->ledger_settlement = result->ledger_settlement;
    summary->ledger_blocks = result->block_count;
    summary->view_changes = result->view_change_count;
    summary->ledger_forks = result->ledger_forks;
    summary->unjust_slashes = result->unjust_slashes;
    summary->evidence_verified = result->evidence_verified;
    summary->evidence_rejected = result->evidence_rejected;
    summary->ledger_resends = result->ledger_resends;
    summary->ledger_gossip = result->ledger_gossip;
    summary->ledger_gossip_duplicates = result->ledger_gossip_duplicates;
    summary->ledger_pull_answers = result->ledger_pull_answers;
    summary->ledger_finality = result->ledger_finality;
}

static void proc_summarise(tb_proc *proc)
{
    const world_result *result = world_host_result(proc->host);
    proc->summary.process = proc->config->process;
    memcpy(proc->summary.types, result->types, sizeof(proc->summary.types));
    proc->summary.requests_completed = result->requests_completed;
    proc->summary.requests_finished = result->requests_finished;
    proc->summary.accepted_wrong = result->accepted_wrong;
    proc->summary.honest_penalised = result->honest_penalised;
    proc->summary.disputes = result->disputes;
    proc->summary.resamples = result->resamples;
    proc->summary.catch_ups = result->catch_ups;
    proc->summary.flops_total = result->flops_total;
    proc->summary.compute_calls = result->compute_calls;
    proc->summary.memory_bound_calls = result->memory_bound_calls;
    proc->summary.batches = result->batches;
    proc->summary.batched_calls = result->batched_calls;
    proc->summary.batch_size_max = result->batch_size_max;
    proc->summary.failovers = result->failovers;
    proc->summary.suspicions = result->suspicions;
    proc->summary.members_skipped = result->members_skipped;
    proc->summary.suspecting = result->suspecting;
    proc->summary.native_flops = result->native_flops;
    proc->summary.referee_flops = result->referee_flops;
    proc->summary.stake_slashed = result->stake_slashed;
    proc->summary.fees_paid = result->fees_paid;
    proc->summary.finality = result->finality;
    proc->summary.tokens_out = result->tokens_out;
    proc->summary.request_latency = result->request_latency;
    proc->summary.first_token = result->first_token;
    proc_summarise_ledger(&proc->summary, result);
    if (proc->emulator != NULL) {
        proc->summary.emulate_lateness = tb__emulate_stats(proc->emulator)->lateness_ns;
    }
}

/* Publishes the counters so far into the shared snapshot: the slot not
 * in use, then the switch (a kill in between leaves the last one whole). */
static void proc_publish(tb_proc *proc)
{
    tb_snapshot *snapshot = proc->config->snapshot;
    if (snapshot == NULL) {
        return;
    }
    proc_summarise(proc);
    uint32_t next = 1u - atomic_load_explicit(&snapshot->current, memory_order_relaxed);
    ASSERT(next <= 1);
    snapshot->slots[next] = proc->summary;
    atomic_store_explicit(&snapshot->current, next, memory_order_release);
}

static void on_snapshot(evutil_socket_t fd, short what, void *context)
{
    (void)fd;
    (void)what;
    proc_publish(context);
}

/* Publishes the counters every TB_SNAPSHOT_NS while the process runs. */
static int proc_snapshots(tb_proc *proc)
{
    if (proc->config->snapshot == NULL) {
        return 0;
    }
    proc->snapshot_event = event_new(proc->base, -1, EV_PERSIST, on_snapshot, proc);
    struct timeval every = {0, TB_SNAPSHOT_NS / 1000u};
    if (proc->snapshot_event == NULL || event_add(proc->snapshot_event, &every) != 0) {
        return TB_ESYS;
    }
    return 0;
}

int tb_process_run(const tb_process_config *config)
{
    tb_proc *proc = util_calloc(1, sizeof(*proc));
    if (proc == NULL) {
        return TB_ENOMEM;
    }
    ASSERT(config->process < config->process_count);
    ASSERT(config->process_count <= TB_PROCESSES_MAX);
    proc->config = config;
    proc->scenario = config->scenario;
    proc->node_count = config->scenario->nodes.count;
    proc->workload_requests = config->scenario->workload.requests;
    proc->prng_state = util_mix64(config->scenario->seed ^ ((uint64_t)config->process << 32) ^
                                  config->generation) | 1u;
    signal(SIGPIPE, SIG_IGN);
    int rc = proc_open(proc);
    if (rc == 0) {
        rc = proc_snapshots(proc);
    }
    if (rc == 0) {
        node_event start = {.kind = NODE_EVENT_START};
        for (uint32_t i = config->process; i < proc->node_count; i += config->process_count) {
            node_event_run(proc, i, &start);
        }
        event_base_dispatch(proc->base);
        world_host_finish(proc->host);
        proc_summarise(proc);
        if (config->on_stop != NULL) {
            config->on_stop(config->context, config, world_host_result(proc->host), &proc->summary);
        }
    }
    proc_close(proc);
    util_free(proc);
    return rc;
}
