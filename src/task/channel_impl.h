/* channel_impl.h - what channel.c and select.c share. */
#ifndef CIO_CHANNEL_IMPL_H
#define CIO_CHANNEL_IMPL_H

#include "internal.h"

struct cio_chan {
    cio_loop *loop;
    size_t elem, cap;
    char *buf;                  /* cap elements (a ring) */
    size_t head, len;
    size_t reserved_items;      /* buffered: promised to woken receivers */
    size_t reserved_room;       /* buffered: promised to woken senders */
    cio__waitq senders, receivers;
    size_t lazy;                /* lazy waits not yet started (slot.c) */
    unsigned char closed;
    unsigned char in_storage;
};

typedef char chan_fits[((sizeof(struct cio_chan) + 15) & ~(size_t)15) <= 16 * sizeof(void *) ? 1 : -1];

/* channel.c */
void cio__chan_put(cio_chan *c, const void *src);
void cio__chan_get(cio_chan *c, void *dst);
void cio__chan_wake_receivers(cio_chan *c);
void cio__chan_wake_senders(cio_chan *c);
void cio__chan_unmatch(cio_chan *c, cio__slot *sender);
void cio__chan_take_from(cio__slot *sender, void *dst, size_t elem);
void cio__chan_fill(cio__slot *receiver, const void *elem, size_t size);

/* select.c: proxies are the slots a select queues on each channel. */
extern const cio__future_vt cio__select_proxy_vt;
static inline int cio__select_is_proxy(const cio__slot *s)
{
    return s->fut.vt == &cio__select_proxy_vt;     /* inline: every match asks */
}
/* Still waiting (not fired, not done). */
int cio__select_waiting(const cio__slot *proxy);
/* A channel chose this proxy: buffered (sender NULL) it was promised an
 * element or room; unbuffered recv, matched to `sender`. */
void cio__select_fire(cio__slot *proxy, cio__slot *sender);
/* This send proxy gives its element to receiver r (a plain receiver or a
 * recv proxy) now. */
void cio__select_send_to(cio__slot *proxy, cio__slot *r);
/* A receiver takes this send proxy's element now. */
void cio__select_sent(cio__slot *proxy, void *dst, size_t elem);
/* A sender hands this recv proxy an element now. */
void cio__select_filled(cio__slot *proxy, const void *elem, size_t size);
/* The sender matched to this (fired) recv proxy is going away. */
void cio__select_forget_sender(cio__slot *proxy);
/* The channel closed under this proxy. */
void cio__select_closed(cio__slot *proxy);

#endif
