// Unit tests for the DEFLATE module (deflate/inflater.hpp, deflate/deflater.hpp): known
// vectors (RFC 1951 block types, RFC 7692 §7.2.3 examples), malformed streams, the output
// limit, every split point of the incremental inflater, and round trips at every level.
#include <criterion/criterion.h>

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>

#include "deflate/deflater.hpp"
#include "deflate/inflater.hpp"
#include "support/feed.hpp"

using herald::deflate::Deflater;
using herald::deflate::Flush;
using herald::deflate::Inflater;
using herald::deflate::InflateResult;
using herald::deflate::InflateStatus;

namespace {

using namespace std::string_view_literals;

std::span<const std::uint8_t> bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// zlib's (level 9, raw) dynamic-Huffman encoding of zlib_dynamic_text.
constexpr std::string_view zlib_dynamic =
    "\x5d\x8e\x51\x0a\xc0\x20\x0c\x43\xaf\x22\x3d\xc6\x6e\xe3\xa6\xcc\x81\x8e\x81\xc2\x3e\xbc\xfc\xa0\x09\xd8\xf5\x47\x93\x9a\x3e\x33\xe5\x4a\xb2\x85\x33\xb6\x16\x83\x1c\x45\x28\xef\xfc\x76\xf8\xa5\xf4\x98\x58\x88\xf5\x29\x4c\xa5\x5c\x07\xe5\x9e\x07\x29\x78\x57\x0f\x09\xac\xcf\xc2\xff\x98\x34\x66\x55\x81\x26\x0e\x94\x0e\x94\x64\x5a\xb8\xa1\x69\x41\x2c\x2f\x93\x36\x1f\xf9\x9d\xd5\xd3\x59\x34\x30\x3d\x80\xfd\x00"sv;
constexpr std::string_view zlib_dynamic_text =
    R"({"id": gamma "ch" gamma news "ch" news "ch" "ch" {"id": alpha news delta news beta "ch" alpha beta alpha gamma delta news beta delta {"id": alpha {"id": beta alpha "ch" beta delta gamma beta news news delta beta news news alpha beta {"id": {"id": delta beta beta alpha news alpha beta news beta beta news beta gamma gamma beta {"id":)"sv;

struct Case {
    const char* name;
    std::string_view input;
    InflateStatus want;
    std::string_view output; // for need_more / end_of_stream
};

// Known streams: zlib's raw output for them, RFC 7692's examples and hand-made bad blocks.
const Case cases[] = {
    {"fixed 'a' final (zlib)", "\x4b\x04\x00"sv, InflateStatus::end_of_stream, "a"sv},
    {"empty final fixed block", "\x03\x00"sv, InflateStatus::end_of_stream, ""sv},
    {"stored final 'hello'", "\x01\x05\x00\xfa\xffhello"sv, InflateStatus::end_of_stream,
     "hello"sv},
    {"RFC 7692 7.2.3.1 Hello + tail", "\xf2\x48\xcd\xc9\xc9\x07\x00\x00\x00\xff\xff"sv,
     InflateStatus::need_more, "Hello"sv},
    {"RFC 7692 7.2.3.3 stored Hello + tail",
     "\x00\x05\x00\xfa\xff\x48\x65\x6c\x6c\x6f\x00\x00\x00\xff\xff"sv, InflateStatus::need_more,
     "Hello"sv},
    {"sync flush only", "\x00\x00\x00\xff\xff"sv, InflateStatus::need_more, ""sv},
    {"zlib dynamic block", zlib_dynamic, InflateStatus::end_of_stream, zlib_dynamic_text},
    {"reserved block type 11", "\x07\x00"sv, InflateStatus::error, ""sv},
    {"stored NLEN mismatch", "\x01\x05\x00\xfa\xfehello"sv, InflateStatus::error, ""sv},
    {"distance before start", "\x03\x02\x00"sv, InflateStatus::error, ""sv},
    {"fixed length code 286", "\x1b\x03\x00"sv, InflateStatus::error, ""sv},
    {"fixed distance code 30", "\x4b\x04\x3e\x00"sv, InflateStatus::error, ""sv},
    {"truncated stored", "\x01\x05\x00\xfa\xffhel"sv, InflateStatus::need_more, "hel"sv},
};

InflateResult inflate_all(std::string_view in, std::string& out, std::size_t limit = 1 << 20) {
    Inflater inf;
    return inf.inflate(bytes(in), out, limit);
}

// Feeds `in` in two pieces split at `cut` through a fresh guarded copy each time.
InflateResult inflate_split(std::string_view in, std::size_t cut, std::string& out,
                            std::size_t limit = 1 << 20) {
    herald::test::GuardedBuffer g;
    Inflater inf;
    InflateResult r = inf.inflate(bytes(g.place(in.substr(0, cut))), out, limit);
    if (r.status != InflateStatus::need_more)
        return r;
    InflateResult r2 = inf.inflate(bytes(g.place(in.substr(cut))), out, limit);
    r2.consumed += r.consumed;
    return r2;
}

InflateResult inflate_bytewise(std::string_view in, std::string& out) {
    herald::test::GuardedBuffer g;
    Inflater inf;
    InflateResult r{InflateStatus::need_more, 0};
    std::size_t total = 0;
    for (std::size_t i = 0; i < in.size(); ++i) {
        r = inf.inflate(bytes(g.place(in.substr(i, 1))), out, 1 << 20);
        total += r.consumed;
        if (r.status != InflateStatus::need_more)
            break;
    }
    r.consumed = total;
    return r;
}

std::string compress(std::string_view in, int level, Flush flush) {
    std::string out;
    Deflater(level).compress(bytes(in), out, flush);
    return out;
}

std::string corpus_text() {
    std::string s;
    for (int i = 0; i < 200; ++i)
        s += "{\"channel\":\"news\",\"id\":" + std::to_string(i) +
             ",\"data\":\"The quick brown fox jumps over the lazy dog\"}\n";
    return s;
}

std::string random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (char& c : s)
        c = static_cast<char>(rng() & 0xffU);
    return s;
}

} // namespace

Test(inflater, known_streams_whole_bytewise_and_every_split, .timeout = 10.0) {
    for (const Case& c : cases) {
        std::string whole;
        const InflateResult r = inflate_all(c.input, whole);
        cr_assert(r.status == c.want, "%s: status %d", c.name, static_cast<int>(r.status));
        if (c.want != InflateStatus::error)
            cr_assert(whole == c.output, "%s: output '%s'", c.name, whole.c_str());
        std::string by;
        const InflateResult rb = inflate_bytewise(c.input, by);
        cr_assert(rb.status == c.want, "%s: bytewise status", c.name);
        cr_assert(by == whole, "%s: bytewise output", c.name);
        for (std::size_t cut = 0; cut <= c.input.size(); ++cut) {
            std::string out;
            const InflateResult rs = inflate_split(c.input, cut, out);
            cr_assert(rs.status == c.want, "%s: split at %zu", c.name, cut);
            cr_assert(out == whole, "%s: split at %zu output", c.name, cut);
        }
    }
}

Test(inflater, end_of_stream_gives_back_trailing_bytes) {
    std::string out;
    const InflateResult r = inflate_all("\x4b\x04\x00XYZ"sv, out);
    cr_assert(r.status == InflateStatus::end_of_stream);
    cr_assert_eq(r.consumed, 3U);
    cr_assert(out == "a");
}

Test(inflater, context_takeover_refers_to_the_previous_message) {
    // RFC 7692 §7.2.3.2: the second "Hello" is a back-reference into the first.
    Inflater inf;
    std::string first, second;
    auto r = inf.inflate(bytes("\xf2\x48\xcd\xc9\xc9\x07\x00\x00\x00\xff\xff"sv), first, 100);
    cr_assert(r.status == InflateStatus::need_more);
    cr_assert(inf.at_block_boundary());
    r = inf.inflate(bytes("\xf2\x00\x11\x00\x00\x00\x00\xff\xff"sv), second, 100);
    cr_assert(r.status == InflateStatus::need_more);
    cr_assert(second == "Hello", "%s", second.c_str());
    // Without the first message's history the same bytes are invalid.
    std::string alone;
    cr_assert(inflate_all("\xf2\x00\x11\x00\x00\x00\x00\xff\xff"sv, alone).status ==
              InflateStatus::error);
}

Test(inflater, output_limit_stops_a_bomb, .timeout = 10.0) {
    // 10 MiB of zeros compress to about 10 KiB; a 64 KiB limit stops it there.
    const std::string zeros(10U << 20, '\0');
    const std::string packed = compress(zeros, 9, Flush::sync);
    cr_assert_lt(packed.size(), 20000U);
    std::string out;
    Inflater inf;
    const InflateResult r = inf.inflate(bytes(packed), out, 65536);
    cr_assert(r.status == InflateStatus::too_large);
    cr_assert_leq(out.size(), 65536U);
    // Terminal: the next call says the same.
    cr_assert(inf.inflate(bytes("\x00"sv), out, 65536).status == InflateStatus::too_large);
    // The exact size fits.
    std::string exact;
    Inflater inf2;
    cr_assert(inf2.inflate(bytes(compress(std::string(1000, 'x'), 6, Flush::finish)), exact, 1000)
                  .status == InflateStatus::end_of_stream);
    cr_assert_eq(exact.size(), 1000U);
}

Test(inflater, errors_are_sticky) {
    Inflater inf;
    std::string out;
    cr_assert(inf.inflate(bytes("\x07\x00"sv), out, 100).status == InflateStatus::error);
    cr_assert(inf.inflate(bytes("\x4b\x04\x00"sv), out, 100).status == InflateStatus::error);
}

Test(inflater, window_bits_bound_distances) {
    // A 300-byte match at distance 300 is valid with a 512-byte window, not a 256-byte one.
    std::string in = random_bytes(300, 7);
    in += in;
    const std::string packed = compress(in, 6, Flush::finish);
    std::string out;
    Inflater big(9), small(8);
    cr_assert(big.inflate(bytes(packed), out, 1 << 20).status == InflateStatus::end_of_stream);
    cr_assert(out == in);
    out.clear();
    cr_assert(small.inflate(bytes(packed), out, 1 << 20).status == InflateStatus::error);
}

Test(deflater, empty_input_is_the_flush_alone) {
    cr_assert(compress("", 6, Flush::sync) == "\x00\x00\x00\xff\xff"sv);
    std::string out;
    cr_assert(inflate_all(compress("", 6, Flush::finish), out).status ==
              InflateStatus::end_of_stream);
    cr_assert(out.empty());
}

Test(deflater, sync_flush_ends_with_the_rfc7692_tail) {
    for (int level = 1; level <= 9; ++level) {
        const std::string out = compress(corpus_text(), level, Flush::sync);
        cr_assert(out.size() > 4 && out.substr(out.size() - 4) == "\x00\x00\xff\xff"sv, "level %d",
                  level);
    }
}

Test(deflater, round_trips_at_every_level, .timeout = 60.0) {
    const std::string inputs[] = {
        "",
        "a",
        "Hello",
        corpus_text(),
        random_bytes(70000, 1),
        std::string(100000, 'z'),
        random_bytes(40000, 2) + random_bytes(40000, 2), // matches at distance > window
    };
    for (const std::string& in : inputs) {
        for (int level = 1; level <= 9; ++level) {
            for (Flush f : {Flush::sync, Flush::finish}) {
                const std::string packed = compress(in, level, f);
                std::string out;
                const InflateResult r = inflate_all(packed, out, in.size());
                cr_assert(r.status == (f == Flush::finish ? InflateStatus::end_of_stream
                                                          : InflateStatus::need_more),
                          "size %zu level %d", in.size(), level);
                cr_assert(out == in, "size %zu level %d", in.size(), level);
            }
        }
    }
}

Test(deflater, compresses_text_and_stays_near_raw_for_random) {
    const std::string text = corpus_text();
    cr_assert_lt(compress(text, 6, Flush::sync).size(), text.size() / 5);
    // Random words: longer chains and lazy matching find more than level 1 does.
    std::mt19937 rng(4);
    static const char* const words[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta",
                                        "eta", "theta", "iota", "kappa", "lambda", "mu"};
    std::string prose;
    while (prose.size() < 20000)
        prose += std::string(words[rng() % 12]) + (rng() % 5 == 0 ? ".\n" : " ");
    cr_assert_lt(compress(prose, 9, Flush::sync).size(), compress(prose, 1, Flush::sync).size());
    const std::string noise = random_bytes(10000, 3);
    cr_assert_leq(compress(noise, 6, Flush::sync).size(), noise.size() + 20);
}

Test(deflater, own_output_inflates_at_every_split, .timeout = 30.0) {
    const std::string text = corpus_text().substr(0, 1500);
    const std::string packed = compress(text, 6, Flush::sync);
    for (std::size_t cut = 0; cut <= packed.size(); ++cut) {
        std::string out;
        const InflateResult r = inflate_split(packed, cut, out);
        cr_assert(r.status == InflateStatus::need_more, "split at %zu", cut);
        cr_assert(out == text, "split at %zu", cut);
    }
    std::string by;
    cr_assert(inflate_bytewise(packed, by).status == InflateStatus::need_more);
    cr_assert(by == text);
}

// A block whose code-length code has no codes at all, after a dynamic block: the decoder must
// not decode with the previous block's look-up table (found by fuzz_inflate: it did, and read
// a literal symbol as a repeat code, out of its table's bounds).
Test(inflater, an_empty_code_after_a_dynamic_block_is_an_error) {
    const std::string text(2000, 'a');
    std::string stream = compress(text + "the quick brown fox jumps over the lazy dog", 6, Flush::sync);
    // BFINAL=1, BTYPE=10 (dynamic), HLIT=0, HDIST=0, HCLEN=0 (4 code length code lengths, all
    // 0: no code), then bits that some stale table would decode.
    stream += "\x05\x00\x00\x00\xff\xff\xff\xff"sv;
    Inflater inf;
    std::string out;
    cr_assert(inf.inflate(bytes(stream), out, 1 << 20).status == InflateStatus::error);
    cr_assert(out == text + "the quick brown fox jumps over the lazy dog");
}
