/* SIGPIPE comes from the writer's own write to a pipe or socket nobody reads: it is
 * pending at once when blocked (write fails with EPIPE), a handler runs before the
 * write returns, MSG_NOSIGNAL sends none, and without a handler the writer dies. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile int handled;
static void on_pipe(int sig) { handled = sig; }

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int pp[2];
    pipe(pp);
    close(pp[0]);

    sigset_t pipe_set, pend;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigprocmask(SIG_BLOCK, &pipe_set, NULL);
    ssize_t w = write(pp[1], "x", 1);
    printf("blocked: write %zd %s\n", w, errno == EPIPE ? "EPIPE" : strerror(errno));
    sigpending(&pend);
    printf("blocked: SIGPIPE pending %d\n", sigismember(&pend, SIGPIPE));
    int sig = 0;
    sigwait(&pipe_set, &sig);
    printf("sigwait: %s\n", strsignal(sig));

    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    close(sv[1]);
    w = send(sv[0], "y", 1, MSG_NOSIGNAL);
    sigpending(&pend);
    printf("MSG_NOSIGNAL: send %zd %s, pending %d\n", w, errno == EPIPE ? "EPIPE" : "?",
           sigismember(&pend, SIGPIPE));
    w = send(sv[0], "y", 1, 0);
    sigpending(&pend);
    printf("send: %zd, pending %d\n", w, sigismember(&pend, SIGPIPE));
    sigwait(&pipe_set, &sig);
    sigprocmask(SIG_UNBLOCK, &pipe_set, NULL);

    signal(SIGPIPE, on_pipe);
    errno = 0;
    w = write(pp[1], "z", 1);
    printf("handler: write %zd %s, handled %d\n", w, errno == EPIPE ? "EPIPE" : "?", handled);

    signal(SIGPIPE, SIG_DFL);
    printf("dying\n");
    write(pp[1], "!", 1);
    printf("not reached\n");
    return 0;
}
