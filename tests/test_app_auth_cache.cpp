// Unit tests for the auth_request answer cache: expiry, and the bound on its entries (the
// expired ones go first, then the oldest inserted), at the real max_auth_cache_entries too.
#include <criterion/criterion.h>

#include <chrono>
#include <string>

#include "app/auth_request.hpp"

using namespace std::chrono_literals;
using herald::Clock;
using herald::app::AuthCache;
using herald::app::max_auth_cache_entries;

namespace {
const Clock::time_point t0{};
}

Test(app_auth_cache, answers_expire) {
    AuthCache c;
    c.remember("k", 401, "Bearer", t0, 10s);
    const AuthCache::Answer* a = c.find("k", t0 + 9s);
    cr_assert(a != nullptr);
    cr_assert(a->status == 401 && a->www_authenticate == "Bearer");
    cr_assert_null(c.find("k", t0 + 10s));
    cr_assert_null(c.find("other", t0));
}

Test(app_auth_cache, expired_entries_go_first_then_the_oldest) {
    AuthCache c(3);
    c.remember("a", 204, "", t0, 10s);
    c.remember("b", 204, "", t0, 1s);
    c.remember("c", 204, "", t0, 10s);
    c.remember("d", 204, "", t0 + 2s, 10s); // b has expired: it makes room
    cr_assert_eq(c.size(), 3u);
    cr_assert(c.find("a", t0 + 2s) && c.find("c", t0 + 2s) && c.find("d", t0 + 2s));
    c.remember("a", 403, "", t0 + 2s, 10s); // a key already kept is replaced, nothing evicted
    cr_assert_eq(c.size(), 3u);
    c.remember("e", 204, "", t0 + 2s, 10s); // none expired: the oldest inserted (c) goes
    cr_assert_eq(c.size(), 3u);
    cr_assert_null(c.find("c", t0 + 2s));
    cr_assert(c.find("a", t0 + 2s) && c.find("d", t0 + 2s) && c.find("e", t0 + 2s));
    cr_assert_eq(c.find("a", t0 + 2s)->status, 403);
}

Test(app_auth_cache, holds_max_auth_cache_entries) {
    AuthCache c;
    for (std::size_t i = 0; i < max_auth_cache_entries; ++i)
        c.remember(std::to_string(i), 204, "", t0, 10s);
    cr_assert_eq(c.size(), max_auth_cache_entries);
    cr_assert_not_null(c.find("0", t0));
    c.remember("one more", 204, "", t0, 10s);
    cr_assert_eq(c.size(), max_auth_cache_entries);
    cr_assert_null(c.find("0", t0), "the oldest made room");
    cr_assert_not_null(c.find("1", t0));
    cr_assert_not_null(c.find("one more", t0));
}
