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
#include "net/addr_limiter.hpp"
#include "net/live_state.hpp"
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
    // A binary upgrade asks whether the connection can move to the new process now (see
    // Handing); on `ready` the session filled its part of st and is frozen. Default: never.
    virtual Handing hand_over(LiveState& st) noexcept;
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

    // A binary upgrade: asks the session (Session::hand_over); `ready` only once the session is
    // frozen and every queued byte is written (until then `later`, with reading paused). On
    // ready st has the addresses, listener and unconsumed input too, and take_socket() gives
    // the socket to send.
    Handing hand_over(LiveState& st) noexcept;
    // A duplicate of the socket for the new process, then this connection closes (the client
    // sees nothing: the socket lives on in the duplicate). Invalid if dup() failed (closed too).
    UniqueFd take_socket() noexcept;
    // The new process: input the old one had read and not consumed, offered to the session
    // as if just read (call after start()).
    void preload(std::string_view input);
    void set_socket_peer(const Address& a) noexcept { socket_peer_ = a; }

    // closing(): close() or close_after_flush() was called (any state but open).
    bool closing() const noexcept { return state_ != State::open; }
    bool closed() const noexcept { return state_ == State::closed; }
    // The peer's EOF was read (see State below: a fact beside the lifecycle, not a state).
    bool peer_closed() const noexcept { return peer_closed_; }
    int fd() const noexcept { return fd_.get(); }
    const Address& peer() const noexcept { return peer_; }
    // The client's address as a PROXY protocol header gave it (replaces the socket's peer).
    void set_peer(const Address& a) noexcept { peer_ = a; }
    // The socket's own peer (the proxy, on a PROXY protocol listener).
    const Address& socket_peer() const noexcept { return socket_peer_; }
    // The per-address count of the request in progress (limit_conn_per_addr): kept by the
    // connection so it lasts through a WebSocket upgrade and ends, at the latest, with it.
    AddrLimiter::Lease& lease() noexcept { return lease_; }
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
    // The lifecycle, one state at a time. Transitions (nothing else moves it):
    //
    //   state                what holds                           -> next state on
    //   -------------------  -----------------------------------  ------------------------------
    //   open                 reads, offers input to the session,  -> closing_after_flush on
    //                        writes, reports on_drained()            close_after_flush()
    //                                                             -> closed on close()
    //   closing_after_flush  as open, but no on_drained(): the    -> lingering when the queue
    //                        queue is flushed to the end             drains, the peer still open
    //                                                             -> closed when it drains after
    //                                                                the peer's EOF; close()
    //   lingering            our side shut down for writing;      -> closed on the peer's EOF or
    //                        input read and discarded, paused or     a read error, linger_timeout,
    //                        not; never offered                      any flush, close()
    //   closed               no watch, no timers; reaped after    (final)
    //                        the current dispatch
    //
    // close_after_flush() in closing_after_flush or lingering only asks for a flush (in
    // lingering that flush closes). The peer's EOF is not a state: it may come while open or
    // closing_after_flush and only decides, when the queue drains, between lingering and
    // closed (in lingering the EOF closes at once and is not recorded).
    enum class State : std::uint8_t { open, closing_after_flush, lingering, closed };

    // True while a readable event should be read: always when lingering (to discard),
    // otherwise unless paused or the peer's EOF was already read.
    bool wants_read() const noexcept;
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
    Address socket_peer_;
    AddrLimiter::Lease lease_;
    std::size_t listener_;
    Clock::duration send_timeout_ = std::chrono::seconds(60);
    std::uint64_t last_written_ = 0;
    State state_ = State::open;
    bool peer_closed_ = false;  // EOF read: no more reading (see State)
    // Bookkeeping orthogonal to the lifecycle (any combination may hold while not closed,
    // and none is looked at once closed), so they stay flags rather than states:
    bool paused_ = false;         // the session's backpressure wish: do not read (not honoured
                                  // while lingering; cleared when the linger starts)
    bool flush_pending_ = false;  // in the Server's end-of-iteration flush list
    bool writing_ = false;        // write interest is on (a write would block; queue not empty)
    bool in_process_ = false;     // inside process(): resume_input() must not re-enter it

public:
    static constexpr Clock::duration linger_timeout = std::chrono::seconds(2);
};

} // namespace herald::net
