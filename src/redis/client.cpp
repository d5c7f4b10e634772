// Redis client on the reactor: connect, handshake, pipelined commands, pub/sub, reconnect.
#include "redis/client.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <unistd.h>

#include "core/ascii.hpp"
#include "core/log.hpp"
#include "net/resolver.hpp"
#include "net/socket.hpp"

namespace herald::redis {
namespace {

constexpr std::size_t read_chunk = 64 * 1024; // bytes read per readable event

class ClientCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "redis client"; }
    std::string message(int e) const override {
        switch (static_cast<ClientErrc>(e)) {
        case ClientErrc::not_connected:
            return "not connected to redis";
        case ClientErrc::connection_lost:
            return "connection to redis lost";
        case ClientErrc::timeout:
            return "redis command timed out";
        case ClientErrc::queue_full:
            return "redis command queue full";
        case ClientErrc::closed:
            return "redis client closed";
        case ClientErrc::not_allowed:
            return "command not allowed on a pub/sub connection";
        }
        return "redis client error";
    }
};

bool starts_with_word(std::string_view s, std::string_view word) {
    return s.size() >= word.size() && s.substr(0, word.size()) == word;
}

const RespValue null_value{};

} // namespace

Clock::duration backoff_delay(Clock::duration first, Clock::duration max,
                              unsigned failures) noexcept {
    return std::min<Clock::duration>(max, first * (1u << std::min(failures, 16u)));
}

const std::error_category& client_category() noexcept {
    static const ClientCategory c;
    return c;
}

Client::Client(EventLoop& loop, ClientOptions options)
    : loop_(loop), options_(std::move(options)), handler_(nullptr) {}

Client::Client(EventLoop& loop, ClientOptions options, PubSubHandler& handler)
    : loop_(loop), options_(std::move(options)), handler_(&handler) {}

Client::~Client() { close(); }

std::error_code Client::start() {
    net::Address addr;
    if (net::make_address(options_.host, options_.port, addr) && !ascii::is_host_name(options_.host))
        return std::make_error_code(std::errc::invalid_argument);
    if (state_ == State::idle)
        connect();
    return {};
}

void Client::close() noexcept {
    if (state_ == State::closed)
        return;
    state_ = State::closed;
    resolve_.reset();
    retry_timer_.cancel();
    connect_timer_.cancel();
    command_timer_.cancel();
    watch_.reset();
    fd_.reset();
    stats_.connected = false;
    ++link_;
    fail_pending(ClientErrc::closed);
}

// Each attempt asks for the host's addresses again (a name may move: DNS failover; a numeric
// host is its own answer), then tries them in order until one connects.
void Client::connect() noexcept {
    state_ = State::resolving;
    addrs_.clear();
    next_addr_ = 0;
    resolve_ = net::resolve(loop_, options_.host, options_.port,
                            [this](net::Resolved r) { on_resolved(std::move(r)); });
    connect_timer_ = loop_.add_timer(options_.connect_timeout,
                                     [this] { drop_link("resolving the host name timed out"); });
}

void Client::on_resolved(net::Resolved r) noexcept {
    connect_timer_.cancel();
    if (r.addresses.empty()) {
        drop_link(("cannot resolve the host name: " + r.error).c_str());
        return;
    }
    addrs_ = std::move(r.addresses);
    next_addr_ = 0;
    connect_next("");
}

// The next address, or, with none left, the attempt failed (why: the last address's error).
// For a host name each error names the address it came from.
void Client::connect_next(std::string why) noexcept {
    while (next_addr_ < addrs_.size()) {
        const net::Address& addr = addrs_[next_addr_++];
        watch_.reset();
        fd_.reset();
        std::error_code ec;
        fd_ = net::connect_to(addr, ec);
        if (!ec)
            watch_ = loop_.watch(fd_.get(), Interest::write, *this, ec);
        if (!ec) {
            state_ = State::connecting;
            connect_timer_ = loop_.add_timer(options_.connect_timeout, [this] {
                if (state_ == State::connecting && next_addr_ < addrs_.size())
                    connect_next(attempt_error("connect timed out"));
                else
                    drop_link(state_ == State::connecting ? attempt_error("connect timed out").c_str()
                                                          : "handshake timed out");
            });
            return;
        }
        why = attempt_error(ec.message());
    }
    drop_link(why.c_str());
}

// An error of the address being tried, named for a host name.
std::string Client::attempt_error(const std::string& what) const {
    if (!ascii::is_host_name(options_.host) || next_addr_ == 0)
        return what;
    return what + " (" + addrs_[next_addr_ - 1].to_string() + ")";
}

void Client::on_ready(const ReadyEvent& ev) noexcept {
    if (state_ == State::connecting) {
        if (std::error_code ec = net::connect_result(fd_.get())) {
            if (next_addr_ < addrs_.size())
                connect_next(attempt_error(ec.message()));
            else
                drop_link(attempt_error(ec.message()).c_str());
            return;
        }
        on_connected();
        return;
    }
    const std::uint64_t link = link_;
    if (ev.readable || ev.hangup)
        read_input();
    if (link == link_ && ev.writable)
        flush();
}

void Client::on_connected() noexcept {
    net::set_nodelay(fd_.get());
    state_ = State::handshake;
    std::error_code ec = watch_.set(Interest::read);
    if (ec) {
        drop_link(ec.message().c_str());
        return;
    }
    if (options_.resp3)
        send_step(Step::hello);
    else if (!options_.password.empty())
        send_step(Step::auth);
    else if (options_.database != 0)
        send_step(Step::select);
    else
        handshake_done();
}

void Client::send_step(Step s) {
    step_ = s;
    const std::string db = std::to_string(options_.database);
    const std::string_view user =
        options_.user.empty() ? std::string_view("default") : std::string_view(options_.user);
    switch (s) {
    case Step::hello:
        if (options_.password.empty())
            encode_command({"HELLO", "3"}, out_);
        else
            encode_command({"HELLO", "3", "AUTH", user, options_.password}, out_);
        break;
    case Step::auth:
        if (options_.user.empty())
            encode_command({"AUTH", options_.password}, out_);
        else
            encode_command({"AUTH", user, options_.password}, out_);
        break;
    case Step::select:
        encode_command({"SELECT", db}, out_);
        break;
    }
    want_write();
}

void Client::on_handshake_reply(const RespValue& v) noexcept {
    const bool refused = v.is_error();
    if (step_ == Step::hello) {
        // Redis < 6 answers "ERR unknown command", a server without RESP3 "NOPROTO": both
        // mean RESP2. A refused password is final for this attempt.
        if (!refused) {
            stats_.resp3 = true;
        } else if (starts_with_word(v.str, "WRONGPASS") || starts_with_word(v.str, "NOAUTH") ||
                   starts_with_word(v.str, "NOPERM")) {
            drop_link(std::string("HELLO: ").append(v.str).c_str());
            return;
        } else if (!options_.password.empty()) {
            send_step(Step::auth);
            return;
        }
    } else if (refused) {
        drop_link(std::string(step_ == Step::auth ? "AUTH: " : "SELECT: ").append(v.str).c_str());
        return;
    }
    if (step_ != Step::select && options_.database != 0) {
        send_step(Step::select);
        return;
    }
    handshake_done();
}

void Client::handshake_done() noexcept {
    state_ = State::ready;
    connect_timer_.cancel();
    if (was_up_)
        ++stats_.reconnects;
    ++stats_.connects;
    stats_.connected = true;
    if (!last_failure_.empty())
        HERALD_NOTICE("redis %s:%u: connected", options_.host.c_str(), options_.port);
    last_failure_.clear();
    failures_ = 0;
    const bool after_down = announced_down_;
    was_up_ = true;
    out_.append(backlog_.view());
    backlog_.clear();
    if (handler_ != nullptr) {
        awaiting_confirms_ = channels_.size() + schannels_.size();
        for (const std::string& c : channels_)
            send_subscription("SUBSCRIBE", c);
        for (const std::string& c : schannels_)
            send_subscription("SSUBSCRIBE", c);
        if (awaiting_confirms_ == 0) {
            announced_down_ = false;
            handler_->on_link_up(after_down);
        }
    }
    if (!out_.empty())
        want_write();
}

void Client::read_input() noexcept {
    in_.reserve(read_chunk);
    const ssize_t n = ::read(fd_.get(), in_.tail(), std::min(in_.tail_room(), read_chunk));
    if (n == 0) {
        drop_link("connection closed by redis");
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            drop_link(std::error_code(errno, std::generic_category()).message().c_str());
        return;
    }
    in_.commit(static_cast<std::size_t>(n));
    const std::uint64_t link = link_;
    while (!in_.empty()) {
        ParseResult r = parser_.feed(in_.view());
        if (r.status == ParseStatus::need_more) {
            if (in_.size() > options_.max_input_bytes)
                drop_link("reply too big");
            return;
        }
        if (r.status == ParseStatus::error) {
            drop_link(std::string("protocol error: ").append(to_string(r.error)).c_str());
            return;
        }
        if (state_ == State::handshake)
            on_handshake_reply(parser_.value());
        else
            on_reply(parser_.value());
        if (link != link_)
            return; // the link ended inside a callback
        in_.consume(r.consumed);
    }
}

void Client::on_reply(const RespValue& v) noexcept {
    if (handler_ != nullptr) {
        on_pubsub(v);
        return;
    }
    if (v.type == RespType::push)
        return; // RESP3 out-of-band data (none subscribed here)
    if (pending_.empty()) {
        drop_link("reply without a command");
        return;
    }
    Pending p = std::move(pending_.front());
    pending_.pop_front();
    stats_.in_flight = pending_.size();
    if (!p.cb) { // timed out: its callback has run
        --expired_;
        return;
    }
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(loop_.now() - p.issued);
    stats_.latency_sum_us += static_cast<std::uint64_t>(us.count());
    ++stats_.latency_count;
    arm_command_timer();
    p.cb({}, v);
}

void Client::on_pubsub(const RespValue& v) noexcept {
    // RESP3 sends these as pushes, RESP2 as arrays: [kind, channel, payload-or-count].
    if (v.is_error()) {
        HERALD_WARN("redis %s:%u: pub/sub: %.*s", options_.host.c_str(), options_.port,
                    static_cast<int>(v.str.size()), v.str.data());
        handler_->on_subscription_refused(v.str);
        return;
    }
    if ((v.type != RespType::push && v.type != RespType::array) || v.elements.size() < 3)
        return;
    const std::string_view kind = v.elements[0].str;
    const std::string_view channel = v.elements[1].str;
    if (kind == "message" || kind == "smessage") {
        ++stats_.pubsub_messages;
        handler_->on_message(channel, v.elements[2].str, kind == "smessage");
    } else if (kind == "subscribe" || kind == "ssubscribe") {
        const bool sharded = kind == "ssubscribe";
        handler_->on_subscribed(channel, sharded);
        if (awaiting_confirms_ > 0 && --awaiting_confirms_ == 0) {
            const bool after_down = announced_down_;
            announced_down_ = false;
            handler_->on_link_up(after_down);
        }
    } else if (kind == "unsubscribe" || kind == "sunsubscribe") {
        // Our own unsubscribe took the channel out of the set first; one still in it was
        // ended by Redis.
        const bool sharded = kind == "sunsubscribe";
        auto& set = sharded ? schannels_ : channels_;
        const auto it = set.find(channel);
        if (it == set.end())
            return;
        set.erase(it);
        handler_->on_subscription_ended(channel, sharded);
    }
}

std::error_code Client::command(std::span<const std::string_view> args, ReplyCallback cb) {
    if (handler_ != nullptr)
        return ClientErrc::not_allowed;
    switch (state_) {
    case State::closed:
        return ClientErrc::closed;
    case State::idle:
    case State::backoff:
        return ClientErrc::not_connected;
    default:
        break;
    }
    if (pending_.size() >= options_.max_in_flight ||
        out_.size() + backlog_.size() > options_.max_output_bytes)
        return ClientErrc::queue_full;
    encode_command(args, state_ == State::ready ? out_ : backlog_);
    pending_.push_back(Pending{std::move(cb), loop_.now()});
    stats_.in_flight = pending_.size();
    if (state_ == State::ready)
        want_write();
    if (!command_timer_.active())
        arm_command_timer();
    return {};
}

std::error_code Client::eval(const Script& script, std::span<const std::string_view> keys,
                             std::span<const std::string_view> args, ReplyCallback cb) {
    const std::string key_count = std::to_string(keys.size());
    std::vector<std::string_view> cmd{"EVALSHA", script.sha1, key_count};
    cmd.insert(cmd.end(), keys.begin(), keys.end());
    cmd.insert(cmd.end(), args.begin(), args.end());
    // What EVAL needs after this call returns: the source (static) and copies of the rest.
    std::vector<std::string> rest(cmd.begin() + 2, cmd.end());
    auto retry = [this, source = script.source, rest = std::move(rest),
                     cb = std::move(cb)](std::error_code ec, const RespValue& v) {
        if (ec || !v.is_error() || !starts_with_word(v.str, "NOSCRIPT")) {
            cb(ec, v);
            return;
        }
        std::vector<std::string_view> again{"EVAL", source};
        again.insert(again.end(), rest.begin(), rest.end());
        ReplyCallback next = cb;
        if (std::error_code e = command(again, std::move(next)))
            cb(e, null_value);
    };
    return command(cmd, std::move(retry));
}

void Client::subscribe(std::string_view channel, bool sharded) {
    auto& set = sharded ? schannels_ : channels_;
    if (!set.emplace(channel).second)
        return;
    if (state_ == State::ready)
        send_subscription(sharded ? "SSUBSCRIBE" : "SUBSCRIBE", channel);
}

void Client::unsubscribe(std::string_view channel, bool sharded) {
    auto& set = sharded ? schannels_ : channels_;
    auto it = set.find(channel);
    if (it == set.end())
        return;
    set.erase(it);
    if (state_ == State::ready)
        send_subscription(sharded ? "SUNSUBSCRIBE" : "UNSUBSCRIBE", channel);
}

void Client::send_subscription(std::string_view verb, std::string_view channel) {
    // One channel per command: in a cluster, SSUBSCRIBE's channels must share a slot.
    encode_command({verb, channel}, out_);
    want_write();
}

void Client::want_write() noexcept {
    if (watch_.interest() == Interest::read_write)
        return;
    if (std::error_code ec = watch_.set(Interest::read_write))
        drop_link(ec.message().c_str());
}

void Client::flush() noexcept {
    while (!out_.empty()) {
        iovec iov{out_.data(), out_.size()};
        const ssize_t n = net::write_vec(fd_.get(), &iov, 1, false);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            drop_link(std::error_code(errno, std::generic_category()).message().c_str());
            return;
        }
        out_.consume(static_cast<std::size_t>(n));
    }
    if (std::error_code ec = watch_.set(Interest::read))
        drop_link(ec.message().c_str());
}

// Ends the current link (or attempt): every pending command fails, the link is retried
// after a delay that doubles with each consecutive failure.
void Client::drop_link(const char* why) noexcept {
    const bool was_ready = state_ == State::ready;
    ++link_;
    resolve_.reset();
    watch_.reset();
    fd_.reset();
    connect_timer_.cancel();
    command_timer_.cancel();
    in_.clear();
    out_.clear();
    backlog_.clear();
    parser_.reset();
    stats_.connected = false;
    stats_.resp3 = false;
    awaiting_confirms_ = 0;
    if (was_ready || last_failure_ != why)
        HERALD_WARN("redis %s:%u: %s%s", options_.host.c_str(), options_.port,
                    was_ready ? "connection lost: " : "", why);
    last_failure_ = why;
    const Clock::duration delay =
        backoff_delay(options_.reconnect_min, options_.reconnect_max, failures_);
    ++failures_;
    state_ = State::backoff;
    retry_timer_ = loop_.add_timer(delay, [this] { connect(); });
    fail_pending(ClientErrc::connection_lost);
    if (was_ready && handler_ != nullptr && state_ != State::closed) {
        announced_down_ = true;
        handler_->on_link_down();
    }
}

void Client::fail_pending(ClientErrc e) noexcept {
    // Callbacks may issue commands (refused now: not connected or closed), never re-enter
    // this queue, so take it whole first.
    std::deque<Pending> failed;
    failed.swap(pending_);
    expired_ = 0;
    stats_.in_flight = 0;
    for (Pending& p : failed)
        if (p.cb)
            p.cb(e, null_value);
}

void Client::arm_command_timer() noexcept {
    command_timer_.cancel();
    if (expired_ >= pending_.size())
        return;
    const Clock::time_point deadline = pending_[expired_].issued + options_.command_timeout;
    const Clock::duration left = std::max<Clock::duration>(deadline - loop_.now(), {});
    command_timer_ = loop_.add_timer(left, [this] { on_command_timeout(); });
}

void Client::on_command_timeout() noexcept {
    // Deadlines fall in issue order, so the timed-out commands are a prefix of the queue.
    const std::uint64_t link = link_;
    while (expired_ < pending_.size() &&
           pending_[expired_].issued + options_.command_timeout <= loop_.now()) {
        ReplyCallback cb = std::move(pending_[expired_].cb);
        pending_[expired_].cb = nullptr;
        ++expired_;
        ++stats_.timeouts;
        cb(ClientErrc::timeout, null_value);
        // The callback may have closed the client or dropped the link.
        // cppcheck-suppress knownConditionTrueFalse
        if (link != link_ || state_ == State::closed)
            return;
    }
    arm_command_timer();
}

} // namespace herald::redis
