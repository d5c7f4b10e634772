// wsload: Worker plumbing: non-blocking connects with pacing and retries, the epoll loop, the
// upgrade/GET handshake, HTTP response framing and WebSocket frames. Part of the single-TU build.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <system_error>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "worker.hpp"

namespace wsload {

inline std::int64_t mono_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

inline std::int64_t real_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

inline constexpr std::array<std::uint8_t, 4> mask_key{0x37, 0xfa, 0x21, 0x3d};

inline Worker::Worker(Shared& shared, std::vector<std::uint32_t> indices, bool publisher)
    : shared_(shared), opt_(shared.opt), rbuf_(publisher ? 16 * 1024 : 256 * 1024) {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
    conns_.resize(indices.size() + (publisher ? 1 : 0));
    for (std::size_t i = 0; i < indices.size(); ++i) {
        conns_[i].global_index = indices[i];
        conns_[i].frames = FrameParser(opt_.mode == Mode::subscribe);
    }
    if (publisher) {
        publisher_ = &conns_.back();
        publisher_->is_publisher = true;
        pub_total_ = static_cast<std::uint64_t>(opt_.rate * opt_.duration + 0.5);
        pub_interval_ns_ = static_cast<std::int64_t>(1e9 / opt_.rate);
    }
    for (const Url& url : opt_.urls) {
        const std::string host = "Host: " + host_header(url) + "\r\nUser-Agent: wsload\r\n";
        std::string& request = requests_.emplace_back();
        if (opt_.proto == Proto::ws) {
            request = "GET " + url.target + " HTTP/1.1\r\n" + host +
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
                      std::string(opt_.deflate ? "Sec-WebSocket-Extensions: permessage-deflate; "
                                                 "client_no_context_takeover\r\n" : "") + "\r\n";
        } else if (opt_.proto == Proto::sse) {
            request = "GET " + url.target + " HTTP/1.1\r\n" + host +
                      "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n";
        }
    }
    if (opt_.mode == Mode::echo) {
        const std::string payload = opt_.json ? json_payload(opt_.size, 1) : std::string(opt_.size, 'x');
        std::string frame;
        if (opt_.proto == Proto::raw) {
            frame = payload;
        } else if (opt_.deflate) {  // RFC 7692 §7.2.1: compressed, 00 00 ff ff removed, RSV1
            std::string z;
            herald::ws::append_deflated_payload(payload, 6, z);
            append_client_frame(frame, opt_.binary ? op_binary : op_text, z, mask_key);
            frame[0] = static_cast<char>(frame[0] | 0x40);
        } else {
            append_client_frame(frame, opt_.binary ? op_binary : op_text, payload, mask_key);
        }
        frame_len_ = static_cast<std::uint32_t>(frame.size());
        for (unsigned i = 0; i <= opt_.inflight; ++i) tpl_ += frame;
        ring_.assign(indices.size() * opt_.inflight, 0);
    }
}

inline Worker::~Worker() {
    for (Conn& c : conns_)
        if (c.fd >= 0) ::close(c.fd);
    if (epfd_ >= 0) ::close(epfd_);
}

inline void Worker::run() {
    if (publisher_) open(*publisher_);
    open_more();
    std::vector<epoll_event> events(1024);
    while (!shared_.stop.load(std::memory_order_relaxed)) {
        const std::int64_t now = mono_ns();
        if (opt_.mode == Mode::echo && !echo_started_) {
            const std::int64_t s = shared_.start_ns.load(std::memory_order_acquire);
            if (s != 0 && now >= s) start_echo(now);
        }
        if (publisher_) publish_tick(now);
        const int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), timeout_ms(now));
        loop_now_ = mono_ns();
        for (int i = 0; i < n; ++i) {
            const std::uint64_t token = events[static_cast<std::size_t>(i)].data.u64;
            Conn& c = conns_[token & 0xffffffffu];
            if (c.fd < 0 || c.gen != static_cast<std::uint32_t>(token >> 32)) continue;
            on_event(c, events[static_cast<std::size_t>(i)].events);
        }
        if (!retry_.empty() || (opening_ < opt_.connect_batch && next_open_ < subscriber_count()))
            open_more();
        if (stats.deliveries != delivered_reported_) {
            shared_.delivered.fetch_add(stats.deliveries - delivered_reported_, std::memory_order_relaxed);
            delivered_reported_ = stats.deliveries;
        }
    }
    // Abortive close: thousands of client-side TIME_WAITs would starve the next run's ports.
    const linger lg{1, 0};
    for (Conn& c : conns_) {
        if (c.fd < 0) continue;
        setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        ::close(c.fd);
        c.fd = -1;
    }
}

inline std::size_t Worker::subscriber_count() const noexcept {
    return conns_.size() - (publisher_ ? 1 : 0);
}

inline void Worker::open_more() {
    while (opening_ < opt_.connect_batch && !shared_.stop.load(std::memory_order_relaxed)) {
        if (!retry_.empty()) {
            const std::size_t i = retry_.back();
            retry_.pop_back();
            open(conns_[i]);
        } else if (next_open_ < subscriber_count()) {
            open(conns_[next_open_++]);
        } else {
            break;
        }
    }
}

inline std::uint64_t Worker::token(const Conn& c) const noexcept {
    return static_cast<std::uint64_t>(&c - conns_.data()) | (std::uint64_t{c.gen} << 32);
}

inline void Worker::open(Conn& c) {
    const Url& url = c.is_publisher ? opt_.publish_url : url_of(c);
    if (!c.is_publisher && !c.counted_ready) ++opening_;
    c.state = State::connecting;
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        report_once("socket", errno);
        ++stats.connect_errors;
        fail_connect(c);
        return;
    }
    c.fd = fd;
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (opt_.src_ips > 1 && (ntohl(url.addr.sin_addr.s_addr) >> 24) == 127) {
        // Each source address has its own ephemeral port range: > 28k connections need several.
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        sockaddr_in src{};
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl((127u << 24) | (1u + c.global_index % opt_.src_ips));
        if (::bind(fd, reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0) report_once("bind", errno);
    }
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&url.addr), sizeof url.addr) != 0 &&
        errno != EINPROGRESS) {
        report_once("connect", errno);
        ++stats.connect_errors;
        fail_connect(c);
        return;
    }
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u64 = token(c);
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        report_once("epoll_ctl", errno);
        ++stats.connect_errors;
        fail_connect(c);
        return;
    }
    c.want_write = true;
}

inline void Worker::report_once(const char* call, int err) {
    if (reported_errors_++ < 3 && !opt_.quiet)
        std::fprintf(stderr, "wsload: %s: %s\n", call, std::strerror(err));
}

// A connect or handshake attempt failed (the caller counted it): retry (up to 3 attempts) or
// give the connection up.
inline void Worker::fail_connect(Conn& c) {
    const bool counted = c.counted_ready;
    drop(c, State::unopened);
    if (!c.is_publisher && !counted) --opening_;
    if (++c.attempts < 3 && !shared_.stop.load(std::memory_order_relaxed)) {
        if (c.is_publisher || counted) open(c);    // not paced: reconnect at once
        else retry_.push_back(static_cast<std::size_t>(&c - conns_.data()));
        return;
    }
    c.state = State::dead;
    if (!c.is_publisher && !counted) shared_.gave_up.fetch_add(1, std::memory_order_relaxed);
}

// Closes the socket and resets the per-connection parsers; `next` says what the slot is now.
inline void Worker::drop(Conn& c, State next) {
    if (c.fd >= 0) {
        epoll_ctl(epfd_, EPOLL_CTL_DEL, c.fd, nullptr);
        ::close(c.fd);
    }
    c.fd = -1;
    ++c.gen;
    c.state = next;
    c.want_write = false;
    c.body_mode = BodyMode::head;
    c.in.clear();
    c.out.clear();
    c.body.clear();
    c.frames = FrameParser(opt_.mode == Mode::subscribe);
    c.chunked.reset();
    c.sse = SseParser{};
    c.tpl_pending = 0;
    c.tpl_off = 0;
}

inline void Worker::mark_ready(Conn& c) {
    c.state = State::open;
    c.attempts = 0;
    if (c.is_publisher) {
        shared_.publisher_ready.store(true, std::memory_order_release);
        return;
    }
    if (c.counted_ready) return;
    c.counted_ready = true;
    --opening_;
    shared_.ready.fetch_add(1, std::memory_order_release);
    if (opt_.mode == Mode::echo && echo_started_) send_echo(c, opt_.inflight, mono_ns());
}

inline void Worker::on_event(Conn& c, std::uint32_t events) {
    if (c.state == State::connecting) {
        on_connected(c);
        return;
    }
    const std::uint32_t gen = c.gen;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
    if ((events & EPOLLOUT) && c.gen == gen && c.fd >= 0) flush(c);
}

inline void Worker::on_connected(Conn& c) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        report_once("connect (SO_ERROR)", err);
        ++stats.connect_errors;
        fail_connect(c);
        return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = token(c);
    epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
    c.want_write = false;
    if (c.is_publisher || opt_.proto == Proto::raw) {
        mark_ready(c);
        if (c.is_publisher) publish_tick(mono_ns());
    } else if (opt_.proto == Proto::longpoll) {
        mark_ready(c);
        queue_request(c);
    } else {
        c.state = State::handshake;
        c.out = requests_[c.global_index % requests_.size()];
        flush(c);
    }
}

inline void Worker::on_readable(Conn& c) {
    const std::uint32_t gen = c.gen;
    for (int round = 0; round < 4; ++round) {
        const ssize_t n = ::recv(c.fd, rbuf_.data(), rbuf_.size(), 0);
        if (n > 0) {
            on_bytes(c, std::string_view(rbuf_.data(), static_cast<std::size_t>(n)));
            if (c.gen != gen || static_cast<std::size_t>(n) < rbuf_.size()) return;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        on_closed(c);
        return;
    }
}

// The peer closed (or reset) the connection.
inline void Worker::on_closed(Conn& c) {
    if (c.state == State::handshake) {
        ++stats.handshake_errors;
        fail_connect(c);
        return;
    }
    const bool http_client = c.is_publisher || opt_.proto == Proto::longpoll;
    if (http_client && c.body_mode == BodyMode::until_close) {
        c.body_mode = BodyMode::head;
        const std::uint32_t gen = c.gen;
        on_response(c);
        if (c.gen != gen) return;
    }
    if (http_client && !shared_.stop.load(std::memory_order_relaxed)) {
        if (c.is_publisher) lose_publishes(c);
        drop(c, State::unopened);
        open(c);    // keep-alive ended by the server: reconnect and carry on
        return;
    }
    ++stats.peer_closed;
    drop(c, State::dead);
}

inline void Worker::on_bytes(Conn& c, std::string_view data) {
    if (c.state == State::handshake) {
        on_handshake_bytes(c, data);
        return;
    }
    if (!c.is_publisher) stats.bytes_in += data.size();
    if (c.is_publisher || opt_.proto == Proto::longpoll) {
        on_http_bytes(c, data);
    } else if (opt_.proto == Proto::ws) {
        on_ws_bytes(c, data);
    } else if (opt_.proto == Proto::sse) {
        on_stream_bytes(c, data);
    } else if (opt_.mode == Mode::echo) {    // raw: fixed-size messages
        c.raw_rx += data.size();
        const auto k = static_cast<std::uint32_t>(c.raw_rx / opt_.size);
        c.raw_rx %= opt_.size;
        if (k) on_echoed(c, k, mono_ns());
    }
}

// Response to the upgrade (ws: 101) or the event-stream GET (sse: 200).
inline void Worker::on_handshake_bytes(Conn& c, std::string_view data) {
    c.in.append(data);
    const long head_len = parse_response_head(c.in, c.head);
    if (head_len == 0) return;
    const int want = opt_.proto == Proto::ws ? 101 : 200;
    if (head_len < 0 || c.head.status != want) {
        if (handshake_reported_++ < 3 && !opt_.quiet)
            std::fprintf(stderr, "wsload: handshake answered: %.*s\n",
                         static_cast<int>(std::min<std::size_t>(c.in.find('\r'), 200)), c.in.c_str());
        ++stats.handshake_errors;
        fail_connect(c);
        return;
    }
    if (opt_.deflate && opt_.proto == Proto::ws &&
        c.in.substr(0, static_cast<std::size_t>(head_len)).find("permessage-deflate") == std::string::npos) {
        if (handshake_reported_++ < 3 && !opt_.quiet)
            std::fprintf(stderr, "wsload: --deflate: the server did not accept permessage-deflate\n");
        ++stats.handshake_errors;
        fail_connect(c);
        return;
    }
    std::string rest = c.in.substr(static_cast<std::size_t>(head_len));
    c.in = std::string();    // idle connections keep no buffer
    if (opt_.proto == Proto::sse) c.body_mode = c.head.chunked ? BodyMode::chunked : BodyMode::stream;
    mark_ready(c);
    if (!rest.empty()) on_bytes(c, rest);
}

inline void Worker::on_ws_bytes(Conn& c, std::string_view data) {
    std::uint32_t messages = 0;
    bool closed = false;
    const bool ok = c.frames.feed(data, [&](std::uint8_t opcode, bool fin, std::string_view payload,
                                            bool compressed) {
        if (opcode == op_close) {
            closed = true;
        } else if (opcode == op_ping) {
            queue_control(c, op_pong, payload);
        } else if (opcode == op_text || opcode == op_binary) {
            if (opt_.mode == Mode::echo) {
                messages += fin;
            } else if (opt_.mode == Mode::subscribe) {
                if (!fin || !c.body.empty()) {
                    c.body.append(payload);
                    if (fin) {
                        on_ws_message(c, c.body, compressed);
                        c.body.clear();
                    }
                } else {
                    on_ws_message(c, payload, compressed);
                }
            }
        }
    });
    if (!ok) {
        ++stats.protocol_errors;
        drop(c, State::dead);
    } else if (closed) {
        ++stats.peer_closed;
        queue_control(c, op_close, "\x03\xe8");    // 1000, best effort
        if (flush(c)) drop(c, State::dead);
    } else if (messages) {
        on_echoed(c, messages, mono_ns());    // queues the replacements and flushes
    } else if (!c.out.empty()) {
        flush(c);
    }
}

// A whole data message; inflated first when it came compressed (RFC 7692 §7.2.2: the payload
// plus 00 00 ff ff, no context takeover since herald shares one compressed frame among all).
inline void Worker::on_ws_message(Conn& c, std::string_view payload, bool compressed) {
    if (!compressed) {
        on_message(c, payload);
        return;
    }
    static constexpr std::uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
    herald::deflate::Inflater inflater;
    inflated_.clear();
    auto r = inflater.inflate({reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()},
                              inflated_, 64u << 20);
    if (r.status == herald::deflate::InflateStatus::need_more) r = inflater.inflate(tail, inflated_, 64u << 20);
    if (r.status == herald::deflate::InflateStatus::error || r.status == herald::deflate::InflateStatus::too_large) {
        ++stats.protocol_errors;
        return;
    }
    ++stats.inflated;
    on_message(c, inflated_);
}

// Queues a masked control frame (the caller flushes). In echo mode a partly written template
// frame is finished first (moved into `out`), so the control frame never lands inside a frame.
inline void Worker::queue_control(Conn& c, std::uint8_t opcode, std::string_view payload) {
    if (c.tpl_pending && c.tpl_off) {
        const std::uint32_t rest = frame_len_ - c.tpl_off;
        c.out.append(tpl_, c.tpl_off, rest);
        c.tpl_pending -= rest;
        c.tpl_off = 0;
    }
    append_client_frame(c.out, opcode, payload, mask_key);
}

// SSE body after the head: chunked or raw, through the event-stream parser.
inline void Worker::on_stream_bytes(Conn& c, std::string_view data) {
    auto on_event = [&](std::string_view type, std::string_view event_data) {
        if (type == "message") on_message(c, event_data);
        else if (type == "herald-missed") ++stats.missed_signals;
    };
    if (c.body_mode != BodyMode::chunked) {
        c.sse.feed(data, on_event);
        return;
    }
    std::size_t used = 0;
    const auto st = c.chunked.feed(data, used, [&](std::string_view piece) { c.sse.feed(piece, on_event); });
    if (st == ChunkedDecoder::Status::error) {
        ++stats.protocol_errors;
        drop(c, State::dead);
    } else if (st == ChunkedDecoder::Status::done) {
        ++stats.peer_closed;    // the server ended the stream
        drop(c, State::dead);
    }
}

// Request/response connections (long-poll subscribers, the publisher): collects each response
// and hands it to on_response(); pipelined leftovers stay in `in`.
inline void Worker::on_http_bytes(Conn& c, std::string_view data) {
    c.in.append(data);
    std::size_t off = 0;
    for (;;) {
        const std::string_view rest(c.in.data() + off, c.in.size() - off);
        if (c.body_mode == BodyMode::head) {
            const long head_len = parse_response_head(rest, c.head);
            if (head_len == 0) break;
            if (head_len < 0) {
                ++stats.protocol_errors;
                drop(c, State::dead);
                return;
            }
            off += static_cast<std::size_t>(head_len);
            c.body.clear();
            c.body_left = 0;
            const int s = c.head.status;
            if (s == 204 || s == 304 || s < 200) c.body_mode = BodyMode::length;
            else if (c.head.chunked) c.body_mode = BodyMode::chunked;
            else if (c.head.content_length >= 0) c.body_mode = BodyMode::length, c.body_left = c.head.content_length;
            else c.body_mode = BodyMode::until_close;
            continue;
        }
        if (c.body_mode == BodyMode::length) {
            const auto take = std::min<std::size_t>(static_cast<std::size_t>(c.body_left), rest.size());
            c.body.append(rest.substr(0, take));
            off += take;
            c.body_left -= static_cast<std::int64_t>(take);
            if (c.body_left > 0) break;
        } else if (c.body_mode == BodyMode::chunked) {
            std::size_t used = 0;
            const auto st = c.chunked.feed(rest, used, [&](std::string_view p) { c.body.append(p); });
            off += used;
            if (st == ChunkedDecoder::Status::error) {
                ++stats.protocol_errors;
                drop(c, State::dead);
                return;
            }
            if (st == ChunkedDecoder::Status::more) break;
        } else {
            c.body.append(rest);
            off = c.in.size();
            break;
        }
        c.in.erase(0, off);
        off = 0;
        c.body_mode = BodyMode::head;
        const std::uint32_t gen = c.gen;
        on_response(c);
        if (c.gen != gen || c.state != State::open) return;
    }
    c.in.erase(0, off);
}

// Long-poll GET resuming after the last message seen: herald's ?since=ID (the ETag's opaque id,
// passed on as it is when it needs no percent-encoding) plus the If-None-Match /
// If-Modified-Since pair that nchan's long-poll uses.
inline void Worker::queue_request(Conn& c) {
    std::string_view id = c.etag;
    if (id.substr(0, 2) == "W/") id.remove_prefix(2);
    if (id.size() >= 2 && id.front() == '"' && id.back() == '"') id = id.substr(1, id.size() - 2);
    bool url_safe = !id.empty();  // RFC 3986 unreserved characters only
    for (char ch : id)
        url_safe = url_safe && ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
                                (ch >= 'A' && ch <= 'Z') || ch == '-' || ch == '.' || ch == '_' ||
                                ch == '~');
    std::string& r = c.out;
    r += "GET ";
    const Url& url = url_of(c);
    r += url.target;
    if (url_safe) {
        r += url.target.find('?') == std::string::npos ? "?since=" : "&since=";
        r += id;
    }
    r += " HTTP/1.1\r\nHost: ";
    r += host_header(url);
    r += "\r\nUser-Agent: wsload\r\n";
    if (!c.etag.empty()) r += "If-None-Match: " + c.etag + "\r\n";
    if (!c.last_modified.empty()) r += "If-Modified-Since: " + c.last_modified + "\r\n";
    r += "\r\n";
    flush(c);
}

// Writes `out`, then the pending echo frames. Returns false when the connection was dropped.
inline bool Worker::flush(Conn& c) {
    while (!c.out.empty()) {
        const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN) {
                set_write_interest(c, true);
                return true;
            }
            if (errno == EINTR) continue;
            on_closed(c);
            return false;
        }
        c.out.erase(0, static_cast<std::size_t>(n));
    }
    while (c.tpl_pending) {
        // off < frame_len and pending <= inflight frames, so one template holds it all.
        const ssize_t n = ::send(c.fd, tpl_.data() + c.tpl_off, c.tpl_pending, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN) {
                set_write_interest(c, true);
                return true;
            }
            if (errno == EINTR) continue;
            on_closed(c);
            return false;
        }
        c.tpl_pending -= static_cast<std::uint64_t>(n);
        c.tpl_off = static_cast<std::uint32_t>((c.tpl_off + static_cast<std::uint64_t>(n)) % frame_len_);
    }
    set_write_interest(c, false);
    return true;
}

inline void Worker::set_write_interest(Conn& c, bool on) {
    if (c.want_write == on || c.fd < 0) return;
    epoll_event ev{};
    ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
    ev.data.u64 = token(c);
    epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
    c.want_write = on;
}

} // namespace wsload
