// The real client address behind trusted proxies, as nginx's realip module with
// `real_ip_recursive on`: X-Forwarded-For walked from the right, X-Real-IP, or the PROXY
// protocol address. Pure functions over values; the session calls them once per request.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace herald::http {

// 16 bytes, IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), as allow/deny rules match them.
using IpBytes = std::array<std::uint8_t, 16>;

// An X-Forwarded-For value with more elements than this is ignored whole: it bounds the work a
// request can cause, and no real chain of proxies is that long.
inline constexpr std::size_t max_forwarded_entries = 32;

enum class ForwardedStatus : std::uint8_t { ok, malformed, too_many };

// value: a comma-separated list of addresses, optional whitespace around each (several
// X-Forwarded-For fields joined with ","). The connection's own address must already be
// trusted. Walking from the right, the first address not in `trusted` is the client; when every
// one is trusted, the leftmost. Returns ok and sets out; malformed when an element is empty or
// not a bare address (port, brackets, zone, garbage: see config::parse_ip_address) or the
// value is empty; too_many past max_forwarded_entries. out is untouched unless ok.
ForwardedStatus forwarded_client(std::string_view value,
                                 const std::vector<config::AccessRule>& trusted,
                                 IpBytes& out) noexcept;

// What decided a request's client address.
struct ClientAddress {
    IpBytes addr{};
    bool from_header = false;        // a trusted peer's header or PROXY address replaced it
    const char* problem = nullptr;   // a trusted peer's header was ignored: why (for the log)
};

// The client address of one request under l's real_ip_* settings. conn: the connection's
// address (the PROXY protocol address on such a listener, else the socket peer); socket: the
// socket peer; header: the real_ip_header field value(s) (X-Forwarded-For fields joined with
// ","; empty when absent). An untrusted connection's header is never read: conn is kept.
// For `proxy_protocol` the trusted one must be the socket peer (the proxy itself).
ClientAddress resolve_client(const config::Limits& l, const IpBytes& conn, const IpBytes& socket,
                             std::string_view header, bool header_present) noexcept;

// "10.0.0.1" for IPv4-mapped addresses, else the RFC 5952 IPv6 text ("2001:db8::1").
std::string ip_string(const IpBytes& a);

} // namespace herald::http
