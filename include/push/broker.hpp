// The broker: named channels shared by every worker thread, publish, subscribe with lossless
// resume, and cross-thread fan-out (DESIGN.md "Publish path", "Broker boundary").
// Broker is the interface the strategies and the publisher use: asynchronous where a broker
// answers later (the Redis broker waits for Redis), each answer on the asking worker's loop
// thread. LocalBroker is the in-process broker, synchronous (make_memory_broker()); its
// asynchronous forms answer at once. The Redis broker keeps a LocalBroker as its node's copy
// of the channels it serves and fans out through it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "core/clock.hpp"
#include "event/event_loop.hpp"
#include "push/channel.hpp"
#include "push/message.hpp"
#include "push/resume.hpp"

namespace herald::push {

class Broker;

enum class PushError : std::uint8_t {
    none,
    not_found,             // no such channel (and no autocreate) or it was closed -> 404
    invalid_name,          // not [A-Za-z0-9_.:-]{1,128} -> 400
    too_many_subscribers,  // channel max_subscribers reached
    too_many_channels,     // autocreate past max_channels -> 503
    backlog,               // a subscribed worker is publish_backlog messages behind -> 503
    unavailable,           // the broker's store (Redis) cannot be reached or did not answer -> 503
    cross_slot,            // a channel list whose keys lie in different Redis Cluster hash
                           // slots cannot be published atomically -> 400
};
const char* to_string(PushError e) noexcept;

// One subscriber (a connection's push strategy). Implemented by the strategies; not owned by
// the broker. It lives on one worker's loop thread, and the broker calls it only there.
//
// Delivery contract: after subscribe() returned history H, deliver() is called once for every
// message published later (id > H.last_id), in increasing id order, each id at most once; the
// broker drops the racing copies of ids <= H.last_id itself, so strategies need no dedupe.
// Inside deliver() or on_channel_closed() the subscriber may reset its own or any other
// Subscription, subscribe again, or publish. After on_channel_closed() nothing more arrives
// and the Subscription is inert. The Subscriber must outlive its Subscription.
class Subscriber {
public:
    config::PushStrategy strategy() const noexcept { return strategy_; }
    virtual void deliver(const std::shared_ptr<const Message>& m) noexcept = 0;
    virtual void on_channel_closed() noexcept = 0;
    // The channel's history was lost (its store restarted empty, or messages were trimmed
    // before this node could read them): what comes next cannot be placed after what this
    // subscriber has. It must end as on a graceful stop, so its client reconnects with its
    // last id and gets the "missed" signal. Nothing more arrives; the Subscription is inert.
    virtual void on_channel_reset() noexcept = 0;

protected:
    explicit Subscriber(config::PushStrategy s) noexcept : strategy_(s) {}
    ~Subscriber() = default;
    Subscriber(const Subscriber&) = delete;
    Subscriber& operator=(const Subscriber&) = delete;

private:
    config::PushStrategy strategy_;
};

// What a broker needs to find a subscription again; opaque to everyone else.
struct SubscriptionKey {
    WorkerId worker = 0;
    std::uint64_t channel = 0;  // broker-specific channel key
    std::uint64_t slot = 0;     // broker-specific
    Subscriber* subscriber = nullptr;
};

// RAII: destroying (or reset()) unsubscribes. Move-only. Must be destroyed on the subscriber's
// worker thread, before the Broker. Declare it after anything the Subscriber's callbacks use.
class Subscription {
public:
    Subscription() noexcept = default;
    Subscription(Broker& broker, const SubscriptionKey& key) noexcept  // for Broker implementations
        : broker_(&broker), key_(key) {}
    Subscription(Subscription&& o) noexcept;
    Subscription& operator=(Subscription&& o) noexcept;
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    ~Subscription() { reset(); }

    void reset() noexcept;
    explicit operator bool() const noexcept { return broker_ != nullptr; }

private:
    Broker* broker_ = nullptr;
    SubscriptionKey key_;
};

struct PublishResult {
    PushError error = PushError::none;
    std::uint64_t id = 0;
    std::uint64_t epoch = 0;        // the channel life id belongs to
    std::uint64_t subscribers = 0;  // subscribers of the channel when it was published
};

// A publish of one message to a channel list: all or none.
struct MultiPublishResult {
    PushError error = PushError::none;
    std::size_t refused = 0;             // on error: the index of the channel refused (0 when
                                         // the refusal is the whole list's: unavailable)
    std::vector<PublishResult> results;  // per channel, in list order; empty on error
};

struct SubscribeResult {
    PushError error = PushError::none;
    History history;            // send these first (and the "missed" signal if history.missed)
    Subscription subscription;  // live delivery; empty on error
};

struct FetchResult {
    PushError error = PushError::none;
    History history;
};

struct InfoResult {
    PushError error = PushError::none;
    ChannelInfo info;
};

// The busiest channels, at most n in each ranking (ties by name).
struct TopChannels {
    std::vector<ChannelInfo> by_subscribers;
    std::vector<ChannelInfo> by_publish_rate;
};

struct BrokerStats {
    std::uint64_t published = 0;
    std::uint64_t delivered = 0;  // deliver() calls plus note_delivered()
    std::uint64_t dropped = 0;    // note_dropped()
    StrategyCounts subscribers{};  // live subscriptions by PushStrategy
    std::uint64_t channels = 0;
};

// Posts fn to a worker's loop thread (EventLoop::post); called from any thread.
using PostFn = std::function<void(std::function<void()>)>;

// A broker answer that may come later. The *_async members call `done` exactly once, unless
// the call is cancelled first: either before they return (the LocalBroker; the BrokerCall is
// then empty) or later, on the asking worker's loop thread. Destroying or reset() before done
// ran cancels it: done never runs. After done ran, reset() does nothing. Move-only; used on
// the asking worker's thread only.
class BrokerCall {
public:
    BrokerCall() noexcept = default;
    explicit BrokerCall(std::function<void()> cancel) noexcept : cancel_(std::move(cancel)) {}
    BrokerCall(BrokerCall&& o) noexcept : cancel_(std::move(o.cancel_)) { o.cancel_ = nullptr; }
    BrokerCall& operator=(BrokerCall&& o) noexcept {
        if (this != &o) {
            reset();
            cancel_ = std::move(o.cancel_);
            o.cancel_ = nullptr;
        }
        return *this;
    }
    BrokerCall(const BrokerCall&) = delete;
    BrokerCall& operator=(const BrokerCall&) = delete;
    ~BrokerCall() { reset(); }
    void reset() noexcept {
        if (!cancel_) return;
        std::function<void()> c = std::move(cancel_);
        cancel_ = nullptr;
        c();
    }
    explicit operator bool() const noexcept { return static_cast<bool>(cancel_); }

private:
    std::function<void()> cancel_;
};

using PublishDone = std::function<void(const PublishResult&)>;
using MultiPublishDone = std::function<void(const MultiPublishResult&)>;
using SubscribeDone = std::function<void(SubscribeResult&&)>;
using FetchDone = std::function<void(FetchResult&&)>;
using InfoDone = std::function<void(const InfoResult&)>;
using CloseDone = std::function<void(PushError)>;

// Thread-safety: the *_async members and Subscription::reset() run on the asking worker's
// loop thread (the one whose WorkerId they name); every other member may be called from any
// thread. The broker must outlive every attached loop's run and every Subscription.
// Semantics of each operation: the LocalBroker's synchronous member of the same name.
class Broker {
public:
    virtual ~Broker() = default;

    // Registers a worker loop once, at startup (before it subscribes). Fan-out to it goes
    // through post. Throws std::length_error past max_workers (startup only).
    virtual WorkerId attach_worker(PostFn post) = 0;
    WorkerId attach_worker(EventLoop& loop) {
        return attach_worker([&loop](std::function<void()> fn) { loop.post(std::move(fn)); });
    }

    virtual BrokerCall publish_async(WorkerId worker, std::string_view channel,
                                     std::string_view data, std::string_view content_type,
                                     std::string_view event, PublishDone done) = 0;
    // One message to every channel of a list (distinct names, in the order given), all or
    // none: every channel is checked (name, exists or autocreate, max_channels, backlog) before
    // any message is stored, and a refusal stores nothing. Each channel gets its own id.
    virtual BrokerCall publish_many_async(WorkerId worker, std::span<const std::string> channels,
                                          std::string_view data, std::string_view content_type,
                                          std::string_view event, MultiPublishDone done) = 0;
    // A `source clock` tick: publishes data ("text/plain") unless another node published this
    // tick already (slot: the tick's number, wall-clock ms / interval; the id is then 0).
    virtual BrokerCall publish_tick_async(WorkerId worker, std::string_view channel,
                                          std::uint64_t slot, Duration interval,
                                          std::string_view data, PublishDone done) {
        (void)slot;
        (void)interval;
        return publish_async(worker, channel, data, "text/plain", {}, std::move(done));
    }
    // The Subscriber must outlive the call (cancel it first) and then its Subscription.
    virtual BrokerCall subscribe_async(WorkerId worker, std::string_view channel,
                                       std::optional<Cursor> since, Subscriber& s,
                                       SubscribeDone done) = 0;
    virtual BrokerCall fetch_async(WorkerId worker, std::string_view channel,
                                   std::optional<Cursor> since, std::size_t limit,
                                   FetchDone done) = 0;
    virtual BrokerCall channel_info_async(WorkerId worker, std::string_view channel,
                                          InfoDone done) = 0;
    virtual BrokerCall close_channel_async(WorkerId worker, std::string_view channel,
                                           CloseDone done) = 0;

    // Reload: channels still declared keep their buffer and ids (new settings apply), new ones
    // are created, removed ones are closed. Autocreated channels stay while channel_autocreate
    // is on (taking the new autocreate_defaults) and are closed when it is turned off.
    virtual void reconcile(const config::Config& cfg) = 0;

    // Removes every autocreated channel that is idle (Channel::idle() with the config's
    // channel_idle_timeout; never declared channels, never with channel_idle_timeout 0).
    // Call it periodically from any thread (the Redis broker: from its home loop, where it
    // drops this node's idle copies; Redis ends their lives itself); returns how many were
    // removed. A publisher or subscriber racing the removal gets a new life of the channel (or
    // not_found without autocreate), never a closed one.
    virtual std::size_t collect_idle() = 0;

    virtual BrokerStats stats() const = 0;
    // Strategies count what they send outside deliver() (history, polling) and what they drop.
    // channel (optional) also counts them in that channel's figures.
    virtual void note_delivered(std::uint64_t n, std::string_view channel = {}) noexcept = 0;
    virtual void note_dropped(std::uint64_t n, std::string_view channel = {}) noexcept = 0;
    // Info of the top n channels by subscribers and by publish rate. O(channels): meant for
    // /status reads, not for the request path.
    virtual TopChannels top_channels(std::size_t n) = 0;

protected:
    friend class Subscription;
    // Called by Subscription::reset() on the subscriber's thread; unknown keys are ignored.
    virtual void unsubscribe(const SubscriptionKey& key) noexcept = 0;
};

// One channel of the in-process broker as a binary upgrade hands it to the new process.
struct ChannelSnapshot {
    std::string name;
    std::uint64_t epoch = 0;
    std::uint64_t last_id = 0;                             // newest id of this life
    std::vector<std::shared_ptr<const Message>> messages;  // buffered, oldest first
};

// The in-process broker: every operation answers at once, and (but for subscribe()) from any
// thread.
class LocalBroker : public Broker {
public:
    // A binary upgrade moves the channels: from pause_publishing(true) on, publish() (clock
    // ticks included) and close_channel() answer unavailable (one in progress finishes first,
    // so a snapshot() taken after it is the channels' last state here); false resumes them
    // (the upgrade failed). snapshot(): every channel, its life, newest id and buffer.
    virtual void pause_publishing(bool paused) = 0;
    virtual std::vector<ChannelSnapshot> snapshot() = 0;

    // Publishes a copy of data. With channel_autocreate, an unknown channel is created with
    // autocreate_defaults unless max_channels exist. Back-pressure: when a worker with
    // subscribers of the channel has publish_backlog messages (or more) still waiting for
    // fan-out, nothing is stored and the error is backlog. Errors: invalid_name, not_found,
    // too_many_channels, backlog. event: the message's event name, already checked
    // (check_event_name), or "" for none.
    virtual PublishResult publish(std::string_view channel, std::string_view data,
                                  std::string_view content_type, std::string_view event) = 0;
    PublishResult publish(std::string_view channel, std::string_view data,
                          std::string_view content_type) {
        return publish(channel, data, content_type, {});
    }

    // publish() to every channel of the list at once, all or none: checked as publish() for
    // every channel (a name given twice is invalid_name), then stored under every channel's
    // lock, taken in one global order (so two of these never deadlock), and fanned out as
    // publish() does. Channels it autocreated go again if a later check refuses; the
    // channels autocreated must fit under max_channels together (too_many_channels names the
    // first that does not fit).
    virtual MultiPublishResult publish_many(std::span<const std::string> channels,
                                            std::string_view data, std::string_view content_type,
                                            std::string_view event) = 0;

    // On worker's thread. Returns the buffered messages after since (none without since) and,
    // with no gap, subscribes s for everything later (see Subscriber). A cursor of another
    // life of the channel (or a foreign one) is after nothing: every buffered message, and
    // history.missed. An unknown channel is created as by publish() when channel_autocreate
    // and channel_autocreate_on_subscribe are on. Errors: invalid_name, not_found,
    // too_many_subscribers, too_many_channels.
    virtual SubscribeResult subscribe(std::string_view channel, std::optional<Cursor> since,
                                      Subscriber& s, WorkerId worker) = 0;

    // Polling: Channel::after() semantics (without since: the newest `limit` messages), with
    // cursors of other lives and autocreation as in subscribe(). A poll counts as a
    // subscriber's visit for idle collection.
    virtual FetchResult fetch(std::string_view channel, std::optional<Cursor> since,
                              std::size_t limit) = 0;

    virtual InfoResult channel_info(std::string_view channel) = 0;

    // DELETE: removes the channel; each subscriber gets on_channel_closed() on its thread after
    // every message published before the close. Errors: invalid_name, not_found.
    virtual PushError close_channel(std::string_view channel) = 0;

    // The node copy of channels kept elsewhere (the Redis broker), not for the request path.
    // may_have(): none if the channel exists or subscribe()/publish() (by_subscriber or not)
    // would autocreate it; else not_found, invalid_name or too_many_channels.
    virtual PushError may_have(std::string_view channel, bool by_subscriber) = 0;
    // adopt(): makes the channel hold the life `epoch` whose newest id is last_id, with
    // `buffered` its newest messages (ids contiguous, ending at last_id; id and epoch set).
    // If the channel already lives that epoch, is at or behind last_id and buffered covers
    // every id after its own, the missing messages are appended and fanned out: continuous.
    // Otherwise (another epoch, a gap, or ahead of last_id) a new channel object takes its
    // place (created if need be, as autocreated, even past max_channels) and the subscribers
    // of the old one get on_channel_reset().
    virtual PushError adopt(std::string_view channel, std::uint64_t epoch, std::uint64_t last_id,
                            const std::vector<std::shared_ptr<Message>>& buffered) = 0;
    // Appends m (id, epoch and channel set) and fans it out if the channel exists, lives m's
    // epoch and m is its next id; false (nothing stored) otherwise.
    virtual bool append_at(std::shared_ptr<Message> m) = 0;
    // Removes an autocreated channel that has no subscriber; false if there is none such.
    virtual bool forget(std::string_view channel) = 0;
    // Removes an autocreated channel that is idle for `idle` as collect_idle() would
    // (Channel::close_if_idle); false if there is none such.
    virtual bool forget_idle(std::string_view channel, Duration idle) = 0;
    // Subscribers of the channel here (0 when there is no such channel). Any thread.
    virtual std::uint64_t subscriber_count(std::string_view channel) = 0;
    // Runs fn on an attached worker's loop, through the PostFn it was attached with.
    virtual void post_to(WorkerId worker, std::function<void()> fn) = 0;

    BrokerCall publish_async(WorkerId, std::string_view channel, std::string_view data,
                             std::string_view content_type, std::string_view event,
                             PublishDone done) final {
        done(publish(channel, data, content_type, event));
        return {};
    }
    BrokerCall publish_many_async(WorkerId, std::span<const std::string> channels,
                                  std::string_view data, std::string_view content_type,
                                  std::string_view event, MultiPublishDone done) final {
        done(publish_many(channels, data, content_type, event));
        return {};
    }
    BrokerCall subscribe_async(WorkerId worker, std::string_view channel,
                               std::optional<Cursor> since, Subscriber& s,
                               SubscribeDone done) final {
        done(subscribe(channel, since, s, worker));
        return {};
    }
    BrokerCall fetch_async(WorkerId, std::string_view channel, std::optional<Cursor> since,
                           std::size_t limit, FetchDone done) final {
        done(fetch(channel, since, limit));
        return {};
    }
    BrokerCall channel_info_async(WorkerId, std::string_view channel, InfoDone done) final {
        done(channel_info(channel));
        return {};
    }
    BrokerCall close_channel_async(WorkerId, std::string_view channel, CloseDone done) final {
        done(close_channel(channel));
        return {};
    }
};

// Upper bound on attach_worker() calls for the in-memory broker.
inline constexpr std::size_t max_workers = 1024;

// In-process broker. Channels come from reconcile(cfg); call it once at startup. clock gives
// steady time for ttl and must outlive the broker.
std::unique_ptr<LocalBroker> make_memory_broker(Clock& clock = Clock::system());

} // namespace herald::push
