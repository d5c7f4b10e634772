// HttpSession: request lifecycle on one connection (RFC 9112 §9: persistence and pipelining).
#include "http/session.hpp"


#include "http/access_log.hpp"
#include "core/ascii.hpp"
#include "core/log.hpp"
#include "http/origin.hpp"
#include "http/target.hpp"

namespace herald::http {

namespace {

// Before a request is routed, the limits are Router::limits() of the listener (its default
// server's: header limits and client_header_timeout are http/server settings; keepalive_timeout
// may be per location and is read when the request finishes).
ParserLimits parser_limits(const config::Limits& l) noexcept {
    ParserLimits p;
    p.max_request_line = l.large_header_buffer;
    p.max_header_bytes = l.max_header_bytes;
    p.max_header_count = l.max_header_count;
    return p;
}

} // namespace

HttpSession::HttpSession(net::Connection& c, SessionHost& host)
    : Session(c), host_(host), routes_(host.routes_ptr()),
      parser_(std::make_unique<RequestParser>(parser_limits(routes_->limits(c.listener())))),
      remote_(c.peer().host_string()) {
    c.peer().to_v6_bytes(client_.data());
    const config::Limits& l = routes_->limits(conn_.listener());
    conn_.set_send_timeout(l.send_timeout);
    arm_timer(l.client_header_timeout);
}

HttpSession::~HttpSession() = default;

const Request& HttpSession::request() const noexcept {
    static const Request empty;
    return parser_ ? parser_->request() : empty;
}

void HttpSession::arm_timer(Duration d) noexcept {
    timer_ = conn_.loop().add_timer(d, [this] {
        HERALD_INFO("client %s timed out (%s) on fd=%d", remote_.c_str(),
                    state_ == State::body ? "body" : "header or keep-alive", conn_.fd());
        conn_.close();
    });
}

std::size_t HttpSession::on_data(std::span<char> data) noexcept {
    // RFC 9112 §9.6: after a response that closes the connection, later requests are ignored.
    if (conn_.closing()) return data.size();
    if (waiting_drain_) return 0;
    if (state_ == State::dispatched || state_ == State::upgraded) {
        // A held or streamed response cannot consume input: stop reading once a pipelined
        // request's worth is buffered, so a peer that keeps sending cannot grow the buffer.
        if (data.size() >= held_input_limit && !input_held_) {
            input_held_ = true;
            conn_.pause_reading(true);
        }
        return 0;
    }
    if (state_ == State::body) return read_body(data);
    if (!header_timer_) {  // first bytes of a request: the header clock starts
        header_timer_ = true;
        arm_timer(routes_->limits(conn_.listener()).client_header_timeout);
    }
    if (!parser_)
        parser_ = std::make_unique<RequestParser>(parser_limits(routes_->limits(conn_.listener())));
    ParseResult r = parser_->feed(std::string_view(data.data(), data.size()));
    if (r.status == ParseStatus::need_more) return 0;
    if (r.status == ParseStatus::error) {
        HERALD_DEBUG("client %s: bad request: %s", remote_.c_str(), reason_of(r.error));
        keep_alive_ = false;
        http10_ = false;
        head_only_ = false;
        // Its access line must not carry the previous request's line, Referer or User-Agent.
        request_line_.clear();
        referer_.clear();
        user_agent_.clear();
        respond_error(status_of(r.error), true);
        return data.size();
    }
    return on_head_done(data, r.consumed);
}

std::size_t HttpSession::on_head_done(std::span<char> data, std::size_t head_len) noexcept {
    const Request& req = parser_->request();
    http10_ = req.version_minor == 0;
    keep_alive_ = req.keep_alive && !shutting_down_;
    head_only_ = req.method == Method::head;
    host_.count_request();
    if (host_.access_log().enabled()) {
        request_line_.assign(req.method_name).append(" ");
        append_masked_target(request_line_, req.target, "token");  // ?token= is a credential
        request_line_.append(http10_ ? " HTTP/1.0" : " HTTP/1.1");
        referer_.assign(req.header("Referer"));
        user_agent_.assign(req.header("User-Agent"));
    }
    if (!req.has_body()) {
        head_view_ = std::string_view(data.data(), head_len);
        dispatch();
        head_view_ = {};
        return head_len;
    }
    // RFC 9112 §6.3, §9.6: an answer given before the body is read closes the connection, so
    // the unread body is discarded (lingering close) and never parsed as a request.
    bool keep = keep_alive_;
    keep_alive_ = false;
    if (!route()) return data.size();
    keep_alive_ = keep;
    if (body_.start(req, loc_->limits.client_max_body_size) != HttpError::none) {
        respond_error(413, true);
        return data.size();
    }
    // The body arrives over several reads and the read buffer moves: copy the head once and
    // move the Request's views into the copy.
    head_copy_.assign(data.data(), head_len);
    parser_->rebase(std::string_view(data.data(), head_len), head_copy_.data());
    if (req.expect_continue && !http10_) {
        conn_.out().push_static("HTTP/1.1 100 Continue\r\n\r\n");
        conn_.flush_soon();
    }
    state_ = State::body;
    arm_timer(loc_->limits.client_body_timeout);
    return head_len;
}

std::size_t HttpSession::read_body(std::span<char> data) noexcept {
    ParseResult r = body_.feed(std::string_view(data.data(), data.size()));
    if (r.status == ParseStatus::error) {
        respond_error(status_of(r.error), true);
        return data.size();
    }
    if (r.status == ParseStatus::need_more) {
        timer_.restart(loc_->limits.client_body_timeout);
        return r.consumed;
    }
    dispatch();
    return r.consumed;
}

bool HttpSession::route() noexcept {
    if (loc_) return true;
    const Request& req = request();
    routes_ = host_.routes_ptr();  // the snapshot current when this head was parsed
    HttpError err = normalize_path(req.path, path_);
    Router::Route r = routes_->route(conn_.listener(), req.host, path_);
    server_ = r.server;
    if (!server_) {
        respond_error(404);
        return false;
    }
    if (req.method == Method::connect) {
        respond_error(405, true);
        return false;
    }
    if (err != HttpError::none) {
        respond_error(status_of(err), true);
        return false;
    }
    loc_ = r.location;
    if (!loc_) {
        respond_error(404);
        return false;
    }
    return true;
}

void HttpSession::dispatch() noexcept {
    state_ = State::dispatched;
    timer_.cancel();
    if (!route()) return;
    settle_client();
    if (!access_allowed(loc_->access, client_)) {
        HERALD_INFO("access forbidden by rule, client: %s, uri: \"%.*s\"", remote_.c_str(),
                    static_cast<int>(path_.size()), path_.data());
        respond_error(403);
        return;
    }
    if (!admit_limits()) return;
    in_dispatch_ = true;
    host_.dispatch(*this);
    in_dispatch_ = false;
    if (responder_ && !suspended_) {  // held or streaming: nothing reads the head any more
        held_host_.assign(request().host);
        parser_.reset();
        head_copy_ = std::string();
        body_.release();
    }
}

// Between requests client_ and remote_ are the connection's address (set by the constructor,
// restored by forget_client), so a server without real_ip_header does nothing here.
void HttpSession::settle_client() noexcept {
    const config::Limits& l = loc_->limits;
    if (l.real_ip_header == config::RealIpHeader::none) return;
    IpBytes conn{}, socket{};
    conn_.peer().to_v6_bytes(conn.data());
    conn_.socket_peer().to_v6_bytes(socket.data());
    const Request& req = request();
    std::string_view name =
        l.real_ip_header == config::RealIpHeader::x_real_ip ? "X-Real-IP" : "X-Forwarded-For";
    std::string joined;  // RFC 9110 §5.3: several fields are one comma-separated list
    std::string_view value = req.header(name);
    if (l.real_ip_header == config::RealIpHeader::x_forwarded_for && req.header_fields(name) > 1) {
        for (std::size_t i = 0; i < req.header_count; ++i)
            if (ascii::iequals(req.headers[i].name, name))
                joined.append(joined.empty() ? "" : ",").append(req.headers[i].value);
        value = joined;
    }
    const ClientAddress r = resolve_client(l, conn, socket, value, req.has_header(name));
    if (r.problem)
        HERALD_INFO("client %s: %s ignored, uri: \"%.*s\"",
                    conn_.socket_peer().host_string().c_str(), r.problem,
                    static_cast<int>(path_.size()), path_.data());
    if (r.addr == conn) return;
    client_ = r.addr;
    remote_ = ip_string(r.addr);
    remote_replaced_ = true;
}

void HttpSession::forget_client() noexcept {
    if (!remote_replaced_) return;  // client_ is still the connection's address
    conn_.peer().to_v6_bytes(client_.data());
    remote_ = conn_.peer().host_string();
    remote_replaced_ = false;
}

// limit_conn_per_addr / limit_rate_per_addr (server settings, inherited by the location): the
// request counts against its client address until it ends (a WebSocket until it closes).
net::AddrLimiter* HttpSession::addr_limits(std::uint32_t& zone,
                                           net::AddrLimits& limits) const noexcept {
    const config::Limits& l = loc_->limits;
    net::AddrLimiter* limiter = host_.addr_limiter();
    if ((l.limit_conn_per_addr == 0 && l.limit_rate_per_addr == 0) || !limiter) return nullptr;
    zone = static_cast<std::uint32_t>(server_ - routes_->config().servers.data());
    limits = {l.limit_conn_per_addr, l.limit_rate_per_addr, l.limit_rate_burst};
    return limiter;
}

bool HttpSession::admit_limits() noexcept {
    std::uint32_t zone = 0;
    net::AddrLimits limits;
    net::AddrLimiter* limiter = addr_limits(zone, limits);
    if (!limiter) return true;
    const net::AddrLimiter::Result r =
        limiter->admit(zone, client_, limits, conn_.loop().now(), conn_.lease());
    const int uri_len = static_cast<int>(path_.size());
    switch (r.verdict) {
    case net::AddrLimiter::Verdict::admitted: return true;
    case net::AddrLimiter::Verdict::over_conn:
        HERALD_INFO("limiting requests by limit_conn_per_addr (%u), client: %s, uri: \"%.*s\"",
                    limits.conn, remote_.c_str(), uri_len, path_.data());
        respond_error(429);
        return false;
    case net::AddrLimiter::Verdict::over_rate:
        HERALD_INFO("limiting requests by limit_rate_per_addr (%u/s burst=%u), client: %s, "
                    "uri: \"%.*s\"",
                    limits.rate, limits.burst, remote_.c_str(), uri_len,
                    path_.data());
        respond_error(429, false, r.retry_after);
        return false;
    case net::AddrLimiter::Verdict::table_full:
        HERALD_WARN("per-address limit table full, refusing client: %s, uri: \"%.*s\"",
                    remote_.c_str(), uri_len, path_.data());
        respond_error(503, false, r.retry_after);
        return false;
    }
    return true;
}

// The one place where a complete response's head is finished: Content-Length, and whether the
// connection stays open (the request asked for it, HTTP/1.0 said keep-alive, no shutdown, the
// peer did not half-close).
std::uint64_t HttpSession::send_head(ResponseHead&& head, std::uint64_t length) {
    int status = head.status();
    bool bodyless = status < 200 || status == 204 || status == 304;
    if (!bodyless) head.content_length(length);
    keep_alive_ = keep_alive_ && !shutting_down_ && !conn_.peer_closed();
    conn_.out().push(std::move(head).finish(keep_alive_));
    return head_only_ || bodyless ? 0 : length;
}

void HttpSession::respond(ResponseHead&& head, std::string body) {
    if (mid_response_) {
        conn_.close();  // a response taken over after its head: the client resumes
        return;
    }
    int status = head.status();
    std::uint64_t n = send_head(std::move(head), body.size());
    if (n) conn_.out().push(std::move(body));
    finish_request(status, n);
}

void HttpSession::respond_shared(ResponseHead&& head, std::shared_ptr<const void> keep,
                                 std::string_view body) {
    if (mid_response_) {
        conn_.close();
        return;
    }
    int status = head.status();
    std::uint64_t n = send_head(std::move(head), body.size());
    if (n) conn_.out().push_shared(std::move(keep), body);
    finish_request(status, n);
}

void HttpSession::respond_file(ResponseHead&& head, std::shared_ptr<const net::OpenFile> file,
                               std::uint64_t offset, std::uint64_t length) {
    int status = head.status();
    std::uint64_t n = send_head(std::move(head), length);
    if (n) conn_.out().push_file(std::move(file), offset, n);
    finish_request(status, n);
}

void HttpSession::respond_error(int status, bool close, int retry_after) {
    if (close) keep_alive_ = false;
    ResponseHead head(status);
    head.header("Content-Type", "text/html");
    if (retry_after > 0) head.header("Retry-After", std::to_string(retry_after));
    if (status == 405) head.header("Allow", "GET, HEAD");
    respond(std::move(head), error_page(status));
}

void HttpSession::start_stream(ResponseHead&& head, std::unique_ptr<Responder> owner) {
    // A stream ends by closing under HTTP/1.0 (no chunked coding there).
    keep_alive_ = keep_alive_ && !http10_;
    conn_.out().push(std::move(head).finish(keep_alive_));
    conn_.flush_soon();
    hold(std::move(owner));
}

void HttpSession::hold(std::unique_ptr<Responder> owner) {
    responder_ = std::move(owner);
    state_ = State::dispatched;
}

void HttpSession::suspend(std::unique_ptr<Responder> waiter) {
    if (head_copy_.empty() && parser_) {  // a head without a body still points into the input
        head_copy_.assign(head_view_);
        parser_->rebase(head_view_, head_copy_.data());
    }
    suspended_ = true;
    hold(std::move(waiter));
}

void HttpSession::resume(const std::function<void(HttpSession&)>& handler) {
    suspended_ = false;
    if (responder_) host_.retire(std::move(responder_));
    handler(*this);
    // As after a dispatch that holds. Not when the handler answered and a pipelined request
    // read meanwhile is suspended in turn: its head and body are in use.
    if (responder_ && !suspended_ && state_ == State::dispatched) {
        if (parser_) held_host_.assign(request().host);
        parser_.reset();
        head_copy_ = std::string();
        body_.release();
    }
}

void HttpSession::end_response() { finish_request(200, 0); }

void HttpSession::upgrade(std::string head, std::unique_ptr<net::Session> next) {
    timer_.cancel();
    state_ = State::upgraded;
    if (!head.empty()) {  // empty: a WebSocket taken over from the process before an upgrade
        log_access(101, 0);
        conn_.out().push(std::move(head));
        conn_.flush_soon();
    }
    conn_.replace_session(std::move(next));
    // Input held while the upgrade waited for the broker is the next session's to read.
    if (input_held_) {
        input_held_ = false;
        conn_.pause_reading(false);
    }
}

void HttpSession::finish_request(int status, std::uint64_t body_bytes) noexcept {
    log_access(status, body_bytes);
    mid_response_ = false;
    adopted_origin_.clear();
    conn_.lease().release();  // the request no longer counts against its client address
    forget_client();  // the next request (or its early error's log line) starts from the socket
    suspended_ = false;
    if (responder_) host_.retire(std::move(responder_));  // it may be running right now
    bool async = state_ == State::dispatched && !in_dispatch_;
    const config::Limits& l =
        loc_ ? loc_->limits : server_ ? server_->limits : routes_->limits(conn_.listener());
    Duration keepalive = l.keepalive_timeout;
    std::uint64_t queue_limit = l.output_queue_limit;
    if (parser_) parser_->reset();
    head_copy_.clear();
    body_.release();
    loc_ = nullptr;
    server_ = nullptr;
    state_ = State::head;
    header_timer_ = false;
    conn_.flush_soon();
    if (!keep_alive_) {
        conn_.close_after_flush();
        return;
    }
    arm_timer(keepalive);
    if (conn_.out().pending_bytes() > queue_limit) {
        waiting_drain_ = true;
        input_held_ = false;
        conn_.pause_reading(true);
        return;
    }
    if (input_held_) {
        input_held_ = false;
        conn_.pause_reading(false);
    }
    if (async) conn_.resume_input();
}

void HttpSession::on_drained() noexcept {
    if (waiting_drain_) {
        waiting_drain_ = false;
        conn_.pause_reading(false);
        conn_.resume_input();
    }
    if (responder_) responder_->on_drained();
}

void HttpSession::on_peer_closed() noexcept {
    if (responder_) {  // a subscriber that went away
        conn_.close();
        return;
    }
    conn_.close_after_flush();
}

void HttpSession::on_close() noexcept {
    timer_.cancel();
    suspended_ = false;
    if (responder_) {
        responder_->cancel();
        host_.retire(std::move(responder_));
    }
}

void HttpSession::on_shutdown() noexcept {
    shutting_down_ = true;
    keep_alive_ = false;
    if (responder_) {
        responder_->on_shutdown();
    } else if (state_ == State::head) {
        conn_.close_after_flush();
    }
}

net::Handing HttpSession::hand_over(net::LiveState& st) noexcept {
    if (shutting_down_ || conn_.closing()) return net::Handing::never;
    switch (state_) {
    case State::head:
        st.kind = net::LiveState::Kind::idle;  // a partial next request goes along as input
        return net::Handing::ready;
    case State::body:
    case State::upgraded:
        return net::Handing::later;
    case State::dispatched:
        break;
    }
    if (!responder_ || suspended_) return net::Handing::later;  // being answered
    const net::Handing h = responder_->hand_over(st);
    if (h != net::Handing::ready) return h;
    st.host = held_host_;
    st.path = path_;
    st.client.assign(reinterpret_cast<const char*>(client_.data()), client_.size());
    st.remote = remote_;
    st.http10 = http10_;
    st.keep_alive = keep_alive_;
    timer_.cancel();
    return net::Handing::ready;
}

bool HttpSession::adopt(const net::LiveState& st) {
    std::shared_ptr<const Router> snapshot = host_.routes_ptr();
    const Router::Route r = snapshot->route(conn_.listener(), st.host, st.path);
    if (!r.server || !r.location) return false;
    routes_ = std::move(snapshot);
    path_ = st.path;
    server_ = r.server;
    loc_ = r.location;
    http10_ = st.http10;
    keep_alive_ = st.keep_alive;
    head_only_ = false;
    if (st.client.size() == client_.size()) {
        std::copy(st.client.begin(), st.client.end(), client_.begin());
        remote_ = st.remote;
        remote_replaced_ = true;
    }
    // A moved request in progress (a held poll, a stream, a WebSocket) still counts against
    // limit_conn_per_addr; an idle keep-alive connection is between requests.
    std::uint32_t zone = 0;
    net::AddrLimits limits;
    if (st.kind != net::LiveState::Kind::idle)
        if (net::AddrLimiter* limiter = addr_limits(zone, limits))
            limiter->carry(zone, client_, limits, conn_.loop().now(), conn_.lease());
    held_host_ = st.host;
    adopted_origin_ = st.origin;
    mid_response_ = st.kind != net::LiveState::Kind::held;
    if (host_.access_log().enabled()) request_line_ = "GET " + path_ + (http10_ ? " HTTP/1.0" : " HTTP/1.1");
    timer_.cancel();
    header_timer_ = false;
    parser_.reset();
    state_ = State::dispatched;
    return true;
}

std::string_view HttpSession::cors_origin() const {
    if (!loc_) return {};
    if (!parser_) return adopted_origin_;  // no request: a held response taken over
    return cors_allow_origin(request().header("Origin"), loc_->allow_origin);
}

void add_cors_headers(ResponseHead& head, std::string_view origin) {
    if (origin.empty()) return;
    head.header("Access-Control-Allow-Origin", origin);
    head.header("Access-Control-Expose-Headers", "ETag, X-Herald-Missed, X-Herald-Event, X-Herald-Channel");
    if (origin != "*") head.header("Vary", "Origin");
}

void HttpSession::log_access(int status, std::uint64_t bytes) noexcept {
    AccessLog& log = host_.access_log();
    if (!log.enabled()) return;
    log.write(remote_, request_line_, status, bytes, referer_, user_agent_);
}

} // namespace herald::http
