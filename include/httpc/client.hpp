// Non-blocking HTTP/1.1 client on herald's reactor (the auth_request and on_subscribe hooks):
// a keep-alive pool per upstream, bounded concurrency and queue, one deadline per request.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "core/clock.hpp"
#include "event/event_loop.hpp"
#include "httpc/response_parser.hpp"
#include "net/socket.hpp"

namespace herald::httpc {

// Client-side failures given to a request's callback (HTTP statuses are responses).
enum class ClientErrc {
    queue_full = 1,  // max_queued requests already wait for this upstream; nothing was sent
    connect_failed,  // the TCP connect was refused or failed
    connection_lost, // the connection closed or broke before the response ended
    timeout,         // no complete response within the request's timeout
    bad_response,    // the response did not parse (ResponseError in the log line)
};
const std::error_category& client_category() noexcept;
inline std::error_code make_error_code(ClientErrc e) noexcept {
    return {static_cast<int>(e), client_category()};
}

} // namespace herald::httpc

template <> struct std::is_error_code_enum<herald::httpc::ClientErrc> : std::true_type {};

namespace herald::httpc {

// Where requests go: a numeric address (names are resolved when the config is loaded, never on
// a loop) and the Host header for it.
struct Endpoint {
    net::Address address;
    std::string authority; // "127.0.0.1:3000"
};

struct ClientOptions {
    std::size_t max_connections = 32; // per upstream: requests in flight at once
    std::size_t max_idle = 8;         // keep-alive connections kept open per upstream
    std::size_t max_queued = 256;     // per upstream: requests waiting for a connection
    Clock::duration idle_timeout = std::chrono::seconds(30); // an unused connection closes
    ResponseLimits limits;
};

struct Request {
    std::string_view method = "GET"; // a static string ("GET", "POST")
    std::string target = "/";        // origin-form: path and query
    std::string headers;             // extra "Name: value\r\n" lines, already validated
    std::string body;                // sent with Content-Length when not empty or not GET
    Clock::duration timeout = std::chrono::seconds(5); // send() to the end of the response
};

// The response (complete, any status), or ec set. Runs on the loop thread; the parser's views
// are valid during the call only. The callback may send() and may destroy Calls.
using ResponseCallback = std::function<void(std::error_code ec, const ResponseParser& response)>;

class Client;

// A request in progress. Destroying it (or reset()) before the callback ran means the callback
// never runs: its owner may be gone (a client that disconnected while its answer was awaited).
// A request already on a connection still completes, and the answer is dropped. Must not
// outlive the Client.
class Call {
public:
    Call() = default;
    Call(Client& c, std::uint64_t id) noexcept : client_(&c), id_(id) {}
    Call(Call&& o) noexcept : client_(o.client_), id_(o.id_) { o.client_ = nullptr; }
    Call& operator=(Call&& o) noexcept;
    ~Call() { reset(); }
    void reset() noexcept;
    bool active() const noexcept { return client_ != nullptr; }

private:
    Client* client_ = nullptr;
    std::uint64_t id_ = 0;
};

struct ClientStats {
    std::uint64_t connects = 0;  // connections opened
    std::uint64_t reused = 0;    // requests sent on a kept-alive connection
};

// Owns its connections, their fds, buffers and timers, and the callbacks of pending requests;
// points to (does not own) its EventLoop. Loop thread only; must not be destroyed inside its
// own callbacks. Destroying it drops every pending callback without running it.
// Limits and trade-offs: one request per connection at a time (no pipelining); a connection
// reused from the pool that closes before any byte of the answer (the server's keep-alive
// timeout raced us) is retried once on a new connection, for any method.
class Client {
public:
    Client(EventLoop& loop, const ClientOptions& options);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Queues a request for `to`. On error (queue_full) nothing was queued and cb never runs;
    // otherwise cb runs exactly once, later (never inside send()), unless the Call is reset.
    [[nodiscard]] Call send(const Endpoint& to, const Request& req, ResponseCallback cb,
                            std::error_code& ec);

    const ClientStats& stats() const noexcept { return stats_; }

private:
    friend class Call;
    class Connection;
    struct Pending {
        std::string pool;  // its upstream's key
        std::string bytes; // the request as sent
        bool head = false;
        bool retried = false;
        ResponseCallback cb; // empty once cancelled
        Connection* conn = nullptr;
        Timer deadline;
    };
    struct Pool {
        Endpoint endpoint;
        std::vector<std::unique_ptr<Connection>> conns;
        std::deque<std::uint64_t> queue; // waiting for a connection, oldest first
    };

    void cancel(std::uint64_t id) noexcept;
    void pump(Pool& pool) noexcept;
    void on_timeout(std::uint64_t id) noexcept;
    // The connection's request ended (response parsed, or ec): runs its callback, then keeps
    // the connection for the next request or closes it.
    void complete(Connection& c, std::error_code ec) noexcept;
    void close(Connection& c) noexcept; // destroyed after the current dispatch

    EventLoop& loop_;
    ClientOptions options_;
    std::map<std::string, Pool, std::less<>> pools_;
    std::unordered_map<std::uint64_t, Pending> pending_;
    std::vector<std::unique_ptr<Connection>> closed_; // destroyed after dispatch
    std::uint64_t next_id_ = 1;
    ClientStats stats_;
};

} // namespace herald::httpc
