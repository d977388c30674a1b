/* An uncaught SIGSEGV: the process dies by the signal (exit status reports it). */
#include <stdio.h>

int main(void) {
    printf("before the crash\n");
    fflush(stdout);
    volatile int *p = (int *)8;
    *p = 5;
    printf("not reached\n");
    return 0;
}
