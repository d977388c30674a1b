/* Signals and threads: pthread_kill to a sleeping thread, a process signal taken by a
 * thread that does not block it, sigwait, a handler installed from a thread, and the
 * main thread leaving with pthread_exit while another thread finishes the job. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t usr1_hits, alrm_hits;
static void on_usr1(int s) { (void)s; usr1_hits++; }
static void on_alrm(int s) { (void)s; alrm_hits++; }

static void *sleeper(void *a) {
    (void)a;
    for (int i = 0; i < 100 && usr1_hits == 0; i++)
        usleep(5000);
    printf("sleeper woke with %d\n", (int)usr1_hits);
    return NULL;
}

static void *waiter(void *a) {
    sigset_t *set = a;
    int sig = 0;
    sigwait(set, &sig);
    printf("sigwait got %d\n", sig);
    return NULL;
}

static void *installer(void *a) {
    (void)a;
    signal(SIGALRM, on_alrm);
    struct itimerval it = {{0, 0}, {0, 50000}};
    setitimer(ITIMER_REAL, &it, NULL);
    return NULL;
}

static void *finisher(void *a) {
    (void)a;
    usleep(30000);
    printf("finisher done, exiting process with 0\n");
    return NULL;
}

int main(void) {
    signal(SIGUSR1, on_usr1);
    pthread_t t;
    pthread_create(&t, NULL, sleeper, NULL);
    usleep(10000);
    pthread_kill(t, SIGUSR1);
    pthread_join(t, NULL);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_create(&t, NULL, waiter, &set);
    usleep(10000);
    kill(getpid(), SIGUSR2);
    pthread_join(t, NULL);

    pthread_create(&t, NULL, installer, NULL);
    pthread_join(t, NULL);
    while (!alrm_hits)
        usleep(1000);
    printf("alarm handled: %d\n", (int)alrm_hits);

    pthread_create(&t, NULL, finisher, NULL);
    fflush(stdout);
    pthread_exit(NULL);
}
