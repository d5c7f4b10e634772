// Incremental DEFLATE decoder (RFC 1951 §3.2). Huffman decoding walks the canonical code one
// length at a time over peeked bits (the method of zlib's contrib/puff), so a symbol whose bits
// have not all arrived leaves the state untouched and the next call retries it.
#include "deflate/inflater.hpp"

#include <algorithm>
#include <cassert>

#include "deflate/format.hpp"

namespace herald::deflate {

using namespace detail;

int build_huffman(Inflater::Huffman& h, std::span<const std::uint8_t> lengths) noexcept {
    h.count.fill(0);
    h.fast.fill(0);  // first: the early returns below must not leave the last block's table
    for (std::uint8_t len : lengths)
        ++h.count[len];
    h.coded = static_cast<std::uint16_t>(lengths.size() - h.count[0]);
    if (h.count[0] == lengths.size())
        return 0; // no codes: complete, and any decode fails
    int left = 1;
    for (unsigned len = 1; len <= max_code_bits; ++len) {
        left <<= 1;
        left -= h.count[len];
        if (left < 0)
            return -1; // over-subscribed
    }
    std::array<std::uint16_t, 16> offs{};
    for (unsigned len = 1; len < max_code_bits; ++len)
        offs[len + 1] = static_cast<std::uint16_t>(offs[len] + h.count[len]);
    for (std::size_t sym = 0; sym < lengths.size(); ++sym)
        if (lengths[sym] != 0)
            h.symbol[offs[lengths[sym]]++] = static_cast<std::uint16_t>(sym);
    // The look-up table: canonical codes (RFC 1951 §3.2.2 step 2) of at most fast_bits bits,
    // bit-reversed since DEFLATE sends a code's first bit in the lowest position.
    constexpr unsigned fast_size = 1U << Inflater::fast_bits;
    std::array<unsigned, 16> next{};
    for (unsigned len = 2; len <= max_code_bits; ++len)
        next[len] = (next[len - 1] + h.count[len - 1]) << 1;
    for (std::size_t sym = 0; sym < lengths.size(); ++sym) {
        const unsigned len = lengths[sym];
        if (len == 0) continue;
        const unsigned code = next[len]++;
        if (len > Inflater::fast_bits) continue;
        unsigned rev = 0;
        for (unsigned i = 0; i < len; ++i) rev |= ((code >> i) & 1U) << (len - 1 - i);
        const auto entry = static_cast<std::uint16_t>((sym << 4) | len);
        for (unsigned k = rev; k < fast_size; k += 1U << len) h.fast[k] = entry;
    }
    return left;
}

namespace {

struct FixedCodes {
    Inflater::Huffman lencode, distcode;
};

// RFC 1951 §3.2.6: the fixed literal/length and distance codes.
const FixedCodes& fixed_codes() noexcept {
    static const FixedCodes codes = [] {
        FixedCodes c;
        std::array<std::uint8_t, 288> lengths{};
        for (unsigned i = 0; i < 288; ++i)
            lengths[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
        build_huffman(c.lencode, lengths);
        // 30 and 31 get codes too, so that decoding them fails at once (they never occur).
        std::array<std::uint8_t, 32> dist{};
        dist.fill(5);
        build_huffman(c.distcode, dist);
        return c;
    }();
    return codes;
}

constexpr int need_bits = -1;
constexpr int bad_code = -2;

} // namespace

Inflater::Inflater(unsigned window_bits)
    // Not zeroed: a distance is checked against the history written, never reads past it.
    : window_(std::make_unique_for_overwrite<std::uint8_t[]>(std::size_t{1} << window_bits)),
      window_mask_((std::size_t{1} << window_bits) - 1) {
    assert(window_bits >= 8 && window_bits <= max_window_bits);
}

void Inflater::reset(bool keep_history) noexcept {
    if (!keep_history)
        history_ = 0;
    bits_ = 0;
    bit_count_ = 0;
    state_ = State::block_header;
    final_ = false;
}

bool Inflater::at_block_boundary() const noexcept {
    return state_ == State::block_header && bit_count_ == 0;
}

void Inflater::refill() noexcept {
    while (bit_count_ <= 56 && in_pos_ < in_.size()) {
        bits_ |= std::uint64_t{in_[in_pos_++]} << bit_count_;
        bit_count_ += 8;
    }
}

bool Inflater::need(unsigned n) noexcept {
    refill();
    return bit_count_ >= n;
}

// Decodes one symbol from the bits after the first `used` ones; on success adds its length to
// `used`. Returns the symbol, need_bits when the bits run out, bad_code for an unused code.
int Inflater::decode(const Huffman& h, unsigned& used) const noexcept {
    // Bits past bit_count_ read as 0, so the entry is right whenever its code's bits are all here.
    if (used < bit_count_) {
        const std::uint16_t e = h.fast[(bits_ >> used) & ((1U << fast_bits) - 1)];
        const unsigned len = e & 15U;
        if (len != 0 && used + len <= bit_count_) {
            used += len;
            return e >> 4;
        }
    }
    int code = 0, first = 0, index = 0;
    for (unsigned len = 1; len <= max_code_bits; ++len) {
        if (used + len > bit_count_)
            return need_bits;
        code |= static_cast<int>((bits_ >> (used + len - 1)) & 1U);
        const int count = h.count[len];
        if (code - count < first) {
            used += len;
            const int at = index + (code - first);
            return h.symbol[static_cast<std::size_t>(at)];
        }
        index += count;
        if (index >= h.coded)
            return bad_code; // past the last code of an incomplete code
        first += count;
        first <<= 1;
        code <<= 1;
    }
    return bad_code;
}

// Byte by byte: a match may overlap its own output (dist < len repeats a pattern).
void Inflater::copy_match(std::size_t dist, unsigned len, std::string& out) {
    const std::size_t base = out.size();
    out.resize(base + len);
    char* dst = out.data() + base;
    for (unsigned i = 0; i < len; ++i) {
        const std::uint8_t b = window_[(window_pos_ - dist) & window_mask_];
        dst[i] = static_cast<char>(b);
        window_[window_pos_] = b;
        window_pos_ = (window_pos_ + 1) & window_mask_;
    }
    history_ = std::min(history_ + len, window_mask_ + 1);
}


InflateResult Inflater::inflate(std::span<const std::uint8_t> in, std::string& out,
                                std::size_t limit) {
    in_ = in;
    in_pos_ = 0;
    InflateStatus status = step(out, limit);
    std::size_t consumed = in_pos_;
    if (status == InflateStatus::end_of_stream) {
        // Whole bytes pulled into the bit buffer past the end are given back.
        drop(bit_count_ % 8);
        const std::size_t unused = bit_count_ / 8;
        consumed = unused > consumed ? 0 : consumed - unused;
        bits_ = 0;
        bit_count_ = 0;
    }
    in_ = {};
    return {status, consumed};
}

InflateStatus Inflater::step(std::string& out, std::size_t limit) {
    for (;;) {
        InflateStatus s = InflateStatus::need_more;
        switch (state_) {
        case State::block_header:
            s = read_block_header();
            break;
        case State::stored_len:
            s = read_stored_len();
            break;
        case State::stored_copy:
            s = copy_stored(out, limit);
            break;
        case State::table_sizes:
        case State::code_len_lens:
        case State::code_lens:
            s = read_code_lens();
            break;
        case State::codes:
            s = decode_codes(out, limit);
            break;
        case State::end_of_stream:
            return InflateStatus::end_of_stream;
        case State::failed:
            return InflateStatus::error;
        case State::too_large:
            return InflateStatus::too_large;
        }
        // need_more from a handler means: no progress possible with the input left.
        if (s == InflateStatus::need_more)
            return s;
        if (s != InflateStatus::end_of_stream)
            return s; // error or too_large
        // end_of_stream is returned by handlers as "progress made, go on".
        if (state_ == State::end_of_stream)
            return InflateStatus::end_of_stream;
    }
}

// Handlers return need_more (stuck: all input taken), end_of_stream (progress: loop again),
// or a terminal error / too_large.
namespace {
constexpr InflateStatus progress = InflateStatus::end_of_stream;
}

// RFC 1951 §3.2.3: BFINAL (1 bit), BTYPE (2 bits).
InflateStatus Inflater::read_block_header() noexcept {
    if (!need(3))
        return InflateStatus::need_more;
    final_ = (bits_ & 1U) != 0;
    const unsigned type = static_cast<unsigned>(bits_ >> 1) & 3U;
    drop(3);
    switch (type) {
    case 0:
        drop(bit_count_ % 8); // §3.2.4: stored data starts at a byte boundary
        state_ = State::stored_len;
        return progress;
    case 1:
        lencode_ = fixed_codes().lencode;
        distcode_ = fixed_codes().distcode;
        state_ = State::codes;
        return progress;
    case 2:
        state_ = State::table_sizes;
        return progress;
    default:
        return fail(State::failed);
    }
}

// RFC 1951 §3.2.4: LEN and NLEN (one's complement), little-endian.
InflateStatus Inflater::read_stored_len() noexcept {
    if (!need(32))
        return InflateStatus::need_more;
    const std::uint32_t len = peek(16);
    const std::uint32_t nlen = static_cast<std::uint32_t>(bits_ >> 16) & 0xffffU;
    drop(32);
    if (len != (~nlen & 0xffffU))
        return fail(State::failed);
    stored_left_ = len;
    state_ = State::stored_copy;
    return progress;
}

InflateStatus Inflater::copy_stored(std::string& out, std::size_t limit) {
    while (stored_left_ > 0) {
        if (bit_count_ == 0 && in_pos_ == in_.size())
            return InflateStatus::need_more;
        if (out.size() >= limit)
            return fail(State::too_large);
        std::uint8_t byte = 0;
        if (bit_count_ >= 8) {
            byte = static_cast<std::uint8_t>(bits_);
            drop(8);
        } else {
            byte = in_[in_pos_++];
        }
        put(byte, out);
        --stored_left_;
    }
    state_ = final_ ? State::end_of_stream : State::block_header;
    return progress;
}

// RFC 1951 §3.2.7: HLIT, HDIST, HCLEN, the code-length code, then the code lengths of the
// literal/length and distance codes, run-length coded with symbols 16, 17 and 18.
InflateStatus Inflater::read_code_lens() noexcept {
    if (state_ == State::table_sizes) {
        if (!need(14))
            return InflateStatus::need_more;
        nlen_ = peek(5) + 257;
        ndist_ = static_cast<unsigned>(bits_ >> 5 & 31U) + 1;
        ncode_ = static_cast<unsigned>(bits_ >> 10 & 15U) + 4;
        drop(14);
        if (nlen_ > literal_codes || ndist_ > distance_codes)
            return fail(State::failed);
        lengths_.fill(0);
        index_ = 0;
        state_ = State::code_len_lens;
    }
    if (state_ == State::code_len_lens) {
        for (; index_ < ncode_; ++index_) {
            if (!need(3))
                return InflateStatus::need_more;
            lengths_[code_len_order[index_]] = static_cast<std::uint8_t>(peek(3));
            drop(3);
        }
        // The code-length code must be complete.
        if (build_huffman(lencode_, std::span(lengths_).first(code_len_codes)) != 0)
            return fail(State::failed);
        lengths_.fill(0);
        index_ = 0;
        state_ = State::code_lens;
    }
    while (index_ < nlen_ + ndist_) {
        refill();
        unsigned used = 0;
        const int sym = decode(lencode_, used);
        if (sym == need_bits)
            return InflateStatus::need_more;
        if (sym < 0)
            return fail(State::failed);
        unsigned value = 0, repeat = 1;
        if (sym < 16) {
            value = static_cast<unsigned>(sym);
        } else {
            static constexpr std::array<std::uint8_t, 3> extra = {2, 3, 7};
            static constexpr std::array<std::uint8_t, 3> base = {3, 3, 11};
            const auto k = static_cast<std::size_t>(sym - 16);
            if (used + extra[k] > bit_count_)
                return InflateStatus::need_more;
            repeat = base[k] + static_cast<unsigned>((bits_ >> used) & ((1U << extra[k]) - 1));
            used += extra[k];
            if (sym == 16) {
                if (index_ == 0)
                    return fail(State::failed); // nothing to repeat
                value = lengths_[index_ - 1];
            }
        }
        if (index_ + repeat > nlen_ + ndist_)
            return fail(State::failed);
        drop(used);
        for (unsigned i = 0; i < repeat; ++i)
            lengths_[index_++] = static_cast<std::uint8_t>(value);
    }
    if (lengths_[end_of_block] == 0)
        return fail(State::failed); // no way to end the block
    // An incomplete code is allowed only as a single code of length 1 (as zlib does).
    const auto lens = std::span(lengths_).first(nlen_);
    const int lerr = build_huffman(lencode_, lens);
    if (lerr < 0 || (lerr > 0 && nlen_ != lencode_.count[0] + lencode_.count[1]))
        return fail(State::failed);
    const auto dists = std::span(lengths_).subspan(nlen_, ndist_);
    const int derr = build_huffman(distcode_, dists);
    if (derr < 0 || (derr > 0 && ndist_ != distcode_.count[0] + distcode_.count[1]))
        return fail(State::failed);
    state_ = State::codes;
    return progress;
}

// RFC 1951 §3.2.5: literals, end of block, and <length, backward distance> pairs. A pair is
// decoded whole (at most 48 bits) from peeked bits before anything is dropped.
InflateStatus Inflater::decode_codes(std::string& out, std::size_t limit) {
    for (;;) {
        refill();
        unsigned used = 0;
        const int sym = decode(lencode_, used);
        if (sym == need_bits)
            return InflateStatus::need_more;
        if (sym < 0)
            return fail(State::failed);
        if (sym < 256) {
            if (out.size() >= limit)
                return fail(State::too_large);
            drop(used);
            put(static_cast<std::uint8_t>(sym), out);
            continue;
        }
        if (sym == static_cast<int>(end_of_block)) {
            drop(used);
            state_ = final_ ? State::end_of_stream : State::block_header;
            return progress;
        }
        const auto lsym = static_cast<std::size_t>(sym - 257);
        if (lsym >= length_base.size())
            return fail(State::failed); // 286 and 287 never occur
        if (used + length_extra[lsym] > bit_count_)
            return InflateStatus::need_more;
        const unsigned len =
            length_base[lsym] +
            static_cast<unsigned>((bits_ >> used) & ((1U << length_extra[lsym]) - 1));
        used += length_extra[lsym];
        const int dsym = decode(distcode_, used);
        if (dsym == need_bits)
            return InflateStatus::need_more;
        if (dsym < 0 || dsym >= static_cast<int>(distance_codes))
            return fail(State::failed);
        const auto d = static_cast<std::size_t>(dsym);
        if (used + distance_extra[d] > bit_count_)
            return InflateStatus::need_more;
        const std::size_t dist =
            distance_base[d] +
            static_cast<std::size_t>((bits_ >> used) & ((1U << distance_extra[d]) - 1));
        used += distance_extra[d];
        if (dist > history_)
            return fail(State::failed); // before the start of the history or the window
        if (out.size() + len > limit)
            return fail(State::too_large);
        drop(used);
        copy_match(dist, len, out);
    }
}

} // namespace herald::deflate
