/* Signals: faults caught with sigsetjmp/siglongjmp (SIGSEGV, SIGILL), SIGALRM from alarm(),
 * SIGUSR1 from raise() and kill(), SIGCHLD from a child, masks, pending, sigaltstack. */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static sigjmp_buf jb;
static volatile sig_atomic_t got_usr1, got_alrm, got_chld, last_code;
static volatile int on_alt;
static char altstack[65536];

static void fault_handler(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    last_code = si->si_code;
    int x;
    on_alt = (char *)&x >= altstack && (char *)&x < altstack + sizeof altstack;
    siglongjmp(jb, sig);
}

static void usr1_handler(int sig) { got_usr1 += sig; }
static void alrm_handler(int sig) { (void)sig; got_alrm = 1; }
static void chld_handler(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)uc;
    got_chld = si->si_status + 1000 * (si->si_code == CLD_EXITED);
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fault_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    sigaltstack(&ss, NULL);

    int r = sigsetjmp(jb, 1);
    if (r == 0) {
        volatile int *p = (int *)0;
        *p = 1;
        printf("no fault?\n");
    }
    printf("caught signal %d code %d on_alt %d\n", r, (int)last_code, on_alt);

    r = sigsetjmp(jb, 1);
    if (r == 0) {
        asm volatile(".4byte 0x00000000");
        printf("no SIGILL?\n");
    }
    printf("caught signal %d code %d\n", r, (int)last_code);

    /* the fault signal must be unblocked again after siglongjmp(jb, savemask=1) */
    r = sigsetjmp(jb, 1);
    if (r == 0)
        *(volatile char *)16 = 0;
    printf("second segv caught: %d\n", r);

    signal(SIGUSR1, usr1_handler);
    raise(SIGUSR1);
    kill(getpid(), SIGUSR1);
    printf("usr1 total %d\n", (int)got_usr1);

    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    raise(SIGUSR1);
    sigset_t pend;
    sigpending(&pend);
    printf("pending while blocked: %d handled: %d\n", sigismember(&pend, SIGUSR1), (int)got_usr1);
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("after unblock handled: %d\n", (int)got_usr1);

    signal(SIGALRM, alrm_handler);
    alarm(1);
    while (!got_alrm)
        pause();
    printf("alarm fired\n");

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = chld_handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGCHLD, &sa, NULL);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(3);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        ;
    while (!got_chld)
        usleep(1000);
    printf("child exit %d, sigchld info %d\n", WEXITSTATUS(status), (int)got_chld);

    signal(SIGUSR1, SIG_IGN);
    raise(SIGUSR1);
    printf("ignored usr1 fine\n");
    return 0;
}
