// Tests of the broker's scripts (redis/script.hpp) run by the Redis client against a real
// redis-server: EVALSHA with the EVAL fallback, ids, the trimmed stream, expiry (ttl bounds the
// stream, an autocreated channel's life its id counter and epoch), the epoch (kept, and new
// after the data is lost), the message published to subscribers, the read that leaves out
// messages older than ttl, and the touch that keeps a channel in use alive.
#include <criterion/criterion.h>

#include <chrono>
#include <string>
#include <vector>

#include "event/event_loop.hpp"
#include "redis/client.hpp"
#include "redis/script.hpp"
#include "support/redis_server.hpp"
#include "support/redis_test.hpp"

using herald::EventLoop;
using herald::redis::channel_key;
using herald::redis::Client;
using herald::redis::make_script;
using herald::redis::publish_script_source;
using herald::redis::RespType;
using herald::redis::RespValue;
using herald::redis::Script;
using herald::redis::sync_script_source;
using herald::redis::touch_script_source;
using herald::test::call;
using herald::test::connect_client;
using herald::test::options_for;
using herald::test::record;
using herald::test::RedisServer;
using herald::test::run_until;
using herald::test::Seen;
using herald::test::start_server;

TestSuite(redis_script, .fini = herald::test::kill_redis_servers, .timeout = 30.0);

namespace {

struct Messages final : herald::redis::PubSubHandler {
    void on_message(std::string_view channel, std::string_view payload,
                    bool sharded) noexcept override {
        got.push_back((sharded ? "s:" : "") + std::string(channel) + "=" + std::string(payload));
    }
    void on_subscribed(std::string_view, bool) noexcept override {}
    void on_link_down() noexcept override {}
    void on_link_up(bool) noexcept override { ++ups; }
    std::vector<std::string> got;
    int ups = 0;
};

const std::string seq = channel_key("herald:", "news", ":seq");
const std::string buf = channel_key("herald:", "news", ":buf");
const std::string epoch = channel_key("herald:", "news", ":epoch");
const std::string topic = channel_key("herald:", "news", "");

// Runs the publish script; returns {id, epoch} as "id/epoch". ttl and life in ms.
std::string publish(EventLoop& loop, Client& c, const Script& s, std::string_view payload,
                    std::string_view candidate, std::string_view buffer = "2",
                    std::string_view ttl = "60000", std::string_view event = "",
                    std::string_view life = "0") {
    const std::string_view keys[] = {seq, buf, epoch};
    const std::string_view args[] = {payload,   "text/plain", buffer, ttl, topic,
                                     candidate, "1",          event,  life};
    Seen r;
    cr_assert(!c.eval(s, keys, args, record(r)));
    cr_assert(run_until(loop, [&] { return r.calls == 1; }));
    cr_assert(!r.ec && r.type == RespType::array && r.elements.size() == 2, "%s %s",
              r.ec.message().c_str(), r.str.c_str());
    return r.elements[0] + "/" + r.elements[1];
}

} // namespace

Test(redis_script, digest_is_the_one_redis_computes) {
    RedisServer server;
    start_server(server);
    EventLoop loop;
    Client c(loop, options_for(server));
    connect_client(loop, c);
    const Script s = make_script(publish_script_source);
    Seen loaded = call(loop, c, {"SCRIPT", "LOAD", publish_script_source});
    cr_assert(loaded.str == s.sha1, "%s != %s", loaded.str.c_str(), s.sha1.c_str());
    cr_assert(make_script("return 1").sha1 == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

Test(redis_script, publish_assigns_ids_trims_expires_and_publishes) {
    RedisServer server;
    start_server(server);
    EventLoop loop;
    Client c(loop, options_for(server));
    connect_client(loop, c);
    Messages m;
    Client sub(loop, options_for(server), m);
    sub.subscribe(topic, true);
    cr_assert(!sub.start());
    cr_assert(run_until(loop, [&] { return m.ups == 1; }));

    const Script s = make_script(publish_script_source);
    cr_assert(call(loop, c, {"SCRIPT", "EXISTS", s.sha1}).elements.at(0) == "0");
    // The first run falls back to EVAL (NOSCRIPT), which loads the script; later runs use
    // EVALSHA. The epoch candidate is used only when the channel has no epoch yet.
    cr_assert(publish(loop, c, s, "first", "e1") == "1/e1");
    cr_assert(call(loop, c, {"SCRIPT", "EXISTS", s.sha1}).elements.at(0) == "1");
    cr_assert(publish(loop, c, s, "second", "e2", "2", "60000", "tick") == "2/e1");
    cr_assert(publish(loop, c, s, std::string("th\nird\0", 7), "e3") == "3/e1");

    cr_assert(call(loop, c, {"GET", seq}).str == "3");
    cr_assert(call(loop, c, {"GET", epoch}).str == "e1");
    cr_assert(call(loop, c, {"XLEN", buf}).integer == 2, "buffer not trimmed to 2");
    // The stream keeps the last two, with herald's ids and the message fields.
    Seen range;
    std::vector<std::string> entries;
    cr_assert(!c.command({"XRANGE", buf, "-", "+"}, [&](std::error_code ec, const RespValue& v) {
        ++range.calls;
        cr_assert(!ec && v.type == RespType::array);
        for (const RespValue& e : v.elements) {
            std::string text(e.elements.at(0).str);
            for (const RespValue& f : e.elements.at(1).elements)
                text += "|" + std::string(f.str);
            entries.push_back(text);
        }
    }));
    cr_assert(run_until(loop, [&] { return range.calls == 1; }));
    cr_assert(entries.size() == 2);
    cr_assert(entries[0].rfind("2-0|p|second|t|text/plain|e|tick|ms|", 0) == 0, "%s",
              entries[0].c_str());
    cr_assert(entries[1].rfind(std::string("3-0|p|th\nird\0", 13) + "|t|text/plain|e||ms|", 0) == 0);
    // ttl bounds the stream (60 s after the newest message); the id counter and the epoch
    // stay (life 0: a declared channel), so the next publish goes on with the same life.
    const long long left = call(loop, c, {"PTTL", buf}).integer;
    cr_assert(left > 50'000 && left <= 60'000, "stream: %lld ms", left);
    cr_assert(call(loop, c, {"PTTL", seq}).integer == -1 &&
              call(loop, c, {"PTTL", epoch}).integer == -1);
    // Keys and the topic share the hash tag, so one slot.
    cr_assert(seq.rfind("{herald:news}", 0) == 0 && buf.rfind("{herald:news}", 0) == 0 &&
              epoch.rfind("{herald:news}", 0) == 0 && topic == "{herald:news}");

    // Every publish reached the (sharded) subscriber, with its epoch, id and type.
    cr_assert(run_until(loop, [&] { return m.got.size() == 3; }));
    cr_assert(m.got[0] == "s:{herald:news}=e1\n1\ntext/plain\n\nfirst", "%s", m.got[0].c_str());
    cr_assert(m.got[1] == "s:{herald:news}=e1\n2\ntext/plain\ntick\nsecond");
    cr_assert(m.got[2] == "s:{herald:news}=e1\n3\ntext/plain\n\n" + std::string("th\nird\0", 7));

    // Redis loses its data (and its scripts): a new epoch, ids start again, EVAL again.
    cr_assert(call(loop, c, {"FLUSHALL"}).str == "OK");
    cr_assert(call(loop, c, {"SCRIPT", "FLUSH"}).str == "OK");
    cr_assert(publish(loop, c, s, "after", "e4") == "1/e4");
    cr_assert(run_until(loop, [&] { return m.got.size() == 4; }));
    cr_assert(m.got[3] == "s:{herald:news}=e4\n1\ntext/plain\n\nafter");
}

Test(redis_script, no_buffer_and_no_ttl) {
    RedisServer server;
    start_server(server);
    EventLoop loop;
    Client c(loop, options_for(server));
    connect_client(loop, c);
    const Script s = make_script(publish_script_source);
    cr_assert(publish(loop, c, s, "a", "e1", "0", "0") == "1/e1");
    cr_assert(publish(loop, c, s, "b", "e2", "0", "0") == "2/e1");
    cr_assert(call(loop, c, {"EXISTS", buf}).integer == 0, "buffer 0 keeps no stream");
    cr_assert(call(loop, c, {"TTL", seq}).integer == -1 &&
              call(loop, c, {"TTL", epoch}).integer == -1);
}

namespace {

long long pttl(EventLoop& loop, Client& c, const std::string& k) {
    return call(loop, c, {"PTTL", k}).integer;
}

} // namespace

// An autocreated channel's life (channel_idle_timeout): a new one lasts `life` from its first
// publish; a kept message holds the id counter and epoch `life` after it (or its ttl, when the
// channel has one: the memory broker's channel is idle once its messages expired), never
// shortening what is left; a channel that became declared (life 0) never expires again.
Test(redis_script, an_autocreated_channel_lives_idle_after_its_last_use) {
    RedisServer server;
    start_server(server);
    EventLoop loop;
    Client c(loop, options_for(server));
    connect_client(loop, c);
    const Script s = make_script(publish_script_source);
    cr_assert(publish(loop, c, s, "a", "e1", "2", "0", "", "90000") == "1/e1");
    for (const std::string& k : {seq, buf, epoch}) {
        const long long left = pttl(loop, c, k);
        cr_assert(left > 80'000 && left <= 90'000, "%s: %lld ms", k.c_str(), left);
    }
    // With a ttl shorter than the life, a message holds the channel for its ttl: the 90 s
    // the first publish gave are not shortened.
    cr_assert(publish(loop, c, s, "b", "e2", "2", "5000", "", "90000") == "2/e1");
    cr_assert(pttl(loop, c, buf) <= 5000);
    cr_assert(pttl(loop, c, seq) > 80'000 && pttl(loop, c, epoch) > 80'000);
    // A ttl longer than the life holds it longer.
    cr_assert(publish(loop, c, s, "c", "e2", "2", "200000", "", "90000") == "3/e1");
    cr_assert(pttl(loop, c, seq) > 190'000 && pttl(loop, c, epoch) > 190'000);
    // buffer 0: a message kept nowhere holds nothing (as in memory: no message is held).
    cr_assert(call(loop, c, {"PEXPIRE", seq, "30000"}).integer == 1);
    cr_assert(call(loop, c, {"PEXPIRE", epoch, "30000"}).integer == 1);
    cr_assert(publish(loop, c, s, "d", "e2", "0", "0", "", "90000") == "4/e1");
    cr_assert(pttl(loop, c, seq) <= 30'000 && pttl(loop, c, epoch) <= 30'000);
    cr_assert(call(loop, c, {"EXISTS", buf}).integer == 0);
    // Declared now (life 0): the keys no longer expire; ttl still bounds the stream.
    cr_assert(publish(loop, c, s, "e", "e2", "2", "5000", "", "0") == "5/e1");
    cr_assert(pttl(loop, c, seq) == -1 && pttl(loop, c, epoch) == -1);
    cr_assert(pttl(loop, c, buf) > 0 && pttl(loop, c, buf) <= 5000);
}

namespace {

// What the read (sync) script returned: the newest id, the entries' ids (newest first) and
// Redis's time in ms.
struct Read {
    long long last = -1, now = -1;
    std::vector<std::string> ids;
};

Read sync_read(EventLoop& loop, Client& c, const Script& s, std::string_view count,
               std::string_view ttl, std::string_view life = "0",
               std::string_view candidate = "e9") {
    const std::string_view keys[] = {seq, buf, epoch};
    const std::string_view args[] = {candidate, count, ttl, life};
    Read out;
    bool done = false;
    cr_assert(!c.eval(s, keys, args, [&](std::error_code ec, const RespValue& v) {
        done = true;
        if (ec || v.type != RespType::array || v.elements.size() != 4) return;
        out.last = v.elements[1].integer;
        out.now = v.elements[3].integer;
        for (const RespValue& e : v.elements[2].elements)
            out.ids.emplace_back(e.elements.at(0).str);
    }));
    cr_assert(run_until(loop, [&] { return done; }));
    cr_assert(out.last >= 0, "the read failed");
    return out;
}

} // namespace

// The read leaves out messages older than ttl (by the `ms` field the publish stored), so no
// node serves them, and returns Redis's time, so a node can age the ones it takes.
Test(redis_script, the_read_leaves_out_messages_older_than_ttl) {
    RedisServer server;
    start_server(server);
    EventLoop loop;
    Client c(loop, options_for(server));
    connect_client(loop, c);
    const Script s = make_script(sync_script_source);
    const Seen t = call(loop, c, {"TIME"});
    const long long now = std::stoll(t.elements.at(0)) * 1000 + std::stoll(t.elements.at(1)) / 1000;
    cr_assert(call(loop, c, {"SET", epoch, "e1"}).str == "OK");
    cr_assert(call(loop, c, {"SET", seq, "4"}).str == "OK");
    const long long age[] = {20'000, 9'000, 3'000, 100}; // ms, ids 1 to 4
    for (int i = 0; i < 4; ++i)
        (void)call(loop, c,
                   {"XADD", buf, std::to_string(i + 1) + "-0", "p", "x", "t", "text/plain", "e", "",
                    "ms", std::to_string(now - age[i])});
    // Without ttl: every entry (newest first, at most count).
    using Ids = std::vector<std::string>;
    Read r = sync_read(loop, c, s, "10", "0");
    cr_assert(r.last == 4 && r.ids == (Ids{"4-0", "3-0", "2-0", "1-0"}));
    r = sync_read(loop, c, s, "2", "0");
    cr_assert(r.ids == (Ids{"4-0", "3-0"}));
    // ttl 5 s: ids 3 and 4 only; ttl 50 ms: none, but the life (epoch, last id) stays.
    r = sync_read(loop, c, s, "10", "5000");
    cr_assert(r.ids == (Ids{"4-0", "3-0"}), "%zu entries", r.ids.size());
    cr_assert(r.now >= now && r.now < now + 5000);
    r = sync_read(loop, c, s, "10", "50");
    cr_assert(r.last == 4 && r.ids.empty());
    cr_assert(call(loop, c, {"GET", epoch}).str == "e1");
    // A missing epoch starts a life: held for `life` when given (an autocreated channel).
    (void)call(loop, c, {"DEL", epoch});
    r = sync_read(loop, c, s, "10", "0", "70000");
    cr_assert(r.last == 0 && r.ids.empty());
    cr_assert(call(loop, c, {"GET", epoch}).str == "e9");
    cr_assert(pttl(loop, c, epoch) > 60'000 && pttl(loop, c, epoch) <= 70'000);
}

namespace {

long long touch(EventLoop& loop, Client& c, const Script& s, std::string_view ms,
                std::string_view stream) {
    const std::string_view keys[] = {seq, buf, epoch};
    const std::string_view args[] = {ms, stream};
    Seen r;
    cr_assert(!c.eval(s, keys, args, record(r)));
    cr_assert(run_until(loop, [&] { return r.calls == 1; }));
    cr_assert(!r.ec && r.type == RespType::integer, "%s %s", r.ec.message().c_str(), r.str.c_str());
    return r.integer;
}

} // namespace

// A node whose clients use an autocreated channel holds its life: the keys expire no sooner
// than the hold (a persistent one gets it), never sooner than they would have; the stream too
// unless ttl bounds it; a channel Redis no longer holds is not made again.
Test(redis_script, touch_holds_a_channel_in_use) {
    RedisServer server;
    start_server(server);
    EventLoop loop;
    Client c(loop, options_for(server));
    connect_client(loop, c);
    const Script s = make_script(touch_script_source);
    cr_assert(touch(loop, c, s, "5000", "1") == 0);
    cr_assert(call(loop, c, {"EXISTS", epoch}).integer == 0, "nothing made");
    (void)call(loop, c, {"SET", epoch, "e1", "PX", "1000"});
    (void)call(loop, c, {"SET", seq, "3"});
    (void)call(loop, c, {"XADD", buf, "3-0", "p", "x", "ms", "1"});
    (void)call(loop, c, {"PEXPIRE", buf, "1000"});
    cr_assert(touch(loop, c, s, "5000", "0") == 1);
    cr_assert(pttl(loop, c, epoch) > 4000 && pttl(loop, c, seq) > 4000);
    cr_assert(pttl(loop, c, buf) <= 1000, "ttl bounds the stream: not held");
    cr_assert(touch(loop, c, s, "5000", "1") == 1);
    cr_assert(pttl(loop, c, buf) > 4000);
    cr_assert(touch(loop, c, s, "2000", "1") == 1);
    cr_assert(pttl(loop, c, epoch) > 4000, "never shortened");
}
