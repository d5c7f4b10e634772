// HttpSession: HTTP/1.1 on one connection (RFC 9112): parses request heads (its BodyReader reads
// the bodies), routes them (one Router::route() by listener index), dispatches to the host,
// writes responses in order (pipelining), decides keep-alive in one place for every response,
// applies the header/body/keep-alive timeouts, and hands the connection over on a WebSocket
// upgrade. Owned by its Connection. The current Responder (a held long-poll or a stream) is
// owned by the session until its response ends; it is then retired to the host, which destroys
// it after the current dispatch (it may be the caller).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "http/body_reader.hpp"
#include "http/real_ip.hpp"
#include "http/request.hpp"
#include "http/request_parser.hpp"
#include "http/response.hpp"
#include "http/router.hpp"
#include "http/session_host.hpp"
#include "net/connection.hpp"

namespace herald::http {

// Answers one request over time (held long-poll, SSE/iframe stream). Owned by the session until
// the response ends or the connection closes, then destroyed after the current dispatch.
class Responder {
public:
    virtual ~Responder() = default;
    virtual void on_drained() noexcept {}
    // Server shutdown (graceful): end the response cleanly now.
    virtual void on_shutdown() noexcept {}
    // The connection closed: stop every callback (subscriptions, timers) at once. The object
    // itself is destroyed after the current dispatch.
    virtual void cancel() noexcept {}
    // A binary upgrade (net::Session::hand_over): fill the push part of st and freeze, or say
    // later / never. Default: never (the response ends the graceful way).
    virtual net::Handing hand_over(net::LiveState&) noexcept { return net::Handing::never; }
};

// Adds Access-Control-Allow-Origin (plus Expose-Headers, and Vary: Origin unless "*") for
// `origin`; nothing when it is empty.
void add_cors_headers(ResponseHead& head, std::string_view origin);

class HttpSession final : public net::Session {
public:
    HttpSession(net::Connection& c, SessionHost& host);
    ~HttpSession() override;

    std::size_t on_data(std::span<char> data) noexcept override;
    void on_drained() noexcept override;
    void on_peer_closed() noexcept override;
    void on_close() noexcept override;
    void on_shutdown() noexcept override;  // graceful stop: end the response, close after it
    // A binary upgrade: between requests (idle), or with a held or streamed response that can
    // move (Responder::hand_over); later while a request is read or answered.
    net::Handing hand_over(net::LiveState& st) noexcept override;

    // The new process of a binary upgrade: takes over a held or streamed response the old one
    // began (st.kind held or stream, or websocket before its endpoint is rebuilt): routes
    // st.host and st.path again under the current config and restores the client and the
    // connection's HTTP state, with no request parsed. For stream and websocket the head
    // went out already: an answer given now (respond*) closes the connection instead.
    // Returns false, changing nothing, when no location matches any more.
    bool adopt(const net::LiveState& st);

    // ---- For the handler of the current request (valid during dispatch only) ----
    // After a held or streamed response is dispatched, the parser (and its Request, ~6 KB) is
    // released until the next request: request() is then an empty Request. Handlers copy what
    // they keep past dispatch.
    const Request& request() const noexcept;
    std::string_view path() const noexcept { return path_; }    // decoded, normalised
    // The Host the request was routed with (kept past dispatch for a held or streamed one).
    std::string_view host() const noexcept { return parser_ ? request().host : held_host_; }
    const config::LocationConf& location() const noexcept { return *loc_; }
    const std::shared_ptr<const Router>& routes() const noexcept { return routes_; }
    std::string_view body() const noexcept { return body_.body(); }
    net::Connection& connection() noexcept { return conn_; }
    bool head_only() const noexcept { return head_only_; }
    bool http10() const noexcept { return http10_; }
    // The client of the current request, settled once per request before any rule reads it:
    // the connection's address (PROXY protocol's on such a listener) or, from a trusted proxy,
    // what real_ip_header says. Used by allow/deny, the limits and the logs.
    const IpBytes& client_address() const noexcept { return client_; }
    const std::string& client_host() const noexcept { return remote_; }  // its text form

    // Complete responses; each finishes the request. The head gets Date, Server, Connection
    // (keep-alive or close, decided here for all of them) and, unless the status is 1xx, 204 or
    // 304, Content-Length = the body's size. No body is sent for HEAD or those statuses.
    void respond(ResponseHead&& head, std::string body);
    // Body shared, not copied (a message's bytes kept alive by keep).
    void respond_shared(ResponseHead&& head, std::shared_ptr<const void> keep,
                        std::string_view body);
    // Body = `length` bytes of an open file from `offset`, sent with sendfile (static files).
    void respond_file(ResponseHead&& head, std::shared_ptr<const net::OpenFile> file,
                      std::uint64_t offset, std::uint64_t length);
    // An error page. close: the connection closes after it. retry_after > 0: a Retry-After
    // header (seconds), for a 503 that will pass.
    void respond_error(int status, bool close = false, int retry_after = 0);
    // Sends a head now and keeps the response open; `owner` writes to connection().out() and
    // calls end_response() when done. For HTTP/1.1 the head should say chunked.
    void start_stream(ResponseHead&& head, std::unique_ptr<Responder> owner);
    // Keeps the request open without a head; `owner` later calls respond()/respond_shared().
    void hold(std::unique_ptr<Responder> owner);
    // Keeps the request undecided while an asynchronous step (an auth request to the
    // application, a broker answer) runs: the head is copied out of the read buffer, so request(), path(),
    // location() and body() stay valid until resume(). `waiter` is owned as a held response's
    // Responder is: told cancel() if the connection closes meanwhile (then it must never touch
    // this session again) and on_shutdown() on a graceful stop. Input is not parsed meanwhile.
    void suspend(std::unique_ptr<Responder> waiter);
    // Ends the suspension: the waiter is retired (destroyed after the current dispatch; it may
    // be the caller), then `handler` answers the request as a dispatched handler would.
    void resume(const std::function<void(HttpSession&)>& handler);
    // The waiter given to suspend() while the request is suspended, else nullptr.
    Responder* waiter() const noexcept { return suspended_ ? responder_.get() : nullptr; }
    // Ends a stream; the next pipelined request is processed.
    void end_response();
    // Replaces this session by another protocol (WebSocket), after `head` (101) is queued.
    // Reading goes on (also if it was paused while the request waited); what the client sent
    // behind the request is `next`'s to take: at once when the upgrade is answered inside the
    // dispatch, else on its Connection::resume_input() (WsSession::open()).
    void upgrade(std::string head, std::unique_ptr<net::Session> next);
    // The Access-Control-Allow-Origin value for this request under the location's
    // allow_origin list: "*", the request's Origin, or "" when none applies. The view lives
    // as long as the request (copy it to keep it past the request, as a held long-poll does).
    std::string_view cors_origin() const;
    // CORS headers for the current request, added to a response head.
    void add_cors(ResponseHead& head) const { add_cors_headers(head, cors_origin()); }

    // Input buffered while a held or streamed response runs before reading pauses (the
    // connection's read size may add one read on top).
    static constexpr std::size_t held_input_limit = 16 * 1024;

private:
    enum class State : std::uint8_t { head, body, dispatched, upgraded };
    std::size_t on_head_done(std::span<char> data, std::size_t head_len) noexcept;
    std::size_t read_body(std::span<char> data) noexcept;
    bool route() noexcept;
    void dispatch() noexcept;
    void settle_client() noexcept;
    void forget_client() noexcept;  // back to the connection's own address
    bool admit_limits() noexcept;  // false: refused (429/503 sent)
    // The routed location's per-address limits and its server's zone in the limiter, or
    // nullptr when none applies (no limiter, or neither limit set).
    net::AddrLimiter* addr_limits(std::uint32_t& zone, net::AddrLimits& limits) const noexcept;
    // Queues a complete response's head; returns how many body bytes (of `length`) to send.
    std::uint64_t send_head(ResponseHead&& head, std::uint64_t length);
    void finish_request(int status, std::uint64_t body_bytes) noexcept;
    void log_access(int status, std::uint64_t bytes) noexcept;
    void arm_timer(Duration d) noexcept;

    SessionHost& host_;
    std::shared_ptr<const Router> routes_;   // snapshot in use for the current request
    std::unique_ptr<RequestParser> parser_;  // null while a held/streamed response runs
    State state_ = State::head;
    const config::ServerConf* server_ = nullptr;
    const config::LocationConf* loc_ = nullptr;
    std::string path_;
    std::string head_copy_;                  // head bytes kept while a body is read
    BodyReader body_;
    bool head_only_ = false, keep_alive_ = true, http10_ = false;
    bool waiting_drain_ = false;             // output over its limit: stop parsing
    bool input_held_ = false;                // reading paused while a response is held
    bool shutting_down_ = false;
    bool header_timer_ = false;              // client_header_timeout armed for this request
    bool in_dispatch_ = false;               // a handler is running synchronously
    bool suspended_ = false;                 // responder_ is a waiter: the request stays parsed
    std::string_view head_view_;             // the head in the read buffer, during dispatch
    std::unique_ptr<Responder> responder_;
    std::string request_line_;               // kept for the access log of held responses
    std::string remote_;                     // client_ as text (the access log's first field)
    IpBytes client_{};
    bool remote_replaced_ = false;           // client_, remote_: not the connection's address
    std::string referer_, user_agent_;       // copies for the access log (only when enabled)
    std::string held_host_;                  // the Host a held or streamed response was routed with
    std::string adopted_origin_;             // the CORS answer of a response taken over (adopt)
    bool mid_response_ = false;              // adopted after the head went out: no answer fits
    Timer timer_;
};

} // namespace herald::http
