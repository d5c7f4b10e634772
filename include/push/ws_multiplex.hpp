// The endpoint of a multiplexed WebSocket (`push websocket; multiplex on;` [+ `publish on;`]):
// the client subscribes, unsubscribes and publishes by JSON command (push/ws_command.hpp) on one
// socket, and gets each channel's messages as JSON envelopes, in each channel's order, once.
#pragma once

#include <memory>
#include <string>

#include "net/live_state.hpp"

#include "push/host.hpp"

namespace herald::http {
class HttpSession;
}
namespace herald::ws {
class Endpoint;
}

namespace herald::push {

struct Target;

// Where a WebSocket was routed and for whom (websocket.cpp and the multiplexed endpoint): a
// binary upgrade routes it again in the new process, and the HTTP session that knew it is gone
// after the 101.
struct WsRoute {
    std::string host, path, remote;
    std::string client;  // 16 bytes

    explicit WsRoute(const http::HttpSession& s);
    void describe(net::LiveState& st) const;
};

// For the session's current request, once its upgrade is accepted: copies what it needs of the
// location (publish, limits, hooks) and of the client (address) and of t (the token's sub,
// expiry and claims), so it outlives the request and a reload. h must outlive it. A socket
// taken over in a binary upgrade (t.handed) subscribes again, once open, to t's channel or
// channel list from its positions (t.since, t.list_since), without "subscribed" frames.
std::unique_ptr<ws::Endpoint> make_multiplex_endpoint(PushHost& h, const http::HttpSession& s,
                                                      const Target& t);

} // namespace herald::push
