// permessage-deflate message framing (RFC 7692 §7.2.1): the one place that compresses a
// message payload and frames it with RSV1, for a session's own messages and for the shared
// frames the broker fans out (and, client side, the wsload benchmark tool).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "ws/frame_header.hpp"

namespace herald::ws {

// Appends payload compressed as one RFC 7692 message to out: DEFLATE at level (clamped to
// 1..9) with a sync flush and no history (no context takeover), the flush's final
// 00 00 ff ff removed (§7.2.1). Returns how many bytes were appended.
std::size_t append_deflated_payload(std::string_view payload, int level, std::string& out);

// Where encode_deflated_frame() put the frame inside its output string.
struct DeflatedFrame {
    std::size_t begin;        // first byte of the frame (its header)
    std::size_t payload_len;  // compressed payload bytes, at max_frame_header..
};

// Replaces out with one unmasked final server frame of opcode op, RSV1 set ("Per-Message
// Compressed", §6), whose payload is payload deflated as append_deflated_payload() does.
// The compressed payload always starts at out[max_frame_header]; the header sits right
// before it, from out[begin] (the bytes before begin are unused).
DeflatedFrame encode_deflated_frame(Opcode op, std::string_view payload, int level,
                                    std::string& out);

} // namespace herald::ws
