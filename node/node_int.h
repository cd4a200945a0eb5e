/* node_int.h -- private declarations shared by node.c (gossip, codec,
 * dispatch) and serve.c (split inference). Not part of the interface. */
#ifndef NODE_NODE_INT_H
#define NODE_NODE_INT_H

#include "node/node.h"

/* Appends one zeroed effect of 'kind'; the outbox never overflows (ASSERT). */
node_effect *node__effect_append(node_outbox *outbox, node_effect_kind kind);

/* Inference timers carry this bit; gossip timers are small generations. */
#define NODE_TIMER_SERVE_BIT (UINT64_C(1) << 63)

static inline bool node__serve_owns_timer(uint64_t timer_id)
{
    return (timer_id & NODE_TIMER_SERVE_BIT) != 0;
}

int node__serve_message(node *self, uint64_t now_ns, const node_message *message,
                        node_outbox *outbox);
void node__serve_timer(node *self, uint64_t now_ns, uint64_t timer_id, node_outbox *outbox);
void node__serve_submit(node *self, uint64_t now_ns, uint64_t request, node_outbox *outbox);

#endif
