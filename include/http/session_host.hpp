// SessionHost: what an HttpSession needs from the worker thread that owns its connection.
// http declares it, app::Worker implements it (layers point down: http never includes app).
#pragma once

#include <memory>

namespace herald::net {
class AddrLimiter;
}

namespace herald::http {

class AccessLog;
class HttpSession;
class Responder;
class Router;

// Called on the worker's loop thread only. The host outlives every session it serves.
class SessionHost {
public:
    // The routes snapshot current now; a request keeps the one current when its head was
    // parsed until it completes.
    virtual const std::shared_ptr<const Router>& routes_ptr() const noexcept = 0;
    virtual AccessLog& access_log() noexcept = 0;
    // One request head parsed (the /status request counter).
    virtual void count_request() noexcept = 0;
    // Answers the session's current request by its location's kind (static files, push
    // strategy, publisher, status): respond, stream, hold or upgrade.
    virtual void dispatch(HttpSession& s) = 0;
    // Takes a Responder whose response ended (or whose connection closed) and destroys it
    // after the current dispatch, as net::Server::retire does for sessions: it may be the
    // caller, still running.
    virtual void retire(std::unique_ptr<Responder> r) noexcept = 0;
    // The per-address limits table shared by every worker (limit_conn_per_addr,
    // limit_rate_per_addr); null = none (limits are not applied).
    virtual net::AddrLimiter* addr_limiter() noexcept { return nullptr; }

protected:
    ~SessionHost() = default;
};

} // namespace herald::http
