// Connection: read into a per-thread scratch buffer (idle connections keep no read buffer),
// hand bytes to the session, batch writes, close asynchronously.
#include "net/connection.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.hpp"
#include "net/server.hpp"

namespace herald::net {
namespace {
// Reads land here first; only an incomplete tail is copied into the connection's own buffer.
constexpr std::size_t scratch_size = 64 * 1024;
thread_local char t_scratch[scratch_size];
} // namespace

void Session::on_peer_closed() noexcept { conn_.close_after_flush(); }
void Session::on_shutdown() noexcept { conn_.close_after_flush(); }
Handing Session::hand_over(LiveState&) noexcept { return Handing::never; }

Connection::Connection(Server& server, UniqueFd fd, const Address& peer, std::size_t listener)
    : server_(server), fd_(std::move(fd)), peer_(peer), socket_peer_(peer), listener_(listener) {
    out_.count_into(&server.queued);
}

Connection::~Connection() = default;

EventLoop& Connection::loop() noexcept { return server_.loop(); }

void Connection::start(std::unique_ptr<Session> session) {
    session_ = std::move(session);
    std::error_code ec;
    watch_ = loop().watch(fd_.get(), Interest::read, *this, ec);
    if (ec) {
        HERALD_ERROR("watch(fd=%d): %s", fd_.get(), ec.message().c_str());
        close();
    }
}

void Connection::replace_session(std::unique_ptr<Session> session) {
    server_.retire(std::move(session_));
    session_ = std::move(session);
}

bool Connection::wants_read() const noexcept {
    return state_ == State::lingering || (!paused_ && !peer_closed_);
}

void Connection::on_ready(const ReadyEvent& ev) noexcept {
    if (closed()) return;
    if (ev.writable) flush_now(loop().now());  // now() was read right after wait()
    if (closed()) return;
    if ((ev.readable || ev.hangup) && wants_read()) read_input();
}

void Connection::read_input() noexcept {
    if (state_ == State::lingering) {  // discard until the peer closes (see close_after_flush)
        ssize_t n = ::read(fd_.get(), t_scratch, scratch_size);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            close();
        return;
    }
    // A short leftover (the start of a frame or request the last read cut) goes in front of
    // the scratch buffer and the read lands behind it, so a stream of pipelined messages is
    // read 64 KiB at a time however the reads cut it. A long one (a large message being
    // assembled) grows in the connection's own buffer.
    char* dst;
    std::size_t room;
    const std::size_t carried = in_.size();
    const bool scratch = carried <= scratch_size / 4;
    if (scratch) {
        if (carried > 0) std::memcpy(t_scratch, in_.data(), carried);
        dst = t_scratch + carried;
        room = scratch_size - carried;
    } else {
        in_.reserve(std::max(carried / 2, scratch_size));
        dst = in_.tail();
        room = in_.tail_room();
    }
    ssize_t n = ::recv(fd_.get(), dst, room, 0);  // a socket: recv(2) skips the file layer
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        HERALD_DEBUG("recv(fd=%d) from %s: %s", fd_.get(), peer_.to_string().c_str(),
                     std::generic_category().message(errno).c_str());
        close();
        return;
    }
    if (n == 0) {
        peer_closed_ = true;
        update_interest();
        if (session_) session_->on_peer_closed();
        return;
    }
    if (scratch) {
        in_.clear();  // its bytes are in front of the scratch buffer now
        process({t_scratch, carried + static_cast<std::size_t>(n)}, true);
    } else {
        in_.commit(static_cast<std::size_t>(n));
        process(in_.span(), false);
    }
    // Answers to what this read brought (echoes, pipelined responses) leave now, not at the
    // end of the iteration: the bytes are still in cache, and the replies of every connection
    // ready in this wait are not all held at once (64 echo connections x 64 KiB read = 4 MiB
    // allocated and freed per iteration made the heap grow and shrink each time).
    if (flush_pending_) flush_now({});
}

void Connection::flush_scheduled(Clock::time_point now) noexcept {
    if (flush_pending_) flush_now(now);
}

// Offers data to the session until it stops consuming. Leftover scratch bytes are kept.
void Connection::process(std::span<char> data, bool from_scratch) noexcept {
    in_process_ = true;
    std::size_t off = 0;
    while (off < data.size() && !closed() && !paused_ && session_) {
        Session* s = session_.get();
        std::size_t used = s->on_data(data.subspan(off));
        off += used;
        if (used == 0 && session_.get() == s) break;
    }
    in_process_ = false;
    if (from_scratch) {
        if (off < data.size() && !closed()) in_.append({data.data() + off, data.size() - off});
    } else {
        in_.consume(off);
    }
    if (in_.empty() && in_.capacity() > 0) in_.release();  // idle: hold no read buffer
}

void Connection::resume_input() noexcept {
    if (closed() || in_process_ || in_.empty()) return;
    process(in_.span(), false);
}

void Connection::pause_reading(bool paused) noexcept {
    if (paused_ == paused) return;
    paused_ = paused;
    update_interest();
}

void Connection::update_interest() noexcept {
    if (closed() || !watch_) return;
    int in = 0;
    if (wants_read()) in |= static_cast<int>(Interest::read);
    if (writing_) in |= static_cast<int>(Interest::write);
    if (auto ec = watch_.set(static_cast<Interest>(in))) {
        HERALD_ERROR("watch.set(fd=%d): %s", fd_.get(), ec.message().c_str());
        close();
    }
}

void Connection::flush_soon() noexcept {
    if (closed() || flush_pending_ || writing_) return;
    flush_pending_ = true;
    server_.schedule_flush(*this);
}

void Connection::flush_now(Clock::time_point now) noexcept {
    flush_pending_ = false;
    if (closed()) return;
    std::error_code ec;
    IoStatus st = out_.flush(fd_.get(), ec, now);
    if (st == IoStatus::error) {
        HERALD_DEBUG("write(fd=%d) to %s: %s", fd_.get(), peer_.to_string().c_str(),
                     ec.message().c_str());
        close();
        return;
    }
    if (st == IoStatus::would_block) {
        if (!writing_) {
            writing_ = true;
            update_interest();
        }
        if (!send_timer_.active()) {
            last_written_ = out_.written();
            send_timer_ = loop().add_timer(send_timeout_, [this] {
                HERALD_INFO("send timeout on fd=%d to %s", fd_.get(), peer_.to_string().c_str());
                close();
            });
        } else if (out_.written() != last_written_) {  // progress: push the deadline out
            last_written_ = out_.written();
            send_timer_.restart(send_timeout_);
        }
        return;
    }
    send_timer_.cancel();
    if (writing_) {
        writing_ = false;
        update_interest();
    }
    switch (state_) {
    case State::open:
        if (session_) session_->on_drained();
        return;
    case State::closing_after_flush:
        if (peer_closed_) close();
        else start_linger();
        return;
    case State::lingering:
    case State::closed:
        close();
        return;
    }
}

void Connection::close_after_flush() noexcept {
    if (closed()) return;
    if (state_ == State::open) state_ = State::closing_after_flush;
    flush_soon();
}

void Connection::start_linger() noexcept {
    state_ = State::lingering;
    ::shutdown(fd_.get(), SHUT_WR);
    paused_ = false;
    update_interest();
    send_timer_ = loop().add_timer(linger_timeout, [this] { close(); });
}

Handing Connection::hand_over(LiveState& st) noexcept {
    if (state_ != State::open || peer_closed_ || !session_) return Handing::never;
    const Handing h = session_->hand_over(st);
    if (h != Handing::ready) return h;
    pause_reading(true);  // frozen: what comes in is the new process's to read
    if (!out_.empty() || writing_ || flush_pending_) {
        flush_soon();
        return Handing::later;
    }
    st.listener = listener_;
    st.peer = peer_;
    st.socket_peer = socket_peer_;
    st.input.assign(in_.data(), in_.size());
    return Handing::ready;
}

UniqueFd Connection::take_socket() noexcept {
    UniqueFd copy(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
    if (!copy)
        HERALD_ERROR("upgrade: dup(fd=%d): %s", fd_.get(),
                     std::generic_category().message(errno).c_str());
    close();
    return copy;
}

void Connection::preload(std::string_view input) {
    if (input.empty() || closed()) return;
    in_.append(input);
    resume_input();
}

void Connection::close() noexcept {
    if (closed()) return;
    state_ = State::closed;
    watch_.reset();
    send_timer_.cancel();
    if (session_) session_->on_close();
    server_.reap(*this);
}

} // namespace herald::net
