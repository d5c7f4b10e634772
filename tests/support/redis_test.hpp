// Test support for the Redis client tests: run a real EventLoop until a condition holds,
// client options for a test server, and a callback that records what a command got.
#pragma once

#include <criterion/criterion.h>

#include <chrono>
#include <functional>
#include <string>
#include <system_error>

#include "event/event_loop.hpp"
#include "redis/client.hpp"
#include "support/redis_server.hpp"

namespace herald::test {

// Runs the loop until done() or the time is up; returns done().
inline bool run_until(EventLoop& loop, const std::function<bool()>& done,
                      std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < end)
        loop.run_once(10);
    return done();
}

inline void start_server(RedisServer& server) {
    const std::string err = server.start();
    cr_assert(err.empty(), "%s", err.c_str());
}

// Short timeouts and backoff, so fault tests finish quickly.
inline redis::ClientOptions options_for(const RedisServer& server) {
    using namespace std::chrono_literals;
    redis::ClientOptions o;
    o.port = server.port();
    o.connect_timeout = 500ms;
    o.command_timeout = 500ms;
    o.reconnect_min = 20ms;
    o.reconnect_max = 200ms;
    return o;
}

// What a command's callback saw (strings copied: the reply's views end with the callback).
struct Seen {
    int calls = 0;
    std::error_code ec;
    redis::RespType type = redis::RespType::null;
    std::string str;
    long long integer = 0;
    std::vector<std::string> elements; // strings and integers of an aggregate, as text
};

inline redis::ReplyCallback record(Seen& s) {
    return [&s](std::error_code ec, const redis::RespValue& v) {
        ++s.calls;
        s.ec = ec;
        s.type = v.type;
        s.str = std::string(v.str);
        s.integer = v.integer;
        s.elements.clear();
        for (const redis::RespValue& e : v.elements)
            s.elements.push_back(e.type == redis::RespType::integer ? std::to_string(e.integer)
                                                                    : std::string(e.str));
    };
}

inline void connect_client(EventLoop& loop, redis::Client& c) {
    cr_assert(!c.start());
    cr_assert(run_until(loop, [&] { return c.connected(); }), "client did not connect");
}

// Runs one command to its reply.
inline Seen call(EventLoop& loop, redis::Client& c, std::initializer_list<std::string_view> args) {
    Seen s;
    cr_assert(!c.command(args, record(s)));
    cr_assert(run_until(loop, [&] { return s.calls == 1; }), "no reply");
    return s;
}

} // namespace herald::test
