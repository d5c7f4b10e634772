// Tests of the HTTP client (httpc/client.hpp) on a real EventLoop against a scripted loopback
// server in a thread: keep-alive reuse, the queue bound, timeouts, refused connects, a Call
// dropped before its answer, and a kept-alive connection the server closed.
#include <criterion/criterion.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "event/event_loop.hpp"
#include "httpc/client.hpp"
#include "support/redis_test.hpp"

using namespace std::chrono_literals;
using herald::EventLoop;
using herald::UniqueFd;
using herald::httpc::Call;
using herald::httpc::Client;
using herald::httpc::ClientErrc;
using herald::httpc::ClientOptions;
using herald::httpc::Endpoint;
using herald::httpc::Request;
using herald::httpc::ResponseParser;
using herald::test::run_until;

TestSuite(httpc_client, .timeout = 10.0);

namespace {

struct Listener {
    UniqueFd fd;
    Endpoint endpoint;
};

Listener listen_loopback() {
    Listener l;
    std::error_code ec;
    herald::net::Address a;
    cr_assert(!herald::net::make_address("127.0.0.1", 0, a));
    l.fd = herald::net::listen_on(a, 16, ec);
    cr_assert(!ec);
    l.endpoint.address = herald::net::local_address(l.fd.get(), ec);
    l.endpoint.authority = l.endpoint.address.to_string();
    return l;
}

// Blocking accept on the non-blocking listener (the server thread polls).
int accept_blocking(int lfd) {
    for (int i = 0; i < 500; ++i) {
        int fd = ::accept(lfd, nullptr, nullptr);
        if (fd >= 0) return fd;
        std::this_thread::sleep_for(5ms);
    }
    return -1;
}

// Reads one request head (and nothing after it: the tests' requests have no body).
std::string read_head(int fd) {
    std::string got;
    char c;
    while (got.find("\r\n\r\n") == std::string::npos && ::read(fd, &c, 1) == 1) got += c;
    return got;
}

void write_all(int fd, std::string_view s) {
    while (!s.empty()) {
        ssize_t n = ::write(fd, s.data(), s.size());
        if (n <= 0) return;
        s.remove_prefix(static_cast<std::size_t>(n));
    }
}

struct Outcome {
    int calls = 0;
    std::error_code ec;
    int status = 0;
    std::string body;
};

herald::httpc::ResponseCallback record(Outcome& o) {
    return [&o](std::error_code ec, const ResponseParser& r) {
        ++o.calls;
        o.ec = ec;
        o.status = ec ? 0 : r.status();
        o.body = ec ? "" : std::string(r.body());
    };
}

Request get(std::string target, std::chrono::milliseconds timeout = 2000ms) {
    Request r;
    r.target = std::move(target);
    r.headers = "X-Test: 1\r\n";
    r.timeout = timeout;
    return r;
}

} // namespace

Test(httpc_client, keep_alive_connection_is_reused) {
    Listener l = listen_loopback();
    std::vector<std::string> heads;
    std::thread server([&] {
        int fd = accept_blocking(l.fd.get());
        for (int i = 0; i < 2; ++i) {
            heads.push_back(read_head(fd));
            write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok" + std::to_string(i));
        }
        read_head(fd); // until the client closes
        ::close(fd);
    });
    {
        EventLoop loop;
        Client c(loop, ClientOptions{});
        Outcome a, b;
        std::error_code ec;
        Call ca = c.send(l.endpoint, get("/auth?x=1"), record(a), ec);
        cr_assert(!ec);
        cr_assert_eq(a.calls, 0, "never inside send()");
        cr_assert(run_until(loop, [&] { return a.calls == 1; }));
        Call cb = c.send(l.endpoint, get("/two"), record(b), ec);
        cr_assert(run_until(loop, [&] { return b.calls == 1; }));
        cr_assert(!a.ec && a.status == 200 && a.body == "ok0", "%s", a.ec.message().c_str());
        cr_assert(!b.ec && b.status == 200 && b.body == "ok1");
        cr_assert_eq(c.stats().connects, 1u);
        cr_assert_eq(c.stats().reused, 1u);
    }
    server.join();
    cr_assert(heads[0].starts_with("GET /auth?x=1 HTTP/1.1\r\nHost: " + l.endpoint.authority +
                                   "\r\nX-Test: 1\r\n\r\n"),
              "%s", heads[0].c_str());
}

Test(httpc_client, queue_is_bounded_and_deadlines_fire) {
    Listener l = listen_loopback(); // accepts (backlog) but never answers
    EventLoop loop;
    ClientOptions o;
    o.max_connections = 1;
    o.max_queued = 2;
    Client c(loop, o);
    Outcome out[4];
    std::vector<Call> calls;
    std::error_code ec;
    for (int i = 0; i < 3; ++i) {
        calls.push_back(c.send(l.endpoint, get("/", 200ms), record(out[i]), ec));
        cr_assert(!ec, "request %d: %s", i, ec.message().c_str());
    }
    Call refused = c.send(l.endpoint, get("/"), record(out[3]), ec);
    cr_assert(ec == ClientErrc::queue_full);
    cr_assert_not(refused.active());
    cr_assert(run_until(loop, [&] { return out[0].calls + out[1].calls + out[2].calls == 3; }));
    for (int i = 0; i < 3; ++i)
        cr_assert(out[i].ec == ClientErrc::timeout, "request %d: %s", i,
                  out[i].ec.message().c_str());
    cr_assert_eq(out[3].calls, 0);
}

Test(httpc_client, refused_connect_fails_the_request) {
    Endpoint closed;
    {
        Listener l = listen_loopback();
        closed = l.endpoint;
    } // the port is closed now
    EventLoop loop;
    Client c(loop, ClientOptions{});
    Outcome o;
    std::error_code ec;
    Call call = c.send(closed, get("/"), record(o), ec);
    cr_assert(run_until(loop, [&] { return o.calls == 1; }));
    cr_assert(o.ec == ClientErrc::connect_failed || o.ec == ClientErrc::connection_lost,
              "%s", o.ec.message().c_str());
}

Test(httpc_client, reset_call_never_runs_its_callback) {
    Listener l = listen_loopback();
    std::thread server([&] {
        int fd = accept_blocking(l.fd.get());
        for (int i = 0; i < 2; ++i) {
            read_head(fd);
            std::this_thread::sleep_for(50ms);
            write_all(fd, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        }
        read_head(fd);
        ::close(fd);
    });
    {
        EventLoop loop;
        ClientOptions o;
        o.max_connections = 1;
        Client c(loop, o);
        Outcome dropped, next;
        std::error_code ec;
        Call call = c.send(l.endpoint, get("/"), record(dropped), ec);
        cr_assert(run_until(loop, [&] { return c.stats().connects == 1; }));
        call.reset(); // its owner went away while the answer was awaited
        Call again = c.send(l.endpoint, get("/"), record(next), ec);
        cr_assert(run_until(loop, [&] { return next.calls == 1; }));
        cr_assert_eq(dropped.calls, 0);
        cr_assert(!next.ec && next.status == 403);
        cr_assert_eq(c.stats().connects, 1u, "the dropped answer was read, the connection kept");
    }
    server.join();
}

Test(httpc_client, closed_keep_alive_connection_is_replaced) {
    Listener l = listen_loopback();
    std::thread server([&] {
        for (int i = 0; i < 2; ++i) {
            int fd = accept_blocking(l.fd.get());
            read_head(fd);
            write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            ::shutdown(fd, SHUT_RDWR);
            ::close(fd); // a keep-alive answer, then the server goes away
        }
    });
    {
        EventLoop loop;
        Client c(loop, ClientOptions{});
        Outcome a, b;
        std::error_code ec;
        Call ca = c.send(l.endpoint, get("/"), record(a), ec);
        cr_assert(run_until(loop, [&] { return a.calls == 1; }));
        Call cb = c.send(l.endpoint, get("/"), record(b), ec);
        cr_assert(run_until(loop, [&] { return b.calls == 1; }));
        cr_assert(!a.ec && !b.ec, "%s / %s", a.ec.message().c_str(), b.ec.message().c_str());
        cr_assert_eq(c.stats().connects, 2u);
    }
    server.join();
}

// Past max_idle an answered keep-alive connection is closed at once; one kept idle is reused,
// and closed once idle_timeout passes unused.
Test(httpc_client, idle_connections_are_bounded_and_time_out) {
    Listener l = listen_loopback();
    std::atomic<int> eofs{0};
    const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    std::thread server([&] {
        int fds[2] = {accept_blocking(l.fd.get()), accept_blocking(l.fd.get())};
        for (int fd : fds) read_head(fd);
        for (int fd : fds) write_all(fd, ok);
        pollfd p[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
        int kept = -1;
        if (::poll(p, 2, 5000) > 0) { // the first event is the close of the one not kept
            char c;
            const int closed = p[0].revents != 0 ? 0 : 1;
            if (::read(fds[closed], &c, 1) == 0) ++eofs;
            kept = fds[1 - closed];
        }
        if (kept >= 0) {
            read_head(kept);
            write_all(kept, ok);
            if (read_head(kept).empty()) ++eofs; // until the idle timeout closes it
        }
        for (int fd : fds) ::close(fd);
    });
    {
        EventLoop loop;
        ClientOptions o;
        o.max_idle = 1;
        o.idle_timeout = 500ms;
        Client c(loop, o);
        Outcome a, b, d;
        std::error_code ec;
        Call ca = c.send(l.endpoint, get("/a"), record(a), ec);
        Call cb = c.send(l.endpoint, get("/b"), record(b), ec);
        cr_assert(run_until(loop, [&] { return a.calls == 1 && b.calls == 1; }));
        cr_assert(!a.ec && !b.ec && a.status == 200 && b.status == 200);
        cr_assert_eq(c.stats().connects, 2u);
        cr_assert(run_until(loop, [&] { return eofs.load() == 1; }), "one past max_idle closed");
        Call cd = c.send(l.endpoint, get("/d"), record(d), ec);
        cr_assert(run_until(loop, [&] { return d.calls == 1; }));
        cr_assert(!d.ec && d.status == 200, "%s", d.ec.message().c_str());
        cr_assert_eq(c.stats().connects, 2u, "the idle one was reused");
        cr_assert_eq(c.stats().reused, 1u);
        const auto idle_since = std::chrono::steady_clock::now();
        cr_assert(run_until(loop, [&] { return eofs.load() == 2; }), "closed after idle_timeout");
        cr_assert(std::chrono::steady_clock::now() - idle_since >= 400ms);
    }
    server.join();
}
