// DEFLATE compressor (RFC 1951 §3.2): LZ77 over hash chains (the design of zlib's deflate,
// without its sliding window: a call sees the whole message), symbols collected per block,
// and each block written as stored, fixed or dynamic Huffman, whichever is smallest.
#include "deflate/deflater.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <vector>

#include "deflate/format.hpp"

namespace herald::deflate {

using namespace detail;

namespace {

// Match-finder effort per level: chain = candidates tried, nice = stop at a match this long,
// lazy = try the next position before taking a match (zlib's configuration_table, simplified).
struct LevelParams {
    unsigned chain, nice;
    bool lazy;
};
constexpr std::array<LevelParams, 10> level_params = {{{0, 0, false},
                                                       {4, 8, false},
                                                       {8, 16, false},
                                                       {16, 32, false},
                                                       {16, 32, true},
                                                       {32, 64, true},
                                                       {128, 128, true},
                                                       {256, 258, true},
                                                       {1024, 258, true},
                                                       {4096, 258, true}}};

constexpr std::size_t block_symbols = 16384; // symbols per block: bounds memory, adapts codes
constexpr unsigned max_hash_bits = 15;
constexpr unsigned min_hash_bits = 8;

// A literal (dist == 0, value = byte) or a match (value = length 3..258, dist 1..32768).
struct Symbol {
    std::uint16_t value;
    std::uint16_t dist;
};

unsigned length_code(unsigned len) noexcept { // 0..28 for lengths 3..258
    const unsigned l = len - min_match;
    if (len == max_match)
        return 28;
    if (l < 8)
        return l;
    const unsigned n = static_cast<unsigned>(std::bit_width(l)) - 1;
    return 4 * (n - 1) + ((l >> (n - 2)) & 3U);
}

unsigned distance_code(unsigned dist) noexcept { // 0..29 for distances 1..32768
    const unsigned d = dist - 1;
    if (d < 4)
        return d;
    const unsigned n = static_cast<unsigned>(std::bit_width(d)) - 1;
    return 2 * n + ((d >> (n - 1)) & 1U);
}

// Writes bits least significant first (RFC 1951 §3.1.1).
class BitWriter {
public:
    explicit BitWriter(std::string& out) noexcept : out_(out) {}
    void put(std::uint32_t value, unsigned count) {
        acc_ |= std::uint64_t{value} << n_;
        n_ += count;
        while (n_ >= 8) {
            out_.push_back(static_cast<char>(acc_ & 0xffU));
            acc_ >>= 8;
            n_ -= 8;
        }
    }
    void align() {
        if (n_ > 0)
            put(0, 8 - n_);
    }
    unsigned pending() const noexcept { return n_; }

private:
    std::string& out_;
    std::uint64_t acc_ = 0;
    unsigned n_ = 0;
};

// Code lengths for `freq`, each at most max_bits, forming a complete prefix code; at least
// two symbols get a code (a dummy one if needed) so the decoder sees a complete code.
void huffman_lengths(std::span<const std::uint32_t> freq_in, unsigned max_bits,
                     std::span<std::uint8_t> lengths) {
    std::vector<std::uint32_t> freq(freq_in.begin(), freq_in.end());
    std::fill(lengths.begin(), lengths.end(), std::uint8_t{0});
    std::vector<std::uint16_t> leaves;
    for (std::size_t s = 0; s < freq.size(); ++s)
        if (freq[s] > 0)
            leaves.push_back(static_cast<std::uint16_t>(s));
    for (std::uint16_t s = 0; leaves.size() < 2; ++s)
        if (freq[s] == 0) {
            freq[s] = 1;
            leaves.push_back(s);
        }
    std::stable_sort(leaves.begin(), leaves.end(),
                     [&](std::uint16_t a, std::uint16_t b) { return freq[a] < freq[b]; });
    // Two-queue Huffman: leaves in frequency order, internal nodes in creation order.
    const std::size_t n = leaves.size();
    std::vector<std::uint64_t> weight(2 * n - 1);
    std::vector<std::size_t> parent(2 * n - 1, 0);
    for (std::size_t i = 0; i < n; ++i)
        weight[i] = freq[leaves[i]];
    std::size_t leaf = 0, inner = n;
    auto take = [&](std::size_t k) {
        if (leaf < n && (inner >= k || weight[leaf] <= weight[inner]))
            return leaf++;
        return inner++;
    };
    for (std::size_t k = n; k < 2 * n - 1; ++k) {
        const std::size_t a = take(k), b = take(k);
        weight[k] = weight[a] + weight[b];
        parent[a] = parent[b] = k;
    }
    std::vector<unsigned> depth(2 * n - 1, 0);
    for (std::size_t i = 2 * n - 1; i-- > 0;)
        depth[i] = i == 2 * n - 2 ? 0 : depth[parent[i]] + 1;
    // Limit the lengths, then restore a complete code (Kraft sum exactly 2^max_bits).
    const std::uint64_t full = std::uint64_t{1} << max_bits;
    std::uint64_t kraft = 0;
    std::vector<unsigned> len(n);
    for (std::size_t i = 0; i < n; ++i) {
        len[i] = std::min(depth[i], max_bits);
        kraft += full >> len[i];
    }
    while (kraft > full) // lengthen the rarest codes first
        for (std::size_t i = 0; i < n && kraft > full; ++i)
            if (len[i] < max_bits)
                kraft -= full >> ++len[i];
    for (std::size_t i = n; i-- > 0;) // shorten the most frequent codes while they fit
        while (len[i] > 1 && kraft + (full >> len[i]) <= full)
            kraft += full >> len[i]--;
    while (kraft < full) { // the longest code's unit always divides what is left
        std::size_t longest = 0;
        for (std::size_t i = 1; i < n; ++i)
            if (len[i] > len[longest])
                longest = i;
        kraft += full >> len[longest]--;
    }
    for (std::size_t i = 0; i < n; ++i)
        lengths[leaves[i]] = static_cast<std::uint8_t>(len[i]);
}

// Canonical codes (RFC 1951 §3.2.2), bit-reversed so BitWriter can send them LSB first.
void canonical_codes(std::span<const std::uint8_t> lengths, std::span<std::uint16_t> codes) {
    std::array<std::uint16_t, 16> count{}, next{};
    for (std::uint8_t l : lengths)
        ++count[l];
    count[0] = 0;
    unsigned code = 0;
    for (unsigned bits = 1; bits <= max_code_bits; ++bits) {
        code = (code + count[bits - 1]) << 1;
        next[bits] = static_cast<std::uint16_t>(code);
    }
    for (std::size_t s = 0; s < lengths.size(); ++s) {
        const unsigned l = lengths[s];
        if (l == 0)
            continue;
        unsigned c = next[l]++, r = 0;
        for (unsigned i = 0; i < l; ++i, c >>= 1)
            r = (r << 1) | (c & 1U);
        codes[s] = static_cast<std::uint16_t>(r);
    }
}

struct Codes {
    std::array<std::uint8_t, 288> lit_len{};
    std::array<std::uint16_t, 288> lit_code{};
    std::array<std::uint8_t, 32> dist_len{};
    std::array<std::uint16_t, 32> dist_code{};
};

const Codes& fixed_codes() {
    static const Codes codes = [] {
        Codes c;
        for (unsigned i = 0; i < 288; ++i)
            c.lit_len[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
        c.dist_len.fill(5);
        canonical_codes(c.lit_len, c.lit_code);
        canonical_codes(c.dist_len, c.dist_code);
        return c;
    }();
    return codes;
}

// Bits the symbols take with `c`, extra bits included.
std::uint64_t symbols_cost(std::span<const Symbol> syms, const Codes& c) noexcept {
    std::uint64_t bits = c.lit_len[end_of_block];
    for (const Symbol& s : syms) {
        if (s.dist == 0) {
            bits += c.lit_len[s.value];
            continue;
        }
        const unsigned lc = length_code(s.value), dc = distance_code(s.dist);
        bits += c.lit_len[257 + lc] + length_extra[lc] + c.dist_len[dc] + distance_extra[dc];
    }
    return bits;
}

void write_symbols(BitWriter& w, std::span<const Symbol> syms, const Codes& c) {
    for (const Symbol& s : syms) {
        if (s.dist == 0) {
            w.put(c.lit_code[s.value], c.lit_len[s.value]);
            continue;
        }
        const unsigned lc = length_code(s.value), dc = distance_code(s.dist);
        w.put(c.lit_code[257 + lc], c.lit_len[257 + lc]);
        w.put(s.value - length_base[lc], length_extra[lc]);
        w.put(c.dist_code[dc], c.dist_len[dc]);
        w.put(s.dist - distance_base[dc], distance_extra[dc]);
    }
    w.put(c.lit_code[end_of_block], c.lit_len[end_of_block]);
}

// A dynamic block's codes and its header (RFC 1951 §3.2.7), prepared to be costed and sent.
struct DynamicHeader {
    Codes codes;
    unsigned hlit = 0, hdist = 0, hclen = 0;
    std::vector<std::uint8_t> rle; // code-length symbols, each followed by its extra value
    std::array<std::uint8_t, code_len_codes> cl_len{};
    std::array<std::uint16_t, code_len_codes> cl_code{};
    std::uint64_t bits = 0; // header size
};

void run_length(std::span<const std::uint8_t> lens, std::vector<std::uint8_t>& rle) {
    for (std::size_t i = 0; i < lens.size();) {
        const std::uint8_t v = lens[i];
        std::size_t run = 1;
        while (i + run < lens.size() && lens[i + run] == v)
            ++run;
        i += run;
        auto emit = [&](unsigned sym, unsigned extra) {
            rle.push_back(static_cast<std::uint8_t>(sym));
            rle.push_back(static_cast<std::uint8_t>(extra));
        };
        if (v == 0) {
            for (; run >= 11; run -= std::min<std::size_t>(run, 138))
                emit(18, static_cast<unsigned>(std::min<std::size_t>(run, 138) - 11));
            if (run >= 3)
                emit(17, static_cast<unsigned>(run - 3)), run = 0;
        } else {
            emit(v, 0), --run;
            for (; run >= 3; run -= std::min<std::size_t>(run, 6))
                emit(16, static_cast<unsigned>(std::min<std::size_t>(run, 6) - 3));
        }
        for (; run > 0; --run)
            emit(v, 0);
    }
}

void build_dynamic(std::span<const Symbol> syms, DynamicHeader& h) {
    std::array<std::uint32_t, literal_codes> lit_freq{};
    std::array<std::uint32_t, distance_codes> dist_freq{};
    for (const Symbol& s : syms) {
        if (s.dist == 0) {
            ++lit_freq[s.value];
        } else {
            ++lit_freq[257 + length_code(s.value)];
            ++dist_freq[distance_code(s.dist)];
        }
    }
    lit_freq[end_of_block] = 1;
    huffman_lengths(lit_freq, max_code_bits, std::span(h.codes.lit_len).first(literal_codes));
    huffman_lengths(dist_freq, max_code_bits, std::span(h.codes.dist_len).first(distance_codes));
    canonical_codes(h.codes.lit_len, h.codes.lit_code);
    canonical_codes(h.codes.dist_len, h.codes.dist_code);
    h.hlit = literal_codes;
    while (h.hlit > 257 && h.codes.lit_len[h.hlit - 1] == 0)
        --h.hlit;
    h.hdist = distance_codes;
    while (h.hdist > 1 && h.codes.dist_len[h.hdist - 1] == 0)
        --h.hdist;
    std::vector<std::uint8_t> lens(h.codes.lit_len.begin(), h.codes.lit_len.begin() + h.hlit);
    lens.insert(lens.end(), h.codes.dist_len.begin(), h.codes.dist_len.begin() + h.hdist);
    run_length(lens, h.rle);
    std::array<std::uint32_t, code_len_codes> cl_freq{};
    for (std::size_t i = 0; i < h.rle.size(); i += 2)
        ++cl_freq[h.rle[i]];
    huffman_lengths(cl_freq, max_code_len_bits, h.cl_len);
    canonical_codes(h.cl_len, h.cl_code);
    h.hclen = code_len_codes;
    while (h.hclen > 4 && h.cl_len[code_len_order[h.hclen - 1]] == 0)
        --h.hclen;
    static constexpr std::array<std::uint8_t, 3> rle_extra = {2, 3, 7};
    h.bits = 5 + 5 + 4 + 3 * h.hclen;
    for (std::size_t i = 0; i < h.rle.size(); i += 2)
        h.bits += h.cl_len[h.rle[i]] + (h.rle[i] >= 16 ? rle_extra[h.rle[i] - 16] : 0);
}

void write_dynamic_header(BitWriter& w, const DynamicHeader& h) {
    static constexpr std::array<std::uint8_t, 3> rle_extra = {2, 3, 7};
    w.put(h.hlit - 257, 5);
    w.put(h.hdist - 1, 5);
    w.put(h.hclen - 4, 4);
    for (unsigned i = 0; i < h.hclen; ++i)
        w.put(h.cl_len[code_len_order[i]], 3);
    for (std::size_t i = 0; i < h.rle.size(); i += 2) {
        const unsigned sym = h.rle[i];
        w.put(h.cl_code[sym], h.cl_len[sym]);
        if (sym >= 16)
            w.put(h.rle[i + 1], rle_extra[sym - 16]);
    }
}

void write_stored(BitWriter& w, std::span<const std::uint8_t> raw, bool final) {
    do {
        const std::size_t n = std::min<std::size_t>(raw.size(), max_stored);
        const bool last = n == raw.size();
        w.put(final && last ? 1 : 0, 3);
        w.align();
        w.put(static_cast<std::uint32_t>(n), 16);
        w.put(static_cast<std::uint32_t>(~n & 0xffffU), 16);
        for (std::size_t i = 0; i < n; ++i)
            w.put(raw[i], 8);
        raw = raw.subspan(n);
    } while (!raw.empty());
}

// Writes one block of `syms` (covering input bytes `raw`) in its cheapest form.
void write_block(BitWriter& w, std::span<const Symbol> syms, std::span<const std::uint8_t> raw,
                 bool final) {
    DynamicHeader dyn;
    build_dynamic(syms, dyn);
    const std::uint64_t dynamic_bits = dyn.bits + symbols_cost(syms, dyn.codes);
    const std::uint64_t fixed_bits = symbols_cost(syms, fixed_codes());
    const std::uint64_t chunks = raw.size() / max_stored + 1;
    const std::uint64_t stored_bits = chunks * (3 + 7 + 32) + 8 * std::uint64_t{raw.size()};
    if (stored_bits <= dynamic_bits && stored_bits <= fixed_bits) {
        write_stored(w, raw, final);
    } else if (fixed_bits <= dynamic_bits) {
        w.put(final ? 3 : 2, 3); // BTYPE 01
        write_symbols(w, syms, fixed_codes());
    } else {
        w.put(final ? 5 : 4, 3); // BTYPE 10
        write_dynamic_header(w, dyn);
        write_symbols(w, syms, dyn.codes);
    }
}

// LZ77 match finder over one whole input: head[hash] is the latest position with that hash,
// prev[pos % window] the one before it with the same hash.
class MatchFinder {
public:
    MatchFinder(std::span<const std::uint8_t> in, const LevelParams& p)
        : in_(in), params_(p),
          hash_bits_(std::clamp<unsigned>(static_cast<unsigned>(std::bit_width(in.size())),
                                          min_hash_bits, max_hash_bits)),
          head_(std::size_t{1} << hash_bits_, -1),
          prev_(std::min<std::size_t>(in.size(), max_distance), -1) {}

    // Adds every position below `end` not yet added.
    void insert_until(std::size_t end) noexcept {
        for (; next_ < end && next_ + min_match <= in_.size(); ++next_) {
            const std::uint32_t h = hash(next_);
            prev_[next_ & (max_distance - 1)] = head_[h];
            head_[h] = static_cast<std::int32_t>(next_);
        }
    }

    // The longest earlier match for position `pos` (already added or not): {length, distance},
    // length 0 when none of at least min_match bytes is found.
    std::pair<unsigned, unsigned> longest(std::size_t pos) const noexcept {
        const std::size_t limit = std::min<std::size_t>(max_match, in_.size() - pos);
        if (limit < min_match)
            return {0, 0};
        std::int32_t cand = head_[hash(pos)];
        if (cand >= 0 && static_cast<std::size_t>(cand) >= pos) // pos itself was added
            cand = prev_[static_cast<std::size_t>(cand) & (max_distance - 1)];
        std::size_t best = min_match - 1, best_dist = 0;
        for (unsigned chain = params_.chain; cand >= 0 && chain > 0; --chain) {
            const auto c = static_cast<std::size_t>(cand);
            if (pos - c > max_distance)
                break;
            if (in_[c + best] == in_[pos + best]) {
                std::size_t n = 0;
                while (n < limit && in_[c + n] == in_[pos + n])
                    ++n;
                if (n > best) {
                    best = n;
                    best_dist = pos - c;
                    if (n >= params_.nice || n == limit)
                        break;
                }
            }
            const std::int32_t next = prev_[c & (max_distance - 1)];
            if (next >= cand)
                break; // the slot was reused by a newer position: the chain ends here
            cand = next;
        }
        if (best < min_match)
            return {0, 0};
        return {static_cast<unsigned>(best), static_cast<unsigned>(best_dist)};
    }

private:
    std::uint32_t hash(std::size_t pos) const noexcept {
        const std::uint32_t v =
            in_[pos] | std::uint32_t{in_[pos + 1]} << 8 | std::uint32_t{in_[pos + 2]} << 16;
        return (v * 2654435761U) >> (32 - hash_bits_);
    }

    std::span<const std::uint8_t> in_;
    const LevelParams& params_;
    unsigned hash_bits_;
    std::vector<std::int32_t> head_, prev_;
    std::size_t next_ = 0;
};

} // namespace

Deflater::Deflater(int level) noexcept : level_(std::clamp(level, min_level, max_level)) {}

void Deflater::compress(std::span<const std::uint8_t> in, std::string& out, Flush flush) const {
    const LevelParams& p = level_params[static_cast<std::size_t>(level_)];
    BitWriter w(out);
    const bool finish = flush == Flush::finish;
    MatchFinder finder(in, p);
    std::vector<Symbol> syms;
    syms.reserve(std::min(in.size(), block_symbols));
    std::size_t block_start = 0, pos = 0;
    while (pos < in.size()) {
        auto [len, dist] = finder.longest(pos);
        if (p.lazy && len >= min_match && len < p.nice) {
            finder.insert_until(pos + 1);
            if (finder.longest(pos + 1).first > len)
                len = 0; // a better match starts at the next byte: send a literal first
        }
        if (len >= min_match) {
            syms.push_back({static_cast<std::uint16_t>(len), static_cast<std::uint16_t>(dist)});
            pos += len;
        } else {
            syms.push_back({in[pos], 0});
            ++pos;
        }
        finder.insert_until(pos);
        if (syms.size() >= block_symbols && pos < in.size()) {
            write_block(w, syms, in.subspan(block_start, pos - block_start), false);
            syms.clear();
            block_start = pos;
        }
    }
    if (!syms.empty() || finish)
        write_block(w, syms, in.subspan(block_start), finish);
    if (finish) {
        w.align();
    } else {
        w.put(0, 3); // RFC 1951 §3.2.4: an empty stored block marks the byte boundary
        w.align();
        w.put(0, 16);
        w.put(0xffff, 16);
    }
}

} // namespace herald::deflate
