// WebSocket message layer (RFC 6455 §5.4-§5.6, §7.4, §8.1): fragmentation, control frames,
// UTF-8 text, close frames.
#include "ws/protocol.hpp"

#include <array>
#include <cstring>

#include "ws/deflate_stats.hpp"

namespace herald::ws {
namespace {

inline std::string_view view(std::span<char> s) noexcept { return {s.data(), s.size()}; }

} // namespace

CloseCode MaskedPayload::unmask_to(char* dst) const noexcept {
    bool ascii = false;
    if (in_place_) {
        if (!bytes_.empty()) std::memcpy(dst, bytes_.data(), bytes_.size());
    } else {
        ascii = unmask_copy(dst, bytes_.data(), bytes_.size(), key_, 0);
    }
    if (text_ && !ascii && !valid_utf8({dst, bytes_.size()})) return CloseCode::invalid_payload;
    return CloseCode::none;
}

CloseCode MaskedPayload::unmask_in_place(std::string_view& out) noexcept {
    out = view(bytes_);
    bool ascii = false;
    if (!in_place_) {
        ascii = unmask_copy(bytes_.data(), bytes_.data(), bytes_.size(), key_, 0);
        in_place_ = true;
    }
    if (text_ && !ascii && !valid_utf8(out)) return CloseCode::invalid_payload;
    return CloseCode::none;
}

CloseCode ProtocolHandler::on_masked_message(Opcode op, MaskedPayload& payload) {
    std::string_view bytes;
    if (CloseCode c = payload.unmask_in_place(bytes); c != CloseCode::none) return c;
    on_message(op, bytes);
    return CloseCode::none;
}

FeedResult Protocol::feed(std::span<char> unconsumed, ProtocolHandler& handler) noexcept {
    if (closed_) return {ParseStatus::done, unconsumed.size(), CloseCode::none, 0};
    if (error_ != CloseCode::none) return {ParseStatus::error, 0, error_, 0};
    std::size_t off = 0;
    for (;;) {
        std::span<char> rest = unconsumed.subspan(off);
        FrameParser::Result r = parser_.feed(rest, deliver_masked_ && !message_open_);
        if (r.status == ParseStatus::error) return fail(r.error, off);
        const FrameHeader& h = parser_.header();
        if (r.new_header) {
            if (CloseCode c = check_header(h); c != CloseCode::none) return fail(c, off);
        }
        // RFC 6455 §8.1: fail on invalid text as soon as it is seen, not at the message end.
        // ASCII between code points (unmasking told) leaves the validator where it is.
        // A payload left masked is checked whole, as it is unmasked (MaskedPayload).
        if (text_ && !compressed_ && !h.is_control() && !r.masked &&
            r.fresh_end != r.fresh_begin && !(r.fresh_ascii && utf8_.complete()) &&
            !utf8_.feed(view(rest.subspan(r.fresh_begin, r.fresh_end - r.fresh_begin))))
            return fail(CloseCode::invalid_payload, off);
        if (r.status == ParseStatus::need_more)
            return {ParseStatus::need_more, off, CloseCode::none,
                    parser_.has_header() ? h.frame_size() : 0};

        std::span<char> payload = rest.subspan(h.header_length, h.payload_length);
        CloseCode c;
        if (r.masked) {  // a whole text or binary message (check_header passed it)
            MaskedPayload masked(payload, h.mask, text_);
            c = handler.on_masked_message(h.opcode, masked);
        } else {
            c = dispatch(h, view(payload), handler);
        }
        if (c != CloseCode::none) return fail(c, off);  // consumed: up to this frame
        off += h.frame_size();
        if (closed_) return {ParseStatus::done, off, CloseCode::none, 0};
        if (off == unconsumed.size()) return {ParseStatus::need_more, off, CloseCode::none, 0};
    }
}

FeedResult Protocol::fail(CloseCode code, std::size_t consumed) noexcept {
    error_ = code;
    message_open_ = false;
    std::string().swap(message_);
    return {ParseStatus::error, consumed, code, 0};
}

// Checks that need only the header, so a bad frame fails before its payload is buffered.
CloseCode Protocol::check_header(const FrameHeader& h) noexcept {
    switch (h.opcode) {
    case Opcode::continuation:
        // RFC 6455 §5.4: a continuation frame only continues an open fragmented message.
        if (!message_open_) return CloseCode::protocol_error;
        if (h.payload_length > wire_limit() - message_.size())
            return CloseCode::message_too_big;
        return CloseCode::none;
    case Opcode::text:
    case Opcode::binary:
        // RFC 6455 §5.4: fragments of different messages MUST NOT interleave.
        if (message_open_) return CloseCode::protocol_error;
        compressed_ = h.rsv1;
        if (h.payload_length > wire_limit()) return CloseCode::message_too_big;
        text_ = h.opcode == Opcode::text;
        utf8_.reset();
        return CloseCode::none;
    default:
        return CloseCode::none;  // control frames: fully checked by parse_frame_header()
    }
}

CloseCode Protocol::dispatch(const FrameHeader& h, std::string_view payload,
                             ProtocolHandler& handler) noexcept {
    switch (h.opcode) {
    case Opcode::ping:
        handler.on_ping(payload);
        return CloseCode::none;
    case Opcode::pong:
        handler.on_pong(payload);
        return CloseCode::none;
    case Opcode::close:
        return handle_close(payload, handler);
    case Opcode::text:
    case Opcode::binary:
        if (h.fin) return deliver(h.opcode, payload, handler);
        message_open_ = true;
        message_opcode_ = h.opcode;
        message_.assign(payload);
        return CloseCode::none;
    case Opcode::continuation:
        message_.append(payload);
        if (!h.fin) return CloseCode::none;
        {
            CloseCode c = deliver(message_opcode_, message_, handler);
            message_open_ = false;
            std::string().swap(message_);  // keep idle connections small
            return c;
        }
    }
    return CloseCode::protocol_error;  // unreachable: the parser rejects other opcodes
}

CloseCode Protocol::deliver(Opcode op, std::string_view payload,
                            ProtocolHandler& handler) noexcept {
    if (compressed_) return deliver_inflated(op, payload, handler);
    // The bytes were validated as they arrived; only a sequence cut off at the end remains.
    if (op == Opcode::text && !utf8_.complete()) return CloseCode::invalid_payload;
    handler.on_message(op, payload);
    return CloseCode::none;
}

// RFC 7692 §7.2.2: append 00 00 ff ff to the payload and inflate; the text check runs on the
// inflated bytes.
CloseCode Protocol::deliver_inflated(Opcode op, std::string_view payload,
                                     ProtocolHandler& handler) noexcept {
    static constexpr std::array<std::uint8_t, 4> tail = {0x00, 0x00, 0xff, 0xff};
    compressed_ = false;
    deflate::Inflater inflater(deflate_window_bits_);
    std::string out;
    const std::span<const std::uint8_t> in(reinterpret_cast<const std::uint8_t*>(payload.data()),
                                           payload.size());
    deflate::InflateResult r = inflater.inflate(in, out, max_message_size_);
    if (r.status == deflate::InflateStatus::need_more)
        r = inflater.inflate(tail, out, max_message_size_);
    if (r.status == deflate::InflateStatus::too_large) return CloseCode::message_too_big;
    if (r.status == deflate::InflateStatus::error) return CloseCode::invalid_payload;
    if (op == Opcode::text && !valid_utf8(out)) return CloseCode::invalid_payload;
    count_received_deflated(payload.size(), out.size());
    handler.on_message(op, out);
    return CloseCode::none;
}

// RFC 6455 §5.5.1, §7.4: an empty payload means "no status"; otherwise a 2-byte code that is
// valid on the wire, then a UTF-8 reason.
CloseCode Protocol::handle_close(std::string_view payload, ProtocolHandler& handler) noexcept {
    std::uint16_t code = 0;
    std::string_view reason;
    if (payload.size() == 1) return CloseCode::protocol_error;
    if (payload.size() >= 2) {
        code = static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                          static_cast<unsigned char>(payload[1]));
        if (!valid_close_code(code)) return CloseCode::protocol_error;
        reason = payload.substr(2);
        if (!valid_utf8(reason)) return CloseCode::invalid_payload;
    }
    closed_ = true;
    message_open_ = false;
    std::string().swap(message_);
    handler.on_close(code, reason);
    return CloseCode::none;
}

} // namespace herald::ws
