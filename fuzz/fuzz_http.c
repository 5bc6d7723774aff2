/* fuzz_http.c - libFuzzer harness for the HTTP request parser of
 * examples/http_server.c (built by `make fuzz', see fuzz/README or the
 * Makefile.am target; never part of `make check').
 *
 * The example is compiled into this file with its main renamed, so its
 * static parse_head() and its connection coroutine serve() are reachable.
 * The input's first byte picks a split point; the rest is fed to streams
 * without a socket in two pieces at that point (with a turn of the loop in
 * between), then the end of stream:
 *   1. parse_head() on the whole input, as is (no framing);
 *   2. a reader that frames requests as serve() does (readuntil CRLFCRLF
 *      within the 8 KiB head limit, then the body by Content-Length) and
 *      parses every pipelined head, checking what parse_head reports;
 *   3. the example's own serve() task on the same bytes (its writes fail
 *      with CIO_ENOTSUP on a fed stream, which ends the connection).
 * Crashes, sanitizer reports, hangs and failed checks (abort) are findings.
 */
#define _GNU_SOURCE 1          /* memmem */
#define main http_server_main
#include "../examples/http_server.c"
#undef main

#include <stdint.h>

#define CHECK(c)                                                              \
    do {                                                                      \
        if (!(c)) {                                                           \
            fprintf(stderr, "fuzz_http: check failed: %s (line %d)\n", #c,   \
                    __LINE__);                                                \
            abort();                                                          \
        }                                                                     \
    } while (0)

static void check_request(int kind, const request *rq)
{
    CHECK(kind == REQ_OK || kind == REQ_BAD || kind == REQ_CHUNKED);
    if (kind == REQ_OK) {
        CHECK(rq->keep_alive == 0 || rq->keep_alive == 1);
        CHECK(rq->content_length >= 0 && rq->content_length <= 999999999999L);
    }
}

/* Feeds the two pieces and the end of stream, a loop turn apart; stops
 * once `owner` (the task that closes s when it ends), if any, is done. */
#define GONE(self) ((self)->owner != NULL && cio_future_done((self)->owner))
CIO_ASYNC(feeder, cio_stream *s; const uint8_t *a; size_t alen;
          const uint8_t *b; size_t blen; cio_future *owner;)
{
    CIO_BEGIN();
    CHECK(cio_stream_feed_data(self->s, self->a, self->alen) == 0);
    CIO_AWAIT(cio_sleep(loop, 0));
    if (GONE(self))
        CIO_RETURN(0);
    CHECK(cio_stream_feed_data(self->s, self->b, self->blen) == 0);
    CIO_AWAIT(cio_sleep(loop, 0));
    if (GONE(self))
        CIO_RETURN(0);
    CHECK(cio_stream_feed_eof(self->s) == 0);
    CIO_END();
}

/* serve()'s framing, with checks, over every pipelined request. */
CIO_ASYNC(framer, cio_stream *s; size_t total; size_t consumed; request rq;
          cio_future *feed;)
{
    const char *head;
    size_t len;
    int kind;

    CIO_BEGIN();
    for (;;) {
        CIO_AWAIT_TRY(cio_stream_readuntil(self->s, "\r\n\r\n", 4));
        if (CIO_ERROR == CIO_ELIMIT) {
            /* no end of head within the limit: nothing was consumed */
            CHECK(cio_stream_buffered(self->s) > 0);
            break;
        }
        head = cio_stream_data(self->s, &len);
        if (CIO_ERROR == CIO_EINCOMPLETE) {     /* the rest, no CRLFCRLF */
            self->consumed += len;
            CHECK(cio_stream_at_eof(self->s));
            break;
        }
        CHECK(CIO_ERROR == 0);
        CHECK(len >= 4 && len <= HEAD_LIMIT && memcmp(head + len - 4, "\r\n\r\n", 4) == 0);
        CHECK(memmem(head, len, "\r\n\r\n", 4) == head + len - 4);
        self->consumed += len;
        kind = parse_head(head, len, &self->rq);
        check_request(kind, &self->rq);
        if (kind != REQ_OK)
            break;
        if (self->rq.content_length > 0) {
            if (self->rq.content_length > BODY_MAX)
                break;
            CIO_AWAIT_TRY(cio_stream_readexactly(self->s, (size_t)self->rq.content_length));
            cio_stream_data(self->s, &len);
            self->consumed += len;
            if (CIO_ERROR == CIO_EINCOMPLETE) {
                CHECK(len < (size_t)self->rq.content_length && cio_stream_at_eof(self->s));
                break;
            }
            CHECK(CIO_ERROR == 0 && len == (size_t)self->rq.content_length);
        }
        if (cio_stream_at_eof(self->s))
            break;
    }
    while (!cio_future_done(self->feed))      /* all fed: every byte accounted for */
        CIO_AWAIT(cio_sleep(loop, 0));
    CHECK(self->consumed + cio_stream_buffered(self->s) == self->total);
    CIO_END();
}

CIO_ASYNC(run_all, cio_stream *f; cio_stream *v; const uint8_t *a; size_t alen;
          const uint8_t *b; size_t blen; cio_future *t[4];)
{
    CIO_BEGIN();
    self->t[0] = CIO_START(loop, feeder, .s = self->f, .a = self->a, .alen = self->alen,
                           .b = self->b, .blen = self->blen);
    self->t[1] = CIO_START(loop, framer, .s = self->f, .total = self->alen + self->blen,
                           .feed = self->t[0]);
    self->t[2] = CIO_START(loop, serve, .s = self->v);   /* closes v when it ends */
    self->t[3] = CIO_START(loop, feeder, .s = self->v, .a = self->a, .alen = self->alen,
                           .b = self->b, .blen = self->blen, .owner = self->t[2]);
    CHECK(self->t[0] && self->t[1] && self->t[2] && self->t[3]);
    CIO_AWAIT(cio_gather(loop, 4, self->t));
    CIO_END();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cio_loop *loop;
    cio_stream *f, *v;
    request rq;
    size_t split;

    if (size == 0)
        return 0;
    split = size > 1 ? data[0] % size : 0;      /* 0 .. size - 2 bytes first */
    data++;
    size--;
    if (split > size)
        split = size;

    /* 1. the parser alone, on the raw bytes */
    if (size > 0) {
        char *copy = malloc(size);              /* exactly sized: ASan sees overreads */

        CHECK(copy != NULL);
        memcpy(copy, data, size);
        check_request(parse_head(copy, size, &rq), &rq);
        free(copy);
    }

    /* 2 and 3: through streams, in two pieces */
    loop = cio_loop_new();
    CHECK(loop != NULL);
    f = cio_stream_new(loop, HEAD_LIMIT);
    v = cio_stream_new(loop, HEAD_LIMIT);
    CHECK(f != NULL && v != NULL);
    CHECK(cio_loop_run_until_complete(loop, CIO_START(loop, run_all, .f = f, .v = v,
                                                      .a = data, .alen = split,
                                                      .b = data + split,
                                                      .blen = size - split), NULL) == 0);
    cio_future_unref(cio_stream_close(f));
    CHECK(cio_loop_free(loop) == 0);
    return 0;
}
