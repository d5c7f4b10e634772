// Monotonic time, injectable so timer logic is testable without sleeping.
#pragma once

#include <chrono>

namespace herald {

// Durations in configuration and timers: milliseconds.
using Duration = std::chrono::milliseconds;

class Clock {
public:
    using duration = std::chrono::steady_clock::duration;
    using time_point = std::chrono::steady_clock::time_point;

    virtual ~Clock() = default;
    virtual time_point now() const noexcept { return std::chrono::steady_clock::now(); }

    // The process-wide steady clock. Thread-safe.
    static Clock& system() noexcept;
};

// A clock that only moves when told to. For tests; not thread-safe.
class ManualClock final : public Clock {
public:
    time_point now() const noexcept override { return now_; }
    void advance(duration d) noexcept { now_ += d; }

private:
    time_point now_{std::chrono::seconds(1000)};
};

} // namespace herald
