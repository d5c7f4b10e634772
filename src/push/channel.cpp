// Channel ring buffer, resume lookups and subscriber counts; the clock source's payload.
#include "push/channel.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace herald::push {

Channel::Channel(config::ChannelConf conf, Clock& clock, std::uint64_t key, std::uint64_t epoch)
    : name_(conf.name), key_(key), epoch_(epoch), clock_(clock), conf_(std::move(conf)),
      active_at_(clock.now()) {}

void Channel::reconfigure(const config::ChannelConf& conf) {
    std::lock_guard<std::mutex> lock(mutex_);
    conf_ = conf;
    normalize();
    while (count_ > conf_.buffer) pop_oldest();
    normalize();
    ring_.resize(count_);
    ring_.shrink_to_fit();
    expire(clock_.now());
}

std::shared_ptr<const Message> Channel::append_locked(std::shared_ptr<Message> m) {
    if (closed_) return nullptr;
    const Clock::time_point now = clock_.now();
    expire(now);
    m->id = ++last_id_;
    m->epoch = epoch_;
    if (m->published_steady == Clock::time_point{}) { // else a copy's: aged where it was read
        m->published_at = std::chrono::system_clock::now();
        m->published_steady = now;
    }
    ++published_;
    last_publish_ = m->published_at;
    rate_ = decayed_rate(now) + 1.0 / std::chrono::duration<double>(publish_rate_window).count();
    rate_at_ = now;
    std::shared_ptr<const Message> msg(std::move(m));
    push(msg);
    return msg;
}

void Channel::push(std::shared_ptr<const Message> m) {
    const std::size_t cap = conf_.buffer;
    if (cap == 0) return;
    if (count_ < ring_.size()) {
        ring_[(head_ + count_) % ring_.size()] = std::move(m);
        ++count_;
    } else if (ring_.size() < cap) {
        normalize();  // full but still growing: make the end of the vector the newest slot
        ring_.push_back(std::move(m));
        ++count_;
    } else {
        ring_[head_] = std::move(m);  // full: overwrite the oldest
        head_ = (head_ + 1) % ring_.size();
    }
}

void Channel::pop_oldest() noexcept {
    ring_[head_].reset();
    head_ = (head_ + 1) % ring_.size();
    --count_;
}

void Channel::normalize() {
    if (head_ == 0) return;
    std::rotate(ring_.begin(), ring_.begin() + static_cast<std::ptrdiff_t>(head_), ring_.end());
    head_ = 0;
}

void Channel::expire(Clock::time_point now) noexcept {
    if (conf_.ttl.count() <= 0) return;
    while (count_ > 0 && at(0)->published_steady + conf_.ttl <= now) pop_oldest();
}

const std::shared_ptr<const Message>& Channel::at(std::size_t i) const noexcept {
    assert(i < count_);
    return ring_[(head_ + i) % ring_.size()];
}

std::uint64_t Channel::first_id_locked() const noexcept {
    return count_ > 0 ? at(0)->id : 0;
}

// Messages with id > since, up to limit. Buffered ids are contiguous and end at last_id_, so
// the start index is arithmetic, not a search.
void Channel::collect(History& out, std::uint64_t since, std::size_t limit) const {
    if (count_ == 0) return;
    const std::uint64_t first = at(0)->id;
    std::size_t start = 0;
    if (since >= first && since <= last_id_) start = static_cast<std::size_t>(since - first + 1);
    const std::size_t n = std::min(count_ - start, limit);
    out.messages.reserve(n);
    for (std::size_t i = start; i < start + n; ++i) out.messages.push_back(at(i));
}

History Channel::after(std::optional<std::uint64_t> since, std::size_t limit) {
    std::lock_guard<std::mutex> lock(mutex_);
    active_at_ = clock_.now();  // a poll keeps the channel as a subscriber would
    expire(active_at_);
    History h;
    h.epoch = epoch_;
    h.first_id = first_id_locked();
    h.last_id = last_id_;
    if (!since) {
        const std::size_t n = std::min(count_, limit);
        h.messages.reserve(n);
        for (std::size_t i = count_ - n; i < count_; ++i) h.messages.push_back(at(i));
        return h;
    }
    // Nothing buffered: the next id to be published stands in for the first one.
    const std::uint64_t first = count_ > 0 ? h.first_id : last_id_ + 1;
    h.missed = *since + 1 < first || *since > last_id_;
    collect(h, *since, limit);
    return h;
}

Channel::JoinStatus Channel::join(WorkerId w, config::PushStrategy s, std::optional<std::uint64_t> since,
                                  History& out) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return JoinStatus::closed;
    if (conf_.max_subscribers != 0 && total_subscribers_ >= conf_.max_subscribers)
        return JoinStatus::full;
    expire(clock_.now());
    out = History{};
    out.epoch = epoch_;
    out.first_id = first_id_locked();
    out.last_id = last_id_;
    if (since) {
        const std::uint64_t first = count_ > 0 ? out.first_id : last_id_ + 1;
        out.missed = *since + 1 < first || *since > last_id_;
        collect(out, *since, SIZE_MAX);
    }
    if (worker_subscribers_.size() <= w) worker_subscribers_.resize(w + 1);
    ++worker_subscribers_[w];
    ++strategy_subscribers_[static_cast<std::size_t>(s)];
    ++total_subscribers_;
    return JoinStatus::ok;
}

void Channel::leave(WorkerId w, config::PushStrategy s) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    assert(w < worker_subscribers_.size() && worker_subscribers_[w] > 0);
    --worker_subscribers_[w];
    --strategy_subscribers_[static_cast<std::size_t>(s)];
    if (--total_subscribers_ == 0) active_at_ = clock_.now();
}

bool Channel::idle_locked(Clock::time_point now, Duration idle) noexcept {
    if (closed_ || total_subscribers_ != 0 || now - active_at_ < idle) return false;
    if (conf_.ttl.count() > 0) {
        expire(now);
        return count_ == 0;
    }
    return count_ == 0 || at(count_ - 1)->published_steady + idle <= now;
}

bool Channel::idle(Clock::time_point now, Duration idle) {
    std::lock_guard<std::mutex> lock(mutex_);
    return idle_locked(now, idle);
}

bool Channel::close_if_idle(Clock::time_point now, Duration idle) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!idle_locked(now, idle)) return false;
    close_locked();
    return true;
}

void Channel::close_locked() noexcept {
    closed_ = true;
    ring_.clear();
    head_ = count_ = 0;
}

// The publish rate as an exponentially decaying average: each message adds 1/window, and the
// sum decays by e^(-t/window), so a steady r messages/s converges to r and silence fades it.
double Channel::decayed_rate(Clock::time_point now) const noexcept {
    if (rate_ == 0) return 0;
    const double t = std::chrono::duration<double>(now - rate_at_).count();
    return rate_ * std::exp(-t / std::chrono::duration<double>(publish_rate_window).count());
}

ChannelInfo Channel::info() {
    std::lock_guard<std::mutex> lock(mutex_);
    expire(clock_.now());
    ChannelInfo i;
    i.name = name_;
    i.subscribers = strategy_subscribers_;
    i.total_subscribers = total_subscribers_;
    i.buffered = count_;
    i.first_id = first_id_locked();
    i.last_id = last_id_;
    i.published = published_;
    i.delivered = delivered_.load(std::memory_order_relaxed);
    i.dropped = dropped_.load(std::memory_order_relaxed);
    i.last_publish = last_publish_;
    i.publish_rate = decayed_rate(clock_.now());
    i.epoch = epoch_;
    i.conf = conf_;
    return i;
}

bool Channel::start_after(std::uint64_t last_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_ || count_ != 0 || last_id < last_id_) return false;
    last_id_ = last_id;
    published_ = last_id;  // the life's messages before this copy began were published too
    return true;
}

std::uint64_t Channel::last_id() {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_id_;
}

std::uint64_t Channel::subscriber_count() {
    std::lock_guard<std::mutex> lock(mutex_);
    return total_subscribers_;
}

std::string clock_message(std::chrono::system_clock::time_point t) {
    const std::time_t secs = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    localtime_r(&secs, &tm);
    char buf[64];
    const int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900,
                                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
}

} // namespace herald::push
