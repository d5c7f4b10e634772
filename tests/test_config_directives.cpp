// Unit tests for the directive table: for every directive, that it loads in each allowed
// context, that a wrong argument count, a wrong context and (when not repeatable) a second
// occurrence are reported at its FILE:LINE:COL, and that no table entry lacks a row here.
#include <criterion/criterion.h>

#include <cstdlib>
#include <string>

#include "config/config.hpp"
#include "config/loader.hpp"
#include "config/values.hpp"
#include "core/limits.hpp"
#include "support/config_files.hpp"

using namespace herald;
using herald::test::load_error;
namespace detail = herald::config::detail;

namespace {

enum Ctx : unsigned { main_ = 1, events = 2, http = 4, server = 8, location = 16, channel = 32 };

// Config text with body in ctx; body's first line is line base_line(ctx) of the file.
std::string wrap(Ctx ctx, const std::string& body) {
    switch (ctx) {
    case main_: return body;
    case events: return "events {\n" + body + "\n}";
    case http: return "http {\n" + body + "\n}";
    case server: return "http { server { listen 1;\n" + body + "\n} }";
    case location: return "http { server { listen 1; location /x {\n" + body + "\n} } }";
    case channel: return "http { channel c {\n" + body + "\n} }";
    }
    return body;
}

int base_line(Ctx ctx) { return ctx == main_ ? 1 : 2; }

const char* ctx_name(Ctx ctx) {
    switch (ctx) {
    case main_: return "main";
    case events: return "events";
    case http: return "http";
    case server: return "server";
    case location: return "location";
    case channel: return "channel";
    }
    return "?";
}

struct Row {
    const char* name;
    unsigned good;     // contexts where `stmt extra` loads
    const char* stmt;  // the directive under test, valid
    const char* extra; // what the location needs besides it to pass the checks ("" if nothing)
    const char* bad;   // wrong number of arguments
    Ctx wrong;         // a context where it is not allowed
};

constexpr unsigned hsl = http | server | location;
constexpr unsigned hs = http | server;

const Row rows[] = {
    {"worker_threads", main_, "worker_threads 2;", "", "worker_threads;", http},
    {"pid", main_, "pid x.pid;", "", "pid;", http},
    {"error_log", main_, "error_log stderr info;", "", "error_log a info x;", http},
    {"daemon", main_, "daemon off;", "", "daemon;", http},
    {"user", main_, "user nobody nogroup;", "", "user a b c;", http},
    {"shutdown_timeout", main_, "shutdown_timeout 3s;", "", "shutdown_timeout;", http},
    {"events", main_, "events { }", "", "events x { }", http},
    {"http", main_, "http { }", "", "http x { }", events},
    {"worker_connections", events, "worker_connections 10;", "", "worker_connections 1 2;", main_},
    {"access_log", http, "access_log off;", "", "access_log a b;", server},
    {"channel_autocreate", http, "channel_autocreate on;", "", "channel_autocreate;", server},
    {"channel_autocreate_on_subscribe", http, "channel_autocreate_on_subscribe off;", "",
     "channel_autocreate_on_subscribe on off;", server},
    {"channel_idle_timeout", http, "channel_idle_timeout 10m;", "", "channel_idle_timeout;",
     server},
    {"status_top_channels", http, "status_top_channels 5;", "", "status_top_channels;", server},
    {"max_channels", http, "max_channels 10;", "", "max_channels;", server},
    {"publish_backlog", http, "publish_backlog 0;", "", "publish_backlog;", server},
    {"broker", http, "broker memory;", "", "broker;", server},
    {"redis_server", http, "redis_server 127.0.0.1:6379;", "", "redis_server a b;", server},
    {"redis_user", http, "redis_user app;", "redis_password secret;", "redis_user;", location},
    {"redis_password", http, "redis_password \"s e c r e t\";", "", "redis_password a b;",
     server},
    {"redis_prefix", http, "redis_prefix app1:;", "", "redis_prefix;", main_},
    {"redis_database", http, "redis_database 3;", "", "redis_database 1 2;", events},
    {"redis_timeout", http, "redis_timeout 500ms;", "", "redis_timeout;", channel},
    {"types", http, "types { text/x x; }", "", "types a { }", server},
    {"channel", http, "channel d { }", "", "channel { }", server},
    {"server", http, "server { listen 2; }", "", "server x { listen 2; }", main_},
    {"buffer", channel, "buffer 5;", "", "buffer;", http},
    {"ttl", channel, "ttl 1m;", "", "ttl 1 2;", http},
    {"source", channel, "source clock 1s;", "", "source clock;", http},
    {"max_subscribers", channel, "max_subscribers 3;", "", "max_subscribers;", http},
    {"listen", server, "listen 2 reuseport backlog=5 proxy_protocol;", "",
     "listen 2 reuseport backlog=5 proxy_protocol x;", http},
    {"server_name", server, "server_name a b;", "", "server_name;", http},
    {"root", server | location, "root /x;", "", "root;", http},
    {"index", server | location, "index a b;", "", "index;", http},
    {"location", server, "location /y { }", "", "location = /y z { }", http},
    {"push", location, "push polling;", "channel $tail;", "push;", server},
    {"channel", location, "channel $tail;", "push sse;", "channel a b;", server},
    {"publish", location, "publish;", "channel $arg_c;", "publish on off;", server},
    {"multiplex", location, "multiplex on;", "push websocket;", "multiplex;", server},
    {"status", location, "status;", "", "status on;", server},
    {"echo", location, "echo \">\";", "push websocket;", "echo;", server},
    {"ws_protocols", location, "ws_protocols a b;", "", "ws_protocols;", server},
    {"allow_origin", location, "allow_origin * https://a.example:8443;", "", "allow_origin;",
     server},
    {"allow", location, "allow all;", "", "allow a b;", server},
    {"deny", location, "deny 10.0.0.0/8;", "", "deny;", server},
    {"client_max_body_size", hsl, "client_max_body_size 1k;", "", "client_max_body_size;", main_},
    {"large_header_buffer", hs, "large_header_buffer 2k;", "", "large_header_buffer;", location},
    {"max_header_size", hs, "max_header_size 32k;", "", "max_header_size 1 2;", location},
    {"max_headers", hs, "max_headers 50;", "", "max_headers;", location},
    {"output_queue_limit", hsl, "output_queue_limit 64k;", "", "output_queue_limit;", main_},
    {"client_header_timeout", hs, "client_header_timeout 10s;", "", "client_header_timeout;",
     location},
    {"client_body_timeout", hsl, "client_body_timeout 10s;", "", "client_body_timeout;", main_},
    {"keepalive_timeout", hsl, "keepalive_timeout 0;", "", "keepalive_timeout;", main_},
    {"send_timeout", hsl, "send_timeout 5s;", "", "send_timeout;", main_},
    {"longpoll_timeout", hsl, "longpoll_timeout 1m;", "", "longpoll_timeout;", main_},
    {"stream_keepalive", hsl, "stream_keepalive 20s;", "", "stream_keepalive;", main_},
    {"sse_retry", hsl, "sse_retry 500ms;", "", "sse_retry;", main_},
    {"ws_max_message_size", hsl, "ws_max_message_size 64k;", "", "ws_max_message_size;", main_},
    {"ws_max_queue", hsl, "ws_max_queue 2m;", "", "ws_max_queue;", main_},
    {"ws_close_timeout", hsl, "ws_close_timeout 2s;", "", "ws_close_timeout;", main_},
    {"ws_ping_interval", hsl, "ws_ping_interval 0;", "", "ws_ping_interval;", main_},
    {"ws_deflate", hsl, "ws_deflate off;", "", "ws_deflate;", main_},
    {"ws_deflate_min_size", hsl, "ws_deflate_min_size 1k;", "", "ws_deflate_min_size;", main_},
    {"ws_deflate_level", hsl, "ws_deflate_level 9;", "", "ws_deflate_level 1 2;", main_},
    {"push_format", hsl, "push_format json;", "", "push_format;", main_},
    {"max_channels_per_connection", hsl, "max_channels_per_connection 255;", "",
     "max_channels_per_connection 1 2;", main_},
    {"push_trusted", hsl, "push_trusted on;", "", "push_trusted;", main_},
    {"default_type", hsl, "default_type text/html;", "", "default_type;", channel},
    {"real_ip_from", hsl, "real_ip_from 10.0.0.0/8;", "", "real_ip_from a b;", main_},
    {"real_ip_header", hsl, "real_ip_header X-Forwarded-For;", "", "real_ip_header;", main_},
    {"limit_conn_per_addr", hs, "limit_conn_per_addr 10;", "", "limit_conn_per_addr;",
     location},
    {"limit_rate_per_addr", hs, "limit_rate_per_addr 5/s burst=10;", "",
     "limit_rate_per_addr 5/s burst=1 x;", location},
    {"auth_request", hsl, "auth_request http://127.0.0.1:3000/auth;", "", "auth_request;", channel},
    {"auth_request_timeout", hsl, "auth_request_timeout 2s;", "", "auth_request_timeout 1 2;", main_},
    {"auth_request_cache", hsl, "auth_request_cache 10s;", "", "auth_request_cache;", events},
    {"on_subscribe", hsl, "on_subscribe http://localhost/hook;", "", "on_subscribe a b;", channel},
    {"on_unsubscribe", hsl, "on_unsubscribe off;", "", "on_unsubscribe;", main_},
    {"auth_jwt", hsl, "auth_jwt 0123456789abcdef0123456789abcdef publish;", "",
     "auth_jwt a publish x;", main_},
    {"auth_jwt_cookie", hsl, "auth_jwt_cookie jwt;", "", "auth_jwt_cookie;", channel},
    {"auth_jwt_leeway", hsl, "auth_jwt_leeway 5s;", "", "auth_jwt_leeway 1 2;", events},
};

constexpr Ctx all_ctx[] = {main_, events, http, server, location, channel};

std::string at(Ctx ctx, int line_offset, const std::string& msg) {
    return "t.conf:" + std::to_string(base_line(ctx) + line_offset) + ":1: " + msg;
}

bool is_multi(const char* name, unsigned good) {
    // The row's context picks the entry when a name has several (`channel`).
    for (const detail::Spec& s : detail::directive_table()) {
        bool ctx_match = (good & events && s.contexts & detail::ctx_events) ||
                         (good & http && s.contexts & detail::ctx_http) ||
                         (good & server && s.contexts & detail::ctx_server) ||
                         (good & location && s.contexts & detail::ctx_location) ||
                         (good & channel && s.contexts & detail::ctx_channel) ||
                         (good & main_ && s.contexts & detail::ctx_main);
        if (s.name == name && ctx_match) return s.multi;
    }
    cr_assert_fail("%s: not in the table", name);
    std::abort();
}

} // namespace

Test(config_directives, load_in_every_allowed_context) {
    for (const Row& r : rows)
        for (Ctx ctx : all_ctx) {
            if (!(r.good & ctx)) continue;
            std::string got = load_error(wrap(ctx, std::string(r.stmt) + " " + r.extra));
            cr_expect_str_eq(got.c_str(), "OK", "%s in %s", r.name, ctx_name(ctx));
        }
}

Test(config_directives, wrong_number_of_arguments) {
    for (const Row& r : rows) {
        Ctx ctx = main_;
        for (Ctx c : all_ctx)
            if (r.good & c) {
                ctx = c;
                break;
            }
        std::string got = load_error(wrap(ctx, std::string(r.bad) + " " + r.extra));
        std::string want =
            at(ctx, 0, "invalid number of arguments in \"" + std::string(r.name) + "\" directive");
        cr_expect_str_eq(got.c_str(), want.c_str(), "%s", r.name);
    }
}

Test(config_directives, not_allowed_here) {
    for (const Row& r : rows) {
        cr_assert(!(r.good & r.wrong), "%s: bad row", r.name);
        std::string got = load_error(wrap(r.wrong, r.stmt));
        std::string want =
            at(r.wrong, 0, "\"" + std::string(r.name) + "\" directive is not allowed here");
        cr_expect_str_eq(got.c_str(), want.c_str(), "%s in %s", r.name, ctx_name(r.wrong));
    }
}

Test(config_directives, duplicates_unless_repeatable) {
    for (const Row& r : rows) {
        if (is_multi(r.name, r.good)) continue;
        Ctx ctx = main_;
        for (Ctx c : all_ctx)
            if (r.good & c) {
                ctx = c;
                break;
            }
        std::string body = std::string(r.stmt) + " " + r.extra + "\n" + r.stmt;
        std::string got = load_error(wrap(ctx, body));
        std::string want = at(ctx, 1, "\"" + std::string(r.name) + "\" directive is duplicate");
        cr_expect_str_eq(got.c_str(), want.c_str(), "%s", r.name);
    }
}

Test(config_directives, repeatable_ones_accumulate) {
    std::string text = "http { server { listen 1; listen 2;\n"
                       "server_name a; server_name b c;\n"
                       "index x.html; index y.html;\n"
                       "location /a/ { allow 10.0.0.1; deny all; allow ::1; }\n"
                       "location /b/ { }\n"
                       "} server { listen 3; } types { a/b b; } types { c/d d; } }";
    auto cfg = config::load_config_string(text, "t.conf");
    cr_assert_eq(cfg->servers.size(), 2u);
    const config::ServerConf& s = cfg->servers[0];
    cr_expect_eq(s.listens.size(), 2u);
    cr_expect_eq(s.server_names.size(), 3u);
    cr_expect_eq(s.index.size(), 2u);
    cr_expect_eq(s.locations.size(), 2u);
    cr_assert_eq(s.locations[0].access.size(), 3u);
    cr_expect(s.locations[0].access[0].allow && !s.locations[0].access[1].allow &&
              s.locations[0].access[1].all && s.locations[0].access[2].allow);
    cr_expect_eq(cfg->mime_types.size(), 2u);
}

Test(config_directives, every_table_entry_has_a_row) {
    for (const detail::Spec& s : detail::directive_table()) {
        bool found = false;
        for (const Row& r : rows) found = found || s.name == r.name;
        cr_expect(found, "%.*s has no row", int(s.name.size()), s.name.data());
        cr_expect(s.handler != nullptr);
        cr_expect(s.min_args <= s.max_args);
    }
}

Test(config_directives, real_ip_and_limits_inherit_and_a_deeper_list_replaces) {
    std::string text = "http { real_ip_from 10.0.0.0/8; real_ip_from ::1;\n"
                       "real_ip_header x-forwarded-for; limit_rate_per_addr 3/s;\n"
                       "server { listen 1; limit_conn_per_addr 4;\n"
                       "location /a/ { real_ip_from 127.0.0.1; real_ip_header X-Real-IP; }\n"
                       "location /b/ { } } }";
    auto cfg = config::load_config_string(text, "t.conf");
    const config::ServerConf& s = cfg->servers[0];
    const config::Limits& a = s.locations[0].limits;
    const config::Limits& b = s.locations[1].limits;
    cr_expect_eq(s.limits.real_ip_from.size(), 2u);
    cr_expect_eq(a.real_ip_from.size(), 1u);
    cr_expect(a.real_ip_header == config::RealIpHeader::x_real_ip);
    cr_expect_eq(b.real_ip_from.size(), 2u);
    cr_expect(b.real_ip_header == config::RealIpHeader::x_forwarded_for);
    cr_expect_eq(b.limit_conn_per_addr, 4u);
    cr_expect_eq(b.limit_rate_per_addr, 3u);
    cr_expect_eq(b.limit_rate_burst, 0u);
    cr_expect_eq(cfg->http_limits.limit_conn_per_addr, 0u);
}

Test(config_directives, real_ip_and_limit_values_are_checked) {
    static const struct {
        const char* stmt;
        const char* want;
    } cases[] = {
        {"real_ip_from all;", "invalid value \"all\" in \"real_ip_from\" directive, it must be an "
                              "address or a CIDR"},
        {"real_ip_from 10.0.0.0/33;", "invalid value \"10.0.0.0/33\" in \"real_ip_from\" "
                                      "directive, it must be an address or a CIDR"},
        {"real_ip_from unix:;", "invalid value \"unix:\" in \"real_ip_from\" directive, it must "
                                "be an address or a CIDR"},
        {"real_ip_header Forwarded;", "invalid value \"Forwarded\" in \"real_ip_header\" "
                                      "directive, it must be X-Forwarded-For, X-Real-IP or "
                                      "proxy_protocol"},
        {"limit_rate_per_addr 5;", "invalid value \"5\" in \"limit_rate_per_addr\" directive, it "
                                   "must be N/s with N from 1 to 1000000"},
        {"limit_rate_per_addr 0/s;", "invalid value \"0/s\" in \"limit_rate_per_addr\" "
                                     "directive, it must be N/s with N from 1 to 1000000"},
        {"limit_rate_per_addr 5/s burst=x;", "invalid value \"burst=x\" in "
                                             "\"limit_rate_per_addr\" directive, it must be "
                                             "burst=M with M from 0 to 1000000"},
        {"limit_rate_per_addr 1000001/s;", "invalid value \"1000001/s\" in "
                                           "\"limit_rate_per_addr\" directive, it must be N/s "
                                           "with N from 1 to 1000000"},
        {"limit_rate_per_addr 5/s burst=1000001;", "invalid value \"burst=1000001\" in "
                                                   "\"limit_rate_per_addr\" directive, it must "
                                                   "be burst=M with M from 0 to 1000000"},
    };
    for (const auto& c : cases) {
        std::string got = load_error(wrap(server, c.stmt));
        cr_expect(got.find(c.want) != std::string::npos, "%s: got %s", c.stmt, got.c_str());
    }
    // The largest values load.
    auto cfg = config::load_config_string(
        wrap(server, "limit_rate_per_addr 1000000/s burst=1000000;"), "t.conf");
    cr_expect_eq(cfg->servers[0].limits.limit_rate_per_addr, 1'000'000u);
    cr_expect_eq(cfg->servers[0].limits.limit_rate_burst, 1'000'000u);
}

// auth_jwt: literal and file keys, short keys refused at the key's FILE:LINE:COL, `off`, and
// inheritance http -> server -> location (the key never appears in a message).
Test(config_directives, auth_jwt_keys_and_inheritance) {
    const std::string key = "0123456789abcdef0123456789abcdef";
    herald::test::TempDir dir;
    const std::string file = dir.write("jwt.key", key + "XY\r\n");
    auto cfg = config::load_config_string(
        "http { auth_jwt \"file:" + file + "\" publish; auth_jwt_leeway 2s;\n"
        "server { listen 1; auth_jwt_cookie tok;\n"
        "location /a/ { } location /b/ { auth_jwt off; } location /c/ { auth_jwt " + key +
            "; } } }",
        "t.conf");
    const auto& locs = cfg->servers[0].locations;
    cr_expect(locs[0].limits.jwt.key == key + "XY");
    cr_expect(locs[0].limits.jwt.publish);
    cr_expect_eq(locs[0].limits.jwt.leeway.count(), 2000);
    cr_expect(locs[0].limits.jwt.cookie == "tok");
    cr_expect(locs[1].limits.jwt.key.empty() && !locs[1].limits.jwt.publish);
    cr_expect(locs[2].limits.jwt.key == key);
    cr_expect(!locs[2].limits.jwt.publish);

    std::string got = load_error("http { auth_jwt short; }");
    cr_expect_str_eq(got.c_str(),
                     "t.conf:1:17: the \"auth_jwt\" key is 5 bytes, HS256 needs at least 32");
    got = load_error("http {\n  auth_jwt \"file:missing.key\"; }");
    cr_expect(got.find("t.conf:2:12: open() \"") == 0 && got.find("missing.key\" failed") !=
              std::string::npos, "%s", got.c_str());
    got = load_error("http { auth_jwt " + key + " subscribe; }");
    cr_expect_str_eq(got.c_str(), "t.conf:1:50: invalid value \"subscribe\" in \"auth_jwt\" "
                                  "directive, it must be \"publish\"");
    got = load_error("http { auth_jwt_cookie \"a b\"; }");
    cr_expect(got.find("t.conf:1:24: invalid value") == 0, "%s", got.c_str());
}

// The auth_jwt limits: a key file of max_key_file_bytes loads, one byte more is refused at the
// key's FILE:LINE:COL; auth_jwt_leeway goes up to a day.
Test(config_directives, auth_jwt_limits) {
    herald::test::TempDir dir;
    const std::string at_limit = dir.write("max.key", std::string(max_key_file_bytes, 'k'));
    const std::string over = dir.write("over.key", std::string(max_key_file_bytes + 1, 'k'));
    auto cfg = config::load_config_string(
        "http { auth_jwt \"file:" + at_limit + "\"; server { listen 1; } }", "t.conf");
    cr_expect_eq(cfg->servers[0].limits.jwt.key.size(), max_key_file_bytes);
    std::string got = load_error("http { auth_jwt \"file:" + over + "\"; }");
    cr_expect(got.find("t.conf:1:17: \"") == 0 &&
                  got.find("over.key\" is too large (over " + std::to_string(max_key_file_bytes) +
                           " bytes)") != std::string::npos,
              "%s", got.c_str());

    cfg = config::load_config_string(
        "http { auth_jwt_leeway 86400s; server { listen 1; } }", "t.conf");
    cr_expect_eq(cfg->servers[0].limits.jwt.leeway.count(), 86'400'000);
    got = load_error("http { auth_jwt_leeway 86401s; }");
    cr_expect(got.find("t.conf:1:24: invalid value \"86401s\"") == 0 &&
                  got.find("it must be between") != std::string::npos,
              "%s", got.c_str());
}

// The Redis broker's directives: defaults, every accepted form, and each error at its
// FILE:LINE:COL (the password never appears in a message).
Test(config_directives, redis_broker_values) {
    auto cfg = config::load_config_string("http { }", "t.conf");
    cr_expect(cfg->broker == config::BrokerKind::memory);
    cr_expect(cfg->redis.host.empty() && cfg->redis.port == 0);
    cr_expect(cfg->redis.user.empty() && cfg->redis.password.empty());
    cr_expect_str_eq(cfg->redis.prefix.c_str(), "herald:");
    cr_expect_eq(cfg->redis.database, 0);
    cr_expect_eq(cfg->redis.timeout.count(), 2000);

    cfg = config::load_config_string(
        "http {\nbroker redis;\nredis_server 10.1.2.3:6380;\nredis_user app;\n"
        "redis_password \"p w\";\nredis_prefix t-1.x_y:;\nredis_database 1023;\n"
        "redis_timeout 10ms; }",
        "t.conf");
    cr_expect(cfg->broker == config::BrokerKind::redis);
    cr_expect_str_eq(cfg->redis.host.c_str(), "10.1.2.3");
    cr_expect_eq(cfg->redis.port, 6380);
    cr_expect_str_eq(cfg->redis.user.c_str(), "app");
    cr_expect_str_eq(cfg->redis.password.c_str(), "p w");
    cr_expect_str_eq(cfg->redis.prefix.c_str(), "t-1.x_y:");
    cr_expect_eq(cfg->redis.database, 1023);
    cr_expect_eq(cfg->redis.timeout.count(), 10);

    // The server may come after `broker`, and an IPv6 address is written in brackets.
    cfg = config::load_config_string(
        "http { redis_timeout 60s; broker redis; redis_server [::1]:1; }", "t.conf");
    cr_expect_str_eq(cfg->redis.host.c_str(), "::1");
    cr_expect_eq(cfg->redis.port, 1);
    cr_expect_eq(cfg->redis.timeout.count(), 60'000);
    cfg = config::load_config_string("http { redis_server [::ffff:10.0.0.1]:65535; }", "t.conf");
    cr_expect_str_eq(cfg->redis.host.c_str(), "::ffff:10.0.0.1");
    cr_expect_eq(cfg->redis.port, 65535);
    cr_expect_eq(cfg->redis.servers.size(), 1);

    // Several lines are the seed nodes of a Redis Cluster, in order; host:port is the first.
    cfg = config::load_config_string("http { broker redis; redis_server 127.0.0.1:7001;\n"
                                     "redis_server [::1]:7002; redis_server 10.0.0.3:7003; }",
                                     "t.conf");
    cr_assert_eq(cfg->redis.servers.size(), 3);
    cr_expect_str_eq(cfg->redis.host.c_str(), "127.0.0.1");
    cr_expect_eq(cfg->redis.port, 7001);
    cr_expect(cfg->redis.servers[0] == (config::RedisConf::Server{"127.0.0.1", 7001}));
    cr_expect(cfg->redis.servers[1] == (config::RedisConf::Server{"::1", 7002}));
    cr_expect(cfg->redis.servers[2] == (config::RedisConf::Server{"10.0.0.3", 7003}));

    // redis_* without `broker redis` are accepted and unused.
    cfg = config::load_config_string(
        "http { broker memory; redis_server 127.0.0.1:6379; redis_prefix x; }", "t.conf");
    cr_expect(cfg->broker == config::BrokerKind::memory);
    cr_expect_str_eq(cfg->redis.prefix.c_str(), "x");
    cfg = config::load_config_string(
        "http { redis_prefix " + std::string(config::max_redis_prefix, 'p') + "; }", "t.conf");
    cr_expect_eq(cfg->redis.prefix.size(), config::max_redis_prefix);
}

Test(config_directives, redis_broker_errors) {
    static const char* const server_form =
        ", it must be HOST:PORT with a numeric IPv4 or [IPv6] address or a host name, and a "
        "port from 1 to 65535";
    const std::string long_prefix(config::max_redis_prefix + 1, 'p');
    const std::string long_password(1025, 'k');
    const struct {
        std::string text;
        std::string want;
    } cases[] = {
        {"http { broker nats; }",
         "t.conf:1:15: invalid value \"nats\" in \"broker\" directive, it must be \"memory\" or "
         "\"redis\""},
        {"http {\n  broker redis;\n}",
         "t.conf:2:3: \"broker redis\" requires a \"redis_server\""},
        {"http { broker redis;\n  redis_server 127.0.0.1:1;\n  redis_server 127.0.0.1:1; }",
         "t.conf:3:3: \"redis_server\" 127.0.0.1:1 is duplicate"},
        {"http { broker redis;\n" + [] {
             std::string lines;
             for (std::size_t i = 1; i <= config::max_redis_servers + 1; ++i)
                 lines += "redis_server 127.0.0.1:" + std::to_string(i) + ";\n";
             return lines;
         }() + "}",
         "t.conf:18:1: too many \"redis_server\" directives (at most 16 Redis Cluster seed "
         "nodes)"},
        {"http { redis_server redis_1:6379; }",
         "t.conf:1:21: invalid value \"redis_1:6379\" in \"redis_server\" directive" +
             std::string(server_form)},
        {"http { redis_server 127.0.0.1; }",
         "t.conf:1:21: invalid value \"127.0.0.1\" in \"redis_server\" directive" +
             std::string(server_form)},
        {"http { redis_server 127.0.0.1:0; }",
         "t.conf:1:21: invalid value \"127.0.0.1:0\" in \"redis_server\" directive" +
             std::string(server_form)},
        {"http { redis_server 127.0.0.1:65536; }",
         "t.conf:1:21: invalid value \"127.0.0.1:65536\" in \"redis_server\" directive" +
             std::string(server_form)},
        {"http { redis_server ::1:6379; }",
         "t.conf:1:21: invalid value \"::1:6379\" in \"redis_server\" directive" +
             std::string(server_form)},
        {"http { redis_server [127.0.0.1]:6379; }",
         "t.conf:1:21: invalid value \"[127.0.0.1]:6379\" in \"redis_server\" directive" +
             std::string(server_form)},
        {"http { redis_server 6379; }",
         "t.conf:1:21: invalid value \"6379\" in \"redis_server\" directive" +
             std::string(server_form)},
        {"http { redis_prefix \"a{b}\"; }",
         "t.conf:1:21: invalid value \"a{b}\" in \"redis_prefix\" directive, it must be 1-64 of "
         "A-Z a-z 0-9 _ . : -"},
        {"http { redis_prefix \"\"; }",
         "t.conf:1:21: invalid value \"\" in \"redis_prefix\" directive, it must be 1-64 of A-Z "
         "a-z 0-9 _ . : -"},
        {"http { redis_prefix " + long_prefix + "; }",
         "t.conf:1:21: invalid value \"" + long_prefix +
             "\" in \"redis_prefix\" directive, it must be 1-64 of A-Z a-z 0-9 _ . : -"},
        {"http { redis_database 1024; }",
         "t.conf:1:23: invalid value \"1024\" in \"redis_database\" directive, it must be "
         "between 0 and 1023"},
        {"http { redis_database -1; }",
         "t.conf:1:23: invalid value \"-1\" in \"redis_database\" directive"},
        {"http { redis_timeout 9ms; }",
         "t.conf:1:22: invalid value \"9ms\" in \"redis_timeout\" directive, it must be between "
         "10ms and 1m"},
        {"http { redis_timeout 61s; }",
         "t.conf:1:22: invalid value \"61s\" in \"redis_timeout\" directive, it must be between "
         "10ms and 1m"},
        {"http { redis_user \"a b\"; redis_password x; }",
         "t.conf:1:19: invalid value \"a b\" in \"redis_user\" directive, it must be 1-128 "
         "printable characters without spaces"},
        {"http {\nredis_password x;\n  redis_user app; }",
         "OK"},
        {"http {\n  redis_user app; }", "t.conf:2:3: \"redis_user\" requires a \"redis_password\""},
        {"http { redis_password \"\"; }",
         "t.conf:1:23: the \"redis_password\" must be 1-1024 bytes"},
        {"http { redis_password " + long_password + "; }",
         "t.conf:1:23: the \"redis_password\" must be 1-1024 bytes"},
    };
    for (const auto& c : cases) {
        std::string got = load_error(c.text);
        cr_expect_str_eq(got.c_str(), c.want.c_str(), "%s", c.text.c_str());
    }
}
