// Unit tests for Histogram: bucket edges, known inputs against hand-computed counts, sums and
// quantiles, merging snapshots of several writers, and one writer racing a reader.
#include "core/histogram.hpp"

#include <chrono>
#include <cmath>
#include <thread>

#include <criterion/criterion.h>

using namespace herald;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

namespace {

struct EdgeCase {
    const char* name;
    std::uint64_t us;
    std::size_t want;
};

} // namespace

Test(histogram, bucket_edges_are_inclusive_upper_bounds) {
    static const EdgeCase cases[] = {
        {"zero", 0, 0},           {"first bound", 25, 0},   {"just past", 26, 1},
        {"1 ms", 1000, 5},        {"1 ms + 1", 1001, 6},    {"10 s", 10000000, 17},
        {"past 10 s", 10000001, 18}, {"huge", UINT64_MAX, 18},
    };
    for (const EdgeCase& c : cases)
        cr_expect_eq(Histogram::bucket_of(c.us), c.want, "%s: bucket %zu, want %zu", c.name,
                     Histogram::bucket_of(c.us), c.want);
}

Test(histogram, known_inputs_give_known_counts_and_sum) {
    Histogram h;
    h.record(nanoseconds(-5));         // clamped to 0: bucket 0
    h.record(microseconds(25));        // bucket 0 (inclusive)
    h.record(nanoseconds(25001));      // 25.001 µs rounds up to 26: bucket 1
    h.record(milliseconds(3));         // (2.5 ms, 5 ms]: bucket 7
    h.record(std::chrono::seconds(20)); // +Inf
    const Histogram::Snapshot s = h.snapshot();
    cr_assert_eq(s.count, 5u);
    cr_expect_eq(s.counts[0], 2u);
    cr_expect_eq(s.counts[1], 1u);
    cr_expect_eq(s.counts[7], 1u);
    cr_expect_eq(s.counts[Histogram::buckets - 1], 1u);
    cr_expect_eq(s.sum_ns, 25000u + 25001u + 3000000u + 20000000000u);
}

Test(histogram, quantiles_interpolate_inside_the_bucket) {
    Histogram h;
    // 100 values in (1 ms, 2.5 ms]: every quantile lies in that bucket, linearly spread.
    for (int i = 0; i < 100; ++i) h.record(microseconds(2000));
    const Histogram::Snapshot s = h.snapshot();
    cr_expect(std::fabs(s.quantile_us(0.5) - 1750.0) < 1e-6, "p50 %f", s.quantile_us(0.5));
    cr_expect(std::fabs(s.quantile_us(0.99) - 2485.0) < 1e-6, "p99 %f", s.quantile_us(0.99));
    cr_expect(std::fabs(s.quantile_us(1.0) - 2500.0) < 1e-6);
}

Test(histogram, quantiles_over_several_buckets) {
    Histogram h;
    for (int i = 0; i < 90; ++i) h.record(microseconds(40));   // (25, 50]
    for (int i = 0; i < 10; ++i) h.record(milliseconds(400));  // (250 ms, 500 ms]
    const Histogram::Snapshot s = h.snapshot();
    // rank 50 of 90 in (25, 50]: 25 + 25 * 50/90
    cr_expect(std::fabs(s.quantile_us(0.5) - (25.0 + 25.0 * 50.0 / 90.0)) < 1e-6);
    // rank 99: 9 of 10 into (250000, 500000]
    cr_expect(std::fabs(s.quantile_us(0.99) - (250000.0 + 250000.0 * 0.9)) < 1e-6, "p99 %f",
              s.quantile_us(0.99));
}

Test(histogram, empty_and_overflow_quantiles) {
    Histogram h;
    cr_expect_eq(h.snapshot().quantile_us(0.99), 0.0);
    h.record(std::chrono::seconds(60));
    cr_expect_eq(h.snapshot().quantile_us(0.5), 10000000.0);
}

Test(histogram, snapshots_of_several_writers_merge) {
    Histogram a, b;
    a.record(microseconds(10));
    b.record(microseconds(10));
    b.record(milliseconds(7));
    Histogram::Snapshot s = a.snapshot();
    s.merge(b.snapshot());
    cr_expect_eq(s.count, 3u);
    cr_expect_eq(s.counts[0], 2u);
    cr_expect_eq(s.counts[8], 1u);
    cr_expect_eq(s.sum_ns, 20000u + 7000000u);
}

Test(histogram, reader_never_sees_more_than_written, .timeout = 5.0) {
    Histogram h;
    constexpr std::uint64_t n = 200000;
    std::thread writer([&h] {
        for (std::uint64_t i = 0; i < n; ++i) h.record(microseconds(i % 3000));
    });
    std::uint64_t last = 0;
    for (int i = 0; i < 1000; ++i) {
        const std::uint64_t c = h.snapshot().count;
        cr_assert(c >= last && c <= n, "count went from %lu to %lu", last, c);
        last = c;
    }
    writer.join();
    cr_expect_eq(h.snapshot().count, n);
}
