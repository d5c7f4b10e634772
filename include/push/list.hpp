// A request that follows a channel list (HTTP strategies): each channel's state and position
// (its compound-cursor entry), the subscriber that follows one channel of the list, and the
// chain that subscribes them one after the other. The wire forms are in push/cursor.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "push/admission.hpp"
#include "push/broker.hpp"
#include "push/broker_wait.hpp"
#include "push/presence.hpp"
#include "push/strategy.hpp"

namespace herald::push {

// One channel of the list: what the client asked (since) and got (history), and where it
// stands. Owned by the request's strategy object; no thread of its own.
struct ListEntry {
    std::string channel;
    std::optional<Cursor> since;  // the client's resume point on this channel (none: live)
    History history;              // the broker's answer, then live messages not yet sent
    std::uint64_t epoch = 0;      // its cursor entry (push/cursor.hpp)
    std::uint64_t seq = 0;
};

// One entry per channel of t.channels, with its resume point from t.list_since.
std::vector<ListEntry> make_list_entries(const Target& t);

// Sets e's position to just before what its history holds for the client: the client's own
// resume point while a missed signal is still owed, else before the first pending message,
// else the channel's newest id.
void settle(ListEntry& e) noexcept;

// The compound cursor of every entry's position, in list order.
std::string list_cursor(const std::vector<ListEntry>& entries);

// The entry whose first pending message was published first (ties: list order); else the first
// entry that lost the client's resume point (missed, nothing buffered); npos when none.
std::size_t pick_pending(const std::vector<ListEntry>& entries) noexcept;

// {"channel":"NAME","since":"E-5","first":"E-12"}: the missed signal of one entry.
std::string list_missed_json(const ListEntry& e);

// Polling and long-polling: answers with entry i (pick_pending) now: its first pending message
// (its position advanced to it), or, when it has none, 204 with X-Herald-Missed (its position
// moved to its newest id). The other entries keep their settled positions in the ETag.
void respond_list_pick(PushHost& h, http::HttpSession& s, std::vector<ListEntry>& entries,
                       std::size_t i, config::PushFormat format, std::string_view cors_origin);

// A list answer without a message (204 every channel empty, 304 nothing newer): ETag "CURSOR".
void respond_list_status(http::HttpSession& s, int status, const std::vector<ListEntry>& entries,
                         std::string_view cors_origin);

// What a list request's owner hears from the subscribers of its channels (index: the entry).
class LegOwner {
public:
    virtual void leg_message(std::size_t i, const std::shared_ptr<const Message>& m) noexcept = 0;
    virtual void leg_closed(std::size_t i) noexcept = 0;
    virtual void leg_reset(std::size_t i) noexcept = 0;

protected:
    ~LegOwner() = default;
};

// The subscriber of one channel of a list (the broker knows a subscription by its subscriber,
// so each channel gets its own): forwards to its owner with its index. Holds the channel's
// Target (what Presence and Admission point to), its presence, admission and subscription.
// Lives in its owner, on its worker's thread.
class Leg final : public Subscriber {
public:
    Leg(LegOwner& owner, std::size_t index, config::PushStrategy kind, const Target& list);

    void deliver(const std::shared_ptr<const Message>& m) noexcept override {
        owner_.leg_message(index_, m);
    }
    void on_channel_closed() noexcept override { owner_.leg_closed(index_); }
    void on_channel_reset() noexcept override { owner_.leg_reset(index_); }

    const Target& target() const noexcept { return t_; }
    // Reports the join and registers the admission (after the response started).
    void admit(PushHost& h, http::HttpSession& s, Revocable& r);
    // No callback after this.
    void stop() noexcept {
        sub.reset();
        admission_.reset();
    }
    // Stopped for a binary upgrade: it goes on in the new process (no leave reported).
    void hand_over() noexcept {
        stop();
        presence_.release();
    }

private:
    LegOwner& owner_;
    std::size_t index_;
    Target t_;             // this channel alone
    Presence presence_;    // reports the leave after the unsubscribe
    Admission admission_;  // after t_, which it points to

public:
    Subscription sub;  // last: unsubscribes first
};

using Legs = std::vector<std::unique_ptr<Leg>>;
Legs make_legs(LegOwner& owner, config::PushStrategy kind, const Target& t);

// Subscribes ctx.legs()[ctx.next ..] one after the other, each answer into
// ctx.entries()[i] (history and subscription), then calls Ctx::all_subscribed(h, s, ctx). On a
// broker error, responds with it (Ctx's owner then drops every subscription made so far).
template <class Ctx>
void subscribe_legs(PushHost& h, http::HttpSession& s, Ctx& ctx);

namespace detail {
template <class Ctx>
void leg_subscribed(PushHost& h, http::HttpSession& s, Ctx& ctx, SubscribeResult&& r) {
    if (r.error != PushError::none) {
        respond_push_error(s, r.error);
        return;
    }
    ListEntry& e = ctx.entries()[ctx.next];
    // Live messages that came before this answer (a broker that answers later) follow it.
    std::vector<std::shared_ptr<const Message>> early = std::move(e.history.messages);
    e.history = std::move(r.history);
    for (auto& m : early)
        if (m->epoch == e.history.epoch && m->id > e.history.last_id)
            e.history.messages.push_back(std::move(m));
    ctx.legs()[ctx.next]->sub = std::move(r.subscription);
    if (++ctx.next < ctx.legs().size()) subscribe_legs(h, s, ctx);
    else Ctx::all_subscribed(h, s, ctx);
}
} // namespace detail

template <class Ctx>
void subscribe_legs(PushHost& h, http::HttpSession& s, Ctx& ctx) {
    Leg& leg = *ctx.legs()[ctx.next];
    await_broker<SubscribeResult&&>(
        h, s, ctx,
        [&h, &leg](SubscribeDone done) {
            return h.broker().subscribe_async(h.broker_worker(), leg.target().channel,
                                              leg.target().since, leg, std::move(done));
        },
        &detail::leg_subscribed<Ctx>);
}

} // namespace herald::push
