// WebSocket connection session (RFC 6455 §5-§7): reads frames through ws::Protocol, answers
// pings, runs the close handshake (with ws_close_timeout), sends keepalive pings
// (ws_ping_interval), enforces ws_max_queue on outbound bytes (close 1008), and hands complete
// messages to its Endpoint. Owns its Endpoint and Protocol; owned by the Connection.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "event/event_loop.hpp"
#include "net/connection.hpp"
#include "ws/close.hpp"
#include "ws/frame_header.hpp"
#include "ws/protocol.hpp"

namespace herald::ws {

class WsSession;

// The application behind a WebSocket (echo, push subscriber, chat publisher). Loop thread only.
class Endpoint {
public:
    virtual ~Endpoint() = default;
    // The 101 response is queued; the endpoint may send at once (resume backlog).
    virtual void on_open(WsSession&) noexcept {}
    virtual void on_message(WsSession& s, Opcode op, std::string_view payload) noexcept = 0;
    // True: whole single-frame messages come to on_masked_message instead, still masked, for
    // an endpoint that copies the payload anyway (echo: WsSession::send_masked unmasks it into
    // the reply in one pass). Asked once, when the session is made.
    virtual bool takes_masked() const noexcept { return false; }
    // Must unmask the payload (MaskedPayload::unmask_to or unmask_in_place, which check text)
    // and return what that returned (or none): a code closes the connection with it. Default:
    // unmask in place, then on_message.
    virtual CloseCode on_masked_message(WsSession& s, Opcode op, MaskedPayload& payload) noexcept;
    // Everything queued was written (a backlog may continue).
    virtual void on_drained(WsSession&) noexcept {}
    // The session is ending (any reason); release subscriptions.
    virtual void on_close() noexcept {}
    // A binary upgrade (net::Session::hand_over): fill st's push part and freeze, or say later
    // / never. Default: never (closed with 1001, the client resumes).
    virtual net::Handing hand_over(net::LiveState&) noexcept { return net::Handing::never; }
};

struct SessionLimits {
    std::size_t max_message_size = default_max_message_size;
    std::size_t max_queue = 1 << 20;
    Clock::duration close_timeout = std::chrono::seconds(5);
    Clock::duration ping_interval = std::chrono::seconds(30);  // zero = off
    // permessage-deflate (RFC 7692), when negotiated: the client's window for inflating, the
    // server's window herald's frames may use (compressed frames are sent only with the full
    // 15 bits: the shared frames are built once for that window), and what to compress.
    bool deflate = false;
    unsigned deflate_client_window_bits = 15;
    unsigned deflate_server_window_bits = 15;
    std::size_t deflate_min_size = 64;
    int deflate_level = 6;
};

// Threads: a WsSession lives on its connection's worker thread and every member (and every
// Endpoint callback) runs there; other threads reach it only by posting to that worker's loop
// (the broker's fan-out does). send_frame() shares a frame built once for all subscribers
// (`keep` holds it alive, read-only, until written); nothing else is shared.
class WsSession final : public net::Session, private ProtocolHandler {
public:
    WsSession(net::Connection& c, const SessionLimits& limits,
              std::unique_ptr<Endpoint> endpoint);
    ~WsSession() override;

    // Queues one message frame whose payload is prefix + payload (copied once, into the frame).
    // Returns false, queueing nothing, if the session is closing or the bytes already queued
    // exceed ws_max_queue (the session then closes with 1008).
    bool send(Opcode op, std::string_view payload, std::string_view prefix = {});
    // send(op, <payload unmasked>, prefix), unmasking the payload straight into the queued
    // frame (one pass over it). Returns what unmasking returned: invalid_payload for text
    // that is not UTF-8, and then nothing is queued.
    CloseCode send_masked(Opcode op, MaskedPayload& payload, std::string_view prefix = {});
    // Queues a pre-encoded frame shared with other connections (no copy).
    bool send_frame(std::shared_ptr<const void> keep, std::string_view frame);
    // Starts the closing handshake with code (1000 normal, 1001 shutdown, ...).
    void close(CloseCode code, std::string_view reason = {});
    bool closing() const noexcept { return close_sent_; }
    // True if a message queued now would be accepted (not closing, queue within ws_max_queue).
    bool has_room() const noexcept;
    // Whether a message of `size` bytes goes out compressed (RSV1): permessage-deflate was
    // negotiated with a full server window and size >= ws_deflate_min_size.
    bool compresses(std::size_t size) const noexcept {
        return limits_.deflate && limits_.deflate_server_window_bits == 15 &&
               size >= limits_.deflate_min_size;
    }
    int deflate_level() const noexcept { return limits_.deflate_level; }

    // Starts the session: calls endpoint->on_open(), arms the ping timer and reads the input
    // already buffered behind the upgrade request.
    void open();

    std::size_t on_data(std::span<char> data) noexcept override;
    void on_drained() noexcept override;
    void on_peer_closed() noexcept override;
    void on_close() noexcept override;
    void on_shutdown() noexcept override;
    // Between messages, not closing: the endpoint's answer, with the negotiated deflate
    // parameters (no context takeover: no window to move). Frozen: no more pings.
    net::Handing hand_over(net::LiveState& st) noexcept override;

private:
    void on_message(Opcode op, std::string_view payload) override;
    CloseCode on_masked_message(Opcode op, MaskedPayload& payload) override;
    void on_ping(std::string_view payload) override;
    void on_pong(std::string_view payload) override;
    void on_close(std::uint16_t code, std::string_view reason) override;
    void fail(CloseCode code);
    void queue_control(Opcode op, std::string_view payload);
    bool check_queue();
    void send_deflated(Opcode op, std::string_view payload, std::string_view prefix);
    void arm_ping();

    Protocol protocol_;
    SessionLimits limits_;
    std::unique_ptr<Endpoint> endpoint_;
    Timer ping_timer_;
    Timer close_timer_;
    bool close_sent_ = false;
    bool close_received_ = false;
    bool alive_ = true;  // a frame arrived since the last ping
    bool failing_ = false;     // protocol error: close sent, input discarded (lingering close)
    bool write_shut_ = false;  // SHUT_WR done after the close frame went out
};

} // namespace herald::ws
