// Non-blocking Redis client on herald's reactor: one RESP connection, pipelined commands,
// HELLO 3 (RESP3) with RESP2 fallback, AUTH and SELECT on connect, timeouts, reconnect with
// exponential backoff, and a pub/sub mode (SUBSCRIBE/SSUBSCRIBE, resubscribe after reconnect).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "core/buffer.hpp"
#include "core/clock.hpp"
#include "core/unique_fd.hpp"
#include "event/event_loop.hpp"
#include "net/resolver.hpp"
#include "redis/resp.hpp"
#include "redis/script.hpp"

namespace herald::redis {

// Client-side failures given to a command's callback (server errors are replies).
enum class ClientErrc {
    not_connected = 1, // the link is down (waiting to reconnect); nothing was sent
    connection_lost,   // the link dropped before the reply came: the command may have run
    timeout,           // no reply within command_timeout: the command may still run
    queue_full,        // max_in_flight or max_output_bytes reached; nothing was sent
    closed,            // the client was closed or destroyed
    not_allowed,       // command() on a pub/sub mode client
};
const std::error_category& client_category() noexcept;
inline std::error_code make_error_code(ClientErrc e) noexcept {
    return {static_cast<int>(e), client_category()};
}

} // namespace herald::redis

template <> struct std::is_error_code_enum<herald::redis::ClientErrc> : std::true_type {};

namespace herald::redis {

struct ClientOptions {
    std::string host = "127.0.0.1"; // numeric address or host name (net/resolver.hpp)
    std::uint16_t port = 6379;
    std::string user;     // ACL user for AUTH ("" = the default user)
    std::string password; // "" = no AUTH
    int database = 0;     // SELECT when not 0
    bool resp3 = true;    // try HELLO 3 first; RESP2 if the server refuses it
    Clock::duration connect_timeout = std::chrono::seconds(2); // TCP connect + handshake
    Clock::duration command_timeout = std::chrono::seconds(2);
    Clock::duration reconnect_min = std::chrono::milliseconds(50); // first retry delay
    Clock::duration reconnect_max = std::chrono::seconds(5);       // backoff doubles up to it
    std::size_t max_in_flight = 64 * 1024;                         // commands awaiting a reply
    std::size_t max_output_bytes = 16 * 1024 * 1024;           // encoded commands not yet written
    std::size_t max_input_bytes = max_bulk_length + 64 * 1024; // one reply being read
};

struct ClientStats {
    bool connected = false;       // handshake done, link up
    bool resp3 = false;           // the link speaks RESP3
    std::uint64_t connects = 0;   // links established (handshake done)
    std::uint64_t reconnects = 0; // of those, after a lost link or failed attempt
    std::uint64_t in_flight = 0;  // commands awaiting a reply (incl. timed out ones)
    std::uint64_t timeouts = 0;
    std::uint64_t latency_sum_us = 0; // over replies received in time
    std::uint64_t latency_count = 0;
    std::uint64_t pubsub_messages = 0; // message / smessage received
};

// The delay before the next try after `failures` failed ones in a row (0: the first retry):
// first, doubled per failure, never more than max (failures past 16 count as 16).
Clock::duration backoff_delay(Clock::duration first, Clock::duration max,
                              unsigned failures) noexcept;

// The reply, or ec set (reply is then a null value). Runs on the loop thread, in the order
// the commands were issued. The reply's views are valid during the call only.
using ReplyCallback = std::function<void(std::error_code ec, const RespValue& reply)>;

// Receives a pub/sub mode client's events, on the loop thread. Not owned by the client.
class PubSubHandler {
public:
    virtual void on_message(std::string_view channel, std::string_view payload,
                            bool sharded) noexcept = 0;
    // Redis confirmed a (re)subscription of this channel.
    virtual void on_subscribed(std::string_view channel, bool sharded) noexcept = 0;
    // A link that was up dropped: messages published from now on may be missed.
    virtual void on_link_down() noexcept = 0;
    // Every channel subscribed when the link came up is confirmed again. After an
    // on_link_down(), the receiver must read what it missed from history.
    virtual void on_link_up(bool after_link_down) noexcept = 0;
    // Redis ended a subscription by itself (Redis 7 sends sunsubscribe when a sharded
    // channel's slot moves to another node): the client no longer keeps it.
    virtual void on_subscription_ended(std::string_view /*channel*/, bool /*sharded*/) noexcept {}
    // Redis refused a subscription command (-MOVED: the channel's slot is another node's).
    // The client has logged it and still counts the channel as wanted.
    virtual void on_subscription_refused(std::string_view /*error*/) noexcept {}

protected:
    ~PubSubHandler() = default;
};

// One Redis connection. Owns its socket, buffers, timers and the callbacks of pending
// commands; points to (does not own) its EventLoop and PubSubHandler, which must outlive it.
// Loop thread only. Must not be destroyed inside its own callbacks. Destroying or close()
// runs every pending callback with ClientErrc::closed.
// Limits and trade-offs: one timeout for every command (deadlines fall in issue order, so one
// timer serves the whole queue); a timed-out command keeps its place until its reply comes
// and the reply is dropped. Commands issued while (re)connecting wait for the handshake;
// while the link is down between attempts they are refused at once (not_connected).
class Client final : private IoHandler {
public:
    Client(EventLoop& loop, ClientOptions options);                         // command mode
    Client(EventLoop& loop, ClientOptions options, PubSubHandler& handler); // pub/sub mode
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // First connect attempt. invalid_argument if host is neither a numeric address nor a
    // host name (ascii::is_host_name). Each attempt resolves a name again, off the loop.
    [[nodiscard]] std::error_code start();
    // Stops for good: drops the link, fails pending commands with closed.
    void close() noexcept;

    // Queues one command (pipelined). On error, nothing was queued and cb is not called;
    // otherwise cb runs exactly once.
    [[nodiscard]] std::error_code command(std::span<const std::string_view> args, ReplyCallback cb);
    [[nodiscard]] std::error_code command(std::initializer_list<std::string_view> args,
                                          ReplyCallback cb) {
        return command(std::span<const std::string_view>(args.begin(), args.size()), std::move(cb));
    }

    // Runs a script with EVALSHA; if the server does not have it (NOSCRIPT), with EVAL, and
    // cb gets that reply (so after the replies of commands issued in between). Errors as for
    // command(). Copies keys and args for the retry.
    [[nodiscard]] std::error_code eval(const Script& script, std::span<const std::string_view> keys,
                                       std::span<const std::string_view> args, ReplyCallback cb);

    // Pub/sub mode: the set of channels to keep subscribed (also across reconnects).
    void subscribe(std::string_view channel, bool sharded);
    void unsubscribe(std::string_view channel, bool sharded);

    ClientStats stats() const noexcept { return stats_; }
    bool connected() const noexcept { return state_ == State::ready; }

private:
    enum class State : std::uint8_t { idle, resolving, connecting, handshake, ready, backoff, closed };
    enum class Step : std::uint8_t { hello, auth, select };
    struct Pending {
        ReplyCallback cb; // empty once timed out
        Clock::time_point issued;
    };

    void on_ready(const ReadyEvent& ev) noexcept override;
    void connect() noexcept;
    void on_resolved(net::Resolved r) noexcept;
    void connect_next(std::string why) noexcept;
    std::string attempt_error(const std::string& what) const;
    void on_connected() noexcept;
    void send_step(Step s);
    void on_handshake_reply(const RespValue& v) noexcept;
    void handshake_done() noexcept;
    void read_input() noexcept;
    void on_reply(const RespValue& v) noexcept;
    void on_pubsub(const RespValue& v) noexcept;
    void flush() noexcept;
    void want_write() noexcept;
    void drop_link(const char* why) noexcept;
    void fail_pending(ClientErrc e) noexcept;
    void arm_command_timer() noexcept;
    void on_command_timeout() noexcept;
    void send_subscription(std::string_view verb, std::string_view channel);

    EventLoop& loop_;
    ClientOptions options_;
    PubSubHandler* handler_; // null in command mode
    State state_ = State::idle;
    Step step_ = Step::hello;
    std::uint64_t link_ = 0;      // incremented each time a link ends
    unsigned failures_ = 0;       // consecutive failed attempts (backoff exponent)
    bool was_up_ = false;         // a link has been up before (reconnects, on_link_down)
    bool announced_down_ = false; // on_link_down() told, on_link_up() not yet
    std::size_t awaiting_confirms_ = 0;
    std::size_t expired_ = 0;  // timed-out commands at the front of pending_
    std::string last_failure_; // logged once until it changes
    net::ResolveTicket resolve_; // the attempt's question, while it waits for the answer
    std::vector<net::Address> addrs_; // the attempt's addresses; next_addr_ is tried next
    std::size_t next_addr_ = 0;
    UniqueFd fd_;
    Buffer in_, out_, backlog_; // backlog_: commands issued before the handshake ended
    RespParser parser_;
    std::deque<Pending> pending_;
    std::set<std::string, std::less<>> channels_, schannels_;
    ClientStats stats_;
    Watch watch_; // after fd_: unwatched before the fd closes
    Timer connect_timer_, retry_timer_, command_timer_;
};

} // namespace herald::redis
