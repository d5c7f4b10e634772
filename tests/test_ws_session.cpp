// Unit tests for the WebSocket close handshake of ws/session (RFC 6455 §5.5.1, §7.1) over a
// socketpair, a real EventLoop and a manual clock: either side may start it, data after our
// close frame is discarded, ws_close_timeout bounds the wait, a protocol error closes with 1002.
#include <criterion/criterion.h>

#include <memory>
#include <string>
#include <string_view>

#include "support/connection_rig.hpp"
#include "ws/close.hpp"
#include "ws/session.hpp"

using namespace herald;
using namespace herald::ws;

namespace {

// What the endpoint saw; owned by the test, the endpoint only points to it.
struct Seen {
    std::string messages;
    int closes = 0;
};

struct Recorder final : Endpoint {
    explicit Recorder(Seen& s) : seen(s) {}
    void on_message(WsSession&, Opcode, std::string_view payload) noexcept override {
        seen.messages.append(payload).append("|");
    }
    void on_close() noexcept override { ++seen.closes; }
    Seen& seen;
};

// A client frame: FIN, opcode, masked (RFC 6455 §5.3), payload under 126 bytes.
std::string client_frame(Opcode op, std::string_view payload) {
    const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
    std::string f;
    f += static_cast<char>(0x80 | static_cast<unsigned>(op));
    f += static_cast<char>(0x80 | payload.size());
    f.append(reinterpret_cast<const char*>(key), 4);
    for (std::size_t i = 0; i < payload.size(); ++i)
        f += static_cast<char>(payload[i] ^ static_cast<char>(key[i % 4]));
    return f;
}

std::string close_payload_of(std::uint16_t code, std::string_view reason = {}) {
    std::string p{static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
    return p.append(reason);
}

struct WsRig : test::ConnectionRig {
    Seen seen;
    WsSession* ws = nullptr;
    static constexpr auto close_timeout = std::chrono::seconds(5);
    WsRig() {
        SessionLimits limits;
        limits.close_timeout = close_timeout;
        limits.ping_interval = Clock::duration::zero();
        auto s = std::make_unique<WsSession>(*conn, limits, std::make_unique<Recorder>(seen));
        ws = s.get();
        conn->start(std::move(s));
        ws->open();
    }
};

} // namespace

Test(ws_session, server_close_waits_for_the_peers_close_frame, .timeout = 5.0) {
    WsRig r;
    r.ws->close(CloseCode::normal, "bye");
    r.spin();
    cr_expect(r.receive() == encode_close(CloseCode::normal, "bye"), "our close frame");
    cr_expect(r.ws->closing());
    cr_expect(!r.conn->closing(), "waiting for the peer's close frame");
    r.send(client_frame(Opcode::text, "late"));
    r.spin();
    cr_expect(r.seen.messages.empty(), "data after our close frame is discarded");
    r.send(client_frame(Opcode::close, close_payload_of(1000)));
    r.spin();
    cr_expect(r.conn->closing(), "the handshake is complete");
    bool eof = false;
    cr_expect(r.receive(&eof).empty(), "no second close frame");
    cr_expect(eof);
    r.client.reset();
    r.spin();
    cr_expect(r.conn->closed());
    cr_expect_eq(r.seen.closes, 1);
}

Test(ws_session, a_peer_close_is_echoed_with_its_code, .timeout = 5.0) {
    WsRig r;
    r.send(client_frame(Opcode::text, "hi") + client_frame(Opcode::close, close_payload_of(1001)));
    r.spin();
    cr_expect(r.seen.messages == "hi|");
    bool eof = false;
    std::string got = r.receive(&eof);
    cr_expect(got == encode_close(1001), "the peer's code comes back (%zu bytes)", got.size());
    cr_expect(eof, "then our side is done writing");
    r.client.reset();
    r.spin();
    cr_expect(r.conn->closed());
    cr_expect_eq(r.seen.closes, 1);
}

Test(ws_session, ws_close_timeout_ends_a_close_the_peer_never_answers, .timeout = 5.0) {
    WsRig r;
    r.ws->close(CloseCode::going_away, "server shutdown");
    r.spin();
    cr_expect(r.receive() == encode_close(CloseCode::going_away, "server shutdown"));
    r.clock.advance(WsRig::close_timeout - std::chrono::milliseconds(1));
    r.spin();
    cr_expect(!r.conn->closed(), "still waiting just before ws_close_timeout");
    r.clock.advance(std::chrono::milliseconds(1));
    r.spin();
    cr_expect(r.conn->closed(), "closed at ws_close_timeout");
    cr_expect_eq(r.seen.closes, 1);
}

Test(ws_session, a_protocol_error_closes_with_1002_and_discards_input, .timeout = 5.0) {
    WsRig r;
    std::string unmasked = client_frame(Opcode::text, "x");
    unmasked[1] = static_cast<char>(unmasked[1] & 0x7f);  // clients must mask (§5.1)
    r.send(unmasked);
    r.spin();
    bool eof = false;
    cr_expect(r.receive(&eof) == encode_close(CloseCode::protocol_error));
    cr_expect(eof, "our side is shut down once the close frame is out");
    r.send(client_frame(Opcode::text, "ignored"));
    r.spin();
    cr_expect(r.seen.messages.empty());
    cr_expect(!r.conn->closed(), "input is read and discarded until the peer closes");
    r.clock.advance(WsRig::close_timeout);
    r.spin();
    cr_expect(r.conn->closed(), "or until ws_close_timeout");
}
