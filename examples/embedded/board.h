/* board.h - what the sample needs from the board (startup.c). */
#ifndef BOARD_H
#define BOARD_H

/* Print a string on the host's console (semihosting). */
void board_puts(const char *s);
/* Leave the emulator (semihosting) with status 0 or 1. */
void board_exit(int status) __attribute__((noreturn));

#endif
