// TrimPolicy: when freed memory is handed back (core/memory.hpp).
#include <criterion/criterion.h>

#include "core/memory.hpp"

using herald::TrimPolicy;

Test(trim_policy, releases_when_the_count_halves_by_enough) {
    TrimPolicy p(256);
    for (std::size_t n = 0; n <= 10000; n += 100) cr_assert(!p.should_release(n));
    cr_assert(!p.should_release(6000), "not yet half of the peak");
    cr_assert(p.should_release(5000), "half of 10000, 5000 fewer");
    cr_assert(!p.should_release(5000), "the release resets the peak");
    cr_assert(p.should_release(2500));
}

Test(trim_policy, small_drops_do_not_release) {
    TrimPolicy p(256);
    cr_assert(!p.should_release(300));
    cr_assert(!p.should_release(149), "151 fewer: below min_drop");
    TrimPolicy q(256);
    cr_assert(!q.should_release(40));
    cr_assert(!q.should_release(0), "40 to zero: below min_drop / 4");
}

Test(trim_policy, the_last_close_releases) {
    TrimPolicy p(256);
    cr_assert(!p.should_release(100));
    cr_assert(p.should_release(0), "100 to zero: at least min_drop / 4");
    cr_assert(!p.should_release(0));
}
