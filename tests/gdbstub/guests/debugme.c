/* A program for gdb to drive: a function to break on, a global to watch, an exit code. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

volatile long counter = 0;

long bump(long by)
{
    long before = counter;
    counter = before + by;
    return counter;
}

static void on_usr1(int sig)
{
    counter += 100 + sig - SIGUSR1;
}

int main(int argc, char **argv)
{
    long total = 0;
    if (argc > 1 && argv[1][0] == 'c')
        *(volatile long *)16 = 1;  /* crash: SIGSEGV */
    if (argc > 1 && argv[1][0] == 'u') {
        signal(SIGUSR1, on_usr1);  /* a signal gdb hears of, then passes on */
        raise(SIGUSR1);
    }
    if (argc > 1 && argv[1][0] == 'r') {
        char c;
        if (read(0, &c, 1) == 1)  /* blocks: gdb's Ctrl-C must still stop us */
            counter = c;
    }
    if (argc > 1 && argv[1][0] == 's')
        for (;;)
            counter++;  /* spin until gdb interrupts */
    for (int i = 1; i <= 3; i++)
        total += bump(i);
    printf("total %ld\n", total);
    return (int)(total & 0x7f);
}
