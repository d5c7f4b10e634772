// EventLoop: the reactor (watches, timers, defer, post, signals, run/stop). See STYLE.md §3.
// Portable POSIX; the OS-specific parts are behind Poller and SignalSource.
#include "event/event_loop.hpp"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <climits>
#include <utility>

#include "event/signal_source.hpp"

namespace herald {

// ---- Watch and Timer handles ----

Watch::Watch(Watch&& o) noexcept
    : loop_(std::exchange(o.loop_, nullptr)), fd_(std::exchange(o.fd_, -1)),
      interest_(std::exchange(o.interest_, Interest::none)) {}

Watch& Watch::operator=(Watch&& o) noexcept {
    if (this != &o) {
        reset();
        loop_ = std::exchange(o.loop_, nullptr);
        fd_ = std::exchange(o.fd_, -1);
        interest_ = std::exchange(o.interest_, Interest::none);
    }
    return *this;
}

std::error_code Watch::set(Interest in) {
    if (loop_ == nullptr) return {EBADF, std::generic_category()};
    if (in == interest_) return {};
    if (auto ec = loop_->set_interest(fd_, in)) return ec;
    interest_ = in;
    return {};
}

void Watch::reset() noexcept {
    if (loop_ == nullptr) return;
    std::exchange(loop_, nullptr)->unwatch(fd_);
    fd_ = -1;
    interest_ = Interest::none;
}

Timer::Timer(Timer&& o) noexcept
    : loop_(std::exchange(o.loop_, nullptr)), id_(std::exchange(o.id_, 0)) {}

Timer& Timer::operator=(Timer&& o) noexcept {
    if (this != &o) {
        cancel();
        loop_ = std::exchange(o.loop_, nullptr);
        id_ = std::exchange(o.id_, 0);
    }
    return *this;
}

void Timer::cancel() noexcept {
    if (loop_ == nullptr) return;
    std::exchange(loop_, nullptr)->timers_.cancel(id_);
    id_ = 0;
}

bool Timer::active() const noexcept {
    return loop_ != nullptr && loop_->timers_.active(id_);
}

void Timer::restart(Clock::duration delay) {
    // Idle timers are restarted on every read; skipping small moves saves heap work
    // (nginx NGX_TIMER_LAZY_DELAY, libuv's timer re-arm).
    constexpr Clock::duration lazy_delay = std::chrono::milliseconds(250);
    if (loop_ == nullptr) return;
    const auto current = loop_->timers_.deadline(id_);
    if (!current) return;
    const Clock::time_point wanted = loop_->now() + delay;
    const Clock::duration moved = wanted > *current ? wanted - *current : *current - wanted;
    if (moved < lazy_delay) return;
    loop_->timers_.reschedule(id_, wanted);
}

// ---- Signals: through a SignalSource (signals_*.cpp, picked by the Makefile) ----

std::error_code EventLoop::on_signal(int signo, std::function<void(int)> fn) {
    if (!signals_) {
        std::error_code ec;
        signals_ = detail::SignalSource::open(*this, ec);  // null with ec set on failure
        if (ec) return ec;
    }
    return signals_->add(signo, std::move(fn));
}

// ---- EventLoop ----

EventLoop::EventLoop(Clock& clock)
    : clock_(clock), now_(clock.now()), poller_(Poller::create()) {}

EventLoop::~EventLoop() {
    signals_.reset();  // its Watch unwatches through this (still complete) loop
    assert(live_watches_ == 0 && "every Watch must end before its EventLoop");
}

std::size_t EventLoop::watch_count() const noexcept {
    const bool internal = signals_ && signals_->watching();
    return live_watches_ - (internal ? 1 : 0);
}

Watch EventLoop::watch(int fd, Interest in, IoHandler& h, std::error_code& ec) {
    ec.clear();
    if (fd < 0) {
        ec.assign(EBADF, std::generic_category());
        return {};
    }
    const auto index = static_cast<std::size_t>(fd);
    if (index >= slots_.size()) slots_.resize(std::max(index + 1, slots_.size() * 2));
    Slot& slot = slots_[index];
    if (slot.live) {
        ec.assign(EEXIST, std::generic_category());
        return {};
    }
    ec = poller_->add(fd, in, token(fd, slot.generation));
    if (ec) return {};
    slot.handler = &h;
    slot.live = true;
    ++live_watches_;
    Watch w;
    w.loop_ = this;
    w.fd_ = fd;
    w.interest_ = in;
    return w;
}

std::error_code EventLoop::set_interest(int fd, Interest in) {
    const Slot& slot = slots_[static_cast<std::size_t>(fd)];
    assert(slot.live);
    return poller_->modify(fd, in, token(fd, slot.generation));
}

// The generation bump makes any event already collected for this fd stale, including
// one for a new watch that reuses the fd number later in the same batch.
void EventLoop::unwatch(int fd) noexcept {
    Slot& slot = slots_[static_cast<std::size_t>(fd)];
    assert(slot.live);
    poller_->remove(fd);
    slot.handler = nullptr;
    slot.live = false;
    ++slot.generation;
    --live_watches_;
}

void EventLoop::dispatch(const ReadyEvent& ev) noexcept {
    const auto fd = static_cast<std::size_t>(ev.token & 0xffffffffu);
    const auto generation = static_cast<std::uint32_t>(ev.token >> 32);
    if (fd >= slots_.size()) return;
    const Slot& slot = slots_[fd];
    if (!slot.live || slot.generation != generation) return;  // stale: watch ended
    slot.handler->on_ready(ev);
}

Timer EventLoop::add_timer(Clock::duration delay, std::function<void()> fn) {
    Timer t;
    t.id_ = timers_.add(now_ + delay, std::move(fn));
    t.loop_ = this;
    return t;
}

void EventLoop::defer(std::function<void()> fn) {
    deferred_.push_back(std::move(fn));
}

// Only the post that makes the queue non-empty wakes the loop: the loop takes the whole
// queue after its wait returns, so later posts ride on that wake-up.
void EventLoop::post(std::function<void()> fn) {
    bool was_empty;
    {
        std::lock_guard lock(post_mutex_);
        was_empty = posted_.empty();
        posted_.push_back(std::move(fn));
    }
    if (was_empty) poller_->wake();
}

void EventLoop::run_posted() noexcept {
    std::vector<std::function<void()>> batch;
    {
        std::lock_guard lock(post_mutex_);
        batch.swap(posted_);
    }
    running_posted_ = true;
    for (const auto& fn : batch) fn();
    running_posted_ = false;
}

bool EventLoop::run_posted_now() noexcept {
    if (running_posted_) return false;
    {
        std::lock_guard lock(post_mutex_);
        if (posted_.empty()) return false;  // keeps the queue's capacity
    }
    run_posted();
    return true;
}

void EventLoop::run_deferred() noexcept {
    while (!deferred_.empty()) {
        std::vector<std::function<void()>> batch;
        batch.swap(deferred_);
        for (const auto& fn : batch) fn();
    }
}

int EventLoop::next_timeout_ms(int max_wait_ms) noexcept {
    if (!deferred_.empty()) return 0;
    const auto deadline = timers_.next_deadline();
    if (!deadline) return max_wait_ms;
    if (*deadline <= now_) return 0;
    // Round up: waking a little early would find nothing expired and spin.
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - now_).count();
    const int ms = left > INT_MAX ? INT_MAX : static_cast<int>(left);
    return max_wait_ms < 0 ? ms : std::min(ms, max_wait_ms);
}

namespace {
void add_ns(std::atomic<std::uint64_t>& c, Clock::duration d) noexcept {  // single writer
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    if (ns > 0)
        c.store(c.load(std::memory_order_relaxed) + static_cast<std::uint64_t>(ns),
                std::memory_order_relaxed);
}
} // namespace

void EventLoop::run_once(int max_wait_ms) {
    const int timeout = next_timeout_ms(max_wait_ms);
    const Clock::time_point before = clock_.now();
    add_ns(stats_.busy_ns, before - now_);
    const std::span<const ReadyEvent> events = poller_->wait(timeout);
    now_ = clock_.now();
    add_ns(stats_.wait_ns, now_ - before);
    stats_.iterations.store(stats_.iterations.load(std::memory_order_relaxed) + 1,
                            std::memory_order_relaxed);
    for (const ReadyEvent& ev : events) dispatch(ev);
    run_posted();
    timers_.run_expired(now_);
    run_deferred();
}

void EventLoop::run() {
    while (!stop_.load(std::memory_order_acquire)) run_once(-1);
    stop_.store(false, std::memory_order_relaxed);
}

void EventLoop::stop() noexcept {
    stop_.store(true, std::memory_order_release);
    poller_->wake();
}

} // namespace herald
