// wsload: latency histogram with HDR-style log buckets (64 linear sub-buckets per power of two,
// so any recorded value is reported within 1.6 %). Part of the single-TU wsload build.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace wsload {

// Counts nanosecond values. Not thread-safe: one per worker thread, merged at the end.
class Histogram {
public:
    Histogram() : counts_(bucket_count, 0) {}

    void record(std::uint64_t v) noexcept {
        ++counts_[index(v)];
        ++total_;
        max_ = std::max(max_, v);
        sum_ += v;
    }

    void merge(const Histogram& o) {
        for (std::size_t i = 0; i < bucket_count; ++i) counts_[i] += o.counts_[i];
        total_ += o.total_;
        max_ = std::max(max_, o.max_);
        sum_ += o.sum_;
    }

    void reset() {
        std::fill(counts_.begin(), counts_.end(), 0);
        total_ = max_ = sum_ = 0;
    }

    std::uint64_t count() const noexcept { return total_; }
    std::uint64_t max() const noexcept { return max_; }
    std::uint64_t mean() const noexcept { return total_ ? sum_ / total_ : 0; }

    // The smallest bucket's upper bound under which p percent of the samples lie (capped at the
    // maximum seen); 0 when empty.
    std::uint64_t percentile(double p) const noexcept {
        if (total_ == 0) return 0;
        auto want = static_cast<std::uint64_t>(p / 100.0 * static_cast<double>(total_) + 0.999999);
        want = std::clamp<std::uint64_t>(want, 1, total_);
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < bucket_count; ++i) {
            seen += counts_[i];
            if (seen >= want) return std::min(upper(i), max_);
        }
        return max_;
    }

private:
    static constexpr unsigned sub_bits = 6;
    static constexpr std::uint64_t sub_count = 1u << sub_bits;    // 64
    static constexpr std::size_t bucket_count = sub_count * 59;   // shifts 0..57 plus linear 0..63

    static std::size_t index(std::uint64_t v) noexcept {
        if (v < sub_count) return static_cast<std::size_t>(v);
        const unsigned msb = 63u - static_cast<unsigned>(__builtin_clzll(v));
        const unsigned shift = msb - sub_bits;
        const std::uint64_t top = v >> shift;                    // in [64, 128)
        return static_cast<std::size_t>(sub_count + shift * sub_count + (top - sub_count));
    }

    static std::uint64_t upper(std::size_t i) noexcept {
        if (i < sub_count) return i;
        const std::uint64_t shift = (i - sub_count) / sub_count;
        const std::uint64_t top = (i - sub_count) % sub_count + sub_count;
        return ((top + 1) << shift) - 1;
    }

    std::vector<std::uint64_t> counts_;
    std::uint64_t total_ = 0;
    std::uint64_t max_ = 0;
    std::uint64_t sum_ = 0;
};

} // namespace wsload
