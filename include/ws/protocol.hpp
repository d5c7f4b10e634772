// WebSocket message layer over client bytes (RFC 6455 §5.4 fragmentation, §5.5 control
// frames, §5.6 text, §7.4 close codes, §8.1 UTF-8 handling). Pure: no sockets, no logging.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "deflate/inflater.hpp"
#include "ws/close.hpp"
#include "ws/frame.hpp"
#include "ws/utf8.hpp"

namespace herald::ws {

// ws_max_message_size's default (1m).
inline constexpr std::size_t default_max_message_size = 1024 * 1024;

// The payload of a whole single-frame data message, still masked as it came in (see
// Protocol::deliver_masked). View into the caller's read buffer, valid during the callback.
class MaskedPayload {
public:
    MaskedPayload(std::span<char> bytes, const std::uint8_t (&key)[4], bool text) noexcept
        : bytes_(bytes), text_(text) {
        for (int i = 0; i < 4; ++i) key_[i] = key[i];
    }
    std::size_t size() const noexcept { return bytes_.size(); }
    // Writes the unmasked payload to dst (size() bytes, not overlapping the read buffer).
    // Returns invalid_payload for text that is not UTF-8 (dst holds the bytes anyway: the
    // caller drops them), else none. Either call may come first and be repeated.
    CloseCode unmask_to(char* dst) const noexcept;
    // Unmasks where the bytes are and views them in out (same result as unmask_to).
    CloseCode unmask_in_place(std::string_view& out) noexcept;

private:
    std::span<char> bytes_;
    std::uint8_t key_[4];
    bool text_;
    bool in_place_ = false;  // bytes_ are unmasked already
};

// Receives Protocol::feed()'s events, in wire order, on the thread that calls feed().
// Every view is valid only until the callback returns: it points into the caller's read buffer
// (a single-frame message, a control frame) or into the reassembly buffer. Callbacks must not
// call back into the same Protocol.
class ProtocolHandler {
public:
    // A complete message; op is Opcode::text (payload is valid UTF-8) or Opcode::binary.
    virtual void on_message(Opcode op, std::string_view payload) = 0;
    // With deliver_masked on: a complete message of one frame, uncompressed, whose payload is
    // still masked, so that the handler unmasks it where the bytes go (one pass where
    // unmasking in place and then copying takes two). The handler must unmask it (which
    // checks text) and returns what unmasking returned, or none; a code fails the connection.
    // Default: unmask in place, then on_message.
    virtual CloseCode on_masked_message(Opcode op, MaskedPayload& payload);
    // RFC 6455 §5.5.2: answer with a pong carrying the same payload.
    virtual void on_ping(std::string_view payload) = 0;
    // An unsolicited pong needs no answer; useful only as a sign of life.
    virtual void on_pong(std::string_view payload) = 0;
    // A valid close frame. code is 0 when the frame had no payload (no status). Reply with
    // encode_close(code) (empty when code is 0) unless a close was already sent. feed()
    // returns done after this call and ignores any later bytes.
    virtual void on_close(std::uint16_t code, std::string_view reason) = 0;

protected:
    ~ProtocolHandler() = default;
};

struct FeedResult {
    // need_more: every complete frame was handled; keep the rest, append more, call again.
    // done:      a close frame arrived (on_close was called); stop reading.
    // error:     the peer broke the protocol; send encode_close(close_code) and close.
    ParseStatus status;
    std::size_t consumed;     // bytes to drop from the front of the caller's buffer (error:
                              // the frames before the one that failed)
    CloseCode close_code;     // 1002, 1007 or 1009 when status == error, else none
    // need_more only: full size of the incomplete frame at the front of the rest once its
    // header is known (the caller's buffer must be able to hold that many bytes), else 0.
    std::uint64_t pending_frame_size;
};

// The message-level state machine of one connection's incoming direction.
//
// Owns the reassembly buffer of a fragmented message, which exists only while such a message
// is open; a single-frame message is delivered as a view into the caller's buffer (no copy,
// no allocation). Does not own the caller's buffer, but writes into it: payloads are unmasked
// in place. The caller passes its unconsumed bytes from the first one, each time (STYLE §6);
// a frame is consumed only once it is complete, so a frame of size S needs S bytes of buffer
// (S is at most max_message_size + 14, or wire_limit() + 14 for a compressed message; larger
// frames fail with 1009 at their header).
// Text is validated as it arrives, so invalid UTF-8 fails at its first bad byte, even in the
// middle of a frame (a payload delivered masked is whole when it is checked). Single-threaded:
// one connection's loop thread. If the handler throws or memory runs out while reassembling,
// std::terminate is called (feed is noexcept).
class Protocol {
public:
    explicit Protocol(std::size_t max_message_size = default_max_message_size) noexcept
        : max_message_size_(max_message_size) {}

    FeedResult feed(std::span<char> unconsumed, ProtocolHandler& handler) noexcept;

    // permessage-deflate was negotiated (RFC 7692): data messages whose first frame has RSV1
    // are inflated (with the appended 00 00 ff ff of §7.2.2) into a per-message buffer before
    // delivery; max_message_size then bounds the inflated size (1009), corrupt data fails with
    // 1007. window_bits: the client's agreed LZ77 window. No context takeover: the Inflater
    // (2^window_bits bytes plus about 2 KiB) exists only while one message is inflated.
    void enable_deflate(unsigned window_bits) noexcept {
        deflate_window_bits_ = window_bits;
        parser_.allow_rsv1(true);
    }

    // Whole single-frame, uncompressed data messages go to on_masked_message, payload masked,
    // instead of on_message (off by default).
    void deliver_masked(bool on) noexcept { deliver_masked_ = on; }

    // A fragmented message has started and not yet finished.
    bool message_open() const noexcept { return message_open_; }
    std::size_t max_message_size() const noexcept { return max_message_size_; }
    // Heap bytes held for reassembly (for idle-memory checks): 0 between messages.
    std::size_t reassembly_bytes() const noexcept {
        return message_.capacity() > std::string().capacity() ? message_.capacity() : 0;
    }

private:
    FeedResult fail(CloseCode code, std::size_t consumed) noexcept;
    CloseCode check_header(const FrameHeader& h) noexcept;
    CloseCode dispatch(const FrameHeader& h, std::string_view payload,
                       ProtocolHandler& handler) noexcept;
    CloseCode handle_close(std::string_view payload, ProtocolHandler& handler) noexcept;
    CloseCode deliver(Opcode op, std::string_view payload, ProtocolHandler& handler) noexcept;
    // Bytes a message may take on the wire. Compressed data may exceed its inflated size by
    // DEFLATE's stored-block overhead, 5 bytes a block, and zlib's blocks are as small as its
    // memLevel makes them: 128 bytes at memLevel 1 (3.9%), 2 KiB at 5 (Python websockets'
    // default, 0.24%). 1/16 more covers every zlib setting; the inflated size is still bounded
    // by max_message_size exactly.
    std::size_t wire_limit() const noexcept {
        return compressed_ ? max_message_size_ + max_message_size_ / 16 + 64 : max_message_size_;
    }
    CloseCode deliver_inflated(Opcode op, std::string_view payload,
                               ProtocolHandler& handler) noexcept;

    FrameParser parser_;
    std::string message_;          // reassembly buffer; released when the message ends
    std::size_t max_message_size_;
    Utf8Validator utf8_;           // state of the current text message, across fragments
    Opcode message_opcode_ = Opcode::text;
    bool message_open_ = false;
    bool text_ = false;            // the current data frame belongs to a text message
    bool compressed_ = false;      // the current message had RSV1 (validated once inflated)
    unsigned deflate_window_bits_ = 0;  // 0: permessage-deflate not negotiated
    bool closed_ = false;          // a close frame was handled
    bool deliver_masked_ = false;
    CloseCode error_ = CloseCode::none;
};

} // namespace herald::ws
