// Unit tests: the Redis broker (push/redis_broker.hpp) against a real redis-server, with two
// brokers standing for two herald nodes on one loop (home and worker at once): shared ids,
// delivery across nodes, resume on the other node, a lost pub/sub link caught up from history,
// lost data reset, publish refused while Redis is away, DELETE across nodes, clock ticks once
// per slot, cancelled calls, ttl bounding history (not the life), and idle autocreated channels
// ending their lives.
#include <criterion/criterion.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "event/event_loop.hpp"
#include "push/redis_broker.hpp"
#include "redis/client.hpp"
#include "support/redis_server.hpp"
#include "support/redis_test.hpp"

using herald::EventLoop;
using herald::config::Config;
using herald::config::PushStrategy;
using herald::push::Broker;
using herald::push::BrokerCall;
using herald::push::Cursor;
using herald::push::Message;
using herald::push::PublishResult;
using herald::push::PushError;
using herald::push::SubscribeResult;
using herald::push::Subscription;
using herald::push::WorkerId;
using herald::test::RedisServer;
using herald::test::run_until;

TestSuite(push_redis_broker, .fini = herald::test::kill_redis_servers, .timeout = 60.0);

namespace {

struct Sub final : herald::push::Subscriber {
    Sub() : Subscriber(PushStrategy::sse) {}
    std::vector<std::uint64_t> ids;
    std::vector<std::string> data;
    std::uint64_t epoch = 0;
    int closed = 0, resets = 0;
    bool answered = false;
    SubscribeResult first;
    Subscription sub;
    void deliver(const std::shared_ptr<const Message>& m) noexcept override {
        ids.push_back(m->id);
        data.push_back(m->data);
        epoch = m->epoch;
    }
    void on_channel_closed() noexcept override { ++closed; }
    void on_channel_reset() noexcept override { ++resets; }
};

// One herald node: a Redis broker whose home and only worker is the test's loop.
struct Node {
    Node(EventLoop& loop, const RedisServer& server, const std::string& prefix,
         std::uint32_t buffer = 3, std::uint64_t max_channels = 100,
         std::chrono::milliseconds linger = std::chrono::seconds(30)) {
        herald::push::RedisBrokerOptions o;
        o.link = herald::test::options_for(server);
        o.prefix = prefix;
        o.linger = linger;
        start(loop, o, buffer, max_channels);
    }
    // A node with its own options (Redis Cluster seeds).
    Node(EventLoop& loop, const herald::push::RedisBrokerOptions& o, std::uint32_t buffer) {
        start(loop, o, buffer, 100);
    }
    // A node with a config of its own (ttl, channel_idle_timeout, declared channels).
    Node(EventLoop& loop, const RedisServer& server, const std::string& prefix, const Config& cfg) {
        herald::push::RedisBrokerOptions o;
        o.link = herald::test::options_for(server);
        o.prefix = prefix;
        start(loop, o, cfg);
    }
    void start(EventLoop& loop, const herald::push::RedisBrokerOptions& o, std::uint32_t buffer,
               std::uint64_t max_channels) {
        Config cfg;
        cfg.channel_autocreate = true;
        cfg.autocreate_defaults.buffer = buffer;
        cfg.max_channels = max_channels;
        start(loop, o, cfg);
    }
    void start(EventLoop& loop, const herald::push::RedisBrokerOptions& o, const Config& cfg) {
        broker = herald::push::make_redis_broker(loop, o);
        worker = broker->attach_worker(loop);
        broker->reconcile(cfg);
    }
    std::unique_ptr<Broker> broker;
    WorkerId worker = 0;
};

PublishResult publish(EventLoop& loop, Node& n, const std::string& data,
                      const char* channel = "news") {
    std::optional<PublishResult> r;
    BrokerCall c = n.broker->publish_async(n.worker, channel, data, "text/plain", "",
                                           [&r](const PublishResult& p) { r = p; });
    cr_assert(run_until(loop, [&] { return r.has_value(); }), "no publish answer");
    return *r;
}

void subscribe(EventLoop& loop, Node& n, Sub& s, std::optional<Cursor> since = std::nullopt,
               const char* channel = "news") {
    BrokerCall c = n.broker->subscribe_async(n.worker, channel, since, s,
                                             [&s](SubscribeResult&& r) {
                                                 s.answered = true;
                                                 s.sub = std::move(r.subscription);
                                                 s.first = std::move(r);
                                             });
    cr_assert(run_until(loop, [&] { return s.answered; }), "no subscribe answer");
    cr_assert_eq(s.first.error, PushError::none, "%s", to_string(s.first.error));
}

std::vector<std::uint64_t> range(std::uint64_t a, std::uint64_t b) {
    std::vector<std::uint64_t> v;
    for (std::uint64_t i = a; i <= b; ++i) v.push_back(i);
    return v;
}

} // namespace

Test(push_redis_broker, nodes_share_ids_and_deliver_across) {
    RedisServer server;
    herald::test::start_server(server);
    EventLoop loop;
    Node a(loop, server, "t1:"), b(loop, server, "t1:");
    Sub on_a, on_b;
    subscribe(loop, a, on_a);
    subscribe(loop, b, on_b);
    cr_assert(on_b.first.history.messages.empty());
    const std::uint64_t epoch = on_b.first.history.epoch;
    cr_assert_neq(epoch, 0u);
    cr_assert_eq(on_a.first.history.epoch, epoch, "both nodes read one life");
    for (int i = 1; i <= 4; ++i) {
        const PublishResult r = publish(loop, i % 2 ? a : b, "m" + std::to_string(i));
        cr_assert_eq(r.error, PushError::none);
        cr_assert_eq(r.id, static_cast<std::uint64_t>(i), "one sequence across nodes");
        cr_assert_eq(r.epoch, epoch);
    }
    cr_assert(run_until(loop, [&] { return on_a.ids.size() == 4 && on_b.ids.size() == 4; }));
    cr_assert(on_a.ids == range(1, 4) && on_b.ids == range(1, 4), "each once, in order");
    cr_assert(on_b.data[0] == "m1" && on_b.data[3] == "m4");
    cr_assert_eq(on_b.epoch, epoch);
}

Test(push_redis_broker, resume_on_the_other_node_and_history_for_a_new_node) {
    RedisServer server;
    herald::test::start_server(server);
    EventLoop loop;
    Node a(loop, server, "t2:");
    for (int i = 1; i <= 5; ++i) cr_assert_eq(publish(loop, a, "m" + std::to_string(i)).id, static_cast<std::uint64_t>(i));
    const std::uint64_t epoch = publish(loop, a, "m6").epoch;
    // A node started later reads the buffer (3) from Redis at once.
    Node b(loop, server, "t2:");
    Sub resumed, late;
    subscribe(loop, b, resumed, Cursor{epoch, 4, false});
    std::vector<std::uint64_t> got;
    for (const auto& m : resumed.first.history.messages) got.push_back(m->id);
    cr_assert(got == range(5, 6));
    cr_assert(!resumed.first.history.missed);
    subscribe(loop, b, late, Cursor{epoch, 1, false});
    cr_assert(late.first.history.missed, "2 was trimmed: missed");
    cr_assert_eq(late.first.history.messages.front()->id, 4u);
    cr_assert_eq(publish(loop, a, "m7").id, 7u);
    cr_assert(run_until(loop, [&] { return resumed.ids.size() == 1 && late.ids.size() == 1; }));
    cr_assert(resumed.ids[0] == 7 && late.ids[0] == 7);
}

Test(push_redis_broker, a_lost_pubsub_link_is_caught_up_from_history) {
    RedisServer server;
    herald::test::start_server(server);
    EventLoop loop;
    Node a(loop, server, "t3:", 100), b(loop, server, "t3:", 100);
    Sub s;
    subscribe(loop, b, s);
    herald::redis::Client admin(loop, herald::test::options_for(server));
    herald::test::connect_client(loop, admin);
    std::uint64_t sent = 0;
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 5; ++i, ++sent) cr_assert_eq(publish(loop, a, "x").error, PushError::none);
        // Cut every pub/sub link (b's), publish while it reconnects.
        herald::test::call(loop, admin, {"CLIENT", "KILL", "TYPE", "pubsub"});
        for (int i = 0; i < 5; ++i, ++sent) cr_assert_eq(publish(loop, a, "y").error, PushError::none);
    }
    cr_assert(run_until(loop, [&] { return s.ids.size() >= sent; }, std::chrono::milliseconds(8000)),
              "got %zu of %llu, %d resets", s.ids.size(), static_cast<unsigned long long>(sent),
              s.resets);
    cr_assert(s.ids == range(1, sent), "every message once, in order");
    cr_assert_eq(s.resets, 0);
}

Test(push_redis_broker, lost_data_resets_subscribers) {
    RedisServer server;
    herald::test::start_server(server);
    EventLoop loop;
    Node a(loop, server, "t4:"), b(loop, server, "t4:");
    Sub s;
    subscribe(loop, b, s);
    const PublishResult first = publish(loop, a, "before");
    cr_assert(run_until(loop, [&] { return s.ids.size() == 1; }));
    herald::redis::Client admin(loop, herald::test::options_for(server));
    herald::test::connect_client(loop, admin);
    herald::test::call(loop, admin, {"FLUSHALL"});
    const PublishResult after = publish(loop, a, "after");
    cr_assert_eq(after.id, 1u);
    cr_assert_neq(after.epoch, first.epoch, "a new life");
    cr_assert(run_until(loop, [&] { return s.resets == 1; }), "the subscriber is told to reset");
    cr_assert_eq(s.ids.size(), 1u, "nothing of the new life reached the old subscriber");
    Sub again;
    subscribe(loop, b, again, Cursor{first.epoch, first.id, false});
    cr_assert(again.first.history.missed);
    cr_assert_eq(again.first.history.epoch, after.epoch);
    cr_assert_eq(again.first.history.messages.size(), 1u);
}

herald::push::MultiPublishResult publish_many(EventLoop& loop, Node& n,
                                              const std::vector<std::string>& channels,
                                              const std::string& data) {
    std::optional<herald::push::MultiPublishResult> r;
    BrokerCall c = n.broker->publish_many_async(
        n.worker, channels, data, "text/csv", "tick",
        [&r](const herald::push::MultiPublishResult& p) { r = p; });
    cr_assert(run_until(loop, [&] { return r.has_value(); }), "no publish answer");
    return *r;
}

// A channel list is one script: each channel gets its next id of its own life, the other
// node's subscribers get each message once (with the type and event name), and a channel
// whose keys Redis cannot take (a key of another type, not herald's) fails the whole list
// with nothing stored on the others.
Test(push_redis_broker, publish_many_is_one_script_all_or_none) {
    RedisServer server;
    herald::test::start_server(server);
    EventLoop loop;
    Node a(loop, server, "tm:"), b(loop, server, "tm:");
    Sub on_x, on_y;
    subscribe(loop, b, on_x, std::nullopt, "x");
    subscribe(loop, b, on_y, std::nullopt, "y");
    const PublishResult first = publish(loop, a, "one", "x");
    const herald::push::MultiPublishResult r = publish_many(loop, a, {"y", "x", "z"}, "all");
    cr_assert_eq(r.error, PushError::none, "%s", to_string(r.error));
    cr_assert_eq(r.results.size(), 3u);
    cr_expect(r.results[0].id == 1 && r.results[1].id == 2 && r.results[2].id == 1);
    cr_expect_eq(r.results[1].epoch, first.epoch, "x's life goes on");
    cr_expect_eq(r.results[0].epoch, on_y.first.history.epoch);
    cr_assert(run_until(loop, [&] { return on_x.ids.size() == 2 && on_y.ids.size() == 1; }));
    cr_expect(on_x.ids == range(1, 2) && on_y.ids == range(1, 1));
    cr_expect(on_x.data[1] == "all" && on_y.data[0] == "all");
    Sub later;
    subscribe(loop, a, later, Cursor{0, 0, false}, "z");
    cr_assert_eq(later.first.history.messages.size(), 1u);
    const Message& m = *later.first.history.messages[0];
    cr_expect(m.data == "all" && m.content_type == "text/csv" && m.event == "tick");

    herald::redis::Client admin(loop, herald::test::options_for(server));
    herald::test::connect_client(loop, admin);
    herald::test::call(loop, admin, {"SET", "{tm:w}:buf", "not a stream"});
    const herald::push::MultiPublishResult bad = publish_many(loop, a, {"x", "w", "y"}, "no");
    cr_expect_eq(bad.error, PushError::unavailable);
    cr_expect(bad.results.empty());
    cr_expect_eq(herald::test::call(loop, admin, {"GET", "{tm:x}:seq"}).str, "2", "x untouched");
    cr_expect_eq(herald::test::call(loop, admin, {"EXISTS", "{tm:w}:seq"}).integer, 0);
    cr_expect_eq(herald::test::call(loop, admin, {"XLEN", "{tm:y}:buf"}).integer, 1);
    const PublishResult next = publish(loop, a, "two", "x");
    cr_expect_eq(next.id, 3u);
    cr_assert(run_until(loop, [&] { return on_x.ids.size() == 3; }));
    cr_expect(on_x.ids == range(1, 3), "nothing of the failed list arrived");
}

// Checked on the node before Redis is asked: a repeated or invalid name refuses the list.
Test(push_redis_broker, publish_many_refuses_a_bad_list_before_redis) {
    RedisServer server;
    herald::test::start_server(server);
    EventLoop loop;
    Node a(loop, server, "tn:");
    const herald::push::MultiPublishResult dup = publish_many(loop, a, {"x", "x"}, "d");
    cr_expect(dup.error == PushError::invalid_name && dup.refused == 1);
    const herald::push::MultiPublishResult bad = publish_many(loop, a, {"x", "no pe"}, "d");
    cr_expect(bad.error == PushError::invalid_name && bad.refused == 1);
    herald::redis::Client admin(loop, herald::test::options_for(server));
    herald::test::connect_client(loop, admin);
    cr_expect_eq(herald::test::call(loop, admin, {"EXISTS", "{tn:x}:seq"}).integer, 0);
}

Test(push_redis_broker, publish_is_refused_while_redis_is_away) {
    RedisServer server;
    herald::test::start_server(server);
    EventLoop loop;
    Node a(loop, server, "t5:");
    cr_assert_eq(publish(loop, a, "one").error, PushError::none);
    server.kill();
    cr_assert_eq(publish(loop, a, "lost").error, PushError::unavailable);
    Sub s;
    bool answered = false;
    PushError e = PushError::none;
    BrokerCall c = a.broker->subscribe_async(a.worker, "other", std::nullopt, s,
                                             [&](SubscribeResult&& r) {
                                                 answered = true;
                                                 e = r.error;
                                             });
    cr_assert(run_until(loop, [&] { return answered; }, std::chrono::milliseconds(3000)));
    cr_assert_eq(e, PushError::unavailable);
    herald::test::start_server(server);
    cr_assert(run_until(loop, [&] {
        return publish(loop, a, "back").error == PushError::none;
    }, std::chrono::milliseconds(5000)));
}

Test(push_redis_broker, delete_ends_subscribers_on_every_node) {
    RedisServer server;
    herald::test::start_server(server);
    EventLoop loop;
    Node a(loop, server, "t6:"), b(loop, server, "t6:");
    Sub s;
    subscribe(loop, b, s);
    const PublishResult p = publish(loop, a, "x");
    std::optional<PushError> closed;
    BrokerCall c = a.broker->close_channel_async(a.worker, "news", [&](PushError e) { closed = e; });
    cr_assert(run_until(loop, [&] { return closed.has_value() && s.closed == 1; }));
    cr_assert_eq(*closed, PushError::none);
    // The next publish starts a new life.
    const PublishResult q = publish(loop, a, "y");
    cr_assert(q.id == 1 && q.epoch != p.epoch);
    std::optional<PushError> again;
    BrokerCall d = a.broker->close_channel_async(a.worker, "never", [&](PushError e) { again = e; });
    cr_assert(run_until(loop, [&] { return again.has_value(); }));
    cr_assert_eq(*again, PushError::not_found);
}

Test(push_redis_broker, a_clock_tick_is_published_once_across_nodes) {
    RedisServer server;
    herald::test::start_server(server);
    EventLoop loop;
    Node a(loop, server, "t7:"), b(loop, server, "t7:");
    Sub s;
    subscribe(loop, a, s, std::nullopt, "clock");
    int answers = 0;
    std::uint64_t ids = 0;
    auto done = [&](const PublishResult& r) {
        ++answers;
        cr_assert_eq(r.error, PushError::none);
        if (r.id) ++ids;
    };
    const herald::Duration second(1000);
    BrokerCall c1 = a.broker->publish_tick_async(a.worker, "clock", 100, second, "t100", done);
    BrokerCall c2 = b.broker->publish_tick_async(b.worker, "clock", 100, second, "t100", done);
    BrokerCall c3 = b.broker->publish_tick_async(b.worker, "clock", 99, second, "t99", done);
    BrokerCall c4 = a.broker->publish_tick_async(a.worker, "clock", 101, second, "t101", done);
    cr_assert(run_until(loop, [&] { return answers == 4 && s.ids.size() == 2; }));
    cr_assert_eq(ids, 2u, "slots 100 and 101 once each, the late 99 not at all");
    cr_assert(s.data == (std::vector<std::string>{"t100", "t101"}));
}

Test(push_redis_broker, a_cancelled_call_never_answers) {
    RedisServer server;
    herald::test::start_server(server);
    EventLoop loop;
    Node a(loop, server, "t8:");
    bool ran = false;
    {
        BrokerCall c = a.broker->publish_async(a.worker, "news", "x", "text/plain", "",
                                               [&](const PublishResult&) { ran = true; });
        cr_assert(static_cast<bool>(c), "Redis answers later");
    }  // cancelled here
    Sub s;
    subscribe(loop, a, s);  // runs the loop past the publish's answer (same link, in order)
    (void)run_until(loop, [] { return false; }, std::chrono::milliseconds(200));
    cr_assert(!ran);
    cr_assert_eq(publish(loop, a, "y").id, 2u, "the cancelled publish was still stored");
}

Test(push_redis_broker, channels_followed_are_bounded_while_redis_is_away) {
    RedisServer server;
    herald::test::start_server(server);
    EventLoop loop;
    Node a(loop, server, "t9:", 3, 2);
    server.kill();
    std::vector<PushError> got;
    Sub s1, s2, s3;
    Sub* subs[] = {&s1, &s2, &s3};
    std::vector<BrokerCall> calls;
    const char* names[] = {"c1", "c2", "c3"};
    for (int i = 0; i < 3; ++i)
        calls.push_back(a.broker->subscribe_async(a.worker, names[i], std::nullopt, *subs[i],
                                                  [&got](SubscribeResult&& r) {
                                                      got.push_back(r.error);
                                                  }));
    cr_assert(run_until(loop, [&] { return got.size() == 3; }, std::chrono::milliseconds(3000)));
    cr_assert_eq(got[0], PushError::too_many_channels, "the third is refused at once");
    cr_assert_eq(got[1], PushError::unavailable);
    cr_assert_eq(got[2], PushError::unavailable);
}

namespace {
herald::push::RedisLinkStats links(const Node& n) {
    herald::push::RedisLinkStats st;
    cr_assert(herald::push::redis_link_stats(*n.broker, st));
    return st;
}
} // namespace

Test(push_redis_broker, a_channel_without_subscribers_stops_being_followed_after_linger) {
    RedisServer server;
    herald::test::start_server(server);
    EventLoop loop;
    Node a(loop, server, "t10:", 3, 100, std::chrono::milliseconds(300));
    Sub kept, gone;
    subscribe(loop, a, kept, std::nullopt, "kept");
    subscribe(loop, a, gone, std::nullopt, "gone");
    cr_assert(run_until(loop, [&] { return links(a).mirrored == 2; }, std::chrono::milliseconds(3000)));
    gone.sub.reset();
    // The sweep (each second) drops "gone" once it has had no subscriber for the linger;
    // "kept" has one and stays.
    cr_assert(run_until(loop, [&] { return links(a).mirrored == 1; }, std::chrono::milliseconds(4000)));
    const std::uint64_t reads = links(a).catch_up_reads;
    cr_assert_eq(publish(loop, a, "x", "kept").id, 1u);
    cr_assert(run_until(loop, [&] { return kept.ids.size() == 1; }));
    // Followed again on the next use: read from Redis once more.
    Sub again;
    subscribe(loop, a, again, std::nullopt, "gone");
    cr_assert(run_until(loop, [&] { return links(a).catch_up_reads > reads; }, std::chrono::milliseconds(3000)));
}

namespace {

herald::push::FetchResult fetch(EventLoop& loop, Node& n, const char* channel,
                                std::optional<Cursor> since = std::nullopt) {
    std::optional<herald::push::FetchResult> r;
    BrokerCall c = n.broker->fetch_async(n.worker, channel, since, 10,
                                         [&r](herald::push::FetchResult&& f) { r = std::move(f); });
    cr_assert(run_until(loop, [&] { return r.has_value(); }), "no fetch answer");
    return std::move(*r);
}

long long redis_int(EventLoop& loop, herald::redis::Client& admin,
                    std::initializer_list<std::string_view> args) {
    return herald::test::call(loop, admin, args).integer;
}

} // namespace

// ttl bounds the history, as in memory: the messages go, the channel's life (epoch, ids) does
// not. A node reading the channel leaves out what is older than ttl and keeps the rest with
// its publish time (Redis's `ms`), so its copy drops each at its ttl.
Test(push_redis_broker, ttl_bounds_history_and_the_life_goes_on) {
    RedisServer server;
    herald::test::start_server(server);
    EventLoop loop;
    Config cfg;
    cfg.channel_autocreate = true;
    cfg.autocreate_defaults.buffer = 10;
    cfg.autocreate_defaults.ttl = herald::Duration(300);
    herald::config::ChannelConf old;
    old.name = "old";
    old.ttl = herald::Duration(60'000);
    cfg.channels.push_back(old);
    Node a(loop, server, "tt:", cfg), b(loop, server, "tt:", cfg);
    const PublishResult p1 = publish(loop, a, "m1");
    cr_assert_eq(publish(loop, a, "m2").id, 2u);
    herald::redis::Client admin(loop, herald::test::options_for(server));
    herald::test::connect_client(loop, admin);
    cr_assert(run_until(
                  loop,
                  [&] {
                      return redis_int(loop, admin, {"EXISTS", "{tt:news}:buf"}) == 0;
                  },
                  std::chrono::milliseconds(3000)),
              "the stream did not expire");
    const PublishResult p3 = publish(loop, a, "m3");
    cr_assert(p3.id == 3 && p3.epoch == p1.epoch, "the life goes on: id %llu",
              static_cast<unsigned long long>(p3.id));
    Sub s;
    subscribe(loop, b, s, Cursor{p1.epoch, 1, false});
    cr_assert(s.first.history.missed, "2 expired: missed");
    cr_assert_eq(s.first.history.messages.size(), 1u);
    cr_assert_eq(s.first.history.messages[0]->id, 3u);
    // The copy drops m3 at its ttl, as Redis does.
    cr_assert(run_until(
        loop, [&] { return fetch(loop, b, "news").history.messages.empty(); },
        std::chrono::milliseconds(3000)));
    // A message published 20 s ago (ttl 60 s) keeps its age on the node that reads it.
    const herald::test::Seen t = herald::test::call(loop, admin, {"TIME"});
    const long long now = std::stoll(t.elements.at(0)) * 1000 + std::stoll(t.elements.at(1)) / 1000;
    (void)herald::test::call(loop, admin, {"SET", "{tt:old}:epoch", "000000000001"});
    (void)herald::test::call(loop, admin, {"SET", "{tt:old}:seq", "1"});
    (void)herald::test::call(loop, admin,
                             {"XADD", "{tt:old}:buf", "1-0", "p", "x", "t", "", "e", "", "ms",
                              std::to_string(now - 20'000)});
    const herald::push::FetchResult f = fetch(loop, b, "old");
    cr_assert_eq(f.history.messages.size(), 1u, "%s", to_string(f.error));
    const auto age = std::chrono::system_clock::now() - f.history.messages[0]->published_at;
    cr_assert(
        age > std::chrono::seconds(15) && age < std::chrono::seconds(25), "aged %lld ms",
        static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(age).count()));
}

// channel_idle_timeout, as in memory: an autocreated channel nobody uses ends its life (its
// keys expire), so the next publish starts a new one; a node holds the life of a channel its
// clients use; a node's idle copy goes at collect_idle(); declared channels never expire.
Test(push_redis_broker, an_idle_autocreated_channel_ends_its_life) {
    RedisServer server;
    herald::test::start_server(server);
    EventLoop loop;
    Config cfg;
    cfg.channel_autocreate = true;
    cfg.autocreate_defaults.buffer = 3;
    cfg.channel_idle_timeout = herald::Duration(1000);
    herald::config::ChannelConf declared;
    declared.name = "declared";
    cfg.channels.push_back(declared);
    Node a(loop, server, "ti:", cfg);
    herald::redis::Client admin(loop, herald::test::options_for(server));
    herald::test::connect_client(loop, admin);
    const PublishResult gone = publish(loop, a, "m1", "gone");
    const long long left = redis_int(loop, admin, {"PTTL", "{ti:gone}:epoch"});
    cr_assert(left > 0 && left <= 1000, "%lld ms", left);
    cr_assert_eq(publish(loop, a, "d", "declared").id, 1u);
    cr_assert_eq(redis_int(loop, admin, {"PTTL", "{ti:declared}:epoch"}), -1);
    cr_assert_eq(redis_int(loop, admin, {"PTTL", "{ti:declared}:seq"}), -1);
    // A subscriber here holds "held": its life (1 s, plus 1 s to the next hold, plus the
    // sweep's 1 s) is renewed each second while it stays.
    Sub s;
    subscribe(loop, a, s, std::nullopt, "held");
    cr_assert_gt(redis_int(loop, admin, {"PTTL", "{ti:held}:epoch"}), 2500);
    (void)herald::test::call(loop, admin, {"PEXPIRE", "{ti:held}:epoch", "2500"});
    cr_assert(run_until(
                  loop,
                  [&] {
                      return redis_int(loop, admin, {"PTTL", "{ti:held}:epoch"}) > 2500;
                  },
                  std::chrono::milliseconds(3000)),
              "not held");
    // Nobody used "gone": its life ended.
    cr_assert(run_until(loop, [&] {
        return redis_int(loop, admin, {"EXISTS", "{ti:gone}:epoch"}) == 0;
    }));
    const PublishResult again = publish(loop, a, "m2", "gone");
    cr_assert(again.id == 1 && again.epoch != gone.epoch, "a new life");
    // The subscriber leaves: the node's copy goes once idle (the declared one stays).
    cr_assert_eq(a.broker->stats().channels, 2u);
    s.sub.reset();
    std::size_t collected = 0;
    cr_assert(run_until(
        loop,
        [&] {
            collected += a.broker->collect_idle();
            return collected == 1;
        },
        std::chrono::milliseconds(3000)));
    cr_assert_eq(a.broker->stats().channels, 1u);
    cr_assert(run_until(
                  loop, [&] { return links(a).mirrored == 0; }, std::chrono::milliseconds(2000)),
              "still followed"); // the figure is refreshed by the sweep
    cr_assert_eq(a.broker->collect_idle(), 0u);
}

// ---- Redis Cluster ------------------------------------------------------------------------

// The mode is asked with CLUSTER SLOTS; an ACL user who may not run CLUSTER still uses a
// single server.
Test(push_redis_broker, an_acl_user_without_cluster_uses_a_single_server) {
    RedisServer server({"--user", "app", "on", ">pw", "~*", "&*", "+@all", "-cluster"});
    herald::test::start_server(server);
    EventLoop loop;
    herald::push::RedisBrokerOptions o;
    o.link = herald::test::options_for(server);
    o.link.user = "app";
    o.link.password = "pw";
    o.prefix = "acl:";
    Node a(loop, o, 3), b(loop, o, 3);
    Sub s;
    subscribe(loop, b, s);
    cr_assert_eq(publish(loop, a, "one").id, 1u);
    cr_assert(run_until(loop, [&] { return s.ids == range(1, 1); }));
}

namespace {

using herald::test::Seen;

// Three masters on free loopback ports, slots split in thirds, joined with CLUSTER MEET
// (what `redis-cli --cluster create` does, without its fixed waits).
struct Cluster {
    std::string bus[3] = {bus_port(), bus_port(), bus_port()};
    RedisServer servers[3] = {RedisServer(args(bus[0])), RedisServer(args(bus[1])),
                              RedisServer(args(bus[2]))};
    std::unique_ptr<herald::redis::Client> admin[3];
    std::string ids[3];

    explicit Cluster(EventLoop& loop) {
        static const char* const ranges[3][2] = {{"0", "5460"}, {"5461", "10922"},
                                                 {"10923", "16383"}};
        for (int i = 0; i < 3; ++i) {
            herald::test::start_server(servers[i]);
            admin[i] = std::make_unique<herald::redis::Client>(
                loop, herald::test::options_for(servers[i]));
            herald::test::connect_client(loop, *admin[i]);
            ids[i] = cmd(loop, i, {"CLUSTER", "MYID"}).str;
            cr_assert_eq(cmd(loop, i, {"CLUSTER", "ADDSLOTSRANGE", ranges[i][0], ranges[i][1]}).str,
                         "OK");
        }
        for (int i = 1; i < 3; ++i) {
            const std::string port = std::to_string(servers[i].port());
            cr_assert_eq(cmd(loop, 0, {"CLUSTER", "MEET", "127.0.0.1", port, bus[i]}).str, "OK");
        }
        // Up when every node says ok and maps every slot.
        cr_assert(run_until(loop, [&] {
            for (int i = 0; i < 3; ++i) {
                if (cmd(loop, i, {"CLUSTER", "INFO"}).str.find("cluster_state:ok") ==
                    std::string::npos)
                    return false;
                if (cmd(loop, i, {"CLUSTER", "SLOTS"}).elements.size() != 3) return false;
            }
            return true;
        }, std::chrono::milliseconds(10000)), "the cluster did not come up");
    }
    // The cluster bus gets its own free port (by default it is the port + 10000, which may be
    // taken or past 65535).
    static std::string bus_port() { return std::to_string(herald::test::free_loopback_port()); }
    static std::vector<std::string> args(const std::string& bus) {
        return {"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-port", bus};
    }
    Seen cmd(EventLoop& loop, int i, std::initializer_list<std::string_view> args) {
        return herald::test::call(loop, *admin[i], args);
    }
    herald::redis::NodeAddress address(int i) const {
        return {"127.0.0.1", servers[i].port()};
    }
    // The master (0..2) of a slot, by the ranges above (before any migration).
    static int master_of(std::uint16_t slot) { return slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2; }
};

herald::push::RedisBrokerOptions cluster_options(const Cluster& c, const std::string& prefix,
                                                 std::initializer_list<int> seeds) {
    herald::push::RedisBrokerOptions o;
    o.link = herald::test::options_for(c.servers[0]);
    o.prefix = prefix;
    for (int i : seeds) o.servers.push_back(c.address(i));
    return o;
}

} // namespace

// Channels on every master: published on one node (all three seeds), delivered on another
// (one seed: the cluster found from it) and resumed there; then one channel's slot migrates
// to another master while it is published on (ASK during the move, MOVED after it, and the
// sharded subscription moved when Redis ends it): nothing lost, nothing twice.
Test(push_redis_broker, cluster_routes_by_slot_and_follows_a_migrating_slot, .timeout = 90.0) {
    EventLoop loop;
    Cluster cluster(loop);
    const std::string prefix = "c1:";
    Node a(loop, cluster_options(cluster, prefix, {0, 1, 2}), 50);
    Node b(loop, cluster_options(cluster, prefix, {1}), 50);

    // One channel per master: the slot of its topic "{c1:NAME}" says which.
    std::string names[3];
    for (int k = 0, found = 0; found < 3 && k < 1000; ++k) {
        const std::string n = "ch" + std::to_string(k);
        const int m = Cluster::master_of(herald::redis::key_slot("{" + prefix + n + "}"));
        if (names[m].empty()) {
            names[m] = n;
            ++found;
        }
    }
    Sub subs[3];
    for (int m = 0; m < 3; ++m) {
        cr_assert(!names[m].empty());
        subscribe(loop, b, subs[m], std::nullopt, names[m].c_str());
        for (int i = 1; i <= 3; ++i) {
            const PublishResult r = publish(loop, a, names[m] + "-" + std::to_string(i),
                                            names[m].c_str());
            cr_assert_eq(r.error, PushError::none, "%s: %s", names[m].c_str(), to_string(r.error));
            cr_assert_eq(r.id, static_cast<std::uint64_t>(i));
        }
        // The channel's keys live on its master only.
        const Seen there = cluster.cmd(loop, m, {"EXISTS", "{" + prefix + names[m] + "}:seq"});
        cr_assert_eq(there.integer, 1, "%s keys on master %d", names[m].c_str(), m);
    }
    for (Sub& s : subs) cr_assert(run_until(loop, [&] { return s.ids == range(1, 3); }));
    // Resume on b from id 1 (messages a published).
    Sub resumed;
    subscribe(loop, b, resumed, Cursor{subs[0].epoch, 1}, names[0].c_str());
    cr_assert(resumed.first.history.messages.size() == 2);
    cr_assert_eq(resumed.first.history.messages[0]->id, 2u);
    cr_assert(run_until(loop, [&] {
        const auto st = links(b);
        return st.cluster && st.masters == 3 && st.commands.connected && st.pubsub.connected;
    }, std::chrono::milliseconds(3000)));

    // Migrate names[0]'s slot from its master (0) to master 1 while publishing on a.
    const std::string& ch = names[0];
    const std::string slot = std::to_string(herald::redis::key_slot("{" + prefix + ch + "}"));
    std::uint64_t next = 4;
    const auto pub = [&] {
        const PublishResult r = publish(loop, a, "m" + std::to_string(next), ch.c_str());
        cr_assert_eq(r.error, PushError::none, "publish %llu: %s", (unsigned long long)next,
                     to_string(r.error));
        cr_assert_eq(r.id, next);
        ++next;
    };
    cr_assert_eq(cluster.cmd(loop, 1, {"CLUSTER", "SETSLOT", slot, "IMPORTING", cluster.ids[0]}).str, "OK");
    cr_assert_eq(cluster.cmd(loop, 0, {"CLUSTER", "SETSLOT", slot, "MIGRATING", cluster.ids[1]}).str, "OK");
    pub(); // the keys are still on master 0
    const Seen keys = cluster.cmd(loop, 0, {"CLUSTER", "GETKEYSINSLOT", slot, "10"});
    cr_assert_eq(keys.elements.size(), 3u, "seq, buf, epoch");
    const std::string port1 = std::to_string(cluster.servers[1].port());
    const Seen moved = cluster.cmd(loop, 0, {"MIGRATE", "127.0.0.1", port1, "", "0", "5000",
                                             "KEYS", keys.elements[0], keys.elements[1],
                                             keys.elements[2]});
    cr_assert_eq(moved.str, "OK", "%s", moved.str.c_str());
    const std::uint64_t redirects_before = links(a).redirects;
    pub(); // master 0 answers ASK: run on master 1 after ASKING
    pub();
    for (int i : {1, 0, 2})
        cr_assert_eq(cluster.cmd(loop, i, {"CLUSTER", "SETSLOT", slot, "NODE", cluster.ids[1]}).str, "OK");
    for (int i = 0; i < 4; ++i) pub(); // MOVED, then master 1 directly
    cr_assert(run_until(loop, [&] { return links(a).redirects >= redirects_before + 3; },
                        std::chrono::milliseconds(3000)), "ASK and MOVED followed");
    // b's subscriber got every message once, in order, whichever master published it.
    cr_assert(run_until(loop, [&] { return subs[0].ids.size() >= next - 1; },
                        std::chrono::milliseconds(8000)),
              "delivered %zu of %llu", subs[0].ids.size(), (unsigned long long)(next - 1));
    cr_assert(subs[0].ids == range(1, next - 1));
    cr_assert_eq(subs[0].resets, 0);
    cr_assert_eq(subs[0].data.back(), "m" + std::to_string(next - 1));
    // And the other channels still work.
    cr_assert_eq(publish(loop, a, "after", names[2].c_str()).id, 4u);
    cr_assert(run_until(loop, [&] { return subs[2].ids == range(1, 4); }));
}
