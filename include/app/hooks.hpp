// on_subscribe / on_unsubscribe: a small JSON event POSTed to the application when a
// subscriber joins or leaves, asynchronously, with a bounded queue and retries.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "event/event_loop.hpp"
#include "httpc/client.hpp"
#include "push/host.hpp"

namespace herald::app {

// Counters summed by /status (relaxed atomics: one writer, any reader). sent: events the
// application took (2xx); failed: given up after every attempt; dropped: the queue was full;
// retried: attempts after the first.
struct HookStats {
    std::atomic<std::uint64_t> sent{0}, failed{0}, dropped{0}, retried{0};
};

inline constexpr std::size_t max_hook_queue = 1000;   // events in delivery per worker
inline constexpr int hook_attempts = 3;               // tries per event
inline constexpr Clock::duration hook_timeout = std::chrono::seconds(5);       // per try
inline constexpr Clock::duration hook_first_retry = std::chrono::milliseconds(200); // x4 each

// {"event":"subscribe","channel":"c","strategy":"sse","sub":"","addr":"127.0.0.1",
// "node":"host"}; every string JSON-escaped (channel names and subs come from clients).
std::string hook_event_json(std::string_view event, const push::PresenceEvent& e,
                            std::string_view node);

// One per worker; owned by the Worker, loop thread only. Points to (does not own) the
// worker's loop, HTTP client and counters, which outlive it. Delivery is best effort: events
// still queued when the worker stops are lost.
class Hooks {
public:
    Hooks(EventLoop& loop, httpc::Client& client, HookStats& stats)
        : loop_(loop), client_(client), stats_(stats) {}
    Hooks(const Hooks&) = delete;
    Hooks& operator=(const Hooks&) = delete;

    // Queues a POST of `json` to url (dropped and counted when max_hook_queue are pending).
    void post(const config::UpstreamUrl& url, std::string json);

private:
    struct Event {
        httpc::Endpoint to;
        std::string path, body;
        int attempts = 0;
        httpc::Call call;
        Timer retry;
    };
    using Iter = std::list<Event>::iterator;
    void attempt(Iter it);
    void attempt_failed(Iter it, const char* why);
    void finish(Iter it);

    EventLoop& loop_;
    httpc::Client& client_;
    HookStats& stats_;
    std::list<Event> events_; // stable iterators: callbacks hold them
    bool dropping_ = false;   // the queue is full and the drop was logged
};

} // namespace herald::app
