// Tests of redis::ClusterClient (redis/cluster_client.hpp) against a real cluster-enabled
// redis-server started by the test: the bounds of its command retries (max_cluster_attempts,
// the doubling delay from 20 ms up to 500 ms, the command timeout).
#include <criterion/criterion.h>

#include <chrono>
#include <string>
#include <string_view>

#include "event/event_loop.hpp"
#include "redis/cluster.hpp"
#include "redis/cluster_client.hpp"
#include "redis/script.hpp"
#include "support/redis_server.hpp"
#include "support/redis_test.hpp"

using namespace std::chrono_literals;
using herald::EventLoop;
using herald::redis::ClientErrc;
using herald::redis::ClusterClient;
using herald::redis::ClusterOptions;
using herald::redis::RespValue;
using herald::test::RedisServer;
using herald::test::run_until;
using herald::test::Seen;

TestSuite(redis_cluster_client, .fini = herald::test::kill_redis_servers, .timeout = 30.0);

namespace {

struct NoPubSub final : herald::redis::PubSubHandler {
    void on_message(std::string_view, std::string_view, bool) noexcept override {}
    void on_subscribed(std::string_view, bool) noexcept override {}
    void on_link_down() noexcept override {}
    void on_link_up(bool) noexcept override {}
};

// One cluster-enabled node that owns slots 0..100 only: its slot map names it for those, and
// with slots uncovered the cluster is down, so every command for a key gets -CLUSTERDOWN.
struct DownCluster {
    RedisServer server{{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                        "--cluster-port", std::to_string(herald::test::free_loopback_port())}};
    std::unique_ptr<herald::redis::Client> admin;

    explicit DownCluster(EventLoop& loop) {
        herald::test::start_server(server);
        admin = std::make_unique<herald::redis::Client>(loop, herald::test::options_for(server));
        herald::test::connect_client(loop, *admin);
        cr_assert_eq(herald::test::call(loop, *admin, {"CLUSTER", "ADDSLOTSRANGE", "0", "100"}).str,
                     "OK");
    }
    // Calls of a command the node refused (cluster down): INFO commandstats' rejected_calls.
    long rejected(EventLoop& loop, const std::string& command = "evalsha") {
        const std::string info = herald::test::call(loop, *admin, {"INFO", "commandstats"}).str;
        const std::size_t at = info.find("cmdstat_" + command + ":");
        if (at == std::string::npos) return 0;
        const std::size_t r = info.find("rejected_calls=", at);
        return r == std::string::npos ? -1 : std::stol(info.substr(r + 15));
    }
};

// A key whose slot the node owns (served == true) or that no node owns.
std::string key_in(bool served) {
    for (int i = 0;; ++i) {
        std::string k = "k" + std::to_string(i);
        if ((herald::redis::key_slot(k) <= 100) == served) return k;
    }
}

struct Call {
    Seen seen;
    std::chrono::steady_clock::time_point at;
};

void eval(ClusterClient& c, const herald::redis::Script& s, const std::string& key, Call& out) {
    const std::string_view keys[] = {key};
    cr_assert(!c.eval(s, keys, {}, 0, [&out](std::error_code ec, const RespValue& v) {
        herald::test::record(out.seen)(ec, v);
        out.at = std::chrono::steady_clock::now();
    }));
}

} // namespace

// CLUSTERDOWN (and a slot with no master: "not connected") is retried after 20, 40, 80, 160,
// 320, 500, 500, 500 ms (2120 ms in all, timed from the loop's clock of its iteration): max_cluster_attempts (8) retries, then the caller
// gets the last answer, well within a long command timeout.
Test(redis_cluster_client, retries_stop_after_max_attempts) {
    EventLoop loop;
    DownCluster cluster(loop);
    ClusterOptions o;
    o.seeds.push_back({"127.0.0.1", cluster.server.port()});
    o.link = herald::test::options_for(cluster.server);
    o.link.command_timeout = 10s;
    NoPubSub handler;
    ClusterClient c(loop, o, handler);
    cr_assert(!c.start());
    cr_assert(run_until(loop, [&] { return c.stats().cluster; }), "slot map not read");
    const herald::redis::Script script = herald::redis::make_script("return 1");
    Call down, unowned;
    const auto start = std::chrono::steady_clock::now();
    eval(c, script, key_in(true), down);
    eval(c, script, key_in(false), unowned);
    cr_assert(run_until(loop, [&] { return down.seen.calls == 1 && unowned.seen.calls == 1; },
                        5000ms));
    cr_assert(!down.seen.ec);
    cr_assert(down.seen.str.starts_with("CLUSTERDOWN"), "%s", down.seen.str.c_str());
    cr_assert(unowned.seen.ec == ClientErrc::not_connected, "%s",
              unowned.seen.ec.message().c_str());
    for (const Call* call : {&down, &unowned}) {
        const auto took = call->at - start;
        cr_assert(took >= 2100ms && took < 4000ms, "gave up after %lld ms",
                  static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
    }
    const long tries = cluster.rejected(loop);
    cr_assert_eq(tries, 9, "the first try and 8 retries: %ld", tries);
}

// A retry that would end past the command timeout is not made: the caller gets the answer
// before the timeout. A plain command is routed and retried the same way.
Test(redis_cluster_client, retries_stop_at_the_command_timeout) {
    EventLoop loop;
    DownCluster cluster(loop);
    ClusterOptions o;
    o.seeds.push_back({"127.0.0.1", cluster.server.port()});
    o.link = herald::test::options_for(cluster.server);
    o.link.command_timeout = 500ms; // 20 + 40 + 80 + 160 ms fit, the next 320 ms do not
    NoPubSub handler;
    ClusterClient c(loop, o, handler);
    cr_assert(!c.start());
    cr_assert(run_until(loop, [&] { return c.stats().cluster; }), "slot map not read");
    const herald::redis::Script script = herald::redis::make_script("return 1");
    Call down, get;
    const auto start = std::chrono::steady_clock::now();
    eval(c, script, key_in(true), down);
    const std::string key = key_in(true);
    const std::string_view args[] = {"GET", key};
    cr_assert(!c.command(args, 1, [&get](std::error_code ec, const RespValue& v) {
        herald::test::record(get.seen)(ec, v);
        get.at = std::chrono::steady_clock::now();
    }));
    cr_assert(run_until(loop, [&] { return down.seen.calls == 1 && get.seen.calls == 1; },
                        3000ms));
    for (const Call* call : {&down, &get}) {
        cr_assert(call->seen.str.starts_with("CLUSTERDOWN"), "%s", call->seen.str.c_str());
        const auto took = call->at - start;
        cr_assert(took >= 280ms && took < 500ms, "gave up after %lld ms",
                  static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
    }
    for (const char* command : {"evalsha", "get"}) {
        const long tries = cluster.rejected(loop, command);
        cr_assert(tries >= 2 && tries <= 5, "%s: %ld tries", command, tries);
    }
}

// A seed that is neither an address nor a host name gets no links: start() refuses it, and the
// client still closes cleanly (its destructor skipped such a node's missing links once: a null
// dereference, found when slot maps started to carry host names).
Test(redis_cluster_client, a_node_without_links_is_closed_cleanly) {
    EventLoop loop;
    ClusterOptions o;
    o.seeds.push_back({"bad_host", 6379});
    NoPubSub handler;
    {
        ClusterClient c(loop, o, handler);
        cr_assert(c.start() == std::errc::invalid_argument);
        cr_assert(!c.stats().commands.connected);
    }
    cr_assert_eq(loop.watch_count(), 0u);
}
