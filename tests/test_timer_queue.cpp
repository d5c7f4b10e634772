// Unit tests for TimerQueue (min-heap by (deadline, seq), lazy cancel) and for the Timer
// handle over an EventLoop driven by a ManualClock. No sleeping: time only moves when told.
#include "event/timer_queue.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include <criterion/criterion.h>

#include "core/clock.hpp"
#include "event/event_loop.hpp"

using namespace herald;
using std::chrono::milliseconds;

namespace {

const Clock::time_point t0{std::chrono::seconds(1000)};

Clock::time_point at(int ms) { return t0 + milliseconds(ms); }

// Adds one timer per deadline (ms after t0); each appends its index to `fired`.
std::vector<TimerQueue::Id> add_all(TimerQueue& q, const std::vector<int>& deadlines,
                                    std::vector<int>& fired) {
    std::vector<TimerQueue::Id> ids;
    for (std::size_t i = 0; i < deadlines.size(); ++i) {
        const int index = static_cast<int>(i);
        ids.push_back(q.add(at(deadlines[i]), [&fired, index] { fired.push_back(index); }));
    }
    return ids;
}

struct OrderCase {
    const char* name;
    std::vector<int> deadlines;  // ms after t0, in insertion order
    std::vector<int> want;       // insertion indexes in firing order
};

const OrderCase order_cases[] = {
    {"ascending", {1, 2, 3}, {0, 1, 2}},
    {"descending", {3, 2, 1}, {2, 1, 0}},
    {"all equal: insertion order", {5, 5, 5, 5}, {0, 1, 2, 3}},
    {"mixed with ties", {7, 3, 7, 3, 1, 7}, {4, 1, 3, 0, 2, 5}},
    {"zero delay", {0, 0}, {0, 1}},
};

} // namespace

Test(timer_queue, fires_by_deadline_then_insertion_order) {
    for (const OrderCase& c : order_cases) {
        TimerQueue q;
        std::vector<int> fired;
        add_all(q, c.deadlines, fired);
        const std::size_t ran = q.run_expired(at(100));
        cr_assert_eq(ran, c.want.size(), "%s: ran %zu", c.name, ran);
        cr_assert(fired == c.want, "%s: wrong order", c.name);
        cr_assert_eq(q.size(), 0u, "%s", c.name);
    }
}

Test(timer_queue, runs_only_due_timers) {
    TimerQueue q;
    std::vector<int> fired;
    add_all(q, {10, 20, 30}, fired);
    cr_assert_eq(q.run_expired(at(9)), 0u);
    cr_assert_eq(q.run_expired(at(20)), 2u);  // deadline == now is due
    cr_assert(fired == (std::vector<int>{0, 1}));
    cr_assert_eq(q.size(), 1u);
    cr_assert(q.next_deadline() == at(30));
}

Test(timer_queue, cancel_is_immediate_and_skipped_lazily) {
    TimerQueue q;
    std::vector<int> fired;
    auto ids = add_all(q, {10, 20, 30}, fired);
    q.cancel(ids[0]);
    q.cancel(ids[2]);
    cr_assert_eq(q.size(), 1u);
    cr_assert_not(q.active(ids[0]));
    cr_assert(q.active(ids[1]));
    cr_assert(q.next_deadline() == at(20), "cancelled top must be skipped");
    cr_assert_eq(q.run_expired(at(100)), 1u);
    cr_assert(fired == (std::vector<int>{1}));
    cr_assert(!q.next_deadline());
}

Test(timer_queue, cancel_of_unknown_or_fired_id_is_ignored) {
    TimerQueue q;
    std::vector<int> fired;
    auto ids = add_all(q, {1}, fired);
    q.run_expired(at(1));
    q.cancel(ids[0]);
    q.cancel(12345);
    cr_assert_eq(q.size(), 0u);
    cr_assert_not(q.reschedule(ids[0], at(5)), "a fired timer cannot be rescheduled");
}

Test(timer_queue, inactive_inside_its_own_callback) {
    TimerQueue q;
    TimerQueue::Id id = 0;
    bool was_active = true;
    id = q.add(at(1), [&] { was_active = q.active(id); });
    q.run_expired(at(1));
    cr_assert_not(was_active);
}

Test(timer_queue, reschedule_moves_deadline_and_goes_after_equal_ones) {
    TimerQueue q;
    std::vector<int> fired;
    auto ids = add_all(q, {10, 50, 50}, fired);
    cr_assert(q.reschedule(ids[0], at(50)));
    cr_assert(q.deadline(ids[0]) == at(50));
    cr_assert_eq(q.size(), 3u, "reschedule does not duplicate a timer");
    cr_assert_eq(q.run_expired(at(49)), 0u, "old deadline must not fire");
    cr_assert_eq(q.run_expired(at(50)), 3u);
    cr_assert(fired == (std::vector<int>{1, 2, 0}), "a rescheduled timer is newest");
}

Test(timer_queue, timer_added_for_now_by_a_callback_fires_in_next_call) {
    TimerQueue q;
    int inner = 0;
    q.add(at(5), [&] { q.add(at(5), [&] { ++inner; }); });
    cr_assert_eq(q.run_expired(at(5)), 1u);
    cr_assert_eq(inner, 0, "must not run in the same call");
    cr_assert_eq(q.size(), 1u);
    cr_assert_eq(q.run_expired(at(5)), 1u);
    cr_assert_eq(inner, 1);
}

Test(timer_queue, self_rearming_timer_does_not_loop_forever) {
    TimerQueue q;
    int runs = 0;
    std::function<void()> again = [&] {
        ++runs;
        q.add(at(0), again);
    };
    q.add(at(0), again);
    cr_assert_eq(q.run_expired(at(0)), 1u);
    cr_assert_eq(q.run_expired(at(0)), 1u);
    cr_assert_eq(runs, 2);
}

Test(timer_queue, callback_cancels_another_due_timer) {
    TimerQueue q;
    std::vector<int> fired;
    TimerQueue::Id second = 0;
    q.add(at(1), [&] {
        fired.push_back(0);
        q.cancel(second);
    });
    second = q.add(at(1), [&] { fired.push_back(1); });
    cr_assert_eq(q.run_expired(at(1)), 1u);
    cr_assert(fired == (std::vector<int>{0}));
}

Test(timer_queue, hundred_thousand_timers_fire_in_order) {
    constexpr int n = 100000;
    TimerQueue q;
    std::vector<std::pair<int, int>> fired;  // (deadline, insertion index)
    fired.reserve(n);
    std::uint32_t x = 12345;
    for (int i = 0; i < n; ++i) {
        x = x * 1664525u + 1013904223u;  // LCG: deterministic spread with many ties
        const int d = static_cast<int>(x >> 22);  // 0..1023 ms
        q.add(at(d), [&fired, d, i] { fired.emplace_back(d, i); });
    }
    cr_assert_eq(q.size(), static_cast<std::size_t>(n));
    cr_assert_eq(q.run_expired(at(2000)), static_cast<std::size_t>(n));
    cr_assert(std::is_sorted(fired.begin(), fired.end()), "(deadline, seq) order broken");
}

Test(timer_queue, churn_of_add_and_cancel_stays_correct) {
    TimerQueue q;
    int fired = 0;
    const TimerQueue::Id keep = q.add(at(500), [&] { ++fired; });
    for (int i = 0; i < 200000; ++i) {
        const TimerQueue::Id id = q.add(at(i % 1000), [&] { fired += 1000; });
        q.cancel(id);
    }
    for (int i = 0; i < 1000; ++i) q.reschedule(keep, at(500 + i % 2));
    cr_assert_eq(q.size(), 1u);
    cr_assert(q.next_deadline() == at(501));
    cr_assert_eq(q.run_expired(at(2000)), 1u);
    cr_assert_eq(fired, 1);
}

// ---- Timer handles over an EventLoop with a ManualClock ----

namespace {

void assert_no_leftovers(const EventLoop& loop) {
    cr_assert_eq(loop.watch_count(), 0u, "watches left: %zu", loop.watch_count());
    cr_assert_eq(loop.timer_count(), 0u, "timers left: %zu", loop.timer_count());
}

} // namespace

Test(timer, fires_when_due_and_handle_becomes_inactive, .timeout = 10.0) {
    ManualClock clock;
    EventLoop loop(clock);
    int calls = 0;
    {
        Timer t = loop.add_timer(milliseconds(100), [&] { ++calls; });
        cr_assert(t.active());
        clock.advance(milliseconds(99));
        loop.run_once(0);
        cr_assert_eq(calls, 0);
        clock.advance(milliseconds(1));
        loop.run_once(0);
        cr_assert_eq(calls, 1);
        cr_assert_not(t.active());
        t.restart(milliseconds(500));  // no effect on a fired timer
        clock.advance(milliseconds(1000));
        loop.run_once(0);
        cr_assert_eq(calls, 1);
    }
    assert_no_leftovers(loop);
}

Test(timer, cancel_and_destruction_prevent_firing, .timeout = 10.0) {
    ManualClock clock;
    EventLoop loop(clock);
    int calls = 0;
    {
        Timer a = loop.add_timer(milliseconds(10), [&] { ++calls; });
        { Timer b = loop.add_timer(milliseconds(10), [&] { ++calls; }); }
        cr_assert_eq(loop.timer_count(), 1u);
        a.cancel();
        cr_assert_not(a.active());
        cr_assert_eq(loop.timer_count(), 0u);
        clock.advance(milliseconds(50));
        loop.run_once(0);
    }
    cr_assert_eq(calls, 0);
    assert_no_leftovers(loop);
}

Test(timer, moved_handle_keeps_the_timer, .timeout = 10.0) {
    ManualClock clock;
    EventLoop loop(clock);
    int calls = 0;
    {
        Timer a = loop.add_timer(milliseconds(10), [&] { ++calls; });
        Timer b = std::move(a);
        cr_assert_not(a.active());
        cr_assert(b.active());
        a = loop.add_timer(milliseconds(10), [&] { calls += 10; });
        a = Timer{};  // move-assigning cancels the timer a held
        clock.advance(milliseconds(10));
        loop.run_once(0);
    }
    cr_assert_eq(calls, 1);
    assert_no_leftovers(loop);
}

Test(timer, equal_deadlines_fire_in_the_order_set, .timeout = 10.0) {
    ManualClock clock;
    EventLoop loop(clock);
    std::vector<int> order;
    {
        std::vector<Timer> timers;
        for (int i = 0; i < 5; ++i) {
            timers.push_back(loop.add_timer(milliseconds(20), [&order, i] { order.push_back(i); }));
        }
        timers.push_back(loop.add_timer(milliseconds(10), [&order] { order.push_back(99); }));
        clock.advance(milliseconds(20));
        loop.run_once(0);
    }
    cr_assert(order == (std::vector<int>{99, 0, 1, 2, 3, 4}));
    assert_no_leftovers(loop);
}

// Idle-timer rule: a restart that moves the deadline by less than 250 ms is skipped.
Test(timer, restart_within_250ms_keeps_the_old_deadline, .timeout = 10.0) {
    ManualClock clock;
    EventLoop loop(clock);
    int calls = 0;
    {
        Timer t = loop.add_timer(milliseconds(1000), [&] { ++calls; });
        clock.advance(milliseconds(249));
        loop.run_once(0);       // now() = t0 + 249
        t.restart(milliseconds(1000));  // wanted t0 + 1249: 249 ms later, skipped
        clock.advance(milliseconds(751));
        loop.run_once(0);       // t0 + 1000: the original deadline
        cr_assert_eq(calls, 1, "deadline must not have moved");
    }
    assert_no_leftovers(loop);
}

Test(timer, restart_by_250ms_or_more_moves_the_deadline, .timeout = 10.0) {
    ManualClock clock;
    EventLoop loop(clock);
    int calls = 0;
    {
        Timer t = loop.add_timer(milliseconds(1000), [&] { ++calls; });
        clock.advance(milliseconds(250));
        loop.run_once(0);
        t.restart(milliseconds(1000));  // wanted t0 + 1250: moved
        clock.advance(milliseconds(750));
        loop.run_once(0);       // t0 + 1000
        cr_assert_eq(calls, 0, "old deadline must not fire");
        cr_assert(t.active());
        clock.advance(milliseconds(250));
        loop.run_once(0);       // t0 + 1250
        cr_assert_eq(calls, 1);
        t.restart(milliseconds(0));  // inactive: nothing to move
        cr_assert_eq(loop.timer_count(), 0u);
    }
    assert_no_leftovers(loop);
}

Test(timer, restart_earlier_also_obeys_the_rule, .timeout = 10.0) {
    ManualClock clock;
    EventLoop loop(clock);
    int calls = 0;
    {
        Timer t = loop.add_timer(milliseconds(1000), [&] { ++calls; });
        t.restart(milliseconds(800));  // 200 ms earlier: skipped
        clock.advance(milliseconds(800));
        loop.run_once(0);
        cr_assert_eq(calls, 0);
        t.restart(milliseconds(0));  // 200 ms earlier than t0 + 1000 again: skipped
        loop.run_once(0);
        cr_assert_eq(calls, 0);
        t.restart(milliseconds(-100));  // 300 ms earlier: moved, due now
        loop.run_once(0);
        cr_assert_eq(calls, 1);
    }
    assert_no_leftovers(loop);
}

Test(timer, timer_added_in_a_timer_callback_fires_in_a_later_iteration, .timeout = 10.0) {
    ManualClock clock;
    EventLoop loop(clock);
    int inner = 0;
    {
        Timer second;
        Timer first = loop.add_timer(milliseconds(10), [&] {
            second = loop.add_timer(milliseconds(0), [&] { ++inner; });
        });
        clock.advance(milliseconds(10));
        loop.run_once(0);
        cr_assert_eq(inner, 0);
        cr_assert(second.active());
        loop.run_once(-1);  // due now: must not block
        cr_assert_eq(inner, 1);
    }
    assert_no_leftovers(loop);
}

Test(timer, delay_counts_from_the_iteration_time, .timeout = 10.0) {
    ManualClock clock;
    EventLoop loop(clock);
    int calls = 0;
    {
        clock.advance(milliseconds(500));  // not yet seen by the loop
        Timer t = loop.add_timer(milliseconds(100), [&] { ++calls; });
        loop.run_once(0);  // now() catches up: 500 ms later than the timer's base
        cr_assert_eq(calls, 1, "deadline is now()+delay, now() read once per iteration");
    }
    assert_no_leftovers(loop);
}

Test(timer, hundred_thousand_timers_through_the_loop) {
    constexpr int n = 100000;
    ManualClock clock;
    EventLoop loop(clock);
    std::vector<std::pair<int, int>> fired;
    fired.reserve(n);
    {
        std::vector<Timer> timers;
        timers.reserve(n);
        for (int i = 0; i < n; ++i) {
            const int d = (i * 7919) % 1000;
            timers.push_back(
                loop.add_timer(milliseconds(d), [&fired, d, i] { fired.emplace_back(d, i); }));
        }
        for (int i = 0; i < n; i += 2) timers[static_cast<std::size_t>(i)].cancel();
        cr_assert_eq(loop.timer_count(), static_cast<std::size_t>(n / 2));
        clock.advance(milliseconds(1000));
        loop.run_once(0);
    }
    cr_assert_eq(fired.size(), static_cast<std::size_t>(n / 2));
    cr_assert(std::is_sorted(fired.begin(), fired.end()));
    for (const auto& f : fired) cr_assert(f.second % 2 == 1, "a cancelled timer fired");
    assert_no_leftovers(loop);
}
