// libFuzzer target: the push encoders (include/push/encode.hpp, push/message.hpp). Each output
// is decoded back by an independent decoder written here from the specs, and must give the
// input back. Properties, for any message bytes:
//  - append_json_escaped: "\"" + out + "\"" is a valid JSON string (RFC 8259 §7, no unpaired
//    surrogate, valid UTF-8, no raw U+2028/U+2029) that decodes to the input with each
//    ill-formed UTF-8 subpart replaced by U+FFFD;
//  - append_js_escaped: a JavaScript string literal that cannot end its <script> element or
//    its string (no "</", "<!--", quote, line terminator, control character, < > & /), which
//    decodes to the same U+FFFD-replaced input;
//  - append_sse_data and Message::sse_event: parsed as an event stream (HTML §9.2.6), exactly
//    one event, whose data is the input with CRLF/CR line ends turned into LF and whose id is
//    the message id; the json form's data is the JSON envelope; the chunked form is one
//    correct HTTP chunk;
//  - Message::ws_frame: one final unmasked frame, text exactly when the data is valid UTF-8 of
//    a text type; Message::iframe_call: the three views fit together and the script holds the
//    escaped data and the id; the JSON envelope has id, channel and data;
//  - a binary (not is_text()) message loses no byte: its envelope's data is padded
//    base64 of the bytes with "encoding":"base64", its raw SSE event is `event: binary` with
//    base64 data, its raw iframe call is ("BASE64","ID","base64"); each decodes, with a strict
//    reference base64 decoder, to exactly the message bytes;
//  - ws::valid_utf8 (which decides a message's text opcode) agrees with the reference decoder; is_valid_callback and
//    agree with their grammars, and a valid callback's prefix is safe.
// Input layout: [flags][id u16][callback length u8][callback][message bytes].
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz/fuzz_support.hpp"
#include "push/encode.hpp"
#include "push/message.hpp"
#include "ws/utf8.hpp"
#include "ws/frame.hpp"

namespace {

using namespace herald::push;
using herald::config::PushFormat;
using herald::fuzz::hex_value;
using herald::fuzz::require;
namespace ref = herald::fuzz::ref;

// ---- decoders ------------------------------------------------------------------------------

enum class Dialect { json, js_in_script };

// Decodes the body of a string literal (between its quotes) into UTF-8. False if the body is
// not a literal of the dialect, could end the literal or the script early, or encodes an
// unpaired surrogate (which a correct escaper of UTF-8 input never produces).
bool decode_literal(std::string_view s, Dialect d, std::string& out) {
    out.clear();
    char16_t high = 0; // pending high surrogate
    for (std::size_t i = 0; i < s.size(); ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        std::uint32_t unit;
        if (c != '\\') {
            if (high != 0 || c < 0x20 || c == '"')
                return false;
            if (d == Dialect::js_in_script &&
                (c == '\'' || c == '<' || c == '>' || c == '/' || c == '&' || c == 0x7F))
                return false;
            out.push_back(static_cast<char>(c));
            continue;
        }
        if (++i == s.size())
            return false;
        switch (s[i]) {
        case '"':
            unit = '"';
            break;
        case '\\':
            unit = '\\';
            break;
        case '/':
            unit = '/';
            break;
        case 'b':
            unit = '\b';
            break;
        case 'f':
            unit = '\f';
            break;
        case 'n':
            unit = '\n';
            break;
        case 'r':
            unit = '\r';
            break;
        case 't':
            unit = '\t';
            break;
        case 'u': {
            if (s.size() - i < 5)
                return false;
            unit = 0;
            for (int k = 1; k <= 4; ++k) {
                int h = hex_value(s[i + static_cast<std::size_t>(k)]);
                if (h < 0)
                    return false;
                unit = unit * 16 + static_cast<std::uint32_t>(h);
            }
            i += 4;
            break;
        }
        default:
            return false;
        }
        if (d == Dialect::js_in_script && unit == '"' && s[i] == '"')
            return false; // the JS escaper writes quotes as \u0022; \" would be a new form
        if (unit >= 0xD800 && unit <= 0xDBFF) {
            if (high != 0)
                return false;
            high = static_cast<char16_t>(unit);
            continue;
        }
        if (unit >= 0xDC00 && unit <= 0xDFFF) {
            if (high == 0)
                return false;
            unit = 0x10000 + ((high - 0xD800u) << 10) + (unit - 0xDC00u);
            high = 0;
        } else if (high != 0) {
            return false;
        }
        ref::append_utf8(out, unit);
    }
    return high == 0;
}

// HTML §9.2.6 "interpret an event stream", for bytes that are one or more events.
struct SseEvent {
    std::string data;
    std::string id;
    std::string event; // the event type; "" means "message"
    bool has_id = false;
};

std::vector<SseEvent> parse_event_stream(std::string_view s, bool& trailing) {
    std::vector<SseEvent> events;
    SseEvent cur;
    std::string data;
    bool any_data = false;
    std::size_t i = 0;
    trailing = false;
    while (i < s.size()) {
        std::size_t eol = s.find_first_of("\r\n", i);
        if (eol == std::string_view::npos) {
            trailing = true; // an incomplete line: not an event (yet)
            break;
        }
        std::string_view line = s.substr(i, eol - i);
        i = eol + 1;
        if (s[eol] == '\r' && i < s.size() && s[i] == '\n')
            ++i;
        if (line.empty()) { // dispatch
            if (any_data) {
                if (!data.empty() && data.back() == '\n')
                    data.pop_back();
                cur.data = data;
                events.push_back(cur);
            }
            cur = SseEvent{};
            data.clear();
            any_data = false;
            continue;
        }
        if (line.front() == ':')
            continue;
        std::size_t colon = line.find(':');
        std::string_view field = line.substr(0, colon);
        std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
        if (!value.empty() && value.front() == ' ')
            value.remove_prefix(1);
        if (field == "data") {
            data.append(value).push_back('\n');
            any_data = true;
        } else if (field == "event") {
            cur.event = value;
        } else if (field == "id" && value.find('\0') == std::string_view::npos) {
            cur.id = value;
            cur.has_id = true;
        }
    }
    return events;
}

std::string normalize_line_ends(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r') {
            out.push_back('\n');
            if (i + 1 < s.size() && s[i + 1] == '\n')
                ++i;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

// "HEX\r\n" + payload + "\r\n" exactly; returns the payload.
std::string_view one_chunk(std::string_view s) {
    std::size_t crlf = s.find("\r\n");
    require(crlf != std::string_view::npos && crlf > 0 && crlf <= 16, "chunk-size line");
    std::size_t n = 0;
    for (char c : s.substr(0, crlf)) {
        int h = hex_value(c);
        require(h >= 0 && !(c >= 'A' && c <= 'F'), "chunk-size is lower-case hex");
        n = n * 16 + static_cast<std::size_t>(h);
    }
    require(s.size() == crlf + 2 + n + 2 && s.substr(crlf + 2 + n) == "\r\n",
            "one chunk: size line, payload, CRLF");
    require(n > 0 && s[0] != '0', "chunk size has no leading zero and is not the last chunk");
    return s.substr(crlf + 2, n);
}

// RFC 4648 §4, strict: length a multiple of 4, only A-Z a-z 0-9 + /, '=' only as the last one
// or two characters, and zero pad bits (so each byte string has one encoding).
bool base64_decode(std::string_view s, std::string& out) {
    out.clear();
    if (s.size() % 4 != 0)
        return false;
    std::size_t pad = 0;
    while (pad < 2 && pad < s.size() && s[s.size() - 1 - pad] == '=')
        ++pad;
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : s.substr(0, s.size() - pad)) {
        std::uint32_t v;
        if (c >= 'A' && c <= 'Z')
            v = static_cast<std::uint32_t>(c - 'A');
        else if (c >= 'a' && c <= 'z')
            v = static_cast<std::uint32_t>(c - 'a' + 26);
        else if (c >= '0' && c <= '9')
            v = static_cast<std::uint32_t>(c - '0' + 52);
        else if (c == '+')
            v = 62;
        else if (c == '/')
            v = 63;
        else
            return false;
        acc = (acc << 6 | v) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>(acc >> bits & 0xFF));
        }
    }
    return (acc & ((1u << bits) - 1)) == 0;
}

// Parses {"k":"v",...} with string values only (the envelope) into pairs.
bool parse_envelope(std::string_view s, std::vector<std::pair<std::string, std::string>>& out) {
    if (s.size() < 2 || s.front() != '{' || s.back() != '}')
        return false;
    std::size_t i = 1;
    auto string_at = [&](std::string& v) {
        if (i >= s.size() || s[i] != '"')
            return false;
        std::size_t j = i + 1;
        while (j < s.size() && s[j] != '"')
            j += s[j] == '\\' ? 2 : 1;
        if (j >= s.size())
            return false;
        bool ok = decode_literal(s.substr(i + 1, j - i - 1), Dialect::json, v);
        i = j + 1;
        return ok;
    };
    while (i < s.size() - 1) {
        std::string k, v;
        if (!string_at(k) || i >= s.size() || s[i++] != ':' || !string_at(v))
            return false;
        out.emplace_back(std::move(k), std::move(v));
        if (i < s.size() - 1 && s[i++] != ',')
            return false;
    }
    return i == s.size() - 1;
}

// ---- checks ----------------------------------------------------------------------------------

void check_escapers(std::string_view s) {
    const std::string want = ref::replace_invalid(s);
    std::string out = "x", decoded;
    append_json_escaped(out, s);
    std::string_view json = std::string_view(out).substr(1);
    require(out[0] == 'x', "append_json_escaped appends");
    require(ref::valid(json), "JSON escaping gives valid UTF-8");
    require(json.find("\xE2\x80\xA8") == std::string_view::npos &&
                json.find("\xE2\x80\xA9") == std::string_view::npos,
            "JSON escaping leaves no raw U+2028/U+2029");
    require(decode_literal(json, Dialect::json, decoded), "JSON escaping gives a JSON string");
    require(decoded == want, "JSON string decodes to the input (U+FFFD for ill-formed UTF-8)");

    out.clear();
    append_js_escaped(out, s);
    require(ref::valid(out), "JS escaping gives valid UTF-8");
    require(out.find("</") == std::string::npos && out.find("<!--") == std::string::npos,
            "JS literal has no </ or <!--");
    require(out.find("\xE2\x80\xA8") == std::string::npos &&
                out.find("\xE2\x80\xA9") == std::string::npos,
            "JS literal has no raw U+2028/U+2029");
    require(decode_literal(out, Dialect::js_in_script, decoded),
            "JS escaping gives a literal that cannot break out");
    require(decoded == want, "JS literal decodes to the input (U+FFFD for ill-formed UTF-8)");

    out.clear();
    append_sse_data(out, s);
    require(!out.empty() && out.back() == '\n' && out.find('\r') == std::string::npos,
            "SSE data lines end in LF and hold no CR");
    std::string joined;
    std::size_t at = 0;
    while (at < out.size()) {
        std::size_t eol = out.find('\n', at);
        std::string_view line = std::string_view(out).substr(at, eol - at);
        require(line.substr(0, 6) == "data: ", "every SSE line is a data line");
        if (at != 0)
            joined.push_back('\n');
        joined.append(line.substr(6));
        at = eol + 1;
    }
    require(joined == normalize_line_ends(s), "SSE data lines rejoin to the input");
    require(herald::ws::valid_utf8(s) == ref::valid(s), "valid_utf8 agrees with the reference");
}

void check_sse(const Message& m, PushFormat f, std::string_view want_data) {
    std::string_view bare = m.sse_event(f, false);
    bool trailing = false;
    std::vector<SseEvent> events = parse_event_stream(bare, trailing);
    require(!trailing && events.size() == 1, "sse_event is exactly one complete event");
    require(events[0].has_id && events[0].id == m.id_text(), "SSE id is the message id");
    if (f == PushFormat::raw && !m.is_text()) {
        std::string bytes;
        require(events[0].event == "binary", "a binary raw SSE event is `event: binary`");
        require(base64_decode(events[0].data, bytes) && bytes == m.data,
                "a binary raw SSE event's data is base64 of the message bytes");
    } else {
        require(events[0].event.empty(), "a text or json SSE event is a default message event");
        require(events[0].data == want_data, "SSE event data is the message data");
    }
    require(bare.size() >= 2 && bare.substr(bare.size() - 2) == "\n\n", "SSE event ends the event");
    require(one_chunk(m.sse_event(f, true)) == bare, "chunked SSE event is one chunk of it");
}

void check_ws(const Message& m, PushFormat f) {
    std::string_view frame = m.ws_frame(f);
    auto h = herald::ws::parse_frame_header(frame, false);
    require(h.status == herald::ws::ParseStatus::done && h.header.fin &&
                h.header.frame_size() == frame.size(),
            "ws_frame is one complete final unmasked frame");
    std::string_view payload = frame.substr(h.header.header_length);
    const bool text = h.header.opcode == herald::ws::Opcode::text;
    require(text || h.header.opcode == herald::ws::Opcode::binary, "ws_frame is text or binary");
    if (f == PushFormat::raw)
        require(payload == m.data && text == m.is_text(), "raw frame carries the data");
    else
        require(payload == m.json_envelope() && text, "json frame carries the envelope as text");
    if (text)
        require(ref::valid(payload), "text frame payload is valid UTF-8");
}

void check_iframe(const Message& m, PushFormat f, std::string_view want) {
    IframeCall call = m.iframe_call(f);
    const std::string id = m.id_text();
    std::string_view tail = call.tail;
    const bool base64 = f == PushFormat::raw && !m.is_text();
    const std::string close = "\",\"" + id + (base64 ? "\",\"base64" : "") + "\")</script>";
    require(tail.substr(0, 2) == "(\"" && tail.size() >= 2 + close.size() &&
                tail.substr(tail.size() - close.size()) == close,
            "iframe tail is (\"DATA\",\"ID\")</script>, or (\"DATA\",\"ID\",\"base64\") if binary");
    std::string_view lit = tail.substr(2, tail.size() - 2 - close.size());
    std::string decoded;
    if (base64) {
        // Unescaped base64: its '/' is harmless without a '<' (checked below for the tail).
        require(base64_decode(lit, decoded) && decoded == m.data,
                "a binary raw iframe DATA is base64 of the message bytes");
    } else {
        require(decode_literal(lit, Dialect::js_in_script, decoded),
                "iframe DATA is a safe literal");
        require(decoded == want, "iframe DATA decodes to the message");
    }
    require(tail.find("</") == tail.size() - 9 && tail.find("<!--") == std::string_view::npos,
            "the only </ in the iframe call is its </script>");
    require(one_chunk(call.chunked_tail) == tail, "chunked_tail is one chunk of tail");
    const std::string head = iframe_call_prefix(default_callback, true);
    require(call.chunked_default.substr(0, head.size()) == head &&
                call.chunked_default.substr(head.size()) == call.chunked_tail,
            "chunked_default is the default prefix chunk and chunked_tail");
}

void check_message(std::string_view data, std::uint16_t id, std::uint8_t flags) {
    static const char* const types[] = {
        "",          "text/plain",    "application/json", "application/octet-stream",
        "image/png", "TEXT/HTML; x=1"};
    static const char* const channels[] = {"c", "news.sport:1", "A_b-9"};
    Message m(channels[flags % 3], std::string(data), types[(flags >> 2) % 6]);
    m.id = id + 1u;
    m.epoch = 1u + flags;  // ids read "LIFE-SEQ"
    require(!m.is_text() || ref::valid(data), "is_text() only for valid UTF-8");
    require(m.body(PushFormat::raw) == data, "raw body is the data");
    require(m.body(PushFormat::json) == m.json_envelope(), "json body is the envelope");

    std::vector<std::pair<std::string, std::string>> env;
    require(parse_envelope(m.json_envelope(), env) && env.size() == (m.is_text() ? 3u : 4u) &&
                env[0].first == "id" && env[0].second == m.id_text() &&
                env[1].first == "channel" && env[1].second == m.channel &&
                env[2].first == "data",
            "JSON envelope is {id, channel, data} (+ encoding when binary)");
    if (m.is_text()) {
        require(env[2].second == data, "a text envelope's data is the message");
    } else {
        std::string bytes;
        require(env[3].first == "encoding" && env[3].second == "base64",
                "a binary envelope says \"encoding\":\"base64\"");
        require(base64_decode(env[2].second, bytes) && bytes == data,
                "a binary envelope's data is base64 of the message bytes");
    }
    require(ref::valid(m.json_envelope()), "JSON envelope is valid UTF-8");

    check_sse(m, PushFormat::raw, normalize_line_ends(data));
    check_sse(m, PushFormat::json, m.json_envelope());
    check_ws(m, PushFormat::raw);
    check_ws(m, PushFormat::json);
    check_iframe(m, PushFormat::raw, ref::replace_invalid(data));
    check_iframe(m, PushFormat::json, m.json_envelope());
}

// "herald_" [A-Za-z0-9_]+, at most max_callback bytes: no dots, so never a path to a sink.
bool ref_callback(std::string_view s) {
    const std::string_view prefix = "herald_";
    if (s.size() <= prefix.size() || s.size() > max_callback || !s.starts_with(prefix))
        return false;
    for (char c : s.substr(prefix.size()))
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    return true;
}

void check_names(std::string_view s) {
    const bool cb = is_valid_callback(s);
    require(cb == ref_callback(s), "is_valid_callback agrees with its grammar");
    if (cb) {
        require(iframe_call_prefix(s, false) == "<script>parent." + std::string(s),
                "iframe prefix is <script>parent.CALLBACK");
        require(one_chunk(iframe_call_prefix(s, true)) == iframe_call_prefix(s, false),
                "chunked iframe prefix is one chunk");
    }
}

void check_chunk(std::string_view payload) {
    if (payload.empty())
        return;
    std::string out = "x";
    append_chunk(out, payload);
    require(one_chunk(std::string_view(out).substr(1)) == payload, "append_chunk frames payload");
    std::string dec;
    append_decimal(dec, payload.size());
    require(dec == std::to_string(payload.size()), "append_decimal");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    herald::fuzz::Input input(data, size);
    const std::uint8_t flags = input.byte();
    const std::uint16_t id = input.u16();
    const std::size_t cb_len = input.byte() % 160;
    std::string_view rest = input.rest();
    const std::string_view callback = rest.substr(0, cb_len);
    rest.remove_prefix(callback.size());

    check_escapers(rest);
    check_message(rest, id, flags);
    check_names(callback);
    check_chunk(rest);
    return 0;
}
