// The endpoint of a multiplexed WebSocket (`push websocket; multiplex on;` [+ `publish on;`]):
// the client subscribes, unsubscribes and publishes by JSON command (push/ws_command.hpp) on one
// socket, and gets each channel's messages as JSON envelopes, in each channel's order, once.
#pragma once

#include <memory>

#include "push/host.hpp"

namespace herald::http {
class HttpSession;
}
namespace herald::ws {
class Endpoint;
}

namespace herald::push {

struct Target;

// For the session's current request, once its upgrade is accepted: copies what it needs of the
// location (publish, limits, hooks) and of the client (address) and of t (the token's sub,
// expiry and claims), so it outlives the request and a reload. h must outlive it.
std::unique_ptr<ws::Endpoint> make_multiplex_endpoint(PushHost& h, const http::HttpSession& s,
                                                      const Target& t);

} // namespace herald::push
