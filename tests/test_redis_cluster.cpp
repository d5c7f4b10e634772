// Unit tests for the Redis Cluster pure parts (redis/cluster.hpp): the hash slot of a key
// (CRC16/XMODEM, hash tags) against values redis-server 7.0's CLUSTER KEYSLOT gave, the slot
// map read from CLUSTER SLOTS replies fed whole, byte by byte and split at every offset (RESP2
// and RESP3, good and malformed), and -MOVED / -ASK redirections.
#include <criterion/criterion.h>

#include <string>
#include <string_view>

#include "redis/cluster.hpp"
#include "redis/resp.hpp"
#include "support/feed.hpp"

using namespace std::literals;
using herald::ParseStatus;
using herald::redis::NodeAddress;
using herald::redis::Redirect;
using herald::redis::RedirectKind;
using herald::redis::RespParser;
using herald::redis::SlotMap;
using herald::test::FeedMode;
using herald::test::GuardedBuffer;

Test(redis_cluster, crc16_xmodem_check_value) {
    // The CRC-16/XMODEM check value (and the cluster spec's example).
    cr_expect_eq(herald::redis::crc16("123456789"), 0x31C3);
    cr_expect_eq(herald::redis::crc16(""), 0);
}

Test(redis_cluster, key_slot_matches_redis) {
    // Each value was printed by `redis-cli -p PORT CLUSTER KEYSLOT KEY` on redis-server 7.0.
    static const struct {
        std::string_view key;
        unsigned slot;
    } cases[] = {
        {"123456789", 12739},
        {"{user1000}.following", 3443}, // tag "user1000"
        {"foo{}{bar}", 8363},           // empty first tag: the whole key
        {"foo{{bar}}zap", 4015},        // tag "{bar"
        {"foo{bar}{zap}", 5061},        // the first tag only: "bar"
        {"{herald:news}:seq", 1072},    // a herald channel key: tag "herald:news"
        {"a", 15495},
        {"", 0},
    };
    for (const auto& c : cases)
        cr_expect_eq(herald::redis::key_slot(c.key), c.slot, "%.*s", int(c.key.size()),
                     c.key.data());
    // Every key of one channel shares the channel topic's slot.
    const auto topic = herald::redis::key_slot("{herald:news}");
    for (std::string_view k : {"{herald:news}:seq"sv, "{herald:news}:buf"sv,
                               "{herald:news}:epoch"sv, "{herald:news}:tick"sv})
        cr_expect_eq(herald::redis::key_slot(k), topic);
    cr_expect_eq(herald::redis::key_slot("{herald:news"),
                 herald::redis::crc16("{herald:news") % 16384);
}

namespace {

struct MapCase {
    const char* name;
    std::string_view reply; // RESP bytes
    bool ok;
    std::string_view want; // "first-last@host:port ..." when ok
};

std::string render(const SlotMap& m) {
    std::string out;
    for (const auto& r : m.ranges) {
        if (!out.empty())
            out += " ";
        out += std::to_string(r.first) + "-" + std::to_string(r.last) + "@" + r.master.text();
    }
    return out;
}

const MapCase map_cases[] = {
    {"three masters, RESP2, with ids and an empty metadata array",
     "*3\r\n"
     "*3\r\n:0\r\n:5460\r\n*4\r\n$9\r\n127.0.0.1\r\n:7101\r\n$3\r\nid1\r\n*0\r\n"
     "*3\r\n:5461\r\n:10922\r\n*4\r\n$9\r\n127.0.0.1\r\n:7102\r\n$3\r\nid2\r\n*0\r\n"
     "*3\r\n:10923\r\n:16383\r\n*4\r\n$9\r\n127.0.0.1\r\n:7103\r\n$3\r\nid3\r\n*0\r\n"
     ""sv,
     true, "0-5460@127.0.0.1:7101 5461-10922@127.0.0.1:7102 10923-16383@127.0.0.1:7103"},
    {"replicas ignored, ranges out of order sorted, one master twice",
     "*3\r\n"
     "*4\r\n:100\r\n:16383\r\n*2\r\n+10.0.0.2\r\n:6379\r\n*2\r\n+10.0.0.3\r\n:6379\r\n"
     "*3\r\n:0\r\n:49\r\n*2\r\n+10.0.0.1\r\n:6379\r\n"
     "*3\r\n:50\r\n:99\r\n*2\r\n+10.0.0.2\r\n:6379\r\n"sv,
     true, "0-49@10.0.0.1:6379 50-99@10.0.0.2:6379 100-16383@10.0.0.2:6379"},
    {"RESP3 map metadata, unknown endpoint '?' and empty host -> the reached host",
     "*2\r\n"
     "*3\r\n:0\r\n:8191\r\n*4\r\n$1\r\n?\r\n:7001\r\n$2\r\nid\r\n%1\r\n+hostname\r\n+h\r\n"
     "*3\r\n:8192\r\n:16383\r\n*3\r\n$0\r\n\r\n:7002\r\n$2\r\nid\r\n"sv,
     true, "0-8191@10.0.0.9:7001 8192-16383@10.0.0.9:7002"},
    {"IPv6 master", "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$3\r\n::1\r\n:7000\r\n"sv, true,
     "0-16383@[::1]:7000"},
    {"empty map (a cluster not set up)", "*0\r\n"sv, true, ""},
    {"an error", "-ERR This instance has cluster support disabled\r\n"sv, false, ""},
    {"not an array", "+OK\r\n"sv, false, ""},
    {"slot past 16383", "*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n+h\r\n:1\r\n"sv, false, ""},
    {"negative slot", "*1\r\n*3\r\n:-1\r\n:5\r\n*2\r\n+h\r\n:1\r\n"sv, false, ""},
    {"first after last", "*1\r\n*3\r\n:9\r\n:5\r\n*2\r\n+h\r\n:1\r\n"sv, false, ""},
    {"overlapping ranges",
     "*2\r\n*3\r\n:0\r\n:10\r\n*2\r\n+h\r\n:1\r\n*3\r\n:10\r\n:20\r\n*2\r\n+h\r\n:2\r\n"sv, false,
     ""},
    {"port 0", "*1\r\n*3\r\n:0\r\n:5\r\n*2\r\n+h\r\n:0\r\n"sv, false, ""},
    {"port past 65535", "*1\r\n*3\r\n:0\r\n:5\r\n*2\r\n+h\r\n:65536\r\n"sv, false, ""},
    {"port as a string", "*1\r\n*3\r\n:0\r\n:5\r\n*2\r\n+h\r\n+1\r\n"sv, false, ""},
    {"no master entry", "*1\r\n*2\r\n:0\r\n:5\r\n"sv, false, ""},
    {"master without port", "*1\r\n*3\r\n:0\r\n:5\r\n*1\r\n+h\r\n"sv, false, ""},
    {"slot as a string", "*1\r\n*3\r\n+0\r\n:5\r\n*2\r\n+h\r\n:1\r\n"sv, false, ""},
    {"entry not an array", "*1\r\n:7\r\n"sv, false, ""},
};

// Feeds c.reply through a RespParser with `feed`, then reads the slot map from the value.
template <class Feed> void check_map(const MapCase& c, const char* how, Feed&& feed) {
    RespParser p;
    SlotMap map;
    map.ranges.push_back({1, 2, {"stale", 1}});
    bool ok = false, parsed = false;
    const auto r = feed([&](std::string_view in) {
        auto res = p.feed(in);
        if (res.status == ParseStatus::done) {
            parsed = true; // the value's views are valid in this call only
            ok = herald::redis::parse_cluster_slots(p.value(), "10.0.0.9", map);
        }
        return res;
    });
    cr_assert(r.status == ParseStatus::done && parsed, "%s (%s): RESP not parsed", c.name, how);
    cr_expect_eq(r.consumed, c.reply.size(), "%s (%s)", c.name, how);
    cr_expect_eq(ok, c.ok, "%s (%s)", c.name, how);
    const std::string got = render(map), want(c.want);
    if (c.ok)
        cr_expect_str_eq(got.c_str(), want.c_str(), "%s (%s)", c.name, how);
    else
        cr_expect(map.ranges.empty(), "%s (%s): a refused map leaves nothing", c.name, how);
}

} // namespace

Test(redis_cluster, slot_map_whole_bytewise_and_at_every_split, .timeout = 10.0) {
    GuardedBuffer g;
    for (const MapCase& c : map_cases) {
        check_map(c, "whole",
                  [&](auto step) { return feed_whole(g, c.reply, FeedMode::accumulate, step); });
        check_map(c, "bytewise",
                  [&](auto step) { return feed_bytewise(g, c.reply, FeedMode::accumulate, step); });
        for (std::size_t cut = 0; cut <= c.reply.size(); ++cut) {
            const std::string how = "split at " + std::to_string(cut);
            check_map(c, how.c_str(), [&](auto step) {
                return feed_split(g, c.reply, cut, FeedMode::accumulate, step);
            });
        }
    }
}

Test(redis_cluster, slot_map_owner_lookup) {
    SlotMap m;
    m.ranges = {{0, 99, {"a", 1}}, {200, 16383, {"b", 2}}};
    cr_expect(m.owner(0) && m.owner(0)->host == "a");
    cr_expect(m.owner(99) && m.owner(99)->host == "a");
    cr_expect(m.owner(100) == nullptr && m.owner(199) == nullptr);
    cr_expect(m.owner(200) && m.owner(200)->host == "b");
    cr_expect(m.owner(16383) && m.owner(16383)->port == 2);
    cr_expect_eq(m.masters().size(), 2);
    cr_expect(SlotMap{}.owner(5) == nullptr);
}

Test(redis_cluster, redirects) {
    Redirect r;
    cr_assert(herald::redis::parse_redirect("MOVED 3999 127.0.0.1:6381", r));
    cr_expect(r.kind == RedirectKind::moved && r.slot == 3999);
    cr_expect(r.node == (NodeAddress{"127.0.0.1", 6381}));
    cr_assert(herald::redis::parse_redirect("ASK 16383 10.1.2.3:7000", r));
    cr_expect(r.kind == RedirectKind::ask && r.slot == 16383);
    cr_expect(r.node == (NodeAddress{"10.1.2.3", 7000}));
    // IPv6 without brackets: the port follows the last colon.
    cr_assert(herald::redis::parse_redirect("MOVED 0 ::1:7002", r));
    cr_expect(r.node == (NodeAddress{"::1", 7002}));
    // Redis 7 with an unknown endpoint leaves the host out: the caller fills it in.
    cr_assert(herald::redis::parse_redirect("MOVED 12 :7003", r));
    cr_expect(r.node == (NodeAddress{"", 7003}));

    for (std::string_view bad :
         {"MOVED"sv, "MOVED 3999"sv, "MOVED 16384 h:1"sv, "MOVED -1 h:1"sv, "MOVED x h:1"sv,
          "MOVED 1 h"sv, "MOVED 1 h:0"sv, "MOVED 1 h:65536"sv, "MOVED 1 h:"sv,
          "MOVED 1 h:1 extra"sv, "ASK 1 h:p"sv, "moved 1 h:1"sv, "TRYAGAIN x"sv,
          "ERR MOVED 1 h:1"sv, ""sv}) {
        cr_expect(!herald::redis::parse_redirect(bad, r), "%.*s", int(bad.size()), bad.data());
        cr_expect(r.kind == RedirectKind::none);
    }
}

namespace {
// A CLUSTER SLOTS reply of `masters` one-slot ranges, each owned by its own master.
herald::redis::RespValue map_of(std::size_t masters) {
    using herald::redis::RespType;
    using herald::redis::RespValue;
    RespValue reply;
    reply.type = RespType::array;
    for (std::size_t i = 0; i < masters; ++i) {
        RespValue slot, host, port, node, range;
        slot.type = port.type = RespType::integer;
        slot.integer = static_cast<std::int64_t>(i);
        port.integer = static_cast<std::int64_t>(1 + i);
        host.type = RespType::bulk_string;
        host.str = "127.0.0.1";
        node.type = range.type = RespType::array;
        node.elements = {host, port};
        range.elements = {slot, slot, node};
        reply.elements.push_back(std::move(range));
    }
    return reply;
}
} // namespace

Test(redis_cluster, slot_map_of_more_than_max_masters_is_refused) {
    using herald::redis::max_cluster_masters;
    SlotMap map;
    cr_assert(herald::redis::parse_cluster_slots(map_of(max_cluster_masters), "h", map));
    cr_assert_eq(map.masters().size(), max_cluster_masters);
    cr_assert(!herald::redis::parse_cluster_slots(map_of(max_cluster_masters + 1), "h", map));
    cr_assert(map.ranges.empty());
}
