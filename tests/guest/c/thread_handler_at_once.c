/* A handler installed by a thread other than the first is in force at once: the thread
 * sends the signal to the whole process right after installing it (or arms a 1 ms
 * timer), while the main thread sleeps in pthread_join. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t hits[32];
static void on_signal(int s) { hits[s]++; }

static void *installer(void *a) {
    int sig = (int)(long)a;
    signal(sig, on_signal);
    if (sig == SIGALRM) {
        struct itimerval it = {{0, 0}, {0, 1000}};
        setitimer(ITIMER_REAL, &it, NULL);
    } else {
        kill(getpid(), sig);
    }
    while (!hits[sig])
        usleep(1000);
    return NULL;
}

int main(void) {
    int sigs[] = {SIGUSR1, SIGUSR2, SIGHUP, SIGTERM, SIGALRM, SIGPIPE};
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        pthread_t t;
        pthread_create(&t, NULL, installer, (void *)(long)sigs[i]);
        pthread_join(t, NULL);
        printf("signal %d handled %d time(s)\n", sigs[i], (int)hits[sigs[i]]);
    }
    return 0;
}
