// WebSocket close codes and close frames (RFC 6455 §5.5.1, §7.4, §11.7).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace herald::ws {

// The codes herald itself sends. A peer may send any valid_close_code() value; those travel
// as plain std::uint16_t.
enum class CloseCode : std::uint16_t {
    none = 0,                  // no status (empty close payload); never an error
    normal = 1000,
    going_away = 1001,         // server shutdown
    protocol_error = 1002,     // framing violation
    unsupported_data = 1003,
    invalid_payload = 1007,    // text or close reason not UTF-8
    policy_violation = 1008,   // e.g. outbound queue over ws_max_queue
    message_too_big = 1009,    // over ws_max_message_size
    internal_error = 1011,
    // Private-use codes (RFC 6455 §7.4.2), by analogy with HTTP 401 and 403:
    token_expired = 4401,      // the subscriber's token expired
    revoked = 4403,            // the publisher API ended the subscriber
};

// Short text for logs ("protocol error").
const char* reason_of(CloseCode c) noexcept;

// RFC 6455 §7.4.1/§7.4.2: may this code appear in a received close frame? 1000-1003,
// 1007-1011 and 3000-4999 are valid; 0-999, 1004-1006, 1012-2999 (including 1015) and
// 5000+ are not (they are reserved, or meant only for local reporting).
bool valid_close_code(std::uint16_t code) noexcept;

// Largest reason that fits a control frame next to the 2-byte code.
inline constexpr std::size_t max_close_reason = 123;

// Writes a close payload into out: nothing if code is 0, else the big-endian code followed by
// the reason cut to max_close_reason bytes (at a UTF-8 character boundary). Returns its length.
std::size_t close_payload(std::uint16_t code, std::string_view reason, char (&out)[125]) noexcept;

// A complete unmasked close frame. encode_close(0) is the empty close frame: herald's reply to
// a peer close that carried no status, echoing exactly what it received (§5.5.1 asks only to
// echo "the status code", and there was none).
std::string encode_close(std::uint16_t code, std::string_view reason = {});
inline std::string encode_close(CloseCode code, std::string_view reason = {}) {
    return encode_close(static_cast<std::uint16_t>(code), reason);
}

} // namespace herald::ws
