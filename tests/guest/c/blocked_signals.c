/* Signals the process blocks stay pending until it takes them, whoever sends them:
 * itself (kill, raise), a child (kill(getppid())), or the kernel (SIGCHLD); sigwait,
 * sigtimedwait, sigpending and signalfd see them, and a default action runs only
 * when the signal is unblocked. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void child_kills_parent(int sig) {
    pid_t c = fork();
    if (c == 0) {
        kill(getppid(), sig);
        _exit(0);
    }
    waitpid(c, NULL, 0);  /* the signal is pending in the parent by now */
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    sigaddset(&s, SIGTERM);
    sigaddset(&s, SIGINT);
    sigaddset(&s, SIGCHLD);
    sigaddset(&s, SIGHUP);
    sigprocmask(SIG_BLOCK, &s, NULL);

    raise(SIGUSR1);
    sigset_t p;
    sigpending(&p);
    printf("pending after raise: USR1 %d TERM %d\n", sigismember(&p, SIGUSR1),
           sigismember(&p, SIGTERM));
    int sig = 0;
    sigwait(&s, &sig);
    printf("sigwait: %s\n", strsignal(sig));

    child_kills_parent(SIGTERM);
    sigpending(&p);
    printf("pending after the child's kill: TERM %d CHLD %d\n", sigismember(&p, SIGTERM),
           sigismember(&p, SIGCHLD));
    siginfo_t si;
    sigset_t only_term;
    sigemptyset(&only_term);
    sigaddset(&only_term, SIGTERM);
    sig = sigwaitinfo(&only_term, &si);
    printf("sigwaitinfo: %s code %d\n", strsignal(sig), si.si_code);
    sigset_t only_chld;
    sigemptyset(&only_chld);
    sigaddset(&only_chld, SIGCHLD);
    struct timespec ts = {1, 0};
    sig = sigtimedwait(&only_chld, &si, &ts);
    printf("sigtimedwait: %s code %d status %d\n", strsignal(sig), si.si_code, si.si_status);
    struct timespec zero = {0, 0};
    sig = sigtimedwait(&only_chld, &si, &zero);
    printf("sigtimedwait again: %d errno %s\n", sig, errno == EAGAIN ? "EAGAIN" : "?");

    int fd = signalfd(-1, &s, SFD_CLOEXEC);
    struct pollfd pf = {fd, POLLIN, 0};
    printf("signalfd poll before: %d\n", poll(&pf, 1, 0));
    child_kills_parent(SIGINT);
    printf("signalfd poll after: %d revents %#x\n", poll(&pf, 1, 1000), pf.revents);
    struct signalfd_siginfo fi[4];
    ssize_t n = read(fd, fi, sizeof fi);
    for (ssize_t i = 0; i < n / (ssize_t)sizeof fi[0]; i++)
        printf("signalfd read: %s\n", strsignal(fi[i].ssi_signo));
    printf("signalfd poll after the read: %d\n", poll(&pf, 1, 0));
    int fl = signalfd(-1, &s, SFD_NONBLOCK);
    n = read(fl, fi, sizeof fi);
    printf("signalfd empty read: %zd %s\n", n, errno == EAGAIN ? "EAGAIN" : strerror(errno));
    close(fl);
    close(fd);

    /* A blocked default-action signal runs its default action when unblocked. */
    child_kills_parent(SIGHUP);
    printf("unblocking SIGHUP\n");
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    sigprocmask(SIG_UNBLOCK, &hup, NULL);
    printf("not reached\n");
    return 0;
}
