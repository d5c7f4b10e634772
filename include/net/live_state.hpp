// LiveState: what a live connection is, for a binary upgrade that hands it to the new process
// (`herald -s upgrade`). The old process fills it layer by layer (net: the socket's addresses
// and the input read but not consumed; http: the route and the client; push and ws: the
// subscription, its position and the WebSocket's state); app/upgrade sends it as a
// `connection` record with the socket itself, and the new process rebuilds the connection
// from it. Plain data: no pointer into either process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "net/socket.hpp"

namespace herald::net {

// A session's answer to "can this connection be handed over now?".
enum class Handing : std::uint8_t {
    ready,  // the state is filled and the session frozen: nothing more is queued or read, and
            // the connection goes once its output is written
    later,  // in the middle of a request, a message or a broker call: ask again
    never,  // cannot move: it is ended the graceful way (its resume signal)
};

struct LiveState {
    enum class Kind : std::uint8_t {
        idle = 1,       // HTTP between requests (input: the next request's first bytes)
        held = 2,       // a held long-poll: the request is served again from `position`
        stream = 3,     // SSE or iframe: head and preamble sent, the stream goes on
        websocket = 4,  // a WebSocket after its 101
    };
    Kind kind = Kind::idle;
    std::size_t listener = 0;    // the old process's listener index (app: its listen key)
    std::string listen_key;
    Address peer;                // the client (after PROXY protocol)
    Address socket_peer;         // the socket's own peer
    std::string input;           // read, not consumed
    // http: what the request was routed with, and for whom
    std::string host;            // the Host it was routed with
    std::string path;            // normalised
    std::string client;          // 16 bytes (IPv4 mapped), after real_ip
    std::string remote;          // its text form
    bool http10 = false;
    bool keep_alive = true;
    std::string origin;          // the CORS answer ("" none)
    // push
    std::uint8_t strategy = 0;   // config::PushStrategy
    std::string channels;        // one name, or a comma-separated list
    std::string position;        // what was delivered: an id "E-N", a compound cursor, or ""
    std::uint8_t format = 0;     // config::PushFormat
    std::string sub;             // the token's subject ("" none)
    std::int64_t expires_at = 0; // the token's expiry (seconds since 1970; 0 never)
    bool may_publish = true;     // a WebSocket `publish on` route: this client may publish
    std::string callback;        // iframe
    // A multiplexed WebSocket under a token rule: the token's claims (its channel and publish
    // patterns, each list joined with '\n'), checked again at each later command.
    bool multiplex = false;      // a multiplexed WebSocket (`multiplex on`)
    bool has_claims = false;
    std::string claim_channels, claim_publish;
    // ws (permessage-deflate is negotiated without context takeover: no window moves)
    bool deflate = false;
    std::uint8_t deflate_client_bits = 15;
    std::uint8_t deflate_server_bits = 15;
};

} // namespace herald::net
