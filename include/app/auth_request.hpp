// The auth_request step of the access rules (DESIGN.md "Identity and access"): before a
// subscriber or a publisher request is served, the application is asked with an HTTP GET;
// the request is suspended on its worker's loop until the answer (or the timeout) decides it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "core/clock.hpp"
#include "event/event_loop.hpp"
#include "httpc/client.hpp"

namespace herald::http {
class HttpSession;
}

namespace herald::app {

// Counters summed by /status. Relaxed atomics: written by one worker, read by any. admitted,
// refused and failed count decisions (answers and cache hits); timeouts are among failed.
struct AuthStats {
    std::atomic<std::uint64_t> sent{0}, admitted{0}, refused{0}, failed{0}, timeouts{0},
        cache_hits{0};
};

// Answers kept per worker with auth_request_cache; past this many the expired ones are
// dropped, then the oldest inserted.
inline constexpr std::size_t max_auth_cache_entries = 10'000;

// The application's answers kept with auth_request_cache, by key (URL, Cookie, Authorization,
// channel). At most `capacity` entries: inserting one more first drops the expired ones, then
// the oldest inserted. One per worker, loop thread only.
class AuthCache {
public:
    struct Answer {
        int status = 0;
        std::string www_authenticate;
        Clock::time_point until;
        std::uint64_t seq = 0; // insertion order (eviction of the oldest)
    };
    explicit AuthCache(std::size_t capacity = max_auth_cache_entries) : capacity_(capacity) {}

    // The answer kept for key, nullptr when there is none or it expired.
    const Answer* find(const std::string& key, Clock::time_point now) const;
    void remember(std::string key, int status, const std::string& www_authenticate,
                  Clock::time_point now, Clock::duration ttl);
    std::size_t size() const noexcept { return answers_.size(); }

private:
    std::size_t capacity_;
    std::unordered_map<std::string, Answer> answers_;
    std::uint64_t seq_ = 0;
};

// One per worker; owned by the Worker, on its loop thread only. Points to (does not own) the
// worker's HTTP client and counters, which outlive it.
class AuthRequests {
public:
    AuthRequests(EventLoop& loop, httpc::Client& client, AuthStats& stats)
        : loop_(loop), client_(client), stats_(stats) {}

    // Decides the session's current request under its location's auth_request. Runs next(s)
    // now when there is none or a cached answer admits; otherwise asks the application
    // (GET with the client's Cookie, Authorization and Origin, X-Original-URI,
    // X-Original-Method, X-Herald-Channel = channel, X-Herald-Strategy = strategy, X-Real-IP)
    // and suspends s: a 2xx runs next(s) later on this loop; 401 and 403 are answered with
    // that status (and the application's WWW-Authenticate); anything else, a failure or no
    // answer within auth_request_timeout -> 503. If the client goes away first, nothing runs.
    // Without auth_request, next runs at once, never wrapped in a std::function.
    template <class Next>
    void admit(http::HttpSession& s, std::string_view channel, std::string_view strategy,
               Next&& next) {
        if (!asks(s)) {
            next(s);
            return;
        }
        ask(s, channel, strategy, std::function<void(http::HttpSession&)>(std::forward<Next>(next)));
    }

private:
    static bool asks(const http::HttpSession& s) noexcept; // its location has auth_request
    void ask(http::HttpSession& s, std::string_view channel, std::string_view strategy,
             std::function<void(http::HttpSession&)> next);
    void decide(http::HttpSession& s, int status, const std::string& www_authenticate,
                const std::function<void(http::HttpSession&)>& next);

    EventLoop& loop_;
    httpc::Client& client_;
    AuthStats& stats_;
    AuthCache cache_;
};

} // namespace herald::app
