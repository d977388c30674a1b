/* A dynamic rounding mode with frm holding a reserved value (5, 6, 7) makes the FP
 * instruction illegal (F ch. 13.2): SIGILL at that instruction; frm and fflags
 * are read back exactly through frrm/frflags/frcsr. */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static sigjmp_buf env;

static void on_ill(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    printf("signal %d code %d\n", sig, si->si_code);
    siglongjmp(env, 1);
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_ill;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGILL, &sa, 0);
    volatile double a = 1.0, b = 3.0;
    for (int rm = 0; rm < 8; rm++) {
        double r = 0;
        unsigned long frm = 0, fl = 0, fcsr = 0;
        if (sigsetjmp(env, 1) == 0) {
            __asm__ volatile("fsrm %0" ::"r"((unsigned long)rm));
            __asm__ volatile("fdiv.d %0, %1, %2" : "=f"(r) : "f"(a), "f"(b));
            __asm__ volatile("frrm %0" : "=r"(frm));
            __asm__ volatile("frflags %0" : "=r"(fl));
            __asm__ volatile("frcsr %0" : "=r"(fcsr));
            printf("rm %d: r=%a frm=%lu flags=%lu fcsr=%#lx\n", rm, r, frm, fl, fcsr);
        } else {
            __asm__ volatile("frrm %0" : "=r"(frm));
            printf("rm %d: illegal, frm=%lu\n", rm, frm);
        }
        __asm__ volatile("fsrm zero");
        __asm__ volatile("fsflags zero");
    }
    /* csrrs/csrrc on fcsr set and clear bits of both fields at once. */
    unsigned long old, now;
    __asm__ volatile("csrrs %0, fcsr, %1" : "=r"(old) : "r"(0x45UL));
    __asm__ volatile("csrrc %0, fcsr, %1" : "=r"(now) : "r"(0x01UL));
    __asm__ volatile("frcsr %0" : "=r"(now));
    printf("fcsr old=%#lx now=%#lx\n", old, now);
    __asm__ volatile("csrrwi %0, fflags, 0x1f" : "=r"(old));
    __asm__ volatile("csrrci %0, fflags, 0x3" : "=r"(now));
    __asm__ volatile("frflags %0" : "=r"(now));
    printf("fflags now=%#lx\n", now);
    return 0;
}
