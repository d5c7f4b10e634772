// Subscription handle and the in-memory Broker (DESIGN.md "Publish path").
//
// Fan-out: Channel::append() runs per_worker under the channel lock, which pushes the message
// into each subscribed worker's inbox (a short mutex-guarded vector). Doing the push under the
// channel lock keeps every worker's inbox in id order per channel even with many publishing
// threads; the wake-up post happens after the lock is released, and only when the inbox was
// empty, so a burst of publishes costs one post per worker, not one per message. The worker's
// drain task then walks its local registry (touched only on that thread) and calls deliver().
#include "push/broker.hpp"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <limits>
#include <random>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "config/values.hpp"
#include "core/string_hash.hpp"

namespace herald::push {

const char* to_string(PushError e) noexcept {
    switch (e) {
    case PushError::none: return "none";
    case PushError::not_found: return "channel not found";
    case PushError::invalid_name: return "invalid channel name";
    case PushError::too_many_subscribers: return "too many subscribers";
    case PushError::too_many_channels: return "too many channels";
    case PushError::backlog: return "fan-out backlog full";
    case PushError::unavailable: return "broker unavailable";
    case PushError::cross_slot: return "channels in different Redis Cluster hash slots";
    }
    return "unknown";
}

Subscription::Subscription(Subscription&& o) noexcept : broker_(o.broker_), key_(o.key_) {
    o.broker_ = nullptr;
}

Subscription& Subscription::operator=(Subscription&& o) noexcept {
    if (this != &o) {
        reset();
        broker_ = o.broker_;
        key_ = o.key_;
        o.broker_ = nullptr;
    }
    return *this;
}

void Subscription::reset() noexcept {
    if (broker_ == nullptr) return;
    Broker* b = broker_;
    broker_ = nullptr;  // first, so a re-entrant reset() is a no-op
    b->unsubscribe(key_);
}

namespace {

constexpr std::uint64_t no_slot = std::numeric_limits<std::uint64_t>::max();

// A local subscriber. While free, next_id links the free list.
struct Slot {
    Subscriber* sub = nullptr;
    std::uint64_t next_id = 0;  // lowest id still to deliver (dedupe against history)
};

// One channel's subscribers on one worker. Slots are never moved or compacted while the
// channel exists here, so delivery can walk them by index while deliver() unsubscribes
// (tombstone + free list) or subscribes (push_back; the new slot's next_id skips the message).
struct LocalChannel {
    std::shared_ptr<Channel> channel;
    std::vector<Slot> slots;
    std::uint64_t free_head = no_slot;
    std::size_t live = 0;
};

struct InboxItem {
    std::uint64_t channel;
    std::shared_ptr<const Message> msg;  // nullptr: the channel was closed (or reset)
    bool reset = false;                  // closed because its history was lost
};

// A worker loop attached by attach_worker(): its inbox of messages to deliver, and (touched
// only on that loop's thread) its local subscriber registry. Not app::Worker, which owns the
// loop; this is the broker's view of it.
struct AttachedLoop {
    explicit AttachedLoop(PostFn p) : post(std::move(p)) {}
    const PostFn post;
    std::mutex inbox_mutex;
    std::vector<InboxItem> inbox;  // guarded by inbox_mutex
    bool wake_pending = false;     // guarded by inbox_mutex: a drain is posted and not started
    // Messages queued here and not yet handed to the subscribers (inbox plus the batch being
    // drained): what publish_backlog bounds. Written under inbox_mutex or by the loop thread
    // after its batch; read by publishers without a lock.
    std::atomic<std::uint64_t> backlog{0};
    // The worker's loop thread only:
    std::vector<InboxItem> draining;
    std::unordered_map<std::uint64_t, LocalChannel> local;
    int depth = 0;  // > 0 while drain() calls subscribers: no LocalChannel is erased then
    std::atomic<std::uint64_t> delivered{0};
};

struct ChannelEntry {
    std::shared_ptr<Channel> channel;
    bool declared = false;  // from the config (vs autocreated on publish)
};

// Workers waiting for a wake-up post, collected under locks and posted after. Per thread so a
// publish allocates nothing once warm.
thread_local std::vector<AttachedLoop*> pending_wakes;

class MemoryBroker final : public LocalBroker {
public:
    explicit MemoryBroker(Clock& clock) : clock_(clock), workers_(max_workers) {}
    ~MemoryBroker() override = default;

    WorkerId attach_worker(PostFn post) override;
    using LocalBroker::publish;
    PublishResult publish(std::string_view channel, std::string_view data,
                          std::string_view content_type, std::string_view event) override;
    MultiPublishResult publish_many(std::span<const std::string> channels, std::string_view data,
                                    std::string_view content_type,
                                    std::string_view event) override;
    SubscribeResult subscribe(std::string_view channel, std::optional<Cursor> since,
                              Subscriber& s, WorkerId worker) override;
    FetchResult fetch(std::string_view channel, std::optional<Cursor> since,
                      std::size_t limit) override;
    InfoResult channel_info(std::string_view channel) override;
    PushError close_channel(std::string_view channel) override;
    void reconcile(const config::Config& cfg) override;
    std::size_t collect_idle() override;
    BrokerStats stats() const override;
    void note_delivered(std::uint64_t n, std::string_view channel) noexcept override {
        extra_delivered_.fetch_add(n, std::memory_order_relaxed);
        if (const std::shared_ptr<Channel> ch = channel.empty() ? nullptr : find(channel))
            ch->note_delivered(n);
    }
    void note_dropped(std::uint64_t n, std::string_view channel) noexcept override {
        dropped_.fetch_add(n, std::memory_order_relaxed);
        if (const std::shared_ptr<Channel> ch = channel.empty() ? nullptr : find(channel))
            ch->note_dropped(n);
    }
    TopChannels top_channels(std::size_t n) override;
    PushError may_have(std::string_view channel, bool by_subscriber) override;
    void pause_publishing(bool paused) override {
        std::unique_lock<std::shared_mutex> gate(gate_);
        paused_ = paused;
    }
    std::vector<ChannelSnapshot> snapshot() override;
    PushError adopt(std::string_view channel, std::uint64_t epoch, std::uint64_t last_id,
                    const std::vector<std::shared_ptr<Message>>& buffered) override;
    bool append_at(std::shared_ptr<Message> m) override;
    bool forget(std::string_view channel) override;
    bool forget_idle(std::string_view channel, Duration idle) override;
    std::uint64_t subscriber_count(std::string_view channel) override {
        const std::shared_ptr<Channel> ch = find(channel);
        return ch ? ch->subscriber_count() : 0;
    }
    void post_to(WorkerId worker, std::function<void()> fn) override {
        workers_[worker]->post(std::move(fn));
    }

protected:
    void unsubscribe(const SubscriptionKey& key) noexcept override;

private:
    std::shared_ptr<Channel> find(std::string_view name) const;
    // nullptr + not_found / too_many_channels when there is none and none may be made
    // (by_subscriber: for a subscriber or a poll, which channel_autocreate_on_subscribe gates).
    std::shared_ptr<Channel> find_or_autocreate(std::string_view name, bool by_subscriber,
                                                PushError& why);
    std::shared_ptr<Channel> make_channel(config::ChannelConf conf);  // map_mutex_ held exclusively
    // publish_many()'s lookup, map_mutex_ held (exclusively when create): fills chans with
    // every channel, creating the missing ones when create (their names go to created).
    // Without create, returns none with a null entry for each missing channel.
    PushError find_all(std::span<const std::string> names, bool create,
                       std::vector<std::shared_ptr<Channel>>& chans,
                       std::vector<std::string_view>& created, std::size_t& refused);
    bool publish_backlog_admits(WorkerId w) const noexcept {
        const std::uint64_t limit = publish_backlog_.load(std::memory_order_relaxed);
        return limit == 0 || workers_[w]->backlog.load(std::memory_order_relaxed) < limit;
    }
    void enqueue(WorkerId w, std::uint64_t channel, const std::shared_ptr<const Message>& m,
                 bool reset = false);
    void close_and_wake(Channel& ch, bool reset = false);
    void post_wakes();
    void drain(AttachedLoop& wk) noexcept;
    std::uint64_t deliver_local(LocalChannel& lc, const std::shared_ptr<const Message>& m) noexcept;
    void close_local(LocalChannel& lc, bool reset) noexcept;
    void count_subscriber(config::PushStrategy s, bool added) noexcept {
        auto& c = subscribers_[static_cast<std::size_t>(s)];
        if (added)
            c.fetch_add(1, std::memory_order_relaxed);
        else
            c.fetch_sub(1, std::memory_order_relaxed);
    }

    Clock& clock_;

    // Publishes and DELETEs hold it shared; pause_publishing() exclusively, so once it returns
    // none is half done and none starts.
    std::shared_mutex gate_;
    bool paused_ = false;              // guarded by gate_
    mutable std::shared_mutex map_mutex_;
    std::unordered_map<std::string, ChannelEntry, StringHash, std::equal_to<>> channels_;
    bool autocreate_ = false;          // guarded by map_mutex_
    bool autocreate_on_subscribe_ = true;  // guarded by map_mutex_
    Duration idle_timeout_{0};         // guarded by map_mutex_
    std::atomic<std::uint64_t> publish_backlog_{0};  // 0 = unbounded
    std::uint64_t max_channels_ = 0;   // guarded by map_mutex_
    config::ChannelConf autocreate_defaults_;  // guarded by map_mutex_
    std::uint64_t next_key_ = 1;       // guarded by map_mutex_ (exclusive)
    std::mt19937_64 epochs_{std::random_device{}()};  // guarded by map_mutex_ (exclusive)

    // Sized max_workers up front and never reallocated: publishers read workers_[w] without
    // the mutex (w came from a channel count set after attach_worker() returned it).
    mutable std::mutex workers_mutex_;
    std::vector<std::unique_ptr<AttachedLoop>> workers_;
    std::size_t worker_count_ = 0;  // guarded by workers_mutex_

    std::atomic<std::uint64_t> published_{0};
    std::atomic<std::uint64_t> extra_delivered_{0};
    std::atomic<std::uint64_t> dropped_{0};
    std::array<std::atomic<std::uint64_t>, strategy_count> subscribers_{};
};

WorkerId MemoryBroker::attach_worker(PostFn post) {
    std::lock_guard<std::mutex> lock(workers_mutex_);
    if (worker_count_ == workers_.size()) throw std::length_error("too many broker workers");
    workers_[worker_count_] = std::make_unique<AttachedLoop>(std::move(post));
    return static_cast<WorkerId>(worker_count_++);
}

std::shared_ptr<Channel> MemoryBroker::find(std::string_view name) const {
    std::shared_lock<std::shared_mutex> lock(map_mutex_);
    const auto it = channels_.find(name);
    return it == channels_.end() ? nullptr : it->second.channel;
}

std::shared_ptr<Channel> MemoryBroker::make_channel(config::ChannelConf conf) {
    return std::make_shared<Channel>(std::move(conf), clock_, next_key_++, make_epoch(epochs_()));
}

// A cursor as a sequence number of ch's current life: its own when it names this life (or
// "0"), else 0 with *other_life set (everything buffered, plus the missed signal).
std::optional<std::uint64_t> in_life(const std::optional<Cursor>& c, const Channel& ch,
                                     bool& other_life) noexcept {
    other_life = false;
    if (!c) return std::nullopt;
    if (!c->foreign && (c->epoch == 0 || c->epoch == ch.epoch())) return c->seq;
    other_life = true;
    return 0;
}

std::shared_ptr<Channel> MemoryBroker::find_or_autocreate(std::string_view name,
                                                          bool by_subscriber, PushError& why) {
    if (std::shared_ptr<Channel> ch = find(name)) return ch;
    std::unique_lock<std::shared_mutex> lock(map_mutex_);
    why = PushError::not_found;
    if (!autocreate_ || (by_subscriber && !autocreate_on_subscribe_)) return nullptr;
    const auto it = channels_.find(name);
    if (it != channels_.end()) return it->second.channel;  // created by a racing publisher
    if (channels_.size() >= max_channels_) {
        why = PushError::too_many_channels;
        return nullptr;
    }
    config::ChannelConf conf = autocreate_defaults_;
    conf.name = std::string(name);
    std::shared_ptr<Channel> ch = make_channel(std::move(conf));
    channels_.emplace(std::string(name), ChannelEntry{ch, false});
    return ch;
}

void MemoryBroker::enqueue(WorkerId w, std::uint64_t channel,
                           const std::shared_ptr<const Message>& m, bool reset) {
    AttachedLoop& wk = *workers_[w];
    std::lock_guard<std::mutex> lock(wk.inbox_mutex);
    wk.inbox.push_back(InboxItem{channel, m, reset});
    wk.backlog.fetch_add(1, std::memory_order_relaxed);
    if (!wk.wake_pending) {
        wk.wake_pending = true;
        pending_wakes.push_back(&wk);
    }
}

// By index: should a PostFn ever run its task inline (and that task publish), the nested call
// posts and clears the same list, and the only cost is a spare, empty drain.
void MemoryBroker::post_wakes() {
    for (std::size_t i = 0; i < pending_wakes.size(); ++i) {
        AttachedLoop* wk = pending_wakes[i];
        wk->post([this, wk] { drain(*wk); });
    }
    pending_wakes.clear();
}

PublishResult MemoryBroker::publish(std::string_view channel, std::string_view data,
                                    std::string_view content_type, std::string_view event) {
    if (!config::is_valid_channel_name(channel)) return {PushError::invalid_name, 0, 0, 0};
    std::shared_lock<std::shared_mutex> gate(gate_);
    if (paused_) return {PushError::unavailable, 0, 0, 0};
    auto m = std::make_shared<Message>(std::string(channel), std::string(data),
                                       std::string(content_type), std::string(event));
    // Twice at most: a channel closed between the lookup and the append (DELETE, reload, idle
    // collection) is looked up again, which makes its next life under channel_autocreate.
    for (int attempt = 0; attempt < 2; ++attempt) {
        PushError why = PushError::none;
        const std::shared_ptr<Channel> ch = find_or_autocreate(channel, false, why);
        if (!ch) return {why, 0, 0, 0};
        const std::uint64_t key = ch->key();
        const auto to_worker = [this, key](WorkerId w, const std::shared_ptr<const Message>& msg) {
            enqueue(w, key, msg);
        };
        const std::uint64_t limit = publish_backlog_.load(std::memory_order_relaxed);
        const auto admit = [this, limit](WorkerId w) {
            return limit == 0 || workers_[w]->backlog.load(std::memory_order_relaxed) < limit;
        };
        const Channel::Appended a = ch->append(m, admit, to_worker);
        post_wakes();
        if (a.refused) return {PushError::backlog, 0, 0, a.subscribers};
        if (!a.message) continue;  // closed while we published
        published_.fetch_add(1, std::memory_order_relaxed);
        return {PushError::none, a.message->id, a.message->epoch, a.subscribers};
    }
    return {PushError::not_found, 0, 0, 0};
}

PushError MemoryBroker::find_all(std::span<const std::string> names, bool create,
                                 std::vector<std::shared_ptr<Channel>>& chans,
                                 std::vector<std::string_view>& created, std::size_t& refused) {
    chans.assign(names.size(), nullptr);
    std::size_t missing = 0;
    for (std::size_t i = 0; i < names.size(); ++i) {
        const auto it = channels_.find(names[i]);
        if (it != channels_.end()) chans[i] = it->second.channel;
        else if (missing++ == 0) refused = i;
    }
    if (missing == 0 || !create) return PushError::none;
    if (!autocreate_) return PushError::not_found;
    if (channels_.size() + missing > max_channels_) {
        // The first missing channel past the room left is the one refused.
        std::size_t room = max_channels_ > channels_.size() ? max_channels_ - channels_.size() : 0;
        for (std::size_t i = 0; i < names.size(); ++i) {
            if (chans[i]) continue;
            if (room == 0) {
                refused = i;
                break;
            }
            --room;
        }
        return PushError::too_many_channels;
    }
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (chans[i]) continue;
        config::ChannelConf conf = autocreate_defaults_;
        conf.name = names[i];
        chans[i] = make_channel(std::move(conf));
        channels_.emplace(names[i], ChannelEntry{chans[i], false});
        created.push_back(names[i]);
    }
    return PushError::none;
}

// The map lock is held (shared, or exclusive when a channel is created) from the lookup to
// the end of the append: no channel found can be closed meanwhile (closing one takes it out
// of the map first, exclusively), and channels created here can go again unseen if the
// append is refused. Lock order as everywhere: the map, then channels.
MultiPublishResult MemoryBroker::publish_many(std::span<const std::string> channels,
                                              std::string_view data,
                                              std::string_view content_type,
                                              std::string_view event) {
    MultiPublishResult r;
    const auto refuse = [&r](PushError e, std::size_t i) {
        r.error = e;
        r.refused = i;
        return r;
    };
    for (std::size_t i = 0; i < channels.size(); ++i) {
        if (!config::is_valid_channel_name(channels[i]))
            return refuse(PushError::invalid_name, i);
        for (std::size_t j = 0; j < i; ++j)
            if (channels[j] == channels[i]) return refuse(PushError::invalid_name, i);
    }
    std::shared_lock<std::shared_mutex> gate(gate_);  // an upgrade's pause: see publish()
    if (paused_) return refuse(PushError::unavailable, 0);
    std::vector<std::shared_ptr<Channel>> chans;
    std::vector<std::string_view> created;
    std::size_t refused = 0;
    std::shared_lock<std::shared_mutex> shared(map_mutex_);
    std::unique_lock<std::shared_mutex> exclusive;
    PushError e = find_all(channels, false, chans, created, refused);
    if (std::find(chans.begin(), chans.end(), nullptr) != chans.end()) {
        shared.unlock();
        exclusive = std::unique_lock<std::shared_mutex>(map_mutex_);
        e = find_all(channels, true, chans, created, refused);
    }
    if (e != PushError::none) return refuse(e, refused);
    std::vector<Channel*> raw;
    std::vector<std::shared_ptr<Message>> msgs;
    raw.reserve(chans.size());
    msgs.reserve(chans.size());
    for (std::size_t i = 0; i < chans.size(); ++i) {
        raw.push_back(chans[i].get());
        msgs.push_back(std::make_shared<Message>(channels[i], std::string(data),
                                                 std::string(content_type), std::string(event)));
    }
    std::vector<Channel::Appended> out(chans.size());
    const std::size_t stop = Channel::append_all(
        std::span<Channel* const>(raw), std::span<std::shared_ptr<Message>>(msgs),
        [this](WorkerId w) { return publish_backlog_admits(w); },
        [this, &raw](std::size_t i, WorkerId w, const std::shared_ptr<const Message>& m) {
            enqueue(w, raw[i]->key(), m);
        },
        std::span<Channel::Appended>(out));
    if (stop != chans.size()) {
        for (std::string_view name : created) channels_.erase(channels_.find(name));
        if (exclusive) exclusive.unlock();
        else shared.unlock();
        // A closed channel cannot be met under the map lock; were it, it is gone: not_found.
        return refuse(out[stop].refused ? PushError::backlog : PushError::not_found, stop);
    }
    if (exclusive) exclusive.unlock();
    else shared.unlock();
    post_wakes();
    published_.fetch_add(chans.size(), std::memory_order_relaxed);
    r.results.reserve(chans.size());
    for (const Channel::Appended& a : out)
        r.results.push_back({PushError::none, a.message->id, a.message->epoch, a.subscribers});
    return r;
}

SubscribeResult MemoryBroker::subscribe(std::string_view channel, std::optional<Cursor> since,
                                        Subscriber& s, WorkerId worker) {
    SubscribeResult r;
    if (!config::is_valid_channel_name(channel)) {
        r.error = PushError::invalid_name;
        return r;
    }
    std::shared_ptr<Channel> ch;
    Channel::JoinStatus st = Channel::JoinStatus::closed;
    bool other_life = false;
    // As in publish(): a channel closed after the lookup is looked up once more.
    for (int attempt = 0; attempt < 2 && st == Channel::JoinStatus::closed; ++attempt) {
        PushError why = PushError::none;
        ch = find_or_autocreate(channel, true, why);
        if (!ch) {
            r.error = why;
            return r;
        }
        st = ch->join(worker, s.strategy(), in_life(since, *ch, other_life), r.history);
    }
    if (other_life) r.history.missed = true;
    if (st != Channel::JoinStatus::ok) {
        r.error = st == Channel::JoinStatus::full ? PushError::too_many_subscribers
                                                  : PushError::not_found;
        return r;
    }
    assert(worker < max_workers && workers_[worker]);
    LocalChannel& lc = workers_[worker]->local[ch->key()];
    if (!lc.channel) lc.channel = ch;
    const Slot slot{&s, r.history.last_id + 1};
    std::uint64_t index = lc.free_head;
    if (index != no_slot) {
        lc.free_head = lc.slots[index].next_id;
        lc.slots[index] = slot;
    } else {
        index = lc.slots.size();
        lc.slots.push_back(slot);
    }
    ++lc.live;
    count_subscriber(s.strategy(), true);
    r.subscription = Subscription(*this, SubscriptionKey{worker, ch->key(), index, &s});
    return r;
}

void MemoryBroker::unsubscribe(const SubscriptionKey& key) noexcept {
    AttachedLoop& wk = *workers_[key.worker];
    const auto it = wk.local.find(key.channel);
    if (it == wk.local.end()) return;  // channel closed (and swept) before
    LocalChannel& lc = it->second;
    if (key.slot >= lc.slots.size() || lc.slots[key.slot].sub != key.subscriber) return;
    lc.slots[key.slot] = Slot{nullptr, lc.free_head};
    lc.free_head = key.slot;
    --lc.live;
    lc.channel->leave(key.worker, key.subscriber->strategy());
    count_subscriber(key.subscriber->strategy(), false);
    if (lc.live == 0 && wk.depth == 0) wk.local.erase(it);
}

void MemoryBroker::drain(AttachedLoop& wk) noexcept {
    {
        std::lock_guard<std::mutex> lock(wk.inbox_mutex);
        wk.draining.swap(wk.inbox);  // both keep their capacity: no steady-state allocation
        wk.wake_pending = false;
    }
    std::uint64_t delivered = 0;
    ++wk.depth;
    for (const InboxItem& item : wk.draining) {
        const auto it = wk.local.find(item.channel);
        if (it == wk.local.end()) continue;  // nobody here any more
        if (item.msg) {
            const std::uint64_t k = deliver_local(it->second, item.msg);
            it->second.channel->note_delivered(k);
            delivered += k;
        }
        else
            close_local(it->second, item.reset);
    }
    --wk.depth;
    for (const InboxItem& item : wk.draining) {  // erase what emptied during delivery
        const auto it = wk.local.find(item.channel);
        if (it != wk.local.end() && it->second.live == 0) wk.local.erase(it);
    }
    wk.backlog.fetch_sub(wk.draining.size(), std::memory_order_relaxed);
    wk.draining.clear();
    wk.delivered.fetch_add(delivered, std::memory_order_relaxed);
}

std::uint64_t MemoryBroker::deliver_local(LocalChannel& lc,
                                          const std::shared_ptr<const Message>& m) noexcept {
    const std::uint64_t id = m->id;
    const std::size_t end = lc.slots.size();  // slots added by deliver() already have the id
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < end; ++i) {
        Slot& slot = lc.slots[i];  // not used after deliver(): slots may reallocate
        if (slot.sub == nullptr || slot.next_id > id) continue;
        slot.next_id = id + 1;
        slot.sub->deliver(m);
        ++n;
    }
    return n;
}

void MemoryBroker::close_local(LocalChannel& lc, bool reset) noexcept {
    for (std::size_t i = 0; i < lc.slots.size(); ++i) {
        Subscriber* sub = lc.slots[i].sub;
        if (sub == nullptr) continue;
        lc.slots[i].sub = nullptr;  // its Subscription is inert from here on
        --lc.live;
        count_subscriber(sub->strategy(), false);
        if (reset)
            sub->on_channel_reset();
        else
            sub->on_channel_closed();
    }
    lc.free_head = no_slot;
}

void MemoryBroker::close_and_wake(Channel& ch, bool reset) {
    const std::uint64_t key = ch.key();
    ch.close([this, key, reset](WorkerId w) { enqueue(w, key, nullptr, reset); });
    post_wakes();
}

PushError MemoryBroker::close_channel(std::string_view channel) {
    if (!config::is_valid_channel_name(channel)) return PushError::invalid_name;
    std::shared_lock<std::shared_mutex> gate(gate_);
    if (paused_) return PushError::unavailable;
    std::shared_ptr<Channel> ch;
    {
        std::unique_lock<std::shared_mutex> lock(map_mutex_);
        const auto it = channels_.find(channel);
        if (it == channels_.end()) return PushError::not_found;
        ch = std::move(it->second.channel);
        channels_.erase(it);
    }
    close_and_wake(*ch);
    return PushError::none;
}

void MemoryBroker::reconcile(const config::Config& cfg) {
    std::vector<std::shared_ptr<Channel>> removed;
    {
        std::unique_lock<std::shared_mutex> lock(map_mutex_);
        autocreate_ = cfg.channel_autocreate;
        autocreate_on_subscribe_ = cfg.autocreate_on_subscribe;
        idle_timeout_ = cfg.channel_idle_timeout;
        publish_backlog_.store(cfg.publish_backlog, std::memory_order_relaxed);
        max_channels_ = cfg.max_channels;
        autocreate_defaults_ = cfg.autocreate_defaults;
        std::unordered_set<std::string_view> declared;
        for (const config::ChannelConf& c : cfg.channels) {
            declared.insert(c.name);
            const auto it = channels_.find(c.name);
            if (it == channels_.end()) {
                channels_.emplace(c.name, ChannelEntry{make_channel(c), true});
            } else {
                it->second.channel->reconfigure(c);
                it->second.declared = true;
            }
        }
        for (auto it = channels_.begin(); it != channels_.end();) {
            if (declared.count(it->first) != 0) {
                ++it;
            } else if (!it->second.declared && autocreate_) {
                config::ChannelConf conf = autocreate_defaults_;
                conf.name = it->first;
                it->second.channel->reconfigure(conf);
                ++it;
            } else {
                removed.push_back(std::move(it->second.channel));
                it = channels_.erase(it);
            }
        }
    }
    for (const std::shared_ptr<Channel>& ch : removed) close_and_wake(*ch);
}

FetchResult MemoryBroker::fetch(std::string_view channel, std::optional<Cursor> since,
                                std::size_t limit) {
    FetchResult r;
    if (!config::is_valid_channel_name(channel)) {
        r.error = PushError::invalid_name;
    } else if (const std::shared_ptr<Channel> ch = find_or_autocreate(channel, true, r.error)) {
        r.error = PushError::none;
        bool other_life = false;
        r.history = ch->after(in_life(since, *ch, other_life), limit);
        if (other_life) r.history.missed = true;
    }
    return r;
}

std::size_t MemoryBroker::collect_idle() {
    const Clock::time_point now = clock_.now();
    Duration idle{0};
    std::vector<std::string> candidates;
    {
        std::shared_lock<std::shared_mutex> lock(map_mutex_);
        idle = idle_timeout_;
        if (idle.count() <= 0) return 0;
        for (const auto& [name, entry] : channels_)
            if (!entry.declared && entry.channel->idle(now, idle)) candidates.push_back(name);
    }
    if (candidates.empty()) return 0;
    std::vector<std::shared_ptr<Channel>> collected;  // freed after the lock is released
    {
        std::unique_lock<std::shared_mutex> lock(map_mutex_);
        for (const std::string& name : candidates) {
            const auto it = channels_.find(name);
            if (it == channels_.end() || it->second.declared ||
                !it->second.channel->close_if_idle(now, idle))
                continue;  // taken again (or replaced) since the scan
            collected.push_back(std::move(it->second.channel));
            channels_.erase(it);
        }
    }
    return collected.size();
}

InfoResult MemoryBroker::channel_info(std::string_view channel) {
    InfoResult r;
    if (!config::is_valid_channel_name(channel)) {
        r.error = PushError::invalid_name;
    } else if (const std::shared_ptr<Channel> ch = find(channel)) {
        r.info = ch->info();
    } else {
        r.error = PushError::not_found;
    }
    return r;
}

TopChannels MemoryBroker::top_channels(std::size_t n) {
    std::vector<std::shared_ptr<Channel>> all;
    {
        std::shared_lock<std::shared_mutex> lock(map_mutex_);
        all.reserve(channels_.size());
        for (const auto& [name, entry] : channels_) all.push_back(entry.channel);
    }
    std::vector<ChannelInfo> infos;
    infos.reserve(all.size());
    for (const std::shared_ptr<Channel>& ch : all) infos.push_back(ch->info());
    const auto top = [&infos, n](auto key) {
        std::vector<const ChannelInfo*> v;
        v.reserve(infos.size());
        for (const ChannelInfo& i : infos) v.push_back(&i);
        const std::size_t k = std::min(n, v.size());
        std::partial_sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end(),
                          [key](const ChannelInfo* a, const ChannelInfo* b) {
                              return key(*a) != key(*b) ? key(*a) > key(*b) : a->name < b->name;
                          });
        std::vector<ChannelInfo> out;
        for (std::size_t i = 0; i < k; ++i) out.push_back(*v[i]);
        return out;
    };
    TopChannels t;
    t.by_subscribers = top([](const ChannelInfo& i) { return double(i.total_subscribers); });
    t.by_publish_rate = top([](const ChannelInfo& i) { return i.publish_rate; });
    return t;
}

BrokerStats MemoryBroker::stats() const {
    BrokerStats s;
    s.published = published_.load(std::memory_order_relaxed);
    s.delivered = extra_delivered_.load(std::memory_order_relaxed);
    s.dropped = dropped_.load(std::memory_order_relaxed);
    {
        std::lock_guard<std::mutex> lock(workers_mutex_);
        for (std::size_t i = 0; i < worker_count_; ++i)
            s.delivered += workers_[i]->delivered.load(std::memory_order_relaxed);
    }
    for (std::size_t i = 0; i < strategy_count; ++i)
        s.subscribers[i] = subscribers_[i].load(std::memory_order_relaxed);
    std::shared_lock<std::shared_mutex> lock(map_mutex_);
    s.channels = channels_.size();
    return s;
}

PushError MemoryBroker::may_have(std::string_view channel, bool by_subscriber) {
    if (!config::is_valid_channel_name(channel)) return PushError::invalid_name;
    std::shared_lock<std::shared_mutex> lock(map_mutex_);
    if (channels_.find(channel) != channels_.end()) return PushError::none;
    if (!autocreate_ || (by_subscriber && !autocreate_on_subscribe_)) return PushError::not_found;
    return channels_.size() >= max_channels_ ? PushError::too_many_channels : PushError::none;
}

std::vector<ChannelSnapshot> MemoryBroker::snapshot() {
    std::vector<std::shared_ptr<Channel>> all;
    {
        std::shared_lock<std::shared_mutex> lock(map_mutex_);
        all.reserve(channels_.size());
        for (const auto& [name, entry] : channels_) all.push_back(entry.channel);
    }
    std::vector<ChannelSnapshot> out;
    out.reserve(all.size());
    for (const std::shared_ptr<Channel>& ch : all) {
        History h = ch->after(std::nullopt);
        out.push_back(ChannelSnapshot{ch->name(), h.epoch, h.last_id, std::move(h.messages)});
    }
    return out;
}

PushError MemoryBroker::adopt(std::string_view channel, std::uint64_t epoch, std::uint64_t last_id,
                              const std::vector<std::shared_ptr<Message>>& buffered) {
    if (!config::is_valid_channel_name(channel)) return PushError::invalid_name;
    std::shared_ptr<Channel> old;
    std::shared_ptr<Channel> fresh;
    {
        std::unique_lock<std::shared_mutex> lock(map_mutex_);
        auto it = channels_.find(channel);
        if (it != channels_.end() && it->second.channel->epoch() == epoch) {
            const std::uint64_t have = it->second.channel->last_id();
            const bool covered = have == last_id ||
                                 (have < last_id && !buffered.empty() &&
                                  buffered.front()->id <= have + 1);
            if (covered) {
                const std::shared_ptr<Channel> ch = it->second.channel;
                lock.unlock();
                for (const std::shared_ptr<Message>& m : buffered)
                    if (m->id > have) append_at(m);
                return PushError::none;
            }
        }
        config::ChannelConf conf = autocreate_defaults_;
        conf.name = std::string(channel);
        if (it != channels_.end()) {
            conf = it->second.channel->info().conf;
            old = std::move(it->second.channel);
        } else {
            it = channels_.emplace(std::string(channel), ChannelEntry{nullptr, false}).first;
        }
        fresh = std::make_shared<Channel>(std::move(conf), clock_, next_key_++, epoch);
        it->second.channel = fresh;
    }
    // Nothing subscribes to fresh yet: the buffered messages are stored, not fanned out.
    (void)fresh->start_after(buffered.empty() ? last_id : buffered.front()->id - 1);
    for (const std::shared_ptr<Message>& m : buffered)
        (void)fresh->append_next(m, m->id, [](WorkerId, const std::shared_ptr<const Message>&) {});
    if (old) close_and_wake(*old, true);
    return PushError::none;
}

bool MemoryBroker::append_at(std::shared_ptr<Message> m) {
    const std::shared_ptr<Channel> ch = find(m->channel);
    if (!ch || ch->epoch() != m->epoch) return false;
    const std::uint64_t key = ch->key();
    const std::uint64_t id = m->id;
    const Channel::Appended a =
        ch->append_next(std::move(m), id, [this, key](WorkerId w, const std::shared_ptr<const Message>& msg) {
            enqueue(w, key, msg);
        });
    post_wakes();
    if (!a.message) return false;
    published_.fetch_add(1, std::memory_order_relaxed);
    return true;
}

bool MemoryBroker::forget(std::string_view channel) {
    std::shared_ptr<Channel> ch;
    {
        std::unique_lock<std::shared_mutex> lock(map_mutex_);
        const auto it = channels_.find(channel);
        if (it == channels_.end() || it->second.declared ||
            it->second.channel->subscriber_count() != 0)
            return false;
        ch = std::move(it->second.channel);
        channels_.erase(it);
    }
    close_and_wake(*ch);
    return true;
}

bool MemoryBroker::forget_idle(std::string_view channel, Duration idle) {
    std::unique_lock<std::shared_mutex> lock(map_mutex_);
    const auto it = channels_.find(channel);
    if (it == channels_.end() || it->second.declared ||
        !it->second.channel->close_if_idle(clock_.now(), idle))
        return false;
    std::shared_ptr<Channel> gone = std::move(it->second.channel);
    channels_.erase(it);
    lock.unlock();
    gone.reset();  // freed after the lock is released
    return true;
}

} // namespace

std::unique_ptr<LocalBroker> make_memory_broker(Clock& clock) {
    return std::make_unique<MemoryBroker>(clock);
}

} // namespace herald::push
