// Unit tests for EventLoop over real socketpairs: readiness, interest changes, stale-event
// dropping, defer, post/stop across threads, signals, and timers against real waits.
// Built twice: over epoll (build/asan) and over the kqueue emulation (build/kq).
#include "event/event_loop.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include <criterion/criterion.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.hpp"
#include "core/unique_fd.hpp"

using namespace herald;
using std::chrono::milliseconds;

namespace {

struct SocketPair {
    UniqueFd a, b;
};

SocketPair make_pair() {
    int fds[2];
    cr_assert_eq(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    return SocketPair{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void send_byte(int fd) { cr_assert_eq(::write(fd, "x", 1), 1); }

void drain(int fd) {
    char buf[256];
    while (::read(fd, buf, sizeof buf) > 0) {
    }
}

// Counts calls and remembers the last event; `action` runs inside on_ready.
struct Recorder final : IoHandler {
    int calls = 0;
    ReadyEvent last{};
    std::function<void(const ReadyEvent&)> action;
    void on_ready(const ReadyEvent& ev) noexcept override {
        ++calls;
        last = ev;
        if (action) action(ev);
    }
};

Watch must_watch(EventLoop& loop, int fd, Interest in, IoHandler& h) {
    std::error_code ec;
    Watch w = loop.watch(fd, in, h, ec);
    cr_assert(!ec, "watch(fd=%d): %s", fd, ec.message().c_str());
    cr_assert(static_cast<bool>(w));
    return w;
}

void assert_no_leftovers(const EventLoop& loop) {
    cr_assert_eq(loop.watch_count(), 0u, "watches left: %zu", loop.watch_count());
    cr_assert_eq(loop.timer_count(), 0u, "timers left: %zu", loop.timer_count());
}

} // namespace

Test(event_loop, reports_readable_once_per_iteration, .timeout = 10.0) {
    EventLoop loop;
    SocketPair p = make_pair();
    Recorder r;
    {
        Watch w = must_watch(loop, p.a.get(), Interest::read, r);
        loop.run_once(0);
        cr_assert_eq(r.calls, 0, "nothing to read yet");
        send_byte(p.b.get());
        loop.run_once(1000);
        cr_assert_eq(r.calls, 1);
        cr_assert(r.last.readable && !r.last.writable && !r.last.hangup);
        drain(p.a.get());
        loop.run_once(0);
        cr_assert_eq(r.calls, 1, "drained: no more events");
    }
    assert_no_leftovers(loop);
}

Test(event_loop, level_triggered_until_drained, .timeout = 10.0) {
    EventLoop loop;
    SocketPair p = make_pair();
    Recorder r;
    {
        Watch w = must_watch(loop, p.a.get(), Interest::read, r);
        send_byte(p.b.get());
        for (int i = 0; i < 3; ++i) loop.run_once(1000);
        cr_assert_eq(r.calls, 3);
    }
    assert_no_leftovers(loop);
}

Test(event_loop, write_interest_reports_writable, .timeout = 10.0) {
    EventLoop loop;
    SocketPair p = make_pair();
    Recorder r;
    {
        Watch w = must_watch(loop, p.a.get(), Interest::read, r);
        loop.run_once(0);
        cr_assert_eq(r.calls, 0);
        cr_assert(!w.set(Interest::write));
        cr_assert(w.interest() == Interest::write);
        loop.run_once(1000);
        cr_assert_eq(r.calls, 1);
        cr_assert(r.last.writable && !r.last.readable && !r.last.hangup);
        cr_assert(!w.set(Interest::read));
        loop.run_once(0);
        cr_assert_eq(r.calls, 1, "write interest dropped");
    }
    assert_no_leftovers(loop);
}

Test(event_loop, read_and_write_ready_give_one_event, .timeout = 10.0) {
    EventLoop loop;
    SocketPair p = make_pair();
    Recorder r;
    {
        Watch w = must_watch(loop, p.a.get(), Interest::read_write, r);
        send_byte(p.b.get());
        loop.run_once(1000);
        cr_assert_eq(r.calls, 1, "one ReadyEvent per fd per wait");
        cr_assert(r.last.readable && r.last.writable && !r.last.hangup);
    }
    assert_no_leftovers(loop);
}

Test(event_loop, peer_close_is_hangup_and_readable, .timeout = 10.0) {
    EventLoop loop;
    SocketPair p = make_pair();
    Recorder r;
    {
        Watch w = must_watch(loop, p.a.get(), Interest::read, r);
        send_byte(p.b.get());
        p.b.reset();
        loop.run_once(1000);
        cr_assert_eq(r.calls, 1);
        cr_assert(r.last.readable && r.last.hangup && !r.last.writable);
    }
    assert_no_leftovers(loop);
}

Test(event_loop, peer_shutdown_write_is_hangup_for_a_reader, .timeout = 10.0) {
    EventLoop loop;
    SocketPair p = make_pair();
    Recorder r;
    {
        Watch w = must_watch(loop, p.a.get(), Interest::read, r);
        cr_assert_eq(::shutdown(p.b.get(), SHUT_WR), 0);
        loop.run_once(1000);
        cr_assert_eq(r.calls, 1);
        cr_assert(r.last.readable && r.last.hangup);
    }
    assert_no_leftovers(loop);
}

Test(event_loop, peer_shutdown_write_is_not_news_to_a_writer, .timeout = 10.0) {
    EventLoop loop;
    SocketPair p = make_pair();
    Recorder r;
    {
        Watch w = must_watch(loop, p.a.get(), Interest::write, r);
        cr_assert_eq(::shutdown(p.b.get(), SHUT_WR), 0);
        loop.run_once(1000);
        cr_assert_eq(r.calls, 1);
        cr_assert(r.last.writable && !r.last.readable && !r.last.hangup);
    }
    assert_no_leftovers(loop);
}

Test(event_loop, peer_close_is_hangup_for_a_writer, .timeout = 10.0) {
    EventLoop loop;
    SocketPair p = make_pair();
    Recorder r;
    {
        Watch w = must_watch(loop, p.a.get(), Interest::write, r);
        p.b.reset();
        loop.run_once(1000);
        cr_assert_eq(r.calls, 1);
        cr_assert(r.last.writable && r.last.hangup && !r.last.readable);
    }
    assert_no_leftovers(loop);
}

Test(event_loop, interest_none_reports_nothing_not_even_hangup, .timeout = 10.0) {
    EventLoop loop;
    SocketPair p = make_pair();
    Recorder r;
    {
        Watch w = must_watch(loop, p.a.get(), Interest::read_write, r);
        cr_assert(!w.set(Interest::none));
        send_byte(p.b.get());
        p.b.reset();
        loop.run_once(0);
        loop.run_once(0);
        cr_assert_eq(r.calls, 0);
        cr_assert(!w.set(Interest::read));
        loop.run_once(1000);
        cr_assert_eq(r.calls, 1);
        cr_assert(r.last.readable && r.last.hangup);
    }
    assert_no_leftovers(loop);
}

Test(event_loop, watch_errors, .timeout = 10.0) {
    EventLoop loop;
    SocketPair p = make_pair();
    Recorder r;
    {
        Watch w = must_watch(loop, p.a.get(), Interest::read, r);
        std::error_code ec;
        Watch dup = loop.watch(p.a.get(), Interest::read, r, ec);
        cr_assert_eq(ec.value(), EEXIST);
        cr_assert(!dup);
        Watch bad = loop.watch(-1, Interest::read, r, ec);
        cr_assert_eq(ec.value(), EBADF);
        cr_assert(!bad);
        cr_assert_eq(bad.set(Interest::write).value(), EBADF);
        cr_assert_eq(loop.watch_count(), 1u);
    }
    assert_no_leftovers(loop);
}

// Both pairs are readable in the same wait(); whichever handler runs first ends the other's
// watch, so the other's already-collected event must be dropped.
Test(event_loop, event_for_a_watch_ended_in_the_same_batch_is_dropped, .timeout = 10.0) {
    EventLoop loop;
    SocketPair p[2] = {make_pair(), make_pair()};
    Recorder r[2];
    {
        Watch w[2];
        for (int i = 0; i < 2; ++i) {
            w[i] = must_watch(loop, p[i].a.get(), Interest::read, r[i]);
            r[i].action = [&w, i](const ReadyEvent&) { w[1 - i].reset(); };
            send_byte(p[i].b.get());
        }
        loop.run_once(1000);
        cr_assert_eq(r[0].calls + r[1].calls, 1, "stale event delivered");
    }
    assert_no_leftovers(loop);
}

// Same, but the fd number is immediately reused by a new, readable watch: the old event
// carries the old generation and must not reach the new handler.
Test(event_loop, stale_event_does_not_reach_a_new_watch_on_a_reused_fd, .timeout = 10.0) {
    EventLoop loop;
    SocketPair p[2] = {make_pair(), make_pair()};
    SocketPair fresh = make_pair();
    Recorder r[2];
    Recorder newcomer;
    int newcomer_calls_after_dispatch = -1;
    bool done = false;
    {
        Watch w[2];
        Watch reused;
        for (int i = 0; i < 2; ++i) {
            w[i] = must_watch(loop, p[i].a.get(), Interest::read, r[i]);
            r[i].action = [&, i](const ReadyEvent&) {
                if (std::exchange(done, true)) return;
                const int victim = 1 - i;
                const int fd = p[victim].a.get();
                w[victim].reset();
                cr_assert_eq(::dup2(fresh.a.get(), fd), fd);  // same number, new socket
                reused = must_watch(loop, fd, Interest::read, newcomer);
                loop.defer([&] { newcomer_calls_after_dispatch = newcomer.calls; });
            };
            send_byte(p[i].b.get());
        }
        send_byte(fresh.b.get());
        loop.run_once(1000);
        cr_assert_eq(r[0].calls + r[1].calls, 1, "stale event delivered");
        cr_assert_eq(newcomer_calls_after_dispatch, 0, "old event reached the new watch");
        loop.run_once(1000);
        cr_assert_eq(newcomer.calls, 1, "the new watch still gets its own events");
    }
    assert_no_leftovers(loop);
}

Test(event_loop, handler_may_end_its_own_watch, .timeout = 10.0) {
    EventLoop loop;
    SocketPair p = make_pair();
    Recorder r;
    {
        Watch w = must_watch(loop, p.a.get(), Interest::read, r);
        r.action = [&w](const ReadyEvent&) { w.reset(); };
        send_byte(p.b.get());
        loop.run_once(1000);
        loop.run_once(0);
        cr_assert_eq(r.calls, 1);
        cr_assert_not(static_cast<bool>(w));
    }
    assert_no_leftovers(loop);
}

namespace {

// Like a Connection: owns its fd and watch, and reaps itself through defer().
struct SelfReaping final : IoHandler {
    static inline bool reaped_inside_callback = true;
    EventLoop& loop;
    std::unique_ptr<SelfReaping>& owner;
    UniqueFd fd;
    Watch watch;  // after fd: unwatched before the fd closes
    bool in_callback = false;

    SelfReaping(EventLoop& l, std::unique_ptr<SelfReaping>& o, UniqueFd f)
        : loop(l), owner(o), fd(std::move(f)) {}
    void on_ready(const ReadyEvent&) noexcept override {
        in_callback = true;
        loop.defer([this] {
            reaped_inside_callback = in_callback;
            owner.reset();  // destroys *this, its Watch and its fd
        });
        in_callback = false;
    }
};

} // namespace

Test(event_loop, object_reaps_itself_after_dispatch_with_defer, .timeout = 10.0) {
    EventLoop loop;
    SocketPair p = make_pair();
    std::unique_ptr<SelfReaping> conn;
    conn = std::make_unique<SelfReaping>(loop, conn, std::move(p.a));
    std::error_code ec;
    conn->watch = loop.watch(conn->fd.get(), Interest::read, *conn, ec);
    cr_assert(!ec);
    send_byte(p.b.get());
    loop.run_once(1000);
    cr_assert(conn == nullptr, "deferred reap did not run in the same iteration");
    cr_assert_not(SelfReaping::reaped_inside_callback);
    loop.run_once(0);  // nothing may still point at the reaped object
    assert_no_leftovers(loop);
}

Test(event_loop, defer_runs_after_the_whole_batch, .timeout = 10.0) {
    EventLoop loop;
    SocketPair p[2] = {make_pair(), make_pair()};
    Recorder r[2];
    std::vector<int> seen_by_deferred;
    {
        Watch w[2];
        for (int i = 0; i < 2; ++i) {
            w[i] = must_watch(loop, p[i].a.get(), Interest::read, r[i]);
            r[i].action = [&](const ReadyEvent&) {
                loop.defer([&] { seen_by_deferred.push_back(r[0].calls + r[1].calls); });
            };
            send_byte(p[i].b.get());
        }
        loop.run_once(1000);
    }
    cr_assert(seen_by_deferred == (std::vector<int>{2, 2}), "deferred ran mid-dispatch");
    assert_no_leftovers(loop);
}

Test(event_loop, defer_is_fifo_and_nested_defers_run_in_the_same_iteration, .timeout = 10.0) {
    EventLoop loop;
    std::vector<int> order;
    loop.defer([&] {
        order.push_back(1);
        loop.defer([&] { order.push_back(3); });
    });
    loop.defer([&] { order.push_back(2); });
    loop.run_once(-1);  // deferred work pending: must not block
    cr_assert(order == (std::vector<int>{1, 2, 3}));
    assert_no_leftovers(loop);
}

Test(event_loop, post_from_another_thread_wakes_a_blocked_loop, .timeout = 10.0) {
    EventLoop loop;
    std::atomic<int> ran{0};
    std::thread poster([&] { loop.post([&] { ran.fetch_add(1); }); });
    loop.run_once(-1);  // nothing watched, no timers: only the wake-up can end this wait
    poster.join();
    cr_assert_eq(ran.load(), 1);
    assert_no_leftovers(loop);
}

Test(event_loop, posts_run_in_order_on_the_loop_thread, .timeout = 10.0) {
    EventLoop loop;
    std::vector<int> order;
    std::thread::id ran_on;
    std::thread poster([&] {
        for (int i = 0; i < 1000; ++i) loop.post([&order, i] { order.push_back(i); });
        loop.post([&] {
            ran_on = std::this_thread::get_id();
            loop.stop();
        });
    });
    loop.run();
    poster.join();
    cr_assert_eq(order.size(), 1000u);
    for (int i = 0; i < 1000; ++i) cr_assert_eq(order[static_cast<std::size_t>(i)], i);
    cr_assert(ran_on == std::this_thread::get_id());
    assert_no_leftovers(loop);
}

Test(event_loop, stop_from_another_thread_ends_run, .timeout = 10.0) {
    EventLoop loop;
    SocketPair p = make_pair();
    Recorder r;
    {
        Watch w = must_watch(loop, p.a.get(), Interest::read, r);  // idle: never ready
        std::thread stopper([&] { loop.stop(); });
        loop.run();
        stopper.join();
        cr_assert_eq(r.calls, 0);
    }
    assert_no_leftovers(loop);
}

Test(event_loop, stop_inside_a_callback_ends_run_after_the_iteration, .timeout = 10.0) {
    EventLoop loop;
    SocketPair p = make_pair();
    Recorder r;
    bool deferred_ran = false;
    {
        Watch w = must_watch(loop, p.a.get(), Interest::read, r);
        r.action = [&](const ReadyEvent&) {
            loop.stop();
            loop.defer([&] { deferred_ran = true; });
        };
        send_byte(p.b.get());
        loop.run();
        cr_assert_eq(r.calls, 1);
        cr_assert(deferred_ran, "the iteration finishes before run() returns");
    }
    assert_no_leftovers(loop);
}

Test(event_loop, timer_wakes_a_blocked_wait_on_the_system_clock, .timeout = 10.0) {
    EventLoop loop;
    const auto start = std::chrono::steady_clock::now();
    int calls = 0;
    {
        Timer t = loop.add_timer(milliseconds(20), [&] {
            ++calls;
            loop.stop();
        });
        loop.run();
    }
    const auto waited = std::chrono::steady_clock::now() - start;
    cr_assert_eq(calls, 1);
    cr_assert(waited >= milliseconds(20), "fired early");
    assert_no_leftovers(loop);
}

Test(event_loop, now_is_read_once_per_iteration, .timeout = 10.0) {
    ManualClock clock;
    EventLoop loop(clock);
    const Clock::time_point start = loop.now();
    clock.advance(milliseconds(5));
    cr_assert(loop.now() == start, "now() must not follow the clock between iterations");
    Clock::time_point seen{};
    loop.defer([&] {
        clock.advance(milliseconds(7));
        seen = loop.now();
    });
    loop.run_once(0);
    cr_assert(seen == start + milliseconds(5));
    cr_assert(loop.now() == start + milliseconds(5));
    assert_no_leftovers(loop);
}

Test(event_loop, timer_set_in_an_io_callback_counts_from_now, .timeout = 10.0) {
    ManualClock clock;
    EventLoop loop(clock);
    SocketPair p = make_pair();
    Recorder r;
    int fired = 0;
    {
        Timer t;
        Watch w = must_watch(loop, p.a.get(), Interest::read, r);
        r.action = [&](const ReadyEvent&) {
            drain(p.a.get());
            t = loop.add_timer(milliseconds(30), [&] { ++fired; });
        };
        clock.advance(milliseconds(100));
        send_byte(p.b.get());
        loop.run_once(1000);
        cr_assert_eq(r.calls, 1);
        clock.advance(milliseconds(29));
        loop.run_once(0);
        cr_assert_eq(fired, 0);
        clock.advance(milliseconds(1));
        loop.run_once(0);
        cr_assert_eq(fired, 1);
    }
    assert_no_leftovers(loop);
}

Test(event_loop, signal_is_delivered_through_the_loop, .timeout = 10.0) {
    int usr1 = 0, usr2 = 0, last = 0;
    struct sigaction before {};
    cr_assert_eq(::sigaction(SIGUSR1, nullptr, &before), 0);
    sigset_t mask_before;
    cr_assert_eq(::pthread_sigmask(SIG_BLOCK, nullptr, &mask_before), 0);
    {
        EventLoop loop;
        cr_assert(!loop.on_signal(SIGUSR1, [&](int s) {
            ++usr1;
            last = s;
        }));
        cr_assert(!loop.on_signal(SIGUSR2, [&](int) { ++usr2; }));
        cr_assert_eq(loop.watch_count(), 0u, "the signal source is not a user watch");
        cr_assert_eq(::raise(SIGUSR1), 0);
        cr_assert_eq(usr1, 0, "nothing runs before the loop reads the signal");
        cr_assert_eq(::raise(SIGUSR2), 0);
        loop.run_once(1000);
        cr_assert_eq(usr1, 1);
        cr_assert_eq(usr2, 1);
        cr_assert_eq(last, SIGUSR1);
        // Two of one number sent before the loop reads them may arrive as one (signalfd: the
        // kernel keeps one pending standard signal per number); each read is delivered.
        cr_assert_eq(::raise(SIGUSR1), 0);
        loop.run_once(1000);
        cr_assert_eq(usr1, 2);
        assert_no_leftovers(loop);
    }
    struct sigaction now {};
    cr_assert_eq(::sigaction(SIGUSR1, nullptr, &now), 0);
    cr_assert(now.sa_handler == before.sa_handler, "disposition restored when the loop ends");
    sigset_t mask_now;
    cr_assert_eq(::pthread_sigmask(SIG_BLOCK, nullptr, &mask_now), 0);
    cr_assert_eq(::sigismember(&mask_now, SIGUSR1), ::sigismember(&mask_before, SIGUSR1),
                 "signal mask restored when the loop ends");
}

// A signal sent to the process (not to a thread) while other threads run, started after
// on_signal() as herald's workers are, reaches the loop, each time, and kills nobody.
Test(event_loop, a_process_signal_reaches_the_loop_while_other_threads_run, .timeout = 20.0) {
    EventLoop loop;
    int got = 0;
    cr_assert(!loop.on_signal(SIGUSR1, [&](int) { ++got; }));
    std::atomic<bool> done{false};
    std::vector<std::thread> others;
    for (int i = 0; i < 3; ++i)
        others.emplace_back([&done] {
            while (!done.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        });
    for (int i = 1; i <= 50; ++i) {
        cr_assert_eq(::kill(::getpid(), SIGUSR1), 0);
        for (int spins = 0; got < i && spins < 1000; ++spins) loop.run_once(10);
        cr_assert_eq(got, i, "signal %d of 50 reached the loop", i);
    }
    done.store(true);
    for (auto& t : others) t.join();
    assert_no_leftovers(loop);
}

Test(event_loop, only_one_loop_receives_signals, .timeout = 10.0) {
    EventLoop first, second;
    cr_assert(!first.on_signal(SIGUSR1, [](int) {}));
    cr_assert_eq(second.on_signal(SIGUSR2, [](int) {}).value(), EBUSY);
    assert_no_leftovers(first);
    assert_no_leftovers(second);
}

// Many ready fds: each gets at most one event per iteration and none is starved.
Test(event_loop, many_ready_fds_are_each_reported_once_per_iteration, .timeout = 10.0) {
    constexpr int n = 300;
    EventLoop loop;
    std::vector<SocketPair> pairs;
    std::vector<Recorder> recs(n);
    {
        std::vector<Watch> watches;
        for (int i = 0; i < n; ++i) {
            pairs.push_back(make_pair());
            watches.push_back(must_watch(loop, pairs.back().a.get(), Interest::read,
                                         recs[static_cast<std::size_t>(i)]));
            send_byte(pairs.back().b.get());
        }
        for (int iteration = 1; iteration <= 3; ++iteration) {
            loop.run_once(1000);
            for (const Recorder& r : recs) cr_assert_leq(r.calls, iteration);
        }
        for (const Recorder& r : recs) cr_assert_geq(r.calls, 1, "an fd was starved");
    }
    assert_no_leftovers(loop);
}

// The slot table grows with fd numbers (Linux hands out up to RLIMIT_NOFILE).
Test(event_loop, watches_a_high_numbered_fd, .timeout = 10.0) {
    struct rlimit rl {};
    cr_assert_eq(::getrlimit(RLIMIT_NOFILE, &rl), 0);
    const rlim_t cap = rl.rlim_cur == RLIM_INFINITY ? 100000 : rl.rlim_cur;
    const int high = static_cast<int>(cap > 100000 ? 100000 : cap) - 1;
    EventLoop loop;
    SocketPair p = make_pair();
    UniqueFd far(::dup2(p.a.get(), high));
    cr_assert_eq(far.get(), high);
    Recorder r;
    {
        Watch w = must_watch(loop, far.get(), Interest::read, r);
        send_byte(p.b.get());
        loop.run_once(1000);
        cr_assert_eq(r.calls, 1);
    }
    assert_no_leftovers(loop);
}

Test(event_loop, stats_split_time_between_work_and_waiting, .timeout = 10.0) {
    ManualClock clock;
    EventLoop loop(clock);
    clock.advance(milliseconds(5));  // work before the first wait
    loop.defer([&] { clock.advance(milliseconds(7)); });
    loop.run_once(0);
    const EventLoop::Stats& s = loop.stats();
    cr_assert_eq(s.iterations.load(), 1u);
    cr_assert_eq(s.busy_ns.load(), 5000000u);
    cr_assert_eq(s.wait_ns.load(), 0u);
    loop.run_once(0);  // the deferred 7 ms count as work of the first iteration, seen now
    cr_assert_eq(s.iterations.load(), 2u);
    cr_assert_eq(s.busy_ns.load(), 12000000u);
    cr_assert_eq(s.wait_ns.load(), 0u);
    assert_no_leftovers(loop);
}

Test(event_loop, stats_count_a_real_wait_as_waiting, .timeout = 10.0) {
    EventLoop loop;
    loop.run_once(30);
    const EventLoop::Stats& s = loop.stats();
    cr_assert_eq(s.iterations.load(), 1u);
    cr_assert(s.wait_ns.load() >= 25000000u, "waited %lu ns", s.wait_ns.load());
    cr_assert(s.busy_ns.load() < s.wait_ns.load());
    assert_no_leftovers(loop);
}

Test(event_loop, run_posted_now_runs_what_is_posted_at_once_in_order, .timeout = 10.0) {
    EventLoop loop;
    std::vector<int> order;
    cr_assert(!loop.run_posted_now(), "nothing posted: nothing runs");
    cr_assert(order.empty());
    loop.defer([&] {  // as a long pass of work inside an iteration would
        order.push_back(10);
        std::thread poster([&] {  // posts while it runs
            for (int i = 0; i < 3; ++i) loop.post([&order, i] { order.push_back(i); });
        });
        poster.join();
        cr_assert(loop.run_posted_now());
        order.push_back(11);
    });
    loop.run_once(0);
    cr_assert(order == (std::vector<int>{10, 0, 1, 2, 11}), "posts ran inside the deferred work");
    // From inside a posted fn it does nothing: a post made there waits for the next run.
    loop.post([&] {
        loop.post([&order] { order.push_back(21); });
        cr_assert(!loop.run_posted_now(), "not from inside a posted fn");
        order.push_back(20);
    });
    loop.run_once(0);
    cr_assert_eq(order.back(), 20);
    loop.run_once(0);  // the wake-up of the inner post is still pending: no wait
    cr_assert_eq(order.back(), 21);
    assert_no_leftovers(loop);
}
