// Histogram: single-writer log-scale buckets, merged snapshots, interpolated quantiles.
#include "core/histogram.hpp"

#include <algorithm>

namespace herald {

std::size_t Histogram::bucket_of(std::uint64_t us) noexcept {
    return static_cast<std::size_t>(
        std::lower_bound(bounds_us.begin(), bounds_us.end(), us) - bounds_us.begin());
}

void Histogram::record(std::chrono::nanoseconds d) noexcept {
    const std::uint64_t ns = d.count() < 0 ? 0 : static_cast<std::uint64_t>(d.count());
    // Round up to whole microseconds: a bound is inclusive, so 25.3 µs is not "<= 25 µs".
    std::atomic<std::uint64_t>& c = counts_[bucket_of((ns + 999) / 1000)];
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    sum_ns_.store(sum_ns_.load(std::memory_order_relaxed) + ns, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const noexcept {
    Snapshot s;
    for (std::size_t i = 0; i < buckets; ++i) {
        s.counts[i] = counts_[i].load(std::memory_order_relaxed);
        s.count += s.counts[i];
    }
    s.sum_ns = sum_ns_.load(std::memory_order_relaxed);
    return s;
}

void Histogram::Snapshot::merge(const Snapshot& o) noexcept {
    for (std::size_t i = 0; i < buckets; ++i) counts[i] += o.counts[i];
    count += o.count;
    sum_ns += o.sum_ns;
}

double Histogram::Snapshot::quantile_us(double q) const noexcept {
    if (count == 0) return 0;
    const double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(count);
    double below = 0;
    for (std::size_t i = 0; i < buckets; ++i) {
        const auto n = static_cast<double>(counts[i]);
        if (n > 0 && below + n >= rank) {
            if (i == buckets - 1) return static_cast<double>(bounds_us.back());
            const double lo = i == 0 ? 0.0 : static_cast<double>(bounds_us[i - 1]);
            const auto hi = static_cast<double>(bounds_us[i]);
            return lo + (hi - lo) * (rank - below) / n;
        }
        below += n;
    }
    return static_cast<double>(bounds_us.back());
}

} // namespace herald
