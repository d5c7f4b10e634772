// The multiplexed WebSocket's client commands: one JSON object per text frame.
#include "push/ws_command.hpp"

#include <array>

#include "auth/json_reader.hpp"
#include "config/values.hpp"
#include "push/message.hpp"

namespace herald::push {
namespace {

// The members the protocol knows, by index into a WsCommand's raw values.
enum Member : std::uint8_t { op, channel, ref, since, last, data, event, members };
constexpr std::array<std::string_view, members> member_names = {
    "op", "channel", "ref", "since", "last", "data", "event"};

// One member as read: its JSON type and, for a string or a number, its value.
struct Raw {
    bool present = false;
    auth::JsonType type = auth::JsonType::invalid;
    std::string text;
    auth::JsonNumber number;
};

bool is_ref_char(char c) noexcept {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == ':' || c == '-';
}

bool is_valid_ref(std::string_view s) noexcept {
    if (s.empty() || s.size() > max_ws_ref) return false;
    for (char c : s)
        if (!is_ref_char(c)) return false;
    return true;
}

std::string quoted(Member m) { return "\"" + std::string(member_names[m]) + "\""; }

// Reads every member of the object; "" or the first problem (a member given twice). false when
// the text is not one well-formed JSON object.
bool read_members(std::string_view text, std::array<Raw, members>& raw, std::string& why) {
    auth::JsonReader r(text);
    std::string name;
    while (r.next_member(name)) {
        std::size_t i = 0;
        while (i < members && member_names[i] != name) ++i;
        if (i == members || raw[i].present) {
            if (i != members && why.empty()) why = quoted(static_cast<Member>(i)) + " given twice";
            if (!r.skip_value()) return false;
            continue;
        }
        Raw& m = raw[i];
        m.present = true;
        m.type = r.peek_type();
        const bool ok = m.type == auth::JsonType::string   ? r.read_string(m.text)
                        : m.type == auth::JsonType::number ? r.read_number(m.number)
                                                           : r.skip_value();
        if (!ok) return false;
    }
    return r.ok();
}

// "" when the member is absent or a string; else the reason.
std::string want_string(const std::array<Raw, members>& raw, Member m) {
    if (!raw[m].present || raw[m].type == auth::JsonType::string) return {};
    return quoted(m) + " must be a string";
}

std::string check_subscribe(const std::array<Raw, members>& raw, WsCommand& out) {
    if (raw[since].present && raw[last].present) return "\"since\" and \"last\" exclude each other";
    if (raw[since].present) {
        if (raw[since].type != auth::JsonType::string) return "\"since\" must be a string";
        const Resume r = parse_resume_id(raw[since].text);
        if (r.kind != ResumeKind::id || r.at.foreign)
            return "\"since\" must be a message id or \"0\"";
        out.since = r.at;
    }
    if (raw[last].present) {
        const auth::JsonNumber& n = raw[last].number;
        if (raw[last].type != auth::JsonType::number || n.negative || n.fraction || n.exponent || n.too_long ||
            n.integer < 1 || static_cast<std::uint64_t>(n.integer) > max_last)
            return "\"last\" must be an integer from 1 to " + std::to_string(max_last);
        out.last = static_cast<std::uint64_t>(n.integer);
    }
    return {};
}

std::string check_publish(std::array<Raw, members>& raw, WsCommand& out) {
    if (!raw[data].present) return "missing \"data\"";
    if (std::string why = want_string(raw, data); !why.empty()) return why;
    if (std::string why = want_string(raw, event); !why.empty()) return why;
    out.data = std::move(raw[data].text);
    if (raw[event].present) {
        switch (check_event_name(raw[event].text)) {
        case EventNameCheck::ok: break;
        case EventNameCheck::invalid:
            return "\"event\" must be 1-64 of A-Z a-z 0-9 _ . : -";
        case EventNameCheck::reserved:
            return "\"event\" names one of herald's own events (message, binary, herald-*)";
        }
        out.event = std::move(raw[event].text);
    }
    return {};
}

// The members another op takes (refused rather than ignored: a client that sends them
// expects something to happen).
std::string check_foreign_members(const std::array<Raw, members>& raw, WsOp o,
                                  std::string_view op_name) {
    for (Member m : {since, last, data, event}) {
        const bool belongs = ((m == since || m == last) && o == WsOp::subscribe) ||
                             ((m == data || m == event) && o == WsOp::publish);
        if (raw[m].present && !belongs)
            return quoted(m) + " is not a member of " + std::string(op_name);
    }
    return {};
}

} // namespace

std::string parse_ws_command(std::string_view text, WsCommand& out) {
    out = WsCommand{};
    std::size_t first = text.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos || text[first] != '{') return "not a JSON object";
    std::array<Raw, members> raw;
    std::string why;
    if (!read_members(text, raw, why)) return "bad JSON";
    // The channel and the ref first, so every later refusal can echo them.
    if (raw[channel].present && raw[channel].type == auth::JsonType::string &&
        config::is_valid_channel_name(raw[channel].text))
        out.channel = raw[channel].text;
    if (raw[ref].present) {
        if (raw[ref].type != auth::JsonType::string || !is_valid_ref(raw[ref].text))
            return "\"ref\" must be 1-64 of A-Z a-z 0-9 _ . : -";
        out.ref = raw[ref].text;
    }
    if (!why.empty()) return why;
    if (!raw[op].present) return "missing \"op\"";
    if (raw[op].type != auth::JsonType::string) return "\"op\" must be a string";
    const std::string& name = raw[op].text;
    if (name == "subscribe") out.op = WsOp::subscribe;
    else if (name == "unsubscribe") out.op = WsOp::unsubscribe;
    else if (name == "publish") out.op = WsOp::publish;
    else return "unknown op";
    if (!raw[channel].present) return "missing \"channel\"";
    if (std::string w = want_string(raw, channel); !w.empty()) return w;
    if (out.channel.empty()) return "invalid channel name";
    if (std::string w = check_foreign_members(raw, out.op, name); !w.empty()) return w;
    switch (out.op) {
    case WsOp::subscribe: return check_subscribe(raw, out);
    case WsOp::publish: return check_publish(raw, out);
    case WsOp::unsubscribe: break;
    }
    return {};
}

} // namespace herald::push
