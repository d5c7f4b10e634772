// Shared pieces of the libFuzzer harnesses: an input reader that takes the harness's
// parameters from the front of the fuzz input, exact-size heap copies (so ASan catches a read
// one byte past a piece), a property check that aborts with a message, and a reference UTF-8
// decoder written from RFC 3629 §4 / Unicode Table 3-7 as plainly as possible, used to check
// the real validators and escapers against it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

namespace herald::fuzz {

// A broken property is a finding: print what broke and abort, so libFuzzer saves the input.
inline void require(bool ok, const char* what) {
    if (ok)
        return;
    std::fprintf(stderr, "fuzz property violated: %s\n", what);
    std::abort();
}

// The value of a hexadecimal digit, or -1 (the harnesses' own decoders of %XX and \uXXXX).
inline int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// Reads the harness's parameters off the front of the input; the rest is the payload.
// Running out of bytes yields zeros, so every input is usable.
class Input {
public:
    Input(const std::uint8_t* data, std::size_t size) noexcept
        : rest_(reinterpret_cast<const char*>(data), size) {}

    std::uint8_t byte() noexcept {
        if (rest_.empty())
            return 0;
        auto b = static_cast<std::uint8_t>(rest_.front());
        rest_.remove_prefix(1);
        return b;
    }
    std::uint16_t u16() noexcept { return static_cast<std::uint16_t>(byte() << 8 | byte()); }
    // What is left after the parameters.
    std::string_view rest() const noexcept { return rest_; }

private:
    std::string_view rest_;
};

// A heap copy of exactly bytes.size() bytes: reading past its end is a heap-buffer-overflow,
// and each copy has its own address, so a parser that kept a view into an earlier call's
// bytes reads freed memory (the caller drops the old copy).
class Piece {
public:
    explicit Piece(std::string_view bytes)
        : size_(bytes.size()),
          data_(std::make_unique<char[]>(bytes.size() + (bytes.empty() ? 1 : 0))) {
        if (!bytes.empty())
            std::char_traits<char>::copy(data_.get(), bytes.data(), bytes.size());
    }
    char* data() noexcept { return data_.get(); }
    std::size_t size() const noexcept { return size_; }
    std::string_view view() const noexcept { return {data_.get(), size_}; }
    // True if v lies inside this piece (an empty view anywhere inside or at the end counts).
    bool holds(std::string_view v) const noexcept {
        if (v.empty())
            return true;
        auto b = reinterpret_cast<std::uintptr_t>(data_.get());
        auto p = reinterpret_cast<std::uintptr_t>(v.data());
        return p >= b && p + v.size() <= b + size_;
    }

private:
    std::size_t size_;
    std::unique_ptr<char[]> data_;
};

// ---- reference UTF-8 (RFC 3629 §4, Unicode 15 Table 3-7) ---------------------------------

namespace ref {

// Length of the longest prefix of s[i..] that is a prefix of some well-formed sequence
// (Unicode §3.9 "maximal subpart"), and whether it is a whole sequence. Table 3-7:
//   00..7F | C2..DF 80..BF | E0 A0..BF 80..BF | E1..EC 80..BF 80..BF | ED 80..9F 80..BF
//   | EE..EF 80..BF 80..BF | F0 90..BF 80..BF 80..BF | F1..F3 80..BF x3 | F4 80..8F 80..BF x2
struct Subpart {
    std::size_t length; // 0: s[i] cannot start a sequence
    bool complete;
    char32_t code_point; // when complete
};

inline Subpart subpart(std::string_view s, std::size_t i) noexcept {
    auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned b0 = at(i);
    if (b0 < 0x80)
        return {1, true, b0};
    std::size_t need;
    unsigned lo = 0x80, hi = 0xBF; // range of the second byte
    char32_t cp;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 2;
        cp = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 3;
        cp = b0 & 0x0F;
        if (b0 == 0xE0)
            lo = 0xA0;
        if (b0 == 0xED)
            hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 4;
        cp = b0 & 0x07;
        if (b0 == 0xF0)
            lo = 0x90;
        if (b0 == 0xF4)
            hi = 0x8F;
    } else {
        return {0, false, 0};
    }
    std::size_t k = 1;
    for (; k < need && i + k < s.size(); ++k) {
        const unsigned b = at(i + k);
        const unsigned l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (b < l || b > h)
            break;
        cp = cp << 6 | (b & 0x3F);
    }
    return {k, k == need, cp};
}

// Well-formed UTF-8 through the end.
inline bool valid(std::string_view s) noexcept {
    for (std::size_t i = 0; i < s.size();) {
        Subpart p = subpart(s, i);
        if (!p.complete)
            return false;
        i += p.length;
    }
    return true;
}

// Could s still become well-formed UTF-8 with more bytes (valid, or cut inside a sequence)?
inline bool valid_prefix(std::string_view s) noexcept {
    for (std::size_t i = 0; i < s.size();) {
        Subpart p = subpart(s, i);
        if (!p.complete)
            return p.length > 0 && i + p.length == s.size();
        i += p.length;
    }
    return true;
}

inline void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | cp >> 6));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | cp >> 12));
        out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | cp >> 18));
        out.push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

// s with each maximal ill-formed subpart replaced by U+FFFD (Unicode §3.9, "substitution of
// maximal subparts", which is also what the WHATWG decoder does).
inline std::string replace_invalid(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size();) {
        Subpart p = subpart(s, i);
        if (p.complete) {
            out.append(s.substr(i, p.length));
            i += p.length;
        } else {
            out.append("\xEF\xBF\xBD");
            i += p.length == 0 ? 1 : p.length;
        }
    }
    return out;
}

} // namespace ref
} // namespace herald::fuzz
