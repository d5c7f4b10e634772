// Escapers and validators for push encodings (RFC 8259 §7, RFC 3629 §4, HTML §4.12.1.3, §9.2.6).
#include "push/encode.hpp"

#include <array>
#include <charconv>

#include "core/ascii.hpp"
#include "http/chunked.hpp"

namespace herald::push {

namespace {

// Byte classes for the escapers: copy as is, escape (ASCII), or start of a multi-byte sequence
// that must be decoded (validity, U+2028/U+2029).
enum : std::uint8_t { plain = 0, escape = 1, multibyte = 2 };

constexpr std::array<std::uint8_t, 256> make_json_class() {
    std::array<std::uint8_t, 256> t{};
    for (int c = 0; c < 0x20; ++c) t[c] = escape;
    t['"'] = escape;
    t['\\'] = escape;
    for (int c = 0x80; c < 0x100; ++c) t[c] = multibyte;
    return t;
}

constexpr std::array<std::uint8_t, 256> make_js_class() {
    std::array<std::uint8_t, 256> t = make_json_class();
    for (unsigned char c : std::string_view("<>/&'\x7f")) t[c] = escape;
    return t;
}

constexpr auto json_class = make_json_class();
constexpr auto js_class = make_js_class();

constexpr bool is_ident_start(unsigned char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
}

constexpr bool is_ident_part(unsigned char c) noexcept {
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

// One step of a UTF-8 decoder. For an ill-formed sequence, len is the length of its maximal
// subpart (Unicode §3.9, "U+FFFD substitution of maximal subparts", as the WHATWG decoder does).
// Not a second copy of ws::Utf8Validator: that one only says valid or not (incrementally, for
// RFC 6455); this one yields each code point (U+2028/2029 must be escaped for scripts) and
// where to resume after a bad byte, which a yes/no validator cannot tell.
struct Utf8Step {
    std::uint32_t code_point;
    std::uint32_t len;
    bool valid;
};

Utf8Step decode_utf8(const unsigned char* p, const unsigned char* end) noexcept {
    const unsigned char b0 = p[0];
    if (b0 < 0x80) return {b0, 1, true};
    std::uint32_t need = 0;
    std::uint32_t cp = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 1, cp = b0 & 0x1Fu;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 2, cp = b0 & 0x0Fu;
        if (b0 == 0xE0) lo = 0xA0;  // overlong
        if (b0 == 0xED) hi = 0x9F;  // surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 3, cp = b0 & 0x07u;
        if (b0 == 0xF0) lo = 0x90;  // overlong
        if (b0 == 0xF4) hi = 0x8F;  // > U+10FFFF
    } else {
        return {0xFFFD, 1, false};
    }
    std::uint32_t i = 1;
    for (; need > 0; --need, ++i) {
        if (p + i >= end || p[i] < lo || p[i] > hi) return {0xFFFD, i, false};
        cp = (cp << 6) | (p[i] & 0x3Fu);
        lo = 0x80, hi = 0xBF;
    }
    return {cp, i, true};
}

void append_u_escape(std::string& out, std::uint32_t cp) {
    const std::string_view hex = ascii::lower_hex;
    const char buf[6] = {'\\', 'u', hex[(cp >> 12) & 0xF], hex[(cp >> 8) & 0xF],
                         hex[(cp >> 4) & 0xF], hex[cp & 0xF]};
    out.append(buf, sizeof buf);
}

void append_short_escape(std::string& out, unsigned char c, bool js) {
    switch (c) {
    case '\n': out.append("\\n", 2); return;
    case '\r': out.append("\\r", 2); return;
    case '\t': out.append("\\t", 2); return;
    case '\\': out.append("\\\\", 2); return;
    case '\b': out.append("\\b", 2); return;
    case '\f': out.append("\\f", 2); return;
    case '"':
        // JSON has no \u form requirement for '"'; JS inside HTML gets \u0022 so that no quote
        // character appears even if the literal is ever placed in an attribute.
        if (!js) {
            out.append("\\\"", 2);
            return;
        }
        break;
    default: break;
    }
    append_u_escape(out, c);
}

// Shared loop of both escapers: copies runs of plain bytes in one append, escapes the rest.
void append_escaped(std::string& out, std::string_view s, const std::array<std::uint8_t, 256>& cls,
                    bool js) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    out.reserve(out.size() + s.size());
    while (p < end) {
        const auto* run = p;
        while (p < end && cls[*p] == plain) ++p;
        if (p != run)
            out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
        if (p == end) break;
        if (cls[*p] == escape) {
            append_short_escape(out, *p, js);
            ++p;
            continue;
        }
        const Utf8Step st = decode_utf8(p, end);
        if (!st.valid || st.code_point == 0x2028 || st.code_point == 0x2029)
            append_u_escape(out, st.code_point);
        else
            out.append(reinterpret_cast<const char*>(p), st.len);
        p += st.len;
    }
}

} // namespace


bool is_valid_callback(std::string_view s) noexcept {
    if (s.size() <= callback_prefix.size() || s.size() > max_callback) return false;
    if (s.substr(0, callback_prefix.size()) != callback_prefix) return false;
    for (unsigned char c : s.substr(callback_prefix.size()))
        if (c == '$' || !is_ident_part(c)) return false;
    return true;
}

void append_json_escaped(std::string& out, std::string_view s) {
    append_escaped(out, s, json_class, false);
}

void append_js_escaped(std::string& out, std::string_view s) {
    append_escaped(out, s, js_class, true);
}

void append_sse_data(std::string& out, std::string_view data) {
    std::size_t pos = 0;
    for (;;) {
        const std::size_t eol = data.find_first_of("\r\n", pos);
        const std::string_view line =
            data.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
        out.append("data: ", 6);
        out.append(line);
        out.push_back('\n');
        if (eol == std::string_view::npos) return;
        pos = eol + 1;
        if (data[eol] == '\r' && pos < data.size() && data[pos] == '\n') ++pos;  // CRLF is one
    }
}

void append_decimal(std::string& out, std::uint64_t v) {
    char buf[20];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}


void append_chunk(std::string& out, std::string_view payload) {
    char head[http::max_chunk_header];
    out.append(head, http::chunk_header(payload.size(), head));
    out.append(payload);
    out.append(http::chunk_end);
}

std::string iframe_call_prefix(std::string_view callback, bool chunked) {
    std::string call = "<script>parent.";
    call.append(callback);
    if (!chunked) return call;
    std::string out;
    append_chunk(out, call);
    return out;
}

} // namespace herald::push
