/* tb.h -- the testbed: the simulator's nodes in real time over real TCP.
 * Node processes on 127.0.0.1 (or on the hosts of a hosts file, tb_hosts)
 * each host a share of a scenario's nodes
 * (node id % processes) in a libevent loop; the world they run is built by
 * sim/ (world_host), so placement, serving and committees are the
 * simulator's; frame keys are the testbed's own. Between processes travel frames (this header's codec):
 *
 *   u32 length   bytes after this field (little-endian), <= the frame limit
 *   u8  version  TB_FRAME_VERSION
 *   u8  auth     TB_AUTH_MAC or TB_AUTH_ED25519
 *   u16 reserved zero
 *   u64 session  the sender process's start (CLOCK_MONOTONIC ns)
 *   u64 sequence per (source, dest) link, from 1 in each session
 *   u64 sent_ns  CLOCK_MONOTONIC ns when the frame was encoded
 *   64 bytes     the node message header (node_message_encode_header)
 *   payload      header.payload_bytes bytes
 *   tag          8-byte MAC (SipHash under the link key of source and dest)
 *                or a 64-byte ed25519 signature by the source, over
 *                version .. end of payload
 *
 * Keys are random and each process holds only its own nodes' secrets
 * (tb_keys_load); peers know public keys only. Commitments and reveals are
 * signed when the scenario's verification.crypto is ed25519; everything
 * else carries the MAC of its link, a key only the two endpoints can
 * compute (X25519 between their static keys, then BLAKE2b). An authentic
 * frame is also checked for freshness (replay window per link, and no
 * frame sent before the receiver started).
 *
 * Each process also serves HTTP (evhttp): /status, /metrics (Prometheus),
 * POST /v1/infer, and admin fault endpoints. tb_client drives load with
 * libcurl. Only testbed/ and tools/ use libevent and libcurl. */
#ifndef TB_TB_H
#define TB_TB_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/node.h"
#include "scenarios/scn.h"
#include "world/world.h"
#include "util/hash.h"

#define TB_FRAME_VERSION 2
#define TB_FRAME_PREFIX_BYTES 8            /* length, version, auth, reserved */
#define TB_FRAME_STAMP_BYTES 24            /* session, sequence, sent_ns */
#define TB_FRAME_HEADER_AT (TB_FRAME_PREFIX_BYTES + TB_FRAME_STAMP_BYTES)
#define TB_FRAME_MAX_DEFAULT (4u << 20)    /* largest frame a decoder accepts */
#define TB_AUTH_MAC 0
#define TB_AUTH_ED25519 1
#define TB_REPLAY_WINDOW 256               /* sequences a link's window remembers */

#define TB_EMALFORMED -1   /* bad length, header or reserved bits */
#define TB_ETOOBIG -2      /* length over the frame limit (or the buffer) */
#define TB_EVERSION -3     /* unknown frame version */
#define TB_EAUTH -4        /* MAC or signature does not verify, or wrong auth kind */
#define TB_ENOMEM -5
#define TB_ESYS -6         /* a system call failed (errno says which) */
#define TB_EINVAL -7
#define TB_EREPLAY -8      /* authentic but seen before, too old, or sent before we started */
#define TB_EKEYS -9        /* a key file is missing, unreadable or malformed */
#define TB_REJECT_REASONS 9 /* tb_summary.rejected[-code], codes down to TB_EREPLAY */
#define TB_EHOST -10       /* another host of a deployment did not answer */
#define TB_ECHAIN -11      /* the committed chain outgrew its shared memory */

/* The decoder's verdict when the frame is not complete yet. */
#define TB_FRAME_PARTIAL 1

/* Freshness fields of a frame, covered by its tag. 'session' is the
 * sender process's start on CLOCK_MONOTONIC (a restarted sender starts a
 * larger one); 'sequence' counts the frames of one (source, dest) link
 * from 1 within a session; 'sent_ns' is CLOCK_MONOTONIC at encoding. */
typedef struct tb_frame_stamp {
    uint64_t session;
    uint64_t sequence;
    uint64_t sent_ns;
} tb_frame_stamp;

/* A receiver's memory of one link: the highest sequence accepted in the
 * sender's current session and a ring bitmap of the TB_REPLAY_WINDOW
 * sequences below it (RFC 6479, as IPsec and WireGuard keep it). */
typedef struct tb_replay_window {
    uint64_t session;
    uint64_t top;                    /* highest sequence accepted; 0: none */
    uint64_t bits[TB_REPLAY_WINDOW / 64];
} tb_replay_window;

/* Accepts (and records) 'sequence' of 'session', or returns TB_EREPLAY for
 * sequence 0, a session older than the window's, a sequence already seen
 * or one TB_REPLAY_WINDOW or more below the highest. A newer session
 * starts the window afresh. Never asserts on the values (they come from a
 * peer, after authentication). */
int tb_replay_accept(tb_replay_window *window, uint64_t session, uint64_t sequence);

/* One (held node, any node) link: its MAC key, computed on first use and
 * cached, the sequence of the last frame sent on it and the window of the
 * frames received on it. */
typedef struct tb_link {
    bool keyed;
    bool unusable;                   /* the peer's public key is a low-order point */
    uint8_t mac_key[UTIL_MAC_KEY_BYTES];
    uint64_t sent;
    tb_replay_window window;
} tb_link;

/* The keys one process holds: every node's public keys (the roster), the
 * secret keys of the nodes it hosts only, and its links. Node keys are
 * random (tb_keys_generate), never derived from the scenario's seed. */
typedef struct tb_keys {
    uint32_t node_count;
    bool signing;                    /* ed25519 for commitments and reveals */
    uint8_t (*sign_public)[UTIL_SIGN_PUBLIC_KEY_BYTES];
    uint8_t (*kx_public)[UTIL_KX_PUBLIC_KEY_BYTES];
    uint32_t *slot_of;               /* node -> index of its secrets, UINT32_MAX: not held */
    uint32_t held_count;
    uint8_t (*sign_secret)[UTIL_SIGN_SECRET_KEY_BYTES];  /* [held_count] */
    uint8_t (*kx_secret)[UTIL_KX_SECRET_KEY_BYTES];      /* [held_count] */
    tb_link *links;                  /* [held_count * node_count] */
    uint64_t session;                /* the session of the frames this holder sends */
    uint64_t started_ns;             /* frames sent before this are refused (TB_EREPLAY) */
} tb_keys;

/* Fresh random keys (libsodium's randombytes) for 'node_count' nodes, all
 * held: what keygen and the launcher write, and what tests sign with.
 * Returns 0 or TB_ENOMEM. Free with tb_keys_deinit, which wipes them. */
int tb_keys_generate(tb_keys *keys, uint32_t node_count, bool signing);

/* Writes the roster (DIR/roster: every node's public keys, mode 0644)
 * and one secret file per node (DIR/node-I.key, mode 0600, created
 * exclusively). 'dir' must exist. Returns 0 or TB_ESYS (errno set). */
int tb_keys_write(const tb_keys *keys, const char *dir);

/* Removes what tb_keys_write wrote in 'dir' (not 'dir' itself). */
void tb_keys_remove(const char *dir, uint32_t node_count);

/* Loads DIR/roster (exactly 'node_count' nodes) and the secret file of
 * every node 'hosts' selects, and no other. Returns 0, TB_ENOMEM, or
 * TB_EKEYS with a reason in why[why_size]. Files are untrusted input. */
int tb_keys_load(tb_keys *keys, const char *dir, uint32_t node_count, bool signing,
                 bool (*hosts)(void *context, uint32_t node_id), void *context, char *why,
                 size_t why_size);

/* Writes the public keys of 'keys' in the roster format to DIR/NAME, under
 * a temporary name first (readers see all of it or nothing): a host's
 * part of a deployment's roster. Returns 0 or TB_ESYS. */
int tb_keys_roster_put(const tb_keys *keys, const char *dir, const char *name);

/* Reads the roster DIR/NAME (untrusted; exactly keys->node_count nodes)
 * and copies the public keys of the nodes 'take' selects into 'keys'.
 * Returns 0 or TB_EKEYS with a reason in why[why_size]. */
int tb_keys_roster_take(tb_keys *keys, const char *dir, const char *name,
                        bool (*take)(void *context, uint32_t node_id), void *context, char *why,
                        size_t why_size);

/* Starts this holder's session at 'now_ns' (CLOCK_MONOTONIC, > 0): frames
 * it sends carry that session. Frames sent before 'fresh_after_ns' are
 * refused: a restarted receiver has lost its windows, so it accepts only
 * frames its previous life cannot have accepted (sent after that life
 * ended). */
void tb_keys_start(tb_keys *keys, uint64_t now_ns, uint64_t fresh_after_ns);

void tb_keys_deinit(tb_keys *keys);

/* Bytes tb_frame_encode writes for 'message'. Cannot fail. */
size_t tb_frame_size(const tb_keys *keys, const node_message *message);

/* Encodes 'message' (its payload_bytes bytes at message->payload, or none
 * when payload is NULL) into buffer[capacity] with the next sequence of
 * the link (source, dest), sent at 'sent_ns', authenticated by source:
 * its ed25519 signature for a vote of a signing run, else the link's MAC.
 * message->source must be held. Returns the frame's size, TB_ETOOBIG when
 * it does not fit 'capacity' or exceeds 'frame_max', or TB_EAUTH when the
 * destination's public key is unusable. */
int tb_frame_encode(tb_keys *keys, const node_message *message, uint64_t sent_ns,
                    uint8_t *buffer, size_t capacity, size_t frame_max);

/* The encoder underneath: 'auth' TB_AUTH_MAC with a 16-byte MAC 'key' or
 * TB_AUTH_ED25519 with a 64-byte ed25519 secret 'key'. For tests and
 * tools that hold keys outside a tb_keys. Same returns. */
int tb_frame_seal(const node_message *message, const tb_frame_stamp *stamp, uint8_t auth,
                  const uint8_t *key, uint8_t *buffer, size_t capacity, size_t frame_max);

/* Decodes the frame at the start of bytes[size] (untrusted) addressed to a
 * node 'keys' holds. Returns 0 with *message_out filled (its payload
 * points into 'bytes') and *frame_bytes_out = the frame's size;
 * TB_FRAME_PARTIAL when more bytes are needed; or a TB_E* error: TB_EAUTH
 * when the tag does not verify under the source's key (or the destination
 * is not held), TB_EREPLAY when the authentic frame was sent before
 * keys->started_ns or its link's window refuses it. Only an accepted frame
 * moves the window. After TB_EAUTH or TB_EREPLAY, *frame_bytes_out is the
 * frame's size, so a stream can skip it; after any other error the stream
 * is unusable. Never asserts on the bytes. */
int tb_frame_decode(tb_keys *keys, const uint8_t *bytes, size_t size, size_t frame_max,
                    node_message *message_out, size_t *frame_bytes_out);

/* A random admin token: TB_TOKEN_CHARS lowercase hex characters and a NUL. */
#define TB_TOKEN_CHARS 64
void tb_token_generate(char token_out[TB_TOKEN_CHARS + 1]);

const char *tb_strerror(int code);

/* ---- node processes ---- */

#define TB_PROCESSES_MAX 64
#define TB_GENERATIONS 8                   /* restarts a process's HTTP id range allows */

/* Counters a process reports to the launcher when it stops. */
typedef struct tb_summary {
    uint32_t process;
    uint64_t frames_in;
    uint64_t frames_out;
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t rejected[TB_REJECT_REASONS]; /* by -TB_E* code: malformed, too big, version,
                                          * auth, replay */
    uint64_t dropped;                /* frames dropped by fault rules */
    uint64_t requests_submitted;
    uint64_t requests_completed;
    uint64_t requests_finished;
    uint64_t accepted_wrong;
    uint64_t honest_penalised;
    uint64_t disputes;               /* verification: as the simulator counts them */
    uint64_t resamples;
    uint64_t catch_ups;              /* hops that resent a member the rows it missed */
    uint64_t flops_total;
    uint64_t compute_calls;          /* forward calls, and those the memory side timed */
    uint64_t memory_bound_calls;
    uint64_t failovers;              /* replays on a fresh route (workload.failover) */
    uint64_t suspicions;             /* verification.suspect_after: members suspected */
    uint64_t members_skipped;        /* and gone on without, unjudged */
    bool suspecting;                 /* suspect_after is on */
    uint64_t batches;                /* continuous batching: calls as servers ran them, */
    uint64_t batched_calls;          /* the steps that shared theirs, the largest batch */
    uint32_t batch_size_max;
    uint64_t native_flops;
    uint64_t referee_flops;
    double stake_slashed;
    double fees_paid;
    uint64_t tokens_out;
    world_type_stats types[NODE_MESSAGE_TYPE_COUNT];
    util_hist request_latency;       /* completed requests: submit -> finalized, ns */
    util_hist first_token;
    util_hist finality;              /* completed requests: submit -> final, ns */
    util_hist emulate_lateness;      /* --emulate: frame hand-over minus requested arrival, ns */
    /* A ledger section: each process learns the committed chain from the
     * honest validator(s) it hosts and applies every block to its ledger,
     * so its stake_slashed and fees_paid are the chain's (the total keeps
     * the largest, not the sum); what a transaction does is counted by
     * its client's process only (world_ledger.c), so those counts add. */
    bool ledger_on;
    bool ledger_settlement;
    uint64_t ledger_blocks;          /* heights this process committed (the total: the most) */
    uint64_t view_changes;           /* its honest validators' TC views (disjoint: they add) */
    uint64_t ledger_forks;           /* among its own validators; with the shared chain
                                      * (tb_chain) also against other processes' */
    uint64_t unjust_slashes;
    uint64_t evidence_verified;
    uint64_t evidence_rejected;
    uint64_t ledger_resends;
    bool ledger_gossip;              /* ledger.dissemination: gossip */
    uint64_t ledger_gossip_duplicates; /* its validators' (disjoint: they add) */
    uint64_t ledger_pull_answers;
    util_hist ledger_finality;       /* its clients' transactions: submit -> commit, ns */
    uint32_t lives_lost;             /* launcher total: process lives that ended without
                                      * a summary (killed by a crash fault, or died),
                                      * counted from their last snapshot */
    uint32_t lives_died;             /* of those, the ones no crash fault killed (an
                                      * admin crash, a process that failed): the run
                                      * lacks their rows and is incomplete */
} tb_summary;

#define TB_SNAPSHOT_NS 100000000u    /* a process publishes its counters this often */

/* Where a process publishes its counters while it runs, in memory it
 * shares with the launcher: two slots, the one 'current' names complete
 * (a process killed while writing the other leaves it intact). What the
 * launcher counts for a life that ended without its summary. */
typedef struct tb_snapshot {
    _Atomic uint32_t current;
    tb_summary slots[2];
} tb_snapshot;

/* verification.draw_epoch: the settled verdicts of every workload
 * request, in memory the launcher maps before the first fork and every
 * process shares (tb_settle.c). A request's client process writes its
 * log once, when the request finishes, then marks it published; any
 * process reads it to replay the settled state its draws need. */
typedef struct tb_settled {
    void *memory;                    /* the shared mapping */
    size_t bytes;
    uint64_t requests;               /* workload requests */
    uint64_t capacity;               /* entries per request */
    _Atomic uint32_t *state;         /* per request: 0 open, 1 published, 2 truncated */
    uint32_t *count;                 /* per request: entries written */
    world_settle_entry *entries;     /* request r: entries[r * capacity ...] */
} tb_settled;

/* Maps the shared log for 'requests' requests of 'capacity' entries
 * each. 0 or TB_ESYS. */
int tb_settled_map(tb_settled *settled, uint64_t requests, uint64_t capacity);
void tb_settled_unmap(tb_settled *settled);

/* A ledger section: the chain the processes' honest validators commit,
 * in memory the launcher maps before the first fork (tb_settle.c). The
 * first process to record a height writes its block id and its
 * transactions (into the payload arena); a process that records the
 * height later compares its own block with it, and a different one is a
 * ledger_fork in its rows (world_host_block_forked), as two validators of
 * one process are compared by the recorder. One host's processes share
 * it; across hosts each host compares its own.
 *
 * With one host, the committee draws read it too: a request's client
 * process sets the request's agreed height (the highest height published
 * without a gap) at its first draw, before the request's first message
 * leaves, and every process draws the request's committees from the state
 * after the chain's blocks 1 .. that height (world_host_chain_source). */
#define TB_BLOCK_ID_BYTES 32
typedef struct tb_chain_entry {
    _Atomic uint32_t state;          /* 0 free, 1 being written, 2 written, 3 written
                                      * without its transactions (they did not fit) */
    uint32_t process;                /* who wrote it */
    uint8_t id[TB_BLOCK_ID_BYTES];
    uint64_t offset;                 /* its transactions: payload[offset .. offset + size) */
    uint64_t size;
} tb_chain_entry;

typedef struct tb_chain {
    void *memory;                    /* the shared mapping */
    size_t bytes;
    uint64_t heights;                /* entries; later heights are not compared */
    tb_chain_entry *entries;         /* height h: entries[h - 1] */
    uint8_t *payload;                /* the blocks' transactions, world_host_block_txs' form */
    uint64_t payload_bytes;
    _Atomic uint64_t *payload_used;
    _Atomic uint32_t *overflow;      /* a block did not fit: the run fails (TB_ECHAIN) */
    _Atomic uint64_t *request_height; /* per request id: agreed height + 1, 0 = none yet */
    uint64_t requests;
    bool draws;                      /* the draws read it (one host) */
} tb_chain;

/* Maps the shared chain for 'heights' heights, 'payload_bytes' of their
 * transactions and the agreed heights of 'requests' request ids (0: the
 * draws do not read the chain). 0 or TB_ESYS. */
int tb_chain_map(tb_chain *chain, uint64_t heights, uint64_t payload_bytes, uint64_t requests);
void tb_chain_unmap(tb_chain *chain);

/* Frames rejected for any reason. Cannot fail. */
uint64_t tb_summary_rejected(const tb_summary *summary);

typedef struct tb_process_config tb_process_config;
struct tb_process_config {
    const scn_scenario *scenario;
    uint32_t process;                /* this process's index */
    uint32_t process_count;
    uint16_t peer_ports[TB_PROCESSES_MAX];
    uint16_t http_ports[TB_PROCESSES_MAX];
    uint32_t addresses[TB_PROCESSES_MAX]; /* IPv4 of each process's host, network byte
                                      * order; 0: 127.0.0.1 (one host) */
    uint64_t wire_offset_ns;         /* added to CLOCK_MONOTONIC for the clock frames
                                      * carry (session, sent_ns, fresh_after): 0 on one
                                      * host; CLOCK_REALTIME's offset across hosts */
    int peer_fd;                     /* listening socket for frames (inherited) */
    int http_fd;                     /* listening socket for HTTP (inherited) */
    uint64_t epoch_ns;               /* CLOCK_MONOTONIC at the run's start */
    uint64_t fresh_after_ns;         /* CLOCK_MONOTONIC: frames sent before are refused
                                      * (the run's start, or when the previous life of
                                      * this process was reaped) */
    uint32_t generation;             /* restarts so far (< TB_GENERATIONS) */
    uint32_t http_requests;          /* HTTP request ids per process and generation */
    const char *keys_dir;            /* roster and node-I.key files (tb_keys_load) */
    char admin_token[TB_TOKEN_CHARS + 1]; /* Authorization: Bearer, for /admin */
    bool workload;                   /* replay the scenario's workload in real time */
    bool apply_faults;               /* apply the scenario's network/behaviour faults */
    bool emulate;                    /* hold frames to the scenario's network model */
    size_t frame_max;
    tb_snapshot *snapshot;           /* shared with the launcher; NULL: none */
    const tb_settled *settled;       /* verification.draw_epoch: the shared log, else NULL */
    const tb_chain *chain;           /* a ledger section: the shared chain, else NULL */
    /* Called once when the process stops, with its world's result (rows of
     * its own clients' requests and its own nodes). May be NULL. */
    void (*on_stop)(void *context, const tb_process_config *config, const world_result *result,
                    const tb_summary *summary);
    void *context;
};

/* Runs one node process until SIGTERM or SIGINT (or an admin crash, which
 * exits at once). Returns 0, or a TB_E* / SIM_E* code when the world or a
 * socket cannot be set up. */
int tb_process_run(const tb_process_config *config);

/* Number of request ids the worlds of a run hold: the workload's and every
 * process's HTTP ids. */
uint64_t tb_extra_requests(const tb_process_config *config);

/* ---- deployment over hosts (tb_hosts.c) ---- */

/* A hosts file: one `host:first-last` a line (blank lines and `#`
 * comments allowed). The host is an IPv4 address or a name resolved to
 * one; each process takes two ports of its host's range (frames, then
 * HTTP), so a range holds an even count. Processes are numbered in file
 * order: host 0 runs processes 0 .. k0-1, host 1 the next, and node i runs
 * in process i % (all processes), as on one host. */
typedef struct tb_host {
    char name[128];                  /* as written */
    uint32_t address;                /* IPv4, network byte order */
    uint16_t port_first;
    uint16_t port_last;
    uint32_t process_first;
    uint32_t process_count;
} tb_host;

typedef struct tb_hosts {
    uint32_t count;
    uint32_t process_count;          /* over all hosts, <= TB_PROCESSES_MAX */
    tb_host hosts[TB_PROCESSES_MAX];
} tb_hosts;

/* Parses text[size] (untrusted), read from 'path' (for messages). Returns
 * 0, or TB_EINVAL with "path:line:col: message" in why[why_size]. Never
 * asserts on the bytes. Names are resolved (getaddrinfo, IPv4). */
int tb_hosts_parse(const char *path, const char *text, size_t size, tb_hosts *out, char *why,
                   size_t why_size);

/* Reads and parses the file 'path'. Same returns; a file that cannot be
 * read is TB_EINVAL with "path: reason". */
int tb_hosts_load(const char *path, tb_hosts *out, char *why, size_t why_size);

/* The host that runs 'process' (< hosts->process_count). */
uint32_t tb_hosts_host_of(const tb_hosts *hosts, uint32_t process);

/* The deployment directory: where the hosts of one deployment meet, on
 * storage they share (NFS, or one machine's disk for namespaces). Host I
 * writes `roster-I` (its nodes' public keys; their secrets never leave it)
 * and, when it is done, `summary-I` (its counters); host 0 writes `run`
 * (the run id every host's processes write their rows into). Every file is
 * written under a temporary name and renamed: a reader sees all of it or
 * nothing. */

/* Writes 'bytes' to DIR/NAME atomically. Returns 0 or TB_ESYS. */
int tb_deploy_put(const char *dir, const char *name, const void *bytes, size_t size);

/* Waits until DIR/NAME exists (or *stop), at most 'wait_ns', then reads
 * at most 'capacity' bytes of it. Returns the bytes read, or -1 when it did
 * not appear in time (or cannot be read). */
long tb_deploy_get(const char *dir, const char *name, uint64_t wait_ns,
                   volatile sig_atomic_t *stop, void *bytes, size_t capacity);

/* Whether DIR/NAME exists. */
bool tb_deploy_exists(const char *dir, const char *name);

/* Adds one summary's counters into 'total'. Cannot fail. */
void tb_summary_add(tb_summary *total, const tb_summary *one);

/* ---- the launcher ---- */

typedef struct tb_launch_config {
    const scn_scenario *scenario;
    uint32_t process_count;
    uint32_t http_requests;          /* per process and generation */
    const char *keys_dir;            /* NULL: fresh keys in a private run directory */
    const char *admin_token;         /* TB_TOKEN_CHARS hex characters */
    bool workload;
    bool apply_faults;
    bool emulate;                    /* the scenario's links between processes */
    uint64_t run_ns;                 /* stop after this (0: the scenario's duration) */
    uint16_t base_port;              /* 0: ephemeral ports */
    size_t frame_max;
    /* Deployment over hosts: NULL runs every process on 127.0.0.1. Else
     * this launcher runs host 'host_index''s processes only, listening on
     * its address and ports; its nodes' keys are drawn here, their public
     * halves exchanged through 'deploy_dir' (every host's roster part is
     * awaited at most 'wait_ns'), and every other host's processes must
     * accept a connection before traffic starts. */
    const tb_hosts *hosts;
    uint32_t host_index;
    const char *deploy_dir;
    uint64_t wait_ns;
    void (*on_stop)(void *context, const tb_process_config *config, const world_result *result,
                    const tb_summary *summary);
    void *context;
    /* Called once the processes listen: their HTTP ports. May be NULL. */
    void (*on_ready)(void *context, const uint16_t *http_ports, uint32_t count);
    /* A fault of the schedule started or ended (real time since start). */
    void (*on_fault)(void *context, uint32_t fault_index, const char *kind, const char *action,
                     uint64_t t_ns, uint32_t nodes_affected);
    /* The caller's flag, set by a stop signal after the first (NULL: none).
     * Once it is not 0, the processes still stopping (writing their rows, or
     * waiting for the results file's lock to write them) are killed at
     * once, their rows lost (said on stderr), instead of given 20 s each. */
    const volatile sig_atomic_t *hurry;
    /* At the run's end (no stop signal): how long each process may take to
     * write its rows before it is killed, at least the 20 s a stop signal
     * gives (the caller's wait for the results file's lock, plus a margin:
     * another process storing into the file holds them up). */
    uint64_t end_wait_ns;
} tb_launch_config;

/* Starts the processes, applies crash faults (kill -9 and restart) in
 * real time, waits for the run's time or *stop, stops the processes one by
 * one (each calls on_stop in turn; see 'hurry') and reaps them all.
 * Returns 0 or a TB_E* code; across hosts, TB_EHOST when another host's
 * keys did not come or its processes cannot be reached (said on stderr). */
int tb_launch(const tb_launch_config *config, volatile sig_atomic_t *stop,
              tb_summary *total_out);

/* ---- the POST /v1/infer body (tb_json.c) ---- */

#define TB_INFER_PROMPT_MAX 4096           /* most prompt tokens a body may carry */

/* Parses an infer body, text[size] (untrusted, need not be NUL-terminated):
 * exactly {"prompt": [uint, ...], "generate": uint} in any key order, JSON
 * whitespace allowed, "generate" optional, nothing after the closing brace.
 * Every token must be below 'vocab' (>= 1). On success returns true with
 * tokens[0 .. *count) filled (1 .. TB_INFER_PROMPT_MAX entries; 'tokens'
 * must have room for TB_INFER_PROMPT_MAX) and *generate the value given, or
 * 0 when absent. Returns false for anything else (an empty prompt, an
 * unknown or escaped key, a second "prompt", numbers over their bound);
 * *count and *generate are then meaningless. Never asserts on the bytes;
 * allocates nothing. */
bool tb_infer_body_parse(const char *text, size_t size, uint32_t vocab, uint32_t *tokens,
                         uint32_t *count, uint64_t *generate);

/* Reading a server's JSON answer (the load client), with the same strict
 * reader: text[size] must be exactly one JSON object (whitespace after it
 * allowed; keys of at most 63 bytes without escapes; values of any kind,
 * nested at most 32 deep). tb_json_find gives the span of top-level 'key''s
 * value; tb_json_uint an unsigned integer value, tb_json_text a string
 * value without escapes into out[out_size], tb_json_array_count the
 * number of elements of an array value. Each returns false when the text
 * is not such an object, the key is absent or the value is not of that
 * kind. Never asserts on the bytes; allocates nothing. */
bool tb_json_find(const char *text, size_t size, const char *key, const char **value_out,
                  size_t *value_size_out);
bool tb_json_uint(const char *text, size_t size, const char *key, uint64_t *value_out);
bool tb_json_text(const char *text, size_t size, const char *key, char *out, size_t out_size);
bool tb_json_array_count(const char *text, size_t size, const char *key, uint32_t *count_out);

/* ---- the load client (libcurl) ---- */

typedef struct tb_client_result {
    uint64_t request_id;             /* the server's id, or UINT64_MAX when none */
    uint32_t client;                 /* node that served as client */
    uint32_t http_status;            /* 0: no answer */
    uint32_t status;                 /* NODE_REQUEST_*, 0 unknown */
    uint32_t prompt_tokens;
    uint32_t tokens_out;
    uint64_t start_ns;               /* wall time since the client's start */
    uint64_t end_ns;
} tb_client_result;

typedef struct tb_client_config {
    const char *const *urls;         /* base URLs, e.g. http://127.0.0.1:8080 */
    uint32_t url_count;
    uint64_t requests;
    uint32_t concurrency;
    double rate_per_s;               /* 0: as fast as concurrency allows */
    uint32_t prompt_min;
    uint32_t prompt_max;
    uint32_t vocab;
    uint32_t generate;               /* 0: the server's */
    uint64_t seed;
    uint64_t timeout_ms;
} tb_client_config;

/* Sends config->requests POST /v1/infer requests, round-robin over the
 * URLs, at most 'concurrency' at once. results[requests] receives one row
 * each. Returns 0 or TB_ENOMEM / TB_EINVAL. *wall_ns_out is the total. */
int tb_client_run(const tb_client_config *config, tb_client_result *results,
                  uint64_t *wall_ns_out);

#endif
