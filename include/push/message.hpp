// One published message and its wire encodings for every push strategy: WebSocket frames
// (RFC 6455 §5.2), SSE events (HTML §9.2.6), iframe script calls, the JSON envelope, each inside
// an HTTP/1.1 chunk where the body is chunked (RFC 9112 §7.1).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "core/clock.hpp"
#include "push/resume.hpp"

namespace herald::push {

// The three views of one iframe call `<script>parent.CALLBACK("DATA","ID")</script>` (a binary
// raw message: `("BASE64","ID","base64")`). The shared tail from `("` on does not depend on the
// callback, so:
//  - default callback, chunked body: write chunked_default (one view, two chunks);
//  - custom callback, chunked body: write the subscriber's iframe_call_prefix(cb, true), built
//    once at subscribe time, then chunked_tail;
//  - HTTP/1.0 (no chunking): write iframe_call_prefix(cb, false), then tail.
// No case copies per subscriber. Views live as long as the Message.
struct IframeCall {
    std::string_view chunked_default;  // "1a\r\n<script>parent.herald_push\r\n" + chunked_tail
    std::string_view chunked_tail;     // "HEX\r\n" + tail + "\r\n"
    std::string_view tail;             // ("DATA","ID")</script> or ("DATA","ID","base64")...
};

// An event name given by the publisher (X-Herald-Event): 1..max_event_name bytes of
// [A-Za-z0-9_.:-], so it needs no escaping in an SSE field, a JSON or JS string or a header.
// `message`, `binary` and every `herald-` name are herald's own.
inline constexpr std::size_t max_event_name = 64;
enum class EventNameCheck : std::uint8_t { ok, invalid, reserved };
EventNameCheck check_event_name(std::string_view name) noexcept;

// A published message. Created by the broker, given its id and times by Channel::append()
// under the channel lock (times already set are kept: a Redis node copy's message read from
// history comes aged), then shared read-only as std::shared_ptr<const Message> by the
// channel's ring buffer, every worker thread and every subscriber's output queue. It owns its
// bytes and its encodings.
//
// Encodings are built lazily, once each, on first use (std::call_once), by whichever thread
// asks first; other threads asking at the same time wait for that one build. Lazy rather than
// eager at publish because a channel usually has subscribers of one or two strategies and the
// ring buffer keeps every message alive for resume: building all six forms eagerly would copy
// each message six times for nothing. The encoding accessors may only be called once the
// message is published (id assigned). Every returned view is valid for the Message's lifetime.
struct Message {
    Message(std::string channel_name, std::string bytes, std::string type,
            std::string event_name = {});
    Message(const Message&) = delete;
    Message& operator=(const Message&) = delete;

    std::uint64_t id = 0;                                      // per channel life, from 1
    std::uint64_t epoch = 0;                                   // the channel life
    std::string channel;
    std::string data;
    std::string content_type;                                  // as published; may be ""
    std::string event;                                         // checked name, or "" for none
    std::chrono::system_clock::time_point published_at{};      // wall clock, for logs
    Clock::time_point published_steady{};                      // for ttl

    // Text unless the media type is something other than text/*, application/json,
    // application/javascript (empty type counts as text); and never if data is not valid
    // UTF-8. Decides the WebSocket opcode of the raw frame, and whether the text encodings
    // (envelope, SSE, iframe) carry data as it is or in base64, so no byte is ever lost.
    bool is_text() const noexcept { return text_; }

    // The client-visible id "EPOCH-SEQ" (push/resume.hpp).
    std::string id_text() const { return message_id(epoch, id); }

    // HTTP body of a one-message response (polling, long-polling): data, or the envelope.
    std::string_view body(config::PushFormat f) const;
    // {"id":"ID","channel":"NAME","data":"..."}: data as a JSON string when is_text(); else
    // {"id":"ID","channel":"NAME","data":"BASE64","encoding":"base64"}, data in padded
    // standard base64 (RFC 4648 §4). A named message has "event":"EVENT" after "channel".
    std::string_view json_envelope() const;
    // A complete unmasked final frame: raw -> data (text or binary opcode by is_text()),
    // json -> the envelope (always text).
    std::string_view ws_frame(config::PushFormat f) const;
    // The same message as one permessage-deflate frame (RFC 7692 §7.2.1: RSV1 set, payload
    // compressed with no history and the 00 00 ff ff tail removed), for every subscriber that
    // negotiated the extension with a full 32 KiB server window. Compressed once, at `level`
    // (the first caller's: locations with different ws_deflate_level share the first build).
    std::string_view ws_frame_deflated(config::PushFormat f, int level) const;
    // "id: ID\n" + "data: ...\n" per line + "\n"; json puts the envelope on one data line;
    // a binary raw message is "id: ID\nevent: binary\ndata: BASE64\n\n"; a named text raw
    // message has "event: EVENT\n" after the id (a binary one stays `binary`: its name is
    // only in the envelope; json events never get an event line: the name is in the envelope).
    // chunked: framed as one HTTP chunk; otherwise the bare event (a substring of the same bytes).
    std::string_view sse_event(config::PushFormat f, bool chunked) const;
    // DATA is data (raw) or the envelope (json) as an escaped JS string literal body; a binary
    // raw message's DATA is its base64 and the call gets a third argument, "base64". A named
    // raw message gets the name as a fourth argument, the third being "" for text:
    // ("DATA","ID","","EVENT") / ("BASE64","ID","base64","EVENT"); json: in the envelope.
    IframeCall iframe_call(config::PushFormat f) const;

private:
    enum Kind : std::uint8_t {
        ws_raw, ws_json, sse_raw, sse_json, iframe_raw, iframe_json, ws_raw_deflate,
        ws_json_deflate, kinds
    };
    // bytes = [unused reserve][begin: chunk/frame head][payload .. payload+payload_len][tail].
    // Heads are written right-aligned into a reserve in front of the payload, so each encoding
    // is produced in one pass with no second copy.
    struct Encoding {
        std::atomic<bool> ready{false};  // fast path: skips call_once's TLS setup once built
        std::once_flag once;
        std::string bytes;
        std::size_t begin = 0;        // first byte of the full (framed) form
        std::size_t mid = 0;          // iframe: first byte of chunked_tail
        std::size_t payload = 0;      // first byte of the unframed payload
        std::size_t payload_len = 0;
    };

    const Encoding& encoded(Kind k) const;
    void build(Kind k, Encoding& e) const;
    void build_ws(bool json, Encoding& e) const;
    void build_ws_deflated(bool json, int level, Encoding& e) const;
    void build_sse(bool json, Encoding& e) const;
    void build_iframe(bool json, Encoding& e) const;
    void append_envelope(std::string& out) const;

    bool text_;
    mutable std::array<Encoding, kinds> enc_;
};

// True for media types the text rule above accepts (parameters after ';' ignored,
// case-insensitive). Exposed for the strategies and tests.
bool is_text_type(std::string_view content_type) noexcept;

} // namespace herald::push
