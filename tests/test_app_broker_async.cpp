// Unit tests: the push strategies and the publisher API over a broker that answers later
// (tests/support/deferred_broker.hpp), driven through a real app::Worker on its loop (in the
// test's thread) and a real TCP client: every answer comes after the *_async call returned,
// the request waits for it (suspended) and then goes on exactly as with the memory broker; a
// client that goes away meanwhile cancels the call (the answer is dropped: ASan would see a
// use after free otherwise); PushError::unavailable is a 503 (HTTP) or a 1008 close
// (WebSocket publish); WebSocket publishes keep their order and their queue is bounded; a
// channel reset ends every kind of subscriber as a graceful stop does.
#include <criterion/criterion.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app/worker.hpp"
#include "config/config.hpp"
#include "net/addr_limiter.hpp"
#include "net/socket.hpp"
#include "push/broker.hpp"
#include "push/resume.hpp"
#include "support/deferred_broker.hpp"
#include "ws/close.hpp"

using namespace herald;

namespace {

const char* kConf = R"(
http {
    access_log off;
    ws_ping_interval 0;
    channel a { buffer 10; }
    server {
        listen 127.0.0.1:0;
        location /poll/ { push polling; channel $tail; }
        location /lp/ { push long-polling; channel $tail; longpoll_timeout 30s; }
        location /sse/ { push sse; channel $tail; }
        location /if/ { push iframe; channel $tail; }
        location /ws/ { push websocket; channel $tail; }
        location /wspub/ { push websocket; channel $tail; publish on; }
        location = /pub { publish; channel $arg_channel; }
    }
}
)";

// One worker serving kConf through a DeferredBroker over a memory broker, its loop run by the
// test (spin), and TCP clients of its listener.
struct AppRig {
    std::shared_ptr<const config::Config> cfg;
    std::unique_ptr<push::LocalBroker> local = push::make_memory_broker();
    test::DeferredBroker broker{*local};
    net::AddrLimiter limiter;
    std::vector<app::Worker*> all;
    std::unique_ptr<app::Worker> worker;  // last: gone before the brokers
    std::uint16_t port = 0;

    AppRig() {
        try {
            cfg = config::load_config_string(kConf, "async.conf");
        } catch (const config::ConfigError& e) {
            cr_assert_fail("config: %s", e.what());
        }
        local->reconcile(*cfg);
        const std::string key = http::Router::listen_key(cfg->servers[0].listens[0]);
        auto routes = std::make_shared<const http::Router>(cfg, std::vector<std::string>{key});
        worker = std::make_unique<app::Worker>(0, routes, broker, &all, limiter);
        all.push_back(worker.get());
        net::Address addr;
        cr_assert(!net::make_address("127.0.0.1", 0, addr));
        std::error_code ec;
        UniqueFd fd = net::listen_on(addr, 16, ec);
        cr_assert(!ec, "listen: %s", ec.message().c_str());
        port = net::local_address(fd.get(), ec).port();
        worker->add_listener(std::move(fd), key);
    }
    AppRig(const AppRig&) = delete;
    AppRig& operator=(const AppRig&) = delete;

    void spin(int n = 6) {
        for (int i = 0; i < n; ++i) worker->loop().run_once(0);
    }
    // A connected client (non-blocking), accepted by the worker.
    UniqueFd connect() {
        net::Address addr;
        cr_assert(!net::make_address("127.0.0.1", port, addr));
        std::error_code ec;
        UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        cr_assert(fd.get() >= 0);
        cr_assert_eq(::connect(fd.get(), &addr.storage.sa, addr.length), 0);
        ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
        spin();
        return fd;
    }
    void send(const UniqueFd& fd, std::string_view s) {
        cr_assert_eq(::send(fd.get(), s.data(), s.size(), MSG_NOSIGNAL),
                     static_cast<ssize_t>(s.size()));
        spin();
    }
    // What the client can read after the loop ran; *eof when the server closed.
    std::string receive(const UniqueFd& fd, bool* eof = nullptr) {
        spin();
        std::string got;
        char buf[8192];
        for (;;) {
            ssize_t n = ::read(fd.get(), buf, sizeof buf);
            if (n == 0 && eof) *eof = true;
            if (n <= 0) break;
            got.append(buf, static_cast<std::size_t>(n));
        }
        return got;
    }
    // Releases the held answers and runs the loop until they are answered.
    void answer() {
        broker.release();
        spin();
    }
    std::uint64_t publish(const char* ch, const char* data) {
        push::PublishResult r = local->publish(ch, data, "text/plain");
        cr_assert(r.error == push::PushError::none, "publish: %s", push::to_string(r.error));
        spin();
        return r.id;
    }
};

// The id of message seq of channel ch, as clients send it back (?since=).
std::string id_of(AppRig& r, const char* ch, std::uint64_t seq) {
    return push::message_id(r.local->channel_info(ch).info.epoch, seq);
}

std::string get(std::string_view target) {
    return "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n\r\n";
}

std::string ws_upgrade(std::string_view target) {
    return "GET " + std::string(target) +
           " HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
}

// A masked client text frame (payload under 126 bytes).
std::string client_frame(std::string_view payload) {
    const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
    std::string f;
    f += static_cast<char>(0x81);
    f += static_cast<char>(0x80 | payload.size());
    f.append(reinterpret_cast<const char*>(key), 4);
    for (std::size_t i = 0; i < payload.size(); ++i)
        f += static_cast<char>(payload[i] ^ static_cast<char>(key[i % 4]));
    return f;
}

// An unmasked server text frame (payload under 126 bytes).
std::string server_frame(std::string_view payload) {
    std::string f{static_cast<char>(0x81), static_cast<char>(payload.size())};
    return f.append(payload);
}

bool has(const std::string& got, std::string_view what) {
    return got.find(what) != std::string::npos;
}

// The data of the messages buffered in channel ch, oldest first, joined by '|'.
std::string buffered(AppRig& r, const char* ch) {
    push::FetchResult f = r.local->fetch(ch, push::Cursor{0, 0, false}, 100);
    std::string out;
    for (const auto& m : f.history.messages) out.append(m->data).append("|");
    return out;
}

} // namespace

Test(broker_async, publish_is_answered_201_after_the_broker_answers, .timeout = 10.0) {
    AppRig r;
    r.broker.hold(true);
    UniqueFd c = r.connect();
    r.send(c, "POST /pub?channel=a HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    cr_expect_eq(r.broker.pending(), 1u);
    cr_expect(r.receive(c).empty(), "nothing before the answer");
    cr_expect(buffered(r, "a").empty(), "the broker publishes when it answers");
    r.answer();
    std::string got = r.receive(c);
    cr_expect(has(got, "HTTP/1.1 201 "), "got: %s", got.c_str());
    cr_expect(has(got, "\"channel\":\"a\""), "got: %s", got.c_str());
    cr_expect_eq(buffered(r, "a"), "hello|");
    // Keep-alive: the next request on the connection is served as usual.
    r.send(c, "POST /pub?channel=a HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nbye");
    r.answer();
    cr_expect(has(r.receive(c), "HTTP/1.1 201 "));
    cr_expect_eq(buffered(r, "a"), "hello|bye|");
}

Test(broker_async, pipelined_requests_wait_for_the_answer_in_order, .timeout = 10.0) {
    AppRig r;
    r.broker.hold(true);
    UniqueFd c = r.connect();
    r.send(c, "POST /pub?channel=a HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\n1"
              "POST /pub?channel=a HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\n2");
    cr_expect_eq(r.broker.pending(), 1u, "the second waits behind the first");
    r.answer();
    cr_expect_eq(r.broker.pending(), 1u, "then the second asks");
    r.answer();
    std::string got = r.receive(c);
    std::size_t first = got.find("201"), second = got.find("201", first + 1);
    cr_expect(first != std::string::npos && second != std::string::npos, "got: %s", got.c_str());
    cr_expect_eq(buffered(r, "a"), "1|2|");
}

Test(broker_async, unavailable_is_503_for_publish_info_delete_and_subscribers, .timeout = 10.0) {
    AppRig r;
    r.broker.set_unavailable(true);
    const char* requests[] = {
        "POST /pub?channel=a HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx",
        "GET /pub?channel=a HTTP/1.1\r\nHost: t\r\n\r\n",
        "DELETE /pub?channel=a HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /poll/a HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /lp/a HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /sse/a HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /if/a HTTP/1.1\r\nHost: t\r\n\r\n",
    };
    for (const char* req : requests) {
        UniqueFd c = r.connect();
        r.send(c, req);
        std::string got = r.receive(c);
        cr_expect(has(got, "HTTP/1.1 503 ") && has(got, "Retry-After: 1"), "%s -> %s", req,
                  got.c_str());
    }
    UniqueFd w = r.connect();
    r.send(w, ws_upgrade("/ws/a"));
    cr_expect(has(r.receive(w), "HTTP/1.1 503 "), "a WebSocket subscribe before the 101");
    cr_expect_eq(r.local->channel_info("a").info.published, 0u);
}

Test(broker_async, a_client_gone_while_publish_waits_drops_the_answer, .timeout = 10.0) {
    AppRig r;
    r.broker.hold(true);
    UniqueFd c = r.connect();
    r.send(c, "POST /pub?channel=a HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx");
    cr_expect_eq(r.broker.pending(), 1u);
    // The answer is queued on the loop before the close is seen: the same iteration handles
    // the close first, then the queued answer, which must find its call cancelled.
    c.reset();
    r.broker.release();
    r.spin();
    cr_expect_eq(r.broker.cancelled(), 1u, "the closed connection cancelled its call");
    cr_expect_eq(r.broker.answered(), 0u, "no answer reached the dead session");
    cr_expect(buffered(r, "a").empty());
}

Test(broker_async, info_and_delete_are_answered_later, .timeout = 10.0) {
    AppRig r;
    r.publish("a", "m1");
    r.broker.hold(true);
    UniqueFd c = r.connect();
    r.send(c, get("/pub?channel=a"));
    cr_expect(r.receive(c).empty());
    r.answer();
    std::string got = r.receive(c);
    cr_expect(has(got, "HTTP/1.1 200 ") && has(got, "\"buffered\":1"), "got: %s", got.c_str());
    r.send(c, "DELETE /pub?channel=a HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_expect(r.receive(c).empty());
    r.answer();
    got = r.receive(c);
    cr_expect(has(got, "HTTP/1.1 200 ") && has(got, "\"deleted\":true"), "got: %s", got.c_str());
    cr_expect(r.local->channel_info("a").error == push::PushError::not_found);
}

Test(broker_async, polling_is_answered_after_the_fetch, .timeout = 10.0) {
    AppRig r;
    r.publish("a", "m1");
    r.broker.hold(true);
    UniqueFd c = r.connect();
    r.send(c, get("/poll/a"));
    cr_expect(r.receive(c).empty());
    r.answer();
    std::string got = r.receive(c);
    cr_expect(has(got, "HTTP/1.1 200 ") && has(got, "\r\n\r\nm1"), "got: %s", got.c_str());
    // ?last=N asks the channel's info first, then fetches: two answers.
    r.publish("a", "m2");
    r.send(c, get("/poll/a?last=2"));
    r.answer();
    cr_expect(r.receive(c).empty(), "the fetch is still unanswered");
    r.answer();
    got = r.receive(c);
    cr_expect(has(got, "\r\n\r\nm1"), "the oldest of the last 2: %s", got.c_str());
}

Test(broker_async, sse_gets_history_then_live_after_a_later_subscribe, .timeout = 10.0) {
    AppRig r;
    const std::uint64_t first = r.publish("a", "m1");
    r.broker.hold(true);
    UniqueFd c = r.connect();
    r.send(c, "GET /sse/a?since=0 HTTP/1.1\r\nHost: t\r\n\r\n");
    cr_expect(r.receive(c).empty(), "no head before the subscription");
    r.publish("a", "m2");  // published while the subscribe waits: history when it is answered
    r.answer();
    std::string got = r.receive(c);
    cr_expect(has(got, "HTTP/1.1 200 ") && has(got, "text/event-stream"), "got: %s", got.c_str());
    cr_expect(has(got, "data: m1") && has(got, "data: m2"), "history: %s", got.c_str());
    r.publish("a", "m3");
    cr_expect(has(r.receive(c), "data: m3"), "then live");
    cr_expect(first == 1);
    cr_expect_eq(r.local->channel_info("a").info.subscribers[static_cast<int>(config::PushStrategy::sse)], 1u);
}

Test(broker_async, long_poll_is_held_after_a_later_subscribe, .timeout = 10.0) {
    AppRig r;
    r.publish("a", "m1");
    r.broker.hold(true);
    UniqueFd c = r.connect();
    r.send(c, get("/lp/a?since=" + id_of(r, "a", 1)));
    r.answer();
    { std::string held = r.receive(c); cr_expect(held.empty(), "up to date: held: %s", held.c_str()); }
    r.publish("a", "m2");
    std::string got = r.receive(c);
    cr_expect(has(got, "HTTP/1.1 200 ") && has(got, "\r\n\r\nm2"), "got: %s", got.c_str());
    // A buffered message answers at once, after the (later) subscribe.
    r.send(c, "GET /lp/a?since=0 HTTP/1.1\r\nHost: t\r\n\r\n");
    r.answer();
    cr_expect(has(r.receive(c), "\r\n\r\nm1"));
}

Test(broker_async, websocket_gets_history_then_live_after_a_later_subscribe, .timeout = 10.0) {
    AppRig r;
    r.publish("a", "m1");
    r.broker.hold(true);
    UniqueFd c = r.connect();
    r.send(c, ws_upgrade("/ws/a?since=0"));
    cr_expect(r.receive(c).empty(), "no 101 before the subscription");
    r.answer();
    std::string got = r.receive(c);
    cr_expect(has(got, "HTTP/1.1 101 "), "got: %s", got.c_str());
    cr_expect(has(got, server_frame("m1")), "history");
    r.publish("a", "m2");
    cr_expect(has(r.receive(c), server_frame("m2")), "then live");
}

Test(broker_async, a_client_gone_while_subscribe_waits_drops_the_answer, .timeout = 10.0) {
    AppRig r;
    r.broker.hold(true);
    std::vector<UniqueFd> clients;
    for (const char* target : {"/sse/a", "/if/a", "/lp/a", "/poll/a"}) {
        clients.push_back(r.connect());
        r.send(clients.back(), get(target));
    }
    clients.push_back(r.connect());
    r.send(clients.back(), ws_upgrade("/ws/a"));
    cr_expect_eq(r.broker.pending(), 5u);
    clients.clear();
    r.broker.release();  // queued behind the closes, in the same loop iteration
    r.spin();
    cr_expect_eq(r.broker.calls(), 5u);
    cr_expect_eq(r.broker.cancelled(), 5u, "every closed connection cancelled its call");
    cr_expect_eq(r.broker.answered(), 0u);
    cr_expect_eq(r.broker.subscriptions(), 0u, "nobody was subscribed");
    cr_expect_eq(r.local->stats().channels, 1u);
}

Test(broker_async, graceful_stop_while_an_answer_waits_is_503, .timeout = 10.0) {
    AppRig r;
    r.broker.hold(true);
    UniqueFd c = r.connect();
    r.send(c, get("/sse/a"));
    r.worker->post_graceful_stop(std::chrono::seconds(5));
    bool eof = false;
    std::string got = r.receive(c, &eof);
    cr_expect(has(got, "HTTP/1.1 503 ") && has(got, "Connection: close"), "got: %s", got.c_str());
    cr_expect_eq(r.broker.cancelled(), 1u);
    r.answer();
    cr_expect_eq(r.broker.answered(), 0u);
}

Test(broker_async, websocket_publishes_keep_their_order, .timeout = 10.0) {
    AppRig r;
    r.broker.hold(true);
    UniqueFd c = r.connect();
    r.send(c, ws_upgrade("/wspub/a"));
    r.answer();
    cr_expect(has(r.receive(c), "HTTP/1.1 101 "));
    r.send(c, client_frame("one") + client_frame("two"));
    r.send(c, client_frame("three"));
    cr_expect_eq(r.broker.pending(), 1u, "one publish at a time");
    for (int i = 0; i < 5 && r.broker.pending() > 0; ++i) r.answer();
    cr_expect_eq(r.broker.calls(), 4u, "the subscribe and three publishes");
    cr_expect_eq(buffered(r, "a"), "one|two|three|");
    std::string got = r.receive(c);
    cr_expect(has(got, server_frame("one") + server_frame("two") + server_frame("three")),
              "the subscriber on the same socket sees them in order");
    // Answers posted at once (not held) keep the order too.
    r.broker.hold(false);
    r.send(c, client_frame("4") + client_frame("5") + client_frame("6"));
    r.spin(20);
    cr_expect_eq(buffered(r, "a"), "one|two|three|4|5|6|");
}

Test(broker_async, websocket_publish_unavailable_closes_with_1008, .timeout = 10.0) {
    AppRig r;
    UniqueFd c = r.connect();
    r.send(c, ws_upgrade("/wspub/a"));
    r.spin();
    cr_expect(has(r.receive(c), "HTTP/1.1 101 "));
    r.broker.set_unavailable(true);
    r.send(c, client_frame("x") + client_frame("y"));
    r.spin();
    std::string got = r.receive(c);
    cr_expect(has(got, ws::encode_close(ws::CloseCode::policy_violation, "broker unavailable")),
              "got %zu bytes", got.size());
    cr_expect_eq(r.broker.calls(), 2u, "y was not published after the error");
}

Test(broker_async, a_websocket_gone_while_publish_waits_drops_the_answer, .timeout = 10.0) {
    AppRig r;
    UniqueFd c = r.connect();
    r.send(c, ws_upgrade("/wspub/a"));
    r.spin();
    cr_expect(has(r.receive(c), "HTTP/1.1 101 "));
    r.broker.hold(true);
    r.send(c, client_frame("x") + client_frame("y"));
    cr_expect_eq(r.broker.pending(), 1u);
    // Reading is paused behind the unanswered publish, so the worker closes the connection
    // (a fast stop), and the answer is queued right behind that.
    r.worker->post_fast_stop();
    r.broker.release();
    r.spin();
    cr_expect_eq(r.broker.cancelled(), 1u);
    cr_expect_eq(r.broker.answered(), 1u, "only the subscribe");
    cr_expect(buffered(r, "a").empty());
}

Test(broker_async, websocket_publish_queue_is_bounded, .timeout = 10.0) {
    AppRig r;
    UniqueFd c = r.connect();
    r.send(c, ws_upgrade("/wspub/a"));
    r.spin();
    cr_expect(has(r.receive(c), "HTTP/1.1 101 "));
    r.broker.hold(true);
    std::string burst;
    for (int i = 0; i < 1100; ++i) burst += client_frame("m");
    r.send(c, burst);
    std::string got = r.receive(c);
    cr_expect(has(got, ws::encode_close(ws::CloseCode::policy_violation, "publish queue full")),
              "got %zu bytes", got.size());
    cr_expect_eq(r.broker.cancelled(), 1u, "the unanswered publish is dropped too");
    r.answer();
    cr_expect(buffered(r, "a").empty());
}

Test(broker_async, a_channel_reset_ends_every_subscriber_as_a_graceful_stop, .timeout = 10.0) {
    AppRig r;
    r.publish("a", "m1");
    UniqueFd sse = r.connect(), ifr = r.connect(), lp = r.connect(), ws = r.connect();
    r.send(sse, get("/sse/a"));
    r.send(ifr, get("/if/a"));
    r.send(lp, get("/lp/a?since=" + id_of(r, "a", 1)));
    r.send(ws, ws_upgrade("/ws/a"));
    r.spin();
    cr_expect(has(r.receive(sse), "HTTP/1.1 200 "));
    cr_expect(has(r.receive(ifr), "HTTP/1.1 200 "));
    cr_expect(r.receive(lp).empty());
    cr_expect(has(r.receive(ws), "HTTP/1.1 101 "));
    cr_expect_eq(r.broker.reset_channel("a"), 4u);
    cr_expect(has(r.receive(sse), "0\r\n\r\n"), "the SSE stream ends");
    cr_expect(has(r.receive(ifr), "0\r\n\r\n"), "the iframe document ends");
    std::string got = r.receive(lp);
    cr_expect(has(got, "HTTP/1.1 304 ") && has(got, "ETag: \"" + id_of(r, "a", 1) + "\""), "long-poll: %s", got.c_str());
    cr_expect(has(r.receive(ws), ws::encode_close(ws::CloseCode::going_away, "channel reset")));
    cr_expect_eq(r.broker.subscriptions(), 0u);
    r.publish("a", "m2");
    cr_expect(r.receive(sse).empty() && r.receive(ifr).empty(), "nothing after the end");
}
