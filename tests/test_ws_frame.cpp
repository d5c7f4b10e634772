// Unit tests for the WebSocket frame codec (ws/frame.hpp, ws/frame_header.hpp, ws/close.hpp):
// header forms, every 1002 violation, in-place unmasking, FrameParser whole / per byte /
// at every split (inputs end at a PROT_NONE guard page), server frame encoding (plain and
// permessage-deflate), close codes.
#include <criterion/criterion.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "deflate/inflater.hpp"
#include "support/stream_buffers.hpp"
#include "ws/close.hpp"
#include "ws/deflate_frame.hpp"
#include "ws/frame.hpp"
#include "ws/frame_header.hpp"

using namespace herald::ws;

namespace {

constexpr unsigned fin = 0x80;

using herald::test::InPlaceBuffer;
using herald::test::StringBuffer;

void put_length(std::string& out, unsigned mask_bit, std::uint64_t len, int form) {
    if (form == 0) form = len <= 125 ? 7 : len <= 0xFFFF ? 16 : 64;
    if (form == 7) {
        out.push_back(static_cast<char>(mask_bit | len));
    } else if (form == 16) {
        out.push_back(static_cast<char>(mask_bit | 126));
        out.push_back(static_cast<char>(len >> 8));
        out.push_back(static_cast<char>(len));
    } else {
        out.push_back(static_cast<char>(mask_bit | 127));
        for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(len >> (8 * i)));
    }
}

// A client frame: first byte b0 (FIN, RSV, opcode), payload masked with a key that depends on
// the payload so that consecutive frames use different keys. form: 0 = minimal, 7, 16, 64.
std::string frame(unsigned b0, std::string_view payload, bool masked = true, int form = 0) {
    std::string out(1, static_cast<char>(b0));
    put_length(out, masked ? 0x80 : 0, payload.size(), form);
    std::uint8_t key[4] = {0x37, 0xFA, 0x21, 0x3D};
    for (std::uint8_t& k : key) k = static_cast<std::uint8_t>(k + payload.size() * 7);
    if (masked) out.append(reinterpret_cast<const char*>(key), 4);
    for (std::size_t i = 0; i < payload.size(); ++i)
        out.push_back(masked ? static_cast<char>(payload[i] ^ key[i & 3]) : payload[i]);
    return out;
}

// Just a header announcing len bytes (for lengths too large to build).
std::string header_only(unsigned b0, std::uint64_t len, int form = 0) {
    std::string out(1, static_cast<char>(b0));
    put_length(out, 0x80, len, form);
    out.append("\x01\x02\x03\x04", 4);
    return out;
}

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + 7) & 0xFF);
    return s;
}

struct Outcome {
    ParseStatus status = ParseStatus::need_more;
    CloseCode error = CloseCode::none;
    std::string log;  // "<opcode><+ if FIN>:<payload>;" per completed frame
};

// Feeds `in` cut at `cuts` (ascending offsets) to a FrameParser the way a connection would:
// append, feed the unconsumed bytes, drop each completed frame. Checks the fresh ranges.
template <typename Buffer>
Outcome parse(std::string_view in, const std::vector<std::size_t>& cuts,
              bool expect_masked = true) {
    Buffer buf(in.size());
    FrameParser p(expect_masked);
    Outcome o;
    std::uint64_t seen = 0;
    std::size_t prev = 0;
    for (std::size_t i = 0; i <= cuts.size(); ++i) {
        std::size_t next = i < cuts.size() ? cuts[i] : in.size();
        buf.append(in.substr(prev, next - prev));
        prev = next;
        for (;;) {
            FrameParser::Result r = p.feed(buf.span());
            if (r.status == ParseStatus::error) {
                o.status = r.status;
                o.error = r.error;
                return o;
            }
            if (r.new_header) seen = 0;
            const FrameHeader& h = p.header();
            if (r.new_header || p.has_header() || r.status == ParseStatus::done) {
                cr_assert_eq(r.fresh_begin, h.header_length + seen, "fresh_begin");
                seen += r.fresh_end - r.fresh_begin;
            }
            if (r.status == ParseStatus::need_more) break;
            cr_assert_eq(seen, h.payload_length, "every payload byte unmasked once");
            std::span<char> s = buf.span();
            o.log += std::to_string(static_cast<unsigned>(h.opcode)) + (h.fin ? "+:" : ":");
            o.log.append(s.data() + h.header_length, h.payload_length);
            o.log += ';';
            buf.consume(h.frame_size());
            seen = 0;
        }
    }
    o.status = ParseStatus::need_more;
    return o;
}

std::vector<std::size_t> per_byte(std::size_t n) {
    std::vector<std::size_t> v;
    for (std::size_t i = 1; i < n; ++i) v.push_back(i);
    return v;
}

// Runs whole, per byte and at every split; all must agree with want.
void check_all_splits(const char* name, std::string_view in, const Outcome& want,
                      bool expect_masked = true) {
    auto same = [&](const Outcome& got, const char* how, std::size_t cut) {
        cr_assert(got.status == want.status, "%s: %s %zu: status %d", name, how, cut,
                  static_cast<int>(got.status));
        cr_assert(got.error == want.error, "%s: %s %zu: error %d", name, how, cut,
                  static_cast<int>(got.error));
        cr_assert(got.log == want.log, "%s: %s %zu: log %s", name, how, cut, got.log.c_str());
    };
    same(parse<InPlaceBuffer>(in, {}, expect_masked), "whole", 0);
    same(parse<InPlaceBuffer>(in, per_byte(in.size()), expect_masked), "per byte", 0);
    for (std::size_t cut = 0; cut <= in.size(); ++cut)
        same(parse<InPlaceBuffer>(in, {cut}, expect_masked), "split at", cut);
}

Outcome frames(std::string log) {
    return {ParseStatus::need_more, CloseCode::none, std::move(log)};
}
Outcome violation(std::string log = {}) {
    return {ParseStatus::error, CloseCode::protocol_error, std::move(log)};
}

} // namespace

namespace {
struct HeaderCase {
    const char* name;
    std::uint64_t length;
    int form;
    std::size_t header_length;
};
} // namespace

Test(ws_frame, header_length_forms) {
    static const HeaderCase cases[] = {
        {"len0", 0, 7, 6},           {"len1", 1, 7, 6},
        {"len125", 125, 7, 6},       {"len126", 126, 16, 8},
        {"len65535", 65535, 16, 8},  {"len65536", 65536, 64, 14},
        {"len2^32", 1ULL << 32, 64, 14}, {"len2^63-1", (1ULL << 63) - 1, 64, 14},
        {"non_minimal_16", 5, 16, 8}, {"non_minimal_64", 300, 64, 14},
    };
    for (const HeaderCase& c : cases) {
        std::string h = header_only(fin | 0x2, c.length, c.form);
        cr_assert_eq(h.size(), c.header_length, "%s", c.name);
        for (std::size_t n = 0; n < h.size(); ++n) {
            HeaderResult r = parse_frame_header(std::span<const char>(h.data(), n));
            cr_assert(r.status == ParseStatus::need_more, "%s: prefix %zu", c.name, n);
        }
        HeaderResult r = parse_frame_header(std::span<const char>(h.data(), h.size()));
        cr_assert(r.status == ParseStatus::done, "%s", c.name);
        cr_assert_eq(r.header.payload_length, c.length, "%s", c.name);
        cr_assert_eq(r.header.header_length, c.header_length, "%s", c.name);
        cr_assert(r.header.opcode == Opcode::binary && r.header.fin && r.header.masked);
        cr_assert_eq(r.header.mask[0], 1);
        cr_assert_eq(r.header.mask[3], 4);
    }
}

Test(ws_frame, top_bit_of_64_bit_length_fails_at_third_byte) {
    std::string h = header_only(fin | 0x2, 1ULL << 63);
    HeaderResult r = parse_frame_header(std::span<const char>(h.data(), 3));
    cr_assert(r.status == ParseStatus::error);
    cr_assert(r.error == CloseCode::protocol_error);
    check_all_splits("top bit", h, violation());
}

namespace {
struct ViolationCase {
    const char* name;
    std::string input;
};
} // namespace

Test(ws_frame, violations_close_1002_at_every_split) {
    const std::string ok = frame(fin | 0x1, "ok");
    const ViolationCase cases[] = {
        {"unmasked", frame(fin | 0x1, "hello", false)},
        {"unmasked_empty", frame(fin | 0x2, "", false)},
        {"rsv1", frame(fin | 0x40 | 0x1, "x")},
        {"rsv2", frame(fin | 0x20 | 0x1, "x")},
        {"rsv3", frame(fin | 0x10 | 0x2, "x")},
        {"rsv_on_control", frame(fin | 0x40 | 0x9, "")},
        {"opcode3", frame(fin | 0x3, "x")},   {"opcode4", frame(fin | 0x4, "x")},
        {"opcode5", frame(fin | 0x5, "x")},   {"opcode6", frame(fin | 0x6, "x")},
        {"opcode7", frame(fin | 0x7, "x")},   {"opcodeB", frame(fin | 0xB, "x")},
        {"opcodeC", frame(fin | 0xC, "x")},   {"opcodeD", frame(fin | 0xD, "x")},
        {"opcodeE", frame(fin | 0xE, "x")},   {"opcodeF", frame(fin | 0xF, "x")},
        {"ping_126", frame(fin | 0x9, std::string(126, 'p'))},
        {"close_126", frame(fin | 0x8, std::string(126, 'c'))},
        {"pong_16bit_form", frame(fin | 0xA, "abc", true, 16)},
        {"ping_not_fin", frame(0x9, "p")},
        {"close_not_fin", frame(0x8, "")},
        {"pong_not_fin", frame(0xA, "")},
        {"len64_top_bit", header_only(fin | 0x1, 0x8000000000000000ULL)},
        {"len64_all_ones", header_only(fin | 0x1, ~0ULL)},
    };
    for (const ViolationCase& c : cases) {
        check_all_splits(c.name, c.input, violation());
        // Frames before the bad one are still reported.
        check_all_splits(c.name, ok + c.input, violation("1+:ok;"));
    }
}

Test(ws_frame, error_is_sticky) {
    FrameParser p;
    std::string bad = frame(fin | 0x3, "");
    cr_assert(p.feed({bad.data(), bad.size()}).status == ParseStatus::error);
    std::string good = frame(fin | 0x1, "a");
    FrameParser::Result r = p.feed({good.data(), good.size()});
    cr_assert(r.status == ParseStatus::error && r.error == CloseCode::protocol_error);
}

Test(ws_frame, frame_sequence_at_every_split) {
    std::string in = frame(fin | 0x1, "") + frame(fin | 0x1, "Hello") + frame(0x1, "frag") +
                     frame(fin | 0x9, "ping!") + frame(0x0, "men") + frame(fin | 0xA, "") +
                     frame(fin | 0x0, "ted") + frame(fin | 0x2, pattern(125)) +
                     frame(fin | 0x2, pattern(126)) + frame(fin | 0x8, "\x03\xE8" "bye") +
                     frame(fin | 0x1, "x", true, 64);
    std::string want = "1+:;1+:Hello;1:frag;9+:ping!;0:men;10+:;0+:ted;2+:" + pattern(125) +
                       ";2+:" + pattern(126) + ";8+:\x03\xE8" "bye;1+:x;";
    check_all_splits("sequence", in, frames(want));
}

Test(ws_frame, incomplete_frame_needs_more) {
    std::string f = frame(fin | 0x1, "Hello");
    for (std::size_t n = 0; n < f.size(); ++n) {
        Outcome o = parse<InPlaceBuffer>(std::string_view(f).substr(0, n), {});
        cr_assert(o.status == ParseStatus::need_more && o.log.empty(), "prefix %zu", n);
    }
}

Test(ws_frame, large_payload_length_forms) {
    for (std::size_t len : {65535u, 65536u, 70001u}) {
        std::string payload = pattern(len);
        std::string in = frame(fin | 0x2, payload) + frame(fin | 0x1, "tail");
        Outcome want = frames("2+:" + payload + ";1+:tail;");
        auto same = [&](const Outcome& got, const char* how, std::size_t cut) {
            cr_assert(got.status == want.status && got.log == want.log, "len %zu: %s %zu", len,
                      how, cut);
        };
        same(parse<InPlaceBuffer>(in, {}), "whole", 0);
        same(parse<StringBuffer>(in, per_byte(in.size())), "per byte", 0);
        for (std::size_t cut : {1ul, 2ul, 3ul, 4ul, 9ul, 10ul, 11ul, 13ul, 14ul, 15ul, 1000ul,
                                len + 13, len + 14, len + 15, in.size() - 1})
            same(parse<InPlaceBuffer>(in, {cut}), "split at", cut);
        std::vector<std::size_t> strided;
        for (std::size_t c = 3; c < in.size(); c += 4093) strided.push_back(c);
        same(parse<InPlaceBuffer>(in, strided), "strided", 4093);
    }
}

Test(ws_frame, unmask_matches_bytewise_reference_at_any_offset_and_piece) {
    const std::uint8_t key[4] = {0xA1, 0x5B, 0x07, 0xE3};
    for (std::size_t len = 0; len <= 300; ++len) {
        std::string plain = pattern(len);
        std::string want = plain;
        for (std::size_t offset = 0; offset < 8; ++offset) {
            for (std::size_t i = 0; i < len; ++i)
                want[i] = static_cast<char>(plain[i] ^ key[(offset + i) & 3]);
            std::string got = plain;
            unmask({got.data(), got.size()}, key, offset);
            cr_assert(got == want, "len %zu offset %zu", len, offset);
            // In two pieces, the second continuing the key phase.
            for (std::size_t cut = 0; cut <= len; ++cut) {
                std::string two = plain;
                unmask({two.data(), cut}, key, offset);
                unmask({two.data() + cut, len - cut}, key, offset + cut);
                cr_assert(two == want, "len %zu offset %zu cut %zu", len, offset, cut);
            }
        }
    }
}

// unmask_copy() writes the bytewise reference's result at any length (past several 128-byte
// AVX2 rounds and every remainder), key phase and alignment of either side, tells ASCII the
// same way unmask() does, writes nothing outside dst and leaves its source as it was.
Test(ws_frame, unmask_copy_matches_bytewise_reference_and_leaves_its_source) {
    const std::uint8_t key[4] = {0x3C, 0x80, 0xF7, 0x11};
    for (std::size_t len = 0; len <= 600; ++len) {
        for (std::size_t offset = 0; offset < 4; ++offset) {
            for (std::size_t shift : {0u, 1u, 7u}) {
                std::string src(shift, '#');
                for (std::size_t i = 0; i < len; ++i) src.push_back(static_cast<char>(i * 7 + len));
                const std::string src_before = src;
                std::string want = src.substr(shift);
                for (std::size_t i = 0; i < len; ++i)
                    want[i] = static_cast<char>(want[i] ^ key[(offset + i) & 3]);
                std::string in_place = src.substr(shift);
                const bool ascii_in_place = unmask({in_place.data(), len}, key, offset);
                std::string dst(len + 3 + 2, '~');
                const bool ascii =
                    unmask_copy(dst.data() + 3, src.data() + shift, len, key, offset);
                cr_assert(dst.substr(3, len) == want, "len %zu offset %zu shift %zu", len, offset,
                          shift);
                cr_assert(dst.substr(0, 3) == "~~~" && dst.substr(3 + len) == "~~",
                          "nothing written outside dst, len %zu", len);
                cr_assert_eq(ascii, ascii_in_place, "len %zu offset %zu", len, offset);
                cr_assert(src == src_before, "the source is left masked");
            }
        }
    }
}

// FrameParser::feed(keep_masked): only a text or binary frame that is final, uncompressed and
// whole when its header is parsed keeps its payload masked; the rest are unmasked in place.
Test(ws_frame, keep_masked_leaves_only_whole_final_data_frames_masked) {
    struct Case {
        const char* name;
        std::string in;
        bool allow_rsv1;
        std::size_t first_feed;  // bytes in the first feed (the rest in a second)
        bool masked;
    };
    const std::string text5 = frame(0x81, "hello", true);
    const std::vector<Case> cases = {
        {"whole_text", text5, false, text5.size(), true},
        {"whole_binary", frame(0x82, pattern(300), true), false, 308, true},
        {"not_final", frame(0x01, "hello", true), false, 11, false},
        {"continuation", frame(0x80, "hello", true), false, 11, false},
        {"ping", frame(0x89, "hello", true), false, 11, false},
        {"rsv1", frame(0xC1, "hello", true), true, 11, false},
        {"payload_split", text5, false, 8, false},
        {"header_split", text5, false, 3, true},  // whole when its header is parsed
        {"empty", frame(0x81, "", true), false, 6, false},
    };
    for (const Case& c : cases) {
        FrameParser parser;
        parser.allow_rsv1(c.allow_rsv1);
        std::string buf = c.in;
        FrameParser::Result r = parser.feed({buf.data(), c.first_feed}, true);
        if (r.status == ParseStatus::need_more) r = parser.feed({buf.data(), buf.size()}, true);
        cr_assert(r.status == ParseStatus::done, "%s: done", c.name);
        cr_assert_eq(r.masked, c.masked, "%s: masked %d", c.name, r.masked);
        const FrameHeader& h = parser.header();
        const std::string payload = buf.substr(h.header_length);
        const std::string wire = c.in.substr(h.header_length);
        if (c.masked) cr_assert(payload == wire, "%s: payload left as it came", c.name);
        else if (!payload.empty()) cr_assert(payload != wire, "%s: payload unmasked", c.name);
    }
}

// unmask() also tells whether the bytes it unmasked are all ASCII (the text check then skips
// them): one byte at or above 0x80 anywhere, in any lane of the 64-byte rounds, the 8-byte
// words or the tail, makes it false.
Test(ws_frame, unmask_reports_whether_every_unmasked_byte_is_ascii) {
    const std::uint8_t key[4] = {0x80, 0x7F, 0x01, 0xFE};  // flips high bits both ways
    auto masked = [&](const std::string& plain, std::size_t offset) {
        std::string m = plain;
        for (std::size_t i = 0; i < m.size(); ++i)
            m[i] = static_cast<char>(m[i] ^ key[(offset + i) & 3]);
        return m;
    };
    for (std::size_t len = 0; len <= 200; ++len) {
        for (std::size_t offset = 0; offset < 4; ++offset) {
            std::string plain(len, 'a');
            for (std::size_t i = 0; i < len; ++i) plain[i] = static_cast<char>('!' + i % 90);
            std::string m = masked(plain, offset);
            cr_assert(unmask({m.data(), m.size()}, key, offset), "all ASCII, len %zu", len);
            cr_assert(m == plain);
            for (std::size_t at = 0; at < len; ++at) {
                for (unsigned char high : {0x80, 0xC3, 0xFF}) {
                    std::string p = plain;
                    p[at] = static_cast<char>(high);
                    std::string mm = masked(p, offset);
                    cr_assert(!unmask({mm.data(), mm.size()}, key, offset),
                              "0x%02X at %zu of %zu, offset %zu", high, at, len, offset);
                    cr_assert(mm == p);
                }
            }
        }
    }
}

Test(ws_frame, parser_reports_ascii_payload_bytes) {
    FrameParser p;
    std::string f = frame(fin | 0x1, "plain ASCII text");
    cr_assert(p.feed({f.data(), f.size()}).fresh_ascii);
    FrameParser q;
    std::string g = frame(fin | 0x1, "caf\xC3\xA9");
    cr_assert(!q.feed({g.data(), g.size()}).fresh_ascii);
}

Test(ws_frame, unmask_is_in_place_in_callers_buffer) {
    std::string f = frame(fin | 0x1, "Hello, masked world!");
    FrameParser p;
    FrameParser::Result r = p.feed({f.data(), f.size()});
    cr_assert(r.status == ParseStatus::done);
    cr_assert(std::string_view(f).substr(6) == "Hello, masked world!");
}

Test(ws_frame, rfc_masked_hello_sample) {
    // RFC 6455 §5.7: a single-frame masked text message containing "Hello".
    std::string f = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    check_all_splits("rfc sample", f, frames("1+:Hello;"));
}

Test(ws_frame, client_role_parses_server_frames_and_rejects_masked) {
    std::string in = encode_frame(Opcode::text, "Hello") + encode_frame(Opcode::ping, "") +
                     encode_frame(Opcode::binary, pattern(300)) +
                     encode_frame(Opcode::text, "part", false);
    check_all_splits("server frames", in,
                     frames("1+:Hello;9+:;2+:" + pattern(300) + ";1:part;"), false);
    check_all_splits("masked to client", frame(fin | 0x1, "x"), violation(), false);
}

Test(ws_frame, encode_frame_header_sizes) {
    struct { std::uint64_t len; std::size_t header; } cases[] = {
        {0, 2}, {125, 2}, {126, 4}, {65535, 4}, {65536, 10}, {1ULL << 40, 10}};
    for (const auto& c : cases) {
        unsigned char out[max_frame_header];
        std::size_t n = encode_frame_header(Opcode::binary, true, c.len, out);
        cr_assert_eq(n, c.header, "len %llu", static_cast<unsigned long long>(c.len));
        HeaderResult r = parse_frame_header(
            std::span<const char>(reinterpret_cast<const char*>(out), n), false);
        cr_assert(r.status == ParseStatus::done);
        cr_assert_eq(r.header.payload_length, c.len);
        cr_assert(!r.header.masked && r.header.fin && r.header.opcode == Opcode::binary);
    }
    cr_assert(encode_frame(Opcode::text, "hi") == std::string_view("\x81\x02hi"));
    cr_assert(encode_frame(Opcode::pong, "") == std::string_view("\x8A\x00", 2));
    cr_assert(encode_frame(Opcode::text, "a", false) == std::string_view("\x01\x01" "a"));
}

Test(close_code, table_matches_rfc_6455_7_4) {
    for (unsigned code = 0; code <= 0xFFFF; ++code) {
        bool want = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
                    (code >= 3000 && code <= 4999);
        cr_assert_eq(valid_close_code(static_cast<std::uint16_t>(code)), want, "code %u", code);
    }
    const unsigned invalid[] = {0,    999,  1004, 1005, 1006, 1012,
                                1015, 1016, 2000, 2999, 5000, 65535};
    for (unsigned c : invalid) cr_assert_not(valid_close_code(static_cast<std::uint16_t>(c)));
    const unsigned valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                              1010, 1011, 3000, 3999, 4000, 4999};
    for (unsigned c : valid) cr_assert(valid_close_code(static_cast<std::uint16_t>(c)));
}

Test(close_code, close_frames) {
    cr_assert(encode_close(0) == std::string_view("\x88\x00", 2));
    cr_assert(encode_close(CloseCode::normal) == std::string_view("\x88\x02\x03\xE8", 4));
    cr_assert(encode_close(CloseCode::going_away, "bye") ==
              std::string_view("\x88\x05\x03\xE9" "bye", 7));
    cr_assert(encode_close(CloseCode::protocol_error) == std::string_view("\x88\x02\x03\xEA", 4));
    cr_assert(encode_close(CloseCode::invalid_payload) == std::string_view("\x88\x02\x03\xEF", 4));
    cr_assert(encode_close(CloseCode::message_too_big) == std::string_view("\x88\x02\x03\xF1", 4));
    cr_assert_str_eq(reason_of(CloseCode::protocol_error), "protocol error");
}

Test(close_code, long_reason_cut_at_character_boundary) {
    char out[125];
    std::string ascii(200, 'a');
    cr_assert_eq(close_payload(1000, ascii, out), 125u);
    // 41 three-byte characters = 123 bytes fit exactly; one more byte would split the 42nd.
    std::string han;
    for (int i = 0; i < 42; ++i) han += "\xE6\x9C\x8D";
    cr_assert_eq(close_payload(1001, han, out), 2 + 123u);
    std::string shifted = "x" + han;  // the 123-byte cut now falls inside a character
    std::size_t n = close_payload(1001, shifted, out);
    cr_assert_eq(n, 2 + 121u);
    cr_assert(std::string_view(out + 2, n - 2) == std::string_view(shifted).substr(0, 121));
    cr_assert_eq(close_payload(0, "ignored", out), 0u);
}

// RFC 7692 §7.2.1-§7.2.2: a deflated frame has RSV1, a header of the right size for the
// compressed length, and a payload that inflates back once 00 00 ff ff is appended.
Test(frame, deflated_frames_carry_rsv1_and_inflate_back) {
    std::uint32_t x = 12345;
    auto noise = [&](std::size_t n) {  // incompressible: the header size follows the input
        std::string s(n, '\0');
        for (char& c : s) c = static_cast<char>((x = x * 1103515245u + 12345u) >> 24);
        return s;
    };
    const std::string payloads[] = {"", std::string(1000, 'a'), noise(1000), noise(70000)};
    const std::size_t header_sizes[] = {2, 2, 4, 10};
    for (std::size_t k = 0; k < 4; ++k) {
        const std::string& plain = payloads[k];
        std::string out = "junk that is replaced";
        const DeflatedFrame f = encode_deflated_frame(Opcode::binary, plain, 6, out);
        const std::string_view frame = std::string_view(out).substr(f.begin);
        HeaderResult h = parse_frame_header(frame, false, true);
        cr_assert(h.status == ParseStatus::done, "payload %zu", k);
        cr_expect(h.header.rsv1 && h.header.fin && h.header.opcode == Opcode::binary);
        cr_expect_eq(h.header.header_length, header_sizes[k], "payload %zu", k);
        cr_expect_eq(h.header.payload_length, f.payload_len);
        cr_expect_eq(f.begin + h.header.header_length, max_frame_header);
        cr_expect_eq(out.size(), max_frame_header + f.payload_len);

        std::string z(out, max_frame_header);
        std::string again;
        std::size_t appended = append_deflated_payload(plain, 6, again);
        cr_expect(again == z && appended == z.size(), "the payload helper gives the same bytes");
        z.append("\x00\x00\xff\xff", 4);
        herald::deflate::Inflater inf;
        std::string back;
        inf.inflate({reinterpret_cast<const std::uint8_t*>(z.data()), z.size()}, back, 1 << 20);
        cr_expect(back == plain, "payload %zu inflates back (%zu bytes)", k, back.size());
        cr_expect(inf.at_block_boundary());
    }
}
