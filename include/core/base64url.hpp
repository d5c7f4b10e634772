// base64url without padding (RFC 4648 §5, as JWS/JWT use it: RFC 7515 §2, Appendix C), and
// the standard padded base64 encoding (RFC 4648 §4) that carries binary push messages in text
// wire formats (browsers' atob() decodes it).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace herald {

// The encoded length of n bytes: ceil(4n/3), no '='.
constexpr std::size_t base64url_encoded_size(std::size_t n) noexcept {
    return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

std::string base64url_encode(std::string_view bytes);

// The encoded length of n bytes in padded base64: 4 * ceil(n/3).
constexpr std::size_t base64_encoded_size(std::size_t n) noexcept { return (n + 2) / 3 * 4; }

// Appends bytes in standard base64 (alphabet A-Z a-z 0-9 + /, '=' padding to a multiple of 4
// characters, no line breaks): RFC 4648 §4, what atob() and Python's b64decode take. Exactly
// base64_encoded_size(bytes.size()) characters; reserving them is the caller's choice.
void append_base64(std::string& out, std::string_view bytes);

// Strict decoding: only A-Z a-z 0-9 - _; no '=' padding, no whitespace; a length of 1 mod 4
// is impossible; the unused low bits of the last character must be zero (so every byte
// string has exactly one encoding). Returns false (out unspecified) on any violation.
bool base64url_decode(std::string_view text, std::string& out);

} // namespace herald
