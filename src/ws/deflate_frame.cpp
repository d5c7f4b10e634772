// permessage-deflate message framing (RFC 7692 §7.2.1, §6: RSV1).
#include "ws/deflate_frame.hpp"

#include <cstdint>
#include <cstring>

#include "deflate/deflater.hpp"

namespace herald::ws {

std::size_t append_deflated_payload(std::string_view payload, int level, std::string& out) {
    const std::size_t before = out.size();
    deflate::Deflater(level).compress(
        {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()}, out,
        deflate::Flush::sync);
    out.resize(out.size() - 4);  // the sync flush's empty stored block: 00 00 ff ff
    return out.size() - before;
}

DeflatedFrame encode_deflated_frame(Opcode op, std::string_view payload, int level,
                                    std::string& out) {
    out.assign(max_frame_header, '\0');
    const std::size_t payload_len = append_deflated_payload(payload, level, out);
    unsigned char head[max_frame_header];
    const std::size_t n = encode_frame_header(op, true, payload_len, head);
    head[0] |= 0x40;  // RSV1
    const std::size_t begin = max_frame_header - n;
    std::memcpy(out.data() + begin, head, n);
    return {begin, payload_len};
}

} // namespace herald::ws
