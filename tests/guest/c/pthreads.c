/* pthreads: mutex-protected counters, a condition-variable queue, TLS, join results. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define NTHREADS 4
#define ITERS 200

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long counter;
static __thread int tls_value = 7;
static int queue[16], qhead, qtail, done;

static void *worker(void *arg) {
    long id = (long)arg;
    tls_value = (int)id * 100;
    for (int i = 0; i < ITERS; i++) {
        pthread_mutex_lock(&lock);
        counter += id + 1;
        pthread_mutex_unlock(&lock);
    }
    return (void *)(long)(tls_value + 1);
}

static void *consumer(void *arg) {
    long sum = 0;
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&lock);
        while (qhead == qtail && !done)
            pthread_cond_wait(&cond, &lock);
        if (qhead == qtail && done) {
            pthread_mutex_unlock(&lock);
            break;
        }
        sum += queue[qhead++ % 16];
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
    }
    return (void *)sum;
}

int main(void) {
    pthread_t t[NTHREADS];
    for (long i = 0; i < NTHREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    long results = 0;
    for (int i = 0; i < NTHREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        results += (long)r;
    }
    printf("counter=%ld results=%ld main_tls=%d\n", counter, results, tls_value);

    pthread_t c;
    pthread_create(&c, NULL, consumer, NULL);
    for (int i = 1; i <= 40; i++) {
        pthread_mutex_lock(&lock);
        while (qtail - qhead >= 16)
            pthread_cond_wait(&cond, &lock);
        queue[qtail++ % 16] = i;
        pthread_cond_signal(&cond);
        pthread_mutex_unlock(&lock);
    }
    pthread_mutex_lock(&lock);
    done = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    void *sum;
    pthread_join(c, &sum);
    printf("queue sum=%ld\n", (long)sum);
    return 11;
}
