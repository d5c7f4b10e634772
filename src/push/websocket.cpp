// websocket: the RFC 6455 upgrade for `push websocket;` locations, then either the echo
// endpoint (`echo "PREFIX";`) or a channel subscriber that sends each message as one frame
// (encoded once, shared by every subscriber) and, with `publish on;`, publishes what clients
// send. Resume with ?since=; a {"herald":"missed",...} text frame signals a lost resume point.
// A subscriber whose token expires is closed with 4401, a revoked one with 4403.
#include "core/log.hpp"
#include "http/session.hpp"
#include "push/admission.hpp"
#include "push/presence.hpp"
#include "push/strategy.hpp"
#include "ws/deflate_offer.hpp"
#include "ws/deflate_stats.hpp"
#include "ws/handshake.hpp"
#include "ws/session.hpp"

namespace herald::push {
namespace {

class EchoEndpoint final : public ws::Endpoint {
public:
    explicit EchoEndpoint(std::string prefix) : prefix_(std::move(prefix)) {}
    void on_message(ws::WsSession& s, ws::Opcode op, std::string_view payload) noexcept override {
        // Binary messages come back as they are; text ones after the prefix.
        s.send(op, payload, op == ws::Opcode::binary ? std::string_view() : prefix_);
    }

private:
    std::string prefix_;
};

class ChannelEndpoint final : public ws::Endpoint, public Subscriber, public Revocable {
public:
    ChannelEndpoint(PushHost& w, Target t, bool publish, std::uint64_t max_queue)
        : Subscriber(config::PushStrategy::websocket), w_(w), latency_(w.latency(config::PushStrategy::websocket)),
          t_(std::move(t)), publish_(publish), max_queue_(max_queue) {}

    // Subscribes; the backlog (and the missed signal) goes out right after the 101.
    PushError subscribe(http::HttpSession& s) {
        SubscribeResult r = w_.broker().subscribe(t_.channel, t_.since, *this, w_.broker_worker());
        if (r.error != PushError::none) return r.error;
        history_ = std::move(r.history);
        sub_ = std::move(r.subscription);
        admission_ = Admission(w_.admissions(), s.connection().loop(), t_, *this);
        presence_ = Presence(w_, s, t_, strategy());
        return PushError::none;
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
        auto r = w_.broker().publish(t_.channel, payload,
                                     op == ws::Opcode::text ? "text/plain; charset=utf-8"
                                                            : "application/octet-stream");
        // Back-pressure included: 1008 with the reason "fan-out backlog full" (1013 "try
        // again later" is not a code RFC 6455 defines, and peers echo it back).
        if (r.error != PushError::none && session_)
            session_->close(ws::CloseCode::policy_violation, to_string(r.error));
    }

    void deliver(const std::shared_ptr<const Message>& m) noexcept override {
        if (!session_) return;
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

    void on_close() noexcept override {
        sub_.reset();
        admission_.reset();
        session_ = nullptr;
    }

private:
    // The resume backlog is a reply the server chose to send, not a slow reader: it goes out as
    // the socket drains, ws_max_queue at a time, so a backlog larger than the queue limit is
    // delivered whole. Live messages published meanwhile wait behind it; only they count as
    // the reader's lag (more than ws_max_queue of them: a slow consumer, closed with 1008).
    void send_backlog() noexcept {
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
        if (session_->compresses(plain)) ws::count_sent_deflated(plain, ws::frame_payload_size(frame));
        return true;
    }

    PushHost& w_;
    Histogram& latency_;  // this worker's, looked up once, not per delivery
    Target t_;
    bool publish_;
    std::uint64_t max_queue_;
    ws::WsSession* session_ = nullptr;
    History history_;            // backlog still to send, from next_
    std::size_t next_ = 0;
    std::uint64_t live_behind_ = 0;  // bytes of live messages queued behind the backlog
    Admission admission_;            // after t_, which it points to
    Presence presence_;
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
        std::unique_ptr<ws::Endpoint> endpoint;
        if (loc.echo) {
            endpoint = std::make_unique<EchoEndpoint>(*loc.echo);
        } else {
            auto ch = std::make_unique<ChannelEndpoint>(h, t, loc.publish,
                                                        loc.limits.ws_max_queue);
            if (PushError e = ch->subscribe(s); e != PushError::none) {
                respond_push_error(s, e);
                return;
            }
            endpoint = std::move(ch);
        }
        std::string head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
                           ws::accept_key(f.key) + "\r\n";
        // Several Sec-WebSocket-Protocol fields are one comma list (RFC 9110 §5.3).
        std::string offered;
        for (std::size_t i = 0; i < req.header_count; ++i)
            if (http::iequals(req.headers[i].name, "Sec-WebSocket-Protocol"))
                offered.append(offered.empty() ? "" : ",").append(req.headers[i].value);
        if (auto p = ws::select_protocol(offered, loc.ws_protocols))
            head += "Sec-WebSocket-Protocol: " + *p + "\r\n";
        ws::SessionLimits lim;
        if (loc.limits.ws_deflate) {
            // RFC 7692 §5: offers may span several Sec-WebSocket-Extensions fields.
            std::string exts;
            for (std::size_t i = 0; i < req.header_count; ++i)
                if (http::iequals(req.headers[i].name, "Sec-WebSocket-Extensions"))
                    exts.append(exts.empty() ? "" : ",").append(req.headers[i].value);
            if (auto p = ws::negotiate_deflate(exts)) {
                head += "Sec-WebSocket-Extensions: " + ws::deflate_response(*p) + "\r\n";
                lim.deflate = true;
                lim.deflate_client_window_bits = p->client_max_window_bits;
                lim.deflate_server_window_bits = p->server_max_window_bits;
                lim.deflate_min_size = loc.limits.ws_deflate_min_size;
                lim.deflate_level = loc.limits.ws_deflate_level;
            }
        }
        head += "Server: herald\r\n\r\n";
        lim.max_message_size = loc.limits.ws_max_message_size;
        lim.max_queue = loc.limits.ws_max_queue;
        lim.close_timeout = loc.limits.ws_close_timeout;
        lim.ping_interval = loc.limits.ws_ping_interval;
        auto session = std::make_unique<ws::WsSession>(s.connection(), lim, std::move(endpoint));
        ws::WsSession& ws = *session;
        s.upgrade(std::move(head), std::move(session));
        ws.open();
    }

private:
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

} // namespace herald::push
