// Tests of the broker's publish script (redis/script.hpp) run by the Redis client against a
// real redis-server: EVALSHA with the EVAL fallback, ids, the trimmed stream, expiry, the
// epoch (kept, and new after the data is lost) and the message published to subscribers.
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

// Runs the publish script; returns {id, epoch} as "id/epoch".
std::string publish(EventLoop& loop, Client& c, const Script& s, std::string_view payload,
                    std::string_view candidate, std::string_view buffer = "2",
                    std::string_view ttl = "60", std::string_view event = "") {
    const std::string_view keys[] = {seq, buf, epoch};
    const std::string_view args[] = {payload, "text/plain", buffer, ttl, topic, candidate, "1",
                                     event};
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
    cr_assert(publish(loop, c, s, "second", "e2", "2", "60", "tick") == "2/e1");
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
    for (const std::string& k : {seq, buf, epoch}) {
        const long long ttl = call(loop, c, {"TTL", k}).integer;
        cr_assert(ttl > 0 && ttl <= 60, "%s: ttl %lld", k.c_str(), ttl);
    }
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
