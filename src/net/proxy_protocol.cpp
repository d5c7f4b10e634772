// herald: PROXY protocol v1 and v2 headers (HAProxy proxy-protocol.txt §2.1, §2.2).
#include "net/proxy_protocol.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include <arpa/inet.h>

namespace herald::net {

namespace {

// §2.2: the 12-byte signature that starts every v2 header.
constexpr std::string_view v2_signature = {"\r\n\r\n\0\r\nQUIT\n", 12};
constexpr std::size_t v2_fixed_bytes = 16;
constexpr std::string_view v1_prefix = "PROXY ";
// The longest v1 address field ("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255").
constexpr std::size_t v1_max_address = 45;

std::uint16_t be16(std::string_view s, std::size_t at) noexcept {
    return static_cast<std::uint16_t>(static_cast<unsigned char>(s[at]) << 8 |
                                      static_cast<unsigned char>(s[at + 1]));
}

// §2.1: ports are decimal 0..65535; a leading zero is refused (one spelling per port).
bool parse_port(std::string_view s, std::uint16_t& out) noexcept {
    if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0'))
        return false;
    unsigned v = 0;
    for (char c : s) {
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v > 65535)
        return false;
    out = static_cast<std::uint16_t>(v);
    return true;
}

bool parse_v1_address(std::string_view s, bool v6, std::uint16_t port, Address& out) noexcept {
    if (s.empty() || s.size() > v1_max_address)
        return false;
    std::array<char, v1_max_address + 1> text{};
    std::copy(s.begin(), s.end(), text.begin());
    // Address{} zeroes only the union's first member: clear all of it (sin6_scope_id).
    std::memset(&out.storage, 0, sizeof out.storage);
    if (v6) {
        out.storage.v6.sin6_family = AF_INET6;
        out.storage.v6.sin6_port = htons(port);
        out.length = sizeof(sockaddr_in6);
        return inet_pton(AF_INET6, text.data(), &out.storage.v6.sin6_addr) == 1;
    }
    out.storage.v4.sin_family = AF_INET;
    out.storage.v4.sin_port = htons(port);
    out.length = sizeof(sockaddr_in);
    return inet_pton(AF_INET, text.data(), &out.storage.v4.sin_addr) == 1;
}

// Splits off the text up to the next single space (or the end).
std::string_view next_field(std::string_view& rest) noexcept {
    std::size_t sp = rest.find(' ');
    std::string_view field = rest.substr(0, sp);
    rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
    return field;
}

void set_v2_address(Address& a, int family, std::string_view addr, std::uint16_t port) noexcept {
    std::memset(&a.storage, 0, sizeof a.storage);
    if (family == AF_INET) {
        a.storage.v4.sin_family = AF_INET;
        a.storage.v4.sin_port = htons(port);
        std::memcpy(&a.storage.v4.sin_addr, addr.data(), 4);
        a.length = sizeof(sockaddr_in);
    } else {
        a.storage.v6.sin6_family = AF_INET6;
        a.storage.v6.sin6_port = htons(port);
        std::memcpy(&a.storage.v6.sin6_addr, addr.data(), 16);
        a.length = sizeof(sockaddr_in6);
    }
}

} // namespace

ProxyResult ProxyParser::fail(const char* why) noexcept {
    state_ = State::error;
    result_ = {ProxyStatus::error, 0, why};
    return result_;
}

ProxyResult ProxyParser::feed(std::string_view unconsumed) noexcept {
    const std::string_view in = unconsumed;
    switch (state_) {
    case State::start:
        if (in.empty())
            return {};
        if (in[0] == v1_prefix[0]) {
            state_ = State::v1_line;
            return feed_v1(in);
        }
        if (in[0] == v2_signature[0]) {
            state_ = State::v2_signature;
            return feed_v2(in);
        }
        return fail("no PROXY protocol header");
    case State::v1_line: return feed_v1(in);
    case State::v2_signature:
    case State::v2_body: return feed_v2(in);
    case State::done:
    case State::error: return result_;
    }
    return result_;
}

ProxyResult ProxyParser::feed_v1(std::string_view in) noexcept {
    const std::size_t limit = std::min(in.size(), proxy_v1_max_bytes);
    for (; scanned_ < limit; ++scanned_) {
        const char c = in[scanned_];
        if (scanned_ < v1_prefix.size()) {
            if (c != v1_prefix[scanned_])
                return fail("no PROXY protocol header");
            continue;
        }
        if (c == '\n') {
            // §2.1: the line ends with CRLF, and only there.
            if (in[scanned_ - 1] != '\r')
                return fail("v1 line does not end with CRLF");
            ProxyResult r = parse_v1_line(in.substr(v1_prefix.size(),
                                                    scanned_ - 1 - v1_prefix.size()));
            if (r.status == ProxyStatus::done)
                r.consumed = scanned_ + 1;
            result_ = r;
            return r;
        }
        if (c == '\r') {
            if (scanned_ + 1 == in.size())
                return {}; // look at this CR again when its next byte is here
            if (in[scanned_ + 1] != '\n')
                return fail("bare CR in v1 line");
        } else if (static_cast<unsigned char>(c) < 0x20) {
            return fail("control character in v1 line");
        }
    }
    if (scanned_ >= proxy_v1_max_bytes)
        return fail("v1 line longer than 107 bytes");
    return {};
}

ProxyResult ProxyParser::parse_v1_line(std::string_view line) noexcept {
    std::string_view rest = line;
    header_ = ProxyHeader{};
    header_.version = 1;
    const std::string_view protocol = next_field(rest);
    // §2.1: after UNKNOWN the receiver ignores the rest of the line.
    if (protocol == "UNKNOWN") {
        state_ = State::done;
        return {ProxyStatus::done, 0, ""};
    }
    if (protocol != "TCP4" && protocol != "TCP6")
        return fail("v1 protocol is not TCP4, TCP6 or UNKNOWN");
    const bool v6 = protocol == "TCP6";
    if (!rest.empty() && rest.back() == ' ')
        return fail("bad v1 ports");
    const std::string_view src = next_field(rest);
    const std::string_view dst = next_field(rest);
    const std::string_view sport = next_field(rest);
    const std::string_view dport = next_field(rest);
    std::uint16_t sp = 0, dp = 0;
    if (!rest.empty() || !parse_port(sport, sp) || !parse_port(dport, dp))
        return fail("bad v1 ports");
    if (!parse_v1_address(src, v6, sp, header_.source) ||
        !parse_v1_address(dst, v6, dp, header_.destination))
        return fail("bad v1 address");
    header_.has_address = true;
    state_ = State::done;
    return {ProxyStatus::done, 0, ""};
}

ProxyResult ProxyParser::feed_v2(std::string_view in) noexcept {
    if (state_ == State::v2_signature) {
        const std::size_t limit = std::min(in.size(), v2_signature.size());
        for (; scanned_ < limit; ++scanned_)
            if (in[scanned_] != v2_signature[scanned_])
                return fail("no PROXY protocol header");
        if (in.size() < v2_fixed_bytes)
            return {};
        // §2.2: the version is the high nibble of byte 13 and must be 2.
        if ((static_cast<unsigned char>(in[12]) & 0xF0) != 0x20)
            return fail("v2 version is not 2");
        if (v2_fixed_bytes + be16(in, 14) > proxy_v2_max_bytes)
            return fail("v2 header longer than the limit");
        state_ = State::v2_body;
    }
    const std::size_t total = v2_fixed_bytes + be16(in, 14);
    if (in.size() < total)
        return {};
    ProxyResult r = parse_v2(in.substr(0, total));
    if (r.status == ProxyStatus::done)
        r.consumed = total;
    result_ = r;
    return r;
}

ProxyResult ProxyParser::parse_v2(std::string_view h) noexcept {
    header_ = ProxyHeader{};
    header_.version = 2;
    const auto command = static_cast<unsigned char>(h[12]) & 0x0F;
    const auto family = static_cast<unsigned char>(h[13]) >> 4;
    const auto transport = static_cast<unsigned char>(h[13]) & 0x0F;
    const std::string_view body = h.substr(v2_fixed_bytes);
    // §2.2: LOCAL (0x0): the proxy's own connection; the block is ignored.
    if (command == 0x0) {
        state_ = State::done;
        return {ProxyStatus::done, 0, ""};
    }
    if (command != 0x1)
        return fail("v2 command is neither LOCAL nor PROXY");
    // Address lengths: UNSPEC 0, INET 12, INET6 36, UNIX 216. Only TCP (STREAM) is relayed;
    // UNSPEC/UNSPEC means "unknown", as v1's UNKNOWN.
    std::size_t address_bytes;
    if (family == 0x0 && transport == 0x0)
        address_bytes = 0;
    else if (family == 0x1 && transport == 0x1)
        address_bytes = 12;
    else if (family == 0x2 && transport == 0x1)
        address_bytes = 36;
    else if (family == 0x3 && transport == 0x1)
        address_bytes = 216;
    else
        return fail("v2 address family or transport not supported");
    if (body.size() < address_bytes)
        return fail("v2 addresses longer than the header");
    // §2.2.7: TLVs (type, 16-bit length, value) fill the rest exactly.
    for (std::size_t at = address_bytes; at < body.size();) {
        if (body.size() - at < 3 || body.size() - at - 3 < be16(body, at + 1))
            return fail("v2 TLV overruns the header");
        at += 3 + be16(body, at + 1);
    }
    if (family == 0x1 || family == 0x2) {
        const int af = family == 0x1 ? AF_INET : AF_INET6;
        const std::size_t n = family == 0x1 ? 4 : 16;
        set_v2_address(header_.source, af, body.substr(0, n), be16(body, 2 * n));
        set_v2_address(header_.destination, af, body.substr(n, n), be16(body, 2 * n + 2));
        header_.has_address = true;
    }
    state_ = State::done;
    return {ProxyStatus::done, 0, ""};
}

} // namespace herald::net
