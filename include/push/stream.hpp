// Stream: the shared half of the two HTTP streaming strategies (SSE and iframe): one chunked
// response (or close-delimited for HTTP/1.0) that stays open, receives each message from the
// broker, sends keepalive comments every stream_keepalive, ends cleanly when the channel is
// deleted, the server shuts down, the subscriber's token expires or it is revoked (after a final
// event the client recognises), and drops a subscriber whose queued bytes are still past
// output_queue_limit when the next message comes (counted as dropped). Owned by the
// HttpSession as its Responder.
//
// A channel list (Target::channels) is followed by one Leg per channel, each with its own
// position: every event carries the compound cursor (push/cursor.hpp) instead of the message's
// id, each channel that lost the client's resume point gets its own missed signal, and the
// deletion of any channel of the list ends the stream as it would for one channel.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "http/session.hpp"
#include "push/admission.hpp"
#include "push/broker.hpp"
#include "push/list.hpp"
#include "push/presence.hpp"
#include "push/strategy.hpp"

namespace herald::push {

struct StreamStart;  // a stream waiting for its subscription (stream.cpp)

class Stream : public http::Responder, public Subscriber, public Revocable, public LegOwner {
public:
    Stream(PushHost& h, http::HttpSession& s, config::PushStrategy kind, Target t);
    ~Stream() override;

    // Subscribes, sends the head and preamble, replays history (with the missed signal), and
    // hands the stream to its session. On a broker error it responds instead (and st dies).
    // A broker that answers later suspends the request until then (push/broker_wait.hpp).
    static void start(std::unique_ptr<Stream> st, http::ResponseHead&& head);

    void deliver(const std::shared_ptr<const Message>& m) noexcept override;
    void on_channel_closed() noexcept override;
    // Ends as on a graceful stop: the client reconnects from its last id ("missed" then).
    void on_channel_reset() noexcept override;
    void on_shutdown() noexcept override;
    void cancel() noexcept override;
    void end_access(AccessEnd why) noexcept override;
    void leg_message(std::size_t i, const std::shared_ptr<const Message>& m) noexcept override;
    void leg_closed(std::size_t i) noexcept override;
    void leg_reset(std::size_t i) noexcept override;
    // A binary upgrade: once every channel is subscribed, stops (no more deliveries) and
    // describes the stream: its channel(s) and what was delivered.
    net::Handing hand_over(net::LiveState& st) noexcept override;

protected:
    // What the new process needs beyond the Target (the iframe's callback).
    virtual void describe(net::LiveState&) const {}
    // The first bytes of the body (SSE retry field, iframe HTML preamble).
    virtual std::string preamble() const = 0;
    // The bytes of the "messages were missed" signal; missed is missed_json().
    virtual std::string missed_signal(std::string_view missed) const = 0;
    // Queues one message (framed as a chunk when chunked()).
    virtual void write_message(const Message& m, const std::shared_ptr<const Message>& keep) = 0;
    // The same for a channel list: the envelope (shared), identified by cursor instead of its id.
    virtual void write_list_message(const Message& m, const std::shared_ptr<const Message>& keep,
                                    std::string_view cursor) = 0;
    virtual std::string_view keepalive() const = 0;
    // The last bytes before the end when the token expired or the subscriber was revoked.
    virtual std::string end_signal(AccessEnd why) const = 0;

    // Queues own bytes as one chunk (or raw for HTTP/1.0).
    void write_own(std::string_view bytes);
    bool chunked() const noexcept { return chunked_; }
    http::HttpSession& session() noexcept { return s_; }
    const Target& target() const noexcept { return t_; }

private:
    friend struct StreamStart;
    static void subscribed(PushHost& h, http::HttpSession& s, StreamStart& ctx,
                           SubscribeResult&& r);
    static void list_subscribed(PushHost& h, http::HttpSession& s, StreamStart& ctx);
    // Queues one message of entry i (a list), its position advanced first.
    void send_list_message(std::size_t i, const std::shared_ptr<const Message>& m);
    // Room for one more message, else the subscriber is dropped (false).
    bool keeps_up(std::string_view channel);
    void stop() noexcept;
    std::string channel_label() const;
    void end();
    void arm_keepalive();

    PushHost& h_;
    Histogram& latency_;  // this worker's, looked up once, not per delivery
    http::HttpSession& s_;
    Target t_;
    bool chunked_;
    bool ended_ = false;
    bool handed_ = false;  // frozen for a binary upgrade
    // One channel: the position of the last message queued (or the newest id when subscribed).
    std::uint64_t epoch_ = 0, seq_ = 0;
    std::uint64_t limit_;
    Timer keepalive_;
    Presence presence_; // reports the leave after the unsubscribe
    Admission admission_;  // after t_, which it points to
    Subscription sub_;  // unsubscribes before the above
    // A channel list: entries_[i] is followed by legs_[i]. started_: the response began (before
    // it, live messages wait in their entry's history); closed_early_: a channel of the list
    // went away before that.
    std::vector<ListEntry> entries_;
    bool started_ = false;
    bool closed_early_ = false;
    Legs legs_;  // last: unsubscribe first
};

} // namespace herald::push
