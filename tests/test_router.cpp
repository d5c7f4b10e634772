// Unit tests for the Router: server by listen key and Host (first server is the default), and
// location by normalised path (exact beats prefix, longest prefix wins, server root fallback).
#include <criterion/criterion.h>

#include <cstdlib>
#include <memory>
#include <string>

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

const std::string& path_of(const config::LocationConf* loc) {
    cr_assert(loc != nullptr);
    return loc->path;
}

} // namespace

Test(router, server_by_listen_key_and_host, .timeout = 10.0) {
    auto cfg = load(kConf);
    Router r(cfg);
    const config::ServerConf& a = cfg->servers[0];
    const config::ServerConf& b = cfg->servers[1];
    cr_expect_eq(r.server_for("127.0.0.1:8001", "a.example"), &a);
    cr_expect_eq(r.server_for("127.0.0.1:8001", "b.example:8001"), &b, "port is ignored");
    cr_expect_eq(r.server_for("127.0.0.1:8001", "b2.EXAMPLE"), &b, "case-insensitive");
    cr_expect_eq(r.server_for("127.0.0.1:8001", "other.example"), &a, "first server is default");
    cr_expect_eq(r.server_for("127.0.0.1:8001", ""), &a);
    cr_expect_eq(r.server_for("127.0.0.1:8002", "a.example"), &b, "only b listens on 8002");
    cr_expect_null(r.server_for("127.0.0.1:9999", "a.example"));
}

Test(router, exact_beats_prefix_and_longest_prefix_wins, .timeout = 10.0) {
    auto cfg = load(kConf);
    Router r(cfg);
    const config::ServerConf& a = cfg->servers[0];
    const config::LocationConf* exact = r.match(a, "/chat/");
    cr_assert(exact != nullptr && exact->status && exact->match == config::LocationConf::Match::exact);
    cr_expect(path_of(r.match(a, "/chat/room")) == "/chat/");
    cr_expect(path_of(r.match(a, "/chat/xyz")) == "/chat/x");
    cr_expect(path_of(r.match(a, "/chat")) == "/", "no trailing slash: not under /chat/");
    cr_expect(path_of(r.match(a, "/")) == "/");
}

Test(router, locations_belong_to_their_server, .timeout = 10.0) {
    auto cfg = load(kConf);
    Router r(cfg);
    const config::ServerConf& b = cfg->servers[1];
    cr_expect(path_of(r.match(b, "/ws/x")) == "/ws/");
    // b has no "location /": its root gives a static fallback for the rest.
    const config::LocationConf* fallback = r.match(b, "/chat/room");
    cr_assert(fallback != nullptr);
    cr_expect(fallback->path == "/" && fallback->root == "/nonexistent-b");
    cr_expect(fallback->push == config::PushStrategy::none);
}

Test(router, server_of_another_snapshot_matches_nothing, .timeout = 10.0) {
    auto cfg = load(kConf);
    auto other = load(kConf);
    Router r(cfg);
    cr_expect_null(r.match(other->servers[0], "/chat/room"));
    config::ServerConf stray;
    cr_expect_null(r.match(stray, "/"));
}
