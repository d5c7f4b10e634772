// Tests of the Redis client (redis/client.hpp) against a real redis-server started by each
// test (tests/support/redis_server.hpp) and a real EventLoop: pipelining order, error
// replies, AUTH (password and ACL user), RESP2 and RESP3, command and connect timeouts
// (SIGSTOP), reconnect after kill + restart, pub/sub delivery and resubscription; a host
// name: resolved, each of its addresses tried, its lookup bounded by the connect timeout.
#include <criterion/criterion.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>

#include "core/unique_fd.hpp"
#include "event/event_loop.hpp"
#include "net/resolver.hpp"
#include "net/socket.hpp"
#include "redis/client.hpp"
#include "support/redis_server.hpp"
#include "support/redis_test.hpp"

using namespace std::chrono_literals;
using herald::EventLoop;
using herald::redis::Client;
using herald::redis::ClientErrc;
using herald::redis::ClientOptions;
using herald::redis::RespType;
using herald::redis::RespValue;
using herald::test::connect_client;
using herald::test::options_for;
using herald::test::record;
using herald::test::RedisServer;
using herald::test::run_until;
using herald::test::Seen;
using herald::test::start_server;

TestSuite(redis_client, .fini = herald::test::kill_redis_servers, .timeout = 30.0);

Test(redis_client, pipelined_replies_come_back_in_order) {
    for (bool resp3 : {true, false}) {
        RedisServer server;
        start_server(server);
        EventLoop loop;
        ClientOptions o = options_for(server);
        o.resp3 = resp3;
        Client c(loop, o);
        cr_assert(!c.start());
        // Issued before the link is up: queued, sent after the handshake, in order.
        constexpr int n = 200;
        std::vector<long long> got;
        for (int i = 0; i < n; ++i)
            cr_assert(!c.command({"INCR", "counter"}, [&](std::error_code ec, const RespValue& v) {
                cr_assert(!ec, "%s", ec.message().c_str());
                cr_assert(v.type == RespType::integer);
                got.push_back(v.integer);
            }));
        cr_assert(run_until(loop, [&] { return got.size() == n; }));
        for (int i = 0; i < n; ++i)
            cr_assert_eq(got[i], i + 1, "reply %d out of order", i);
        // Issued on a live link, all in one loop iteration (one write).
        Seen set, get;
        cr_assert(!c.command({"SET", "k", std::string("v\r\n\0x", 5)}, record(set)));
        cr_assert(!c.command({"GET", "k"}, record(get)));
        cr_assert(run_until(loop, [&] { return get.calls == 1; }));
        cr_assert(set.calls == 1 && set.type == RespType::simple_string && set.str == "OK");
        cr_assert(get.type == RespType::bulk_string && get.str == std::string("v\r\n\0x", 5));
        const auto st = c.stats();
        cr_assert(st.connected && st.resp3 == resp3 && st.connects == 1 && st.reconnects == 0);
        cr_assert(st.in_flight == 0 && st.latency_count == n + 2, "latency count %llu",
                  static_cast<unsigned long long>(st.latency_count));
        c.close();
        cr_assert_eq(loop.watch_count(), 0u);
    }
}

Test(redis_client, errors_are_replies_and_the_link_stays_up) {
    RedisServer server;
    start_server(server);
    EventLoop loop;
    Client c(loop, options_for(server));
    connect_client(loop, c);
    Seen bad, wrongtype, ok, nil;
    cr_assert(!c.command({"NOSUCHCOMMAND", "x"}, record(bad)));
    cr_assert(!c.command({"SET", "s", "1"}, record(ok)));
    cr_assert(!c.command({"LPUSH", "s", "x"}, record(wrongtype)));
    cr_assert(!c.command({"GET", "missing"}, record(nil)));
    cr_assert(run_until(loop, [&] { return nil.calls == 1; }));
    cr_assert(!bad.ec && bad.type == RespType::error &&
                  bad.str.rfind("ERR unknown command", 0) == 0,
              "%s", bad.str.c_str());
    cr_assert(!wrongtype.ec && wrongtype.type == RespType::error &&
              wrongtype.str.rfind("WRONGTYPE", 0) == 0);
    cr_assert(!nil.ec && nil.type == RespType::null);
    cr_assert(c.connected() && c.stats().connects == 1);
}

Test(redis_client, auth_with_password_and_acl_user) {
    RedisServer server(
        {"--requirepass", "s3cret", "--user", "alice", "on", ">wonder", "~*", "&*", "+@all"});
    start_server(server);
    EventLoop loop;
    for (bool resp3 : {true, false}) {
        ClientOptions o = options_for(server);
        o.resp3 = resp3;
        o.password = "s3cret";
        o.database = 3;
        Client c(loop, o);
        connect_client(loop, c);
        Seen who;
        cr_assert(!c.command({"ACL", "WHOAMI"}, record(who)));
        cr_assert(run_until(loop, [&] { return who.calls == 1; }));
        cr_assert(who.str == "default", "%s", who.str.c_str());
        Seen db;
        cr_assert(!c.command({"CLIENT", "INFO"}, record(db)));
        cr_assert(run_until(loop, [&] { return db.calls == 1; }));
        cr_assert(db.str.find(" db=3 ") != std::string::npos, "%s", db.str.c_str());

        o.user = "alice";
        o.password = "wonder";
        Client alice(loop, o);
        connect_client(loop, alice);
        Seen who2;
        cr_assert(!alice.command({"ACL", "WHOAMI"}, record(who2)));
        cr_assert(run_until(loop, [&] { return who2.calls == 1; }));
        cr_assert(who2.str == "alice", "%s", who2.str.c_str());
    }
    // A wrong password: never connected; a queued command fails with connection_lost,
    // later ones are refused while the link is down.
    ClientOptions o = options_for(server);
    o.password = "wrong";
    Client c(loop, o);
    cr_assert(!c.start());
    Seen s;
    cr_assert(!c.command({"PING"}, record(s)));
    cr_assert(run_until(loop, [&] { return s.calls == 1; }));
    cr_assert(s.ec == ClientErrc::connection_lost, "%s", s.ec.message().c_str());
    cr_assert(!c.connected());
    cr_assert(c.command({"PING"}, record(s)) == ClientErrc::not_connected);
    // Without a password the server refuses the commands (NOAUTH) or the handshake.
    ClientOptions none = options_for(server);
    Client anon(loop, none);
    cr_assert(!anon.start());
    Seen a;
    cr_assert(!anon.command({"GET", "x"}, record(a)));
    cr_assert(run_until(loop, [&] { return a.calls == 1; }));
    cr_assert(a.ec == ClientErrc::connection_lost || a.str.rfind("NOAUTH", 0) == 0);
}

Test(redis_client, command_timeout_then_late_reply_is_dropped) {
    RedisServer server;
    start_server(server);
    EventLoop loop;
    ClientOptions o = options_for(server);
    o.command_timeout = 300ms;
    Client c(loop, o);
    connect_client(loop, c);
    server.pause();
    Seen first, second;
    cr_assert(!c.command({"ECHO", "first"}, record(first)));
    const auto t0 = std::chrono::steady_clock::now();
    cr_assert(run_until(loop, [&] { return first.calls == 1; }));
    const auto waited = std::chrono::steady_clock::now() - t0;
    cr_assert(first.ec == ClientErrc::timeout, "%s", first.ec.message().c_str());
    cr_assert(waited >= 250ms && waited < 2000ms);
    cr_assert(c.stats().timeouts == 1 && c.stats().in_flight == 1);
    // The server wakes up: the late reply to "first" is dropped, "second" gets its own.
    server.resume();
    cr_assert(!c.command({"ECHO", "second"}, record(second)));
    cr_assert(run_until(loop, [&] { return second.calls == 1; }));
    cr_assert(!second.ec && second.str == "second", "%s", second.str.c_str());
    cr_assert(first.calls == 1 && c.stats().in_flight == 0 && c.connected());
}

namespace {

// Starts c (connect_timeout 200 ms, command_timeout 5 s) and issues a PING while the attempt
// cannot finish: the PING fails connection_lost once connect_timeout ends the attempt.
void expect_ping_lost_at_the_connect_timeout(EventLoop& loop, Client& c) {
    cr_assert(!c.start());
    Seen s;
    cr_assert(!c.command({"PING"}, record(s)));
    const auto t0 = std::chrono::steady_clock::now();
    cr_assert(run_until(loop, [&] { return s.calls == 1; }));
    cr_assert(s.ec == ClientErrc::connection_lost, "%s", s.ec.message().c_str());
    cr_assert(std::chrono::steady_clock::now() - t0 < 2s);
}

} // namespace

Test(redis_client, connect_timeout_when_the_server_does_not_answer) {
    RedisServer server;
    start_server(server);
    server.pause(); // the kernel still accepts the TCP connection; HELLO gets no answer
    EventLoop loop;
    ClientOptions o = options_for(server);
    o.connect_timeout = 200ms;
    o.command_timeout = 5s;
    Client c(loop, o);
    expect_ping_lost_at_the_connect_timeout(loop, c);
    server.resume();
    cr_assert(run_until(loop, [&] { return c.connected(); }), "no reconnect after SIGCONT");
}

// A host name is resolved off the loop (net/resolver.hpp) at each attempt and its addresses
// tried in turn ("localhost" may give ::1 first while the server listens on 127.0.0.1 only).
Test(redis_client, a_host_name_is_resolved_and_its_addresses_tried) {
    RedisServer server;
    start_server(server);
    EventLoop loop;
    ClientOptions o = options_for(server);
    o.host = "localhost";
    Client c(loop, o);
    cr_assert(!c.start());
    Seen s;
    cr_assert(!c.command({"PING"}, record(s)), "queued while resolving");
    cr_assert(run_until(loop, [&] { return s.calls == 1; }));
    cr_assert(!s.ec && s.str == "PONG", "%s", s.ec.message().c_str());
    cr_assert(c.connected() && c.stats().connects == 1);
    c.close();
    cr_assert_eq(loop.watch_count(), 0u);

    ClientOptions bad = options_for(server);
    for (const char* host : {"redis_1", "10.0.0.256", "", "a b"}) {
        bad.host = host;
        Client refused(loop, bad);
        cr_assert(refused.start() == std::errc::invalid_argument, "%s", host);
    }
}

namespace {

// A name whose first address refuses connections (a port nothing listens on: a socket bound
// and closed), then the server's: the order a host with ::1 and 127.0.0.1 may give.
std::uint16_t g_refusing_port = 0;
herald::net::Resolved refusing_then_server(const std::string&, std::uint16_t port) {
    herald::net::Resolved r;
    herald::net::Address a;
    (void)herald::net::make_address("127.0.0.1", g_refusing_port, a);
    r.addresses.push_back(a);
    (void)herald::net::make_address("127.0.0.1", port, a);
    r.addresses.push_back(a);
    return r;
}

std::atomic<bool> g_stall{true};
herald::net::Resolved stalled(const std::string&, std::uint16_t) {
    while (g_stall.load()) std::this_thread::sleep_for(1ms);
    return {};
}

} // namespace

Test(redis_client, each_address_of_a_name_is_tried_in_turn) {
    RedisServer server;
    start_server(server);
    {
        herald::net::Address any;
        (void)herald::net::make_address("127.0.0.1", 0, any);
        std::error_code ec;
        herald::UniqueFd probe = herald::net::listen_on(any, 1, ec);
        cr_assert(!ec);
        sockaddr_in bound{};
        socklen_t len = sizeof bound;
        cr_assert_eq(::getsockname(probe.get(), reinterpret_cast<sockaddr*>(&bound), &len), 0);
        g_refusing_port = ntohs(bound.sin_port);
    } // closed: connecting there is refused
    herald::net::detail::set_lookup_for_tests(refusing_then_server);
    EventLoop loop;
    ClientOptions o = options_for(server);
    o.host = "two-addresses.example";
    Client c(loop, o);
    cr_assert(!c.start());
    cr_assert(run_until(loop, [&] { return c.connected(); }), "the second address not tried");
    cr_assert_eq(c.stats().connects, 1u);
    cr_assert_eq(c.stats().reconnects, 0u, "one attempt, two addresses");
    c.close();
}

// A name server that does not answer: the attempt ends at connect_timeout, commands queued
// meanwhile fail.
Test(redis_client, resolving_is_bounded_by_the_connect_timeout) {
    herald::net::detail::set_lookup_for_tests(stalled);
    EventLoop loop;
    ClientOptions o;
    o.host = "silent.example";
    o.connect_timeout = 200ms;
    o.command_timeout = 5s;
    Client c(loop, o);
    expect_ping_lost_at_the_connect_timeout(loop, c);
    g_stall.store(false);
    c.close();
}

Test(redis_client, reconnects_after_kill_and_restart) {
    RedisServer server;
    start_server(server);
    EventLoop loop;
    Client c(loop, options_for(server));
    connect_client(loop, c);
    server.pause();
    Seen lost;
    cr_assert(!c.command({"SET", "a", "1"}, record(lost)));
    loop.run_once(0); // written to the socket; no reply while stopped
    server.kill();
    cr_assert(run_until(loop, [&] { return lost.calls == 1; }));
    cr_assert(lost.ec == ClientErrc::connection_lost, "%s", lost.ec.message().c_str());
    cr_assert(!c.connected() && !c.stats().connected);
    Seen refused;
    cr_assert(c.command({"PING"}, record(refused)) == ClientErrc::not_connected);
    // Let a few attempts fail (backoff), then bring the server back on the same port.
    run_until(
        loop, [] { return false; }, 300ms);
    start_server(server);
    cr_assert(run_until(loop, [&] { return c.connected(); }), "no reconnect");
    Seen pong;
    cr_assert(!c.command({"PING"}, record(pong)));
    cr_assert(run_until(loop, [&] { return pong.calls == 1; }));
    cr_assert(!pong.ec && pong.str == "PONG");
    cr_assert(c.stats().reconnects == 1 && c.stats().connects == 2);
    cr_assert(refused.calls == 0);
}

namespace {

struct Recorder final : herald::redis::PubSubHandler {
    void on_message(std::string_view channel, std::string_view payload,
                    bool sharded) noexcept override {
        messages.push_back((sharded ? "s:" : "") + std::string(channel) + "=" +
                           std::string(payload));
    }
    void on_subscribed(std::string_view channel, bool sharded) noexcept override {
        subscribed.push_back((sharded ? "s:" : "") + std::string(channel));
    }
    void on_link_down() noexcept override { ++downs; }
    void on_link_up(bool after_link_down) noexcept override {
        ++ups;
        ups_after_down += after_link_down ? 1 : 0;
    }
    std::vector<std::string> messages, subscribed;
    int downs = 0, ups = 0, ups_after_down = 0;
};

// Publishes on c and runs the loop until the reply (the number of receivers) arrives.
long long publish(EventLoop& loop, Client& c, std::string_view verb, std::string_view channel,
                  std::string_view payload) {
    Seen s;
    cr_assert(!c.command({verb, channel, payload}, record(s)));
    cr_assert(run_until(loop, [&] { return s.calls == 1; }));
    cr_assert(!s.ec && s.type == RespType::integer, "%s %s", s.ec.message().c_str(), s.str.c_str());
    return s.integer;
}

} // namespace

Test(redis_client, pubsub_delivers_and_resubscribes_after_reconnect) {
    for (bool resp3 : {true, false}) {
        RedisServer server;
        start_server(server);
        EventLoop loop;
        ClientOptions o = options_for(server);
        o.resp3 = resp3;
        Recorder rec;
        Client sub(loop, o, rec);
        sub.subscribe("news", false);
        sub.subscribe("shard", true);
        cr_assert(!sub.start());
        cr_assert(run_until(loop, [&] { return rec.ups == 1; }));
        cr_assert(rec.ups_after_down == 0 && rec.subscribed.size() == 2);
        Seen refused;
        cr_assert(sub.command({"PING"}, record(refused)) == ClientErrc::not_allowed);

        Client pub(loop, o);
        connect_client(loop, pub);
        cr_assert_eq(publish(loop, pub, "PUBLISH", "news", "one"), 1);
        cr_assert_eq(publish(loop, pub, "SPUBLISH", "shard", "two"), 1);
        cr_assert_eq(publish(loop, pub, "PUBLISH", "other", "x"), 0);
        cr_assert(run_until(loop, [&] { return rec.messages.size() == 2; }));
        cr_assert(rec.messages[0] == "news=one" && rec.messages[1] == "s:shard=two");

        // A channel added on the live link, then one removed.
        sub.subscribe("late", false);
        cr_assert(run_until(loop, [&] { return rec.subscribed.size() == 3; }));
        sub.unsubscribe("news", false);
        cr_assert(
            run_until(loop, [&] { return publish(loop, pub, "PUBLISH", "news", "unheard") == 0; }));

        // Redis restarts: the link is reported down, then up again once every channel
        // is subscribed again, and delivery resumes.
        server.kill();
        cr_assert(run_until(loop, [&] { return rec.downs == 1; }));
        start_server(server);
        cr_assert(run_until(loop, [&] { return rec.ups == 2; }), "no resubscription");
        cr_assert(rec.ups_after_down == 1 && rec.downs == 1);
        cr_assert(run_until(loop, [&] { return pub.connected(); }));
        cr_assert_eq(publish(loop, pub, "PUBLISH", "late", "three"), 1);
        cr_assert_eq(publish(loop, pub, "SPUBLISH", "shard", "four"), 1);
        cr_assert_eq(publish(loop, pub, "PUBLISH", "news", "unheard"), 0);
        cr_assert(run_until(loop, [&] { return rec.messages.size() == 4; }));
        cr_assert(rec.messages[2] == "late=three" && rec.messages[3] == "s:shard=four");
        const auto st = sub.stats();
        cr_assert(st.pubsub_messages == 4 && st.reconnects == 1 && st.resp3 == resp3);
    }
}

// Reconnects and the cluster's retries wait first, 2 x first, 4 x first, ... up to max; the
// exponent stops growing at 16 failures, so a long outage never overflows the multiplication.
Test(redis_client, backoff_doubles_up_to_its_bound) {
    using herald::redis::backoff_delay;
    cr_assert(backoff_delay(20ms, 500ms, 0) == 20ms);
    cr_assert(backoff_delay(20ms, 500ms, 1) == 40ms);
    cr_assert(backoff_delay(20ms, 500ms, 4) == 320ms);
    cr_assert(backoff_delay(20ms, 500ms, 5) == 500ms);
    cr_assert(backoff_delay(20ms, 500ms, 1000) == 500ms);
    cr_assert(backoff_delay(50ms, 5s, 6) == 3200ms);
    cr_assert(backoff_delay(50ms, 5s, 7) == 5s);
    cr_assert(backoff_delay(1ms, std::chrono::hours(24), 100) == 65536ms, "2^16 at most");
}
