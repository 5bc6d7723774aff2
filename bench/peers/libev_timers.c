/* Floor for the `sleepers` workload: plain C on libev, no coroutines.
 *
 * Starts N ev_timer watchers of 1.0 s, each malloc'ed separately; each
 * callback decrements a counter and frees its watcher.  ev_run returns when
 * no active watchers remain, i.e. when all N have fired.
 *
 * Build: cc -O2 -o /tmp/libev_timers bench/peers/libev_timers.c -lev
 * Usage: libev_timers N
 * Prints: libev_timers n=N wall=SECONDS ns_per_op=NS maxrss_kb=KB
 */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static long remaining;

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    ev_timer_stop(loop, w); /* one-shot timers stop themselves; harmless */
    free(w);
    remaining--;
}

static double now_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long n = argc == 2 ? strtol(argv[1], NULL, 10) : 0;
    if (n <= 0) {
        fprintf(stderr, "usage: %s N\n", argv[0]);
        return 2;
    }
    struct ev_loop *loop = EV_DEFAULT;

    double t0 = now_monotonic();
    /* Refresh libev's cached time so each timer is 1.0 s from the moment it
     * is started, like a task calling sleep(1.0); cheap (one clock read). */
    ev_now_update(loop);
    remaining = n;
    for (long i = 0; i < n; i++) {
        ev_timer *w = malloc(sizeof *w);
        if (!w) {
            perror("malloc");
            return 1;
        }
        ev_timer_init(w, on_timer, 1.0, 0.);
        ev_timer_start(loop, w);
    }
    ev_run(loop, 0);
    double wall = now_monotonic() - t0;

    if (remaining != 0) {
        fprintf(stderr, "libev_timers: %ld timers did not fire\n", remaining);
        return 1;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru); /* ru_maxrss is in KB on Linux */
    printf("libev_timers n=%ld wall=%.6f ns_per_op=%.1f maxrss_kb=%ld\n",
           n, wall, wall * 1e9 / n, ru.ru_maxrss);
    return 0;
}
