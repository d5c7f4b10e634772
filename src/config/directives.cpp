// The directive table: every directive herald knows, where it may appear, its arity, and the
// handler that stores its value in the Config. Generic checks live in Loader::dispatch().
#include <algorithm>
#include <array>
#include <thread>

#include "config/loader.hpp"
#include "config/parser.hpp"
#include "config/values.hpp"
#include "core/ascii.hpp"
#include "core/limits.hpp"

namespace herald::config::detail {
namespace {

constexpr std::uint16_t ctx_hsl = ctx_http | ctx_server | ctx_location;
constexpr std::uint16_t ctx_hs = ctx_http | ctx_server;
constexpr std::uint16_t ctx_sl = ctx_server | ctx_location;

constexpr std::uint64_t kib = 1024, mib = 1024 * kib, gib = 1024 * mib;
constexpr Duration no_time{0};
constexpr Duration max_time{10LL * 365 * 86'400'000}; // parse_duration()'s ceiling
constexpr int max_worker_threads = 256;
constexpr Duration max_jwt_leeway{86'400'000}; // a day: more would make exp meaningless
constexpr std::uint64_t max_status_top_channels = 1000; // bounds /status size and metric series
constexpr std::uint64_t max_redis_database = 1023;        // SELECT index (Redis has 16 by default)
constexpr Duration min_redis_timeout{10}, max_redis_timeout{60'000};
constexpr std::size_t max_redis_user = 128;      // ACL user name bytes
constexpr std::size_t max_redis_password = 1024; // AUTH password bytes

std::string dquote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Limits fields, set on the innermost http/server/location being read.
template <std::uint64_t Limits::*Field, std::uint64_t Min, std::uint64_t Max>
void size_limit(Loader& l, const Directive& d) {
    l.limits->*Field = l.size(d, 0, Min, Max);
}

template <std::uint32_t Limits::*Field, std::uint64_t Min, std::uint64_t Max>
void small_size_limit(Loader& l, const Directive& d) {
    l.limits->*Field = static_cast<std::uint32_t>(l.size(d, 0, Min, Max));
}

template <Duration Limits::*Field, Duration::rep MinMs>
void time_limit(Loader& l, const Directive& d) {
    l.limits->*Field = l.time(d, 0, Duration(MinMs), max_time);
}

void max_headers(Loader& l, const Directive& d) {
    l.limits->max_header_count = static_cast<std::uint32_t>(l.number(d, 0, 1, herald::max_headers));
}

void push_format(Loader& l, const Directive& d) {
    const std::string& v = d.args[0].value;
    if (v != "raw" && v != "json") l.invalid(d, 0, ", it must be \"raw\" or \"json\"");
    l.limits->push_format = v == "raw" ? PushFormat::raw : PushFormat::json;
}

void default_type(Loader& l, const Directive& d) {
    if (d.args[0].value.find('/') == std::string::npos) l.invalid(d, 0);
    if (!is_header_safe(d.args[0].value))
        l.fail(d, 0, "control character in the value of \"default_type\" directive");
    l.limits->default_type = d.args[0].value;
}

// `auth_request`, `on_subscribe`, `on_unsubscribe`: a URL or off (which undoes an inherited one).
template <std::optional<UpstreamUrl> Limits::*Field>
void upstream_url(Loader& l, const Directive& d) {
    if (d.args[0].value == "off") {
        (l.limits->*Field).reset();
        return;
    }
    UpstreamUrl u;
    if (!parse_upstream_url(d.args[0].value, u))
        l.invalid(d, 0, ", it must be http://HOST[:PORT][/PATH] with an IP address or localhost");
    l.limits->*Field = std::move(u);
}

// Redis broker (http)

void broker(Loader& l, const Directive& d) {
    const std::string& v = d.args[0].value;
    if (v != "memory" && v != "redis") l.invalid(d, 0, ", it must be \"memory\" or \"redis\"");
    l.cfg.broker = v == "redis" ? BrokerKind::redis : BrokerKind::memory;
}

// One line: the Redis server (or any node of a Redis Cluster); several: Redis Cluster seeds.
void redis_server(Loader& l, const Directive& d) {
    RedisConf& r = l.cfg.redis;
    if (r.servers.size() >= max_redis_servers)
        l.fail(d, "too many \"redis_server\" directives (at most " +
                      std::to_string(max_redis_servers) + " Redis Cluster seed nodes)");
    RedisConf::Server s;
    if (!parse_host_port(d.args[0].value, s.host, s.port))
        l.invalid(d, 0,
                  ", it must be HOST:PORT with a numeric IPv4 or [IPv6] address or a host name, "
                  "and a port from 1 to 65535");
    if (std::find(r.servers.begin(), r.servers.end(), s) != r.servers.end())
        l.fail(d, "\"redis_server\" " + d.args[0].value + " is duplicate");
    if (r.servers.empty()) {
        r.host = s.host;
        r.port = s.port;
    }
    r.servers.push_back(std::move(s));
}

bool is_printable_word(std::string_view s) noexcept {
    return std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

void redis_user(Loader& l, const Directive& d) {
    const std::string& v = d.args[0].value;
    if (v.empty() || v.size() > max_redis_user || !is_printable_word(v))
        l.invalid(d, 0,
                  ", it must be 1-" + std::to_string(max_redis_user) +
                      " printable characters without spaces");
    l.cfg.redis.user = v;
}

void redis_password(Loader& l, const Directive& d) {
    const std::string& v = d.args[0].value;
    if (v.empty() || v.size() > max_redis_password) // the value is a secret: never echoed
        l.fail(d, 0,
               "the \"redis_password\" must be 1-" + std::to_string(max_redis_password) + " bytes");
    l.cfg.redis.password = v;
}

void redis_prefix(Loader& l, const Directive& d) {
    if (!is_valid_redis_prefix(d.args[0].value))
        l.invalid(d, 0,
                  ", it must be 1-" + std::to_string(max_redis_prefix) +
                      " of A-Z a-z 0-9 _ . : -");
    l.cfg.redis.prefix = d.args[0].value;
}

// The first directive called name in block (block itself if none: the set value came from it).
const Directive& find_child(const Directive& block, std::string_view name) {
    for (const Directive& c : block.children)
        if (c.name == name) return c;
    return block;
}

// After the http block: `broker redis` needs a server; `redis_user` needs a password. The
// redis_* directives without `broker redis` are accepted and unused (as nginx keeps proxy_*
// settings that no proxy_pass uses).
void check_redis(const Loader& l, const Directive& http) {
    const RedisConf& r = l.cfg.redis;
    if (l.cfg.broker == BrokerKind::redis && r.host.empty())
        l.fail(find_child(http, "broker"), "\"broker redis\" requires a \"redis_server\"");
    if (!r.user.empty() && r.password.empty())
        l.fail(find_child(http, "redis_user"), "\"redis_user\" requires a \"redis_password\"");
}

// main and events

void worker_threads(Loader& l, const Directive& d) {
    if (d.args[0].value != "auto") {
        l.cfg.worker_threads = static_cast<int>(l.number(d, 0, 1, max_worker_threads));
        return;
    }
    int cores = static_cast<int>(std::thread::hardware_concurrency());
    l.cfg.worker_threads = std::clamp(cores, 1, max_worker_threads);
}

void error_log(Loader& l, const Directive& d) {
    l.cfg.error_log = d.args[0].value == "stderr" ? "stderr" : l.path(d, 0);
    if (d.args.size() < 2) return;
    static constexpr std::pair<std::string_view, LogLevel> levels[] = {{"debug", LogLevel::debug},
                                                                       {"info", LogLevel::info},
                                                                       {"notice", LogLevel::notice},
                                                                       {"warn", LogLevel::warn},
                                                                       {"error", LogLevel::error}};
    for (const auto& [name, level] : levels) {
        if (d.args[1].value != name) continue;
        l.cfg.error_log_level = level;
        return;
    }
    l.invalid(d, 1, ", it must be debug, info, notice, warn or error");
}

void user(Loader& l, const Directive& d) {
    l.cfg.user = d.args[0].value;
    if (d.args.size() > 1) l.cfg.group = d.args[1].value;
}

void http_block(Loader& l, const Directive& d) {
    l.limits = &l.cfg.http_limits;
    l.process(d.children, ctx_http);
    l.limits = nullptr;
    check_redis(l, d);
}

// http

void channel_block(Loader& l, const Directive& d) {
    const std::string& name = d.args[0].value;
    if (!is_valid_channel_name(name))
        l.invalid(d, 0, ", a channel name is 1-128 of A-Z a-z 0-9 _ . : -, not \".\" or \"..\"");
    for (const ChannelConf& c : l.cfg.channels)
        if (c.name == name) l.fail(d, 0, "duplicate channel " + dquote(name));
    l.cfg.channels.push_back(ChannelConf{});
    l.channel = &l.cfg.channels.back();
    l.channel->name = name;
    l.process(d.children, ctx_channel);
    l.channel = nullptr;
}

void source(Loader& l, const Directive& d) {
    if (d.args[0].value != "clock") l.invalid(d, 0, ", it must be \"clock\"");
    l.channel->clock_interval = l.time(d, 1, Duration(10), max_time);
}

void server_block(Loader& l, const Directive& d) {
    l.cfg.servers.push_back(ServerConf{});
    ServerConf& s = l.cfg.servers.back();
    s.limits = l.cfg.http_limits;
    l.server = &s;
    l.limits = &s.limits;
    l.process(d.children, ctx_server);
    if (s.listens.empty()) l.fail(d, "no \"listen\" in server");
    if (s.index.empty()) s.index = {"index.html"};
    l.server = nullptr;
    l.limits = &l.cfg.http_limits;
}

// server

void listen(Loader& l, const Directive& d) {
    ListenConf ls;
    if (!parse_listen_address(d.args[0].value, ls)) l.invalid(d, 0);
    for (std::size_t i = 1; i < d.args.size(); ++i) {
        std::string_view v = d.args[i].value;
        if (v == "reuseport") {
            ls.reuseport = true;
        } else if (v == "proxy_protocol") {
            ls.proxy_protocol = true;
        } else if (v.substr(0, 8) == "backlog=") {
            auto n = parse_number(v.substr(8));
            if (!n || *n < 1 || *n > 65535)
                l.invalid(d, i, ", backlog must be between 1 and 65535");
            ls.backlog = static_cast<int>(*n);
        } else {
            l.fail(d, i, "invalid parameter " + dquote(v));
        }
    }
    for (const ListenConf& other : l.server->listens)
        if (ls.port != 0 && other.host == ls.host && other.port == ls.port)
            l.fail(d, 0, "duplicate listen " + dquote(d.args[0].value));
    l.server->listens.push_back(std::move(ls));
}

void root(Loader& l, const Directive& d) {
    (l.location ? l.location->root : l.server->root) = l.path(d, 0);
}

void index(Loader& l, const Directive& d) {
    auto& names = l.location ? l.location->index : l.server->index;
    for (std::size_t i = 0; i < d.args.size(); ++i) {
        const std::string& v = d.args[i].value;
        if (v.empty() || v == "." || v == ".." || v.find('/') != std::string::npos)
            l.invalid(d, i, ", it must be a file name");
        names.push_back(v);
    }
}

void check_location(const Loader& l, const Directive& d, const LocationConf& loc);

void location_block(Loader& l, const Directive& d) {
    LocationConf loc;
    std::size_t path_arg = d.args.size() - 1;
    std::string_view path = d.args[path_arg].value;
    if (d.args.size() == 2 && d.args[0].value != "=")
        l.fail(d, 0, "invalid location modifier " + dquote(d.args[0].value));
    if (d.args.size() == 2 || (path.size() > 1 && path[0] == '=')) {
        loc.match = LocationConf::Match::exact;
        if (d.args.size() == 1) path.remove_prefix(1);
    }
    if (path.empty() || path[0] != '/')
        l.fail(d, path_arg,
               "invalid location " + dquote(d.args[path_arg].value) +
                   ", it must start with \"/\" (regex and named locations are not supported)");
    loc.path = path;
    for (const LocationConf& other : l.server->locations)
        if (other.match == loc.match && other.path == loc.path)
            l.fail(d, path_arg, "duplicate location " + dquote(loc.path));
    loc.limits = l.server->limits;
    loc.file = l.file(d);
    loc.where = l.where(d);
    l.server->locations.push_back(std::move(loc));
    LocationConf& cur = l.server->locations.back();
    l.location = &cur;
    l.limits = &cur.limits;
    l.process(d.children, ctx_location);
    check_location(l, d, cur);
    if (cur.root.empty()) cur.root = l.server->root;
    if (cur.index.empty())
        cur.index =
            l.server->index.empty() ? std::vector<std::string>{"index.html"} : l.server->index;
    l.location = nullptr;
    l.limits = &l.server->limits;
}

// A location is one kind: static, push (websocket may also publish or echo), publish, status.
void check_location(const Loader& l, const Directive& d, const LocationConf& loc) {
    const std::string in = " in location " + dquote(loc.path);
    bool pushes = loc.push != PushStrategy::none;
    bool websocket = loc.push == PushStrategy::websocket;
    bool has_channel = loc.channel.kind != ChannelRef::Kind::none;
    if (loc.status && (pushes || loc.publish || loc.echo || has_channel))
        l.fail(d,
               "\"status\" cannot be combined with \"push\", \"publish\", \"channel\" or \"echo\"" +
                   in);
    if (loc.echo && !websocket) l.fail(d, "\"echo\" requires \"push websocket\"" + in);
    if (loc.echo && loc.publish) l.fail(d, "\"echo\" cannot be combined with \"publish\"" + in);
    if (loc.multiplex && !websocket) l.fail(d, "\"multiplex\" requires \"push websocket\"" + in);
    if (loc.multiplex && (has_channel || loc.echo))
        l.fail(d, "\"multiplex\" cannot be combined with \"channel\" or \"echo\" (its clients "
                  "subscribe by command)" + in);
    if (loc.publish && pushes && !websocket)
        l.fail(d, "\"publish\" can be combined only with \"push websocket\"" + in);
    if (pushes && !has_channel && !loc.echo && !loc.multiplex) l.fail(d, "\"push\" requires a \"channel\"" + in);
    if (loc.publish && !has_channel && !loc.multiplex) l.fail(d, "\"publish\" requires a \"channel\"" + in);
    if (has_channel && !pushes && !loc.publish)
        l.fail(d, "\"channel\" requires \"push\" or \"publish\"" + in);
}

// location

void push(Loader& l, const Directive& d) {
    for (auto s : {PushStrategy::polling, PushStrategy::long_polling, PushStrategy::iframe,
                   PushStrategy::sse, PushStrategy::websocket}) {
        if (d.args[0].value != to_string(s)) continue;
        l.location->push = s;
        return;
    }
    l.invalid(d, 0, ", it must be polling, long-polling, iframe, sse or websocket");
}

bool is_arg_name(std::string_view s) noexcept {
    if (s.empty() || s.size() > 128) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
    });
}

void channel_ref(Loader& l, const Directive& d) {
    const std::string& v = d.args[0].value;
    ChannelRef& ref = l.location->channel;
    if (v == "$tail") {
        if (l.location->match == LocationConf::Match::exact)
            l.fail(d, 0, "\"channel $tail\" is allowed only in prefix locations");
        ref.kind = ChannelRef::Kind::tail;
    } else if (v.rfind("$arg_", 0) == 0) {
        if (!is_arg_name(std::string_view(v).substr(5))) l.invalid(d, 0);
        ref.kind = ChannelRef::Kind::query_arg;
        ref.value = v.substr(5);
    } else {
        if (!is_valid_channel_name(v))
            l.invalid(d, 0,
                      ", it must be a channel name (1-128 of A-Z a-z 0-9 _ . : -, "
                      "not \".\" or \"..\"), $arg_NAME or $tail");
        ref.kind = ChannelRef::Kind::literal;
        ref.value = v;
        l.channel_uses.push_back(Loader::ChannelUse{v, l.where(d)});
    }
}


void ws_protocols(Loader& l, const Directive& d) {
    for (std::size_t i = 0; i < d.args.size(); ++i) {
        // RFC 6455 §4.1: a subprotocol name is an RFC 9110 token.
        if (!ascii::is_token(d.args[i].value)) l.invalid(d, i);
        l.location->ws_protocols.push_back(d.args[i].value);
    }
}

// RFC 6454 §7.1 serialized origin: scheme "://" host [ ":" port ], no path; or "*".
bool is_origin(std::string_view s) noexcept {
    if (s == "*") return true;
    std::size_t sep = s.find("://");
    if (sep == 0 || sep == std::string_view::npos) return false;
    std::string_view host = s.substr(sep + 3);
    return !host.empty() && host.find_first_of("/?#* ") == std::string_view::npos &&
           is_header_safe(host);
}

void allow_origin(Loader& l, const Directive& d) {
    for (std::size_t i = 0; i < d.args.size(); ++i) {
        if (!is_origin(d.args[i].value))
            l.invalid(d, i, ", it must be \"*\" or scheme://host[:port]");
        l.location->allow_origin.push_back(d.args[i].value);
    }
}

template <bool Allow> void access(Loader& l, const Directive& d) {
    AccessRule rule;
    if (!parse_access_rule(d.args[0].value, Allow, rule)) l.invalid(d, 0);
    l.location->access.push_back(rule);
}

// real_ip_from: a list written at a deeper level replaces the inherited one (nginx arrays).
void real_ip_from(Loader& l, const Directive& d) {
    const std::uint8_t level = l.location ? 3 : l.server ? 2 : 1;
    if (l.limits->real_ip_from_level != level) {
        l.limits->real_ip_from.clear();
        l.limits->real_ip_from_level = level;
    }
    AccessRule rule;
    if (d.args[0].value == "all" || !parse_access_rule(d.args[0].value, true, rule))
        l.invalid(d, 0, ", it must be an address or a CIDR");
    l.limits->real_ip_from.push_back(rule);
}

void real_ip_header(Loader& l, const Directive& d) {
    static constexpr std::pair<std::string_view, RealIpHeader> names[] = {
        {"X-Forwarded-For", RealIpHeader::x_forwarded_for},
        {"X-Real-IP", RealIpHeader::x_real_ip},
        {"proxy_protocol", RealIpHeader::proxy_protocol}};
    for (const auto& [name, header] : names) {
        if (!ascii::iequals(d.args[0].value, name)) continue;
        l.limits->real_ip_header = header;
        return;
    }
    l.invalid(d, 0, ", it must be X-Forwarded-For, X-Real-IP or proxy_protocol");
}

// `limit_rate_per_addr N/s [burst=M];`
void limit_rate(Loader& l, const Directive& d) {
    constexpr std::uint64_t max_rate = 1'000'000;
    std::string_view v = d.args[0].value;
    auto n = v.size() > 2 && v.substr(v.size() - 2) == "/s" ? parse_number(v.substr(0, v.size() - 2))
                                                            : std::nullopt;
    if (!n || *n < 1 || *n > max_rate) l.invalid(d, 0, ", it must be N/s with N from 1 to 1000000");
    l.limits->limit_rate_per_addr = static_cast<std::uint32_t>(*n);
    l.limits->limit_rate_burst = 0;
    if (d.args.size() < 2) return;
    std::string_view b = d.args[1].value;
    auto m = b.substr(0, 6) == "burst=" ? parse_number(b.substr(6)) : std::nullopt;
    if (!m || *m > max_rate) l.invalid(d, 1, ", it must be burst=M with M from 0 to 1000000");
    l.limits->limit_rate_burst = static_cast<std::uint32_t>(*m);
}

// `auth_jwt off;`, `auth_jwt "SECRET" [publish];` or `auth_jwt "file:PATH" [publish];`: the key
// file is read now (at load and at every reload), its trailing CR/LF/spaces dropped, so that
// `echo SECRET > key` works.
void auth_jwt(Loader& l, const Directive& d) {
    JwtConf& jwt = l.limits->jwt;
    const std::string& v = d.args[0].value;
    if (v == "off") {
        if (d.args.size() > 1) l.fail(d, 1, "\"auth_jwt off\" takes no other parameter");
        jwt.key.clear();
        jwt.publish = false;
        return;
    }
    std::string key = v;
    if (v.rfind("file:", 0) == 0) {
        Directive file_arg = d;
        file_arg.args[0].value = v.substr(5);
        const std::string path = l.path(file_arg, 0);
        if (std::string err = read_file(path, key, max_key_file_bytes); !err.empty())
            l.fail(d, 0, err);
        while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' '))
            key.pop_back();
    }
    if (key.size() < hs256_min_key_bytes)
        l.fail(d, 0,
               "the \"auth_jwt\" key is " + std::to_string(key.size()) +
                   " bytes, HS256 needs at least " + std::to_string(hs256_min_key_bytes));
    if (d.args.size() > 1 && d.args[1].value != "publish")
        l.invalid(d, 1, ", it must be \"publish\"");
    jwt.key = std::move(key);
    jwt.publish = d.args.size() > 1;
}

void auth_jwt_cookie(Loader& l, const Directive& d) {
    // RFC 6265 §4.1.1: a cookie-name is an RFC 9110 token.
    if (!ascii::is_token(d.args[0].value)) l.invalid(d, 0, ", it must be a cookie name");
    l.limits->jwt.cookie = d.args[0].value;
}

// Table building blocks: exactly one argument; a range; repeatable; on|off; a block.
constexpr Spec one(std::string_view n, std::uint16_t ctx, Handler h) {
    return Spec{n, ctx, 1, 1, false, false, false, h};
}
constexpr Spec args(std::string_view n, std::uint16_t ctx, std::uint8_t min, std::uint8_t max,
                    Handler h) {
    return Spec{n, ctx, min, max, false, false, false, h};
}
constexpr Spec repeated(std::string_view n, std::uint16_t ctx, std::uint8_t min, std::uint8_t max,
                        Handler h) {
    return Spec{n, ctx, min, max, false, false, true, h};
}
constexpr Spec onoff(std::string_view n, std::uint16_t ctx, std::uint8_t min, Handler h) {
    return Spec{n, ctx, min, 1, false, true, false, h};
}
constexpr Spec block(std::string_view n, std::uint16_t ctx, std::uint8_t nargs, bool multi,
                     Handler h) {
    return Spec{n, ctx, nargs, nargs, true, false, multi, h};
}
constexpr Spec location_spec{"location", ctx_server, 1, 2, true, false, true, location_block};

// clang-format off
constexpr Spec table[] = {
    // main
    one("worker_threads", ctx_main, worker_threads),
    one("pid", ctx_main, [](Loader& l, const Directive& d) { l.cfg.pid_file = l.path(d, 0); }),
    args("error_log", ctx_main, 1, 2, error_log),
    onoff("daemon", ctx_main, 1, [](Loader& l, const Directive& d) { l.cfg.daemon = l.flag(d); }),
    args("user", ctx_main, 1, 2, user),
    one("shutdown_timeout", ctx_main, [](Loader& l, const Directive& d) {
        l.cfg.shutdown_timeout = l.time(d, 0, no_time, max_time); }),
    block("events", ctx_main, 0, false, [](Loader& l, const Directive& d) {
        l.process(d.children, ctx_events); }),
    block("http", ctx_main, 0, false, http_block),
    // events
    one("worker_connections", ctx_events, [](Loader& l, const Directive& d) {
        l.cfg.worker_connections = static_cast<int>(l.number(d, 0, 1, 1'048'576)); }),
    // http
    one("access_log", ctx_http, [](Loader& l, const Directive& d) {
        l.cfg.access_log = d.args[0].value == "off" ? "" : l.path(d, 0); }),
    onoff("channel_autocreate", ctx_http, 1, [](Loader& l, const Directive& d) {
        l.cfg.channel_autocreate = l.flag(d); }),
    onoff("channel_autocreate_on_subscribe", ctx_http, 1, [](Loader& l, const Directive& d) {
        l.cfg.autocreate_on_subscribe = l.flag(d); }),
    one("channel_idle_timeout", ctx_http, [](Loader& l, const Directive& d) {
        l.cfg.channel_idle_timeout = l.time(d, 0, no_time, max_time); }),
    one("status_top_channels", ctx_http, [](Loader& l, const Directive& d) {
        l.cfg.status_top_channels = static_cast<std::uint32_t>(
            l.number(d, 0, 0, max_status_top_channels)); }),
    one("max_channels", ctx_http, [](Loader& l, const Directive& d) {
        l.cfg.max_channels = l.number(d, 0, 1, 100'000'000); }),
    one("publish_backlog", ctx_http, [](Loader& l, const Directive& d) {
        l.cfg.publish_backlog = l.number(d, 0, 0, 100'000'000); }),
    one("broker", ctx_http, broker),
    repeated("redis_server", ctx_http, 1, 1, redis_server),
    one("redis_user", ctx_http, redis_user),
    one("redis_password", ctx_http, redis_password),
    one("redis_prefix", ctx_http, redis_prefix),
    one("redis_database", ctx_http, [](Loader& l, const Directive& d) {
        l.cfg.redis.database = static_cast<int>(l.number(d, 0, 0, max_redis_database)); }),
    one("redis_timeout", ctx_http, [](Loader& l, const Directive& d) {
        l.cfg.redis.timeout = l.time(d, 0, min_redis_timeout, max_redis_timeout); }),
    block("types", ctx_http, 0, true, [](Loader& l, const Directive& d) {
        l.process(d.children, ctx_types); }),
    block("channel", ctx_http, 1, true, channel_block),
    block("server", ctx_http, 0, true, server_block),
    // channel
    one("buffer", ctx_channel, [](Loader& l, const Directive& d) {
        l.channel->buffer = static_cast<std::uint32_t>(l.number(d, 0, 0, 1'000'000)); }),
    one("ttl", ctx_channel, [](Loader& l, const Directive& d) {
        l.channel->ttl = l.time(d, 0, no_time, max_time); }),
    args("source", ctx_channel, 2, 2, source),
    one("max_subscribers", ctx_channel, [](Loader& l, const Directive& d) {
        l.channel->max_subscribers = static_cast<std::uint32_t>(l.number(d, 0, 0, 10'000'000)); }),
    // server
    repeated("listen", ctx_server, 1, 4, listen),
    repeated("server_name", ctx_server, 1, any_args, [](Loader& l, const Directive& d) {
        for (const Arg& a : d.args) l.server->server_names.push_back(a.value); }),
    one("root", ctx_sl, root),
    repeated("index", ctx_sl, 1, any_args, index),
    location_spec,
    // location
    one("push", ctx_location, push),
    one("channel", ctx_location, channel_ref),
    onoff("publish", ctx_location, 0, [](Loader& l, const Directive& d) {
        l.location->publish = l.flag(d); }),
    onoff("multiplex", ctx_location, 1, [](Loader& l, const Directive& d) {
        l.location->multiplex = l.flag(d); }),
    args("status", ctx_location, 0, 0, [](Loader& l, const Directive&) {
        l.location->status = true; }),
    one("echo", ctx_location, [](Loader& l, const Directive& d) {
        l.location->echo = d.args[0].value; }),
    args("ws_protocols", ctx_location, 1, any_args, ws_protocols),
    args("allow_origin", ctx_location, 1, any_args, allow_origin),
    repeated("allow", ctx_location, 1, 1, access<true>),
    repeated("deny", ctx_location, 1, 1, access<false>),
    // Limits: http, server and (where it means something after routing) location
    one("client_max_body_size", ctx_hsl, size_limit<&Limits::client_max_body_size, 0, 1024 * gib>),
    one("large_header_buffer", ctx_hs, small_size_limit<&Limits::large_header_buffer, kib, mib>),
    one("max_header_size", ctx_hs, small_size_limit<&Limits::max_header_bytes, kib, mib>),
    one("max_headers", ctx_hs, max_headers),
    one("output_queue_limit", ctx_hsl, size_limit<&Limits::output_queue_limit, 4 * kib, gib>),
    one("client_header_timeout", ctx_hs, time_limit<&Limits::client_header_timeout, 1>),
    one("client_body_timeout", ctx_hsl, time_limit<&Limits::client_body_timeout, 1>),
    one("keepalive_timeout", ctx_hsl, time_limit<&Limits::keepalive_timeout, 0>),
    one("send_timeout", ctx_hsl, time_limit<&Limits::send_timeout, 1>),
    one("longpoll_timeout", ctx_hsl, time_limit<&Limits::longpoll_timeout, 1>),
    one("stream_keepalive", ctx_hsl, time_limit<&Limits::stream_keepalive, 0>),
    one("sse_retry", ctx_hsl, time_limit<&Limits::sse_retry, 0>),
    one("ws_max_message_size", ctx_hsl, size_limit<&Limits::ws_max_message_size, 1, gib>),
    one("ws_max_queue", ctx_hsl, size_limit<&Limits::ws_max_queue, 4 * kib, gib>),
    one("ws_close_timeout", ctx_hsl, time_limit<&Limits::ws_close_timeout, 1>),
    one("ws_ping_interval", ctx_hsl, time_limit<&Limits::ws_ping_interval, 0>),
    onoff("ws_deflate", ctx_hsl, 1, [](Loader& l, const Directive& d) {
        l.limits->ws_deflate = l.flag(d); }),
    one("ws_deflate_min_size", ctx_hsl, size_limit<&Limits::ws_deflate_min_size, 0, gib>),
    one("ws_deflate_level", ctx_hsl, [](Loader& l, const Directive& d) {
        l.limits->ws_deflate_level = static_cast<std::uint8_t>(l.number(d, 0, 1, 9)); }),
    one("push_format", ctx_hsl, push_format),
    one("max_channels_per_connection", ctx_hsl, [](Loader& l, const Directive& d) {
        l.limits->max_channels_per_connection = static_cast<std::uint32_t>(
            l.number(d, 0, 1, max_channels_per_connection_limit)); }),
    onoff("push_trusted", ctx_hsl, 1, [](Loader& l, const Directive& d) {
        l.limits->push_trusted = l.flag(d); }),
    one("default_type", ctx_hsl, default_type),
    repeated("real_ip_from", ctx_hsl, 1, 1, real_ip_from),
    one("real_ip_header", ctx_hsl, real_ip_header),
    one("limit_conn_per_addr", ctx_hs, [](Loader& l, const Directive& d) {
        l.limits->limit_conn_per_addr = static_cast<std::uint32_t>(l.number(d, 0, 0, 1'000'000)); }),
    args("limit_rate_per_addr", ctx_hs, 1, 2, limit_rate),
    // Asking and telling the application
    one("auth_request", ctx_hsl, upstream_url<&Limits::auth_request>),
    one("auth_request_timeout", ctx_hsl, time_limit<&Limits::auth_request_timeout, 1>),
    one("auth_request_cache", ctx_hsl, time_limit<&Limits::auth_request_cache, 0>),
    one("on_subscribe", ctx_hsl, upstream_url<&Limits::on_subscribe>),
    one("on_unsubscribe", ctx_hsl, upstream_url<&Limits::on_unsubscribe>),
    // Signed tokens (inherited like the limits)
    args("auth_jwt", ctx_hsl, 1, 2, auth_jwt),
    one("auth_jwt_cookie", ctx_hsl, auth_jwt_cookie),
    one("auth_jwt_leeway", ctx_hsl, [](Loader& l, const Directive& d) {
        l.limits->jwt.leeway = l.time(d, 0, no_time, max_jwt_leeway); }),
};
// clang-format on

} // namespace

std::span<const Spec> directive_table() noexcept { return table; }

} // namespace herald::config::detail
