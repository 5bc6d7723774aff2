/* watch.c - the loop's readiness callbacks (add_reader / add_writer),
 * signal handlers, calls from other threads, threads, name resolution.
 *
 * A reader or writer is a pool slot holding a cio__io; the backend queues
 * its node when the fd is ready and the loop calls the callback from there
 * (level-triggered: again on the next iteration while the fd stays ready).
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "net/net.h"

/* ---- the net state ---- */

struct cio__fdw {
    cio__io io;
    cio_callback_fn cb;
    void *arg;
    cio__fdw **slot;        /* where the table points at it */
    uint8_t running, dead;
};

struct cio__sigh {
    cio__sig sig;
    cio_callback_fn cb;
    void *arg;
    uint8_t running, dead;
};

struct cio__thread {
    cio__node node;         /* handed to the loop when the thread is done */
    cio__thread *prev, *next;
    cio_loop *loop;
    pthread_t tid;
    cio_future *fut;        /* pending until the thread is done */
    int (*fn)(void *arg, cio_value *result);
    void *arg;
    int err;
    cio_value result;
    uint8_t orphan;         /* the loop is being freed: already unlinked */
    /* cio_getaddrinfo's request */
    char *host;
    char service[8];
    struct addrinfo hints;
    struct addrinfo *ai;
};

static void net_free(cio_loop *loop);

cio__net *cio__net_get(cio_loop *loop)
{
    cio__net *net = loop->net;

    if (net != NULL)
        return net;
    net = cio_alloc(sizeof *net);
    if (net == NULL)
        return NULL;
    memset(net, 0, sizeof *net);
    loop->net = net;
    loop->net_free = net_free;
    return net;
}

static void fdw_free(cio_loop *loop, cio__fdw *w)
{
    cio__io_stop(loop, &w->io);
    cio__pool_free(loop, w, sizeof *w);
}

static void sigh_free(cio_loop *loop, cio__sigh *h)
{
    cio__sig_stop(loop, &h->sig);
    cio__pool_free(loop, h, sizeof *h);
}

static void threads_join(cio__net *net);

static void net_free(cio_loop *loop)
{
    cio__net *net = loop->net;
    size_t i;

    if (net == NULL)
        return;
    threads_join(net);
    cio__servers_free_all(loop, net);
    cio__streams_free_all(loop, net);
    for (i = 0; i < net->nfds; i++) {
        if (net->readers[i] != NULL)
            fdw_free(loop, net->readers[i]);
        if (net->writers[i] != NULL)
            fdw_free(loop, net->writers[i]);
    }
    cio_free(net->readers, net->nfds * sizeof *net->readers);
    cio_free(net->writers, net->nfds * sizeof *net->writers);
    if (net->sigs != NULL) {
        for (i = 0; i < (size_t)NSIG; i++)
            if (net->sigs[i] != NULL)
                sigh_free(loop, net->sigs[i]);
        cio_free(net->sigs, NSIG * sizeof *net->sigs);
    }
    cio_free(net, sizeof *net);
    loop->net = NULL;
    loop->net_free = NULL;
}

/* ---- small futures ---- */

cio_future *cio__future_failed(cio_loop *loop, int err)
{
    cio_future *f = cio_future_new(loop);

    if (f != NULL)
        cio_future_set_error(f, err);
    return f;
}

cio_future *cio__future_done(cio_loop *loop, cio_value v)
{
    cio_future *f = cio_future_new(loop);

    if (f != NULL)
        cio_future_set_result(f, v);
    return f;
}

/* ---- readers and writers ---- */

static void fdw_run(cio_loop *loop, cio__node *node)
{
    cio__fdw *w = CIO__CONTAINER_OF(node, cio__fdw, io.node);
    int err;

    cio__io_take(&w->io);
    if (loop->closing)
        return;
    w->running = 1;
    err = w->cb(loop, w->arg);
    w->running = 0;
    if (err < 0)
        cio__report(loop, "Exception in callback", err, NULL, NULL);
    if (w->dead)
        cio__pool_free(loop, w, sizeof *w);
}

static int grow_fds(cio__net *net, size_t fd)
{
    size_t n = net->nfds ? net->nfds : 64, i;
    cio__fdw **r, **w;

    while (n <= fd)
        n *= 2;
    r = cio_realloc(net->readers, net->nfds * sizeof *r, n * sizeof *r);
    if (r == NULL)
        return CIO_ENOMEM;
    net->readers = r;
    w = cio_realloc(net->writers, net->nfds * sizeof *w, n * sizeof *w);
    if (w == NULL) {
        /* keep the tables the same length */
        r = cio_realloc(net->readers, n * sizeof *r, net->nfds * sizeof *r);
        if (r != NULL || net->nfds == 0)
            net->readers = r;
        return CIO_ENOMEM;
    }
    net->writers = w;
    for (i = net->nfds; i < n; i++)
        r[i] = w[i] = NULL;
    /* the entries know their slot: fix them after the move */
    for (i = 0; i < net->nfds; i++) {
        if (r[i] != NULL)
            r[i]->slot = &r[i];
        if (w[i] != NULL)
            w[i]->slot = &w[i];
    }
    net->nfds = n;
    return 0;
}

static int add_watch(cio_loop *loop, int fd, cio_callback_fn cb, void *arg, int writer)
{
    cio__net *net;
    cio__fdw **table, *w;
    int err;

    if (loop == NULL || fd < 0 || cb == NULL)
        return CIO_EINVAL;
    if (loop->closed)
        return CIO_ECLOSED;
    net = cio__net_get(loop);
    if (net == NULL)
        return CIO_ENOMEM;
    if ((size_t)fd >= net->nfds && (err = grow_fds(net, (size_t)fd)) != 0)
        return err;
    table = writer ? net->writers : net->readers;
    if ((w = table[fd]) != NULL) {     /* replace the callback */
        w->cb = cb;
        w->arg = arg;
        return 0;
    }
    w = cio__pool_alloc(loop, sizeof *w);
    if (w == NULL)
        return CIO_ENOMEM;
    cio__io_init(&w->io, fd, fdw_run);
    w->cb = cb;
    w->arg = arg;
    w->running = w->dead = 0;
    err = cio__io_set(loop, &w->io, writer ? CIO__IO_WRITE : CIO__IO_READ);
    if (err != 0) {
        cio__pool_free(loop, w, sizeof *w);
        return err;
    }
    table[fd] = w;
    w->slot = &table[fd];
    return 0;
}

static int remove_watch(cio_loop *loop, int fd, int writer)
{
    cio__net *net = loop != NULL ? loop->net : NULL;
    cio__fdw *w;

    if (net == NULL || fd < 0 || (size_t)fd >= net->nfds)
        return 0;
    w = writer ? net->writers[fd] : net->readers[fd];
    if (w == NULL)
        return 0;
    *w->slot = NULL;
    if (w->running) {
        cio__io_stop(loop, &w->io);
        w->dead = 1;                    /* freed when its callback returns */
    } else {
        fdw_free(loop, w);
    }
    return 1;
}

int cio_loop_add_reader(cio_loop *loop, int fd, cio_callback_fn cb, void *arg)
{
    return add_watch(loop, fd, cb, arg, 0);
}

int cio_loop_add_writer(cio_loop *loop, int fd, cio_callback_fn cb, void *arg)
{
    return add_watch(loop, fd, cb, arg, 1);
}

int cio_loop_remove_reader(cio_loop *loop, int fd)
{
    return remove_watch(loop, fd, 0);
}

int cio_loop_remove_writer(cio_loop *loop, int fd)
{
    return remove_watch(loop, fd, 1);
}

/* ---- signals ---- */

static void sigh_run(cio_loop *loop, cio__node *node)
{
    cio__sigh *h = CIO__CONTAINER_OF(node, cio__sigh, sig.node);
    int err;

    h->sig.queued = 0;
    if (loop->closing)
        return;
    h->running = 1;
    err = h->cb(loop, h->arg);
    h->running = 0;
    if (err < 0)
        cio__report(loop, "Exception in signal handler", err, NULL, NULL);
    if (h->dead)
        cio__pool_free(loop, h, sizeof *h);
}

static int main_thread(void)
{
#ifdef SYS_gettid
    return (pid_t)syscall(SYS_gettid) == getpid();
#else
    return 1;
#endif
}

int cio_loop_add_signal_handler(cio_loop *loop, int signum, cio_callback_fn cb, void *arg)
{
    cio__net *net;
    cio__sigh *h;
    int err;

    if (loop == NULL || cb == NULL || signum <= 0 || signum >= NSIG)
        return CIO_EINVAL;
    if (signum == SIGKILL || signum == SIGSTOP)
        return CIO_ENOTSUP;
    if (loop->closed)
        return CIO_ECLOSED;
    if (!main_thread())
        return CIO_EINVALSTATE;
    net = cio__net_get(loop);
    if (net == NULL)
        return CIO_ENOMEM;
    if (net->sigs == NULL) {
        net->sigs = cio_alloc(NSIG * sizeof *net->sigs);
        if (net->sigs == NULL)
            return CIO_ENOMEM;
        memset(net->sigs, 0, NSIG * sizeof *net->sigs);
    }
    if ((h = net->sigs[signum]) != NULL) {
        h->cb = cb;
        h->arg = arg;
        return 0;
    }
    h = cio__pool_alloc(loop, sizeof *h);
    if (h == NULL)
        return CIO_ENOMEM;
    memset(h, 0, sizeof *h);
    h->cb = cb;
    h->arg = arg;
    err = cio__sig_start(loop, &h->sig, signum, sigh_run);
    if (err != 0) {
        cio__pool_free(loop, h, sizeof *h);
        return err;
    }
    net->sigs[signum] = h;
    return 0;
}

int cio_loop_remove_signal_handler(cio_loop *loop, int signum)
{
    cio__net *net = loop != NULL ? loop->net : NULL;
    cio__sigh *h;

    if (signum <= 0 || signum >= NSIG)
        return CIO_EINVAL;
    if (net == NULL || net->sigs == NULL || (h = net->sigs[signum]) == NULL)
        return 0;
    net->sigs[signum] = NULL;
    cio__sig_stop(loop, &h->sig);
    if (h->running)
        h->dead = 1;
    else
        cio__pool_free(loop, h, sizeof *h);
    return 1;
}

/* ---- calls from other threads ---- */

typedef struct ts_call {
    cio__node node;
    cio_callback_fn cb;
    void *arg;
} ts_call;

static void ts_run(cio_loop *loop, cio__node *node)
{
    ts_call *c = CIO__CONTAINER_OF(node, ts_call, node);
    cio_callback_fn cb = c->cb;
    void *arg = c->arg;
    int err;

    cio_free(c, sizeof *c);             /* cio_alloc: made on another thread */
    if (loop->closing)
        return;
    err = cb(loop, arg);
    if (err < 0)
        cio__report(loop, "Exception in callback", err, NULL, NULL);
}

int cio_loop_call_soon_threadsafe(cio_loop *loop, cio_callback_fn cb, void *arg)
{
    ts_call *c;
    int err;

    if (loop == NULL || cb == NULL)
        return CIO_EINVAL;
    c = cio_alloc(sizeof *c);
    if (c == NULL)
        return CIO_ENOMEM;
    c->node.run = ts_run;
    c->cb = cb;
    c->arg = arg;
    err = cio__backend_call_threadsafe(loop, &c->node);
    if (err != 0)
        cio_free(c, sizeof *c);
    return err;
}

/* ---- threads ---- */

/* Back on the loop thread: complete the future, join and free. */
static void thread_done(cio_loop *loop, cio__node *node)
{
    cio__thread *t = CIO__CONTAINER_OF(node, cio__thread, node);
    cio__net *net = loop->net;

    if (!t->orphan) {
        pthread_join(t->tid, NULL);
        if (t->prev != NULL)
            t->prev->next = t->next;
        else if (net != NULL)
            net->threads = t->next;
        if (t->next != NULL)
            t->next->prev = t->prev;
    }
    if (t->fut->state == CIO__PENDING && !loop->closing) {
        if (t->err != 0)
            cio_future_set_error(t->fut, t->err);
        else
            cio_future_set_result(t->fut, t->result);
        t->ai = NULL;                   /* handed over */
    }
    if (t->ai != NULL)
        freeaddrinfo(t->ai);
    cio_future_unref(t->fut);
    if (t->host != NULL)
        cio_free(t->host, strlen(t->host) + 1);
    cio_free(t, sizeof *t);
}

static void *thread_main(void *p)
{
    cio__thread *t = p;

    t->result.p = NULL;
    t->result.i = 0;
    t->err = t->fn(t->arg, &t->result);
    if (t->err > 0)
        t->err = CIO_EINVAL;
    cio__backend_call_threadsafe(t->loop, &t->node);
    return NULL;
}

static void threads_join(cio__net *net)
{
    cio__thread *t, *next;

    for (t = net->threads; t != NULL; t = next) {
        next = t->next;
        pthread_join(t->tid, NULL);     /* its node waits in the backend */
        t->orphan = 1;
        t->prev = t->next = NULL;
    }
    net->threads = NULL;
}

static cio__thread *thread_new(cio_loop *loop)
{
    cio__thread *t;

    if (loop == NULL || loop->closed || cio__net_get(loop) == NULL)
        return NULL;
    t = cio_alloc(sizeof *t);
    if (t == NULL)
        return NULL;
    memset(t, 0, sizeof *t);
    t->loop = loop;
    t->node.run = thread_done;
    t->fut = cio_future_new(loop);
    if (t->fut == NULL) {
        cio_free(t, sizeof *t);
        return NULL;
    }
    return t;
}

static void thread_drop(cio__thread *t)
{
    t->fut->flags |= CIO__FF_RETRIEVED;
    cio_future_unref(t->fut);
    if (t->host != NULL)
        cio_free(t->host, strlen(t->host) + 1);
    cio_free(t, sizeof *t);
}

/* Start t: the future it returns is the caller's. */
static cio_future *thread_start(cio_loop *loop, cio__thread *t)
{
    cio__net *net = loop->net;
    pthread_attr_t attr;
    int rc;

    if (pthread_attr_init(&attr) != 0) {
        thread_drop(t);
        return NULL;
    }
    pthread_attr_setstacksize(&attr, 256 * 1024);
    rc = pthread_create(&t->tid, &attr, thread_main, t);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        thread_drop(t);
        return NULL;
    }
    t->next = net->threads;
    if (net->threads != NULL)
        net->threads->prev = t;
    net->threads = t;
    return cio_future_ref(t->fut);      /* one for the caller, one for the thread */
}

cio_future *cio_loop_run_in_thread(cio_loop *loop, int (*fn)(void *arg, cio_value *result),
                                   void *arg)
{
    cio__thread *t;

    if (fn == NULL)
        return NULL;
    t = thread_new(loop);
    if (t == NULL)
        return NULL;
    t->fn = fn;
    t->arg = arg;
    return thread_start(loop, t);
}

/* ---- name resolution ---- */

static int gai_to_cio(int rc)
{
    switch (rc) {
    case 0: return 0;
    case EAI_AGAIN: return -EAGAIN;
    case EAI_MEMORY: return CIO_ENOMEM;
    case EAI_SYSTEM: return errno > 0 ? -errno : -EIO;
    case EAI_FAMILY:
    case EAI_SOCKTYPE:
    case EAI_BADFLAGS:
    case EAI_SERVICE: return CIO_EINVAL;
    default: return -ENOENT;            /* EAI_NONAME, EAI_FAIL, EAI_NODATA */
    }
}

static int resolve_in_thread(void *arg, cio_value *result)
{
    cio__thread *t = arg;
    int rc = getaddrinfo(t->host, t->service, &t->hints, &t->ai);

    result->p = t->ai;
    return gai_to_cio(rc);
}

cio_future *cio_getaddrinfo(cio_loop *loop, const char *host, int port, int family,
                            int socktype, int flags)
{
    struct addrinfo hints, *ai = NULL;
    char service[8];
    cio__thread *t;
    cio_value v;
    int rc;

    if (loop == NULL || loop->closed)
        return NULL;
    if (port < 0 || port > 65535)
        return cio__future_failed(loop, CIO_EINVAL);
    snprintf(service, sizeof service, "%d", port);
    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = socktype;
    hints.ai_flags = flags | AI_NUMERICSERV;
    if (host != NULL && host[0] == '\0')
        host = NULL;
    /* A numeric address (or none) needs no thread. */
    hints.ai_flags |= AI_NUMERICHOST;
    rc = getaddrinfo(host, service, &hints, &ai);
    if (rc == 0 || host == NULL) {
        cio_future *f;

        if (rc != 0)
            return cio__future_failed(loop, gai_to_cio(rc));
        v.p = ai;
        f = cio__future_done(loop, v);
        if (f == NULL)
            freeaddrinfo(ai);
        return f;
    }
    hints.ai_flags &= ~AI_NUMERICHOST;
    t = thread_new(loop);
    if (t == NULL)
        return NULL;
    t->host = cio_alloc(strlen(host) + 1);
    if (t->host == NULL) {
        thread_drop(t);
        return NULL;
    }
    strcpy(t->host, host);
    memcpy(t->service, service, sizeof service);
    t->hints = hints;
    t->fn = resolve_in_thread;
    t->arg = t;
    return thread_start(loop, t);
}

void cio_freeaddrinfo(struct addrinfo *ai)
{
    if (ai != NULL)
        freeaddrinfo(ai);
}
