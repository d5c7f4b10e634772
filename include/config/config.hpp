// Typed, immutable configuration snapshot built from the directive tree.
// Produced by load_config() on the main thread; shared read-only with the workers
// through std::shared_ptr<const Config>. Nothing here is mutated after load.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/clock.hpp"
#include "core/log.hpp"

namespace herald::config {

// Thrown by load_config() for any config error. what() is the full message,
// "FILE:LINE:COL: message", ready to print after "herald: ".
class ConfigError : public std::runtime_error {
public:
    explicit ConfigError(const std::string& msg) : std::runtime_error(msg) {}
};

enum class PushStrategy : std::uint8_t { none, polling, long_polling, iframe, sse, websocket };
enum class PushFormat : std::uint8_t { raw, json };

// How a location chooses its channel: `channel clock;`, `channel $arg_NAME;`, `channel $tail;`.
struct ChannelRef {
    enum class Kind : std::uint8_t { none, literal, query_arg, tail };
    Kind kind = Kind::none;
    std::string value; // literal name, or the query argument name for query_arg
};

// One `allow`/`deny` rule. An address matches when (addr & mask) == net.
// IPv4 addresses are stored as IPv4-mapped IPv6 (::ffff:a.b.c.d) so one rule type covers both.
struct AccessRule {
    bool allow = true;
    bool all = false;               // `allow all;` / `deny all;`
    std::uint8_t net[16] = {};      // network bytes (IPv6 or v4-mapped)
    std::uint8_t prefix_len = 128;  // CIDR length in the 128-bit space
    bool v6 = false;                // written as IPv6: never matches IPv4 clients (as nginx)
};

// `real_ip_header`: where a trusted peer's request says who the client is.
enum class RealIpHeader : std::uint8_t { none, x_forwarded_for, x_real_ip, proxy_protocol };
// An application URL herald calls (auth_request, on_subscribe): http://HOST[:PORT][/PATH].
// HOST is an IP literal or "localhost", resolved when the config is loaded (no DNS on a loop).
struct UpstreamUrl {
    std::string host;      // numeric: "127.0.0.1", "::1"
    std::uint16_t port = 80;
    std::string authority; // the Host header: as written ("localhost:3000")
    std::string path = "/"; // origin-form, with any query
};

// Signed-token access (`auth_jwt`, `auth_jwt_cookie`, `auth_jwt_leeway`), inherited like the
// Limits it sits in. With a key, subscribing needs a valid token whose `channels` claim covers
// the channel; with `publish` too, publishing needs one whose `publish` claim covers it.
struct JwtConf {
    std::string key;                        // HS256 secret ("" = no token needed); never logged
    bool publish = false;                   // `auth_jwt KEY publish;`
    std::string cookie;                     // cookie that may carry the token ("" = none)
    Duration leeway{30'000};                // clock skew allowed on exp and nbf
};

// Settings inherited http -> server -> location. The loader fills every field
// (defaults first, then http, then server, then location overrides).
// The most channels one connection may follow (nchan's multi-channel subscriber takes 255).
inline constexpr std::uint32_t max_channels_per_connection_limit = 255;

struct Limits {
    std::uint64_t client_max_body_size = 1 << 20;      // 1m
    std::uint32_t large_header_buffer = 8 * 1024;      // request line limit -> 414
    std::uint32_t max_header_bytes = 16 * 1024;        // header block limit -> 431
    std::uint32_t max_header_count = 100;              // -> 431
    std::uint64_t output_queue_limit = 1 << 20;        // queued bytes per HTTP connection
    Duration client_header_timeout{60'000};
    Duration client_body_timeout{60'000};
    Duration keepalive_timeout{75'000};
    Duration send_timeout{60'000};
    Duration longpoll_timeout{30'000};
    Duration stream_keepalive{15'000};                  // SSE/iframe keepalive comments
    Duration sse_retry{2'000};                          // `sse_retry` -> SSE "retry:" field
    std::uint64_t ws_max_message_size = 1 << 20;       // over -> close 1009
    std::uint64_t ws_max_queue = 1 << 20;              // queued outbound bytes -> close 1008
    Duration ws_close_timeout{5'000};
    Duration ws_ping_interval{30'000};                  // 0 = off
    bool ws_deflate = true;                             // offer-driven permessage-deflate
    std::uint64_t ws_deflate_min_size = 64;             // smaller messages go uncompressed
    std::uint8_t ws_deflate_level = 6;                  // 1 (fast) .. 9 (small)
    PushFormat push_format = PushFormat::raw;
    // Channels one connection may follow: the entries of a channel list on an HTTP strategy,
    // the subscriptions of a `multiplex on;` WebSocket.
    std::uint32_t max_channels_per_connection = 16;     // 1 .. max_channels_per_connection_limit
    // `push_trusted on;`: the publishers of these messages are trusted, so active types
    // (HTML, XHTML, SVG, XML) are served inline without `Content-Security-Policy: sandbox`.
    bool push_trusted = false;
    std::string default_type = "text/plain";
    // Client address behind proxies (nginx's realip): trusted ranges and where to look.
    std::vector<AccessRule> real_ip_from;               // CIDRs; matched as allow rules
    std::uint8_t real_ip_from_level = 0;                // 1 http, 2 server, 3 location: where the
                                                        // list was written (a deeper one replaces it)
    RealIpHeader real_ip_header = RealIpHeader::none;
    // Per-address limits (http/server): 0 = off.
    std::uint32_t limit_conn_per_addr = 0;              // requests in progress per address
    std::uint32_t limit_rate_per_addr = 0;              // new requests per second per address
    std::uint32_t limit_rate_burst = 0;                 // requests above the rate at once
    // Asking and telling the application: `auth_request URL|off` before a subscriber or a
    // publish is admitted, its timeout and answer cache (0 = off); `on_subscribe URL|off` and
    // `on_unsubscribe URL|off` events.
    std::optional<UpstreamUrl> auth_request;
    Duration auth_request_timeout{5'000};
    Duration auth_request_cache{0};
    std::optional<UpstreamUrl> on_subscribe, on_unsubscribe;
    JwtConf jwt;
};

struct LocationConf {
    enum class Match : std::uint8_t { prefix, exact };
    Match match = Match::prefix;
    std::string path;                       // "/chat/" or "/echo"

    // Static files (used when no push/publish/status/echo is set).
    std::string root;                       // absolute, no trailing slash ("" = none)
    std::vector<std::string> index;         // default {"index.html"}

    PushStrategy push = PushStrategy::none;
    ChannelRef channel;
    bool publish = false;                   // `publish;` / `publish on;`
    bool status = false;                    // `status;`
    std::optional<std::string> echo;        // `echo "prefix";` (websocket echo route)
    bool multiplex = false;                 // `multiplex on;`: websocket JSON control protocol
    std::vector<std::string> ws_protocols;  // `ws_protocols a b c;`
    std::vector<std::string> allow_origin;  // exact origins or "*"; empty = no check, no CORS
    std::vector<AccessRule> access;         // allow/deny in order; empty = allow all
    Limits limits;

    std::string file, where;                // for messages: "FILE:LINE:COL" of the block
};

struct ListenConf {
    std::string host = "0.0.0.0";           // numeric v4 or v6 (brackets removed)
    std::uint16_t port = 0;                 // 0 = ephemeral (bound port is logged)
    bool reuseport = false;
    int backlog = 511;
    bool proxy_protocol = false;            // every connection starts with a PROXY header
};

struct ServerConf {
    std::vector<ListenConf> listens;
    std::vector<std::string> server_names; // reserved; first server for a listen is default
    std::string root;
    std::vector<std::string> index;
    std::vector<LocationConf> locations;        // in config order; router sorts its own index
    Limits limits;
};

struct ChannelConf {
    std::string name;
    std::uint32_t buffer = 100;             // messages kept for resume
    Duration ttl{0};                        // 0 = no age limit
    Duration clock_interval{0};             // `source clock 1s`; 0 = no clock source
    std::uint32_t max_subscribers = 0;      // 0 = unlimited
};

// Where channels live: `broker memory;` (this process only) or `broker redis;` (shared by
// every herald node on one Redis, configured by the redis_* directives below).
enum class BrokerKind : std::uint8_t { memory, redis };

// The Redis link of `broker redis` (http context). Filled only from redis_* directives; with
// `broker memory` they are accepted and unused.
struct RedisConf {
    struct Server {
        std::string host;       // numeric, IPv6 without brackets (no DNS on a loop thread)
        std::uint16_t port = 0; // 1..65535
        bool operator==(const Server&) const = default;
    };
    std::string host;        // the first `redis_server HOST:PORT`: numeric, IPv6 without
                             // brackets; "" = none written (no DNS on a loop thread)
    std::uint16_t port = 0;  // 1..65535 once host is set
    // Every `redis_server` line in order (the first is host:port above). One line: a single
    // server, or any node of a Redis Cluster (found out on connect); several: the seed nodes
    // of a Redis Cluster (at most max_redis_servers, no duplicates).
    std::vector<Server> servers;
    std::string user;        // `redis_user`: ACL user for AUTH ("" = the default user)
    std::string password;    // `redis_password` ("" = no AUTH); never logged
    std::string prefix = "herald:"; // `redis_prefix`: starts every key and pub/sub channel
    int database = 0;        // `redis_database`: SELECT when not 0
    Duration timeout{2'000}; // `redis_timeout`: connect and command timeout

    bool operator==(const RedisConf&) const = default;
};

struct Config {
    std::string path;                       // the main config file as given
    std::string prefix;                     // folder of the main config file (absolute)

    // main context
    int worker_threads = 1;                 // `auto` resolved to the core count
    std::string pid_file;                   // absolute; default "<prefix>/herald.pid"
    std::string error_log = "stderr";       // path or "stderr"
    LogLevel error_log_level = LogLevel::notice;
    bool daemon = false;
    std::optional<std::string> user, group;
    Duration shutdown_timeout{10'000};

    // events
    int worker_connections = 10'000;

    // http
    BrokerKind broker = BrokerKind::memory;
    RedisConf redis;
    std::string access_log;                 // "" = off
    std::unordered_map<std::string, std::string> mime_types; // lower-case ext -> type (`types {}`)
    bool channel_autocreate = false;
    bool autocreate_on_subscribe = true;    // with channel_autocreate: subscribers create too
    Duration channel_idle_timeout{300'000}; // collect idle autocreated channels; 0 = never
    ChannelConf autocreate_defaults;        // buffer/ttl for autocreated channels
    std::uint64_t max_channels = 100'000;   // channels at once; past it autocreate fails (503)
    std::uint64_t publish_backlog = 10'000; // messages a worker may have waiting for fan-out
                                            // before publishes to its subscribers get 503; 0 = off
    std::vector<ChannelConf> channels;
    std::vector<ServerConf> servers;
    Limits http_limits;
    std::uint32_t status_top_channels = 10; // channels listed per ranking in /status
};

// Parses FILE (and its includes) into a Config. Throws ConfigError with
// "FILE:LINE:COL: message" on any error. Does not touch sockets or the filesystem
// beyond reading config files and `auth_jwt "file:..."` keys.
std::shared_ptr<const Config> load_config(const std::string& path);

// Same for config text standing for the file `path` (which need not exist): messages name
// path, and includes and relative paths resolve against its folder. For tests and tools.
std::shared_ptr<const Config> load_config_string(std::string_view text, const std::string& path);

// Looks up the MIME type for a file name by extension (case-insensitive);
// returns cfg default_type when unknown. The view lives as long as cfg.
std::string_view mime_type_for(const Config& cfg, const Limits& limits, std::string_view filename);

const char* to_string(PushStrategy s) noexcept;

// nginx allow/deny semantics: the first rule matching addr decides; no rule matching = allowed.
// addr is the peer's 16-byte IPv6 address (IPv4 peers as IPv4-mapped ::ffff:a.b.c.d).
bool access_allowed(const std::vector<AccessRule>& rules,
                    std::span<const std::uint8_t, 16> addr) noexcept;

// True if addr is in one of the ranges (rules read as CIDRs; `all` matches everything; an IPv6
// range never matches an IPv4 address, as for allow/deny). For `real_ip_from`.
bool address_in(const std::vector<AccessRule>& ranges,
                std::span<const std::uint8_t, 16> addr) noexcept;

} // namespace herald::config
