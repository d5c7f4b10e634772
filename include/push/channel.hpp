// A named channel: per-channel message ids, the ring buffer of recent messages kept for resume
// (last `buffer`, none older than `ttl`), and the subscriber counts the broker fans out by.
#pragma once

#include <array>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "core/clock.hpp"
#include "push/message.hpp"

namespace herald::push {

// Index of a worker (event loop) attached to a broker, from 0.
using WorkerId = std::uint32_t;

inline constexpr std::size_t strategy_count = 6;  // PushStrategy values, none..websocket
using StrategyCounts = std::array<std::uint64_t, strategy_count>;  // indexed by PushStrategy

// Result of a resume lookup. "missed": the resume point is older than the buffer
// (since + 1 < first buffered id) or an id the channel never had (since > last_id); the caller
// still gets every buffered message and must send its strategy's "missed" signal.
struct History {
    std::vector<std::shared_ptr<const Message>> messages;  // oldest first
    bool missed = false;
    std::uint64_t first_id = 0;  // oldest buffered id; 0 = nothing buffered
    std::uint64_t last_id = 0;   // newest id published when looked up; 0 = none yet
    std::uint64_t epoch = 0;     // the channel's life these ids belong to
};

struct ChannelInfo {
    std::string name;
    StrategyCounts subscribers{};
    std::uint64_t total_subscribers = 0;
    std::size_t buffered = 0;
    std::uint64_t first_id = 0;
    std::uint64_t last_id = 0;
    std::uint64_t published = 0;  // in this life (ids used: a node copy counts from id 1)
    std::uint64_t delivered = 0;  // messages handed to subscribers (live, history, polling)
    std::uint64_t dropped = 0;    // subscribers dropped as too slow
    std::chrono::system_clock::time_point last_publish{};  // epoch = never
    double publish_rate = 0;      // messages/s, decaying average over ~publish_rate_window
    std::uint64_t epoch = 0;
    config::ChannelConf conf;
};

// Time constant of ChannelInfo::publish_rate: a burst fades to 1/e of its rate after this.
inline constexpr std::chrono::seconds publish_rate_window{10};

// Owns its ring buffer (shared_ptrs to messages) and counters; points to a Clock it does not
// own (steady time for ttl). Every public member locks the channel's own mutex, so any thread
// may call them; append() and close() call per_worker with that lock held, which is how the
// broker queues a message to each worker in id order. Ids in the buffer are contiguous.
class Channel {
public:
    // epoch names this life of the channel in client-visible ids (push/resume.hpp).
    Channel(config::ChannelConf conf, Clock& clock, std::uint64_t key = 0, std::uint64_t epoch = 1);
    Channel(const Channel&) = delete;
    Channel& operator=(const Channel&) = delete;

    const std::string& name() const noexcept { return name_; }
    // Unique per channel object (a channel deleted and created again gets a new key).
    std::uint64_t key() const noexcept { return key_; }
    std::uint64_t epoch() const noexcept { return epoch_; }

    // Reload: new buffer/ttl/max_subscribers apply at once (a smaller buffer drops the oldest).
    void reconfigure(const config::ChannelConf& conf);

    struct Appended {
        std::shared_ptr<const Message> message;  // nullptr if closed or refused
        std::uint64_t subscribers = 0;           // subscriber count at that moment
        bool refused = false;                    // admit() said no: nothing was stored
    };
    // Under the lock: first asks admit(WorkerId) for every worker with subscribers (any false:
    // nothing happens, refused); then assigns m's id (++last_id) and publish times, buffers it
    // and calls per_worker(WorkerId, const std::shared_ptr<const Message>&) for every worker
    // with subscribers: that is how the broker queues messages to each worker in id order.
    template <class A, class F>
    Appended append(std::shared_ptr<Message> m, A&& admit, F&& per_worker) {
        std::lock_guard<std::mutex> lock(mutex_);
        for (WorkerId w = 0; w < worker_subscribers_.size(); ++w)
            if (worker_subscribers_[w] != 0 && !admit(w))
                return Appended{nullptr, total_subscribers_, true};
        Appended a{append_locked(std::move(m)), total_subscribers_, false};
        if (a.message)
            for (WorkerId w = 0; w < worker_subscribers_.size(); ++w)
                if (worker_subscribers_[w] != 0) per_worker(w, a.message);
        return a;
    }
    template <class F>
    Appended append(std::shared_ptr<Message> m, F&& per_worker) {
        return append(std::move(m), [](WorkerId) { return true; }, std::forward<F>(per_worker));
    }
    Appended append(std::shared_ptr<Message> m) {
        return append(std::move(m), [](WorkerId, const std::shared_ptr<const Message>&) {});
    }
    // All or none over several channels (distinct objects): locks every one in one global
    // order (key, then address), so two of these never deadlock, and holds every lock while
    // it checks and appends. If none is closed and admit(WorkerId) holds for every worker with
    // subscribers of each, appends msgs[i] to *chans[i] as append() does, calling
    // per_worker(i, WorkerId, const std::shared_ptr<const Message>&); out[i] gets each result
    // and the return value is chans.size(). Otherwise nothing is stored, and the index of the
    // first channel (in the given order) that is closed (out[i].refused false) or refused
    // (out[i].refused true) is returned. chans, msgs and out have one entry per channel.
    template <class A, class F>
    static std::size_t append_all(std::span<Channel* const> chans,
                                  std::span<std::shared_ptr<Message>> msgs, A&& admit,
                                  F&& per_worker, std::span<Appended> out) {
        std::vector<Channel*> order(chans.begin(), chans.end());
        std::sort(order.begin(), order.end(), [](const Channel* a, const Channel* b) {
            return a->key_ != b->key_ ? a->key_ < b->key_ : std::less<const Channel*>()(a, b);
        });
        std::vector<std::unique_lock<std::mutex>> locks;
        locks.reserve(order.size());
        for (Channel* c : order) locks.emplace_back(c->mutex_);
        for (std::size_t i = 0; i < chans.size(); ++i) {
            Channel& c = *chans[i];
            bool refused = false;
            for (WorkerId w = 0; w < c.worker_subscribers_.size() && !refused; ++w)
                refused = c.worker_subscribers_[w] != 0 && !admit(w);
            if (c.closed_ || refused) {
                out[i] = Appended{nullptr, c.total_subscribers_, refused};
                return i;
            }
        }
        for (std::size_t i = 0; i < chans.size(); ++i) {
            Channel& c = *chans[i];
            out[i] = Appended{c.append_locked(std::move(msgs[i])), c.total_subscribers_, false};
            for (WorkerId w = 0; w < c.worker_subscribers_.size(); ++w)
                if (c.worker_subscribers_[w] != 0) per_worker(i, w, out[i].message);
        }
        return chans.size();
    }
    // A mirror's append (ids assigned elsewhere): as append() without admission, but only if id
    // is the next one of this life (last_id + 1); otherwise nothing happens (refused).
    template <class F>
    Appended append_next(std::shared_ptr<Message> m, std::uint64_t id, F&& per_worker) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (closed_ || id != last_id_ + 1) return Appended{nullptr, total_subscribers_, true};
        Appended a{append_locked(std::move(m)), total_subscribers_, false};
        for (WorkerId w = 0; w < worker_subscribers_.size(); ++w)
            if (worker_subscribers_[w] != 0) per_worker(w, a.message);
        return a;
    }
    // A mirror starting a life part way: with nothing buffered and no id above last_id used,
    // the next id becomes last_id + 1 and the life's last_id messages count as published.
    // False (nothing changed) otherwise.
    bool start_after(std::uint64_t last_id);
    std::uint64_t last_id();

    // Buffered messages after since, at most limit, oldest first. Without since: the newest
    // `limit` messages (polling's "newest message"), never missed.
    History after(std::optional<std::uint64_t> since, std::size_t limit = SIZE_MAX);

    enum class JoinStatus : std::uint8_t { ok, full, closed };
    // Atomically with respect to append(): fills out with every buffered message after since
    // (none without since; out.last_id is always set) and counts one more subscriber of
    // strategy s on worker w. full = max_subscribers reached.
    JoinStatus join(WorkerId w, config::PushStrategy s, std::optional<std::uint64_t> since, History& out);
    // Undoes one join().
    void leave(WorkerId w, config::PushStrategy s) noexcept;

    // Marks the channel closed (append and join fail from now on), frees the buffer, and calls
    // per_worker(WorkerId) under the lock for every worker with subscribers. Returns false if
    // it was already closed.
    template <class F>
    bool close(F&& per_worker) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (closed_) return false;
        close_locked();
        for (WorkerId w = 0; w < worker_subscribers_.size(); ++w)
            if (worker_subscribers_[w] != 0) per_worker(w);
        return true;
    }

    // Idle collection (channel_idle_timeout): true when the channel has had no subscriber (nor
    // a poll) for `idle` and holds no message younger than its ttl (with no ttl: none
    // published within `idle`). Declared channels are never asked.
    bool idle(Clock::time_point now, Duration idle);
    // Closes the channel (as close(), with nobody to tell) if idle(now, idle) holds; true if so.
    bool close_if_idle(Clock::time_point now, Duration idle);

    ChannelInfo info();
    std::uint64_t subscriber_count();
    // Per-channel delivery figures, from any thread, without the lock.
    void note_delivered(std::uint64_t n) noexcept {
        delivered_.fetch_add(n, std::memory_order_relaxed);
    }
    void note_dropped(std::uint64_t n) noexcept { dropped_.fetch_add(n, std::memory_order_relaxed); }

private:
    std::shared_ptr<const Message> append_locked(std::shared_ptr<Message> m);
    void close_locked() noexcept;
    bool idle_locked(Clock::time_point now, Duration idle) noexcept;
    void expire(Clock::time_point now) noexcept;
    double decayed_rate(Clock::time_point now) const noexcept;
    void pop_oldest() noexcept;
    void push(std::shared_ptr<const Message> m);
    void normalize();  // rotates the ring so the oldest message is at index 0
    const std::shared_ptr<const Message>& at(std::size_t i) const noexcept;  // 0 = oldest
    std::uint64_t first_id_locked() const noexcept;
    void collect(History& out, std::uint64_t since, std::size_t limit) const;

    const std::string name_;
    const std::uint64_t key_;
    const std::uint64_t epoch_;
    Clock& clock_;
    std::mutex mutex_;
    // Guarded by mutex_:
    config::ChannelConf conf_;
    std::vector<std::shared_ptr<const Message>> ring_;  // grows up to conf_.buffer slots
    std::size_t head_ = 0;                              // oldest
    std::size_t count_ = 0;
    std::uint64_t last_id_ = 0;
    std::uint64_t published_ = 0;
    std::vector<std::uint32_t> worker_subscribers_;     // by WorkerId
    StrategyCounts strategy_subscribers_{};
    std::uint64_t total_subscribers_ = 0;
    bool closed_ = false;
    Clock::time_point active_at_;  // created, or the last subscriber left, or the last poll
    std::chrono::system_clock::time_point last_publish_{};
    Clock::time_point rate_at_{};  // when rate_ was last brought up to date
    double rate_ = 0;              // decaying publish rate as of rate_at_
    // Lock-free:
    std::atomic<std::uint64_t> delivered_{0};
    std::atomic<std::uint64_t> dropped_{0};
};

// The `source clock` payload: local time as "YYYY-MM-DD HH:MM:SS".
std::string clock_message(std::chrono::system_clock::time_point t);

} // namespace herald::push
