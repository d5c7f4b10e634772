// long-polling: the next message after ?since= at once if buffered, else the request is held
// (a subscriber with one timer, no thread, no scan) until a message arrives -> 200, the
// longpoll_timeout passes -> 304, the channel is deleted -> 410, the subscriber's token expires
// -> 401, or the publisher API revokes it -> 403. A channel list: the first message of any of
// its channels, ETag the compound cursor (push/cursor.hpp), X-Herald-Channel its channel.
#include "core/log.hpp"
#include "http/session.hpp"
#include "push/broker_wait.hpp"
#include "push/presence.hpp"
#include "push/admission.hpp"
#include "push/cursor.hpp"
#include "push/list.hpp"
#include "push/strategy.hpp"

namespace herald::push {
namespace {

// A held request whose token expired (401) or whose subscriber was revoked (403).
void respond_access_end(http::HttpSession& s, AccessEnd why, const std::string& origin) {
    const int status = why == AccessEnd::expired ? 401 : 403;
    http::ResponseHead head(status);
    head.header("Content-Type", "text/html").header("Cache-Control", "no-store");
    if (why == AccessEnd::expired) head.header("WWW-Authenticate", bearer_invalid_token);
    http::add_cors_headers(head, origin);
    s.respond(std::move(head), http::error_page(status));
}

// A held request as a binary upgrade hands it over (the position is the caller's).
void describe_held(net::LiveState& st, const Target& t, const std::string& origin) {
    st.kind = net::LiveState::Kind::held;
    st.strategy = static_cast<std::uint8_t>(config::PushStrategy::long_polling);
    st.channels = channel_label(t);
    st.format = static_cast<std::uint8_t>(t.format);
    st.sub = t.sub;
    st.expires_at = t.expires_at;
    st.origin = origin;
}

class HeldPoll final : public http::Responder, public Subscriber, public Revocable {
public:
    HeldPoll(PushHost& h, http::HttpSession& s, Target t, std::string origin)
        : Subscriber(config::PushStrategy::long_polling), h_(h), s_(s), t_(std::move(t)),
          origin_(std::move(origin)) {}

    // last: the newest id when subscribed (the ETag of a timed-out answer).
    void start(Subscription sub, Duration timeout, std::string last) {
        sub_ = std::move(sub);
        presence_ = Presence(h_, s_, t_, strategy());
        last_ = std::move(last);
        timer_ = s_.connection().loop().add_timer(timeout, [this] { expire(); });
        admission_ = Admission(h_.admissions(), s_.connection().loop(), t_, *this);
    }

    void end_access(AccessEnd why) noexcept override {
        if (done_) return;
        finish();
        respond_access_end(s_, why, origin_);
    }

    void deliver(const std::shared_ptr<const Message>& m) noexcept override {
        if (done_) return;
        finish();
        respond_message(s_, m, t_.format, false, origin_);  // destroys *this after dispatch
        s_.connection().out().stamp_delivery(
            m->published_steady, h_.latency(config::PushStrategy::long_polling));
    }

    void on_channel_closed() noexcept override {
        if (done_) return;
        finish();
        s_.respond_error(410);
    }

    // As on a graceful stop: the client polls again with the same cursor (and learns then
    // that the history before it is gone).
    void on_channel_reset() noexcept override { expire(); }

    void on_shutdown() noexcept override { expire(); }

    // Unanswered: the new process serves the request again from the newest id seen here.
    net::Handing hand_over(net::LiveState& st) noexcept override {
        if (!handed_) {
            if (done_) return net::Handing::never;
            finish();
            handed_ = true;
        }
        describe_held(st, t_, origin_);
        st.position = !last_.empty() ? last_
                      : t_.since && !t_.since->foreign
                          ? position_text(t_.since->epoch, t_.since->seq)
                          : std::string("0");
        return net::Handing::ready;
    }

    const Target& target() const noexcept { return t_; }
    const std::string& origin() const noexcept { return origin_; }

    void cancel() noexcept override { finish(); }

private:
    // No callback runs after this: the subscription, the timeout and the admission end.
    void finish() noexcept {
        done_ = true;
        sub_.reset();
        timer_.cancel();
        admission_.reset();
    }

    void expire() {
        if (done_) return;
        finish();
        http::ResponseHead head(304);
        head.header("Cache-Control", "no-cache");
        if (!last_.empty()) head.header("ETag", "\"" + last_ + "\"");
        http::add_cors_headers(head, origin_);
        s_.respond(std::move(head), {});
    }

    PushHost& h_;
    http::HttpSession& s_;
    Target t_;
    std::string origin_;
    std::string last_;
    Timer timer_;
    Admission admission_;  // after t_, which it points to
    bool done_ = false;
    bool handed_ = false;  // frozen for a binary upgrade
    Presence presence_;  // a held poll is a subscriber until it is answered
    Subscription sub_;  // last: unsubscribes before the rest is destroyed
};

// A long-poll over a channel list: one Leg per channel, held until any of them has a message
// after its cursor entry; answers that one message (ETag: the compound cursor advanced for its
// channel only, X-Herald-Channel), 304 with the cursor on timeout, 410 when any channel of the
// list is deleted, 401/403 when its access ends.
class HeldList final : public http::Responder, public Revocable, public LegOwner {
public:
    HeldList(PushHost& h, http::HttpSession& s, Target t, std::string origin)
        : h_(h), s_(s), t_(std::move(t)), origin_(std::move(origin)),
          entries_(make_list_entries(t_)),
          legs_(make_legs(*this, config::PushStrategy::long_polling, t_)) {}

    std::vector<ListEntry>& entries() noexcept { return entries_; }
    Legs& legs() noexcept { return legs_; }
    const Target& target() const noexcept { return t_; }
    const std::string& origin() const noexcept { return origin_; }
    // A channel of the list was deleted or reset while the others were being subscribed.
    bool closed_early() const noexcept { return closed_early_; }

    void hold(Duration timeout) {
        held_ = true;
        timer_ = s_.connection().loop().add_timer(timeout, [this] { expire(); });
        for (const auto& leg : legs_) leg->admit(h_, s_, *this);
    }

    void leg_message(std::size_t i, const std::shared_ptr<const Message>& m) noexcept override {
        if (done_) return;
        if (!held_) {  // still subscribing the other channels: answered once they are
            entries_[i].history.messages.push_back(m);
            return;
        }
        finish();
        entries_[i].epoch = m->epoch;
        entries_[i].seq = m->id;
        respond_message(s_, m, t_.format, false, origin_, list_cursor(entries_));
        s_.connection().out().stamp_delivery(
            m->published_steady, h_.latency(config::PushStrategy::long_polling));
    }

    void leg_closed(std::size_t) noexcept override {
        if (done_) return;
        if (!held_) {
            closed_early_ = true;
            return;
        }
        finish();
        s_.respond_error(410);
    }

    void leg_reset(std::size_t) noexcept override {
        if (held_) expire();
        else closed_early_ = true;
    }

    void end_access(AccessEnd why) noexcept override {
        if (done_) return;
        finish();
        respond_access_end(s_, why, origin_);
    }

    void on_shutdown() noexcept override { expire(); }
    void cancel() noexcept override { finish(); }

    net::Handing hand_over(net::LiveState& st) noexcept override {
        if (!handed_) {
            if (done_) return net::Handing::never;
            if (!held_) return net::Handing::later;
            finish();
            handed_ = true;
        }
        describe_held(st, t_, origin_);
        st.position = list_cursor(entries_);
        return net::Handing::ready;
    }

    // No callback runs after this.
    void finish() noexcept {
        done_ = true;
        timer_.cancel();
        for (const auto& leg : legs_) leg->stop();
    }

private:
    void expire() {
        if (done_) return;
        finish();
        respond_list_status(s_, 304, entries_, origin_);
    }

    PushHost& h_;
    http::HttpSession& s_;
    Target t_;
    std::string origin_;
    std::vector<ListEntry> entries_;
    Timer timer_;
    bool held_ = false;
    bool done_ = false;
    bool handed_ = false;
    bool closed_early_ = false;
    Legs legs_;  // last: unsubscribe first
};

// What a list long-poll needs while its channels are subscribed one after the other.
struct ListPollStart {
    std::unique_ptr<HeldList> held;
    std::size_t next = 0;

    Legs& legs() noexcept { return held->legs(); }
    std::vector<ListEntry>& entries() noexcept { return held->entries(); }
    static void all_subscribed(PushHost& w, http::HttpSession& s, ListPollStart& ctx) {
        HeldList& h = *ctx.held;
        if (h.closed_early()) {
            h.finish();
            s.respond_error(410);
            return;
        }
        std::vector<ListEntry>& list = h.entries();
        for (ListEntry& e : list) settle(e);
        if (const std::size_t i = pick_pending(list); i != std::string::npos) {
            h.finish();  // answered now, not held
            respond_list_pick(w, s, list, i, h.target().format, h.origin());
            return;
        }
        s.hold(std::move(ctx.held));
        h.hold(s.location().limits.longpoll_timeout);
    }
};

class LongPolling final : public Strategy {
public:
    Resume native_since(const http::HttpSession& s) const override {
        return parse_if_none_match(s.request().header("If-None-Match"));
    }
    std::string_view native_cursor(const http::HttpSession& s) const override {
        return unquote_list_tag(s.request().header("If-None-Match"));
    }

    void serve(PushHost& w, http::HttpSession& s, Target& t) const override {
        if (!t.channels.empty()) {
            ListPollStart ctx{std::make_unique<HeldList>(w, s, t, std::string(s.cors_origin()))};
            subscribe_legs(w, s, ctx);
            return;
        }
        auto held = std::make_unique<HeldPoll>(w, s, t, std::string(s.cors_origin()));
        HeldPoll& h = *held;
        await_broker<SubscribeResult&&>(
            w, s, held,
            [&w, &h](SubscribeDone done) {
                return w.broker().subscribe_async(w.broker_worker(), h.target().channel,
                                                  h.target().since, h, std::move(done));
            },
            &LongPolling::subscribed);
    }

private:
    static void subscribed(PushHost& w, http::HttpSession& s, std::unique_ptr<HeldPoll>& held,
                           SubscribeResult&& r) {
        if (r.error != PushError::none) {
            respond_push_error(s, r.error);
            return;
        }
        const Target& t = held->target();
        if (!r.history.messages.empty()) {  // already buffered: answer now, do not hold
            r.subscription.reset();
            w.broker().note_delivered(1, t.channel);  // live deliveries count in the broker
            respond_message(s, r.history.messages.front(), t.format, r.history.missed,
                            held->origin());
            return;
        }
        if (r.history.missed) {
            // The resume point is gone and nothing is buffered: say so now, not by silence.
            r.subscription.reset();
            http::ResponseHead head(204);
            head.header("Cache-Control", "no-cache").header("X-Herald-Missed", "1");
            if (r.history.last_id)
                head.header("ETag", "\"" + message_id(r.history.epoch, r.history.last_id) + "\"");
            http::add_cors_headers(head, held->origin());
            s.respond(std::move(head), {});
            return;
        }
        HeldPoll& h = *held;
        s.hold(std::move(held));
        h.start(std::move(r.subscription), s.location().limits.longpoll_timeout,
                r.history.last_id ? message_id(r.history.epoch, r.history.last_id) : std::string());
    }
};

} // namespace

const Strategy& long_polling_strategy() {
    static const LongPolling p;
    return p;
}

} // namespace herald::push
