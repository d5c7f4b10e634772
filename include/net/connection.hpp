// Connection: one accepted TCP connection on one worker loop. Owns its fd, its read Buffer,
// its OutputQueue and its current Session (HTTP/1.1, then possibly WebSocket after an
// upgrade). Does not own the Server or the loop (back-references). Only the loop thread that
// accepted it may touch it. It is never destroyed inside its own callbacks: close() stops I/O
// and asks the Server to reap it after the current dispatch.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "core/buffer.hpp"
#include "core/unique_fd.hpp"
#include "event/event_loop.hpp"
#include "net/output_queue.hpp"
#include "net/socket.hpp"

namespace herald::net {

class Connection;
class Server;

// The protocol spoken on a connection. Called only on the connection's loop thread.
class Session {
public:
    virtual ~Session() = default;
    // Received bytes, from the first unconsumed one (mutable: a WebSocket session unmasks in
    // place). Returns how many bytes were consumed; the rest is offered again, with more, later.
    virtual std::size_t on_data(std::span<char> data) noexcept = 0;
    // The output queue became empty.
    virtual void on_drained() noexcept {}
    // The peer closed its side (read EOF). Default: finish writing, then close.
    virtual void on_peer_closed() noexcept;
    // The connection is closing (any reason): release subscriptions, timers. No I/O possible.
    virtual void on_close() noexcept {}
    // Graceful shutdown: finish what is in flight, end streams cleanly, then close.
    virtual void on_shutdown() noexcept;
    Connection& connection() noexcept { return conn_; }

protected:
    explicit Session(Connection& c) noexcept : conn_(c) {}
    Connection& conn_;
};

class Connection final : public IoHandler {
public:
    Connection(Server& server, UniqueFd fd, const Address& peer, std::size_t listener);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Starts reading with the given session.
    void start(std::unique_ptr<Session> session);
    // Replaces the session (protocol upgrade). The old one is destroyed after dispatch, so it
    // may call this from inside its own on_data(). Unconsumed input goes to the new session.
    void replace_session(std::unique_ptr<Session> session);

    OutputQueue& out() noexcept { return out_; }
    // Queues a flush at the end of this loop iteration (writes are batched per iteration).
    void flush_soon() noexcept;
    // Stops/resumes reading (backpressure: a pipelining client waits while we write).
    void pause_reading(bool paused) noexcept;
    // Offers buffered, unconsumed input to the session again (after it resumed).
    void resume_input() noexcept;
    // Closes now: no more I/O, queued output is dropped; reaped after dispatch.
    void close() noexcept;
    // Closes once everything queued has been written (error responses, Connection: close).
    // If the peer may still be sending, the close lingers (like nginx's lingering_close): our
    // side is shut down for writing and input is read and discarded until the peer closes or
    // linger_timeout passes, so unread input cannot make the kernel reset the connection and
    // destroy the response before the peer has read it.
    void close_after_flush() noexcept;
    // Write stalls longer than this (no byte accepted by the socket) close the connection.
    void set_send_timeout(Clock::duration d) noexcept { send_timeout_ = d; }

    bool closing() const noexcept { return closed_ || close_after_flush_; }
    bool closed() const noexcept { return closed_; }
    bool peer_closed() const noexcept { return peer_closed_; }
    int fd() const noexcept { return fd_.get(); }
    const Address& peer() const noexcept { return peer_; }
    // The client's address as a PROXY protocol header gave it (replaces the socket's peer).
    void set_peer(const Address& a) noexcept { peer_ = a; }
    std::size_t listener() const noexcept { return listener_; }
    Server& server() noexcept { return server_; }
    EventLoop& loop() noexcept;
    Session* session() noexcept { return session_.get(); }

    void on_ready(const ReadyEvent& ev) noexcept override;
    // Writes what is queued; now = when this batch of writes started (recorded as the
    // hand-off time of deliveries that complete; the epoch: read the clock if one does).
    void flush_now(Clock::time_point now) noexcept;
    // The Server's end-of-iteration step: flushes if a flush is still pending (a read flushes
    // the answers it produced itself, at once).
    void flush_scheduled(Clock::time_point now) noexcept;

private:
    void read_input() noexcept;
    void start_linger() noexcept;
    void process(std::span<char> data, bool from_scratch) noexcept;
    void update_interest() noexcept;

    Server& server_;
    UniqueFd fd_;
    Watch watch_;        // declared after fd_: unwatched before the fd closes
    Timer send_timer_;
    Buffer in_;
    OutputQueue out_;
    std::unique_ptr<Session> session_;
    Address peer_;
    std::size_t listener_;
    Clock::duration send_timeout_ = std::chrono::seconds(60);
    std::uint64_t last_written_ = 0;
    bool closed_ = false;
    bool close_after_flush_ = false;
    bool peer_closed_ = false;
    bool paused_ = false;
    bool flush_pending_ = false;
    bool writing_ = false;   // write interest is on
    bool in_process_ = false;
    bool lingering_ = false;

public:
    static constexpr Clock::duration linger_timeout = std::chrono::seconds(2);
};

} // namespace herald::net
