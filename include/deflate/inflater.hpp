// Inflater: an incremental DEFLATE decoder (RFC 1951 §3.2: stored, fixed and dynamic Huffman
// blocks) with a bounded output, for permessage-deflate (RFC 7692 §7.2.2).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace herald::deflate {

enum class InflateStatus : std::uint8_t {
    need_more,     // every input byte was taken; the stream goes on (or ends at a sync flush)
    end_of_stream, // a block with BFINAL=1 ended; `consumed` stops after its last byte
    error,         // invalid data (bad block type, code, length, distance): terminal
    too_large,     // the output would pass the caller's limit: terminal
};

struct InflateResult {
    InflateStatus status;
    std::size_t consumed; // input bytes taken by this call
};

// Decodes one DEFLATE stream fed in pieces split anywhere; bits of a piece that do not yet
// make a whole symbol are kept inside, so the caller passes only new bytes each time.
// Owns its history window (2^window_bits bytes, allocated at construction) and the current
// block's Huffman tables (sizeof(Inflater) is 3,680 bytes on x86-64): that plus the window is
// its whole memory.
// Distances are checked against the history written so far (including earlier messages
// when the caller keeps one Inflater across them: context takeover) and the window size.
// Single-threaded; not copyable.
class Inflater {
public:
    // window_bits: 8..15 (RFC 7692 client_max_window_bits); distances beyond 2^bits fail.
    explicit Inflater(unsigned window_bits = 15);
    Inflater(const Inflater&) = delete;
    Inflater& operator=(const Inflater&) = delete;

    // Decodes `in`, appending the output to `out`. `limit` caps out.size() after the call:
    // producing more returns too_large (out then holds at most `limit` bytes). After error or
    // too_large every call returns the same status; after end_of_stream, reset() must be
    // called before the next stream. Never reads outside `in`.
    InflateResult inflate(std::span<const std::uint8_t> in, std::string& out, std::size_t limit);

    // Starts a new stream. keep_history=true keeps the window so the next stream may refer
    // to this one's output (RFC 7692 context takeover across messages is one stream, so this
    // is only needed after BFINAL); false forgets it.
    void reset(bool keep_history) noexcept;

    // Whether the decoder stopped at a byte boundary between blocks with no pending bits:
    // where a sync flush (empty stored block, 00 00 ff ff) leaves it.
    bool at_block_boundary() const noexcept;

    // A canonical Huffman code (RFC 1951 §3.2.2): counts per length, symbols in code order,
    // and a look-up table for the codes of at most fast_bits bits, indexed by the next
    // fast_bits bits of the stream: (symbol << 4) | length, 0 where no such code starts there
    // (longer codes, unused codes: those take the bit-by-bit walk).
    static constexpr unsigned fast_bits = 9;
    struct Huffman {
        std::array<std::uint16_t, 16> count{};
        std::array<std::uint16_t, 288> symbol{};
        std::uint16_t coded = 0; // symbols with a code
        std::array<std::uint16_t, 1U << fast_bits> fast{};
    };

private:
    enum class State : std::uint8_t {
        block_header,
        stored_len,
        stored_copy,
        table_sizes,
        code_len_lens,
        code_lens,
        codes,
        end_of_stream,
        failed,
        too_large
    };
    bool need(unsigned n) noexcept;
    std::uint32_t peek(unsigned n) const noexcept {
        return static_cast<std::uint32_t>(bits_ & ((std::uint64_t{1} << n) - 1));
    }
    void drop(unsigned n) noexcept {
        bits_ >>= n;
        bit_count_ -= n;
    }
    void refill() noexcept;
    int decode(const Huffman& h, unsigned& used) const noexcept;
    void put(std::uint8_t byte, std::string& out) noexcept {  // one literal: out and window
        out.push_back(static_cast<char>(byte));
        window_[window_pos_] = byte;
        window_pos_ = (window_pos_ + 1) & window_mask_;
        if (history_ <= window_mask_) ++history_;
    }
    void copy_match(std::size_t dist, unsigned len, std::string& out);
    InflateStatus step(std::string& out, std::size_t limit);
    InflateStatus read_block_header() noexcept;
    InflateStatus read_stored_len() noexcept;
    InflateStatus copy_stored(std::string& out, std::size_t limit);
    InflateStatus read_code_lens() noexcept;
    InflateStatus decode_codes(std::string& out, std::size_t limit);
    InflateStatus fail(State s) noexcept {
        state_ = s;
        return s == State::failed ? InflateStatus::error : InflateStatus::too_large;
    }

    std::unique_ptr<std::uint8_t[]> window_;
    std::size_t window_mask_;
    std::size_t window_pos_ = 0; // next write index (mod window size)
    std::size_t history_ = 0;    // bytes of history available (<= window size)
    std::span<const std::uint8_t> in_;
    std::size_t in_pos_ = 0;
    std::uint64_t bits_ = 0;
    unsigned bit_count_ = 0;
    State state_ = State::block_header;
    bool final_ = false;
    std::uint32_t stored_left_ = 0;
    unsigned nlen_ = 0, ndist_ = 0, ncode_ = 0, index_ = 0;
    std::array<std::uint8_t, 320> lengths_{};
    Huffman lencode_, distcode_;
};

// Builds a canonical code from code lengths. Returns 0 for a complete code, a positive
// number for an incomplete one (codes left unused), -1 for an over-subscribed one.
int build_huffman(Inflater::Huffman& h, std::span<const std::uint8_t> lengths) noexcept;

} // namespace herald::deflate
