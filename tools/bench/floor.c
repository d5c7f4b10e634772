/* tools/bench/floor.c: the physical floor of one-write-per-delivery fan-out, for the benchmarks
 * (not a server to deploy). It does the least any push server must do per delivery: one write()
 * of a pre-built message to each subscriber socket, nothing else (no parsing beyond the request
 * line, no queue, no timers, no per-message allocation). Same wire format as herald's routes, so
 * wsload measures it like herald and nchan:
 *   GET /ws/NAME (Upgrade)  -> 101, then one unmasked text frame per message
 *   GET /sse/NAME           -> 200 text/event-stream, then "data: MSG\n\n" per message
 *   GET /longpoll/NAME      -> held; answered with the next message (ETag "N"), then held again
 *   POST /pub?...           -> 201; the body is the message, written to every subscriber
 * One channel (the name is ignored), one thread, epoll, level-triggered. A subscriber whose
 * write() would block or comes up short is closed and counted as dropped (a floor does not queue).
 * Usage: floor PORT   (binds 127.0.0.1:PORT; stops on SIGTERM/SIGINT) */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum kind { k_head, k_pub_body, k_ws, k_sse, k_held };
#define HEAD_MAX 2048
#define BODY_MAX 16384
#define MAX_FDS 65536

struct conn {
    enum kind kind;
    size_t len;          /* bytes in buf */
    size_t body_left;    /* publisher: body bytes still to read */
    char buf[HEAD_MAX + BODY_MAX];
};

static struct conn* conns[MAX_FDS];
static int subs[MAX_FDS]; /* fds of ws, sse and held long-poll subscribers */
/* listed[fd]: fd has an entry in subs. A closed subscriber's entry stays until the next
 * broadcast skips it; a new connection that gets the same fd number meanwhile must not be
 * added a second time (it would receive every message twice). */
static unsigned char listed[MAX_FDS];
static int nsubs;
static unsigned long long msg_id, dropped;
static volatile sig_atomic_t stop;
static int ep;

static void on_signal(int s) { (void)s; stop = 1; }

static void drop_conn(int fd) {
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    free(conns[fd]);
    conns[fd] = NULL;
}

static void add_sub(int fd) {
    if (listed[fd]) return;
    listed[fd] = 1;
    subs[nsubs++] = fd;
}

static int write_all_once(int fd, const char* p, size_t n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    return w == (ssize_t)n;
}

/* One write per subscriber; the message is framed once per kind. */
static void broadcast(const char* body, size_t n) {
    static char ws[BODY_MAX + 16], sse[BODY_MAX + 16], lp[BODY_MAX + 256];
    size_t wsn = 0, ssen, lpn;
    ++msg_id;
    ws[wsn++] = (char)0x81;
    if (n < 126) {
        ws[wsn++] = (char)n;
    } else {
        ws[wsn++] = 126;
        ws[wsn++] = (char)(n >> 8);
        ws[wsn++] = (char)(n & 0xff);
    }
    memcpy(ws + wsn, body, n);
    wsn += n;
    ssen = (size_t)snprintf(sse, sizeof sse, "data: %.*s\n\n", (int)n, body);
    lpn = (size_t)snprintf(lp, sizeof lp,
                           "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: \"%llu\"\r\n"
                           "Content-Length: %zu\r\n\r\n%.*s", msg_id, n, (int)n, body);
    int kept = 0;
    for (int i = 0; i < nsubs; ++i) {
        int fd = subs[i];
        struct conn* c = conns[fd];
        if (!c) { listed[fd] = 0; continue; }
        int ok;
        if (c->kind == k_ws) ok = write_all_once(fd, ws, wsn);
        else if (c->kind == k_sse) ok = write_all_once(fd, sse, ssen);
        else if (c->kind == k_held) { ok = write_all_once(fd, lp, lpn); c->kind = k_head; c->len = 0; }
        else { listed[fd] = 0; continue; } /* a long-poller between requests: it re-registers */
        if (!ok) { ++dropped; drop_conn(fd); listed[fd] = 0; continue; }
        if (c->kind != k_head) subs[kept++] = fd;
        else listed[fd] = 0;
    }
    nsubs = kept;
}

static void on_head(int fd, struct conn* c, size_t head_len) {
    static const char ws_reply[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                   "Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n";
    static const char sse_reply[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                    "Cache-Control: no-cache\r\n\r\n";
    if (strncmp(c->buf, "POST ", 5) == 0) {
        const char* cl = strcasestr(c->buf, "\r\ncontent-length:");
        size_t want = cl ? strtoul(cl + 17, NULL, 10) : 0;
        if (want > BODY_MAX) { drop_conn(fd); return; }
        c->kind = k_pub_body;
        c->body_left = want;
        memmove(c->buf, c->buf + head_len, c->len - head_len);
        c->len -= head_len;
        return;
    }
    size_t rest = c->len - head_len;
    if (strncmp(c->buf, "GET /ws/", 8) == 0) {
        c->kind = k_ws;
        if (!write_all_once(fd, ws_reply, sizeof ws_reply - 1)) { drop_conn(fd); return; }
    } else if (strncmp(c->buf, "GET /sse/", 9) == 0) {
        c->kind = k_sse;
        if (!write_all_once(fd, sse_reply, sizeof sse_reply - 1)) { drop_conn(fd); return; }
    } else if (strncmp(c->buf, "GET /longpoll/", 14) == 0) {
        c->kind = k_held;
    } else {
        drop_conn(fd);
        return;
    }
    (void)rest;
    c->len = 0;
    add_sub(fd);
}

static void on_publisher_body(int fd, struct conn* c) {
    static const char created[] = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
    size_t take = c->len < c->body_left ? c->len : c->body_left;
    if (take < c->body_left) return;
    broadcast(c->buf, take);
    memmove(c->buf, c->buf + take, c->len - take);
    c->len -= take;
    c->kind = k_head;
    if (!write_all_once(fd, created, sizeof created - 1)) drop_conn(fd);
}

static void on_readable(int fd) {
    struct conn* c = conns[fd];
    ssize_t n = recv(fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (n <= 0) {
        if (n < 0 && errno == EAGAIN) return;
        drop_conn(fd);
        return;
    }
    if (c->kind == k_ws || c->kind == k_sse || c->kind == k_held) return; /* ignored */
    c->len += (size_t)n;
    for (;;) {
        if (c->kind == k_pub_body) {
            on_publisher_body(fd, c);
            if (!conns[fd] || c->kind == k_pub_body) return;
            continue;
        }
        if (c->kind != k_head) return;
        c->buf[c->len < sizeof c->buf ? c->len : sizeof c->buf - 1] = '\0';
        char* end = strstr(c->buf, "\r\n\r\n");
        if (!end) {
            if (c->len >= HEAD_MAX) drop_conn(fd);
            return;
        }
        on_head(fd, c, (size_t)(end + 4 - c->buf));
        if (!conns[fd] || c->kind != k_pub_body) return;
    }
}

int main(int argc, char** argv) {
    if (argc != 2) { fprintf(stderr, "usage: floor PORT\n"); return 2; }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1])),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr*)&a, sizeof a) || listen(lfd, 4096)) { perror("bind/listen"); return 1; }
    ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd}, evs[256];
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    while (!stop) {
        int k = epoll_wait(ep, evs, 256, 200);
        for (int i = 0; i < k; ++i) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                int cfd;
                while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (cfd >= MAX_FDS) { close(cfd); continue; }
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conns[cfd] = malloc(sizeof(struct conn)); /* buf pages stay untouched until used */
                    conns[cfd]->kind = k_head;
                    conns[cfd]->len = conns[cfd]->body_left = 0;
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = cfd};
                    epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev);
                }
            } else if (conns[fd]) {
                on_readable(fd);
            }
        }
    }
    fprintf(stderr, "floor: %llu messages, %llu subscribers dropped\n", msg_id, dropped);
    return 0;
}
