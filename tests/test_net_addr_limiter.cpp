// Unit tests for net/addr_limiter: requests in progress per address, token buckets over an
// injected clock, the table bound (idle entries expire; a full table of live ones refuses).
#include <criterion/criterion.h>

#include <chrono>
#include <thread>
#include <vector>

#include "core/clock.hpp"
#include "net/addr_limiter.hpp"

using namespace herald;
using net::AddrLimiter;
using Verdict = AddrLimiter::Verdict;

namespace {

AddrLimiter::Addr v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    return {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d};
}

} // namespace

Test(addr_limiter, counts_requests_in_progress_per_address) {
    AddrLimiter lim;
    ManualClock clock;
    const net::AddrLimits l{.conn = 2};
    AddrLimiter::Lease a, b, c, other;
    cr_expect(lim.admit(0, v4(127, 0, 0, 1), l, clock.now(), a).verdict == Verdict::admitted);
    cr_expect(lim.admit(0, v4(127, 0, 0, 1), l, clock.now(), b).verdict == Verdict::admitted);
    AddrLimiter::Result r = lim.admit(0, v4(127, 0, 0, 1), l, clock.now(), c);
    cr_expect(r.verdict == Verdict::over_conn && r.retry_after == 0 && !c.held());
    cr_expect(lim.admit(0, v4(127, 0, 0, 2), l, clock.now(), other).verdict == Verdict::admitted);
    cr_expect(lim.admit(1, v4(127, 0, 0, 1), l, clock.now(), c).verdict == Verdict::admitted,
              "another zone counts on its own");
    c.release();
    a.release();  // one ends: a slot is free again
    cr_expect(lim.admit(0, v4(127, 0, 0, 1), l, clock.now(), a).verdict == Verdict::admitted);
    AddrLimiter::Lease moved = std::move(b);  // moving does not release
    cr_expect(moved.held());
    cr_expect(lim.admit(0, v4(127, 0, 0, 1), l, clock.now(), c).verdict == Verdict::over_conn);
    cr_expect_eq(lim.rejected_conn.load(), 2u);
    a.release();
    moved.release();
    other.release();
    cr_expect_eq(lim.size(), 0u, "conn-only entries go when nothing is in progress");
}

Test(addr_limiter, token_bucket_with_burst) {
    AddrLimiter lim;
    ManualClock clock;
    const net::AddrLimits l{.rate = 2, .burst = 3};  // 4 at once, then one per 500 ms
    AddrLimiter::Lease none;
    const auto addr = v4(10, 0, 0, 1);
    for (int i = 0; i < 4; ++i)
        cr_expect(lim.admit(0, addr, l, clock.now(), none).verdict == Verdict::admitted, "%d", i);
    AddrLimiter::Result r = lim.admit(0, addr, l, clock.now(), none);
    cr_expect(r.verdict == Verdict::over_rate && r.retry_after == 1);
    cr_expect(!none.held(), "no conn limit: nothing leased");
    clock.advance(std::chrono::milliseconds(400));
    cr_expect(lim.admit(0, addr, l, clock.now(), none).verdict == Verdict::over_rate);
    clock.advance(std::chrono::milliseconds(100));
    cr_expect(lim.admit(0, addr, l, clock.now(), none).verdict == Verdict::admitted);
    cr_expect(lim.admit(0, addr, l, clock.now(), none).verdict == Verdict::over_rate);
    clock.advance(std::chrono::seconds(60));  // refills to the burst, not beyond
    for (int i = 0; i < 4; ++i)
        cr_expect(lim.admit(0, addr, l, clock.now(), none).verdict == Verdict::admitted, "%d", i);
    cr_expect(lim.admit(0, addr, l, clock.now(), none).verdict == Verdict::over_rate);
    cr_expect_eq(lim.rejected_rate.load(), 4u);
    // A slow rate: Retry-After is the time to the next token, rounded up.
    const net::AddrLimits slow{.rate = 1, .burst = 0};
    cr_expect(lim.admit(0, v4(10, 0, 0, 2), slow, clock.now(), none).verdict == Verdict::admitted);
    r = lim.admit(0, v4(10, 0, 0, 2), slow, clock.now(), none);
    cr_expect(r.verdict == Verdict::over_rate && r.retry_after == 1);
}

Test(addr_limiter, time_running_backwards_is_no_refill) {
    AddrLimiter lim;
    ManualClock clock;
    const net::AddrLimits l{.rate = 1, .burst = 0};
    AddrLimiter::Lease none;
    const auto later = clock.now() + std::chrono::seconds(5);
    cr_expect(lim.admit(0, v4(1, 1, 1, 1), l, later, none).verdict == Verdict::admitted);
    cr_expect(lim.admit(0, v4(1, 1, 1, 1), l, clock.now(), none).verdict == Verdict::over_rate);
}

Test(addr_limiter, table_is_bounded_idle_entries_expire) {
    AddrLimiter lim(3);
    ManualClock clock;
    const net::AddrLimits l{.conn = 5, .rate = 1, .burst = 1};
    std::vector<AddrLimiter::Lease> leases(4);
    for (std::uint8_t i = 0; i < 3; ++i)
        cr_expect(lim.admit(0, v4(10, 0, 0, i), l, clock.now(), leases[i]).verdict ==
                  Verdict::admitted);
    // Full of live entries: a new address is refused (fail closed), a known one is not.
    AddrLimiter::Result r = lim.admit(0, v4(10, 0, 0, 9), l, clock.now(), leases[3]);
    cr_expect(r.verdict == Verdict::table_full && r.retry_after == 1);
    cr_expect_eq(lim.rejected_full.load(), 1u);
    clock.advance(std::chrono::milliseconds(200));
    AddrLimiter::Lease again;
    cr_expect(lim.admit(0, v4(10, 0, 0, 1), l, clock.now(), again).verdict == Verdict::admitted);
    again.release();
    // Requests end, but the buckets are not full yet: still not idle.
    for (auto& x : leases) x.release();
    cr_expect(lim.admit(0, v4(10, 0, 0, 9), l, clock.now(), leases[3]).verdict ==
              Verdict::table_full);
    // Once the buckets (1/s) are full again the entries are idle and make room.
    clock.advance(std::chrono::milliseconds(1900));
    cr_expect(lim.admit(0, v4(10, 0, 0, 9), l, clock.now(), leases[3]).verdict ==
              Verdict::admitted);
    cr_expect_eq(lim.size(), 1u);
    leases[3].release();
    // The periodic sweep drops idle entries even below the bound.
    clock.advance(AddrLimiter::sweep_interval);
    AddrLimiter::Lease one;
    cr_expect(lim.admit(0, v4(10, 0, 0, 7), l, clock.now(), one).verdict == Verdict::admitted);
    cr_expect_eq(lim.size(), 1u);
}

// A full table is swept at most every full_sweep_gap: a flood of new addresses does not walk
// the whole table on every request; an entry idle by then makes room.
Test(addr_limiter, a_full_table_is_swept_at_most_every_full_sweep_gap) {
    AddrLimiter lim(1);
    ManualClock clock;
    const net::AddrLimits l{.rate = 100, .burst = 0};  // a bucket is full again after 10 ms
    AddrLimiter::Lease none;
    cr_expect(lim.admit(0, v4(10, 0, 0, 1), l, clock.now(), none).verdict == Verdict::admitted);
    clock.advance(AddrLimiter::full_sweep_gap);  // 10.0.0.1 is idle, the gap has passed
    cr_expect(lim.admit(0, v4(10, 0, 0, 2), l, clock.now(), none).verdict == Verdict::admitted);
    clock.advance(AddrLimiter::full_sweep_gap / 2);  // 10.0.0.2 is idle, but too soon to sweep
    cr_expect(lim.admit(0, v4(10, 0, 0, 3), l, clock.now(), none).verdict == Verdict::table_full);
    clock.advance(AddrLimiter::full_sweep_gap / 2);
    cr_expect(lim.admit(0, v4(10, 0, 0, 3), l, clock.now(), none).verdict == Verdict::admitted);
    cr_expect_eq(lim.size(), 1u);
}

Test(addr_limiter, threads_share_one_exact_count, .timeout = 10.0) {
    AddrLimiter lim;
    const net::AddrLimits l{.conn = 4};
    std::atomic<int> admitted{0}, peak{0}, now_in{0};
    std::vector<std::thread> threads;
    threads.reserve(4);
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 2000; ++i) {
                AddrLimiter::Lease lease;
                if (lim.admit(0, v4(1, 2, 3, 4), l, Clock::system().now(), lease).verdict !=
                    Verdict::admitted)
                    continue;
                int n = ++now_in;
                int p = peak.load();
                while (n > p && !peak.compare_exchange_weak(p, n)) {}
                ++admitted;
                --now_in;
            }
        });
    for (auto& t : threads) t.join();
    cr_expect(peak.load() <= 4);
    cr_expect(admitted.load() > 0);
    cr_expect_eq(lim.size(), 0u);
}

// A request carried over from the process before a binary upgrade counts as in progress,
// takes no token and is never refused; released with its lease as any other.
Test(addr_limiter, a_carried_request_counts_without_a_token) {
    herald::ManualClock clock;
    AddrLimiter lim;
    const net::AddrLimits l{1, 1, 0};  // one in progress, one new request a second
    AddrLimiter::Lease moved, a, b;
    lim.carry(0, v4(10, 0, 0, 1), l, clock.now(), moved);
    cr_assert(moved.held());
    cr_expect(lim.admit(0, v4(10, 0, 0, 1), l, clock.now(), a).verdict == Verdict::over_conn);
    moved.release();
    // The carried request took no token: the bucket still admits one new request.
    cr_expect(lim.admit(0, v4(10, 0, 0, 1), l, clock.now(), a).verdict == Verdict::admitted);
    lim.carry(0, v4(10, 0, 0, 1), l, clock.now(), b);  // over the limit: counted all the same
    a.release();
    cr_expect(lim.admit(0, v4(10, 0, 0, 1), l, clock.now(), a).verdict == Verdict::over_conn);
    // Without a conn limit nothing is held; a full table of others leaves it uncounted.
    AddrLimiter::Lease none;
    lim.carry(0, v4(10, 0, 0, 2), {0, 5, 0}, clock.now(), none);
    cr_expect(!none.held());
    AddrLimiter tiny(1);
    AddrLimiter::Lease first, second;
    tiny.carry(0, v4(10, 0, 0, 3), l, clock.now(), first);
    tiny.carry(0, v4(10, 0, 0, 4), l, clock.now(), second);
    cr_expect(first.held() && !second.held());
}
