/* startup.c - the least a Cortex-M needs before main: a vector table, a
 * reset handler that sets up .data and .bss, and ARM semihosting for
 * output and exit (QEMU: -semihosting-config enable=on). */
#include <stdint.h>
#include <string.h>
#include "board.h"

extern uint32_t _data_load[], _data_start[], _data_end[], _bss_start[], _bss_end[];
extern uint32_t _stack_top[];
int main(void);
void reset_handler(void);
void systick_handler(void);
static void fault_handler(void);

/* Semihosting: r0 = operation, r1 = argument; bkpt 0xab traps to the host. */
static int semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;

    __asm__ __volatile__("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void board_puts(const char *s)
{
    semihost(0x04, s);                  /* SYS_WRITE0 */
}

void board_exit(int status)
{
    /* SYS_EXIT with ADP_Stopped_ApplicationExit; status only on hosts that
     * take the extended form, so a failure also says so on the console. */
    if (status != 0)
        board_puts("exit: failure\n");
    semihost(0x18, (const void *)(uintptr_t)(status == 0 ? 0x20026 : 0x20023));
    for (;;)
        ;
}

void reset_handler(void)
{
    memcpy(_data_start, _data_load, (size_t)((char *)_data_end - (char *)_data_start));
    memset(_bss_start, 0, (size_t)((char *)_bss_end - (char *)_bss_start));
    board_exit(main());
}

static void fault_handler(void)
{
    board_puts("fault\n");
    board_exit(1);
}

/* Initial stack, reset, NMI, hard fault, ..., SysTick (entry 15). */
__attribute__((section(".vectors"), used))
static void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)_stack_top,
    reset_handler,
    fault_handler, fault_handler, fault_handler, fault_handler, fault_handler,
    0, 0, 0, 0,
    fault_handler, fault_handler, 0, fault_handler,
    systick_handler,
};
