// permessage-deflate negotiation (RFC 7692 §5, §7.1) over the client's Sec-WebSocket-Extensions
// offers (RFC 6455 §9.1 grammar): a pure function, no state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace herald::ws {

// What herald agreed to for one connection.
struct DeflateParams {
    // Sizes of the LZ77 windows (2^bits bytes), 8..15: the server's (what herald's frames may
    // refer back to) and the client's (what herald's inflater must keep).
    std::uint8_t server_max_window_bits = 15;
    std::uint8_t client_max_window_bits = 15;
    bool server_window_bits_sent = false; // echo server_max_window_bits in the response
    bool client_window_bits_sent = false; // echo client_max_window_bits in the response
};

// Picks the first acceptable permessage-deflate offer in `offers` (the field values, several
// fields joined with ","). Returns nullopt when none is acceptable: a syntax error anywhere in
// the field, or every offer declined. An offer is declined (§7.1) when it has an unknown
// parameter, a repeated one, a value on a no_context_takeover parameter, a
// server_max_window_bits without a value, or a window-bits value that is not 8..15 written
// as a plain decimal (a quoted value must be such a token too, §7).
// Herald always answers with server_no_context_takeover (shared frames are compressed once,
// with no history) and client_no_context_takeover (no inflate state is kept between
// messages); both are allowed in a response whether or not the client offered them (§7.1.1).
std::optional<DeflateParams> negotiate_deflate(std::string_view offers);

// The Sec-WebSocket-Extensions value herald sends for `p`.
std::string deflate_response(const DeflateParams& p);

} // namespace herald::ws
