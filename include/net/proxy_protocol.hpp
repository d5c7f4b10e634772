// PROXY protocol header parser, versions 1 (text) and 2 (binary), as specified by HAProxy's
// "The PROXY protocol" (proxy-protocol.txt, 2020/03/05): §2.1 human-readable header, §2.2
// binary header. A TLS terminator or load balancer sends it first on each connection to tell
// the server the client's address.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "net/socket.hpp"

namespace herald::net {

// §2.1: a v1 line is at most 107 bytes, CRLF included.
inline constexpr std::size_t proxy_v1_max_bytes = 107;
// §2.2 allows 16 + 65535 bytes; herald refuses v2 headers longer than this (addresses take
// at most 216 bytes; the rest is TLVs, which herald skips).
inline constexpr std::size_t proxy_v2_max_bytes = 4096;

enum class ProxyStatus : std::uint8_t { done, need_more, error };

struct ProxyResult {
    ProxyStatus status = ProxyStatus::need_more;
    std::size_t consumed = 0; // the header's length when done
    const char* error = "";   // why, when status is error (for the log line)
};

// What the header says. has_address is false for "PROXY UNKNOWN", v2 LOCAL (a health check
// from the proxy itself) and v2 families other than TCP over IPv4/IPv6: the connection's own
// addresses stay in force then (§2.1, §2.2).
struct ProxyHeader {
    int version = 0;
    bool has_address = false;
    Address source;
    Address destination;
};

// Parses one PROXY header at the start of a connection. Pure: no I/O, no allocation, no
// logging. Each feed() gets the connection's unconsumed bytes from the first one and resumes
// where it stopped; it never reads past the header, so the bytes after it are the first of
// the real protocol. After done or error, feeding again gives the same result.
class ProxyParser {
public:
    ProxyResult feed(std::string_view unconsumed) noexcept;
    // Valid once feed() returned done.
    const ProxyHeader& header() const noexcept { return header_; }

private:
    enum class State : std::uint8_t { start, v1_line, v2_signature, v2_body, done, error };
    ProxyResult fail(const char* why) noexcept;
    ProxyResult feed_v1(std::string_view in) noexcept;
    ProxyResult feed_v2(std::string_view in) noexcept;
    ProxyResult parse_v1_line(std::string_view line) noexcept;
    ProxyResult parse_v2(std::string_view header) noexcept;

    State state_ = State::start;
    std::size_t scanned_ = 0; // bytes already checked
    ProxyHeader header_;
    ProxyResult result_;
};

} // namespace herald::net
