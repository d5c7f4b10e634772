// wsload: the client half of the WebSocket framing (RFC 6455 §5.2-§5.3): masked frames out,
// unmasked server frames in. Part of the single-TU wsload build.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace wsload {

enum Opcode : std::uint8_t { op_cont = 0, op_text = 1, op_binary = 2, op_close = 8, op_ping = 9, op_pong = 10 };

// Appends one final, masked frame. The mask key is the caller's: a load generator may reuse one
// (servers unmask whatever key they get; the key only guards browsers against cache poisoning).
inline void append_client_frame(std::string& out, std::uint8_t opcode, std::string_view payload,
                                const std::array<std::uint8_t, 4>& key) {
    const std::uint64_t n = payload.size();
    out.push_back(static_cast<char>(0x80 | opcode));
    if (n < 126) {
        out.push_back(static_cast<char>(0x80 | n));
    } else if (n <= 0xffff) {
        out.push_back(static_cast<char>(0x80 | 126));
        out.push_back(static_cast<char>(n >> 8));
        out.push_back(static_cast<char>(n & 0xff));
    } else {
        out.push_back(static_cast<char>(0x80 | 127));
        for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<char>((n >> s) & 0xff));
    }
    for (std::uint8_t b : key) out.push_back(static_cast<char>(b));
    for (std::size_t i = 0; i < n; ++i)
        out.push_back(static_cast<char>(static_cast<std::uint8_t>(payload[i]) ^ key[i & 3]));
}

// Incremental parser of server frames. With keep_payload off it only counts data frames (their
// payload is skipped without copying; control frames always carry theirs); with it on, on_frame
// gets the whole payload: a view into the
// caller's input when the frame arrived in one read, else into the parser's own buffer (valid
// until on_frame returns). Control frames interleaved in fragmented messages are handled; the
// opcode passed for a completed data message is that of its first fragment.
class FrameParser {
public:
    explicit FrameParser(bool keep_payload = false) : keep_payload_(keep_payload) {}

    // Calls on_frame(std::uint8_t opcode, bool fin, std::string_view payload, bool compressed)
    // for each frame completed in `in` (compressed: RSV1 was set on the message's first frame,
    // permessage-deflate). Returns false on a frame a server must not send (masked, or a 64-bit
    // length with the top bit set).
    template <class OnFrame>
    bool feed(std::string_view in, OnFrame&& on_frame) {
        std::size_t i = 0;
        while (i < in.size()) {
            if (!in_payload_) {
                hdr_[have_++] = static_cast<std::uint8_t>(in[i++]);
                if (have_ == 2) {
                    if (hdr_[1] & 0x80) return false;
                    const unsigned l7 = hdr_[1] & 0x7f;
                    need_ = l7 == 126 ? 4 : l7 == 127 ? 10 : 2;
                }
                if (have_ < need_) continue;
                if (!start_payload()) return false;
                if (left_ == 0) finish(std::string_view{}, on_frame);
                continue;
            }
            const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(left_, in.size() - i));
            const std::string_view piece = in.substr(i, take);
            i += take;
            left_ -= take;
            if (!keep_payload_ && !(hdr_[0] & 0x08)) {
                if (left_ == 0) finish(std::string_view{}, on_frame);
            } else if (left_ == 0 && buf_.empty()) {
                finish(piece, on_frame);
            } else {
                buf_.append(piece);
                if (left_ == 0) {
                    finish(buf_, on_frame);
                    buf_.clear();
                }
            }
        }
        return true;
    }

private:
    bool start_payload() noexcept {
        const unsigned l7 = hdr_[1] & 0x7f;
        if (l7 < 126) {
            left_ = l7;
        } else if (l7 == 126) {
            left_ = (std::uint64_t{hdr_[2]} << 8) | hdr_[3];
        } else {
            left_ = 0;
            for (int k = 2; k < 10; ++k) left_ = (left_ << 8) | hdr_[k];
            if (left_ >> 63) return false;
        }
        in_payload_ = true;
        return true;
    }

    template <class OnFrame>
    void finish(std::string_view payload, OnFrame& on_frame) {
        const std::uint8_t opcode = hdr_[0] & 0x0f;
        const bool fin = hdr_[0] & 0x80;
        in_payload_ = false;
        have_ = 0;
        need_ = 2;
        if (opcode == op_cont) {
            on_frame(message_opcode_, fin, payload, message_rsv1_);
        } else {
            const bool rsv1 = hdr_[0] & 0x40;
            if (opcode < op_close) {
                message_opcode_ = opcode;
                message_rsv1_ = rsv1;
            }
            on_frame(opcode, fin, payload, rsv1);
        }
    }

    bool keep_payload_;
    bool in_payload_ = false;
    std::uint8_t have_ = 0;
    std::uint8_t need_ = 2;
    std::uint8_t message_opcode_ = op_text;
    bool message_rsv1_ = false;
    std::array<std::uint8_t, 10> hdr_{};
    std::uint64_t left_ = 0;
    std::string buf_;
};

} // namespace wsload
