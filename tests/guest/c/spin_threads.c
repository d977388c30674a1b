/* Threads that share the CPU without system calls: a thread spinning on a flag another
 * thread sets after a sleep (the emulator must let the sleeper run again), and two
 * threads incrementing one counter with atomic adds (AMOs stay atomic). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

static atomic_int flag, counter;

static void *setter(void *arg) {
    (void)arg;
    usleep(50000);
    atomic_store(&flag, 1);
    return 0;
}

static void *incr(void *arg) {
    (void)arg;
    for (int i = 0; i < 100000; i++)
        atomic_fetch_add(&counter, 1);
    return 0;
}

int main(void) {
    pthread_t t, a, b;
    pthread_create(&t, 0, setter, 0);
    while (!atomic_load(&flag))
        ; /* spin without system calls */
    pthread_join(t, 0);
    pthread_create(&a, 0, incr, 0);
    pthread_create(&b, 0, incr, 0);
    pthread_join(a, 0);
    pthread_join(b, 0);
    printf("flag=%d counter=%d\n", atomic_load(&flag), atomic_load(&counter));
    return 0;
}
