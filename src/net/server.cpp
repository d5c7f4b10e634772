// Server: accept loop with fd-exhaustion handling, per-iteration flush batching, reaping.
#include "net/server.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

#include "core/log.hpp"
#include "core/memory.hpp"

namespace herald::net {

class Server::Listener final : public IoHandler {
public:
    Listener(Server& s, UniqueFd f, std::size_t i) : server(s), fd(std::move(f)), index(i) {}
    void on_ready(const ReadyEvent&) noexcept override { server.on_acceptable(*this); }

    Server& server;
    UniqueFd fd;
    Watch watch;  // after fd
    std::size_t index;
    Timer resume;  // accepting paused after EMFILE/limit
};

Server::Server(EventLoop& loop, SessionFactory factory, int max_connections)
    : loop_(loop), factory_(std::move(factory)), max_connections_(max_connections),
      spare_fd_(::open("/dev/null", O_RDONLY | O_CLOEXEC)) {}

Server::~Server() {
    close_all();
    listeners_.clear();
    retired_.clear();
    for (int fd : reaped_) conns_[static_cast<std::size_t>(fd)].reset();
    reaped_.clear();
}

std::size_t Server::listen(UniqueFd fd, std::error_code& ec) {
    std::size_t index = listeners_.size();
    auto l = std::make_unique<Listener>(*this, std::move(fd), index);
    l->watch = loop_.watch(l->fd.get(), Interest::read, *l, ec);
    listeners_.push_back(std::move(l));
    return index;
}

int Server::listener_fd(std::size_t index) const noexcept {
    return index < listeners_.size() && listeners_[index] ? listeners_[index]->fd.get() : -1;
}

void Server::close_listener(std::size_t index) noexcept {
    if (index < listeners_.size()) listeners_[index].reset();
}

void Server::close_listeners() noexcept {
    for (auto& l : listeners_) l.reset();
}

void Server::on_acceptable(Listener& l) noexcept {
    // Accept a bounded batch per readiness so one busy listener cannot starve the loop.
    for (int i = 0; i < 64; ++i) {
        Address peer;
        std::error_code ec;
        UniqueFd fd = accept_connection(l.fd.get(), peer, ec);
        if (!fd) {
            if (ec == std::errc::resource_unavailable_try_again ||
                ec == std::errc::operation_would_block || ec == std::errc::interrupted ||
                ec == std::errc::connection_aborted)
                return;
            if (loop_.now() - last_limit_log_ > std::chrono::seconds(1)) {
                HERALD_ERROR("accept4(fd=%d): %s", l.fd.get(), ec.message().c_str());
                last_limit_log_ = loop_.now();
            }
            if (ec == std::errc::too_many_files_open ||
                ec == std::errc::too_many_files_open_in_system)
                shed_backlog(l);
            std::error_code ignored = l.watch.set(Interest::none);
            (void)ignored;
            l.resume = loop_.add_timer(std::chrono::milliseconds(100), [&l] {
                std::error_code e = l.watch.set(Interest::read);
                (void)e;
            });
            return;
        }
        accepted.fetch_add(1, std::memory_order_relaxed);
        if (count_ >= static_cast<std::size_t>(max_connections_)) {
            if (loop_.now() - last_limit_log_ > std::chrono::seconds(1)) {
                HERALD_WARN("worker_connections (%d) reached; closing new connection from %s",
                            max_connections_, peer.to_string().c_str());
                last_limit_log_ = loop_.now();
            }
            continue;  // fd closes here
        }
        set_nodelay(fd.get());
        limit_unsent(fd.get());
        Connection& c = add(std::move(fd), peer, l.index);
        c.start(factory_(c));
    }
}

Connection& Server::add(UniqueFd fd, const Address& peer, std::size_t listener) {
    auto idx = static_cast<std::size_t>(fd.get());
    if (idx >= conns_.size()) conns_.resize(idx + 1024);
    auto conn = std::make_unique<Connection>(*this, std::move(fd), peer, listener);
    Connection& c = *conn;
    conns_[idx] = std::move(conn);
    ++count_;
    active.store(count_, std::memory_order_relaxed);
    return c;
}

Connection* Server::adopt(UniqueFd fd, const LiveState& st, std::size_t listener,
                          const SessionFactory& make_session) {
    if (count_ >= static_cast<std::size_t>(max_connections_)) {
        HERALD_WARN("worker_connections (%d) reached; closing the handed-over connection from %s",
                    max_connections_, st.peer.to_string().c_str());
        return nullptr;
    }
    Connection& c = add(std::move(fd), st.socket_peer, listener);
    c.set_peer(st.peer);
    c.start(make_session(c));
    return &c;
}

// Out of fds: the pending connections cannot be served now, and leaving them in the backlog
// would keep their clients waiting on a connection nobody reads. With the spare fd released,
// accept and close them (a bounded batch: the backlog, not a flood that keeps coming), so each
// client learns at once (as libuv does), then take the spare back.
void Server::shed_backlog(Listener& l) noexcept {
    if (!spare_fd_) {  // another thread took it last time: try again at the next shortage
        spare_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        return;
    }
    spare_fd_.reset();
    for (int i = 0; i < 1024; ++i) {
        Address peer;
        std::error_code ec;
        UniqueFd shed = accept_connection(l.fd.get(), peer, ec);
        if (!shed) break;
        accepted.fetch_add(1, std::memory_order_relaxed);
    }
    spare_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
}

void Server::for_each_connection(const std::function<void(Connection&)>& fn) {
    for (const auto& c : conns_)
        if (c && !c->closed()) fn(*c);
}

void Server::close_all() noexcept {
    for (auto& c : conns_)
        if (c && !c->closed()) c->close();
}

void Server::ensure_end_of_iteration() noexcept {
    if (end_scheduled_) return;
    end_scheduled_ = true;
    loop_.defer([this] { end_of_iteration(); });
}

void Server::schedule_flush(Connection& c) noexcept {
    dirty_.push_back(&c);
    ensure_end_of_iteration();
}

void Server::reap(const Connection& c) noexcept {
    reaped_.push_back(c.fd());
    ensure_end_of_iteration();
}

void Server::retire(std::unique_ptr<Session> s) noexcept {
    retired_.push_back(std::move(s));
    ensure_end_of_iteration();
}

// Flush every connection that queued output this iteration (one writev each), then destroy
// the connections and sessions that closed. Flushing may close more; loop until quiet.
// In the first pass, every flush_slice connections, work other threads posted runs at once
// (EventLoop::run_posted_now): a pass over thousands of subscribers takes tens of ms, and a
// request that waits for another thread (a publish waiting for Redis, the next pipelined
// one behind it) would otherwise advance once per pass, each pass carrying one message;
// now the answer goes out within the pass, and messages that arrive meanwhile are queued
// behind the ones not yet written, so they leave in one write. Connections are destroyed
// only below (reaping), so the pointers in `dirty` stay valid across posted work; what the
// posted work dirties is flushed in the next pass, which does not look at posts again, so
// posts cannot keep this from returning to wait(). The slice: with 5,000 subscribers per
// node, 2 nodes and Redis on one core at 100 messages/s (tools/bench/redis-fanout.sh), 1024
// delivered 71% (p50 6.9 s), 256 all (p50 1.4-1.5 s), 64 and 16 all at single-node cost (p50
// 0.16-0.37 s); a look costs one uncontended lock when nothing is posted.
void Server::end_of_iteration() noexcept {
    end_scheduled_ = false;
    bool first = true;
    while (!dirty_.empty() || !reaped_.empty() || !retired_.empty()) {
        std::vector<Connection*> dirty;
        dirty.swap(dirty_);
        // One clock read per batch, not per connection: what a delivery's latency measures
        // is "published -> this batch of writes started" (see README, delivery latency); read
        // again after posted work ran, which may have published what the next slice writes.
        Clock::time_point now = dirty.empty() ? Clock::time_point{} : loop_.read_clock();
        for (std::size_t i = 0; i < dirty.size(); ++i) {
            dirty[i]->flush_scheduled(now);  // closed ones return at once
            if (first && (i + 1) % flush_slice == 0 && loop_.run_posted_now())
                now = loop_.read_clock();
        }
        first = false;
        retired_.clear();
        std::vector<int> reaped;
        reaped.swap(reaped_);
        for (int fd : reaped) {
            auto idx = static_cast<std::size_t>(fd);
            if (idx < conns_.size() && conns_[idx]) {
                // It may have been marked dirty after this pass's list was taken.
                std::erase(dirty_, conns_[idx].get());
                conns_[idx].reset();
                --count_;
            }
        }
        active.store(count_, std::memory_order_relaxed);
    }
    // Thousands of connections just closed (a reconnect storm passed, clients went away): give
    // their memory back rather than keep the peak resident.
    if (trim_.should_release(count_)) release_free_memory();
}

} // namespace herald::net
