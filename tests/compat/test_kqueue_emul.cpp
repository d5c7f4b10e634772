// Tests of the Linux kqueue emulation itself (tests/compat), against FreeBSD's kqueue(2)
// semantics directly over socketpairs, pipes, a TCP listener and a file, independent of what
// herald's backend happens to use: so the emulation cannot drift into "whatever passes".
#include <sys/event.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

// Owns one kqueue fd.
struct Kq {
    int fd;
    Kq() : fd(::kqueue()) { cr_assert_geq(fd, 0, "kqueue(): %s", std::strerror(errno)); }
    ~Kq() {
        if (fd >= 0) ::close(fd);
    }
    Kq(const Kq&) = delete;
    Kq& operator=(const Kq&) = delete;
};

// Owns two fds (socketpair or pipe: a = read end, b = write end).
struct Fds {
    int a = -1, b = -1;
    ~Fds() {
        if (a >= 0) ::close(a);
        if (b >= 0) ::close(b);
    }
    void close_a() {
        ::close(a);
        a = -1;
    }
    void close_b() {
        ::close(b);
        b = -1;
    }
};

void make_socketpair(Fds& f) {
    int fds[2];
    cr_assert_eq(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    f.a = fds[0];
    f.b = fds[1];
}

void make_pipe(Fds& f) {
    int fds[2];
    cr_assert_eq(::pipe2(fds, O_NONBLOCK), 0);
    f.a = fds[0];
    f.b = fds[1];
}

void put(int fd, std::size_t n) {
    std::vector<char> buf(n, 'k');
    cr_assert_eq(::write(fd, buf.data(), n), static_cast<ssize_t>(n));
}

void* tag(std::uintptr_t v) { return reinterpret_cast<void*>(v); }

// Applies one change with no event list; returns kevent()'s result.
int change(int kq, std::uintptr_t ident, short filter, unsigned short flags,
           unsigned int fflags = 0, std::int64_t data = 0, void* udata = nullptr) {
    struct kevent kev;
    EV_SET(&kev, ident, filter, flags, fflags, data, udata);
    return ::kevent(kq, &kev, 1, nullptr, 0, nullptr);
}

void must_change(int kq, std::uintptr_t ident, short filter, unsigned short flags,
                 unsigned int fflags = 0, void* udata = nullptr) {
    cr_assert_eq(change(kq, ident, filter, flags, fflags, 0, udata), 0, "change: %s",
                 std::strerror(errno));
}

// Waits up to ms for events (ms < 0: no limit).
int collect(int kq, struct kevent* out, int n, int ms) {
    struct timespec ts {ms / 1000, (ms % 1000) * 1000000L};
    return ::kevent(kq, nullptr, 0, out, n, ms < 0 ? nullptr : &ts);
}

int count_ready(int kq) {
    struct kevent evs[8];
    return collect(kq, evs, 8, 0);
}

const struct timespec zero_timeout {0, 0};

} // namespace

// ---- the kqueue fd ----

Test(kqueue_emul, kqueue_fd_closes_like_any_fd, .timeout = 10.0) {
    const int kq = ::kqueue();
    cr_assert_geq(kq, 0);
    cr_assert_eq(::close(kq), 0);
    struct kevent ev;
    errno = 0;
    cr_assert_eq(::kevent(kq, nullptr, 0, &ev, 1, &zero_timeout), -1);
    cr_assert_eq(errno, EBADF, "a closed kqueue fd is EBADF");
}

Test(kqueue_emul, reused_kqueue_number_starts_empty, .timeout = 10.0) {
    Fds s;
    make_socketpair(s);
    const int first = ::kqueue();
    must_change(first, static_cast<std::uintptr_t>(s.a), EVFILT_READ, EV_ADD);
    ::close(first);
    Kq second;  // most likely the same number
    errno = 0;
    cr_assert_eq(change(second.fd, static_cast<std::uintptr_t>(s.a), EVFILT_READ, EV_DELETE), -1);
    cr_assert_eq(errno, ENOENT, "knotes of a closed kqueue must not survive");
}

Test(kqueue_emul, kevent_on_a_non_kqueue_fd_is_ebadf, .timeout = 10.0) {
    Fds s;
    make_socketpair(s);
    struct kevent ev;
    errno = 0;
    cr_assert_eq(::kevent(s.a, nullptr, 0, &ev, 1, &zero_timeout), -1);
    cr_assert_eq(errno, EBADF);
}

// ---- EVFILT_READ / EVFILT_WRITE ----

Test(kqueue_emul, read_filter_reports_bytes_readable, .timeout = 10.0) {
    Kq kq;
    Fds s;
    make_socketpair(s);
    must_change(kq.fd, static_cast<std::uintptr_t>(s.a), EVFILT_READ, EV_ADD, 0, tag(0xabc));
    cr_assert_eq(count_ready(kq.fd), 0, "nothing to read yet");
    put(s.b, 5);
    struct kevent ev;
    cr_assert_eq(collect(kq.fd, &ev, 1, 1000), 1);
    cr_assert_eq(ev.ident, static_cast<std::uintptr_t>(s.a));
    cr_assert_eq(ev.filter, EVFILT_READ);
    cr_assert_eq(ev.data, 5);
    cr_assert_eq(ev.udata, tag(0xabc));
    cr_assert_eq(ev.flags & (EV_EOF | EV_ERROR | EV_ADD), 0, "flags %#x", ev.flags);
}

Test(kqueue_emul, level_triggered_by_default, .timeout = 10.0) {
    Kq kq;
    Fds s;
    make_socketpair(s);
    must_change(kq.fd, static_cast<std::uintptr_t>(s.a), EVFILT_READ, EV_ADD);
    put(s.b, 2);
    for (int i = 0; i < 3; ++i) cr_assert_eq(count_ready(kq.fd), 1, "round %d", i);
    char buf[2];
    cr_assert_eq(::read(s.a, buf, 1), 1);
    struct kevent ev;
    cr_assert_eq(collect(kq.fd, &ev, 1, 0), 1);
    cr_assert_eq(ev.data, 1, "data follows what is left");
    cr_assert_eq(::read(s.a, buf, 1), 1);
    cr_assert_eq(count_ready(kq.fd), 0);
}

Test(kqueue_emul, read_and_write_are_separate_knotes, .timeout = 10.0) {
    Kq kq;
    Fds s;
    make_socketpair(s);
    const auto fd = static_cast<std::uintptr_t>(s.a);
    must_change(kq.fd, fd, EVFILT_READ, EV_ADD, 0, tag(1));
    must_change(kq.fd, fd, EVFILT_WRITE, EV_ADD, 0, tag(2));
    put(s.b, 1);
    struct kevent evs[4];
    cr_assert_eq(collect(kq.fd, evs, 4, 1000), 2, "one event per (ident, filter)");
    std::set<short> filters{evs[0].filter, evs[1].filter};
    cr_assert(filters == (std::set<short>{EVFILT_READ, EVFILT_WRITE}));
    for (int i = 0; i < 2; ++i) {
        cr_assert_eq(evs[i].udata, evs[i].filter == EVFILT_READ ? tag(1) : tag(2), "own udata");
    }
    must_change(kq.fd, fd, EVFILT_WRITE, EV_DELETE);
    cr_assert_eq(collect(kq.fd, evs, 4, 0), 1);
    cr_assert_eq(evs[0].filter, EVFILT_READ, "deleting one filter keeps the other");
}

Test(kqueue_emul, write_filter_data_is_space_left, .timeout = 10.0) {
    Kq kq;
    Fds s;
    make_socketpair(s);
    must_change(kq.fd, static_cast<std::uintptr_t>(s.a), EVFILT_WRITE, EV_ADD);
    struct kevent ev;
    cr_assert_eq(collect(kq.fd, &ev, 1, 1000), 1);
    const std::int64_t before = ev.data;
    cr_assert_gt(before, 1000);
    put(s.a, 1000);
    cr_assert_eq(collect(kq.fd, &ev, 1, 1000), 1);
    cr_assert_leq(ev.data, before - 1000, "space must shrink by what is queued");

    Fds p;
    make_pipe(p);
    const int pipe_size = ::fcntl(p.b, F_GETPIPE_SZ);
    must_change(kq.fd, static_cast<std::uintptr_t>(p.b), EVFILT_WRITE, EV_ADD);
    must_change(kq.fd, static_cast<std::uintptr_t>(s.a), EVFILT_WRITE, EV_DELETE);
    cr_assert_eq(collect(kq.fd, &ev, 1, 1000), 1);
    cr_assert_eq(ev.data, pipe_size);
    put(p.b, 100);
    cr_assert_eq(collect(kq.fd, &ev, 1, 1000), 1);
    cr_assert_eq(ev.data, pipe_size - 100);
}

Test(kqueue_emul, write_filter_is_quiet_while_the_buffer_is_full, .timeout = 10.0) {
    Kq kq;
    Fds s;
    make_socketpair(s);
    char chunk[4096] = {};
    while (::write(s.a, chunk, sizeof chunk) > 0) {
    }
    must_change(kq.fd, static_cast<std::uintptr_t>(s.a), EVFILT_WRITE, EV_ADD);
    cr_assert_eq(count_ready(kq.fd), 0, "full: not writable");
    while (::read(s.b, chunk, sizeof chunk) > 0) {
    }
    struct kevent ev;
    cr_assert_eq(collect(kq.fd, &ev, 1, 1000), 1, "space freed by the peer wakes the knote");
    cr_assert_eq(ev.filter, EVFILT_WRITE);
}

Test(kqueue_emul, peer_close_sets_eof_and_keeps_data, .timeout = 10.0) {
    Kq kq;
    Fds s;
    make_socketpair(s);
    must_change(kq.fd, static_cast<std::uintptr_t>(s.a), EVFILT_READ, EV_ADD);
    put(s.b, 3);
    s.close_b();
    struct kevent ev;
    cr_assert_eq(collect(kq.fd, &ev, 1, 1000), 1);
    cr_assert(ev.flags & EV_EOF);
    cr_assert_eq(ev.data, 3, "unread bytes are still reported with EV_EOF");
}

Test(kqueue_emul, peer_shutdown_write_is_eof_for_read_only, .timeout = 10.0) {
    Kq kq;
    Fds s;
    make_socketpair(s);
    const auto fd = static_cast<std::uintptr_t>(s.a);
    must_change(kq.fd, fd, EVFILT_READ, EV_ADD);
    must_change(kq.fd, fd, EVFILT_WRITE, EV_ADD);
    cr_assert_eq(::shutdown(s.b, SHUT_WR), 0);
    struct kevent evs[4];
    cr_assert_eq(collect(kq.fd, evs, 4, 1000), 2);
    for (int i = 0; i < 2; ++i) {
        const bool eof = (evs[i].flags & EV_EOF) != 0;
        if (evs[i].filter == EVFILT_READ) cr_assert(eof, "read side ended");
        else cr_assert_not(eof, "we can still send");
    }
}

Test(kqueue_emul, write_filter_eof_when_the_peer_is_gone, .timeout = 10.0) {
    Kq kq;
    Fds s;
    make_socketpair(s);
    must_change(kq.fd, static_cast<std::uintptr_t>(s.a), EVFILT_WRITE, EV_ADD);
    s.close_b();
    struct kevent ev;
    cr_assert_eq(collect(kq.fd, &ev, 1, 1000), 1);
    cr_assert(ev.flags & EV_EOF);
}

Test(kqueue_emul, pipe_eof_in_both_directions, .timeout = 10.0) {
    Kq kq;
    Fds rd, wr;
    make_pipe(rd);
    make_pipe(wr);
    must_change(kq.fd, static_cast<std::uintptr_t>(rd.a), EVFILT_READ, EV_ADD);
    must_change(kq.fd, static_cast<std::uintptr_t>(wr.b), EVFILT_WRITE, EV_ADD);
    struct kevent ev;
    cr_assert_eq(collect(kq.fd, &ev, 1, 1000), 1);
    cr_assert_eq(ev.filter, EVFILT_WRITE);
    cr_assert_eq(ev.flags & EV_EOF, 0);
    rd.close_b();
    wr.close_a();
    struct kevent evs[4];
    cr_assert_eq(collect(kq.fd, evs, 4, 1000), 2);
    for (int i = 0; i < 2; ++i) {
        cr_assert(evs[i].flags & EV_EOF, "filter %d", evs[i].filter);
        cr_assert_eq(evs[i].data, 0);
    }
}

Test(kqueue_emul, listen_socket_data_is_the_accept_queue, .timeout = 10.0) {
    Kq kq;
    const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in addr {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    cr_assert_eq(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), len), 0);
    cr_assert_eq(::listen(lfd, 8), 0);
    cr_assert_eq(::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    must_change(kq.fd, static_cast<std::uintptr_t>(lfd), EVFILT_READ, EV_ADD);
    cr_assert_eq(count_ready(kq.fd), 0);
    int clients[2];
    for (int& c : clients) {
        c = ::socket(AF_INET, SOCK_STREAM, 0);
        cr_assert_eq(::connect(c, reinterpret_cast<sockaddr*>(&addr), len), 0);
    }
    struct kevent ev;
    cr_assert_eq(collect(kq.fd, &ev, 1, 1000), 1);
    cr_assert_eq(ev.data, 2, "two connections waiting for accept()");
    for (int c : clients) ::close(c);
    ::close(lfd);
}

Test(kqueue_emul, regular_file_read_data_is_bytes_past_the_offset, .timeout = 10.0) {
    Kq kq;
    char path[] = "/tmp/kqueue_emul_XXXXXX";
    const int fd = ::mkstemp(path);
    cr_assert_geq(fd, 0);
    ::unlink(path);
    put(fd, 10);
    cr_assert_eq(::lseek(fd, 4, SEEK_SET), 4);
    must_change(kq.fd, static_cast<std::uintptr_t>(fd), EVFILT_READ, EV_ADD);
    struct kevent ev;
    cr_assert_eq(collect(kq.fd, &ev, 1, 0), 1);
    cr_assert_eq(ev.data, 6);
    ::close(fd);
}

// ---- the change list ----

Test(kqueue_emul, changelist_is_applied_before_waiting, .timeout = 10.0) {
    Kq kq;
    Fds s;
    make_socketpair(s);
    put(s.b, 1);
    struct kevent ch, ev;
    EV_SET(&ch, static_cast<std::uintptr_t>(s.a), EVFILT_READ, EV_ADD, 0, 0, nullptr);
    cr_assert_eq(::kevent(kq.fd, &ch, 1, &ev, 1, nullptr), 1);
    cr_assert_eq(ev.filter, EVFILT_READ);
    cr_assert_eq(ev.flags & EV_ERROR, 0);
}

Test(kqueue_emul, failed_change_is_an_ev_error_receipt, .timeout = 10.0) {
    Kq kq;
    Fds s;
    make_socketpair(s);
    struct kevent ch, ev;
    EV_SET(&ch, static_cast<std::uintptr_t>(s.a), EVFILT_READ, EV_DELETE, 0, 0, tag(77));
    // NULL timeout: a receipt must return at once, without waiting for events.
    cr_assert_eq(::kevent(kq.fd, &ch, 1, &ev, 1, nullptr), 1);
    cr_assert_eq(ev.flags, EV_ERROR);
    cr_assert_eq(ev.data, ENOENT);
    cr_assert_eq(ev.ident, static_cast<std::uintptr_t>(s.a));
    cr_assert_eq(ev.filter, EVFILT_READ);
    cr_assert_eq(ev.udata, tag(77));
}

Test(kqueue_emul, failed_change_without_room_fails_the_call, .timeout = 10.0) {
    Kq kq;
    Fds s;
    make_socketpair(s);
    errno = 0;
    cr_assert_eq(change(kq.fd, static_cast<std::uintptr_t>(s.a), EVFILT_WRITE, EV_DELETE), -1);
    cr_assert_eq(errno, ENOENT);
    errno = 0;
    cr_assert_eq(change(kq.fd, static_cast<std::uintptr_t>(s.a), EVFILT_WRITE, EV_ENABLE), -1);
    cr_assert_eq(errno, ENOENT, "a change without EV_ADD needs an existing knote");
}

Test(kqueue_emul, bad_fd_and_bad_filter, .timeout = 10.0) {
    Kq kq;
    const int closed = ::dup(0);
    ::close(closed);
    struct kevent ch[2], ev[2];
    EV_SET(&ch[0], static_cast<std::uintptr_t>(closed), EVFILT_READ, EV_ADD, 0, 0, nullptr);
    EV_SET(&ch[1], 0, -42, EV_ADD, 0, 0, nullptr);
    cr_assert_eq(::kevent(kq.fd, ch, 2, ev, 2, nullptr), 2);
    cr_assert_eq(ev[0].data, EBADF);
    cr_assert_eq(ev[1].data, EINVAL);
}

Test(kqueue_emul, good_changes_apply_alongside_failed_ones, .timeout = 10.0) {
    Kq kq;
    Fds s;
    make_socketpair(s);
    put(s.b, 1);
    struct kevent ch[2], ev[4];
    EV_SET(&ch[0], static_cast<std::uintptr_t>(s.a), EVFILT_READ, EV_ADD, 0, 0, nullptr);
    EV_SET(&ch[1], static_cast<std::uintptr_t>(s.a), EVFILT_WRITE, EV_DELETE, 0, 0, nullptr);
    cr_assert_eq(::kevent(kq.fd, ch, 2, ev, 4, nullptr), 1, "only the receipt, no scan");
    cr_assert_eq(ev[0].filter, EVFILT_WRITE);
    cr_assert_eq(ev[0].data, ENOENT);
    cr_assert_eq(collect(kq.fd, ev, 4, 1000), 1, "the good change was applied");
    cr_assert_eq(ev[0].filter, EVFILT_READ);
}

Test(kqueue_emul, ev_receipt_reports_success_too, .timeout = 10.0) {
    Kq kq;
    Fds s;
    make_socketpair(s);
    put(s.b, 1);
    struct kevent ch, ev;
    EV_SET(&ch, static_cast<std::uintptr_t>(s.a), EVFILT_READ, EV_ADD | EV_RECEIPT, 0, 0,
           nullptr);
    cr_assert_eq(::kevent(kq.fd, &ch, 1, &ev, 1, nullptr), 1);
    cr_assert_eq(ev.flags, EV_ERROR);
    cr_assert_eq(ev.data, 0);
}

Test(kqueue_emul, no_event_list_returns_without_waiting, .timeout = 10.0) {
    Kq kq;
    cr_assert_eq(::kevent(kq.fd, nullptr, 0, nullptr, 0, nullptr), 0);
}

// ---- flags ----

Test(kqueue_emul, oneshot_is_deleted_after_delivery, .timeout = 10.0) {
    Kq kq;
    Fds s;
    make_socketpair(s);
    const auto fd = static_cast<std::uintptr_t>(s.a);
    must_change(kq.fd, fd, EVFILT_READ, EV_ADD | EV_ONESHOT);
    put(s.b, 1);
    struct kevent ev;
    cr_assert_eq(collect(kq.fd, &ev, 1, 1000), 1);
    cr_assert(ev.flags & EV_ONESHOT);
    cr_assert_eq(count_ready(kq.fd), 0);
    errno = 0;
    cr_assert_eq(change(kq.fd, fd, EVFILT_READ, EV_DELETE), -1);
    cr_assert_eq(errno, ENOENT, "the knote is gone");
}

Test(kqueue_emul, clear_reports_changes_not_levels, .timeout = 10.0) {
    Kq kq;
    Fds s;
    make_socketpair(s);
    must_change(kq.fd, static_cast<std::uintptr_t>(s.a), EVFILT_READ, EV_ADD | EV_CLEAR);
    put(s.b, 2);
    struct kevent ev;
    cr_assert_eq(collect(kq.fd, &ev, 1, 1000), 1);
    cr_assert_eq(ev.data, 2);
    cr_assert_eq(count_ready(kq.fd), 0, "unread data is not reported again");
    put(s.b, 3);
    cr_assert_eq(collect(kq.fd, &ev, 1, 1000), 1, "new data is");
    cr_assert_eq(ev.data, 5);
    cr_assert_eq(count_ready(kq.fd), 0);
}

Test(kqueue_emul, clear_write_knote_ignores_incoming_data, .timeout = 10.0) {
    Kq kq;
    Fds s;
    make_socketpair(s);
    must_change(kq.fd, static_cast<std::uintptr_t>(s.a), EVFILT_WRITE, EV_ADD | EV_CLEAR);
    struct kevent ev;
    cr_assert_eq(collect(kq.fd, &ev, 1, 1000), 1);
    put(s.b, 10);  // read-side activity only
    cr_assert_eq(count_ready(kq.fd), 0, "data arriving is not a write event");
    char buf[64];
    put(s.a, 10);
    cr_assert_eq(::read(s.b, buf, sizeof buf), 10);  // the peer frees our send space
    cr_assert_eq(collect(kq.fd, &ev, 1, 1000), 1);
    cr_assert_eq(ev.filter, EVFILT_WRITE);
}

Test(kqueue_emul, disable_suppresses_and_enable_resumes, .timeout = 10.0) {
    Kq kq;
    Fds s;
    make_socketpair(s);
    const auto fd = static_cast<std::uintptr_t>(s.a);
    must_change(kq.fd, fd, EVFILT_READ, EV_ADD | EV_DISABLE);
    put(s.b, 1);
    cr_assert_eq(count_ready(kq.fd), 0, "added disabled");
    must_change(kq.fd, fd, EVFILT_READ, EV_ENABLE);
    cr_assert_eq(count_ready(kq.fd), 1);
    must_change(kq.fd, fd, EVFILT_READ, EV_DISABLE);
    cr_assert_eq(count_ready(kq.fd), 0);
    must_change(kq.fd, fd, EVFILT_READ, EV_ENABLE);
    cr_assert_eq(count_ready(kq.fd), 1, "level knote fires again once enabled");
}

Test(kqueue_emul, dispatch_disables_after_delivery, .timeout = 10.0) {
    Kq kq;
    Fds s;
    make_socketpair(s);
    const auto fd = static_cast<std::uintptr_t>(s.a);
    must_change(kq.fd, fd, EVFILT_READ, EV_ADD | EV_DISPATCH);
    put(s.b, 1);
    cr_assert_eq(count_ready(kq.fd), 1);
    cr_assert_eq(count_ready(kq.fd), 0);
    must_change(kq.fd, fd, EVFILT_READ, EV_ENABLE);
    cr_assert_eq(count_ready(kq.fd), 1);
}

Test(kqueue_emul, re_adding_updates_udata_but_keeps_flags, .timeout = 10.0) {
    Kq kq;
    Fds s;
    make_socketpair(s);
    const auto fd = static_cast<std::uintptr_t>(s.a);
    must_change(kq.fd, fd, EVFILT_READ, EV_ADD | EV_CLEAR, 0, tag(1));
    must_change(kq.fd, fd, EVFILT_READ, EV_ADD, 0, tag(2));
    put(s.b, 1);
    struct kevent ev;
    cr_assert_eq(collect(kq.fd, &ev, 1, 1000), 1);
    cr_assert_eq(ev.udata, tag(2));
    cr_assert(ev.flags & EV_CLEAR, "EV_CLEAR is fixed when the knote is created");
}

Test(kqueue_emul, delete_discards_a_pending_event, .timeout = 10.0) {
    Kq kq;
    Fds s;
    make_socketpair(s);
    const auto fd = static_cast<std::uintptr_t>(s.a);
    must_change(kq.fd, fd, EVFILT_READ, EV_ADD);
    put(s.b, 1);
    must_change(kq.fd, fd, EVFILT_READ, EV_DELETE);
    cr_assert_eq(count_ready(kq.fd), 0);
}

// More ready knotes than room: the rest come next, and a level knote that was returned
// goes to the back of the queue (FreeBSD re-queues it at the tail).
Test(kqueue_emul, small_event_list_round_robins, .timeout = 10.0) {
    Kq kq;
    Fds s[3];
    for (std::uintptr_t i = 0; i < 3; ++i) {
        make_socketpair(s[i]);
        must_change(kq.fd, static_cast<std::uintptr_t>(s[i].a), EVFILT_READ, EV_ADD, 0, tag(i));
        put(s[i].b, 1);
    }
    struct kevent evs[2];
    cr_assert_eq(collect(kq.fd, evs, 2, 1000), 2);
    std::set<void*> first{evs[0].udata, evs[1].udata};
    cr_assert_eq(collect(kq.fd, evs, 2, 1000), 2);
    cr_assert(first.count(evs[0].udata) == 0, "the knote left over must come first");
}

// ---- EVFILT_USER ----

Test(kqueue_emul, user_event_fires_on_trigger_and_clears, .timeout = 10.0) {
    Kq kq;
    must_change(kq.fd, 42, EVFILT_USER, EV_ADD | EV_CLEAR, 0, tag(9));
    cr_assert_eq(count_ready(kq.fd), 0, "not triggered yet");
    must_change(kq.fd, 42, EVFILT_USER, 0, NOTE_TRIGGER, tag(9));
    struct kevent ev;
    cr_assert_eq(collect(kq.fd, &ev, 1, 1000), 1);
    cr_assert_eq(ev.ident, 42u);
    cr_assert_eq(ev.filter, EVFILT_USER);
    cr_assert_eq(ev.udata, tag(9));
    cr_assert_eq(count_ready(kq.fd), 0, "EV_CLEAR: consumed");
}

Test(kqueue_emul, user_event_without_clear_stays_triggered, .timeout = 10.0) {
    Kq kq;
    must_change(kq.fd, 1, EVFILT_USER, EV_ADD);
    must_change(kq.fd, 1, EVFILT_USER, 0, NOTE_TRIGGER);
    cr_assert_eq(count_ready(kq.fd), 1);
    cr_assert_eq(count_ready(kq.fd), 1);
}

Test(kqueue_emul, user_fflags_control, .timeout = 10.0) {
    struct Step {
        unsigned int fflags;
        unsigned int want;
    };
    const Step steps[] = {
        {NOTE_FFCOPY | 0x5, 0x5},
        {NOTE_FFOR | 0x2, 0x7},
        {NOTE_FFAND | 0x3, 0x3},
        {NOTE_FFNOP | 0xff, 0x3},
    };
    Kq kq;
    must_change(kq.fd, 7, EVFILT_USER, EV_ADD | EV_CLEAR);
    for (const Step& s : steps) {
        must_change(kq.fd, 7, EVFILT_USER, 0, s.fflags | NOTE_TRIGGER);
        struct kevent ev;
        cr_assert_eq(collect(kq.fd, &ev, 1, 1000), 1);
        cr_assert_eq(ev.fflags, s.want, "after %#x: %#x", s.fflags, ev.fflags);
    }
}

Test(kqueue_emul, trigger_from_another_thread_wakes_a_blocked_kevent, .timeout = 10.0) {
    Kq kq;
    must_change(kq.fd, 0, EVFILT_USER, EV_ADD | EV_CLEAR);
    std::thread trigger([&] { must_change(kq.fd, 0, EVFILT_USER, 0, NOTE_TRIGGER); });
    struct kevent ev;
    cr_assert_eq(collect(kq.fd, &ev, 1, -1), 1);
    trigger.join();
    cr_assert_eq(ev.filter, EVFILT_USER);
}

Test(kqueue_emul, knote_added_from_another_thread_wakes_a_blocked_kevent, .timeout = 10.0) {
    Kq kq;
    Fds s;
    make_socketpair(s);
    put(s.b, 1);
    std::thread adder(
        [&] { must_change(kq.fd, static_cast<std::uintptr_t>(s.a), EVFILT_READ, EV_ADD); });
    struct kevent ev;
    cr_assert_eq(collect(kq.fd, &ev, 1, -1), 1);
    adder.join();
    cr_assert_eq(ev.filter, EVFILT_READ);
}

// ---- waiting ----

Test(kqueue_emul, timeout_is_honoured, .timeout = 10.0) {
    Kq kq;
    const auto start = std::chrono::steady_clock::now();
    struct kevent ev;
    cr_assert_eq(collect(kq.fd, &ev, 1, 30), 0);
    cr_assert(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(30));
}

Test(kqueue_emul, two_kqueues_watch_the_same_fd_independently, .timeout = 10.0) {
    Kq one, two;
    Fds s;
    make_socketpair(s);
    const auto fd = static_cast<std::uintptr_t>(s.a);
    must_change(one.fd, fd, EVFILT_READ, EV_ADD);
    must_change(two.fd, fd, EVFILT_READ, EV_ADD);
    put(s.b, 1);
    cr_assert_eq(count_ready(one.fd), 1);
    cr_assert_eq(count_ready(two.fd), 1);
    must_change(one.fd, fd, EVFILT_READ, EV_DELETE);
    cr_assert_eq(count_ready(one.fd), 0);
    cr_assert_eq(count_ready(two.fd), 1);
}
