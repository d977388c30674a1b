/* pipes, socketpair, poll, select, dup2, nonblocking reads, sendmsg/recvmsg with an fd. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

int main(void) {
    int p[2];
    pipe(p);
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    printf("poll empty: %d\n", poll(&pfd, 1, 0));
    write(p[1], "abc", 3);
    printf("poll ready: %d revents=%d\n", poll(&pfd, 1, 100), pfd.revents & POLLIN);
    char buf[64];
    printf("read: %zd\n", read(p[0], buf, sizeof buf));
    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
    printf("nonblocking read: %zd errno=%d\n", read(p[0], buf, sizeof buf), errno == EAGAIN);

    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    send(sv[0], "hello", 5, 0);
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(sv[1], &rd);
    struct timeval tv = {1, 0};
    printf("select: %d isset=%d\n", select(sv[1] + 1, &rd, NULL, NULL, &tv), FD_ISSET(sv[1], &rd));
    ssize_t n = recv(sv[1], buf, sizeof buf, 0);
    printf("recv %zd: %.*s\n", n, (int)n, buf);

    /* pass a descriptor with SCM_RIGHTS and write through it */
    struct iovec iov = {.iov_base = "x", .iov_len = 1};
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &p[1], sizeof(int));
    printf("sendmsg: %zd\n", sendmsg(sv[0], &msg, 0));
    char rb[4];
    struct iovec riov = {.iov_base = rb, .iov_len = sizeof rb};
    char rcbuf[CMSG_SPACE(sizeof(int))];
    struct msghdr rmsg = {.msg_iov = &riov, .msg_iovlen = 1, .msg_control = rcbuf, .msg_controllen = sizeof rcbuf};
    printf("recvmsg: %zd\n", recvmsg(sv[1], &rmsg, 0));
    struct cmsghdr *rc = CMSG_FIRSTHDR(&rmsg);
    int passed = -1;
    if (rc && rc->cmsg_type == SCM_RIGHTS)
        memcpy(&passed, CMSG_DATA(rc), sizeof(int));
    printf("got fd: %d\n", passed >= 0);
    write(passed, "via passed fd", 13);
    n = read(p[0], buf, sizeof buf);
    printf("pipe got %zd: %.*s\n", n, (int)n, buf);

    int saved = dup(1);
    dup2(sv[0], 1);
    printf("to the socket\n");
    fflush(stdout);
    dup2(saved, 1);
    n = recv(sv[1], buf, sizeof buf, 0);
    printf("redirected %zd: %.*s", n, (int)n, buf);

    int one = 1, val = 0;
    socklen_t len = sizeof val;
    setsockopt(sv[0], SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    getsockopt(sv[0], SOL_SOCKET, SO_KEEPALIVE, &val, &len);
    printf("keepalive=%d len=%u\n", val, len);
    shutdown(sv[0], SHUT_WR);
    printf("recv after shutdown: %zd\n", recv(sv[1], buf, sizeof buf, 0));
    return 0;
}
