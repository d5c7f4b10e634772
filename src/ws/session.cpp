// WebSocket session: protocol events -> endpoint, control frames, close handshake, keepalive.
#include "ws/session.hpp"

#include <cstring>

#include <sys/socket.h>

#include "core/log.hpp"
#include "ws/deflate_frame.hpp"
#include "ws/deflate_stats.hpp"

namespace herald::ws {

CloseCode Endpoint::on_masked_message(WsSession& s, Opcode op, MaskedPayload& payload) noexcept {
    std::string_view bytes;
    if (CloseCode c = payload.unmask_in_place(bytes); c != CloseCode::none) return c;
    on_message(s, op, bytes);
    return CloseCode::none;
}

WsSession::WsSession(net::Connection& c, const SessionLimits& limits,
                     std::unique_ptr<Endpoint> endpoint)
    : Session(c), protocol_(limits.max_message_size), limits_(limits),
      endpoint_(std::move(endpoint)) {
    if (limits_.deflate) protocol_.enable_deflate(limits_.deflate_client_window_bits);
    protocol_.deliver_masked(endpoint_ && endpoint_->takes_masked());
}

WsSession::~WsSession() = default;

void WsSession::open() {
    arm_ping();
    if (endpoint_) endpoint_->on_open(*this);
    // Frames a client sent before the 101 (while the upgrade waited for the broker) are read
    // now; inside the dispatch that upgraded (no wait) the connection goes on feeding them.
    conn_.resume_input();
}

void WsSession::arm_ping() {
    if (limits_.ping_interval <= Clock::duration::zero()) return;
    ping_timer_ = conn_.loop().add_timer(limits_.ping_interval, [this] {
        if (!alive_) {  // nothing at all for a whole interval after our ping
            HERALD_INFO("websocket fd=%d: no pong within ws_ping_interval, closing", conn_.fd());
            close(CloseCode::going_away, "ping timeout");
            return;
        }
        alive_ = false;
        queue_control(Opcode::ping, {});
        arm_ping();
    });
}

std::size_t WsSession::on_data(std::span<char> data) noexcept {
    // Nothing after a close frame or a protocol error matters.
    if (close_received_ || failing_) return data.size();
    FeedResult r = protocol_.feed(data, *this);
    if (r.consumed > 0) alive_ = true;
    if (r.status == ParseStatus::error) {
        HERALD_DEBUG("websocket fd=%d from %s: %s", conn_.fd(), conn_.peer().to_string().c_str(),
                     reason_of(r.close_code));
        fail(r.close_code);
        return data.size();
    }
    if (r.status == ParseStatus::done) return data.size();
    return r.consumed;
}

// RFC 6455 §7.1.7: send the close frame, then close TCP. The peer may still be sending (the
// rest of an oversized frame); closing a socket with unread input makes the kernel answer with
// RST, which can destroy the close frame in the peer's receive queue (the peer then sees 1006,
// not our code). So, like nginx's lingering close: once the frame is written, shut down our
// sending side (the peer reads EOF) and discard input until the peer closes or
// ws_close_timeout passes.
void WsSession::fail(CloseCode code) {
    failing_ = true;
    ping_timer_.cancel();
    if (!close_sent_) {
        close_sent_ = true;
        conn_.out().push(encode_close(code));
    }
    conn_.flush_soon();
    close_timer_ = conn_.loop().add_timer(limits_.close_timeout, [this] { conn_.close(); });
}

bool WsSession::has_room() const noexcept {
    return !close_sent_ && conn_.out().pending_bytes() <= limits_.max_queue;
}

void WsSession::on_drained() noexcept {
    if (failing_ && !write_shut_) {
        write_shut_ = true;
        ::shutdown(conn_.fd(), SHUT_WR);
    }
    // Our close frame is written: wait for the peer's, but not forever (ws_close_timeout).
    if (close_sent_ && !close_timer_.active())
        close_timer_ = conn_.loop().add_timer(limits_.close_timeout, [this] { conn_.close(); });
    if (!close_sent_ && endpoint_) endpoint_->on_drained(*this);
}

void WsSession::on_message(Opcode op, std::string_view payload) {
    if (close_sent_ || !endpoint_) return;  // closing: data frames are discarded (§5.5.1)
    endpoint_->on_message(*this, op, payload);
}

CloseCode WsSession::on_masked_message(Opcode op, MaskedPayload& payload) {
    // Closing: checked and discarded by on_message, as any data frame.
    if (close_sent_ || !endpoint_) return ProtocolHandler::on_masked_message(op, payload);
    return endpoint_->on_masked_message(*this, op, payload);
}

// A pong joins the queue under ws_max_queue like any frame (RFC 6455 §5.5.3 lets us answer only
// the most recent ping): a peer that pings without reading is closed with 1008 instead of
// growing the queue by what it sends.
void WsSession::on_ping(std::string_view payload) {
    if (!close_sent_ && check_queue()) queue_control(Opcode::pong, payload);
}

void WsSession::on_pong(std::string_view) {}

void WsSession::on_close(std::uint16_t code, std::string_view) {
    close_received_ = true;
    if (!close_sent_) {  // peer-initiated: echo the status code, then close (§5.5.1)
        close_sent_ = true;
        conn_.out().push(encode_close(code));
    }
    conn_.close_after_flush();
}

void WsSession::queue_control(Opcode op, std::string_view payload) {
    unsigned char head[max_frame_header];
    std::size_t n = encode_frame_header(op, true, payload.size(), head);
    conn_.out().append({reinterpret_cast<char*>(head), n}, payload);
    conn_.flush_soon();
}

// ws_max_queue bounds the backlog a new message joins, not the message itself: a slow reader's
// queue stays under ws_max_queue + one message, while a reader that keeps up still receives a
// message as large as ws_max_message_size (the default limits are equal: checking after the
// push would close every connection that is sent one maximal message with 1008).
bool WsSession::check_queue() {
    if (conn_.out().pending_bytes() <= limits_.max_queue) return true;
    HERALD_WARN("websocket fd=%d to %s: %zu bytes queued > ws_max_queue, closing with 1008",
                conn_.fd(), conn_.peer().to_string().c_str(), conn_.out().pending_bytes());
    close(CloseCode::policy_violation, "slow consumer");
    return false;
}

bool WsSession::send(Opcode op, std::string_view payload, std::string_view prefix) {
    if (close_sent_ || !check_queue()) return false;
    if (compresses(prefix.size() + payload.size())) {
        send_deflated(op, payload, prefix);
        return true;
    }
    unsigned char head[max_frame_header];
    std::size_t n = encode_frame_header(op, true, prefix.size() + payload.size(), head);
    conn_.out().append({reinterpret_cast<char*>(head), n}, prefix, payload);
    conn_.flush_soon();
    return true;
}

CloseCode WsSession::send_masked(Opcode op, MaskedPayload& payload, std::string_view prefix) {
    const std::size_t size = prefix.size() + payload.size();
    // Closing, a full queue (send then closes with 1008) or a compressed reply: the payload
    // is unmasked where it is (the text checked first, as for any message), then sent.
    if (close_sent_ || conn_.out().pending_bytes() > limits_.max_queue || compresses(size)) {
        std::string_view bytes;
        if (CloseCode c = payload.unmask_in_place(bytes); c != CloseCode::none) return c;
        send(op, bytes, prefix);
        return CloseCode::none;
    }
    unsigned char head[max_frame_header];
    const std::size_t n = encode_frame_header(op, true, size, head);
    char* at = conn_.out().append_space(n + size);
    std::memcpy(at, head, n);
    if (!prefix.empty()) std::memcpy(at + n, prefix.data(), prefix.size());
    if (CloseCode c = payload.unmask_to(at + n + prefix.size()); c != CloseCode::none) {
        conn_.out().unappend(n + size);  // bad text is never sent back
        return c;
    }
    conn_.flush_soon();
    return CloseCode::none;
}

// RFC 7692 §7.2.1: one compressed message, no context takeover (the Deflater keeps nothing
// between calls, so the connection holds no compression state).
void WsSession::send_deflated(Opcode op, std::string_view payload, std::string_view prefix) {
    std::string joined;
    if (!prefix.empty()) payload = joined.append(prefix).append(payload);
    std::string frame;
    const DeflatedFrame f = encode_deflated_frame(op, payload, limits_.deflate_level, frame);
    count_sent_deflated(payload.size(), f.payload_len);
    frame.erase(0, f.begin);
    conn_.out().push(std::move(frame));
    conn_.flush_soon();
}

bool WsSession::send_frame(std::shared_ptr<const void> keep, std::string_view frame) {
    if (close_sent_ || !check_queue()) return false;
    conn_.out().push_shared(std::move(keep), frame);
    conn_.flush_soon();
    return true;
}

void WsSession::close(CloseCode code, std::string_view reason) {
    if (close_sent_) return;
    close_sent_ = true;
    ping_timer_.cancel();
    conn_.out().push(encode_close(code, reason));
    conn_.flush_soon();
    // ws_close_timeout starts once the frame is written (on_drained), not now: behind a
    // backlog (a slow consumer dropped with 1008) it would otherwise expire before the frame
    // went out, and a reader that is slow but alive would see the TCP close without the code
    // (1006). Until then send_timeout bounds every stall.
}

void WsSession::on_peer_closed() noexcept { conn_.close(); }

void WsSession::on_close() noexcept {
    ping_timer_.cancel();
    close_timer_.cancel();
    if (endpoint_) endpoint_->on_close();
}

void WsSession::on_shutdown() noexcept { close(CloseCode::going_away, "server shutdown"); }

net::Handing WsSession::hand_over(net::LiveState& st) noexcept {
    if (close_sent_ || close_received_ || failing_ || !endpoint_) return net::Handing::never;
    if (protocol_.message_open()) return net::Handing::later;  // a fragmented message is coming
    const net::Handing h = endpoint_->hand_over(st);
    if (h != net::Handing::ready) return h;
    st.kind = net::LiveState::Kind::websocket;
    st.deflate = limits_.deflate;
    st.deflate_client_bits = static_cast<std::uint8_t>(limits_.deflate_client_window_bits);
    st.deflate_server_bits = static_cast<std::uint8_t>(limits_.deflate_server_window_bits);
    ping_timer_.cancel();
    return net::Handing::ready;
}

} // namespace herald::ws
