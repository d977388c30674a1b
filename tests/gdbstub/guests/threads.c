/* Two threads for gdb: main waits for a worker that gdb stops in. */
#include <pthread.h>
#include <stdio.h>

volatile long shared;

void *worker(void *arg)
{
    shared = (long)arg;
    return NULL;
}

int main(void)
{
    pthread_t t;
    pthread_create(&t, NULL, worker, (void *)42);
    pthread_join(t, NULL);
    printf("shared %ld\n", shared);
    return 0;
}
