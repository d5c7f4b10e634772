// Test support: one net::Connection on a real EventLoop driven by a ManualClock, its peer the
// other end of a socketpair. The connection is not in the Server's table (no listener): the
// Server only batches its flushes, retires replaced sessions and reaps nothing. Teardown closes
// the connection, runs the loop once more and asserts that no watch or timer is left.
#pragma once

#include <criterion/criterion.h>

#include <memory>
#include <string>
#include <string_view>

#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.hpp"
#include "event/event_loop.hpp"
#include "net/connection.hpp"
#include "net/server.hpp"

namespace herald::test {

struct ConnectionRig {
    ManualClock clock;
    EventLoop loop{clock};
    net::Server server{loop, {}, 16};
    UniqueFd client;  // the peer's end, non-blocking
    std::unique_ptr<net::Connection> conn;

    ConnectionRig() {
        int sv[2];
        cr_assert_eq(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        client = UniqueFd(sv[1]);
        conn = std::make_unique<net::Connection>(server, UniqueFd(sv[0]), net::Address{}, 0);
    }
    ~ConnectionRig() {
        if (!conn->closed()) conn->close();
        loop.run_once(0);  // reap, retire
        conn.reset();
        cr_expect_eq(loop.watch_count(), 0u, "watches left: %zu", loop.watch_count());
        cr_expect_eq(loop.timer_count(), 0u, "timers left: %zu", loop.timer_count());
    }
    ConnectionRig(const ConnectionRig&) = delete;
    ConnectionRig& operator=(const ConnectionRig&) = delete;

    // The peer writes s (small: it fits the socket buffer).
    void send(std::string_view s) const {
        cr_assert_eq(::write(client.get(), s.data(), s.size()), static_cast<ssize_t>(s.size()));
    }
    // What the peer can read now; *eof is set if our side shut down its writing or closed.
    std::string receive(bool* eof = nullptr) const {
        std::string got;
        char buf[4096];
        for (;;) {
            ssize_t n = ::read(client.get(), buf, sizeof buf);
            if (n == 0 && eof) *eof = true;
            if (n <= 0) break;
            got.append(buf, static_cast<std::size_t>(n));
        }
        return got;
    }
    // A few loop iterations without waiting: enough for read -> process -> flush.
    void spin(int n = 3) {
        for (int i = 0; i < n; ++i)
            loop.run_once(0);
    }
};

} // namespace herald::test
