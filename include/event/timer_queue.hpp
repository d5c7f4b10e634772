// TimerQueue: a min-heap of deadlines keyed by (deadline, sequence), so equal deadlines
// fire in the order they were set. Cancelling is lazy (O(1); the entry is skipped when it
// reaches the top). add/reschedule are O(log n). Stale heap entries are compacted away
// (O(n), amortised) once they outnumber the live timers, so churn cannot grow the heap
// without bound. Owns the callbacks. Not thread-safe: owned and used by one EventLoop.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>
#include <vector>

#include "core/clock.hpp"

namespace herald {

class TimerQueue {
public:
    using Id = std::uint64_t;  // never 0

    Id add(Clock::time_point deadline, std::function<void()> fn);
    void cancel(Id id) noexcept;                       // unknown or fired ids are ignored
    bool active(Id id) const noexcept;
    std::optional<Clock::time_point> deadline(Id id) const noexcept;
    // Moves a live timer to a new deadline (keeps its callback); returns false if not live.
    bool reschedule(Id id, Clock::time_point deadline);
    // Earliest live deadline, if any.
    std::optional<Clock::time_point> next_deadline() noexcept;
    // Runs every timer whose deadline <= now; returns how many ran. Callbacks may add or
    // cancel timers (a timer added for <= now during the run fires in the next call).
    std::size_t run_expired(Clock::time_point now);
    std::size_t size() const noexcept { return live_.size(); }

private:
    struct Entry {
        Clock::time_point deadline;
        std::uint64_t seq;
        Id id;
    };
    struct Live {
        Clock::time_point deadline;
        std::uint64_t seq;
        std::function<void()> fn;
    };
    static bool later(const Entry& a, const Entry& b) noexcept;
    bool is_stale(const Entry& e) const noexcept;
    void push(const Entry& e);
    void drop_stale_top() noexcept;
    void compact_if_sparse();

    std::vector<Entry> heap_;
    std::unordered_map<Id, Live> live_;
    Id next_id_ = 1;
    std::uint64_t next_seq_ = 1;
};

} // namespace herald
