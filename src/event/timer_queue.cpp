// TimerQueue: binary min-heap over (deadline, seq) with lazy cancellation.
// Model: libuv src/timer.c (ordering by start_id), nginx ngx_event_timer.h.
#include "event/timer_queue.hpp"

#include <algorithm>
#include <utility>

namespace herald {
namespace {

// Below this many heap entries compaction is not worth a pass.
constexpr std::size_t compact_min_entries = 64;

} // namespace

bool TimerQueue::later(const Entry& a, const Entry& b) noexcept {
    if (a.deadline != b.deadline) return a.deadline > b.deadline;
    return a.seq > b.seq;
}

// An entry is stale when its timer was cancelled, fired, or rescheduled (each reschedule
// pushes a new entry with a new seq and leaves the old one behind).
bool TimerQueue::is_stale(const Entry& e) const noexcept {
    auto it = live_.find(e.id);
    return it == live_.end() || it->second.seq != e.seq;
}

void TimerQueue::push(const Entry& e) {
    heap_.push_back(e);
    std::push_heap(heap_.begin(), heap_.end(), later);
}

TimerQueue::Id TimerQueue::add(Clock::time_point deadline, std::function<void()> fn) {
    const Id id = next_id_++;
    const std::uint64_t seq = next_seq_++;
    live_.emplace(id, Live{deadline, seq, std::move(fn)});
    push(Entry{deadline, seq, id});
    compact_if_sparse();
    return id;
}

void TimerQueue::cancel(Id id) noexcept {
    live_.erase(id);
}

bool TimerQueue::active(Id id) const noexcept {
    return live_.find(id) != live_.end();
}

std::optional<Clock::time_point> TimerQueue::deadline(Id id) const noexcept {
    auto it = live_.find(id);
    if (it == live_.end()) return std::nullopt;
    return it->second.deadline;
}

bool TimerQueue::reschedule(Id id, Clock::time_point deadline) {
    auto it = live_.find(id);
    if (it == live_.end()) return false;
    it->second.deadline = deadline;
    it->second.seq = next_seq_++;
    push(Entry{deadline, it->second.seq, id});
    compact_if_sparse();
    return true;
}

void TimerQueue::drop_stale_top() noexcept {
    while (!heap_.empty() && is_stale(heap_.front())) {
        std::pop_heap(heap_.begin(), heap_.end(), later);
        heap_.pop_back();
    }
}

// Every live timer has exactly one valid entry, so heap_.size() - live_.size() entries are
// garbage. Rebuilding when garbage exceeds the live count keeps the heap within 2x + slack.
void TimerQueue::compact_if_sparse() {
    if (heap_.size() < compact_min_entries || heap_.size() <= 2 * live_.size()) return;
    std::erase_if(heap_, [this](const Entry& e) { return is_stale(e); });
    std::make_heap(heap_.begin(), heap_.end(), later);
}

std::optional<Clock::time_point> TimerQueue::next_deadline() noexcept {
    drop_stale_top();
    if (heap_.empty()) return std::nullopt;
    return heap_.front().deadline;
}

// Timers set (or re-set) by a callback during this run carry a seq >= first_new; they are
// held back and re-pushed at the end so one call cannot loop forever on a timer that keeps
// re-arming itself for "now".
std::size_t TimerQueue::run_expired(Clock::time_point now) {
    const std::uint64_t first_new = next_seq_;
    std::vector<Entry> held_back;
    std::size_t ran = 0;
    while (!heap_.empty() && heap_.front().deadline <= now) {
        const Entry top = heap_.front();
        std::pop_heap(heap_.begin(), heap_.end(), later);
        heap_.pop_back();
        if (is_stale(top)) continue;
        if (top.seq >= first_new) {
            held_back.push_back(top);
            continue;
        }
        auto it = live_.find(top.id);
        // Erase before calling: the timer is inactive inside its own callback, and the
        // callback may add timers (rehashing live_) without invalidating anything we hold.
        std::function<void()> fn = std::move(it->second.fn);
        live_.erase(it);
        fn();
        ++ran;
    }
    for (const Entry& e : held_back) push(e);
    return ran;
}

} // namespace herald
