// libFuzzer target: the multiplexed WebSocket's commands (include/push/ws_command.hpp) over the
// JSON reader (include/auth/json_reader.hpp). Properties, for any bytes:
//  - parse_ws_command() never crashes; an accepted command has a valid channel name, a valid
//    or empty ref, a since that is an id or "0" (never foreign) and no last beside it, last
//    within 0..max_last, no data or event outside a publish, a checked event name;
//  - a refusal echoes only a valid ref and a valid channel name, and says "bad JSON" or "not a
//    JSON object" exactly when the bytes are not one JSON object as the reader skips it;
//  - an accepted command written back as JSON (escaped with append_json_escaped) reads back as
//    the same command.
// Input layout: the whole input is the text frame (no parameters).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/json_reader.hpp"
#include "config/values.hpp"
#include "fuzz/fuzz_support.hpp"
#include "push/encode.hpp"
#include "push/message.hpp"
#include "push/ws_command.hpp"
#include "ws/utf8.hpp"

namespace {

using namespace herald;
using herald::fuzz::require;

bool is_one_object(std::string_view json) {
    auth::JsonReader r(json);
    std::string name;
    while (r.next_member(name))
        if (!r.skip_value())
            return false;
    return r.ok();
}

bool valid_ref(std::string_view ref) {
    if (ref.size() > push::max_ws_ref) return false;
    for (char c : ref)
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return false;
    return true;
}

void member(std::string& out, std::string_view name, std::string_view value) {
    out.append(",\"").append(name).append("\":\"");
    push::append_json_escaped(out, value);
    out += '"';
}

std::string write_back(const push::WsCommand& c) {
    std::string j = "{\"op\":\"";
    j += c.op == push::WsOp::subscribe ? "subscribe"
         : c.op == push::WsOp::unsubscribe ? "unsubscribe" : "publish";
    j += '"';
    member(j, "channel", c.channel);
    if (!c.ref.empty()) member(j, "ref", c.ref);
    if (c.since) {
        std::string id = c.since->epoch == 0 && c.since->seq == 0
                             ? std::string("0")
                             : push::message_id(c.since->epoch, c.since->seq);
        member(j, "since", id);
    }
    if (c.last) j += ",\"last\":" + std::to_string(c.last);
    if (c.op == push::WsOp::publish) member(j, "data", c.data);
    if (!c.event.empty()) member(j, "event", c.event);
    return j + "}";
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Piece piece(std::string_view(reinterpret_cast<const char*>(data), size));
    const std::string_view in = piece.view();
    push::WsCommand c;
    const std::string why = push::parse_ws_command(in, c);
    require(c.ref.empty() || valid_ref(c.ref), "echoed ref is valid");
    require(c.channel.empty() || config::is_valid_channel_name(c.channel),
            "echoed channel is valid");
    const bool json_error = why == "bad JSON" || why == "not a JSON object";
    require(json_error == !is_one_object(in), "JSON errors exactly when not one object");
    if (!why.empty()) return 0;
    require(!c.channel.empty(), "accepted command has a channel");
    require(!c.since || !c.since->foreign, "since is an id or 0");
    require(!(c.since && c.last), "since and last exclude each other");
    require(c.last <= push::max_last, "last within max_last");
    require(c.op == push::WsOp::subscribe || (!c.since && c.last == 0), "since/last only in subscribe");
    require(c.op == push::WsOp::publish || (c.data.empty() && c.event.empty()),
            "data/event only in publish");
    require(c.event.empty() || push::check_event_name(c.event) == push::EventNameCheck::ok,
            "event name checked");
    // The reader copies raw bytes as they are (the WebSocket layer checks UTF-8 first); the
    // escaper would write ill-formed UTF-8 as U+FFFD, so the round trip needs well-formed data.
    if (!ws::valid_utf8(c.data)) return 0;
    push::WsCommand back;
    require(push::parse_ws_command(write_back(c), back).empty(), "written-back command accepted");
    require(back.op == c.op && back.channel == c.channel && back.ref == c.ref &&
                back.last == c.last && back.data == c.data && back.event == c.event &&
                back.since.has_value() == c.since.has_value() &&
                (!c.since || (back.since->epoch == c.since->epoch && back.since->seq == c.since->seq)),
            "write-back round trip");
    return 0;
}
