// Unit tests for push/admission: which subscribers a revocation matches, and the registry's
// bookkeeping (each match counted once, ended on its own loop through post, gone after
// removal), and the expiry timer of an Admission on a real loop.
#include <criterion/criterion.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "push/admission.hpp"
#include "push/strategy.hpp"

using namespace herald;
using namespace herald::push;

namespace {

struct Recorder final : Revocable {
    std::vector<AccessEnd> ends;
    void end_access(AccessEnd why) noexcept override { ends.push_back(why); }
};

Target target(const char* channel, const char* sub, std::int64_t expires_at = 0) {
    Target t;
    t.channel = channel;
    t.sub = sub;
    t.expires_at = expires_at;
    return t;
}

} // namespace

Test(push_admission, revoke_filter_matches) {
    struct Case {
        RevokeFilter f;
        const char* channel;
        const char* sub;
        bool want;
    };
    const Case cases[] = {
        {{"a", "42", false}, "a", "42", true},
        {{"a", "42", false}, "a", "43", false},
        {{"a", "42", false}, "b", "42", false},
        {{"a", "42", false}, "a", "", false},
        {{"", "42", false}, "b", "42", true},      // every channel
        {{"", "42", false}, "b", "4", false},
        {{"a", "", true}, "a", "", true},          // every subscriber of a, tokenless too
        {{"a", "", true}, "a", "7", true},
        {{"a", "", true}, "ab", "7", false},       // exact channel, not a prefix
        {{"a", "", false}, "a", "", true},         // sub "" = the tokenless ones
        {{"a", "", false}, "a", "7", false},
    };
    for (std::size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        const Case& c = cases[i];
        cr_expect_eq(c.f.matches(c.channel, c.sub), c.want, "case %zu", i);
    }
}

Test(push_admission, revoke_counts_each_match_once_and_ends_it_through_post) {
    std::vector<std::function<void()>> posted;
    AdmissionRegistry reg([&posted](std::function<void()> fn) { posted.push_back(std::move(fn)); });
    const Target t1 = target("a", "42"), t2 = target("a", "43"), t3 = target("b", "42");
    Recorder r1, r2, r3;
    const std::uint64_t id1 = reg.add(t1, r1);
    reg.add(t2, r2);
    reg.add(t3, r3);
    cr_expect_eq(reg.revoke(RevokeFilter{"", "42", false}), 2u);
    cr_expect_eq(reg.revoke(RevokeFilter{"", "42", false}), 0u);  // already being ended
    cr_assert_eq(posted.size(), 1u);
    cr_expect(r1.ends.empty() && r3.ends.empty());  // nothing ends before the loop runs it
    reg.remove(id1);                                // r1 ended on its own meanwhile
    posted[0]();
    cr_expect(r1.ends.empty());
    cr_assert_eq(r3.ends.size(), 1u);
    cr_expect(r3.ends[0] == AccessEnd::revoked);
    cr_expect(r2.ends.empty());
    std::vector<std::pair<std::string, std::uint64_t>> by_sub;
    reg.count_by_sub("a", by_sub, 10);
    cr_assert_eq(by_sub.size(), 1u);
    cr_expect(by_sub[0].first == "43" && by_sub[0].second == 1);
    cr_expect_eq(reg.revoke(RevokeFilter{"a", "", true}), 1u);
    cr_expect_eq(posted.size(), 2u);
}

// count_by_sub() lists at most max_subs distinct subs (in order of first appearance) and keeps
// counting the ones already listed; another channel's subscribers are not counted.
Test(push_admission, count_by_sub_lists_at_most_max_subs) {
    AdmissionRegistry reg([](std::function<void()>) {});
    const Target a1 = target("a", "1"), a2 = target("a", "2"), a3 = target("a", "3"),
                 a1b = target("a", "1"), a2b = target("a", "2"), b9 = target("b", "9");
    Recorder r;
    for (const Target* t : {&a1, &a2, &a3, &a1b, &a2b, &b9}) reg.add(*t, r);
    std::vector<std::pair<std::string, std::uint64_t>> by_sub;
    reg.count_by_sub("a", by_sub, 2);
    cr_assert_eq(by_sub.size(), 2u);
    // The registry's order is a hash map's: which two are listed is not fixed, their counts are.
    for (const auto& [sub, n] : by_sub) {
        cr_expect(sub == "1" || sub == "2" || sub == "3", "%s", sub.c_str());
        cr_expect_eq(n, sub == "3" ? 1u : 2u, "%s", sub.c_str());
    }
    by_sub.clear();
    reg.count_by_sub("a", by_sub, 10);
    cr_expect_eq(by_sub.size(), 3u);
}

Test(push_admission, admission_unregisters_and_its_expiry_fires_on_the_loop, .timeout = 5.0) {
    EventLoop loop;
    AdmissionRegistry reg([&loop](std::function<void()> fn) { loop.post(std::move(fn)); });
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const Target past = target("a", "1", now - 10), never = target("a", "2");
    // exp values at the edges of what a token may carry (18 digits): no overflow, no timer
    // for the far one, an immediate end for the one long past.
    const Target far = target("a", "3", 999'999'999'999'999'999),
                 ancient = target("a", "4", -999'999'999'999'999'999);
    Recorder expired, kept, far_r, ancient_r;
    {
        Admission a(reg, loop, past, expired);
        Admission b(reg, loop, never, kept);
        Admission c(reg, loop, far, far_r);
        Admission d(reg, loop, ancient, ancient_r);
        cr_expect_eq(reg.size(), 4u);
        Admission moved = std::move(b);
        cr_expect_eq(reg.size(), 4u);
        auto stop = loop.add_timer(std::chrono::milliseconds(50), [&loop] { loop.stop(); });
        loop.run();
        cr_assert_eq(expired.ends.size(), 1u);
        cr_expect(expired.ends[0] == AccessEnd::expired);
        cr_expect(kept.ends.empty() && far_r.ends.empty());
        cr_expect_eq(ancient_r.ends.size(), 1u);
    }
    cr_expect_eq(reg.size(), 0u);
}
