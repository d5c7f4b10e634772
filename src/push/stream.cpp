// Stream: chunked streaming responses shared by SSE and iframe.
#include "push/stream.hpp"

#include "core/log.hpp"
#include "push/broker_wait.hpp"
#include "push/encode.hpp"

namespace herald::push {

Stream::Stream(PushHost& h, http::HttpSession& s, config::PushStrategy kind, Target t)
    : Subscriber(kind), h_(h), latency_(h.latency(kind)), s_(s), t_(std::move(t)), chunked_(!s.http10()),
      limit_(s.location().limits.output_queue_limit) {}

Stream::~Stream() = default;

void Stream::write_own(std::string_view bytes) {
    std::string out;
    if (chunked_) append_chunk(out, bytes);
    else out.assign(bytes);
    s_.connection().out().push(std::move(out));
    s_.connection().flush_soon();
}

// What a stream needs until its subscription is answered.
struct StreamStart {
    std::unique_ptr<Stream> st;
    http::ResponseHead head;
};

void Stream::start(std::unique_ptr<Stream> st, http::ResponseHead&& head) {
    PushHost& h = st->h_;
    StreamStart ctx{std::move(st), std::move(head)};
    Stream& me = *ctx.st;
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
    if (r.history.missed) me.write_own(me.missed_signal(missed_json(me.t_.since, r.history)));
    for (const auto& m : r.history.messages) me.write_message(*m, m);
    h.broker().note_delivered(r.history.messages.size(), me.t_.channel);
    me.sub_ = std::move(r.subscription);
    me.presence_ = Presence(h, s, me.t_, me.strategy());
    me.admission_ = Admission(h.admissions(), s.connection().loop(), me.t_, me);
    me.arm_keepalive();
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
    if (ended_) return;
    // A slow consumer is one still holding more than the limit when the next message comes:
    // judged before queuing it, so one message whose encoding alone exceeds the limit (its
    // bytes are shared, not copied) still reaches subscribers that keep up.
    if (s_.connection().out().pending_bytes() <= limit_) {
        write_message(*m, m);
        s_.connection().out().stamp_delivery(m->published_steady, latency_);
        return;
    }
    HERALD_WARN("%s subscriber %s of \"%s\": %zu bytes queued > output_queue_limit, dropped",
                to_string(strategy()), s_.client_host().c_str(),
                t_.channel.c_str(), s_.connection().out().pending_bytes());
    h_.broker().note_dropped(1, t_.channel);
    cancel();
    s_.connection().close();
}

void Stream::end() {
    if (ended_) return;
    ended_ = true;
    sub_.reset();
    keepalive_.cancel();
    admission_.reset();
    if (chunked_) {
        s_.connection().out().push_static(http::last_chunk);
        s_.end_response();
    } else {
        s_.connection().close_after_flush();
    }
}

void Stream::on_channel_closed() noexcept { end(); }
void Stream::on_channel_reset() noexcept { end(); }  // the client resumes from its last id
void Stream::on_shutdown() noexcept { end(); }

void Stream::cancel() noexcept {
    ended_ = true;
    sub_.reset();
    keepalive_.cancel();
    admission_.reset();
}

void Stream::end_access(AccessEnd why) noexcept {
    if (ended_) return;
    HERALD_INFO("%s subscriber %s of \"%s\" (sub \"%s\"): %s", to_string(strategy()),
                s_.client_host().c_str(), t_.channel.c_str(),
                log::quoted(t_.sub).c_str(), why == AccessEnd::expired ? "token expired" : "revoked");
    write_own(end_signal(why));
    end();
}

} // namespace herald::push
