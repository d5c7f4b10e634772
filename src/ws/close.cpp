// WebSocket close codes and close frames (RFC 6455 §5.5.1, §7.4).
#include "ws/close.hpp"

#include <cstring>

#include "ws/frame_header.hpp"

namespace herald::ws {

const char* reason_of(CloseCode c) noexcept {
    switch (c) {
    case CloseCode::none: return "no status";
    case CloseCode::normal: return "normal closure";
    case CloseCode::going_away: return "going away";
    case CloseCode::protocol_error: return "protocol error";
    case CloseCode::unsupported_data: return "unsupported data";
    case CloseCode::invalid_payload: return "invalid payload data";
    case CloseCode::policy_violation: return "policy violation";
    case CloseCode::message_too_big: return "message too big";
    case CloseCode::internal_error: return "internal error";
    case CloseCode::token_expired: return "token expired";
    case CloseCode::revoked: return "revoked";
    }
    return "unknown";
}

bool valid_close_code(std::uint16_t code) noexcept {
    // RFC 6455 §7.4.1: 1004 is reserved, 1005/1006/1015 must never be sent on the wire.
    // 1012-2999 are not defined by the RFC (the table rejects them); 3000-3999 are
    // IANA-registered and 4000-4999 private use.
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
           (code >= 3000 && code <= 4999);
}

std::size_t close_payload(std::uint16_t code, std::string_view reason, char (&out)[125]) noexcept {
    if (code == 0) return 0;
    out[0] = static_cast<char>(code >> 8);
    out[1] = static_cast<char>(code & 0xFF);
    std::size_t n = reason.size();
    if (n > max_close_reason) {
        n = max_close_reason;
        // Back off over continuation bytes (10xxxxxx) so the cut does not split a character.
        while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) --n;
    }
    if (n != 0) std::memcpy(out + 2, reason.data(), n);
    return 2 + n;
}

std::string encode_close(std::uint16_t code, std::string_view reason) {
    char payload[125];
    std::size_t n = close_payload(code, reason, payload);
    unsigned char head[max_frame_header];
    std::size_t h = encode_frame_header(Opcode::close, true, n, head);
    std::string frame(reinterpret_cast<const char*>(head), h);
    frame.append(payload, n);
    return frame;
}

} // namespace herald::ws
