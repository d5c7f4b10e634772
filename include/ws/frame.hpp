// WebSocket frame codec (RFC 6455 §5.2-§5.5): client frame header parsing and validation,
// in-place unmasking, an incremental FrameParser, and small-frame encoding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/parse_status.hpp"
#include "ws/close.hpp"
#include "ws/frame_header.hpp"

namespace herald::ws {

using herald::ParseStatus;  // core's: the same outcome as the HTTP and RESP parsers

// RFC 6455 §5.5: control frames carry at most 125 payload bytes.
inline constexpr std::size_t max_control_payload = 125;
// 2 bytes + 8-byte length + 4-byte masking key.
inline constexpr std::size_t max_client_frame_header = 14;

struct FrameHeader {
    std::uint64_t payload_length = 0;
    std::uint8_t mask[4] = {};       // masking key as sent; zeros when unmasked
    Opcode opcode = Opcode::continuation;
    bool fin = false;
    bool masked = false;
    bool rsv1 = false;               // RFC 7692 §6: "Per-Message Compressed" (when allowed)
    std::uint8_t header_length = 0;  // 2..14 bytes before the payload

    bool is_control() const noexcept { return (static_cast<unsigned>(opcode) & 0x8) != 0; }
    std::uint64_t frame_size() const noexcept { return header_length + payload_length; }
};

struct HeaderResult {
    ParseStatus status;
    CloseCode error;     // protocol_error when status == error, else none
    FrameHeader header;  // meaningful when status == done
};

// Parses and validates the frame header at the start of bytes. Stateless: returns need_more
// (and may be called again with more bytes) until the whole header is there, but reports a
// violation as soon as the bytes that prove it arrive. Violations, all close 1002:
// RSV2-3 set, RSV1 set unless allow_rsv1 (permessage-deflate negotiated) or, even then, on a
// control or continuation frame (RFC 7692 §6.1), reserved opcodes 3-7 and 0xB-0xF, a control
// frame with FIN=0 or more than 125 bytes, a 64-bit length with the top bit set, and a mask
// bit that is not expect_masked (clients must mask, servers must not: §5.1).
// Non-minimal length encodings are accepted: §5.2 binds the sender and they are harmless.
HeaderResult parse_frame_header(std::span<const char> bytes, bool expect_masked = true,
                                bool allow_rsv1 = false) noexcept;

// XORs data with the masking key in place, in vector rounds (128 bytes with AVX2, else 64).
// offset is the position of data[0] within the frame payload, so a payload may be unmasked in
// pieces. Returns whether every unmasked byte is ASCII (below 0x80; true for no bytes).
bool unmask(std::span<char> data, const std::uint8_t (&key)[4], std::uint64_t offset) noexcept;
// The same from src into dst (n bytes each; dst == src is unmask(), otherwise they must not
// overlap): unmasking where the bytes are going costs one pass over them instead of two.
bool unmask_copy(char* dst, const char* src, std::size_t n, const std::uint8_t (&key)[4],
                 std::uint64_t offset) noexcept;

// Incremental parser for one frame at a time over the caller's read buffer.
//
// Contract: the caller passes its unconsumed bytes starting at the current frame's first byte
// (the same prefix every time, possibly longer, possibly moved to another address) and keeps
// them until feed() returns done; then it consumes header().frame_size() bytes and the next
// feed() starts a new frame. The parser keeps offsets, never pointers. It unmasks payload
// bytes in place, each exactly once, as they arrive, except the payload of a whole data frame
// the caller asked to receive masked (feed's keep_masked). Owns no memory; not thread-safe.
class FrameParser {
public:
    struct Result {
        ParseStatus status;       // done: the whole frame is in bytes, payload unmasked
        CloseCode error;          // when status == error (the parser then stays failed)
        bool new_header;          // header() became valid in this call: check it once
        std::size_t fresh_begin;  // [fresh_begin, fresh_end): payload bytes of `bytes`
        std::size_t fresh_end;    // unmasked by this call (for incremental UTF-8 checks)
        bool fresh_ascii;         // those bytes were unmasked and are all ASCII (no UTF-8
                                  // check needed between code points); false if unknown
        bool masked;              // done, and the payload is still masked (keep_masked)
    };

    explicit FrameParser(bool expect_masked = true) noexcept : expect_masked_(expect_masked) {}

    // keep_masked: a frame that is whole in bytes when its header is parsed, final, not
    // compressed (RSV1 clear) and a text or binary frame is returned done with its payload
    // still masked (Result::masked); the caller unmasks it with header().mask.
    Result feed(std::span<char> bytes, bool keep_masked = false) noexcept;
    // The current (or just completed) frame's header: valid from the call that reported
    // new_header until the feed() after the one that returned done.
    const FrameHeader& header() const noexcept { return header_; }
    // Accept RSV1 on first data frames (permessage-deflate was negotiated).
    void allow_rsv1(bool on) noexcept { allow_rsv1_ = on; }
    // True between the call that parsed a header and the one that completes the frame.
    bool has_header() const noexcept { return have_header_; }
    // Payload bytes of the current frame unmasked so far (they sit at header_length..).
    std::uint64_t payload_seen() const noexcept { return seen_; }

private:
    FrameHeader header_;
    std::uint64_t seen_ = 0;
    bool have_header_ = false;
    CloseCode error_ = CloseCode::none;
    bool expect_masked_;
    bool allow_rsv1_ = false;
};

// A complete unmasked (server) frame with a copy of payload. Convenience for control frames
// and tests; the broadcast path builds headers with encode_frame_header() and shares payloads.
std::string encode_frame(Opcode op, std::string_view payload, bool fin = true);

} // namespace herald::ws
