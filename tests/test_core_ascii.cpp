// Unit tests for core/ascii: case folding of ASCII letters only, case-insensitive comparison,
// hex digits, bounded decimals, the RFC 9110 token rule, OWS trimming and #element list
// membership.
#include <criterion/criterion.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/ascii.hpp"

using namespace herald::ascii;

Test(ascii, only_ascii_letters_fold) {
    cr_expect_eq(lower('A'), 'a');
    cr_expect_eq(lower('Z'), 'z');
    cr_expect_eq(lower('a'), 'a');
    cr_expect_eq(lower('@'), '@');
    cr_expect_eq(lower('['), '[');
    cr_expect_eq(lower('\xC3'), '\xC3', "UTF-8 bytes are left alone");
}

Test(ascii, iequals_ignores_the_case_of_letters_only) {
    cr_expect(iequals("Content-Length", "content-LENGTH"), "iequals");
    cr_expect(!iequals("Host", "Hosts"), "iequals length");
    cr_expect(!iequals("[", "{"), "only letters fold");
    cr_expect(!iequals("@", "`"), "only letters fold");
    cr_expect(iequals("", ""));
    cr_expect(!iequals("\xC3\x89", "\xC3\xA9"), "non-ASCII compares exactly");
}

Test(ascii, tokens_are_one_or_more_tchars) {
    cr_expect(is_token("chat.v2"));
    cr_expect(is_token("!#$%&'*+-.^_`|~09AZaz"));
    for (std::string_view bad : {"", "a b", "a,b", "a/b", "\"q\"", "a:b", "caf\xC3\xA9", "a\tb"})
        cr_expect(!is_token(bad), "\"%.*s\"", static_cast<int>(bad.size()), bad.data());
    cr_expect(!is_tchar('\0') && !is_tchar(0x7F) && !is_tchar(' ') && !is_tchar('('));
}

Test(ascii, trim_ows_strips_spaces_and_tabs_at_both_ends) {
    cr_expect(trim_ows(" \t a b \t") == "a b");
    cr_expect(trim_ows("  ").empty());
    cr_expect(trim_ows("x") == "x");
    cr_expect(trim_ows("\r\nx") == "\r\nx", "only SP and HTAB are OWS");
}

Test(ascii, has_token_finds_whole_list_elements) {
    cr_expect(has_token("keep-alive, Upgrade", "upgrade"), "has_token second");
    cr_expect(has_token(" ,close ,", "close"), "empty elements and OWS");
    cr_expect(has_token("a,\tclose\t", "close"), "tabs");
    cr_expect(!has_token("closed, xclose", "close"), "whole tokens only");
    cr_expect(!has_token("", "close"), "empty list");
}

Test(ascii, hex_value_reads_either_case_and_nothing_else) {
    for (int c = 0; c < 256; ++c) {
        const char ch = static_cast<char>(c);
        int want = -1;
        if (c >= '0' && c <= '9') want = c - '0';
        if (c >= 'a' && c <= 'f') want = c - 'a' + 10;
        if (c >= 'A' && c <= 'F') want = c - 'A' + 10;
        cr_expect_eq(hex_value(ch), want, "byte 0x%02x", c);
        if (want >= 0) cr_expect_eq(hex_value(lower_hex[static_cast<std::size_t>(want)]), want);
    }
}

Test(ascii, parse_decimal_takes_digits_up_to_max) {
    struct Case {
        const char* name;
        std::string_view in;
        std::uint64_t max;
        bool ok;
        std::uint64_t want;
    };
    static const Case cases[] = {
        {"zero", "0", 10, true, 0},
        {"leading zeros", "007", 10, true, 7},
        {"at max", "10", 10, true, 10},
        {"past max", "11", 10, false, 0},
        {"digit past a small max", "7", 5, false, 0},
        {"uint64 max", "18446744073709551615", UINT64_MAX, true, UINT64_MAX},
        {"uint64 max + 1", "18446744073709551616", UINT64_MAX, false, 0},
        {"int64 max", "9223372036854775807", INT64_MAX, true, INT64_MAX},
        {"int64 max + 1", "9223372036854775808", INT64_MAX, false, 0},
        {"empty", "", 10, false, 0},
        {"sign", "+1", 10, false, 0},
        {"minus", "-1", 10, false, 0},
        {"space", "1 ", 10, false, 0},
        {"letter", "1a", 100, false, 0},
    };
    for (const Case& c : cases) {
        std::uint64_t out = 12345;
        const bool ok = parse_decimal(c.in, c.max, out);
        cr_expect_eq(ok, c.ok, "%s", c.name);
        cr_expect_eq(out, c.ok ? c.want : 12345u, "%s: out", c.name);
    }
}

Test(ascii, host_names_follow_rfc_1123) {
    for (const char* ok : {"localhost", "redis", "r2d2", "redis-1.cache.Example.COM", "a.b.c",
                           "1x", "x.1a", "0-0.a"})
        cr_expect(is_host_name(ok), "%s", ok);
    const std::string label63(63, 'a');
    cr_expect(is_host_name(label63 + ".com"));
    std::string name253;
    while (name253.size() + 64 <= 253) name253 += label63 + ".";
    name253 += std::string(253 - name253.size(), 'b');
    cr_expect_eq(name253.size(), 253u);
    cr_expect(is_host_name(name253));
    for (const char* bad : {"", ".", "a.", ".a", "a..b", "-a", "a-", "a.-b", "a_b", "a b",
                            "a:1", "[::1]", "10.0.0.1", "10.0.0.256", "123", "a.123",
                            "caf\xc3\xa9", "a\nb", "a/b"})
        cr_expect(!is_host_name(bad), "%s", bad);
    cr_expect(!is_host_name(label63 + "a.com"), "a label of 64");
    cr_expect(!is_host_name(name253 + "b"), "254 characters");
    cr_expect(!is_host_name(std::string_view("a\0b", 3)), "NUL");
}
