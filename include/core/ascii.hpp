// ASCII text helpers shared by every module that reads protocol or config text: case folding,
// case-insensitive comparison, hex digits and the RFC 9110 token and list rules
// (§5.6.1-§5.6.3). Only the letters A-Z fold; every other byte, UTF-8 included, compares as
// it is.
#pragma once

#include <cstdint>
#include <string_view>

namespace herald::ascii {

constexpr bool is_alpha(unsigned char c) noexcept { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
constexpr bool is_digit(unsigned char c) noexcept { return c >= '0' && c <= '9'; }
constexpr char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; }

// The value of a hex digit (0-9, a-f, A-F: RFC 5234 HEXDIG, either case), or -1 for any other
// byte. The one hex reader: percent-decoding, chunk sizes, JSON \u escapes, message ids.
constexpr int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Lowercase hex digits indexed by their value: the one table for writing hex.
inline constexpr std::string_view lower_hex = "0123456789abcdef";

// An unsigned decimal, 1*DIGIT (leading zeros allowed, no sign, no space), whose value is at
// most max. Returns false, out unchanged, on anything else. The one decimal reader for
// protocol text: Content-Length, byte ranges, message ids, config numbers.
[[nodiscard]] bool parse_decimal(std::string_view s, std::uint64_t max,
                                 std::uint64_t& out) noexcept;

// RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
//                          "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
constexpr bool is_tchar(unsigned char c) noexcept {
    return is_alpha(c) || is_digit(c) ||
           (c != 0 && std::string_view("!#$%&'*+-.^_`|~").find(char(c)) != std::string_view::npos);
}

// RFC 9110 §5.6.2: token = 1*tchar.
bool is_token(std::string_view s) noexcept;

// Equal ignoring the case of ASCII letters.
bool iequals(std::string_view a, std::string_view b) noexcept;

// s without the optional whitespace (SP, HTAB) at either end (RFC 9110 §5.6.3 OWS).
std::string_view trim_ows(std::string_view s) noexcept;

// Calls fn on each non-empty element of a comma-separated field value (RFC 9110 §5.6.1
// #element list), OWS trimmed, in order, until fn returns true; returns whether it did. The one
// list walker: has_token, the WebSocket handshake's fields and entity-tag lists use it.
template <class Fn>
bool any_element(std::string_view list, Fn&& fn) {
    for (;;) {
        const std::size_t comma = list.find(',');
        const std::string_view item = trim_ows(list.substr(0, comma));
        if (!item.empty() && fn(item)) return true;
        if (comma == std::string_view::npos) return false;
        list.remove_prefix(comma + 1);
    }
}

// True if a comma-separated field value (like Connection) has an element equal to token,
// ignoring case; empty elements and OWS around commas are allowed.
bool has_token(std::string_view list, std::string_view token) noexcept;

// A DNS host name (RFC 1123): letters, digits and '-' in dot-separated labels of 1-63
// characters, none starting or ending with '-', at most 253 characters, and a last label that
// is not all digits (so a mistyped IPv4 address such as 10.0.0.256 is not one).
bool is_host_name(std::string_view s) noexcept;

} // namespace herald::ascii
