// websocket: the RFC 6455 upgrade for `push websocket;` locations, then either the echo
// endpoint (`echo "PREFIX";`) or a channel subscriber that sends each message as one frame
// (encoded once, shared by every subscriber) and, with `publish on;`, publishes what clients
// send. Resume with ?since=; a {"herald":"missed",...} text frame signals a lost resume point.
// A subscriber whose token expires is closed with 4401, a revoked one with 4403. Client
// messages are published one at a time, in order: while the broker has not answered one, the
// next ones wait (reading pauses; what was already read queues, bounded).
#include <deque>
#include <utility>

#include "core/log.hpp"
#include "http/session.hpp"
#include "push/broker_wait.hpp"
#include "push/admission.hpp"
#include "push/presence.hpp"
#include "push/strategy.hpp"
#include "push/ws_multiplex.hpp"
#include "ws/deflate_offer.hpp"
#include "ws/deflate_stats.hpp"
#include "ws/handshake.hpp"
#include "ws/session.hpp"

namespace herald::push {
namespace {

// The permessage-deflate parameters a handed-over WebSocket negotiated with the old process.
struct HandedDeflate {
    bool on = false;
    unsigned client_bits = 15, server_bits = 15;
};

class EchoEndpoint final : public ws::Endpoint {
public:
    EchoEndpoint(std::string prefix, WsRoute route)
        : prefix_(std::move(prefix)), route_(std::move(route)) {}
    void on_message(ws::WsSession& s, ws::Opcode op, std::string_view payload) noexcept override {
        // Binary messages come back as they are; text ones after the prefix.
        s.send(op, payload, op == ws::Opcode::binary ? std::string_view() : prefix_);
    }
    // A whole message of one frame: unmasked straight into the reply.
    bool takes_masked() const noexcept override { return true; }
    ws::CloseCode on_masked_message(ws::WsSession& s, ws::Opcode op,
                                    ws::MaskedPayload& payload) noexcept override {
        return s.send_masked(op, payload, op == ws::Opcode::binary ? std::string_view() : prefix_);
    }
    net::Handing hand_over(net::LiveState& st) noexcept override {
        st.strategy = static_cast<std::uint8_t>(config::PushStrategy::websocket);
        route_.describe(st);
        return net::Handing::ready;
    }

private:
    std::string prefix_;
    WsRoute route_;
};

// Client messages waiting while an earlier publish is unanswered: past either bound the
// client is closed with 1008 (reading pauses meanwhile, so only what one read brought in
// can queue; the bounds stop a client from making herald hold more than that).
inline constexpr std::size_t max_queued_publishes = 1024;

class ChannelEndpoint final : public ws::Endpoint, public Subscriber, public Revocable {
public:
    // max_queued_bytes: the payload bytes that may wait for an unanswered publish
    // (ws_max_message_size: one maximal message).
    ChannelEndpoint(PushHost& w, Target t, bool publish, std::uint64_t max_queue,
                    std::uint64_t max_queued_bytes, WsRoute route)
        : Subscriber(config::PushStrategy::websocket), w_(w), latency_(w.latency(config::PushStrategy::websocket)),
          t_(std::move(t)), publish_(publish), max_queue_(max_queue),
          max_queued_bytes_(max_queued_bytes), route_(std::move(route)) {}

    const Target& target() const noexcept { return t_; }
    HandedDeflate handed_deflate;  // the new process of an upgrade: what the old negotiated

    // A binary upgrade, between publishes: stops (no delivery, no backlog) and describes the
    // subscription with the last message sent.
    net::Handing hand_over(net::LiveState& st) noexcept override {
        if (!handed_) {
            if (!sub_ || !session_) return net::Handing::never;  // ending
            if (publishing_ || !queued_.empty()) return net::Handing::later;
            sub_.reset();
            admission_.reset();
            presence_.release();
            handed_ = true;
        }
        st.strategy = static_cast<std::uint8_t>(config::PushStrategy::websocket);
        st.channels = t_.channel;
        st.position = position_text(epoch_, seq_);
        st.format = static_cast<std::uint8_t>(t_.format);
        st.sub = t_.sub;
        st.expires_at = t_.expires_at;
        st.may_publish = t_.may_publish;
        route_.describe(st);
        return net::Handing::ready;
    }

    // The broker subscribed it; the backlog (and the missed signal) goes out right after the 101.
    void subscribed(http::HttpSession& s, SubscribeResult&& r) {
        history_ = std::move(r.history);
        epoch_ = history_.epoch;
        seq_ = history_.last_id;
        if (!history_.messages.empty()) {  // sent from the first of them on
            epoch_ = history_.messages.front()->epoch;
            seq_ = history_.messages.front()->id - 1;
        }
        sub_ = std::move(r.subscription);
        admission_ = Admission(w_.admissions(), s.connection().loop(), t_, *this);
        presence_ = Presence(w_, s, t_, strategy());
    }

    // 4401 "token expired" / 4403 "revoked"; nothing more is delivered.
    void end_access(AccessEnd why) noexcept override {
        admission_.reset();
        if (!sub_) return;  // already ending
        sub_.reset();
        HERALD_INFO("websocket subscriber of \"%s\" (sub \"%s\"): %s", t_.channel.c_str(),
                    log::quoted(t_.sub).c_str(),
                    why == AccessEnd::expired ? "token expired" : "revoked");
        if (session_)
            session_->close(why == AccessEnd::expired ? ws::CloseCode::token_expired
                                                      : ws::CloseCode::revoked,
                            why == AccessEnd::expired ? "token expired" : "revoked");
    }

    void on_open(ws::WsSession& s) noexcept override {
        session_ = &s;
        if (history_.missed)
            s.send(ws::Opcode::text,
                   "{\"herald\":\"missed\"," + missed_json(t_.since, history_).substr(1));
        send_backlog();
    }

    void on_drained(ws::WsSession&) noexcept override { send_backlog(); }

    void on_message(ws::WsSession&, ws::Opcode op, std::string_view payload) noexcept override {
        if (!publish_) return;  // subscribe-only route: client messages are ignored
        if (!t_.may_publish) {  // the token may read this channel, not write to it
            if (session_) session_->close(ws::CloseCode::policy_violation, "publish not allowed");
            return;
        }
        if (!publishing_) {  // nothing unanswered: straight to the broker, no copy
            publish(op, payload);
            return;
        }
        if (queued_.size() >= max_queued_publishes ||
            queued_bytes_ + payload.size() > max_queued_bytes_) {
            HERALD_WARN("websocket publisher of \"%s\": more than %zu messages or %llu bytes "
                        "wait for the broker, closing with 1008",
                        t_.channel.c_str(), max_queued_publishes,
                        static_cast<unsigned long long>(max_queued_bytes_));
            stop_publishing();
            if (session_) session_->close(ws::CloseCode::policy_violation, "publish queue full");
            return;
        }
        queued_bytes_ += payload.size();
        queued_.emplace_back(op, std::string(payload));
    }

    void deliver(const std::shared_ptr<const Message>& m) noexcept override {
        if (!session_ || handed_) return;
        if (!history_.messages.empty()) {  // behind the backlog, in order
            live_behind_ += frame_of(*session_, *m).size();
            if (live_behind_ > max_queue_) {
                w_.broker().note_dropped(1, t_.channel);
                sub_.reset();
                session_->close(ws::CloseCode::policy_violation, "slow consumer");
                return;
            }
            history_.messages.push_back(m);
            return;
        }
        if (!send(m)) {
            w_.broker().note_dropped(1, t_.channel);
            sub_.reset();
            return;
        }
        session_->connection().out().stamp_delivery(
            m->published_steady, latency_);
    }

    void on_channel_closed() noexcept override {
        if (session_) session_->close(ws::CloseCode::normal, "channel deleted");
    }

    // As on a graceful stop (1001): herald.js reconnects from its last id and is told then
    // that the history before it is gone.
    void on_channel_reset() noexcept override {
        sub_.reset();
        if (session_) session_->close(ws::CloseCode::going_away, "channel reset");
    }

    void on_close() noexcept override {
        stop_publishing();
        sub_.reset();
        admission_.reset();
        session_ = nullptr;
    }

private:
    // One publish; its answer may come now or later (then reading pauses until the queue
    // behind it is published). payload is copied by the broker before it returns.
    void publish(ws::Opcode op, std::string_view payload) noexcept {
        publishing_ = true;
        in_call_ = true;
        BrokerCall c = w_.broker().publish_async(
            w_.broker_worker(), t_.channel, payload,
            op == ws::Opcode::text ? "text/plain; charset=utf-8" : "application/octet-stream",
            {}, [this](const PublishResult& r) { published(r); });
        in_call_ = false;
        if (!publishing_) return;  // answered already
        call_ = std::move(c);
        pause(true);
    }

    void published(const PublishResult& r) noexcept {
        publishing_ = false;
        // Back-pressure included: 1008 with the reason "fan-out backlog full" (1013 "try
        // again later" is not a code RFC 6455 defines, and peers echo it back); the same for
        // a broker that cannot reach its store.
        if (r.error != PushError::none) {
            stop_publishing();
            if (session_) session_->close(ws::CloseCode::policy_violation, to_string(r.error));
            return;
        }
        // A later answer: what waited behind it goes now (replacing call_, whose done this
        // is: resetting a call whose done has started does nothing).
        if (!in_call_) publish_queued();
    }

    // Publishes the queued messages in order until one is left unanswered.
    void publish_queued() noexcept {
        while (!publishing_ && !queued_.empty()) {
            auto [op, bytes] = std::move(queued_.front());
            queued_.pop_front();
            queued_bytes_ -= bytes.size();
            publish(op, bytes);
        }
        if (!publishing_) pause(false);
    }

    // Drops the unanswered publish and what waits behind it; reading goes on (the close
    // handshake needs it).
    void stop_publishing() noexcept {
        call_.reset();
        publishing_ = false;
        queued_.clear();
        queued_bytes_ = 0;
        pause(false);
    }

    void pause(bool on) noexcept {
        if (paused_ == on || !session_) return;
        paused_ = on;
        session_->connection().pause_reading(on);
    }

    // The resume backlog is a reply the server chose to send, not a slow reader: it goes out as
    // the socket drains, ws_max_queue at a time, so a backlog larger than the queue limit is
    // delivered whole. Live messages published meanwhile wait behind it; only they count as
    // the reader's lag (more than ws_max_queue of them: a slow consumer, closed with 1008).
    void send_backlog() noexcept {
        if (handed_) return;  // the new process sends the rest
        const std::vector<std::shared_ptr<const Message>>& q = history_.messages;
        std::size_t n = 0;
        while (next_ < q.size() && session_ && session_->has_room()) {
            const auto& m = q[next_++];
            send(m);
            ++n;
        }
        if (n) w_.broker().note_delivered(n, t_.channel);
        if (next_ == q.size()) {
            history_ = History{};
            next_ = 0;
            live_behind_ = 0;
        }
    }

    // The shared frame for this subscriber: compressed once per message for every connection
    // that negotiated permessage-deflate, plain otherwise or below ws_deflate_min_size.
    // plain: the payload size before compression (m.body()), looked up once by the caller.
    std::string_view frame_of(const ws::WsSession& s, const Message& m, std::size_t plain) const {
        return s.compresses(plain) ? m.ws_frame_deflated(t_.format, s.deflate_level())
                                   : m.ws_frame(t_.format);
    }
    std::string_view frame_of(const ws::WsSession& s, const Message& m) const {
        return frame_of(s, m, m.body(t_.format).size());
    }

    // Queues m's frame (shared, not copied); counts what compression saved when it was used.
    bool send(const std::shared_ptr<const Message>& m) noexcept {
        const std::size_t plain = m->body(t_.format).size();
        const std::string_view frame = frame_of(*session_, *m, plain);
        if (!session_->send_frame(m, frame)) return false;
        epoch_ = m->epoch;
        seq_ = m->id;
        if (session_->compresses(plain)) ws::count_sent_deflated(plain, ws::frame_payload_size(frame));
        return true;
    }

    PushHost& w_;
    Histogram& latency_;  // this worker's, looked up once, not per delivery
    Target t_;
    bool publish_;
    std::uint64_t max_queue_;
    std::uint64_t max_queued_bytes_;
    ws::WsSession* session_ = nullptr;
    History history_;            // backlog still to send, from next_
    std::size_t next_ = 0;
    std::uint64_t live_behind_ = 0;  // bytes of live messages queued behind the backlog
    Admission admission_;            // after t_, which it points to
    Presence presence_;
    std::deque<std::pair<ws::Opcode, std::string>> queued_;  // publishes waiting, in order
    std::uint64_t queued_bytes_ = 0;
    bool publishing_ = false;  // a publish is unanswered
    bool in_call_ = false;     // inside publish_async (an answer now is not a later one)
    bool paused_ = false;      // reading paused behind an unanswered publish
    BrokerCall call_;          // the unanswered publish; its done points to this
    WsRoute route_;
    std::uint64_t epoch_ = 0, seq_ = 0;  // the last message sent (or the position subscribed at)
    bool handed_ = false;      // frozen for a binary upgrade
    Subscription sub_;
};

class WebSocket final : public Strategy {
public:
    void serve(PushHost& h, http::HttpSession& s, Target& t) const override {
        const http::Request& req = s.request();
        const config::LocationConf& loc = s.location();
        ws::UpgradeFields f;
        f.is_get = req.method == http::Method::get;
        f.http11 = req.version_minor >= 1;
        f.upgrade = req.header("Upgrade");
        f.connection = req.header("Connection");
        f.version = req.header("Sec-WebSocket-Version");
        f.key = req.header("Sec-WebSocket-Key");
        f.version_fields = req.header_fields("Sec-WebSocket-Version");
        f.key_fields = req.header_fields("Sec-WebSocket-Key");
        ws::HandshakeError err = ws::check_upgrade(f);
        if (err != ws::HandshakeError::none) {
            refuse(s, err);
            return;
        }
        if (loc.echo) {
            accept(s, std::make_unique<EchoEndpoint>(*loc.echo, WsRoute(s)));
            return;
        }
        if (loc.multiplex) {  // channels come later, by command
            accept(s, make_multiplex_endpoint(h, s, t));
            return;
        }
        subscribe(h, s, t, {});
    }

    // A WebSocket the process before a binary upgrade accepted: no handshake (its 101 went out
    // there), the endpoint rebuilt under this location, resubscribed after what was sent.
    static void adopt(PushHost& h, http::HttpSession& s, Target& t, HandedDeflate d,
                      bool multiplex) {
        const config::LocationConf& loc = s.location();
        if (loc.echo) {
            open_session(s, {}, std::make_unique<EchoEndpoint>(*loc.echo, WsRoute(s)), d);
            return;
        }
        if (loc.multiplex != multiplex || (!multiplex && t.channel.empty())) {
            HERALD_INFO("upgrade: a websocket of %s on \"%.*s\" not taken: the location serves "
                        "it otherwise now", s.client_host().c_str(),
                        static_cast<int>(s.path().size()), s.path().data());
            s.connection().close();  // its client resumes
            return;
        }
        if (multiplex) open_session(s, {}, make_multiplex_endpoint(h, s, t), d);
        else subscribe(h, s, t, d);
    }

private:
    // Subscribed before the 101, so a broker error is still an HTTP status (a handed-over
    // socket is closed instead: its client resumes).
    static void subscribe(PushHost& h, http::HttpSession& s, Target& t, HandedDeflate d) {
        const config::LocationConf& loc = s.location();
        auto ch = std::make_unique<ChannelEndpoint>(h, t, loc.publish, loc.limits.ws_max_queue,
                                                    loc.limits.ws_max_message_size, WsRoute(s));
        ch->handed_deflate = d;
        ChannelEndpoint& c = *ch;
        await_broker<SubscribeResult&&>(
            h, s, ch,
            [&h, &c](SubscribeDone done) {
                return h.broker().subscribe_async(h.broker_worker(), c.target().channel,
                                                  c.target().since, c, std::move(done));
            },
            &WebSocket::subscribed);
    }

    static void subscribed(PushHost&, http::HttpSession& s, std::unique_ptr<ChannelEndpoint>& ch,
                           SubscribeResult&& r) {
        if (r.error != PushError::none) {
            respond_push_error(s, r.error);
            return;
        }
        ch->subscribed(s, std::move(r));
        if (ch->target().handed) {
            const HandedDeflate d = ch->handed_deflate;
            open_session(s, {}, std::move(ch), d);
            return;
        }
        accept(s, std::move(ch));
    }

    // The 101 (subprotocol, permessage-deflate), then a WsSession with endpoint.
    static void accept(http::HttpSession& s, std::unique_ptr<ws::Endpoint> endpoint) {
        const http::Request& req = s.request();
        const config::LocationConf& loc = s.location();
        std::string head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
                           ws::accept_key(req.header("Sec-WebSocket-Key")) + "\r\n";
        // Several Sec-WebSocket-Protocol fields are one comma list (RFC 9110 §5.3).
        std::string offered;
        for (std::size_t i = 0; i < req.header_count; ++i)
            if (http::iequals(req.headers[i].name, "Sec-WebSocket-Protocol"))
                offered.append(offered.empty() ? "" : ",").append(req.headers[i].value);
        if (auto p = ws::select_protocol(offered, loc.ws_protocols))
            head += "Sec-WebSocket-Protocol: " + *p + "\r\n";
        HandedDeflate d;
        if (loc.limits.ws_deflate) {
            // RFC 7692 §5: offers may span several Sec-WebSocket-Extensions fields.
            std::string exts;
            for (std::size_t i = 0; i < req.header_count; ++i)
                if (http::iequals(req.headers[i].name, "Sec-WebSocket-Extensions"))
                    exts.append(exts.empty() ? "" : ",").append(req.headers[i].value);
            if (auto p = ws::negotiate_deflate(exts)) {
                head += "Sec-WebSocket-Extensions: " + ws::deflate_response(*p) + "\r\n";
                d = {true, p->client_max_window_bits, p->server_max_window_bits};
            }
        }
        head += "Server: herald\r\n\r\n";
        open_session(s, std::move(head), std::move(endpoint), d);
    }

    // The WsSession under the location's limits and the negotiated deflate (kept as negotiated
    // also when a handed-over socket's new location says ws_deflate off: its client compresses).
    // head: the 101, empty for a socket taken over.
    static void open_session(http::HttpSession& s, std::string head,
                             std::unique_ptr<ws::Endpoint> endpoint, HandedDeflate d) {
        const config::LocationConf& loc = s.location();
        ws::SessionLimits lim;
        if (d.on) {
            lim.deflate = true;
            lim.deflate_client_window_bits = d.client_bits;
            lim.deflate_server_window_bits = d.server_bits;
            lim.deflate_min_size = loc.limits.ws_deflate_min_size;
            lim.deflate_level = loc.limits.ws_deflate_level;
        }
        lim.max_message_size = loc.limits.ws_max_message_size;
        lim.max_queue = loc.limits.ws_max_queue;
        lim.close_timeout = loc.limits.ws_close_timeout;
        lim.ping_interval = loc.limits.ws_ping_interval;
        auto session = std::make_unique<ws::WsSession>(s.connection(), lim, std::move(endpoint));
        ws::WsSession& ws = *session;
        s.upgrade(std::move(head), std::move(session));
        ws.open();
    }

    static void refuse(http::HttpSession& s, ws::HandshakeError err) {
        int status = ws::status_of(err);
        http::ResponseHead head(status);
        head.header("Content-Type", "text/plain; charset=utf-8");
        if (status == 426) {
            head.header("Upgrade", "websocket");
            head.header("Sec-WebSocket-Version", "13");
        }
        if (status == 405) head.header("Allow", "GET");
        s.respond(std::move(head), std::string(ws::reason_of(err)) + "\n");
    }
};

} // namespace

const Strategy& websocket_strategy() {
    static const WebSocket p;
    return p;
}

void adopt_websocket(PushHost& h, http::HttpSession& s, Target& t, const net::LiveState& st) {
    WebSocket::adopt(h, s, t, HandedDeflate{st.deflate, st.deflate_client_bits, st.deflate_server_bits},
                     st.multiplex);
}

} // namespace herald::push
