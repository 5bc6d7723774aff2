/* fuzz_stream.c - libFuzzer harness for cio's buffered stream reader
 * (src/net/stream.c: readline, readuntil, readexactly, read, wait_data and
 * their limits), on a stream without a socket (cio_stream_new + feed).
 *
 * Input: byte 0 picks the split point, byte 1 the stream's limit (1..64,
 * or the default 64 KiB), byte 2 the operation script's seed, byte 3 the
 * yield pattern; the rest is the payload, fed in two pieces at the split
 * point and then the end of stream, by a feeder task, a loop turn apart.
 * A reader task runs a pseudo-random sequence of reads until the end of
 * stream and checks each result against the stream's contract (a line ends
 * with '\n' unless at the end, readuntil's result ends with the first
 * occurrence of its separator and stays within the limit, readexactly gives
 * exactly n bytes, CIO_ELIMIT consumes nothing, a result stays readable
 * across an await while more data is fed) and that every payload byte
 * comes back exactly once, in order.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cio.h>

#define CHECK(c)                                                              \
    do {                                                                      \
        if (!(c)) {                                                           \
            fprintf(stderr, "fuzz_stream: check failed: %s (line %d)\n", #c, \
                    __LINE__);                                                \
            abort();                                                          \
        }                                                                     \
    } while (0)

static const char *const seps[] = { "\n", "\r\n", "\r\n\r\n", "ab", ":", "\0\0\0" };
static const size_t seplens[] = { 1, 2, 4, 2, 1, 3 };

CIO_ASYNC(feeder, cio_stream *s; const uint8_t *a; size_t alen;
          const uint8_t *b; size_t blen;)
{
    CIO_BEGIN();
    CHECK(cio_stream_feed_data(self->s, self->a, self->alen) == 0);
    CIO_AWAIT(cio_sleep(loop, 0));
    CHECK(cio_stream_feed_data(self->s, self->b, self->blen) == 0);
    CIO_AWAIT(cio_sleep(loop, 0));
    CHECK(cio_stream_feed_eof(self->s) == 0);
    CHECK(cio_stream_feed_data(self->s, "x", 1) == CIO_EINVALSTATE);
    CIO_END();
}

static uint32_t next(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

CIO_ASYNC(reader, cio_stream *s; const uint8_t *want; size_t total; size_t limit;
          uint32_t rng; uint8_t yields; size_t got; int op; size_t n; int sep;
          int force_read; int steps; size_t before; size_t len;)
{
    const char *p;
    size_t len;

    CIO_BEGIN();
    for (;;) {
        CHECK(++self->steps < 1000000);
        self->op = self->force_read ? 3 : (int)(next(&self->rng) % 5);
        self->force_read = 0;
        self->before = cio_stream_buffered(self->s);
        switch (self->op) {
        case 0:
            CIO_AWAIT_TRY(cio_stream_readline(self->s));
            break;
        case 1:
            self->sep = (int)(next(&self->rng) % (sizeof seps / sizeof *seps));
            CIO_AWAIT_TRY(cio_stream_readuntil(self->s, seps[self->sep],
                                               seplens[self->sep]));
            break;
        case 2:
            self->n = next(&self->rng) % (2 * self->limit + 2);
            CIO_AWAIT_TRY(cio_stream_readexactly(self->s, self->n));
            break;
        case 3:
            self->n = next(&self->rng) % 8 == 0 ? (size_t)-1
                                                : 1 + next(&self->rng) % (self->limit + 1);
            CIO_AWAIT_TRY(cio_stream_read(self->s, self->n == (size_t)-1
                                                   ? -1 : (ptrdiff_t)self->n));
            break;
        default:
            CIO_AWAIT_TRY(cio_stream_wait_data(self->s));
            CHECK(CIO_ERROR == 0);
            CHECK((size_t)CIO_RESULT.i == cio_stream_buffered(self->s));
            if (CIO_RESULT.i == 0) {
                CHECK(cio_stream_at_eof(self->s));
                CHECK(self->got == self->total);
                CIO_RETURN(0);
            }
            continue;
        }
        p = cio_stream_data(self->s, &len);
        self->len = len;
        if (CIO_ERROR == CIO_ELIMIT) {
            CHECK(self->op == 0 || self->op == 1);
            CHECK(len == 0);
            CHECK(cio_stream_buffered(self->s) >= self->before);   /* nothing consumed */
            self->force_read = 1;                   /* make progress */
            continue;
        }
        if (CIO_ERROR == CIO_EINCOMPLETE) {
            CHECK(self->op == 1 || self->op == 2);
            CHECK(cio_stream_at_eof(self->s));
            CHECK(self->op != 2 || len < self->n);
        } else {
            CHECK(CIO_ERROR == 0);
            CHECK((size_t)CIO_RESULT.i == len);
            switch (self->op) {
            case 0:     /* a line, or what is left at the end */
                CHECK(len <= self->limit);
                CHECK(len == 0 ? cio_stream_at_eof(self->s) :
                      (p[len - 1] == '\n' || cio_stream_at_eof(self->s)));
                CHECK(len == 0 || memchr(p, '\n', len - 1) == NULL);
                break;
            case 1: {
                const char *sp = seps[self->sep];
                size_t sl = seplens[self->sep], i;

                CHECK(len >= sl && len <= self->limit);
                CHECK(memcmp(p + len - sl, sp, sl) == 0);
                for (i = 0; i + sl < len; i++)      /* the first occurrence */
                    CHECK(memcmp(p + i, sp, sl) != 0);
                break;
            }
            case 2:
                CHECK(len == self->n);
                break;
            case 3:
                CHECK(len <= self->n);
                CHECK(len > 0 || self->n == 0 || cio_stream_at_eof(self->s));
                if (len == 0) {
                    CHECK(self->got == self->total);
                    CIO_RETURN(0);
                }
                break;
            }
        }
        CHECK(self->got + len <= self->total);
        CHECK(len == 0 || memcmp(p, self->want + self->got, len) == 0);
        if (self->yields & 1) {
            /* the result stays readable (maybe moved) across an await,
             * while the feeder appends */
            CIO_AWAIT(cio_sleep(loop, 0));
            p = cio_stream_data(self->s, &len);
            CHECK(len == self->len);
            CHECK(len == 0 || memcmp(p, self->want + self->got, len) == 0);
        }
        self->yields = (uint8_t)(self->yields >> 1 | self->yields << 7);
        self->got += self->len;
    }
    CIO_END();
}

CIO_ASYNC(run_all, cio_stream *s; const uint8_t *payload; size_t split; size_t size;
          size_t limit; uint32_t rng; uint8_t yields; cio_future *t[2];)
{
    CIO_BEGIN();
    self->t[0] = CIO_START(loop, feeder, .s = self->s, .a = self->payload,
                           .alen = self->split, .b = self->payload + self->split,
                           .blen = self->size - self->split);
    self->t[1] = CIO_START(loop, reader, .s = self->s, .want = self->payload,
                           .total = self->size, .limit = self->limit, .rng = self->rng,
                           .yields = self->yields);
    CHECK(self->t[0] != NULL && self->t[1] != NULL);
    CIO_AWAIT(cio_gather(loop, 2, self->t));
    CIO_END();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cio_loop *loop;
    cio_stream *s;
    size_t split, limit;
    uint32_t rng;
    uint8_t yields;

    if (size < 4)
        return 0;
    split = data[0];
    limit = data[1] % 65 == 0 ? CIO_STREAM_LIMIT : data[1] % 65;
    rng = 0x9e3779b9u ^ (uint32_t)data[2] * 2654435761u;
    if (rng == 0)
        rng = 1;
    yields = data[3];
    data += 4;
    size -= 4;
    split = size ? split * size / 255 : 0;
    if (split > size)
        split = size;

    loop = cio_loop_new();
    CHECK(loop != NULL);
    s = cio_stream_new(loop, limit);
    CHECK(s != NULL);
    CHECK(cio_loop_run_until_complete(loop, CIO_START(loop, run_all, .s = s, .payload = data,
                                                      .split = split, .size = size,
                                                      .limit = limit, .rng = rng,
                                                      .yields = yields), NULL) == 0);
    CHECK(cio_stream_at_eof(s));
    cio_future_unref(cio_stream_close(s));
    CHECK(cio_loop_free(loop) == 0);
    return 0;
}
