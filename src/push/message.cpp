// Message and its lazily built, shared wire encodings (RFC 6455 §5.2, HTML §9.2.6, RFC 9112 §7.1).
#include "push/message.hpp"

#include <cstring>

#include "core/ascii.hpp"
#include "core/base64url.hpp"
#include "push/encode.hpp"
#include "http/chunked.hpp"
#include "ws/deflate_frame.hpp"
#include "ws/frame_header.hpp"
#include "ws/utf8.hpp"

namespace herald::push {

namespace {

// The default callback's head as its own chunk: 0x1a = 26 = size of "<script>parent.herald_push".
constexpr std::string_view default_head = "1a\r\n<script>parent.herald_push\r\n";
static_assert(std::string_view("<script>parent.herald_push").size() == 0x1a);

} // namespace

bool is_text_type(std::string_view content_type) noexcept {
    const std::string_view t = ascii::trim_ows(content_type.substr(0, content_type.find(';')));
    if (t.empty()) return true;
    return (t.size() > 5 && ascii::iequals(t.substr(0, 5), "text/")) || ascii::iequals(t, "application/json") ||
           ascii::iequals(t, "application/javascript");
}

EventNameCheck check_event_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > max_event_name) return EventNameCheck::invalid;
    for (const char ch : name) {
        const auto c = static_cast<unsigned char>(ch);
        if (!ascii::is_alpha(c) && !ascii::is_digit(c) && c != '_' && c != '.' && c != ':' &&
            c != '-')
            return EventNameCheck::invalid;
    }
    if (name == "message" || name == "binary" || name.substr(0, 7) == "herald-")
        return EventNameCheck::reserved;
    return EventNameCheck::ok;
}

Message::Message(std::string channel_name, std::string bytes, std::string type,
                 std::string event_name)
    : channel(std::move(channel_name)), data(std::move(bytes)), content_type(std::move(type)),
      event(std::move(event_name)), text_(is_text_type(content_type) && ws::valid_utf8(data)) {}

const Message::Encoding& Message::encoded(Kind k) const {
    Encoding& e = enc_[k];
    if (e.ready.load(std::memory_order_acquire)) return e;
    std::call_once(e.once, [&] {
        build(k, e);
        e.ready.store(true, std::memory_order_release);
    });
    return e;
}

void Message::build(Kind k, Encoding& e) const {
    switch (k) {
    case ws_raw: build_ws(false, e); break;
    case ws_json: build_ws(true, e); break;
    case sse_raw: build_sse(false, e); break;
    case sse_json: build_sse(true, e); break;
    case iframe_raw: build_iframe(false, e); break;
    case iframe_json: build_iframe(true, e); break;
    case ws_raw_deflate:
    case ws_json_deflate:  // built by ws_frame_deflated(), which knows the level
    case kinds: break;
    }
}

void Message::append_envelope(std::string& out) const {
    out.append("{\"id\":\"");
    append_message_id(out, epoch, id);
    out.append("\",\"channel\":\"");
    append_json_escaped(out, channel);
    if (!event.empty()) {
        out.append("\",\"event\":\"");
        append_json_escaped(out, event);
    }
    out.append("\",\"data\":\"");
    if (text_) {
        append_json_escaped(out, data);
        out.append("\"}");
    } else {
        append_base64(out, data);  // its alphabet needs no JSON escaping
        out.append("\",\"encoding\":\"base64\"}");
    }
}

void Message::build_ws(bool json, Encoding& e) const {
    constexpr std::size_t reserve = ws::max_frame_header;
    std::string& b = e.bytes;
    b.reserve(reserve + data.size() +
              (json ? data.size() / 2 + 96 + channel.size() + event.size() : 0));
    b.assign(reserve, '\0');
    if (json)
        append_envelope(b);
    else
        b.append(data);
    e.payload = reserve;
    e.payload_len = b.size() - reserve;
    unsigned char head[ws::max_frame_header];
    const ws::Opcode op = json || text_ ? ws::Opcode::text : ws::Opcode::binary;
    const std::size_t n = ws::encode_frame_header(op, true, e.payload_len, head);
    e.begin = reserve - n;
    std::memcpy(b.data() + e.begin, head, n);
}

void Message::build_sse(bool json, Encoding& e) const {
    constexpr std::size_t reserve = http::max_chunk_header;
    std::string& b = e.bytes;
    b.reserve(reserve + data.size() + data.size() / 2 + 128 + channel.size() + event.size());
    b.assign(reserve, '\0');
    b.append("id: ");
    append_message_id(b, epoch, id);
    b.push_back('\n');
    if (json) {
        b.append("data: ");
        append_envelope(b);  // JSON escaping leaves no line ends: one data line
        b.push_back('\n');
    } else if (text_) {
        if (!event.empty()) {
            b.append("event: ");
            b.append(event);  // checked: no line end
            b.push_back('\n');
        }
        append_sse_data(b, data);
    } else {
        // A named event: a page listening only to "message" never sees base64 as text.
        b.append("event: binary\ndata: ");
        append_base64(b, data);
        b.push_back('\n');
    }
    b.push_back('\n');
    e.payload = reserve;
    e.payload_len = b.size() - reserve;
    char head[http::max_chunk_header];
    const std::size_t n = http::chunk_header(e.payload_len, head);
    e.begin = reserve - n;
    std::memcpy(b.data() + e.begin, head, n);
    b.append("\r\n");
}

void Message::build_iframe(bool json, Encoding& e) const {
    const std::size_t reserve = default_head.size() + http::max_chunk_header;
    std::string& b = e.bytes;
    b.reserve(reserve + data.size() + data.size() / 2 + 128 + channel.size() + event.size());
    b.assign(reserve, '\0');
    b.append("(\"");
    if (json) {
        std::string envelope;
        append_envelope(envelope);
        append_js_escaped(b, envelope);
    } else if (text_) {
        append_js_escaped(b, data);
    } else {
        // base64 holds no quote, backslash, '<', '>', '&' or line terminator; its '/' cannot
        // end the script element without a '<' before it, so it is written unescaped.
        append_base64(b, data);
    }
    b.append("\",\"");
    append_message_id(b, epoch, id);
    if (!json && !event.empty()) {
        b.append(text_ ? "\",\"\",\"" : "\",\"base64\",\"");
        append_js_escaped(b, event);
        b.append("\")</script>");
    } else {
        b.append(json || text_ ? "\")</script>" : "\",\"base64\")</script>");
    }
    e.payload = reserve;
    e.payload_len = b.size() - reserve;
    char head[http::max_chunk_header];
    const std::size_t n = http::chunk_header(e.payload_len, head);
    e.mid = reserve - n;
    std::memcpy(b.data() + e.mid, head, n);
    e.begin = e.mid - default_head.size();
    std::memcpy(b.data() + e.begin, default_head.data(), default_head.size());
    b.append("\r\n");
}

std::string_view Message::body(config::PushFormat f) const {
    return f == config::PushFormat::json ? json_envelope() : std::string_view(data);
}

std::string_view Message::json_envelope() const {
    const Encoding& e = encoded(ws_json);
    return std::string_view(e.bytes).substr(e.payload, e.payload_len);
}

std::string_view Message::ws_frame(config::PushFormat f) const {
    const Encoding& e = encoded(f == config::PushFormat::json ? ws_json : ws_raw);
    return std::string_view(e.bytes).substr(e.begin);
}

std::string_view Message::ws_frame_deflated(config::PushFormat f, int level) const {
    const bool json = f == config::PushFormat::json;
    Encoding& e = enc_[json ? ws_json_deflate : ws_raw_deflate];
    if (!e.ready.load(std::memory_order_acquire)) {
        std::call_once(e.once, [&] {
            build_ws_deflated(json, level, e);
            e.ready.store(true, std::memory_order_release);
        });
    }
    return std::string_view(e.bytes).substr(e.begin);
}

// RFC 7692 §7.2.1: the plain frame's payload, deflated and framed with RSV1.
void Message::build_ws_deflated(bool json, int level, Encoding& e) const {
    const Encoding& plain = encoded(json ? ws_json : ws_raw);
    const std::string_view payload = std::string_view(plain.bytes).substr(plain.payload,
                                                                           plain.payload_len);
    const ws::Opcode op = json || text_ ? ws::Opcode::text : ws::Opcode::binary;
    const ws::DeflatedFrame f = ws::encode_deflated_frame(op, payload, level, e.bytes);
    e.begin = f.begin;
    e.payload = ws::max_frame_header;
    e.payload_len = f.payload_len;
}

std::string_view Message::sse_event(config::PushFormat f, bool chunked) const {
    const Encoding& e = encoded(f == config::PushFormat::json ? sse_json : sse_raw);
    const std::string_view all(e.bytes);
    return chunked ? all.substr(e.begin) : all.substr(e.payload, e.payload_len);
}

IframeCall Message::iframe_call(config::PushFormat f) const {
    const Encoding& e = encoded(f == config::PushFormat::json ? iframe_json : iframe_raw);
    const std::string_view all(e.bytes);
    return {all.substr(e.begin), all.substr(e.mid), all.substr(e.payload, e.payload_len)};
}

} // namespace herald::push
