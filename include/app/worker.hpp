// Worker: one event-loop thread with its own listeners, connections and per-thread state
// (config snapshot in use, open-file cache, access log buffer). Owned by main. It is the host
// that http sessions (http::SessionHost) and push strategies (push::PushHost) are given, so
// neither module needs to know app. Everything here
// runs on the worker's thread except the constructor, start(), join() and the counters.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "app/auth_request.hpp"
#include "app/hooks.hpp"
#include "http/access_log.hpp"
#include "core/histogram.hpp"
#include "event/event_loop.hpp"
#include "http/router.hpp"
#include "http/session_host.hpp"
#include "http/static_files.hpp"
#include "net/server.hpp"
#include "push/admission.hpp"
#include "push/host.hpp"

namespace herald::push {
class Broker;
}

namespace herald::app {

// Counters summed by /status. Relaxed atomics: written by one worker, read by any.
struct WorkerStats {
    std::atomic<std::uint64_t> requests{0};
    // Live deliveries, publish -> bytes handed to the socket, by PushStrategy (one writer: this
    // worker's thread; see OutputQueue::stamp_delivery).
    Histogram latency[6];
    AuthStats auth;  // auth_request
    HookStats hooks; // on_subscribe / on_unsubscribe
};

class Worker final : public http::SessionHost, public push::PushHost {
public:
    // limiter: the per-address limits table shared by all workers (outlives them).
    Worker(std::size_t index, std::shared_ptr<const http::Router> routes, push::Broker& broker,
           std::vector<struct Worker*>* all, net::AddrLimiter& limiter);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Before start(): adopt a listening socket bound by main for the listen key.
    void add_listener(UniqueFd fd, const std::string& listen_key);
    void start();  // spawns the thread, which runs the loop until stop
    void join();

    // Any thread: the new snapshot is used by requests whose head is parsed after it arrives.
    // The listeners at the `removed` indexes close (their slots stay empty); new_listeners are
    // added after the existing ones, in order (the numbering the snapshot's Router was built with).
    void post_config(std::shared_ptr<const http::Router> routes,
                     std::vector<std::pair<UniqueFd, std::string>> new_listeners,
                     std::vector<std::size_t> removed);
    // Any thread: stop accepting and close streams cleanly, then exit when idle or at deadline.
    void post_graceful_stop(Clock::duration timeout);
    // Any thread: close everything now and exit.
    void post_fast_stop();
    // Any thread, binary upgrade (old process): stop accepting and hand every connection to
    // `hand` (called on this worker's thread with a duplicate of its socket and its state) as
    // soon as it reaches a clean point (net::Handing); what cannot move, or has not by
    // `timeout`, ends the graceful way. Exits when no connection is left.
    using HandOff = std::function<void(UniqueFd, net::LiveState&&)>;
    void post_hand_over(Clock::duration timeout, HandOff hand);
    // Any thread, binary upgrade (new process): serve a connection the old process handed over.
    void post_adopt(UniqueFd fd, net::LiveState&& st);

    // Loop-thread API for sessions and strategies.
    EventLoop& loop() noexcept { return loop_; }
    net::Server& server() noexcept { return *server_; }
    const http::Router& routes() const noexcept { return *routes_; }
    const std::shared_ptr<const http::Router>& routes_ptr() const noexcept override {
        return routes_;
    }
    http::FileCache& files() noexcept { return files_; }
    http::AccessLog& access_log() noexcept override { return access_log_; }
    push::Broker& broker() noexcept override { return broker_; }
    std::size_t index() const noexcept { return index_; }
    push::WorkerId broker_worker() const noexcept override { return broker_worker_; }
    void count_request() noexcept override {
        stats_.requests.fetch_add(1, std::memory_order_relaxed);
    }
    void dispatch(http::HttpSession& s) override;
    void retire(std::unique_ptr<http::Responder> r) noexcept override;
    net::AddrLimiter* addr_limiter() noexcept override { return &limiter_; }
    Histogram& latency(config::PushStrategy s) noexcept override {
        return stats_.latency[static_cast<int>(s)];
    }
    void subscriber_joined(const config::Limits& l, const push::PresenceEvent& e) noexcept override;
    void subscriber_left(const push::PresenceEvent& e) noexcept override;
    AuthRequests& auth() noexcept { return auth_; }
    push::AdmissionRegistry& admissions() noexcept override { return admissions_; }
    bool loop_stopped() const noexcept { return loop_done_.load(std::memory_order_acquire); }
    WorkerStats& stats() noexcept { return stats_; }
    const std::vector<Worker*>& all_workers() const noexcept { return *all_; }

private:
    void apply_config(std::shared_ptr<const http::Router> routes);
    void check_idle_exit();
    void hand_round();
    void end_gracefully(net::Connection& c);
    void adopt(UniqueFd fd, net::LiveState& st);
    void log_hand_over();

    std::size_t index_;
    EventLoop loop_;
    push::AdmissionRegistry admissions_{[this](std::function<void()> fn) {
        loop_.post(std::move(fn));
    }};
    std::shared_ptr<const http::Router> routes_;
    push::Broker& broker_;
    push::WorkerId broker_worker_ = 0;
    // Before server_: sessions and subscribers hold calls and report leaves until they die.
    httpc::Client http_client_;
    AuthRequests auth_;
    Hooks hooks_;
    std::string node_; // gethostname(), the "node" of hook events
    std::unique_ptr<net::Server> server_;
    std::vector<std::unique_ptr<http::Responder>> retired_;  // destroyed after dispatch
    http::FileCache files_;
    http::AccessLog access_log_;
    std::thread thread_;
    WorkerStats stats_;
    std::vector<Worker*>* all_;
    net::AddrLimiter& limiter_;
    bool stopping_ = false;
    std::atomic<bool> loop_done_{false};
    Timer stop_deadline_;
    Timer idle_check_;
    HandOff hand_;                                 // a binary upgrade's hand-over, while it runs
    Timer hand_round_;
    std::unordered_set<const net::Connection*> ending_;  // told on_shutdown() during a hand-over
    std::size_t hand_moved_ = 0, hand_unmovable_ = 0, hand_late_ = 0;
    bool hand_logged_ = false;
};

} // namespace herald::app
