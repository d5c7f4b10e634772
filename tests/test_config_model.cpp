// Unit tests for the typed config model: defaults, inheritance http -> server -> location,
// every directive's effect on the model, relative paths, MIME lookup and the shipped config.
#include <criterion/criterion.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "config/config.hpp"
#include "support/config_files.hpp"

namespace fs = std::filesystem;
using namespace herald;
using herald::test::TempDir;
using namespace std::chrono_literals;

namespace {

// Compares strings held by the caller (Criterion's str_eq keeps raw pointers, which would
// dangle for temporaries).
void expect_str(const std::string& got, const std::string& want) {
    cr_expect(got == want, "got:  %s\nwant: %s", got.c_str(), want.c_str());
}

std::shared_ptr<const config::Config> load(const std::string& text, const std::string& path = "t.conf") {
    try {
        return config::load_config_string(text, path);
    } catch (const config::ConfigError& e) {
        cr_assert_fail("unexpected config error: %s", e.what());
    }
    std::abort();
}

const config::LocationConf& find_location(const config::ServerConf& s, std::string_view path) {
    for (const config::LocationConf& l : s.locations)
        if (l.path == path) return l;
    cr_assert_fail("no location %.*s", int(path.size()), path.data());
    std::abort();
}

std::string cwd() { return fs::current_path().lexically_normal().string(); }

bool same_limits(const config::Limits& a, const config::Limits& b) {
    return a.client_max_body_size == b.client_max_body_size &&
           a.large_header_buffer == b.large_header_buffer &&
           a.max_header_bytes == b.max_header_bytes && a.max_header_count == b.max_header_count &&
           a.output_queue_limit == b.output_queue_limit &&
           a.client_header_timeout == b.client_header_timeout &&
           a.client_body_timeout == b.client_body_timeout &&
           a.keepalive_timeout == b.keepalive_timeout && a.send_timeout == b.send_timeout &&
           a.longpoll_timeout == b.longpoll_timeout && a.stream_keepalive == b.stream_keepalive &&
           a.sse_retry == b.sse_retry && a.ws_max_message_size == b.ws_max_message_size &&
           a.ws_max_queue == b.ws_max_queue && a.ws_close_timeout == b.ws_close_timeout &&
           a.ws_ping_interval == b.ws_ping_interval && a.push_format == b.push_format &&
           a.default_type == b.default_type && a.ws_deflate == b.ws_deflate &&
           a.ws_deflate_min_size == b.ws_deflate_min_size &&
           a.ws_deflate_level == b.ws_deflate_level &&
           a.max_channels_per_connection == b.max_channels_per_connection;
}

} // namespace

Test(config_model, defaults) {
    auto cfg = load("");
    expect_str(cfg->path, "t.conf");
    expect_str(cfg->prefix, cwd());
    cr_expect_eq(cfg->worker_threads, 1);
    expect_str(cfg->pid_file, (cwd() + "/herald.pid"));
    expect_str(cfg->error_log, "stderr");
    cr_expect(cfg->error_log_level == LogLevel::notice);
    cr_expect(!cfg->daemon && !cfg->user && !cfg->group);
    cr_expect(cfg->shutdown_timeout == 10s);
    cr_expect_eq(cfg->worker_connections, 10'000);
    cr_expect(cfg->access_log.empty() && cfg->mime_types.empty() && !cfg->channel_autocreate);
    cr_expect(cfg->autocreate_on_subscribe && cfg->channel_idle_timeout == 5min);
    cr_expect_eq(cfg->status_top_channels, 10u);
    cr_expect(cfg->channels.empty() && cfg->servers.empty());
    cr_expect(same_limits(cfg->http_limits, config::Limits{}));
}

Test(config_model, listen_proxy_protocol) {
    auto cfg = load("http { server { listen 127.0.0.1:80 proxy_protocol; } }");
    cr_expect(cfg->servers.at(0).listens.at(0).proxy_protocol);
}

Test(config_model, server_and_location_defaults) {
    auto cfg = load("http { server { listen 80; location / { } location =/e { } } }");
    const config::ServerConf& s = cfg->servers.at(0);
    cr_assert_eq(s.listens.size(), 1u);
    expect_str(s.listens[0].host, "0.0.0.0");
    cr_expect_eq(s.listens[0].port, 80);
    cr_expect(!s.listens[0].reuseport);
    cr_expect_eq(s.listens[0].backlog, 511);
    cr_expect(!s.listens[0].proxy_protocol);
    cr_expect(s.root.empty() && s.server_names.empty());
    cr_expect(s.index == std::vector<std::string>{"index.html"});
    cr_expect(same_limits(s.limits, config::Limits{}));
    const config::LocationConf& l = s.locations.at(0);
    cr_expect(l.match == config::LocationConf::Match::prefix && l.path == "/");
    cr_expect(l.root.empty() && l.index == std::vector<std::string>{"index.html"});
    cr_expect(l.push == config::PushStrategy::none && l.channel.kind == config::ChannelRef::Kind::none);
    cr_expect(!l.publish && !l.status && !l.echo);
    cr_expect(l.ws_protocols.empty() && l.allow_origin.empty() && l.access.empty());
    cr_expect(same_limits(l.limits, config::Limits{}));
    expect_str(l.file, "t.conf");
    expect_str(l.where, "t.conf:1:28");
    const config::LocationConf& e = s.locations.at(1);
    cr_expect(e.match == config::LocationConf::Match::exact && e.path == "/e");
}

Test(config_model, inheritance_http_server_location) {
    auto cfg = load(R"(
http {
    client_max_body_size 2m;
    default_type text/html;
    server {
        listen 80;
        keepalive_timeout 5s;
        root /srv/a;
        index a.html b.html;
        location / { client_max_body_size 4k; }
        location /b/ { root /srv/b; index c.html; push_format json; }
        ws_max_queue 8k;        # after the locations: still inherited by them
    }
    server { listen 81; }
    sse_retry 7s;               # after the servers: still inherited by them
    ws_ping_interval 0;
}
)");
    cr_expect_eq(cfg->http_limits.client_max_body_size, 2u << 20);
    cr_expect(cfg->http_limits.sse_retry == 7s);
    const config::ServerConf& s1 = cfg->servers.at(0);
    cr_expect_eq(s1.limits.client_max_body_size, 2u << 20);
    cr_expect(s1.limits.keepalive_timeout == 5s && s1.limits.sse_retry == 7s);
    cr_expect(s1.limits.ws_ping_interval == 0ms && s1.limits.default_type == "text/html");
    const config::LocationConf& a = find_location(s1, "/");
    cr_expect_eq(a.limits.client_max_body_size, 4096u);
    cr_expect(a.limits.keepalive_timeout == 5s && a.limits.sse_retry == 7s);
    cr_expect_eq(a.limits.ws_max_queue, 8192u);
    expect_str(a.root, "/srv/a");
    cr_expect(a.index == (std::vector<std::string>{"a.html", "b.html"}));
    const config::LocationConf& b = find_location(s1, "/b/");
    expect_str(b.root, "/srv/b");
    cr_expect(b.index == std::vector<std::string>{"c.html"});
    cr_expect(b.limits.push_format == config::PushFormat::json);
    cr_expect(a.limits.push_format == config::PushFormat::raw);
    cr_expect_eq(b.limits.client_max_body_size, 2u << 20);
    const config::ServerConf& s2 = cfg->servers.at(1);
    cr_expect(s2.limits.keepalive_timeout == 75s && s2.limits.sse_retry == 7s);
    cr_expect_eq(s2.limits.ws_max_queue, 1u << 20);
    cr_expect(s2.index == std::vector<std::string>{"index.html"});
}

Test(config_model, auth_request_and_hooks_inherit_and_turn_off) {
    auto cfg = load(R"(
http {
    auth_request http://127.0.0.1:3000/auth;
    auth_request_cache 30s;
    server {
        listen 80;
        on_subscribe http://localhost:3000/hook;
        location /a/ { auth_request_timeout 1s; }
        location /b/ { auth_request off; on_unsubscribe http://[::1]:4000/bye; }
    }
}
)");
    cr_expect(!cfg->http_limits.on_subscribe && cfg->http_limits.auth_request_timeout == 5s);
    const config::ServerConf& s = cfg->servers.at(0);
    const config::Limits& a = find_location(s, "/a/").limits;
    cr_assert(a.auth_request && a.on_subscribe && !a.on_unsubscribe);
    expect_str(a.auth_request->host, "127.0.0.1");
    cr_expect_eq(a.auth_request->port, 3000);
    expect_str(a.auth_request->path, "/auth");
    expect_str(a.on_subscribe->authority, "localhost:3000");
    cr_expect(a.auth_request_timeout == 1s && a.auth_request_cache == 30s);
    const config::Limits& b = find_location(s, "/b/").limits;
    cr_expect(!b.auth_request && b.on_subscribe && b.on_unsubscribe);
    cr_expect(b.auth_request_timeout == 5s && b.auth_request_cache == 30s);
}

Test(config_model, main_events_http_values) {
    auto cfg = load("worker_threads 8; pid run/h.pid; error_log logs/e.log debug; daemon on;\n"
                    "user www data; shutdown_timeout 500ms; events { worker_connections 5; }\n"
                    "http { access_log /var/log/a.log; channel_autocreate on; "
                    "status_top_channels 3; channel_autocreate_on_subscribe off; "
                    "channel_idle_timeout 90s; "
                    "large_header_buffer 4k; max_header_size 32k; max_headers 64;\n"
                    "output_queue_limit 256k; client_header_timeout 1m30s; client_body_timeout 9;"
                    " send_timeout 1h; longpoll_timeout 2m; stream_keepalive 0;"
                    " ws_max_message_size 16m; ws_close_timeout 250ms;"
                    " ws_deflate off; ws_deflate_min_size 2k; ws_deflate_level 1; }");
    cr_expect_eq(cfg->worker_threads, 8);
    expect_str(cfg->pid_file, (cwd() + "/run/h.pid"));
    expect_str(cfg->error_log, (cwd() + "/logs/e.log"));
    cr_expect(cfg->error_log_level == LogLevel::debug && cfg->daemon);
    cr_expect(cfg->user == "www" && cfg->group == "data");
    cr_expect(cfg->shutdown_timeout == 500ms && cfg->worker_connections == 5);
    expect_str(cfg->access_log, "/var/log/a.log");
    cr_expect(cfg->channel_autocreate);
    cr_expect(!cfg->autocreate_on_subscribe && cfg->channel_idle_timeout == 90s);
    cr_expect_eq(cfg->status_top_channels, 3u);
    const config::Limits& h = cfg->http_limits;
    cr_expect(h.large_header_buffer == 4096 && h.max_header_bytes == 32768 &&
              h.max_header_count == 64);
    cr_expect(h.output_queue_limit == 256 * 1024 && h.client_header_timeout == 90s);
    cr_expect(h.client_body_timeout == 9s && h.send_timeout == 1h && h.longpoll_timeout == 2min);
    cr_expect(h.stream_keepalive == 0ms && h.ws_max_message_size == 16u << 20);
    cr_expect(h.ws_close_timeout == 250ms);
    cr_expect(!h.ws_deflate && h.ws_deflate_min_size == 2048 && h.ws_deflate_level == 1);
}

Test(config_model, ws_deflate_defaults_and_range) {
    const config::Limits d;
    cr_expect(d.ws_deflate && d.ws_deflate_min_size == 64 && d.ws_deflate_level == 6);
    auto cfg = load("http { server { listen 127.0.0.1:80; location /a { ws_deflate_level 9; } } }");
    cr_expect(cfg->servers[0].locations[0].limits.ws_deflate_level == 9);
    for (const char* bad : {"http { ws_deflate_level 0; }", "http { ws_deflate_level 10; }",
                            "http { ws_deflate maybe; }", "http { ws_deflate_min_size -1; }"}) {
        try {
            config::load_config_string(bad, "t.conf");
            cr_assert_fail("accepted: %s", bad);
        } catch (const config::ConfigError& e) {
            cr_expect(std::string(e.what()).rfind("t.conf:1:", 0) == 0, "%s", e.what());
        }
    }
}

Test(config_model, worker_threads_auto) {
    auto cfg = load("worker_threads auto;");
    int cores = static_cast<int>(std::thread::hardware_concurrency());
    cr_expect_eq(cfg->worker_threads, cores < 1 ? 1 : cores > 256 ? 256 : cores);
}

Test(config_model, channels) {
    auto cfg =
        load("http { channel clock { buffer 16; ttl 1h; source clock 1s; max_subscribers 9; }"
             " channel chat { } }");
    cr_assert_eq(cfg->channels.size(), 2u);
    const config::ChannelConf& c = cfg->channels[0];
    cr_expect(c.name == "clock" && c.buffer == 16 && c.ttl == 1h && c.clock_interval == 1s);
    cr_expect_eq(c.max_subscribers, 9u);
    const config::ChannelConf& d = cfg->channels[1];
    cr_expect(d.name == "chat" && d.buffer == 100 && d.ttl == 0ms && d.clock_interval == 0ms);
}

Test(config_model, location_fields) {
    auto cfg = load(R"(http { channel news { } server {
    listen [::1]:0 reuseport backlog=64; server_name example.org;
    location /p/ { push polling; channel $tail; }
    location /l/ { push long-polling; channel news; allow_origin *; }
    location /i/ { push iframe; channel $arg_ch; }
    location /s/ { push sse; channel $tail; }
    location = /w { push websocket; channel news; publish on; ws_protocols chat v2;
                    allow_origin https://a.example http://b.example:8080; }
    location = /pub { publish; channel $arg_channel; allow 127.0.0.1; deny all; }
    location = /off { publish off; }
    location = /echo { push websocket; echo "服务器回应:"; }
    location = /status { status; }
} })");
    const config::ServerConf& s = cfg->servers.at(0);
    cr_expect(s.listens.at(0).host == "::1" && s.listens[0].port == 0 && s.listens[0].reuseport);
    cr_expect_eq(s.listens[0].backlog, 64);
    cr_expect(s.server_names == std::vector<std::string>{"example.org"});
    const config::LocationConf& p = find_location(s, "/p/");
    cr_expect(p.push == config::PushStrategy::polling && p.channel.kind == config::ChannelRef::Kind::tail);
    const config::LocationConf& l = find_location(s, "/l/");
    cr_expect(l.push == config::PushStrategy::long_polling && l.channel.kind == config::ChannelRef::Kind::literal);
    cr_expect(l.channel.value == "news" && l.allow_origin == std::vector<std::string>{"*"});
    const config::LocationConf& i = find_location(s, "/i/");
    cr_expect(i.push == config::PushStrategy::iframe && i.channel.kind == config::ChannelRef::Kind::query_arg);
    expect_str(i.channel.value, "ch");
    cr_expect(find_location(s, "/s/").push == config::PushStrategy::sse);
    const config::LocationConf& w = find_location(s, "/w");
    cr_expect(w.match == config::LocationConf::Match::exact && w.push == config::PushStrategy::websocket && w.publish);
    cr_expect(w.ws_protocols == (std::vector<std::string>{"chat", "v2"}));
    cr_expect_eq(w.allow_origin.size(), 2u);
    const config::LocationConf& pub = find_location(s, "/pub");
    cr_expect(pub.publish && pub.push == config::PushStrategy::none && pub.access.size() == 2);
    cr_expect(pub.access[0].allow && pub.access[0].prefix_len == 128 && pub.access[0].net[15] == 1);
    cr_expect(!pub.access[1].allow && pub.access[1].all);
    cr_expect(!find_location(s, "/off").publish);
    const config::LocationConf& e = find_location(s, "/echo");
    cr_expect(e.echo && *e.echo == "服务器回应:" && e.channel.kind == config::ChannelRef::Kind::none);
    cr_expect(find_location(s, "/status").status);
}

Test(config_model, to_string_names_strategies) {
    expect_str(to_string(config::PushStrategy::none), "none");
    expect_str(to_string(config::PushStrategy::polling), "polling");
    expect_str(to_string(config::PushStrategy::long_polling), "long-polling");
    expect_str(to_string(config::PushStrategy::iframe), "iframe");
    expect_str(to_string(config::PushStrategy::sse), "sse");
    expect_str(to_string(config::PushStrategy::websocket), "websocket");
}

Test(config_model, relative_paths_use_the_folder_of_their_file) {
    TempDir dir;
    std::string main = dir.write("main.conf", "pid herald.pid;\nerror_log ../logs/e.log;\n"
                                              "http { include sites/*.conf; access_log a.log; }\n");
    dir.write("sites/one.conf", "server { listen 1; root www/; location / { root ./x/../y; } "
                                "location /abs/ { root /; } }\n");
    auto cfg = config::load_config(main);
    fs::path parent = fs::path(dir.path()).parent_path();
    expect_str(cfg->prefix, dir.path());
    expect_str(cfg->pid_file, (dir.path() + "/herald.pid"));
    expect_str(cfg->error_log, (parent / "logs/e.log"));
    expect_str(cfg->access_log, (dir.path() + "/a.log"));
    const config::ServerConf& s = cfg->servers.at(0);
    expect_str(s.root, (dir.path() + "/sites/www"));
    expect_str(s.locations.at(0).root, (dir.path() + "/sites/y"));
    expect_str(s.locations.at(1).root, "/");
    expect_str(s.locations.at(0).file, (dir.path() + "/sites/one.conf"));
}

Test(config_model, mime_types_from_the_shipped_file) {
    std::string text = "http { include " + cwd() +
                       "/conf/mime.types;\n"
                       "types { text/x-custom html; } default_type application/x-default;\n"
                       "server { listen 1; location / { default_type text/x-loc; } } }";
    auto cfg = load(text);
    cr_expect_gt(cfg->mime_types.size(), 100u);
    const config::Limits& h = cfg->http_limits;
    struct C {
        const char* file;
        const char* type;
    };
    static const C cases[] = {
        {"index.htm", "text/html"},
        {"/a/b/PHOTO.JPG", "image/jpeg"},
        {"x.tar.gz", "application/gzip"},
        {"app.js", "text/javascript"},
        {"s.css", "text/css"},
        {"d.json", "application/json"},
        {"f.woff2", "font/woff2"},
        {"m.wasm", "application/wasm"},
        {"w.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
        {"page.html", "text/x-custom"},
        {"README", "application/x-default"},
        {"dot.", "application/x-default"},
        {"dir.d/file", "application/x-default"},
        {"a.unknownext", "application/x-default"},
        {"a.sixteencharsext", "application/x-default"},
    };
    for (const C& c : cases)
        cr_expect(mime_type_for(*cfg, h, c.file) == c.type, "%s -> %s", c.file,
                  std::string(mime_type_for(*cfg, h, c.file)).c_str());
    const config::LocationConf& l = cfg->servers.at(0).locations.at(0);
    cr_expect(mime_type_for(*cfg, l.limits, "x.nope") == "text/x-loc");
    cr_expect(mime_type_for(*cfg, l.limits, "x.PNG") == "image/png");
}

Test(config_model, shipped_config_loads) {
    std::shared_ptr<const config::Config> cfg;
    try {
        cfg = config::load_config("conf/herald.conf");
    } catch (const config::ConfigError& e) {
        cr_assert_fail("conf/herald.conf: %s", e.what());
    }
    cr_expect_geq(cfg->worker_threads, 1);
    cr_expect(cfg->error_log == "stderr" && cfg->error_log_level == LogLevel::notice);
    cr_expect_eq(cfg->worker_connections, 10'000);
    cr_expect(cfg->access_log.empty());
    cr_expect(cfg->mime_types.at("html") == "text/html");
    cr_assert_eq(cfg->channels.size(), 2u);
    cr_expect(cfg->channels[0].name == "clock" && cfg->channels[0].buffer == 16);
    cr_expect(cfg->channels[0].clock_interval == 1s);
    cr_expect(cfg->channels[1].name == "chat" && cfg->channels[1].buffer == 200);
    cr_assert_eq(cfg->servers.size(), 1u);
    const config::ServerConf& s = cfg->servers[0];
    cr_expect(s.listens.at(0).host == "127.0.0.1" && s.listens[0].port == 8080);
    std::string www = (fs::current_path() / "www").lexically_normal().string();
    expect_str(s.root, www);
    struct Route {
        const char* path;
        config::LocationConf::Match match;
        config::PushStrategy push;
        config::ChannelRef::Kind ch;
    };
    using M = config::LocationConf::Match;
    using K = config::ChannelRef::Kind;
    static const Route routes[] = {
        {"/", M::prefix, config::PushStrategy::none, K::none},
        {"/poll/", M::prefix, config::PushStrategy::polling, K::tail},
        {"/longpoll/", M::prefix, config::PushStrategy::long_polling, K::tail},
        {"/iframe/", M::prefix, config::PushStrategy::iframe, K::tail},
        {"/sse/", M::prefix, config::PushStrategy::sse, K::tail},
        {"/ws/", M::prefix, config::PushStrategy::websocket, K::tail},
        {"/mux", M::exact, config::PushStrategy::websocket, K::none},
        {"/ws/chat", M::exact, config::PushStrategy::websocket, K::literal},
        {"/chat/send", M::exact, config::PushStrategy::none, K::literal},
        {"/pub", M::exact, config::PushStrategy::none, K::query_arg},
        {"/echo", M::exact, config::PushStrategy::websocket, K::none},
        {"/status", M::exact, config::PushStrategy::none, K::none},
    };
    cr_expect_eq(s.locations.size(), std::size(routes));
    for (const Route& r : routes) {
        const config::LocationConf& l = find_location(s, r.path);
        cr_expect(l.match == r.match && l.push == r.push && l.channel.kind == r.ch, "%s", r.path);
        cr_expect_str_eq(l.root.c_str(), www.c_str(), "%s", r.path);
    }
    cr_expect(find_location(s, "/mux").multiplex && !find_location(s, "/mux").publish);
    cr_expect(find_location(s, "/ws/chat").publish);
    cr_expect(find_location(s, "/chat/send").publish);
    cr_expect_eq(find_location(s, "/chat/send").limits.client_max_body_size, 4096u);
    const config::LocationConf& pub = find_location(s, "/pub");
    cr_expect(pub.publish && pub.channel.value == "channel" && pub.access.size() == 2);
    cr_expect(*find_location(s, "/echo").echo == "服务器回应:");
    cr_expect(find_location(s, "/status").status);
}
