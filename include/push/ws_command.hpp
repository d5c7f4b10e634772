// The client commands of a multiplexed WebSocket (`push websocket; multiplex on;`): one JSON
// object (RFC 8259) per text frame, read into a WsCommand. Pure: no I/O, no logging. A frame is
// a complete message, so the parser takes it whole (it does not resume).
//
//     {"op":"subscribe","channel":"chat","since":"E-5","ref":"1"}   since: an id or "0"
//     {"op":"subscribe","channel":"chat","last":10}                   or last: 1..max_last
//     {"op":"unsubscribe","channel":"chat","ref":"2"}
//     {"op":"publish","channel":"chat","data":"hi","event":"NAME","ref":"3"}
//
// Members the protocol does not know are skipped (later clients may add some); a known member
// of another op ("data" in a subscribe), twice the same member, or a value of the wrong type is
// refused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "push/resume.hpp"

namespace herald::push {

enum class WsOp : std::uint8_t { subscribe, unsubscribe, publish };

// "ref": an optional client tag echoed in the answer, 1..max_ws_ref bytes of [A-Za-z0-9_.:-].
inline constexpr std::size_t max_ws_ref = 64;

struct WsCommand {
    WsOp op = WsOp::subscribe;
    std::string channel;         // a valid channel name
    std::string ref;             // "" = none
    std::optional<Cursor> since; // subscribe: resume after this (never foreign)
    std::uint64_t last = 0;      // subscribe: the newest `last` buffered first (0 = not asked)
    std::string data;            // publish: the message (UTF-8 text)
    std::string event;           // publish: a checked event name, "" = none
};

// Reads one command from text. Returns "" when out holds a valid command; otherwise the reason
// for the 400 answer (plain text, may contain '"'), and out.ref / out.channel hold only what the
// answer may echo: the ref and the channel when each was valid (else ""), nothing when the text
// is not one well-formed JSON object.
std::string parse_ws_command(std::string_view text, WsCommand& out);

} // namespace herald::push
