// Unit tests for the Router: server by listener index and Host (first server is the default), and
// location by normalised path (exact beats prefix, longest prefix wins, server root fallback).
#include <criterion/criterion.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "http/router.hpp"

using namespace herald;
using herald::http::Router;

namespace {

std::shared_ptr<const config::Config> load(const std::string& text) {
    try {
        return config::load_config_string(text, "router.conf");
    } catch (const config::ConfigError& e) {
        cr_assert_fail("unexpected config error: %s", e.what());
    }
    std::abort();
}

const char* kConf = R"(
http {
    server {
        listen 127.0.0.1:8001;
        server_name a.example;
        root /nonexistent-a;
        location /       { push polling; channel $tail; }
        location /chat/  { push sse; channel $tail; }
        location /chat/x { push websocket; channel $tail; }
        location = /chat/ { status; }
    }
    server {
        listen 127.0.0.1:8001;
        listen 127.0.0.1:8002;
        server_name b.example B2.example;
        root /nonexistent-b;
        location /ws/ { push websocket; channel $tail; }
    }
}
)";

// The workers' listeners: 0 and 2 are open, 1 was closed by a reload.
const std::vector<std::string> kListeners = {"127.0.0.1:8001", "", "127.0.0.1:8002"};

const std::string& path_of(const config::LocationConf* loc) {
    cr_assert(loc != nullptr);
    return loc->path;
}

} // namespace

Test(router, server_by_listener_index_and_host, .timeout = 10.0) {
    auto cfg = load(kConf);
    Router r(cfg, kListeners);
    const config::ServerConf* a = &cfg->servers[0];
    const config::ServerConf* b = &cfg->servers[1];
    cr_expect_eq(r.route(0, "a.example", "/").server, a);
    cr_expect_eq(r.route(0, "b.example:8001", "/").server, b, "port is ignored");
    cr_expect_eq(r.route(0, "b2.EXAMPLE", "/").server, b, "case-insensitive");
    cr_expect_eq(r.route(0, "other.example", "/").server, a, "first server is default");
    cr_expect_eq(r.route(0, "", "/").server, a);
    cr_expect_eq(r.route(2, "a.example", "/").server, b, "only b listens on 8002");
    cr_expect_null(r.route(1, "a.example", "/").server, "a closed listener routes nowhere");
    cr_expect_null(r.route(1, "a.example", "/").location);
    cr_expect_null(r.route(3, "a.example", "/").server, "a listener this snapshot lacks");
}

Test(router, listener_order_is_the_one_given, .timeout = 10.0) {
    auto cfg = load(kConf);
    Router r(cfg, {"127.0.0.1:8002", "127.0.0.1:8001"});
    cr_expect_eq(r.route(0, "a.example", "/").server, &cfg->servers[1]);
    cr_expect_eq(r.route(1, "a.example", "/").server, &cfg->servers[0]);
}

Test(router, exact_beats_prefix_and_longest_prefix_wins, .timeout = 10.0) {
    auto cfg = load(kConf);
    Router r(cfg, kListeners);
    const config::LocationConf* exact = r.route(0, "a.example", "/chat/").location;
    cr_assert(exact != nullptr && exact->status && exact->match == config::LocationConf::Match::exact);
    cr_expect(path_of(r.route(0, "a.example", "/chat/room").location) == "/chat/");
    cr_expect(path_of(r.route(0, "a.example", "/chat/xyz").location) == "/chat/x");
    cr_expect(path_of(r.route(0, "a.example", "/chat").location) == "/",
              "no trailing slash: not under /chat/");
    cr_expect(path_of(r.route(0, "a.example", "/").location) == "/");
}

Test(router, locations_belong_to_their_server, .timeout = 10.0) {
    auto cfg = load(kConf);
    Router r(cfg, kListeners);
    cr_expect(path_of(r.route(2, "", "/ws/x").location) == "/ws/");
    cr_expect(path_of(r.route(0, "b.example", "/ws/x").location) == "/ws/");
    cr_expect(path_of(r.route(0, "a.example", "/ws/x").location) == "/", "a has no /ws/");
    // b has no "location /": its root gives a static fallback for the rest.
    Router::Route fallback = r.route(2, "", "/chat/room");
    cr_assert(fallback.server == &cfg->servers[1] && fallback.location != nullptr);
    cr_expect(fallback.location->path == "/" && fallback.location->root == "/nonexistent-b");
    cr_expect(fallback.location->push == config::PushStrategy::none);
}

Test(router, limits_before_routing_are_the_default_servers, .timeout = 10.0) {
    auto cfg = load(R"(
http {
    client_header_timeout 7s;
    server { listen 127.0.0.1:8001; client_header_timeout 3s; location / { status; } }
    server { listen 127.0.0.1:8001; server_name b; client_header_timeout 4s; location / { status; } }
}
)");
    Router r(cfg, {"127.0.0.1:8001", ""});
    cr_expect_eq(&r.limits(0), &cfg->servers[0].limits, "the listener's default server");
    cr_expect_eq(&r.limits(1), &cfg->http_limits, "no server listens there: the http block");
    cr_expect_eq(&r.limits(5), &cfg->http_limits);
}
