/* A 1 ms SIGALRM storm over a loop that makes system calls: a signal that arrives
 * while a block is leaving for a syscall must neither skip the syscall nor crash. */
#include <stdio.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>
static volatile long hits;
static void h(int s) { hits++; }
int main(void) {
    struct sigaction sa = {0}; sa.sa_handler = h; sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, 0);
    struct itimerval it = {{0, 1000}, {0, 1000}};
    setitimer(ITIMER_REAL, &it, 0);
    long s = 0;
    for (long i = 0; i < 3000000; i++) { s += i * 3; if ((i & 1023) == 0) getpid(); }
    it.it_value.tv_usec = 0; it.it_interval.tv_usec = 0; setitimer(ITIMER_REAL, &it, 0);
    printf("sum=%ld hits>0=%d\n", s, hits > 0);
    return 0;
}
