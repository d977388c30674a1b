/* A program for gdb to drive: a function to break on, a global to watch, an exit code. */
#include <stdio.h>

volatile long counter = 0;

long bump(long by)
{
    long before = counter;
    counter = before + by;
    return counter;
}

int main(void)
{
    long total = 0;
    for (int i = 1; i <= 3; i++)
        total += bump(i);
    printf("total %ld\n", total);
    return (int)(total & 0x7f);
}
