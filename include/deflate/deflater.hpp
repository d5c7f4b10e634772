// Deflater: a DEFLATE compressor (RFC 1951): LZ77 over hash chains, then per block the
// cheapest of stored, fixed Huffman and dynamic Huffman coding (length-limited codes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace herald::deflate {

// How a compress() call ends its output.
enum class Flush : std::uint8_t {
    sync,   // non-final blocks, then an empty stored block: the output ends 00 00 ff ff
            // (RFC 7692 §7.2.1 strips those four bytes from a message)
    finish, // the last block has BFINAL=1: a complete DEFLATE stream
};

inline constexpr int min_level = 1;
inline constexpr int max_level = 9;
inline constexpr int default_level = 6;

// Compresses whole messages with no history between them (each call is independent, as for
// RFC 7692 server_no_context_takeover), so one Deflater can serve any number of messages.
// Owns no memory between calls: the match finder's tables (about 6 bytes per input byte up
// to the 32 KiB window, plus a hash table sized to the input) live for one call.
// Stateless between calls, so a const Deflater may be used from several threads.
class Deflater {
public:
    // level: min_level..max_level (clamped). Higher levels search longer hash chains and
    // defer matches (lazy matching) for a better ratio at more CPU.
    explicit Deflater(int level = default_level) noexcept;

    // Appends the DEFLATE encoding of `in` to `out`, ended as `flush` says. Empty input gives
    // just the flush (sync: 00 00 ff ff; finish: one empty final block). Only allocation
    // failure (std::bad_alloc) can fail.
    void compress(std::span<const std::uint8_t> in, std::string& out, Flush flush) const;

    int level() const noexcept { return level_; }

private:
    int level_;
};

} // namespace herald::deflate
