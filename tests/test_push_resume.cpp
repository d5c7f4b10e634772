// Unit tests for message ids and resume points (push/resume.hpp): the "EPOCH-SEQ" format,
// ?since= / Last-Event-ID ids, If-None-Match entity-tag lists with weak tags and "*" (RFC 9110
// §13.1.2), and which input wins. Inputs sit before a guard page, so reading past the end
// crashes the test.
#include <criterion/criterion.h>

#include <string>
#include <string_view>

#include "push/resume.hpp"
#include "support/feed.hpp"

using namespace std::literals;
using herald::push::append_message_id;
using herald::push::Cursor;
using herald::push::make_epoch;
using herald::push::message_id;
using herald::push::parse_if_none_match;
using herald::push::parse_last;
using herald::push::parse_resume_id;
using herald::push::pick_resume;
using herald::push::Resume;
using herald::push::ResumeKind;
using herald::test::GuardedBuffer;

namespace {

constexpr std::uint64_t E = 0x0123456789ab;

struct Case {
    std::string_view in;
    ResumeKind kind;
    Cursor at;  // when kind == id
};

constexpr Cursor foreign{0, 0, true};

void check(Resume (*parse)(std::string_view) noexcept, const Case& c) {
    GuardedBuffer buf;
    const Resume r = parse(buf.place(c.in));
    const int n = static_cast<int>(c.in.size());
    cr_expect(r.kind == c.kind, "\"%.*s\": kind %d, want %d", n, c.in.data(),
              static_cast<int>(r.kind), static_cast<int>(c.kind));
    if (c.kind != ResumeKind::id || r.kind != ResumeKind::id) return;
    cr_expect(r.at.foreign == c.at.foreign, "\"%.*s\": foreign %d", n, c.in.data(), r.at.foreign);
    if (!c.at.foreign)
        cr_expect(r.at.epoch == c.at.epoch && r.at.seq == c.at.seq,
                  "\"%.*s\": %llx-%llu", n, c.in.data(),
                  static_cast<unsigned long long>(r.at.epoch),
                  static_cast<unsigned long long>(r.at.seq));
}

} // namespace

Test(push_resume, id_format) {
    cr_expect(message_id(E, 5) == "0123456789ab-5");
    cr_expect(message_id(1, 0) == "000000000001-0");
    cr_expect(message_id(0xffffffffffff, 18446744073709551615ULL) ==
              "ffffffffffff-18446744073709551615");
    std::string s = "x";
    append_message_id(s, E, 12);
    cr_expect(s == "x0123456789ab-12");
    // Only [0-9a-f-]: nothing to escape in SSE, ETags, query strings or JSON.
    for (char c : message_id(0xabcdef012345, 987654321))
        cr_expect((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-');
    // Epochs: 48 bits, never 0 (0 means "the current life").
    cr_expect(make_epoch(0) == 1);
    cr_expect(make_epoch(~0ULL) <= herald::push::epoch_mask && make_epoch(~0ULL) != 0);
    cr_expect(make_epoch(0x123456789abcdef0ULL) != make_epoch(0x123456789abcdef1ULL));
    // What is formatted parses back.
    const Resume r = parse_resume_id(message_id(E, 77));
    cr_expect(r.kind == ResumeKind::id && !r.at.foreign && r.at.epoch == E && r.at.seq == 77);
}

Test(push_resume, ids) {
    const Case cases[] = {
        {"", ResumeKind::none, {}},
        {"0", ResumeKind::id, {0, 0, false}},  // from the start of the current life
        {"0123456789ab-5", ResumeKind::id, {E, 5, false}},
        {"\"0123456789ab-7\"", ResumeKind::id, {E, 7, false}},
        {"0123456789ab-0", ResumeKind::id, {E, 0, false}},
        {"0123456789ab-18446744073709551615", ResumeKind::id, {E, 18446744073709551615ULL, false}},
        // Not an id of any life: all buffered messages and the missed signal, never a 400.
        {"5", ResumeKind::id, foreign},  // a bare sequence names no life
        {"0123456789ab-18446744073709551616", ResumeKind::id, foreign},
        {"0123456789AB-5", ResumeKind::id, foreign},
        {"000000000000-5", ResumeKind::id, foreign},
        {"0123456789ab-", ResumeKind::id, foreign},
        {"0123456789ab-+5", ResumeKind::id, foreign},
        {"0123456789ab-5x", ResumeKind::id, foreign},
        {"0123456789a-5", ResumeKind::id, foreign},
        {"0123456789abc-5", ResumeKind::id, foreign},
        {"0123456789ab_5", ResumeKind::id, foreign},
        {"abc", ResumeKind::id, foreign},
        {"00", ResumeKind::id, foreign},
        {"\"\"", ResumeKind::id, foreign},
        {"\"", ResumeKind::id, foreign},
    };
    for (const Case& c : cases) check(parse_resume_id, c);
}

Test(push_resume, if_none_match_lists) {
    const Case cases[] = {
        {"", ResumeKind::none, {}},
        {"  ", ResumeKind::none, {}},
        {"\"0123456789ab-3\"", ResumeKind::id, {E, 3, false}},
        {"W/\"0123456789ab-3\"", ResumeKind::id, {E, 3, false}},  // weak comparison
        {"*", ResumeKind::latest, {}},
        {" * ", ResumeKind::latest, {}},
        {"\"0123456789ab-1\", \"0123456789ab-3\"", ResumeKind::id, {E, 3, false}},
        {"\"0123456789ab-4\",W/\"0123456789ab-2\"", ResumeKind::id, {E, 4, false}},
        {"\"x\", \"0123456789ab-2\"", ResumeKind::id, {E, 2, false}},  // others' tags skipped
        {"\"0123456789ab-2\", *", ResumeKind::latest, {}},
        {"\"0\"", ResumeKind::id, {0, 0, false}},
        {"\"abc\"", ResumeKind::id, foreign},
        {"0123456789ab-3", ResumeKind::id, foreign},  // not an entity-tag
        {"\"0123456789ab-3\",,", ResumeKind::id, {E, 3, false}},
        {",", ResumeKind::id, foreign},
    };
    for (const Case& c : cases) check(parse_if_none_match, c);
}

Test(push_resume, native_header_wins_over_query) {
    const Resume header{ResumeKind::id, {E, 9, false}};
    const Resume query{ResumeKind::id, {E, 5, false}};
    cr_expect(pick_resume(header, query).at.seq == 9);
    cr_expect(pick_resume(Resume{}, query).at.seq == 5);
    cr_expect(pick_resume(Resume{ResumeKind::latest, {}}, query).kind == ResumeKind::latest);
    cr_expect(pick_resume(Resume{ResumeKind::id, foreign}, query).at.foreign);
    cr_expect(pick_resume(Resume{}, Resume{}).kind == ResumeKind::none);
}

Test(push_resume, last_n) {
    cr_expect(parse_last("1") == 1);
    cr_expect(parse_last("25") == 25);
    cr_expect(parse_last("007") == 7);
    cr_expect(parse_last("1000") == herald::push::max_last);
    for (std::string_view bad : {""sv, "0"sv, "000"sv, "1001"sv, "-1"sv, "+1"sv, " 1"sv, "1 "sv,
                                 "1.5"sv, "abc"sv, "0x10"sv, "99999999999999999999999"sv}) {
        cr_expect(parse_last(bad) == 0, "%.*s", int(bad.size()), bad.data());
    }
}

Test(push_resume, epoch_alone) {
    std::string e;
    herald::push::append_epoch(e, 0xabc);
    cr_assert_eq(e, "000000000abc");
    std::uint64_t v = 7;
    cr_assert(herald::push::parse_epoch(e, v));
    cr_assert_eq(v, 0xabcu);
    for (const char* bad : {"000000000ABC", "00000000abc", "0000000000abc", "000000000000",
                            "00000000-abc", ""}) {
        v = 7;
        cr_assert(!herald::push::parse_epoch(bad, v), "%s", bad);
        cr_assert_eq(v, 7u, "unchanged on %s", bad);
    }
    cr_assert_eq(herald::push::message_id(0xabc, 5), e + "-5");
}
