// Unit tests for the WebSocket message layer (ws/protocol.hpp): messages, fragmentation with
// interleaved control frames, close handling, every violation with its close code (1002, 1007,
// 1009), fail-fast UTF-8, zero-copy delivery; each input whole, per byte and at every split
// (inputs end at a PROT_NONE guard page).
#include <criterion/criterion.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "support/stream_buffers.hpp"
#include "deflate/deflater.hpp"
#include "ws/protocol.hpp"

using namespace herald::ws;

namespace {

constexpr unsigned fin = 0x80;
constexpr unsigned text = 0x1, binary = 0x2, cont = 0x0, close_op = 0x8, ping = 0x9, pong = 0xA;

using herald::test::InPlaceBuffer;
using herald::test::StringBuffer;

// A masked client frame; the key depends on the payload size so consecutive frames differ.
std::string frame(unsigned b0, std::string_view payload) {
    std::string out(1, static_cast<char>(b0));
    std::size_t len = payload.size();
    if (len <= 125) {
        out.push_back(static_cast<char>(0x80 | len));
    } else if (len <= 0xFFFF) {
        out.push_back(static_cast<char>(0x80 | 126));
        out.push_back(static_cast<char>(len >> 8));
        out.push_back(static_cast<char>(len));
    } else {
        out.push_back(static_cast<char>(0x80 | 127));
        for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(len >> (8 * i)));
    }
    std::uint8_t key[4] = {0x12, 0x9C, 0x5E, 0xF1};
    for (std::uint8_t& k : key) k = static_cast<std::uint8_t>(k ^ (len * 13));
    out.append(reinterpret_cast<const char*>(key), 4);
    for (std::size_t i = 0; i < len; ++i) out.push_back(static_cast<char>(payload[i] ^ key[i & 3]));
    return out;
}

std::string close_frame(unsigned code, std::string_view reason = {}) {
    std::string p;
    p.push_back(static_cast<char>(code >> 8));
    p.push_back(static_cast<char>(code & 0xFF));
    p.append(reason);
    return frame(fin | close_op, p);
}

// A header (masked) announcing len bytes, without the payload.
std::string header_only(unsigned b0, std::uint64_t len) {
    std::string out(1, static_cast<char>(b0));
    out.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(len >> (8 * i)));
    out.append("\0\0\0\0", 4);
    return out;
}

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
    return s;
}

// Protocol::deliver_masked, and how the handler unmasks what it gets masked.
enum class Masked { off, in_place, copied };

struct Recorder final : ProtocolHandler {
    std::string log;
    const char* zero_copy_lo = nullptr;  // the fed span, to tell views into it from copies
    const char* zero_copy_hi = nullptr;
    int views_into_input = 0;
    Masked masked = Masked::off;
    int masked_calls = 0;

    // copied: unmasks into a buffer of its own, as the echo does into its reply.
    CloseCode on_masked_message(Opcode op, MaskedPayload& p) override {
        ++masked_calls;
        if (masked == Masked::in_place) return ProtocolHandler::on_masked_message(op, p);
        std::string out(p.size(), '?');
        if (CloseCode c = p.unmask_to(out.data()); c != CloseCode::none) return c;
        on_message(op, out);
        return CloseCode::none;
    }

    void on_message(Opcode op, std::string_view p) override {
        log += op == Opcode::text ? "text:" : op == Opcode::binary ? "binary:" : "?:";
        log.append(p);
        log += ';';
        if (p.data() >= zero_copy_lo && p.data() + p.size() <= zero_copy_hi) ++views_into_input;
    }
    void on_ping(std::string_view p) override { log.append("ping:").append(p) += ';'; }
    void on_pong(std::string_view p) override { log.append("pong:").append(p) += ';'; }
    void on_close(std::uint16_t code, std::string_view reason) override {
        log.append("close:").append(std::to_string(code)).append(":").append(reason) += ';';
    }
};

struct Outcome {
    ParseStatus status = ParseStatus::need_more;
    CloseCode code = CloseCode::none;
    std::string log;
    int views_into_input = 0;
    int masked_calls = 0;
};

// Feeds `in` cut at `cuts` the way a connection does: append what was read, feed the
// unconsumed bytes from the first one, drop `consumed`, stop at done or error.
template <typename Buffer>
Outcome run(std::string_view in, const std::vector<std::size_t>& cuts, std::size_t max,
            unsigned deflate_bits = 0, Masked masked = Masked::off) {
    Buffer buf(in.size());
    Protocol proto(max);
    if (deflate_bits != 0) proto.enable_deflate(deflate_bits);
    proto.deliver_masked(masked != Masked::off);
    Recorder rec;
    rec.masked = masked;
    Outcome o;
    std::size_t prev = 0;
    for (std::size_t i = 0; i <= cuts.size(); ++i) {
        std::size_t next = i < cuts.size() ? cuts[i] : in.size();
        buf.append(in.substr(prev, next - prev));
        prev = next;
        std::span<char> s = buf.span();
        rec.zero_copy_lo = s.data();
        rec.zero_copy_hi = s.data() + s.size();
        FeedResult r = proto.feed(s, rec);
        cr_assert_leq(r.consumed, s.size());
        buf.consume(r.consumed);
        if (r.status != ParseStatus::need_more) {
            o.status = r.status;
            o.code = r.close_code;
            break;
        }
        cr_assert(r.close_code == CloseCode::none);
        // The hint, when given, covers the incomplete frame left in the buffer.
        if (r.pending_frame_size != 0) cr_assert_gt(r.pending_frame_size, buf.span().size());
    }
    o.log = rec.log;
    o.views_into_input = rec.views_into_input;
    o.masked_calls = rec.masked_calls;
    return o;
}

std::vector<std::size_t> per_byte(std::size_t n) {
    std::vector<std::size_t> v;
    for (std::size_t i = 1; i < n; ++i) v.push_back(i);
    return v;
}

struct Case {
    const char* name;
    std::string input;
    ParseStatus status;
    CloseCode code;
    std::string log;
    std::size_t max = default_max_message_size;
    unsigned deflate_bits = 0;  // permessage-deflate negotiated with this client window
};

void check(const Case& c, const Outcome& got, const char* how, std::size_t cut) {
    cr_assert(got.status == c.status, "%s: %s %zu: status %d", c.name, how, cut,
              static_cast<int>(got.status));
    cr_assert(got.code == c.code, "%s: %s %zu: close code %u", c.name, how, cut,
              static_cast<unsigned>(got.code));
    cr_assert(got.log == c.log, "%s: %s %zu: events %s", c.name, how, cut, got.log.c_str());
}

// Every case gives the same events and codes whether whole single-frame messages reach the
// handler masked (unmasked in place or copied out) or not; masked_modes_at_every_split: also at
// every split below, else only whole and per byte.
void check_all_splits(const Case& c, bool masked_modes_at_every_split = true) {
    for (Masked m : {Masked::off, Masked::in_place, Masked::copied}) {
        check(c, run<InPlaceBuffer>(c.input, {}, c.max, c.deflate_bits, m), "whole", 0);
        check(c, run<InPlaceBuffer>(c.input, per_byte(c.input.size()), c.max, c.deflate_bits, m),
              "per byte", 0);
    }
    // Every cut of a small input; in a large one (the 64 KiB stored-block messages, where every
    // cut re-inflates the whole: 100 s of the unit stage) every cut in its first and last KiB
    // (frame header, first and last blocks) and every 97th between (97 is prime to the block
    // sizes, so the cuts fall at every offset inside a block). "per byte" above already passes
    // through every split state once.
    const std::size_t n = c.input.size();
    constexpr std::size_t edge = 1024;
    for (std::size_t cut = 0; cut <= n; ++cut) {
        if (n > 4 * edge && cut > edge && cut + edge < n && cut % 97 != 0) continue;
        check(c, run<InPlaceBuffer>(c.input, {cut}, c.max, c.deflate_bits), "split at", cut);
        if (!masked_modes_at_every_split) continue;
        for (Masked m : {Masked::in_place, Masked::copied})
            check(c, run<InPlaceBuffer>(c.input, {cut}, c.max, c.deflate_bits, m), "split at",
                  cut);
    }
}

constexpr ParseStatus more = ParseStatus::need_more;
constexpr ParseStatus done = ParseStatus::done;
constexpr ParseStatus error = ParseStatus::error;
constexpr CloseCode none = CloseCode::none;
constexpr CloseCode e1002 = CloseCode::protocol_error;
constexpr CloseCode e1007 = CloseCode::invalid_payload;
constexpr CloseCode e1009 = CloseCode::message_too_big;

std::vector<Case> message_cases() {
    const std::string p125 = pattern(125), p126 = pattern(126);
    return {
        {"text", frame(fin | text, "hello"), more, none, "text:hello;"},
        {"empty_text", frame(fin | text, ""), more, none, "text:;"},
        {"empty_binary", frame(fin | binary, ""), more, none, "binary:;"},
        {"binary_with_invalid_utf8", frame(fin | binary, "\xFF\xC0"), more, none,
         "binary:\xFF\xC0;"},
        {"len125", frame(fin | binary, p125), more, none, "binary:" + p125 + ";"},
        {"len126", frame(fin | text, p126), more, none, "text:" + p126 + ";"},
        {"utf8_text", frame(fin | text, "服务器回应:κόσμε"), more, none,
         "text:服务器回应:κόσμε;"},
        {"two_messages", frame(fin | text, "a") + frame(fin | binary, "b"), more, none,
         "text:a;binary:b;"},
        {"ping_pong", frame(fin | ping, "hb") + frame(fin | pong, "") + frame(fin | ping, p125),
         more, none, "ping:hb;pong:;ping:" + p125 + ";"},
        {"fragmented_text", frame(text, "Hel") + frame(cont, "l") + frame(fin | cont, "o"), more,
         none, "text:Hello;"},
        {"fragmented_binary_empty_parts",
         frame(binary, "") + frame(cont, "") + frame(fin | cont, ""), more, none, "binary:;"},
        {"fragments_with_interleaved_control",
         frame(text, "frag") + frame(fin | ping, "1") + frame(cont, "men") +
             frame(fin | pong, "2") + frame(fin | ping, "") + frame(fin | cont, "ted") +
             frame(fin | text, "next"),
         more, none, "ping:1;pong:2;ping:;text:fragmented;text:next;"},
        {"code_point_split_across_fragments",
         frame(text, "\xE6\x9C") + frame(cont, "\x8D") + frame(fin | cont, "\xF0\x9F\x98\x80"),
         more, none, "text:服\xF0\x9F\x98\x80;"},
        {"close_normal", close_frame(1000, "bye"), done, none, "close:1000:bye;"},
        {"close_empty", frame(fin | close_op, ""), done, none, "close:0:;"},
        {"close_4999_utf8_reason", close_frame(4999, "adiós"), done, none, "close:4999:adiós;"},
        {"close_ends_input", close_frame(1001) + frame(fin | text, "ignored") + "\xFF\xFF", done,
         none, "close:1001:;"},
        {"close_inside_fragmented", frame(text, "part") + close_frame(1000), done, none,
         "close:1000:;"},
    };
}

std::vector<Case> violation_cases() {
    return {
        {"continuation_without_start", frame(fin | cont, "x"), error, e1002, ""},
        {"continuation_after_message", frame(fin | text, "a") + frame(fin | cont, "b"), error,
         e1002, "text:a;"},
        {"text_while_fragmented", frame(text, "a") + frame(fin | text, "b"), error, e1002, ""},
        {"binary_while_fragmented", frame(binary, "a") + frame(binary, "b"), error, e1002, ""},
        {"unmasked", std::string("\x81\x02hi", 4), error, e1002, ""},
        {"rsv1", frame(fin | 0x40 | text, "x"), error, e1002, ""},
        {"reserved_opcode_3", frame(fin | 0x3, ""), error, e1002, ""},
        {"reserved_opcode_B", frame(fin | 0xB, ""), error, e1002, ""},
        {"ping_126", frame(fin | ping, pattern(126)), error, e1002, ""},
        {"ping_not_fin", frame(ping, ""), error, e1002, ""},
        {"len64_top_bit", header_only(fin | binary, 1ULL << 63), error, e1002, ""},
        {"close_one_byte", frame(fin | close_op, "\x03"), error, e1002, ""},
        {"close_code_999", close_frame(999), error, e1002, ""},
        {"close_code_1005", close_frame(1005), error, e1002, ""},
        {"close_code_1015", close_frame(1015), error, e1002, ""},
        {"close_code_5000", close_frame(5000), error, e1002, ""},
        {"close_reason_invalid_utf8", close_frame(1000, "\xC0\x80"), error, e1007, ""},
        {"close_reason_truncated_utf8", close_frame(1000, "ab\xE6\x9C"), error, e1007, ""},
        {"text_invalid_utf8", frame(fin | text, "ok\xED\xA0\x80"), error, e1007, ""},
        {"text_truncated_at_end", frame(fin | text, "ok\xE6\x9C"), error, e1007, ""},
        {"text_overlong", frame(fin | text, "\xE0\x80\x80"), error, e1007, ""},
        {"text_above_10FFFF", frame(fin | text, "\xF4\x90\x80\x80"), error, e1007, ""},
        {"fragment_truncated_at_end", frame(text, "a\xF0\x9F") + frame(fin | cont, "\x98"), error,
         e1007, ""},
        {"fragment_invalid_continuation", frame(text, "\xE6\x9C") + frame(fin | cont, "A"), error,
         e1007, ""},
        {"events_before_error_kept", frame(fin | ping, "p") + frame(fin | text, "\xFF"), error,
         e1007, "ping:p;"},
        {"too_big_single", frame(fin | binary, pattern(11)), error, e1009, "", 10},
        {"exactly_max_single", frame(fin | binary, pattern(10)), more, none,
         "binary:" + pattern(10) + ";", 10},
        {"too_big_fragmented", frame(text, pattern(6)) + frame(fin | cont, pattern(5)), error,
         e1009, "", 10},
        {"exactly_max_fragmented", frame(text, pattern(6)) + frame(fin | cont, pattern(4)), more,
         none, "text:" + pattern(6) + pattern(4) + ";", 10},
        {"control_not_counted_in_max",
         frame(binary, pattern(10)) + frame(fin | ping, pattern(20)) + frame(fin | cont, ""),
         more, none, "ping:" + pattern(20) + ";binary:" + pattern(10) + ";", 10},
    };
}

// RFC 7692 payloads: herald's Deflater with the 00 00 ff ff tail stripped (§7.2.1).
std::string deflated(std::string_view s) {
    std::string out;
    herald::deflate::Deflater(6).compress(
        {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}, out,
        herald::deflate::Flush::sync);
    out.resize(out.size() - 4);
    return out;
}

// data as DEFLATE stored blocks of `block` bytes (RFC 1951 §3.2.4), none final: how zlib
// sends incompressible data, in blocks as small as its memLevel makes them (128 bytes at
// memLevel 1, about 4% overhead).
std::string stored_blocks(std::string_view data, std::size_t block) {
    std::string out;
    for (std::size_t at = 0; at < data.size(); at += block) {
        const std::size_t n = std::min(block, data.size() - at);
        out += '\0';
        out += static_cast<char>(n & 0xff);
        out += static_cast<char>(n >> 8);
        out += static_cast<char>(~n & 0xff);
        out += static_cast<char>((~n >> 8) & 0xff);
        out.append(data.substr(at, n));
    }
    return out;
}

std::vector<Case> deflate_cases() {
    constexpr unsigned rsv1 = 0x40;
    const std::string max64k = pattern(64 * 1024);
    const std::string hello = "\xf2\x48\xcd\xc9\xc9\x07\x00"; // RFC 7692 §7.2.3.1
    const std::string json = "{\"id\":1,\"data\":\"" + pattern(300) + pattern(300) + "\"}";
    const std::string big = deflated(json);
    return {
        {"compressed_text", frame(fin | rsv1 | text, hello), more, none, "text:Hello;", 1 << 20,
         15},
        {"compressed_binary_json", frame(fin | rsv1 | binary, big), more, none,
         "binary:" + json + ";", 1 << 20, 15},
        {"compressed_stored_final_block",
         frame(fin | rsv1 | text, std::string("\x01\x05\x00\xfa\xffHello", 10)), more, none,
         "text:Hello;", 1 << 20, 15},
        {"compressed_empty", frame(fin | rsv1 | text, std::string(1, '\0')), more, none, "text:;",
         1 << 20, 15},
        {"compressed_fragmented_with_ping",
         frame(rsv1 | text, hello.substr(0, 3)) + frame(fin | ping, "p") +
             frame(cont, hello.substr(3, 2)) + frame(fin | cont, hello.substr(5)),
         more, none, "ping:p;text:Hello;", 1 << 20, 15},
        {"plain_message_on_deflate_connection",
         frame(fin | text, "plain") + frame(fin | rsv1 | text, hello), more, none,
         "text:plain;text:Hello;", 1 << 20, 15},
        {"small_window_accepts_near_distances", frame(fin | rsv1 | binary, big), more, none,
         "binary:" + json + ";", 1 << 20, 9},
        {"rsv1_not_negotiated", frame(fin | rsv1 | text, hello), error, e1002, "", 1 << 20, 0},
        {"rsv1_on_ping", frame(fin | rsv1 | ping, ""), error, e1002, "", 1 << 20, 15},
        {"rsv1_on_continuation", frame(rsv1 | text, "\xf2\x48") + frame(fin | rsv1 | cont, "x"),
         error, e1002, "", 1 << 20, 15},
        {"rsv2_still_refused", frame(fin | 0x20 | text, "x"), error, e1002, "", 1 << 20, 15},
        {"inflated_over_max", frame(fin | rsv1 | binary, big), error, e1009, "", 100, 15},
        // A maximal message from zlib at memLevel 1 (Python websockets' default is 5) takes 4%
        // more on the wire than inflated; it must not be refused for that.
        {"stored_blocks_of_a_maximal_message", frame(fin | rsv1 | binary, stored_blocks(max64k, 128)),
         more, none, "binary:" + max64k + ";", max64k.size(), 15},
        // Blocks of 16 bytes (31% overhead) are past the wire bound (1/16 more): 1009 at the header.
        {"stored_blocks_past_the_wire_bound", frame(fin | rsv1 | binary, stored_blocks(max64k, 16)),
         error, e1009, "", max64k.size(), 15},
        {"inflated_exactly_max", frame(fin | rsv1 | binary, big), more, none,
         "binary:" + json + ";", json.size(), 15},
        {"corrupt_deflate_data", frame(fin | rsv1 | binary, "\x07\x00"), error, e1007, "", 1 << 20,
         15},
        {"compressed_invalid_utf8", frame(fin | rsv1 | text, deflated("ok\xED\xA0\x80")), error,
         e1007, "", 1 << 20, 15},
        {"distance_past_client_window",
         frame(fin | rsv1 | binary, deflated(pattern(26) + std::string(300, 'x') + pattern(26))),
         error, e1007, "", 1 << 20, 8},
    };
}

} // namespace

Test(ws_protocol, permessage_deflate_at_every_split) {
    for (const Case& c : deflate_cases())
        check_all_splits(c, false);  // every split re-inflates: once is enough there
}

Test(ws_protocol, messages_at_every_split) {
    for (const Case& c : message_cases()) check_all_splits(c);
}

Test(ws_protocol, violations_at_every_split) {
    for (const Case& c : violation_cases()) check_all_splits(c);
}

Test(ws_protocol, every_close_code) {
    for (unsigned code = 0; code <= 0xFFFF; ++code) {
        std::string in = close_frame(code, "r");
        Outcome o = run<StringBuffer>(in, {}, default_max_message_size);
        if (valid_close_code(static_cast<std::uint16_t>(code))) {
            cr_assert(o.status == done && o.log == "close:" + std::to_string(code) + ":r;",
                      "code %u", code);
        } else {
            cr_assert(o.status == error && o.code == e1002 && o.log.empty(), "code %u", code);
        }
    }
}

Test(ws_protocol, large_length_forms) {
    for (std::size_t len : {65535u, 65536u, 100000u}) {
        std::string payload = pattern(len);
        Case c{"large", frame(fin | text, payload) + frame(fin | ping, "x"), more, none,
               "text:" + payload + ";ping:x;"};
        check(c, run<InPlaceBuffer>(c.input, {}, c.max), "whole", len);
        check(c, run<StringBuffer>(c.input, per_byte(c.input.size()), c.max), "per byte", len);
        for (std::size_t cut : {1ul, 2ul, 9ul, 10ul, 13ul, 14ul, 15ul, len / 2, len + 13, len + 14})
            check(c, run<InPlaceBuffer>(c.input, {cut}, c.max), "split at", cut);
        // The same payload in 1000-byte fragments with pings in between.
        std::string frag;
        for (std::size_t off = 0; off < len; off += 1000) {
            bool last = off + 1000 >= len;
            frag += frame((last ? fin : 0) | (off == 0 ? text : cont), payload.substr(off, 1000));
            if (!last) frag += frame(fin | ping, "");
        }
        std::string pings;
        for (std::size_t i = 1; i < (len + 999) / 1000; ++i) pings += "ping:;";
        Case f{"large fragmented", frag, more, none, pings + "text:" + payload + ";"};
        check(f, run<InPlaceBuffer>(f.input, {}, f.max), "whole", len);
        check(f, run<StringBuffer>(f.input, per_byte(f.input.size()), f.max), "per byte", len);
    }
}

Test(ws_protocol, unfragmented_message_is_a_view_into_callers_buffer) {
    Outcome o = run<InPlaceBuffer>(frame(fin | text, "zero copy") + frame(fin | binary, "b"), {},
                                   default_max_message_size);
    cr_assert_eq(o.views_into_input, 2);
    Outcome f = run<InPlaceBuffer>(frame(text, "re") + frame(fin | cont, "assembled"), {},
                                   default_max_message_size);
    cr_assert(f.log == "text:reassembled;");
    cr_assert_eq(f.views_into_input, 0);
}

// With deliver_masked, exactly the whole single-frame data messages of a read come masked
// (a fragmented one, a control frame, an empty one, one cut by the read do not), and bad text
// in one fails with 1007 from the handler's unmasking, nothing delivered.
Test(ws_protocol, deliver_masked_offers_whole_single_frame_messages_only) {
    const std::string in = frame(fin | text, "hello") + frame(fin | binary, pattern(300)) +
                           frame(text, "a") + frame(fin | cont, "b") + frame(fin | ping, "p") +
                           frame(fin | text, "") + frame(fin | text, "服务器回应");
    const std::string events =
        "text:hello;binary:" + pattern(300) + ";text:ab;ping:p;text:;text:服务器回应;";
    for (Masked m : {Masked::in_place, Masked::copied}) {
        Outcome o = run<InPlaceBuffer>(in, {}, default_max_message_size, 0, m);
        cr_assert(o.status == more && o.log == events, "%s", o.log.c_str());
        cr_assert_eq(o.masked_calls, 3, "hello, the binary one and the UTF-8 one");
        cr_assert_eq(o.views_into_input, m == Masked::in_place ? 4 : 1);
        // A read that cuts the binary frame: it is completed unmasked.
        const std::size_t cut = frame(fin | text, "hello").size() + 100;
        o = run<InPlaceBuffer>(in, {cut}, default_max_message_size, 0, m);
        cr_assert(o.log == events);
        cr_assert_eq(o.masked_calls, 2);
        const std::string bad_text = frame(fin | text, "ok\xED\xA0\x80") + frame(fin | text, "x");
        Outcome bad = run<InPlaceBuffer>(bad_text, {}, default_max_message_size, 0, m);
        cr_assert(bad.status == error && bad.code == e1007 && bad.log.empty());
        cr_assert_eq(bad.masked_calls, 1);
    }
    Outcome off = run<InPlaceBuffer>(in, {}, default_max_message_size);
    cr_assert(off.log == events);
    cr_assert_eq(off.masked_calls, 0, "off by default");
}

// A MaskedPayload gives the same bytes and verdict however often and in whichever order it is
// unmasked (copied out, in place, copied out again).
Test(ws_protocol, masked_payload_unmasks_the_same_in_any_order) {
    const std::uint8_t key[4] = {0x5A, 0xC3, 0x81, 0x07};
    for (const std::string& plain : {std::string("服务器回应:hello"), pattern(300),
                                     std::string("ok\xED\xA0\x80"), std::string()}) {
        std::string wire = plain;
        for (std::size_t i = 0; i < wire.size(); ++i)
            wire[i] = static_cast<char>(wire[i] ^ key[i & 3]);
        const CloseCode want = valid_utf8(plain) ? none : e1007;
        MaskedPayload p({wire.data(), wire.size()}, key, true);
        std::string a(plain.size(), '?'), b(plain.size(), '?'), c(plain.size(), '?');
        cr_assert(p.unmask_to(a.data()) == want && a == plain);
        cr_assert(p.unmask_to(b.data()) == want && b == plain, "again: the source stays masked");
        std::string_view in_place;
        cr_assert(p.unmask_in_place(in_place) == want && in_place == plain);
        cr_assert(p.unmask_in_place(in_place) == want && in_place == plain, "in place, twice");
        cr_assert(p.unmask_to(c.data()) == want && c == plain, "copied after in place");
    }
}

// 1009 comes from the header alone: a 16 MiB frame is never buffered.
Test(ws_protocol, too_big_fails_at_header) {
    Protocol proto;
    Recorder rec;
    std::string h = header_only(fin | binary, 16u << 20);
    FeedResult r = proto.feed({h.data(), h.size()}, rec);
    cr_assert(r.status == error && r.close_code == e1009);
    Protocol fragmented(100);
    std::string in = frame(binary, pattern(60)) + header_only(fin | cont, 41);
    r = fragmented.feed({in.data(), in.size()}, rec);
    cr_assert(r.status == error && r.close_code == e1009);
}

// RFC 6455 §8.1 / Autobahn 6.4: invalid text fails before the rest of the frame arrives.
Test(ws_protocol, invalid_utf8_fails_fast_mid_frame) {
    std::string full = frame(fin | text, "valid start \xF4\x90 then a long tail of bytes........");
    std::size_t bad = 6 + 13;  // header + "valid start " + F4, the 90 is the first bad byte
    for (std::size_t n = 0; n < full.size(); ++n) {
        Protocol proto;
        Recorder rec;
        std::string part = full.substr(0, n);
        FeedResult r = proto.feed({part.data(), part.size()}, rec);
        if (n <= bad) cr_assert(r.status == more, "prefix %zu", n);
        else cr_assert(r.status == error && r.close_code == e1007, "prefix %zu", n);
    }
    // Across a fragment boundary: the first byte of the next fragment is the bad one.
    std::string in = frame(text, "ok\xE6\x9C") + frame(fin | cont, "X and more that never comes");
    std::string part = in.substr(0, frame(text, "ok\xE6\x9C").size() + 7);
    Protocol proto;
    Recorder rec;
    FeedResult r = proto.feed({part.data(), part.size()}, rec);
    cr_assert(r.status == error && r.close_code == e1007);
}

Test(ws_protocol, consumes_complete_frames_and_hints_pending_size) {
    Protocol proto;
    Recorder rec;
    std::string a = frame(fin | text, "one");
    std::string b = frame(fin | binary, pattern(300));
    std::string in = a + b.substr(0, 10);  // 8-byte header and 2 payload bytes
    FeedResult r = proto.feed({in.data(), in.size()}, rec);
    cr_assert(r.status == more);
    cr_assert_eq(r.consumed, a.size());
    cr_assert_eq(r.pending_frame_size, b.size());
    std::string rest = b;  // the caller kept b's first bytes
    std::memcpy(rest.data(), in.data() + a.size(), 10);  // those 2 are unmasked already
    r = proto.feed({rest.data(), rest.size()}, rec);
    cr_assert(r.status == more && r.consumed == b.size() && r.pending_frame_size == 0);
    cr_assert(rec.log == "text:one;binary:" + pattern(300) + ";");
    // A header not yet complete gives no hint.
    std::string two = b.substr(0, 2);
    r = proto.feed({two.data(), two.size()}, rec);
    cr_assert(r.status == more && r.consumed == 0 && r.pending_frame_size == 0);
}

Test(ws_protocol, message_open_and_state_after_end) {
    Protocol proto;
    Recorder rec;
    std::string in = frame(text, "a");
    cr_assert(proto.feed({in.data(), in.size()}, rec).status == more);
    cr_assert(proto.message_open());
    cr_assert_eq(proto.reassembly_bytes(), 0u);  // one byte fits the string itself
    in = frame(cont, pattern(5000));
    cr_assert(proto.feed({in.data(), in.size()}, rec).status == more);
    cr_assert_geq(proto.reassembly_bytes(), 5001u);
    in = frame(fin | cont, "b");
    cr_assert(proto.feed({in.data(), in.size()}, rec).status == more);
    cr_assert_not(proto.message_open());
    cr_assert_eq(proto.reassembly_bytes(), 0u);  // released once the message is delivered
    in = close_frame(1000);
    cr_assert(proto.feed({in.data(), in.size()}, rec).status == done);
    // After close every later byte is ignored and consumed.
    in = frame(fin | text, "late");
    FeedResult r = proto.feed({in.data(), in.size()}, rec);
    cr_assert(r.status == done && r.consumed == in.size());
    cr_assert(rec.log == "text:a" + pattern(5000) + "b;close:1000:;");
}

Test(ws_protocol, error_is_sticky) {
    Protocol proto;
    Recorder rec;
    std::string in = frame(fin | cont, "x");
    cr_assert(proto.feed({in.data(), in.size()}, rec).close_code == e1002);
    in = frame(fin | text, "fine");
    FeedResult r = proto.feed({in.data(), in.size()}, rec);
    cr_assert(r.status == error && r.close_code == e1002);
    cr_assert(rec.log.empty());
}
