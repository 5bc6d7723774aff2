/* get_channel_user_info.c - asyncio's sample on a Cortex-M3 board with no
 * OS and no heap (MPS2 AN385, emulated by qemu-system-arm -M mps2-an385).
 *
 * The loop, the tasks and everything they create live in static storage
 * (cio_loop_new_in, CIO_START_IN); cio is the build without a heap. SysTick
 * interrupts every millisecond and is the clock; the idle hook sleeps in
 * WFI until the next interrupt; the SysTick handler wakes the loop through
 * an ISR-safe wake-up once the deadline the loop sleeps towards has come.
 * Output goes through semihosting. It prints the sample's six lines in
 * about one second (the three one-second sleeps overlap) and exits.
 */
#include <stdint.h>
#include <cio.h>
#include <cio/bare.h>
#include "board.h"

/* ---- the board's clock: SysTick at 1 kHz (the AN385 CPU runs at 25 MHz) */

#define CPU_HZ 25000000u
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

static volatile uint32_t ticks;                 /* milliseconds since start */
static volatile uint32_t wake_at = UINT32_MAX;  /* tick the idle loop waits for */
static cio_bare_wakeup deadline_wakeup;

void systick_handler(void);
void systick_handler(void)
{
    uint32_t now = ++ticks;

    if (now >= wake_at) {
        wake_at = UINT32_MAX;
        cio_bare_wakeup_send(&deadline_wakeup); /* ISR-safe: no lock, no heap */
    }
}

static double board_now(void *arg)
{
    (void)arg;
    return ticks / 1000.0;
}

/* Nothing is ready: sleep until the deadline's tick (or any interrupt). */
static void board_idle(cio_loop *loop, double timeout, void *arg)
{
    (void)arg;
    if (timeout >= 0)
        wake_at = ticks + (uint32_t)(timeout * 1000.0) + 1;
    __asm__ __volatile__("cpsid i" ::: "memory");
    if (!cio_bare_woken(loop))
        __asm__ __volatile__("wfi");    /* a pending interrupt still wakes it */
    __asm__ __volatile__("cpsie i" ::: "memory");
}

static int deadline_reached(cio_loop *loop, void *arg)
{
    (void)loop, (void)arg;
    return 0;                           /* the loop runs its due timers now */
}

/* ---- the sample ---- */

static void say(const char *what, const char *url)
{
    board_puts(what);
    board_puts(url);
    board_puts("\n");
}

CIO_ASYNC(get_channel_user_info, const char *url;)
{
    CIO_BEGIN();
    say("request start ", self->url);
    CIO_AWAIT(cio_sleep(loop, 1.0));    /* the slow third-party call */
    say("request succ ", self->url);
    CIO_END();
}

/* Static storage for everything: the loop (and what it creates), 3 tasks. */
typedef union {
    double d;
    void *p;
    unsigned char bytes[CIO_TASK_HEADER_SIZE + sizeof(get_channel_user_info)];
} task_storage;

static union {
    double d;
    void *p;
    unsigned char bytes[CIO_LOOP_SIZE + 1024];
} loop_storage;
static task_storage tasks[3];

int main(void)
{
    cio_loop *loop;
    int err;

    SYST_RVR = CPU_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = 7;                       /* processor clock, interrupt, enable */

    loop = cio_loop_new_in(&loop_storage, sizeof loop_storage);
    if (loop == NULL)
        return 1;
    cio_bare_set_clock(loop, board_now, board_idle, NULL);
    cio_bare_wakeup_init(loop, &deadline_wakeup, deadline_reached, NULL);
    err = cio_loop_run_until_complete(loop, cio_gather(loop, 3, (cio_future *[]){
        CIO_START_IN(loop, &tasks[0], sizeof tasks[0], get_channel_user_info, .url = "baidu"),
        CIO_START_IN(loop, &tasks[1], sizeof tasks[1], get_channel_user_info, .url = "bytedance"),
        CIO_START_IN(loop, &tasks[2], sizeof tasks[2], get_channel_user_info, .url = "weixin") }),
        NULL);
    cio_bare_wakeup_close(&deadline_wakeup);
    cio_loop_free(loop);
    return err != 0;
}
