// Unit tests for core/ascii: case folding of ASCII letters only, case-insensitive comparison,
// the RFC 9110 token rule, OWS trimming and #element list membership.
#include <criterion/criterion.h>

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
