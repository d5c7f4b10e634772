// Stream: chunked streaming responses shared by SSE and iframe.
#include "push/stream.hpp"

#include "core/log.hpp"
#include "push/broker_wait.hpp"
#include "push/encode.hpp"

namespace herald::push {

Stream::Stream(PushHost& h, http::HttpSession& s, config::PushStrategy kind, Target t)
    : Subscriber(kind), h_(h), latency_(h.latency(kind)), s_(s), t_(std::move(t)), chunked_(!s.http10()),
      limit_(s.location().limits.output_queue_limit) {
    if (!t_.channels.empty()) {
        entries_ = make_list_entries(t_);
        legs_ = make_legs(*this, kind, t_);
    }
}

Stream::~Stream() = default;

void Stream::write_own(std::string_view bytes) {
    std::string out;
    if (chunked_) append_chunk(out, bytes);
    else out.assign(bytes);
    s_.connection().out().push(std::move(out));
    s_.connection().flush_soon();
}

// What a stream needs until its subscription (each one, for a list) is answered.
struct StreamStart {
    std::unique_ptr<Stream> st;
    http::ResponseHead head;
    std::size_t next = 0;  // a list: the channel being subscribed

    Legs& legs() noexcept { return st->legs_; }
    std::vector<ListEntry>& entries() noexcept { return st->entries_; }
    static void all_subscribed(PushHost& h, http::HttpSession& s, StreamStart& ctx) {
        Stream::list_subscribed(h, s, ctx);
    }
};

void Stream::start(std::unique_ptr<Stream> st, http::ResponseHead&& head) {
    PushHost& h = st->h_;
    StreamStart ctx{std::move(st), std::move(head)};
    Stream& me = *ctx.st;
    if (!me.legs_.empty()) {
        subscribe_legs(h, me.s_, ctx);
        return;
    }
    await_broker<SubscribeResult&&>(
        h, me.s_, ctx,
        [&h, &me](SubscribeDone done) {
            return h.broker().subscribe_async(h.broker_worker(), me.t_.channel, me.t_.since, me,
                                              std::move(done));
        },
        &Stream::subscribed);
}

void Stream::subscribed(PushHost& h, http::HttpSession& s, StreamStart& ctx,
                        SubscribeResult&& r) {
    if (r.error != PushError::none) {
        respond_push_error(s, r.error);
        return;
    }
    Stream& me = *ctx.st;
    me.epoch_ = r.history.epoch;
    me.seq_ = r.history.last_id;
    if (me.t_.handed) {  // the head and preamble went out from the process before an upgrade
        s.hold(std::move(ctx.st));
    } else {
        if (me.chunked_) ctx.head.header("Transfer-Encoding", "chunked");
        bool head_only = s.head_only();
        s.start_stream(std::move(ctx.head), std::move(ctx.st));
        if (head_only) {  // HEAD: the head says what a GET would stream, and nothing follows
            r.subscription.reset();
            me.ended_ = true;
            s.end_response();
            return;
        }
        me.write_own(me.preamble());
    }
    if (r.history.missed) me.write_own(me.missed_signal(missed_json(me.t_.since, r.history)));
    for (const auto& m : r.history.messages) me.write_message(*m, m);
    if (!r.history.messages.empty()) {
        me.epoch_ = r.history.messages.back()->epoch;
        me.seq_ = r.history.messages.back()->id;
    }
    h.broker().note_delivered(r.history.messages.size(), me.t_.channel);
    me.sub_ = std::move(r.subscription);
    me.presence_ = Presence(h, s, me.t_, me.strategy());
    me.admission_ = Admission(h.admissions(), s.connection().loop(), me.t_, me);
    me.arm_keepalive();
}

void Stream::list_subscribed(PushHost& h, http::HttpSession& s, StreamStart& ctx) {
    Stream& me = *ctx.st;
    me.started_ = true;
    if (me.t_.handed) {
        s.hold(std::move(ctx.st));
    } else {
        if (me.chunked_) ctx.head.header("Transfer-Encoding", "chunked");
        const bool head_only = s.head_only();
        s.start_stream(std::move(ctx.head), std::move(ctx.st));
        if (head_only) {
            me.stop();
            s.end_response();
            return;
        }
        me.write_own(me.preamble());
    }
    for (std::size_t i = 0; i < me.entries_.size(); ++i) {
        ListEntry& e = me.entries_[i];
        settle(e);
        if (e.history.missed) {
            me.write_own(me.missed_signal(list_missed_json(e)));
            e.epoch = e.history.epoch;
            e.seq = e.history.messages.empty() ? e.history.last_id
                                               : e.history.messages.front()->id - 1;
        }
        std::vector<std::shared_ptr<const Message>> pending = std::move(e.history.messages);
        for (const auto& m : pending) me.send_list_message(i, m);
        h.broker().note_delivered(pending.size(), e.channel);
    }
    for (const auto& leg : me.legs_) leg->admit(h, s, me);
    me.arm_keepalive();
    if (me.closed_early_) me.end();
}

void Stream::send_list_message(std::size_t i, const std::shared_ptr<const Message>& m) {
    entries_[i].epoch = m->epoch;
    entries_[i].seq = m->id;
    write_list_message(*m, m, list_cursor(entries_));
}

void Stream::leg_message(std::size_t i, const std::shared_ptr<const Message>& m) noexcept {
    if (ended_) return;
    if (!started_) {  // the other channels are still being subscribed
        entries_[i].history.messages.push_back(m);
        return;
    }
    if (!keeps_up(entries_[i].channel)) return;
    send_list_message(i, m);
    s_.connection().out().stamp_delivery(m->published_steady, latency_);
}

void Stream::leg_closed(std::size_t) noexcept {
    if (!started_) closed_early_ = true;
    else end();
}

void Stream::leg_reset(std::size_t i) noexcept { leg_closed(i); }

std::string Stream::channel_label() const { return push::channel_label(t_); }

bool Stream::keeps_up(std::string_view channel) {
    // A slow consumer is one still holding more than the limit when the next message comes:
    // judged before queuing it, so one message whose encoding alone exceeds the limit (its
    // bytes are shared, not copied) still reaches subscribers that keep up.
    if (s_.connection().out().pending_bytes() <= limit_) return true;
    HERALD_WARN("%s subscriber %s of \"%s\": %zu bytes queued > output_queue_limit, dropped",
                to_string(strategy()), s_.client_host().c_str(), channel_label().c_str(),
                s_.connection().out().pending_bytes());
    h_.broker().note_dropped(1, channel);
    cancel();
    s_.connection().close();
    return false;
}

void Stream::arm_keepalive() {
    Duration every = s_.location().limits.stream_keepalive;
    if (every.count() <= 0) return;
    keepalive_ = s_.connection().loop().add_timer(every, [this] {
        write_own(keepalive());
        arm_keepalive();
    });
}

void Stream::deliver(const std::shared_ptr<const Message>& m) noexcept {
    if (ended_ || !keeps_up(t_.channel)) return;
    write_message(*m, m);
    epoch_ = m->epoch;
    seq_ = m->id;
    s_.connection().out().stamp_delivery(m->published_steady, latency_);
}

// No callback after this: subscriptions, keepalive and admissions end.
void Stream::stop() noexcept {
    ended_ = true;
    sub_.reset();
    keepalive_.cancel();
    admission_.reset();
    for (const auto& leg : legs_) leg->stop();
}

void Stream::end() {
    if (ended_) return;
    stop();
    if (chunked_) {
        s_.connection().out().push_static(http::last_chunk);
        s_.end_response();
    } else {
        s_.connection().close_after_flush();
    }
}

net::Handing Stream::hand_over(net::LiveState& st) noexcept {
    if (!handed_) {
        if (ended_) return net::Handing::never;
        if (!legs_.empty() && !started_) return net::Handing::later;
        stop();
        presence_.release();
        for (const auto& leg : legs_) leg->hand_over();
        handed_ = true;
    }
    st.kind = net::LiveState::Kind::stream;
    st.strategy = static_cast<std::uint8_t>(strategy());
    st.channels = channel_label();
    st.position = legs_.empty() ? position_text(epoch_, seq_) : list_cursor(entries_);
    st.format = static_cast<std::uint8_t>(t_.format);
    st.sub = t_.sub;
    st.expires_at = t_.expires_at;
    describe(st);
    return net::Handing::ready;
}

void Stream::on_channel_closed() noexcept { end(); }
void Stream::on_channel_reset() noexcept { end(); }  // the client resumes from its last id
void Stream::on_shutdown() noexcept { end(); }

void Stream::cancel() noexcept { stop(); }

void Stream::end_access(AccessEnd why) noexcept {
    if (ended_) return;
    HERALD_INFO("%s subscriber %s of \"%s\" (sub \"%s\"): %s", to_string(strategy()),
                s_.client_host().c_str(), channel_label().c_str(),
                log::quoted(t_.sub).c_str(), why == AccessEnd::expired ? "token expired" : "revoked");
    write_own(end_signal(why));
    end();
}

} // namespace herald::push
