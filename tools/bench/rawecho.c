/* rawecho: the smallest single-threaded epoll TCP echo server, used as the practical ceiling in
 * tools/bench/ws-echo.sh (wsload --raw sends fixed-size messages without any framing).
 * Level-triggered; reads up to 64 KiB and writes it straight back; a short write parks the rest
 * and stops reading that connection until it drains, so memory stays bounded.
 * Build: cc -O2 -Wall -Wextra -Werror -o build/tools/rawecho tools/bench/rawecho.c
 * Usage: rawecho PORT   (binds 127.0.0.1 only; prints "rawecho: listening on 127.0.0.1:PORT")
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE 65536
#define MAX_FDS 65536

struct conn {
    unsigned pending; /* bytes of buf not yet written back */
    int parked;       /* waiting for EPOLLOUT (reading paused) */
    char* buf;        /* allocated on the first short write */
};

static struct conn conns[MAX_FDS];
static char rbuf[BUF_SIZE];

static void drop(int ep, int fd) {
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    free(conns[fd].buf);
    memset(&conns[fd], 0, sizeof conns[fd]);
}

static void want(int ep, int fd, unsigned events) {
    struct epoll_event ev = {.events = events, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

/* Writes data; keeps what the socket did not take. Returns -1 if the connection died. */
static int echo(int ep, int fd, const char* data, unsigned len) {
    struct conn* c = &conns[fd];
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        if (n < 0) return -1;
        data += n;
        len -= (unsigned)n;
    }
    if (len == 0) {
        c->pending = 0;
        if (c->parked) want(ep, fd, EPOLLIN);
        c->parked = 0;
        return 0;
    }
    if (!c->buf && !(c->buf = malloc(BUF_SIZE))) return -1;
    memmove(c->buf, data, len);
    c->pending = len;
    if (!c->parked) want(ep, fd, EPOLLOUT);
    c->parked = 1;
    return 0;
}

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: rawecho PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1])),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr*)&addr, sizeof addr) != 0 || listen(lfd, 4096) != 0) {
        perror("rawecho: bind/listen");
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    printf("rawecho: listening on 127.0.0.1:%s\n", argv[1]);
    fflush(stdout);
    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                int cfd;
                while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    if (cfd >= MAX_FDS) {
                        close(cfd);
                        continue;
                    }
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = cfd};
                    epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev);
                }
                continue;
            }
            struct conn* c = &conns[fd];
            if (c->parked) { /* writable again: drain the parked bytes first */
                if (echo(ep, fd, c->buf, c->pending) < 0) drop(ep, fd);
                continue;
            }
            ssize_t r = recv(fd, rbuf, sizeof rbuf, 0);
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (r <= 0 || echo(ep, fd, rbuf, (unsigned)r) < 0) drop(ep, fd);
        }
    }
}
