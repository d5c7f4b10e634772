// DEFLATE format constants shared by the inflater and the compressor (RFC 1951 §3.2.5-§3.2.7):
// length and distance bases with their extra bits, the code-length code order, code limits.
#pragma once

#include <array>
#include <cstdint>

namespace herald::deflate::detail {

inline constexpr unsigned max_code_bits = 15;    // literal/length and distance codes
inline constexpr unsigned max_code_len_bits = 7; // the code-length code
inline constexpr unsigned literal_codes = 286;   // 0-255 literals, 256 end, 257-285 lengths
inline constexpr unsigned distance_codes = 30;
inline constexpr unsigned code_len_codes = 19;
inline constexpr unsigned end_of_block = 256;
inline constexpr unsigned min_match = 3;
inline constexpr unsigned max_match = 258;
inline constexpr unsigned max_window_bits = 15;
inline constexpr unsigned max_distance = 1U << max_window_bits; // 32768
inline constexpr unsigned max_stored = 65535;

// RFC 1951 §3.2.5: length codes 257..285.
inline constexpr std::array<std::uint16_t, 29> length_base = {
    3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
    31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
inline constexpr std::array<std::uint8_t, 29> length_extra = {
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
inline constexpr std::array<std::uint16_t, 30> distance_base = {
    1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
    193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
inline constexpr std::array<std::uint8_t, 30> distance_extra = {
    0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
    6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
// RFC 1951 §3.2.7: order in which the code-length code lengths are sent.
inline constexpr std::array<std::uint8_t, 19> code_len_order = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                                                11, 4,  12, 3, 13, 2, 14, 1, 15};

} // namespace herald::deflate::detail
