// Unit tests for the compound cursor of channel-list requests (push/cursor.hpp): FNV-1a hashes,
// the entry codec round trip, refusal of every malformed form, and how a request's resume text
// becomes one resume point per channel. Inputs sit before a guard page, so reading past the
// end crashes the test.
#include <criterion/criterion.h>

#include <string>
#include <string_view>
#include <vector>

#include "push/cursor.hpp"
#include "support/feed.hpp"

using namespace std::literals;
using herald::push::append_cursor_entry;
using herald::push::channel_hash;
using herald::push::Cursor;
using herald::push::CursorEntry;
using herald::push::max_cursor_entries;
using herald::push::parse_cursor;
using herald::push::resolve_list_resume;
using herald::push::unquote_list_tag;
using herald::test::GuardedBuffer;

namespace {

constexpr std::uint64_t E = 0x0123456789ab;

bool parse_guarded(std::string_view text, std::vector<CursorEntry>& out) {
    GuardedBuffer buf;
    return parse_cursor(buf.place(text), out);
}

std::string entry(std::string_view name, std::uint64_t epoch, std::uint64_t seq) {
    std::string c;
    append_cursor_entry(c, name, epoch, seq);
    return c;
}

} // namespace

// Published FNV-1a 32-bit test vectors.
Test(push_cursor, fnv1a_32_vectors) {
    cr_assert_eq(channel_hash(""), 0x811c9dc5u);
    cr_assert_eq(channel_hash("a"), 0xe40c292cu);
    cr_assert_eq(channel_hash("foobar"), 0xbf9cf968u);
}

Test(push_cursor, writes_hash_epoch_and_seq) {
    std::string c;
    append_cursor_entry(c, "a", E, 7);
    cr_assert_eq(c, "e40c292c.0123456789ab-7"s);
    append_cursor_entry(c, "foobar", 1, 0);
    cr_assert_eq(c, "e40c292c.0123456789ab-7,bf9cf968.000000000001-0"s);
}

Test(push_cursor, round_trip) {
    std::string c;
    const char* names[] = {"news", "chat", "ticker"};
    std::uint64_t seq = 0;
    for (const char* n : names) append_cursor_entry(c, n, E + seq, seq * 1000);
    append_cursor_entry(c, "max", 0xffffffffffff, UINT64_MAX);
    std::vector<CursorEntry> out;
    cr_assert(parse_guarded(c, out), "%s", c.c_str());
    cr_assert_eq(out.size(), 4u);
    for (std::size_t i = 0; i < 3; ++i) {
        cr_assert_eq(out[i].hash, channel_hash(names[i]));
        cr_assert_eq(out[i].epoch, E + i * 0);
    }
    cr_assert_eq(out[3].epoch, 0xffffffffffffu);
    cr_assert_eq(out[3].seq, UINT64_MAX);
}

// Every malformed form is refused (the caller treats it as a foreign cursor).
Test(push_cursor, refuses_malformed) {
    const std::string good = entry("a", E, 5);
    const std::string_view bad[] = {
        "",
        ",",
        "e40c292c.0123456789ab-5,",                // trailing empty entry
        ",e40c292c.0123456789ab-5",                // leading empty entry
        "e40c292c.0123456789ab-",                  // no seq
        "e40c292c.0123456789ab",                   // no dash
        "e40c292c0123456789ab-5",                  // no dot
        "e40c292.0123456789ab-5",                  // 7 hash digits
        "e40c292c1.0123456789ab-5",                // 9 hash digits
        "E40C292C.0123456789ab-5",                 // uppercase hash
        "e40c292c.0123456789AB-5",                 // uppercase epoch
        "e40c292c.0123456789a-5",                  // 11 epoch digits
        "e40c292c.0123456789abc-5",                // 13 epoch digits
        "e40c292c.0123456789ab-05",                // leading zero
        "e40c292c.0123456789ab-+5",                // sign
        "e40c292c.0123456789ab-5 ",                // trailing space
        " e40c292c.0123456789ab-5",                // leading space
        "e40c292c.0123456789ab-18446744073709551616",  // past 2^64-1
        "e40c292c.0123456789ab-5,e40c292c.0123456789ab-6",  // one hash twice
        "g40c292c.0123456789ab-5",                 // not hex
        "e40c292c.0123456789ab-5;x",               // junk after the seq
        "0123456789ab-5",                          // a plain message id
        "0",
        "e40c292c.0123456789ab-5\0"sv,             // a NUL
    };
    std::vector<CursorEntry> out;
    for (const std::string_view b : bad)
        cr_assert_not(parse_guarded(b, out), "accepted \"%.*s\"", static_cast<int>(b.size()),
                      b.data());
    cr_assert(parse_guarded(good, out));
    cr_assert(parse_guarded("e40c292c.000000000000-0", out));  // epoch 0: no life, still parsed
    cr_assert_eq(out[0].epoch, 0u);
}

Test(push_cursor, at_most_max_entries) {
    std::string c;
    for (std::size_t i = 0; i < max_cursor_entries; ++i)
        append_cursor_entry(c, "ch" + std::to_string(i), E, i);
    std::vector<CursorEntry> out;
    cr_assert(parse_guarded(c, out));
    cr_assert_eq(out.size(), max_cursor_entries);
    append_cursor_entry(c, "one-more", E, 1);
    cr_assert_not(parse_guarded(c, out));
}

// Each byte of a valid cursor, changed to each byte value, either still parses (a digit for a
// digit) or is refused: no input reads past its end (guard page) or crashes.
Test(push_cursor, every_byte_changed) {
    const std::string good = entry("news", E, 42) + "," + entry("chat", E + 1, 0);
    std::vector<CursorEntry> out;
    for (std::size_t i = 0; i < good.size(); ++i) {
        for (int b = 0; b < 256; ++b) {
            std::string t = good;
            t[i] = static_cast<char>(b);
            (void)parse_guarded(t, out);
        }
        // Only the cuts after the first entry's "4" or "42" leave a whole cursor (the whole
        // text is 48 bytes: entries of 24 and 23 around the comma at 24).
        cr_assert_eq(parse_guarded(good.substr(0, i), out), i == 23 || i == 24, "prefix of %zu", i);
    }
}

Test(push_cursor, resume_per_channel) {
    const std::vector<std::string> names = {"news", "chat", "ticker"};
    std::vector<std::optional<Cursor>> out;

    resolve_list_resume("", names, out);
    cr_assert_eq(out.size(), 3u);
    for (const auto& c : out) cr_assert_not(c.has_value());

    resolve_list_resume("0", names, out);
    for (const auto& c : out) cr_assert(c && c->epoch == 0 && c->seq == 0 && !c->foreign);

    resolve_list_resume("garbage", names, out);
    for (const auto& c : out) cr_assert(c && c->foreign);

    resolve_list_resume(E == 0 ? "" : "0123456789ab-5", names, out);  // a single-channel id
    for (const auto& c : out) cr_assert(c && c->foreign);

    // Order-independent; a channel without an entry is live only; an entry of another
    // channel is ignored; epoch 0 is foreign.
    std::string c = entry("ticker", E, 9);
    append_cursor_entry(c, "gone", E, 3);
    append_cursor_entry(c, "news", 0, 0);
    resolve_list_resume(c, names, out);
    cr_assert(out[0] && out[0]->foreign);
    cr_assert_not(out[1].has_value());
    cr_assert(out[2] && !out[2]->foreign && out[2]->epoch == E && out[2]->seq == 9);
}

Test(push_cursor, unquotes_if_none_match) {
    cr_assert_eq(unquote_list_tag("\"a.b,c\""), "a.b,c"sv);
    cr_assert_eq(unquote_list_tag(" W/\"a.b,c\" "), "a.b,c"sv);
    cr_assert_eq(unquote_list_tag("a.b"), "a.b"sv);
    cr_assert_eq(unquote_list_tag("\""), "\""sv);
    cr_assert_eq(unquote_list_tag(""), ""sv);
}
