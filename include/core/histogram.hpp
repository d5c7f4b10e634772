// Histogram: a latency distribution in fixed log-scale buckets (1-2.5-5 per decade, 25 µs to
// 10 s, then +Inf), written by one thread and read by any, with no lock. Each worker owns its
// own; readers take snapshots and merge them (Prometheus _bucket/_sum/_count, p50/p99).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace herald {

class Histogram {
public:
    // Upper bounds (inclusive) of the finite buckets, in microseconds. Fixed, so snapshots of
    // different workers merge by adding counts, and the exported series never change shape.
    static constexpr std::array<std::uint64_t, 18> bounds_us = {
        25,     50,     100,     250,     500,     1000,    2500,    5000,    10000,
        25000,  50000,  100000,  250000,  500000,  1000000, 2500000, 5000000, 10000000};
    static constexpr std::size_t buckets = bounds_us.size() + 1;  // the last one is +Inf

    struct Snapshot {
        std::array<std::uint64_t, buckets> counts{};  // per bucket, not cumulative
        std::uint64_t count = 0;                      // sum of counts
        std::uint64_t sum_ns = 0;

        void merge(const Snapshot& o) noexcept;
        // The q-quantile (0 <= q <= 1) in microseconds, interpolated linearly inside the bucket
        // that holds rank q * count (as Prometheus' histogram_quantile does). 0 when empty; a
        // rank in the +Inf bucket gives the largest finite bound.
        double quantile_us(double q) const noexcept;
    };

    Histogram() = default;
    Histogram(const Histogram&) = delete;
    Histogram& operator=(const Histogram&) = delete;

    // Owner thread only (one writer: plain load + store, no read-modify-write). Negative
    // durations count as 0.
    void record(std::chrono::nanoseconds d) noexcept;
    // Any thread. Each counter is read once; a record() racing with it may be half-seen (its
    // bucket without its sum), never torn.
    Snapshot snapshot() const noexcept;

    // Index of the bucket a value falls in: the first bound >= us, else the +Inf bucket.
    static std::size_t bucket_of(std::uint64_t us) noexcept;

private:
    std::array<std::atomic<std::uint64_t>, buckets> counts_{};
    std::atomic<std::uint64_t> sum_ns_{0};
};

} // namespace herald
