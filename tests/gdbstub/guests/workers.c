/* Four threads that reach work() together: gdb must see each hit, whichever comes
   first (the others wait, unreported, until gdb resumes them). */
#include <pthread.h>
#include <stdio.h>

volatile long done;
static pthread_barrier_t start;

void work(long id)
{
    __atomic_add_fetch(&done, id, __ATOMIC_SEQ_CST);
}

static void *worker(void *arg)
{
    pthread_barrier_wait(&start);  /* all four race to work() at once */
    work((long)arg);
    return NULL;
}

int main(void)
{
    pthread_t t[4];
    pthread_barrier_init(&start, NULL, 4);
    for (long i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, worker, (void *)(i + 1));
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    printf("done %ld\n", done);
    return 0;
}
