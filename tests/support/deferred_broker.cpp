// DeferredBroker: answers later, on the asking worker's loop (see the header).
#include "support/deferred_broker.hpp"

#include <utility>

namespace herald::test {

using push::PushError;

push::WorkerId DeferredBroker::attach_worker(push::PostFn post) {
    return inner_.attach_worker(std::move(post));
}

push::BrokerCall DeferredBroker::defer(push::WorkerId worker, std::function<void(bool)> answer) {
    const std::uint64_t id = ++next_id_;
    ++calls_;
    waiting_.emplace(id, Waiting{worker, std::move(answer), unavailable_});
    if (held_) held_ids_.push_back(id);
    else post(id);
    return push::BrokerCall([this, id] {
        if (waiting_.erase(id) != 0) ++cancelled_;
    });
}

void DeferredBroker::post(std::uint64_t id) {
    auto it = waiting_.find(id);
    if (it == waiting_.end()) return;  // cancelled while held
    inner_.post_to(it->second.worker, [this, id] { run(id); });
}

void DeferredBroker::release() {
    std::vector<std::uint64_t> ids;
    ids.swap(held_ids_);
    for (std::uint64_t id : ids) post(id);
}

// The call is forgotten before done runs: resetting its BrokerCall from inside done (or
// after) does nothing, as the interface requires.
void DeferredBroker::run(std::uint64_t id) {
    auto it = waiting_.find(id);
    if (it == waiting_.end()) return;  // cancelled after it was posted
    Waiting w = std::move(it->second);
    waiting_.erase(it);
    ++answered_;
    w.answer(!w.unavailable);
}

push::BrokerCall DeferredBroker::publish_async(push::WorkerId worker, std::string_view channel,
                                               std::string_view data,
                                               std::string_view content_type,
                                               std::string_view event, push::PublishDone done) {
    return defer(worker, [this, ch = std::string(channel), d = std::string(data),
                          type = std::string(content_type), ev = std::string(event),
                          done = std::move(done)](bool ok) {
        if (!ok) {
            done(push::PublishResult{PushError::unavailable, 0, 0, 0});
            return;
        }
        done(inner_.publish(ch, d, type, ev));
    });
}

push::BrokerCall DeferredBroker::publish_many_async(push::WorkerId worker,
                                                    std::span<const std::string> channels,
                                                    std::string_view data,
                                                    std::string_view content_type,
                                                    std::string_view event,
                                                    push::MultiPublishDone done) {
    return defer(worker, [this, chs = std::vector<std::string>(channels.begin(), channels.end()),
                          d = std::string(data), type = std::string(content_type),
                          ev = std::string(event), done = std::move(done)](bool ok) {
        if (!ok) {
            done(push::MultiPublishResult{PushError::unavailable, 0, {}});
            return;
        }
        done(inner_.publish_many(chs, d, type, ev));
    });
}

push::BrokerCall DeferredBroker::subscribe_async(push::WorkerId worker, std::string_view channel,
                                                 std::optional<push::Cursor> since,
                                                 push::Subscriber& s, push::SubscribeDone done) {
    return defer(worker, [this, worker, ch = std::string(channel), since, &s,
                          done = std::move(done)](bool ok) {
        push::SubscribeResult r;
        if (!ok) {
            r.error = PushError::unavailable;
            done(std::move(r));
            return;
        }
        r = inner_.subscribe(ch, since, s, worker);
        if (r.subscription) {
            const std::uint64_t slot = ++next_slot_;
            subs_.emplace(slot, Sub{ch, &s, std::move(r.subscription)});
            r.subscription = push::Subscription(*this, push::SubscriptionKey{worker, 0, slot, &s});
        }
        done(std::move(r));
    });
}

push::BrokerCall DeferredBroker::fetch_async(push::WorkerId worker, std::string_view channel,
                                             std::optional<push::Cursor> since,
                                             std::size_t limit, push::FetchDone done) {
    return defer(worker, [this, ch = std::string(channel), since, limit,
                          done = std::move(done)](bool ok) {
        if (!ok) {
            done(push::FetchResult{PushError::unavailable, {}});
            return;
        }
        done(inner_.fetch(ch, since, limit));
    });
}

push::BrokerCall DeferredBroker::channel_info_async(push::WorkerId worker,
                                                    std::string_view channel,
                                                    push::InfoDone done) {
    return defer(worker, [this, ch = std::string(channel), done = std::move(done)](bool ok) {
        if (!ok) {
            done(push::InfoResult{PushError::unavailable, {}});
            return;
        }
        done(inner_.channel_info(ch));
    });
}

push::BrokerCall DeferredBroker::close_channel_async(push::WorkerId worker,
                                                     std::string_view channel,
                                                     push::CloseDone done) {
    return defer(worker, [this, ch = std::string(channel), done = std::move(done)](bool ok) {
        done(ok ? inner_.close_channel(ch) : PushError::unavailable);
    });
}

void DeferredBroker::unsubscribe(const push::SubscriptionKey& key) noexcept {
    subs_.erase(key.slot);  // unknown (reset already): nothing
}

std::size_t DeferredBroker::reset_channel(std::string_view channel) {
    std::vector<std::uint64_t> slots;
    for (const auto& [slot, sub] : subs_)
        if (sub.channel == channel) slots.push_back(slot);
    std::size_t n = 0;
    for (std::uint64_t slot : slots) {
        auto it = subs_.find(slot);
        if (it == subs_.end()) continue;  // an earlier subscriber's reset ended it
        push::Subscriber* s = it->second.subscriber;
        subs_.erase(it);  // the inner subscription ends first: nothing more arrives
        s->on_channel_reset();
        ++n;
    }
    return n;
}

} // namespace herald::test
