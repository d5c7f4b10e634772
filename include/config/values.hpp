// Parsers for the typed values of config arguments: sizes, durations, listen addresses,
// allow/deny rules, channel names. Pure functions; shared by the loader and the tests.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "config/config.hpp"

namespace herald::config {

// Plain decimal, at most 19 digits ("0", "511"); no sign, no spaces.
[[nodiscard]] std::optional<std::uint64_t> parse_number(std::string_view s) noexcept;

// Bytes with an optional unit k|m|g (case-insensitive, powers of 1024): "512", "4k", "1M".
// nullopt on syntax error or overflow of 64 bits.
[[nodiscard]] std::optional<std::uint64_t> parse_size(std::string_view s) noexcept;

// A time: one or more NUMBER UNIT pairs with units ms|s|m|h|d (case-insensitive), each unit at
// most once and from largest to smallest ("1h30m", "1m30s", "250ms"); or a plain number of
// seconds ("30"). nullopt on syntax error or when over 10 years.
[[nodiscard]] std::optional<Duration> parse_duration(std::string_view s) noexcept;

// The address part of `listen`: "8080", "*:80", "127.0.0.1:8080", "[::1]:8080".
// Fills host (numeric, IPv6 without brackets; "0.0.0.0" for a bare port or "*") and port.
[[nodiscard]] bool parse_listen_address(std::string_view s, ListenConf& out);

// A server address: "HOST:PORT" with HOST a numeric IPv4 ("10.0.0.1") or a bracketed IPv6
// ("[::1]") address or a host name (ascii::is_host_name: resolved later, off the event loops)
// and PORT 1..65535. Fills host (IPv6 without brackets) and port; leaves them alone on
// failure. For `redis_server`.
[[nodiscard]] bool parse_host_port(std::string_view s, std::string& host, std::uint16_t& port);

// A numeric IPv4 ("10.0.0.1") or IPv6 ("::1", "::ffff:10.0.0.1") address and nothing else: no
// port, brackets, zone, spaces or leading zeros; at most max_ip_text characters. Fills out with
// 16 bytes, IPv4 as IPv4-mapped IPv6 (so "::ffff:10.0.0.1" and "10.0.0.1" are the same address).
// Returns 4 or 6 (how it was written), or 0 when s is not such an address (out is then zeroed).
inline constexpr std::size_t max_ip_text = 45; // INET6_ADDRSTRLEN - 1
[[nodiscard]] int parse_ip_address(std::string_view s, std::span<std::uint8_t, 16> out) noexcept;

// `allow`/`deny` argument: "all", "10.0.0.1", "10.0.0.0/8", "::1", "2001:db8::/32".
// IPv4 becomes IPv4-mapped IPv6 with prefix_len + 96; host bits below the prefix are cleared.
[[nodiscard]] bool parse_access_rule(std::string_view s, bool allow, AccessRule& out);

// An application URL: "http://" HOST [":" PORT] [PATH], HOST an IPv4 literal, "[IPv6]" or
// "localhost" (-> 127.0.0.1); PATH starts with "/" and is printable ASCII without spaces.
[[nodiscard]] bool parse_upstream_url(std::string_view s, UpstreamUrl& out);

inline constexpr std::size_t max_channel_name = 128;
// [A-Za-z0-9_.:-]{1,max_channel_name} except "." and ".." (path segments a URL normalizer
// would remove, so such a channel could be published but never subscribed): the one check
// for channel names, in the config, in request paths and in the broker.
[[nodiscard]] bool is_valid_channel_name(std::string_view s) noexcept;

// `redis_server` lines (Redis Cluster seed nodes); one is enough to find a whole cluster.
inline constexpr std::size_t max_redis_servers = 16;

inline constexpr std::size_t max_redis_prefix = 64;
// [A-Za-z0-9_.:-]{1,max_redis_prefix}: the channel name characters, so that a prefix plus a
// channel name is a Redis key made of them only (no `{`, which would change its hash slot).
[[nodiscard]] bool is_valid_redis_prefix(std::string_view s) noexcept;

} // namespace herald::config
