// Backend-level tests of the Poller contract (poller.hpp), through Poller::create(): the
// same assertions run over epoll (build/asan) and over kqueue on its Linux emulation
// (build/kq), so any behaviour difference between the two backends fails here.
#include "event/poller.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include <criterion/criterion.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/unique_fd.hpp"

using namespace herald;

namespace {

struct FdPair {
    UniqueFd a, b;
};

FdPair make_socketpair() {
    int fds[2];
    cr_assert_eq(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    return FdPair{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

FdPair make_pipe() {  // a = read end, b = write end
    int fds[2];
    cr_assert_eq(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    return FdPair{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void send_bytes(int fd, std::size_t n) {
    std::vector<char> buf(n, 'x');
    cr_assert_eq(::write(fd, buf.data(), n), static_cast<ssize_t>(n));
}

struct Flags {
    bool readable, writable, hangup;
};

// Waits once and expects exactly one event, for `token`, with these flags.
void expect_one(Poller& p, std::uint64_t token, Flags want, const char* what) {
    const std::span<const ReadyEvent> evs = p.wait(1000);
    cr_assert_eq(evs.size(), 1u, "%s: %zu events", what, evs.size());
    const ReadyEvent& ev = evs[0];
    cr_assert_eq(ev.token, token, "%s: token", what);
    cr_assert_eq(ev.readable, want.readable, "%s: readable", what);
    cr_assert_eq(ev.writable, want.writable, "%s: writable", what);
    cr_assert_eq(ev.hangup, want.hangup, "%s: hangup", what);
}

void expect_none(Poller& p, const char* what) {
    const std::span<const ReadyEvent> evs = p.wait(0);
    cr_assert_eq(evs.size(), 0u, "%s: %zu unexpected events", what, evs.size());
}

constexpr std::uint64_t token_of(int fd, std::uint32_t gen) {
    return static_cast<std::uint32_t>(fd) | (std::uint64_t{gen} << 32);
}

} // namespace

Test(poller, readable_carries_the_full_token, .timeout = 10.0) {
    auto p = Poller::create();
    FdPair s = make_socketpair();
    const std::uint64_t token = token_of(s.a.get(), 0xfffffffeu);
    cr_assert(!p->add(s.a.get(), Interest::read, token));
    expect_none(*p, "idle");
    send_bytes(s.b.get(), 3);
    expect_one(*p, token, {true, false, false}, "data");
    expect_one(*p, token, {true, false, false}, "level-triggered: again");
    char buf[8];
    cr_assert_eq(::read(s.a.get(), buf, sizeof buf), 3);
    expect_none(*p, "drained");
    p->remove(s.a.get());
}

Test(poller, write_interest_and_modify, .timeout = 10.0) {
    auto p = Poller::create();
    FdPair s = make_socketpair();
    const int fd = s.a.get();
    cr_assert(!p->add(fd, Interest::write, 7));
    expect_one(*p, 7, {false, true, false}, "writable");
    send_bytes(s.b.get(), 1);
    cr_assert(!p->modify(fd, Interest::read_write, 8));
    expect_one(*p, 8, {true, true, false}, "read_write merged, new token");
    cr_assert(!p->modify(fd, Interest::read, 9));
    expect_one(*p, 9, {true, false, false}, "write dropped");
    cr_assert(!p->modify(fd, Interest::none, 9));
    expect_none(*p, "none");
    cr_assert(!p->modify(fd, Interest::write, 10));
    expect_one(*p, 10, {false, true, false}, "back from none");
    p->remove(fd);
    expect_none(*p, "removed");
}

Test(poller, peer_close_is_hangup_in_every_direction_asked_for, .timeout = 10.0) {
    struct Case {
        const char* name;
        Interest in;
        Flags want;
    };
    const Case cases[] = {
        {"read", Interest::read, {true, false, true}},
        {"write", Interest::write, {false, true, true}},
        {"read_write", Interest::read_write, {true, true, true}},
    };
    for (const Case& c : cases) {
        auto p = Poller::create();
        FdPair s = make_socketpair();
        cr_assert(!p->add(s.a.get(), c.in, 1));
        s.b.reset();
        expect_one(*p, 1, c.want, c.name);
        p->remove(s.a.get());
    }
}

Test(poller, half_close_is_hangup_for_readers_only, .timeout = 10.0) {
    struct Case {
        const char* name;
        Interest in;
        Flags want;
    };
    const Case cases[] = {
        {"read", Interest::read, {true, false, true}},
        {"write", Interest::write, {false, true, false}},
        {"read_write", Interest::read_write, {true, true, true}},
    };
    for (const Case& c : cases) {
        auto p = Poller::create();
        FdPair s = make_socketpair();
        cr_assert(!p->add(s.a.get(), c.in, 1));
        cr_assert_eq(::shutdown(s.b.get(), SHUT_WR), 0);
        expect_one(*p, 1, c.want, c.name);
        p->remove(s.a.get());
    }
}

Test(poller, pipe_ends, .timeout = 10.0) {
    auto p = Poller::create();
    FdPair rd = make_pipe();
    cr_assert(!p->add(rd.a.get(), Interest::read, 1));
    rd.b.reset();  // writer gone, nothing buffered
    expect_one(*p, 1, {true, false, true}, "read end after writer closed");
    p->remove(rd.a.get());

    FdPair wr = make_pipe();
    cr_assert(!p->add(wr.b.get(), Interest::write, 2));
    expect_one(*p, 2, {false, true, false}, "write end");
    wr.a.reset();  // reader gone
    expect_one(*p, 2, {false, true, true}, "write end after reader closed");
    p->remove(wr.b.get());
}

Test(poller, none_interest_suppresses_hangup, .timeout = 10.0) {
    auto p = Poller::create();
    FdPair s = make_socketpair();
    cr_assert(!p->add(s.a.get(), Interest::none, 1));
    s.b.reset();
    expect_none(*p, "none after peer close");
    cr_assert(!p->modify(s.a.get(), Interest::read, 2));
    expect_one(*p, 2, {true, false, true}, "read after peer close");
    p->remove(s.a.get());
}

Test(poller, errors_are_the_same_on_every_backend, .timeout = 10.0) {
    auto p = Poller::create();
    FdPair s = make_socketpair();
    cr_assert(!p->add(s.a.get(), Interest::read, 1));
    cr_assert_eq(p->add(s.a.get(), Interest::read, 1).value(), EEXIST);
    cr_assert_eq(p->modify(s.b.get(), Interest::read, 1).value(), ENOENT);
    cr_assert_eq(p->add(-1, Interest::read, 1).value(), EBADF);
    int spare = ::dup(s.b.get());
    ::close(spare);  // a number that is certainly closed
    cr_assert_eq(p->add(spare, Interest::read, 1).value(), EBADF);
    cr_assert_eq(p->add(spare, Interest::none, 1).value(), EBADF);
    p->remove(spare);  // unknown: ignored
    p->remove(s.a.get());
    cr_assert(!p->add(s.a.get(), Interest::read, 2), "re-add after remove");
    p->remove(s.a.get());
}

Test(poller, removed_fd_reports_nothing_even_when_ready, .timeout = 10.0) {
    auto p = Poller::create();
    FdPair s = make_socketpair();
    cr_assert(!p->add(s.a.get(), Interest::read_write, 1));
    send_bytes(s.b.get(), 1);
    p->remove(s.a.get());
    expect_none(*p, "after remove");
}

Test(poller, wake_from_another_thread_ends_a_blocking_wait, .timeout = 10.0) {
    auto p = Poller::create();
    std::thread waker([&] { p->wake(); });
    const std::span<const ReadyEvent> evs = p->wait(-1);
    waker.join();
    cr_assert_eq(evs.size(), 0u, "the wake-up itself is never reported");
    expect_none(*p, "wake-up consumed");
}

Test(poller, wake_before_wait_is_not_lost, .timeout = 10.0) {
    auto p = Poller::create();
    p->wake();
    p->wake();
    cr_assert_eq(p->wait(-1).size(), 0u);
    expect_none(*p, "consumed once");
}

Test(poller, wait_times_out, .timeout = 10.0) {
    auto p = Poller::create();
    const auto start = std::chrono::steady_clock::now();
    cr_assert_eq(p->wait(30).size(), 0u);
    cr_assert(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(29));
}

// More ready fds than one wait() returns: no fd shows up twice in one wait, and none is
// starved. (kqueue merges per kevent() call: an fd whose two knotes straddle two calls may
// come back readable in one wait and writable in the next, which the contract allows.)
Test(poller, many_fds_one_event_each, .timeout = 10.0) {
    constexpr int n = 600;
    auto p = Poller::create();
    std::vector<FdPair> pairs;
    for (int i = 0; i < n; ++i) {
        pairs.push_back(make_socketpair());
        cr_assert(!p->add(pairs.back().a.get(), Interest::read_write, 1000u + i));
        send_bytes(pairs.back().b.get(), 1);
    }
    std::set<std::uint64_t> seen;
    for (int round = 0; round < 12 && seen.size() < n; ++round) {
        std::set<std::uint64_t> this_wait;
        for (const ReadyEvent& ev : p->wait(1000)) {
            cr_assert(this_wait.insert(ev.token).second, "token %llu twice in one wait",
                      static_cast<unsigned long long>(ev.token));
            cr_assert(ev.readable || ev.writable);
            seen.insert(ev.token);
        }
    }
    cr_assert_eq(seen.size(), static_cast<std::size_t>(n));
    for (FdPair& s : pairs) p->remove(s.a.get());
}
