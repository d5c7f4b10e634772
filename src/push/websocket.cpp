// websocket: the RFC 6455 upgrade for `push websocket;` locations, then either the echo
// endpoint (`echo "PREFIX";`) or a channel subscriber that sends each message as one frame
// (encoded once, shared by every subscriber) and, with `publish on;`, publishes what clients
// send. Resume with ?since=; a {"herald":"missed",...} text frame signals a lost resume point.
#include "app/worker.hpp"
#include "core/log.hpp"
#include "http/session.hpp"
#include "push/strategy.hpp"
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

class ChannelEndpoint final : public ws::Endpoint, public Subscriber {
public:
    ChannelEndpoint(app::Worker& w, Target t, bool publish)
        : Subscriber(PushStrategy::websocket), w_(w), t_(std::move(t)), publish_(publish) {}

    // Subscribes; the backlog (and the missed signal) goes out right after the 101.
    PushError subscribe() {
        SubscribeResult r = w_.broker().subscribe(t_.channel, t_.since, *this, w_.broker_worker());
        if (r.error != PushError::none) return r.error;
        history_ = std::move(r.history);
        sub_ = std::move(r.subscription);
        return PushError::none;
    }

    void on_open(ws::WsSession& s) noexcept override {
        session_ = &s;
        if (history_.missed)
            s.send(ws::Opcode::text,
                   "{\"herald\":\"missed\"," + missed_json(t_.since, history_).substr(1));
        for (const auto& m : history_.messages) s.send_frame(m, m->ws_frame(t_.format));
        w_.broker().note_delivered(history_.messages.size());
        history_ = History{};
    }

    void on_message(ws::WsSession&, ws::Opcode op, std::string_view payload) noexcept override {
        if (!publish_) return;  // subscribe-only route: client messages are ignored
        auto r = w_.broker().publish(t_.channel, payload,
                                     op == ws::Opcode::text ? "text/plain; charset=utf-8"
                                                            : "application/octet-stream");
        if (r.error != PushError::none && session_)
            session_->close(ws::CloseCode::policy_violation, to_string(r.error));
    }

    void deliver(const std::shared_ptr<const Message>& m) noexcept override {
        if (!session_) return;
        if (!session_->send_frame(m, m->ws_frame(t_.format))) {
            w_.broker().note_dropped(1);
            sub_.reset();
        }
    }

    void on_channel_closed() noexcept override {
        if (session_) session_->close(ws::CloseCode::normal, "channel deleted");
    }

    void on_close() noexcept override {
        sub_.reset();
        session_ = nullptr;
    }

private:
    app::Worker& w_;
    Target t_;
    bool publish_;
    ws::WsSession* session_ = nullptr;
    History history_;
    Subscription sub_;
};

class WebSocket final : public Strategy {
public:
    void serve(http::HttpSession& s, Target& t) const override {
        const http::Request& req = s.request();
        const Location& loc = s.location();
        ws::UpgradeFields f;
        f.is_get = req.method == http::Method::get;
        f.http11 = req.version_minor >= 1;
        f.upgrade = req.header("Upgrade");
        f.connection = req.header("Connection");
        f.version = req.header("Sec-WebSocket-Version");
        f.key = req.header("Sec-WebSocket-Key");
        ws::HandshakeError err = ws::check_upgrade(f);
        if (err != ws::HandshakeError::none) {
            refuse(s, err);
            return;
        }
        std::unique_ptr<ws::Endpoint> endpoint;
        if (loc.echo) {
            endpoint = std::make_unique<EchoEndpoint>(*loc.echo);
        } else {
            auto ch = std::make_unique<ChannelEndpoint>(s.worker(), t, loc.publish);
            if (PushError e = ch->subscribe(); e != PushError::none) {
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
        head += "Server: herald\r\n\r\n";
        ws::SessionLimits lim;
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
