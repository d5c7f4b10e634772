// Character classes of the HTTP grammar as constexpr 256-entry tables (RFC 9110 §5.1, §5.5,
// RFC 9112 §3, RFC 3986 §2-§3). Shared by the request parser, the chunked decoder and the
// target normaliser; one table lookup per byte.
#pragma once

#include <cstdint>

#include "core/ascii.hpp"

namespace herald::http::detail {

struct CharTable {
    bool bits[256] = {};
    constexpr bool operator[](unsigned char c) const noexcept { return bits[c]; }
};

template <class Pred> constexpr CharTable make_char_table(Pred pred) noexcept {
    CharTable t{};
    for (unsigned c = 0; c < 256; ++c)
        t.bits[c] = pred(c);
    return t;
}

using ascii::is_alpha;
using ascii::is_digit;
constexpr bool is_one_of(unsigned c, const char* set) noexcept {
    for (; *set; ++set)
        if (c == static_cast<unsigned char>(*set))
            return true;
    return false;
}

// RFC 9110 §5.6.2 tchar (the rule is ascii::is_tchar), as a table for the parser's hot loop.
inline constexpr CharTable tchar =
    make_char_table([](unsigned c) { return ascii::is_tchar(static_cast<unsigned char>(c)); });

// RFC 9110 §5.5: field-vchar = VCHAR / obs-text (SP and HTAB are allowed only between them).
inline constexpr CharTable field_vchar =
    make_char_table([](unsigned c) { return (c >= 0x21 && c <= 0x7E) || c >= 0x80; });

// Request-target bytes (RFC 9112 §3.2 built from RFC 3986 §3): visible ASCII except '#'
// (a fragment is never part of a request-target). This admits the few RFC 3986-excluded
// characters browsers leave unencoded ('{' '}' '|' '\' '^' '`' '"' '<' '>'); the target
// normaliser decides what a path may contain. CTLs, SP, DEL and non-ASCII are rejected.
inline constexpr CharTable target_char =
    make_char_table([](unsigned c) { return c >= 0x21 && c <= 0x7E && c != '#'; });

// RFC 3986 §3.2.2 host (reg-name / IPv4 / IP-literal) plus ":" port:
// unreserved / pct-encoded / sub-delims / ":" / "[" / "]".
inline constexpr CharTable host_char = make_char_table(
    [](unsigned c) { return is_alpha(c) || is_digit(c) || is_one_of(c, "-._~%!$&'()*+,;=:[]"); });

// HEXDIG; the digit's value is ascii::hex_value().
inline constexpr CharTable hex_digit =
    make_char_table([](unsigned c) { return ascii::hex_value(static_cast<char>(c)) >= 0; });

} // namespace herald::http::detail
