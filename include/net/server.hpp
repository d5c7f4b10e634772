// Server: one worker's listeners and connection table. Accepts, batches flushes once per loop
// iteration, and reaps closed connections after dispatch. Owns its Listeners and Connections
// (unique_ptr, indexed by fd). Does not own the loop. Loop thread only, except the counters.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/memory.hpp"
#include "core/unique_fd.hpp"
#include "event/event_loop.hpp"
#include "net/connection.hpp"

namespace herald::net {

class Server {
public:
    // Builds the first Session of an accepted connection. The connection's listener() is the
    // index that listen() returned for the socket it was accepted on.
    using SessionFactory = std::function<std::unique_ptr<Session>(Connection&)>;

    Server(EventLoop& loop, SessionFactory factory, int max_connections);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Starts accepting on fd (already bound and listening). Returns the listener index: the
    // next slot, never reused (close_listener() empties a slot but keeps it).
    std::size_t listen(UniqueFd fd, std::error_code& ec);
    // Stops accepting on one listener (reload removed it) or on all (graceful shutdown).
    void close_listener(std::size_t index) noexcept;
    void close_listeners() noexcept;
    int listener_fd(std::size_t index) const noexcept;

    // A connection the process before a binary upgrade handed over (net/live_state.hpp): added
    // as if accepted on `listener`, with its addresses, started with the session make_session
    // builds for it (the caller then offers st.input: Connection::preload). Returns it, or
    // null (the socket closed) past worker_connections.
    Connection* adopt(UniqueFd fd, const LiveState& st, std::size_t listener,
                      const SessionFactory& make_session);

    // Calls fn for every live connection (shutdown, reload). fn may close connections.
    void for_each_connection(const std::function<void(Connection&)>& fn);
    // Closes every connection now (fast shutdown).
    void close_all() noexcept;

    EventLoop& loop() noexcept { return loop_; }
    std::size_t connection_count() const noexcept { return count_; }
    void set_max_connections(int n) noexcept { max_connections_ = n; }

    // Connections flushed between two looks at the loop's posted work in the first pass of
    // an iteration's flushes (end_of_iteration).
    static constexpr std::size_t flush_slice = 64;

    // Connection hooks.
    void schedule_flush(Connection& c) noexcept;
    void reap(const Connection& c) noexcept;
    void retire(std::unique_ptr<Session> s) noexcept;  // destroyed after dispatch

    // Counters readable from any thread (status page). queued = the sum of every
    // connection's OutputQueue::pending_bytes() (written by the loop thread only).
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::uint64_t> active{0};
    std::atomic<std::uint64_t> queued{0};

private:
    class Listener;
    void on_acceptable(Listener& l) noexcept;
    Connection& add(UniqueFd fd, const Address& peer, std::size_t listener);
    void shed_backlog(Listener& l) noexcept;
    void end_of_iteration() noexcept;
    void ensure_end_of_iteration() noexcept;

    EventLoop& loop_;
    SessionFactory factory_;
    int max_connections_;
    std::vector<std::unique_ptr<Listener>> listeners_;
    std::vector<std::unique_ptr<Connection>> conns_;  // by fd
    std::size_t count_ = 0;
    std::vector<Connection*> dirty_;
    std::vector<int> reaped_;                           // fds of closed connections
    std::vector<std::unique_ptr<Session>> retired_;
    bool end_scheduled_ = false;
    TrimPolicy trim_;                                   // when to release freed memory
    UniqueFd spare_fd_;                                 // released on EMFILE to shed a client
    Clock::time_point last_limit_log_{};
};

} // namespace herald::net
