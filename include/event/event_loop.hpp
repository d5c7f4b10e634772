// EventLoop: one reactor per worker thread. Owns its Poller, its TimerQueue, the deferred
// and posted callback queues, and (once on_signal() is used) its SignalSource.
// Everything except post() and stop() must be called from the loop's own thread. Handlers
// (IoHandler) are not owned: a Watch must be destroyed before its handler is, and every
// Watch and Timer must be destroyed before the loop.
//
// One iteration: wait (until the earliest timer, or at once if work is deferred) -> read
// the clock into now() -> dispatch I/O events -> run posted callbacks -> run expired timers
// -> run deferred callbacks. Time is read once, after the wait, as nginx does: a timeout
// computed from it may overshoot by the time the callbacks took, never undershoot.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <system_error>
#include <vector>

#include "core/clock.hpp"
#include "event/poller.hpp"
#include "event/timer_queue.hpp"

namespace herald {

class EventLoop;
namespace detail {
class SignalSource;
}

class IoHandler {  // implemented by Listener and Connection
public:
    virtual void on_ready(const ReadyEvent& ev) noexcept = 0;

protected:
    ~IoHandler() = default;
};

// RAII interest in one fd. ~Watch (or reset()) unwatches; events already collected for the
// old registration are dropped (the generation in the token no longer matches).
class Watch {
public:
    Watch() noexcept = default;
    Watch(Watch&& o) noexcept;
    Watch& operator=(Watch&& o) noexcept;
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;
    ~Watch() { reset(); }

    [[nodiscard]] std::error_code set(Interest in);  // no syscall if unchanged; EBADF if empty
    Interest interest() const noexcept { return interest_; }
    explicit operator bool() const noexcept { return loop_ != nullptr; }
    void reset() noexcept;

private:
    friend class EventLoop;
    EventLoop* loop_ = nullptr;
    int fd_ = -1;
    Interest interest_ = Interest::none;
};

// RAII one-shot timer. ~Timer (or cancel()) cancels it. Once the timer has fired (its
// callback is running or has run) the handle is inactive.
class Timer {
public:
    Timer() noexcept = default;
    Timer(Timer&& o) noexcept;
    Timer& operator=(Timer&& o) noexcept;
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;
    ~Timer() { cancel(); }

    void cancel() noexcept;
    bool active() const noexcept;
    // Moves the deadline to now()+delay. Idle-timer rule: if the new deadline is less than
    // 250 ms away from the current one, nothing changes (no heap work). No effect on an
    // inactive timer (fired or cancelled: its callback is gone; use add_timer again).
    void restart(Clock::duration delay);

private:
    friend class EventLoop;
    EventLoop* loop_ = nullptr;
    TimerQueue::Id id_ = 0;
};

class EventLoop {
public:
    explicit EventLoop(Clock& clock = Clock::system());
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    // Starts watching fd; h.on_ready() is called on readiness until the Watch ends.
    // On failure (EBADF, EEXIST if fd is already watched, backend errors) sets ec and
    // returns an empty Watch.
    [[nodiscard]] Watch watch(int fd, Interest in, IoHandler& h, std::error_code& ec);
    // Runs fn once, delay after now(). fn must not throw.
    [[nodiscard]] Timer add_timer(Clock::duration delay, std::function<void()> fn);
    // Runs fn after this iteration's dispatch and timers, FIFO; fns deferred by a deferred
    // fn run in the same pass. Used for safe self-destruction. Outside an iteration, fn runs
    // at the end of the next one, which then does not block.
    void defer(std::function<void()> fn);
    // Any thread: fn runs on this loop's thread soon (FIFO among posts).
    void post(std::function<void()> fn);
    // Loop thread: runs what other threads have posted so far, now, rather than after the
    // current iteration (nothing when nothing is posted; nothing from inside a posted fn).
    // For a long pass of work (the Server's flush of every connection with output): an
    // answer a request waits for or messages to deliver join the pass instead of waiting
    // for its end. The wake-up the posts made still ends the next wait(). Returns whether
    // anything ran.
    bool run_posted_now() noexcept;
    // Time read once per iteration (and at construction).
    Clock::time_point now() const noexcept { return now_; }
    // Reads the loop's clock now (for a measurement that must not lag by a whole iteration).
    Clock::time_point read_clock() const noexcept { return clock_.now(); }

    // Counters of the loop's own work, written by the loop thread, readable from any thread
    // (relaxed). busy = from the end of one wait() to the start of the next; waiting = inside
    // wait(). Costs one clock read per iteration besides the one now() already takes.
    struct Stats {
        std::atomic<std::uint64_t> iterations{0};
        std::atomic<std::uint64_t> busy_ns{0};
        std::atomic<std::uint64_t> wait_ns{0};
    };
    const Stats& stats() const noexcept { return stats_; }
    // Delivers signo into this loop: fn runs on the loop thread after the signal arrives.
    // A second fn for the same signo replaces the first; one signo sent again before the
    // loop reads it may be delivered once. One loop per process (EBUSY for a
    // second). Call before the process starts any other thread: on Linux the signal is
    // blocked in this thread and read from a signalfd, and only threads started afterwards
    // inherit the block; elsewhere a self-pipe and a process-wide SA_RESTART handler
    // (include/event/signal_source.hpp). Both are undone when the loop is destroyed.
    [[nodiscard]] std::error_code on_signal(int signo, std::function<void(int)> fn);

    void run();                      // until stop()
    void run_once(int max_wait_ms);  // one iteration, waiting at most max_wait_ms (-1: no limit)
    void stop() noexcept;            // any thread; run() returns after the current iteration

    // Live watches, not counting the loop's own signal pipe (tests assert 0 at teardown).
    std::size_t watch_count() const noexcept;
    std::size_t timer_count() const noexcept { return timers_.size(); }

private:
    friend class Watch;
    friend class Timer;
    struct Slot {
        IoHandler* handler = nullptr;
        std::uint32_t generation = 0;
        bool live = false;
    };
    static std::uint64_t token(int fd, std::uint32_t generation) noexcept {
        return static_cast<std::uint32_t>(fd) | (std::uint64_t{generation} << 32);
    }
    std::error_code set_interest(int fd, Interest in);
    void unwatch(int fd) noexcept;
    void dispatch(const ReadyEvent& ev) noexcept;
    void run_posted() noexcept;
    void run_deferred() noexcept;
    int next_timeout_ms(int max_wait_ms) noexcept;

    Clock& clock_;
    Clock::time_point now_;
    std::unique_ptr<Poller> poller_;
    TimerQueue timers_;
    std::vector<Slot> slots_;  // indexed by fd; grows to the highest fd watched
    std::size_t live_watches_ = 0;
    std::vector<std::function<void()>> deferred_;
    std::mutex post_mutex_;
    std::vector<std::function<void()>> posted_;  // guarded by post_mutex_
    bool running_posted_ = false;                 // loop thread: inside run_posted()
    std::atomic<bool> stop_{false};
    Stats stats_;
    std::unique_ptr<detail::SignalSource> signals_;  // opened by the first on_signal()
};

} // namespace herald
