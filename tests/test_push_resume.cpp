// Unit tests for resume points (push/resume.hpp): ?since= / Last-Event-ID ids, If-None-Match
// entity-tag lists with weak tags and "*" (RFC 9110 §13.1.2), and which input wins. Inputs
// sit before a guard page, so reading past the end crashes the test.
#include <criterion/criterion.h>

#include <string_view>

#include "push/resume.hpp"
#include "support/feed.hpp"

using namespace std::literals;
using herald::push::parse_if_none_match;
using herald::push::parse_resume_id;
using herald::push::pick_resume;
using herald::push::Resume;
using herald::push::ResumeKind;
using herald::test::GuardedBuffer;

namespace {

struct Case {
    std::string_view in;
    ResumeKind kind;
    std::uint64_t id;
};

void check(Resume (*parse)(std::string_view) noexcept, const Case& c) {
    GuardedBuffer buf;
    const Resume r = parse(buf.place(c.in));
    cr_expect(r.kind == c.kind, "\"%.*s\": kind %d, want %d", static_cast<int>(c.in.size()),
              c.in.data(), static_cast<int>(r.kind), static_cast<int>(c.kind));
    if (c.kind == ResumeKind::id)
        cr_expect(r.id == c.id, "\"%.*s\": id %llu, want %llu", static_cast<int>(c.in.size()),
                  c.in.data(), static_cast<unsigned long long>(r.id),
                  static_cast<unsigned long long>(c.id));
}

} // namespace

Test(push_resume, ids) {
    static const Case cases[] = {
        {"", ResumeKind::none, 0},
        {"0", ResumeKind::id, 0},
        {"5", ResumeKind::id, 5},
        {"\"7\"", ResumeKind::id, 7},
        {"18446744073709551615", ResumeKind::id, 18446744073709551615ULL},
        {"18446744073709551616", ResumeKind::invalid, 0},
        {"abc", ResumeKind::invalid, 0},
        {"-1", ResumeKind::invalid, 0},
        {"+1", ResumeKind::invalid, 0},
        {"1.5", ResumeKind::invalid, 0},
        {"1x", ResumeKind::invalid, 0},
        {" 1", ResumeKind::invalid, 0},
        {"\"\"", ResumeKind::invalid, 0},
        {"\"", ResumeKind::invalid, 0},
    };
    for (const Case& c : cases) check(parse_resume_id, c);
}

Test(push_resume, if_none_match_lists) {
    static const Case cases[] = {
        {"", ResumeKind::none, 0},
        {"  ", ResumeKind::none, 0},
        {"\"3\"", ResumeKind::id, 3},
        {"W/\"3\"", ResumeKind::id, 3},           // weak comparison
        {"*", ResumeKind::latest, 0},
        {" * ", ResumeKind::latest, 0},
        {"\"1\", \"3\"", ResumeKind::id, 3},     // the newest one held
        {"\"4\",W/\"2\"", ResumeKind::id, 4},
        {"\"x\", \"2\"", ResumeKind::id, 2},     // someone else's tag is skipped
        {"\"2\", *", ResumeKind::latest, 0},
        {"\"abc\"", ResumeKind::invalid, 0},
        {"3", ResumeKind::invalid, 0},           // not an entity-tag
        {"W/3", ResumeKind::invalid, 0},
        {"\"3\",,", ResumeKind::id, 3},
        {",", ResumeKind::invalid, 0},
        {"\"18446744073709551616\"", ResumeKind::invalid, 0},
    };
    for (const Case& c : cases) check(parse_if_none_match, c);
}

Test(push_resume, native_header_wins_over_query) {
    const Resume header{ResumeKind::id, 9};
    const Resume query{ResumeKind::id, 5};
    cr_expect(pick_resume(header, query).id == 9);
    cr_expect(pick_resume(Resume{}, query).id == 5);
    cr_expect(pick_resume(Resume{ResumeKind::latest, 0}, query).kind == ResumeKind::latest);
    cr_expect(pick_resume(Resume{ResumeKind::invalid, 0}, query).kind == ResumeKind::invalid);
    cr_expect(pick_resume(Resume{}, Resume{}).kind == ResumeKind::none);
}
