/* Asynchronous signals (an interval timer) interrupting a computation must not change its
 * result: the signal frame saves and restores every integer and FP register. */
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>

static volatile int ticks;

static void on_alarm(int s) {
    (void)s;
    ticks++;
    volatile double x = 3.0; /* clobber FP registers inside the handler */
    for (int i = 0; i < 20; i++)
        x = x * 1.7 - 0.3;
}

static unsigned long work(double *out) {
    unsigned long a = 1, b = 0, c = 7;
    double d = 0.25, e = 1.0, f = 2.0;
    for (int i = 0; i < 20000; i++) {
        a = a * 6364136223846793005UL + 1442695040888963407UL;
        b ^= a >> 7;
        c += b * 3;
        d = d * 0.999 + 0.001;
        e = e * 1.0000001 + d;
        f = f / 1.0000001 - e * 1e-9;
    }
    *out = d + e + f;
    return a ^ b ^ c;
}

int main(void) {
    double ref_f, f;
    unsigned long ref = work(&ref_f);
    signal(SIGALRM, on_alarm);
    struct itimerval it = {{0, 1000}, {0, 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
    int rounds = 0, mismatches = 0;
    while (ticks < 10 || rounds < 2) {
        if (work(&f) != ref || f != ref_f)
            mismatches++;
        rounds++;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("mismatches=%d\n", mismatches);
    return 0;
}
