// Server-to-client WebSocket frame header encoding (RFC 6455 §5.2). Server frames are never
// masked, so the header is 2, 4 or 10 bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace herald::ws {

enum class Opcode : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xA,
};

inline constexpr std::size_t max_frame_header = 10;

// Writes the header of an unmasked frame with the given payload length into out
// (at least max_frame_header bytes). Returns the header length (2, 4 or 10).
inline std::size_t encode_frame_header(Opcode op, bool fin, std::uint64_t payload_length,
                                       unsigned char* out) noexcept {
    out[0] = static_cast<unsigned char>((fin ? 0x80 : 0x00) | static_cast<unsigned>(op));
    if (payload_length <= 125) {
        out[1] = static_cast<unsigned char>(payload_length);
        return 2;
    }
    if (payload_length <= 0xFFFF) {
        out[1] = 126;
        out[2] = static_cast<unsigned char>(payload_length >> 8);
        out[3] = static_cast<unsigned char>(payload_length);
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; ++i)
        out[2 + i] = static_cast<unsigned char>(payload_length >> (56 - 8 * i));
    return 10;
}

// The payload length of a complete frame as encode_frame_header() starts it (at least 2 bytes).
inline std::size_t frame_payload_size(std::string_view frame) noexcept {
    const unsigned len7 = static_cast<unsigned char>(frame[1]) & 0x7f;
    return frame.size() - (len7 == 127 ? 10 : len7 == 126 ? 4 : 2);
}

} // namespace herald::ws
