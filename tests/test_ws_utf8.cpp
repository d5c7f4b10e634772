// Unit tests for the incremental UTF-8 validator (ws/utf8.hpp): boundary code points,
// overlongs, surrogates, > U+10FFFF, truncation, fail-fast position at every split, and a
// comparison with a straightforward reference decoder.
#include <criterion/criterion.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "ws/utf8.hpp"

using herald::ws::Utf8Validator;
using herald::ws::valid_utf8;

namespace {

using namespace std::string_view_literals;

struct Case {
    const char* name;
    std::string_view input;
    // Index of the first byte that must make feed() fail; -1 = valid prefix (then
    // `complete` says whether it is also a whole message).
    int fail_at;
    bool complete;
};

const Case cases[] = {
    {"empty", ""sv, -1, true},
    {"ascii", "Hello, world"sv, -1, true},
    {"nul", "\0"sv, -1, true},
    {"U+007F", "\x7F"sv, -1, true},
    {"U+0080", "\xC2\x80"sv, -1, true},
    {"U+07FF", "\xDF\xBF"sv, -1, true},
    {"U+0800", "\xE0\xA0\x80"sv, -1, true},
    {"U+D7FF", "\xED\x9F\xBF"sv, -1, true},
    {"U+E000", "\xEE\x80\x80"sv, -1, true},
    {"U+FFFD", "\xEF\xBF\xBD"sv, -1, true},
    {"U+FFFF", "\xEF\xBF\xBF"sv, -1, true},
    {"U+10000", "\xF0\x90\x80\x80"sv, -1, true},
    {"U+10FFFF", "\xF4\x8F\xBF\xBF"sv, -1, true},
    {"chinese", "服务器回应:hello"sv, -1, true},
    {"greek", "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"sv, -1, true},
    {"long_mixed", "0123456789abcdef\xC2\x80" "0123456789\xF0\x9F\x98\x80xyzxyzxyz"sv, -1, true},
    {"ascii_then_lead_in_word", "abcdefg\xC3\xA9hijklmnop"sv, -1, true},
    // Truncated sequences: a valid prefix, but not a whole message.
    {"truncated_2", "ab\xC2"sv, -1, false},
    {"truncated_3", "\xE2\x82"sv, -1, false},
    {"truncated_4", "0123456789\xF0\x9F\x98"sv, -1, false},
    // Overlong forms.
    {"overlong_C0_80", "\xC0\x80"sv, 0, false},
    {"overlong_C1_BF", "\xC1\xBF"sv, 0, false},
    {"overlong_E0_80_80", "\xE0\x80\x80"sv, 1, false},
    {"overlong_E0_9F_BF", "\xE0\x9F\xBF"sv, 1, false},
    {"overlong_F0_80_80_80", "\xF0\x80\x80\x80"sv, 1, false},
    {"overlong_F0_8F_BF_BF", "\xF0\x8F\xBF\xBF"sv, 1, false},
    // Surrogates U+D800..U+DFFF.
    {"surrogate_D800", "\xED\xA0\x80"sv, 1, false},
    {"surrogate_DBFF_DC00", "\xED\xAF\xBF\xED\xB0\x80"sv, 1, false},
    {"surrogate_DFFF", "\xED\xBF\xBF"sv, 1, false},
    // Beyond U+10FFFF.
    {"U+110000", "\xF4\x90\x80\x80"sv, 1, false},
    {"F5_lead", "\xF5\x80\x80\x80"sv, 0, false},
    {"FF", "ok\xFF"sv, 2, false},
    {"FE", "\xFE"sv, 0, false},
    // Misplaced bytes.
    {"lone_continuation", "a\x80"sv, 1, false},
    {"lead_then_ascii", "\xC2\x41"sv, 1, false},
    {"3_byte_cut_by_ascii", "\xE2\x82\x41"sv, 2, false},
    {"4_byte_cut_by_lead", "\xF0\x9F\x98\xF0"sv, 3, false},
    {"invalid_after_ascii_words", "0123456789abcdef0123456789abc\x80"sv, 29, false},
    {"invalid_after_valid",
     "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80\x65\x64\x69\x74\x65\x64"sv, 12,
     false},
};

// Feeds input in the given chunks; returns the index of the first byte of the chunk that
// first failed (-1 if none) and whether the validator ends complete.
struct Run {
    int failed_chunk_start = -1;
    std::size_t failed_chunk_end = 0;
    bool complete = false;
};

Run run_cut(std::string_view in, std::size_t cut) {
    Utf8Validator v;
    Run r;
    if (!v.feed(in.substr(0, cut))) {
        r.failed_chunk_start = 0;
        r.failed_chunk_end = cut;
    } else if (!v.feed(in.substr(cut))) {
        r.failed_chunk_start = static_cast<int>(cut);
        r.failed_chunk_end = in.size();
    }
    r.complete = v.complete();
    return r;
}

} // namespace

Test(ws_utf8, table_whole) {
    for (const Case& c : cases) {
        Utf8Validator v;
        bool ok = v.feed(c.input);
        cr_assert_eq(ok, c.fail_at < 0, "%s: feed", c.name);
        cr_assert_eq(v.complete(), c.complete, "%s: complete", c.name);
        cr_assert_eq(v.failed(), c.fail_at >= 0, "%s: failed", c.name);
        cr_assert_eq(valid_utf8(c.input), c.fail_at < 0 && c.complete, "%s: valid_utf8", c.name);
    }
}

Test(ws_utf8, table_per_byte_fails_at_first_invalid_byte) {
    for (const Case& c : cases) {
        Utf8Validator v;
        int failed = -1;
        for (std::size_t i = 0; i < c.input.size(); ++i) {
            if (!v.feed(c.input.substr(i, 1))) {
                failed = static_cast<int>(i);
                break;
            }
        }
        cr_assert_eq(failed, c.fail_at, "%s: failed at %d, want %d", c.name, failed, c.fail_at);
        cr_assert_eq(v.complete(), c.complete, "%s: complete", c.name);
    }
}

Test(ws_utf8, table_every_split) {
    for (const Case& c : cases) {
        for (std::size_t cut = 0; cut <= c.input.size(); ++cut) {
            Run r = run_cut(c.input, cut);
            if (c.fail_at < 0) {
                cr_assert_eq(r.failed_chunk_start, -1, "%s: split at %zu", c.name, cut);
            } else {
                // The chunk holding the first invalid byte is the one that fails.
                bool in_chunk = r.failed_chunk_start >= 0 && r.failed_chunk_start <= c.fail_at &&
                                static_cast<std::size_t>(c.fail_at) < r.failed_chunk_end;
                cr_assert(in_chunk, "%s: split at %zu failed in chunk at %d", c.name, cut,
                          r.failed_chunk_start);
            }
            cr_assert_eq(r.complete, c.complete, "%s: split at %zu complete", c.name, cut);
        }
    }
}

Test(ws_utf8, failure_is_sticky_until_reset) {
    Utf8Validator v;
    cr_assert_not(v.feed("\xC0"));
    cr_assert_not(v.feed("abc"));
    cr_assert_not(v.complete());
    v.reset();
    cr_assert(v.feed("abc"));
    cr_assert(v.complete());
}

// Every scalar value, encoded by hand, is accepted; every surrogate encoding is rejected.
Test(ws_utf8, every_code_point) {
    for (std::uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
        char b[4];
        std::size_t n;
        if (cp < 0x80) {
            b[0] = static_cast<char>(cp);
            n = 1;
        } else if (cp < 0x800) {
            b[0] = static_cast<char>(0xC0 | (cp >> 6));
            b[1] = static_cast<char>(0x80 | (cp & 0x3F));
            n = 2;
        } else if (cp < 0x10000) {
            b[0] = static_cast<char>(0xE0 | (cp >> 12));
            b[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            b[2] = static_cast<char>(0x80 | (cp & 0x3F));
            n = 3;
        } else {
            b[0] = static_cast<char>(0xF0 | (cp >> 18));
            b[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            b[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            b[3] = static_cast<char>(0x80 | (cp & 0x3F));
            n = 4;
        }
        bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
        cr_assert_eq(valid_utf8({b, n}), !surrogate, "U+%04X", cp);
    }
}

namespace {

// Reference: decode code point by code point, then check range, minimal length, surrogates.
bool reference_valid(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        unsigned b = static_cast<unsigned char>(s[i]);
        std::size_t n = b < 0x80          ? 1
                        : (b >> 5) == 6   ? 2
                        : (b >> 4) == 14  ? 3
                        : (b >> 3) == 30  ? 4
                                          : 0;
        if (n == 0 || i + n > s.size()) return false;
        std::uint32_t cp = n == 1 ? b : (b & (0x7F >> n));
        for (std::size_t k = 1; k < n; ++k) {
            unsigned c = static_cast<unsigned char>(s[i + k]);
            if ((c & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (c & 0x3F);
        }
        static const std::uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += n;
    }
    return true;
}

} // namespace

Test(ws_utf8, all_two_and_three_byte_strings_match_reference) {
    for (unsigned a = 0; a < 256; ++a)
        for (unsigned b = 0; b < 256; ++b) {
            char s2[2] = {static_cast<char>(a), static_cast<char>(b)};
            cr_assert_eq(valid_utf8({s2, 2}), reference_valid({s2, 2}), "%02X %02X", a, b);
            if (a < 0xE0 || a > 0xF4) continue;  // other leads are covered by the 2-byte pass
            for (unsigned c = 0; c < 256; ++c) {
                char s3[3] = {static_cast<char>(a), static_cast<char>(b), static_cast<char>(c)};
                cr_assert_eq(valid_utf8({s3, 3}), reference_valid({s3, 3}), "%02X %02X %02X", a,
                             b, c);
            }
        }
}

Test(ws_utf8, random_strings_match_reference) {
    std::mt19937 rng(12345);
    // Mostly valid-looking bytes so that long strings are not all rejected at byte 0.
    const unsigned char pool[] = {'a', 'Z', ' ', 0x7F, 0x80, 0x8F, 0x90, 0xBF, 0xC2, 0xDF,
                                  0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xA0, 0x9F, 0xC0, 0xFF};
    for (int iter = 0; iter < 200000; ++iter) {
        std::size_t len = rng() % 24;
        std::string s;
        for (std::size_t i = 0; i < len; ++i)
            s.push_back(static_cast<char>(rng() % 3 ? 'a' : pool[rng() % sizeof pool]));
        cr_assert_eq(valid_utf8(s), reference_valid(s), "iteration %d", iter);
    }
}

// The ASCII fast paths (32 bytes, then 8 at a time) must hand over to the DFA at any
// position within a round or a word.
Test(ws_utf8, fast_path_every_position) {
    for (std::size_t pos = 0; pos < 110; ++pos) {
        std::string good(112, 'x');
        good.replace(pos, 2, "\xC3\xA9");
        cr_assert(valid_utf8(good), "valid char at %zu", pos);
        std::string bad(112, 'x');
        bad[pos] = '\x80';
        Utf8Validator v;
        cr_assert_not(v.feed(bad), "invalid byte at %zu", pos);
        std::string cut(112, 'x');
        cut[pos] = '\xE2';
        cr_assert_not(valid_utf8(cut), "truncated/interrupted sequence at %zu", pos);
    }
}
