// Test support: DeferredBroker, a Broker that answers every *_async call later, as a broker
// with a remote store does: the answer is posted to the asking worker's loop (the PostFn given
// to attach_worker), at once or when the test releases it. The work itself (publish, subscribe,
// fetch, ...) is done by the wrapped LocalBroker when the answer runs, so what was published
// meanwhile is in a later subscriber's history. It can be told to answer unavailable, and to
// reset a channel (each subscriber gets on_channel_reset()). A call cancelled (its BrokerCall
// reset or destroyed) before its answer runs is never answered. Single-threaded tests only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "push/broker.hpp"

namespace herald::test {

class DeferredBroker final : public push::Broker {
public:
    // inner holds the channels; it must outlive this broker.
    explicit DeferredBroker(push::LocalBroker& inner) : inner_(inner) {}
    ~DeferredBroker() override = default;

    // While held, answers wait until release() (then they are posted in call order).
    void hold(bool on) {
        held_ = on;
        if (!on) release();
    }
    void release();
    // Every call from now on is answered PushError::unavailable without reaching the channels.
    void set_unavailable(bool on) noexcept { unavailable_ = on; }
    // Ends every live subscription of channel as a store that lost its history would: the
    // subscription goes, then the subscriber gets on_channel_reset(). Returns how many.
    std::size_t reset_channel(std::string_view channel);

    std::size_t calls() const noexcept { return calls_; }
    std::size_t answered() const noexcept { return answered_; }
    std::size_t cancelled() const noexcept { return cancelled_; }
    std::size_t pending() const noexcept { return waiting_.size(); }  // neither answered nor cancelled
    std::size_t subscriptions() const noexcept { return subs_.size(); }

    push::WorkerId attach_worker(push::PostFn post) override;
    push::BrokerCall publish_async(push::WorkerId worker, std::string_view channel,
                                   std::string_view data, std::string_view content_type,
                                   std::string_view event, push::PublishDone done) override;
    push::BrokerCall publish_many_async(push::WorkerId worker,
                                        std::span<const std::string> channels,
                                        std::string_view data, std::string_view content_type,
                                        std::string_view event,
                                        push::MultiPublishDone done) override;
    push::BrokerCall subscribe_async(push::WorkerId worker, std::string_view channel,
                                     std::optional<push::Cursor> since, push::Subscriber& s,
                                     push::SubscribeDone done) override;
    push::BrokerCall fetch_async(push::WorkerId worker, std::string_view channel,
                                 std::optional<push::Cursor> since, std::size_t limit,
                                 push::FetchDone done) override;
    push::BrokerCall channel_info_async(push::WorkerId worker, std::string_view channel,
                                        push::InfoDone done) override;
    push::BrokerCall close_channel_async(push::WorkerId worker, std::string_view channel,
                                         push::CloseDone done) override;

    void reconcile(const config::Config& cfg) override { inner_.reconcile(cfg); }
    std::size_t collect_idle() override { return inner_.collect_idle(); }
    push::BrokerStats stats() const override { return inner_.stats(); }
    void note_delivered(std::uint64_t n, std::string_view channel = {}) noexcept override {
        inner_.note_delivered(n, channel);
    }
    void note_dropped(std::uint64_t n, std::string_view channel = {}) noexcept override {
        inner_.note_dropped(n, channel);
    }
    push::TopChannels top_channels(std::size_t n) override { return inner_.top_channels(n); }

protected:
    void unsubscribe(const push::SubscriptionKey& key) noexcept override;

private:
    // answer(ok): runs the operation (ok) or answers unavailable (!ok), and calls done.
    push::BrokerCall defer(push::WorkerId worker, std::function<void(bool)> answer);
    void post(std::uint64_t id);
    void run(std::uint64_t id);

    struct Waiting {
        push::WorkerId worker;
        std::function<void(bool)> answer;
        bool unavailable;
    };
    struct Sub {
        std::string channel;
        push::Subscriber* subscriber;
        push::Subscription inner;
    };

    push::LocalBroker& inner_;
    std::map<std::uint64_t, Waiting> waiting_;  // by call id
    std::vector<std::uint64_t> held_ids_;
    std::map<std::uint64_t, Sub> subs_;  // by our slot
    std::uint64_t next_id_ = 0, next_slot_ = 0;
    std::size_t calls_ = 0, answered_ = 0, cancelled_ = 0;
    bool held_ = false, unavailable_ = false;
};

} // namespace herald::test
