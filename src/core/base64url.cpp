// herald: base64url encoding and strict decoding without padding (RFC 4648 §5, §3.5), and
// standard padded base64 encoding (RFC 4648 §4).
#include "core/base64url.hpp"

#include <array>
#include <cstdint>

namespace herald {

namespace {

constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::uint8_t invalid = 0xFF;

constexpr std::array<std::uint8_t, 256> make_decode_table() {
    std::array<std::uint8_t, 256> t{};
    for (auto& v : t)
        v = invalid;
    for (std::size_t i = 0; i < alphabet.size(); ++i)
        t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::uint8_t>(i);
    return t;
}

constexpr auto decode_table = make_decode_table();

// RFC 4648 §4/§5: each 3 bytes become 4 characters of the alphabet; a last group of 1 or 2
// bytes becomes 2 or 3 characters, followed by '=' up to 4 when pad is set.
void append_encoded(std::string& out, std::string_view bytes, std::string_view abc, bool pad) {
    auto at = [&](std::size_t j) { return std::uint32_t{static_cast<unsigned char>(bytes[j])}; };
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        std::uint32_t v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
        out += abc[v >> 18 & 63];
        out += abc[v >> 12 & 63];
        out += abc[v >> 6 & 63];
        out += abc[v & 63];
    }
    std::size_t rest = bytes.size() - i;
    if (rest == 0)
        return;
    std::uint32_t v = at(i) << 16 | (rest == 2 ? at(i + 1) << 8 : 0);
    out += abc[v >> 18 & 63];
    out += abc[v >> 12 & 63];
    if (rest == 2)
        out += abc[v >> 6 & 63];
    if (pad)
        out.append(3 - rest, '=');
}

constexpr std::string_view standard_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

} // namespace

std::string base64url_encode(std::string_view bytes) {
    std::string out;
    out.reserve(base64url_encoded_size(bytes.size()));
    append_encoded(out, bytes, alphabet, false);
    return out;
}

void append_base64(std::string& out, std::string_view bytes) {
    append_encoded(out, bytes, standard_alphabet, true);
}

bool base64url_decode(std::string_view text, std::string& out) {
    out.clear();
    if (text.size() % 4 == 1)
        return false;
    out.reserve(text.size() / 4 * 3 + 2);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : text) {
        std::uint8_t v = decode_table[static_cast<unsigned char>(c)];
        if (v == invalid)
            return false;
        acc = (acc << 6 | v) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>(acc >> bits & 0xFF);
        }
    }
    // RFC 4648 §3.5: the pad bits left over must be zero.
    return (acc & ((1u << bits) - 1)) == 0;
}

} // namespace herald
