// Unit tests for the on_subscribe / on_unsubscribe event body: every string is JSON-escaped,
// so a client-chosen channel or token subject cannot change the event's shape.
#include <criterion/criterion.h>

#include <string>

#include "app/hooks.hpp"
#include "event/event_loop.hpp"
#include "net/socket.hpp"

using herald::app::hook_event_json;
using herald::push::PresenceEvent;

Test(app_hooks, event_fields_in_order) {
    PresenceEvent e;
    e.channel = "room.1:a";
    e.sub = "user-42";
    e.addr = "::1";
    e.strategy = herald::config::PushStrategy::long_polling;
    const std::string j = hook_event_json("subscribe", e, "node-a");
    cr_assert_str_eq(j.c_str(),
                     "{\"event\":\"subscribe\",\"channel\":\"room.1:a\",\"strategy\":"
                     "\"long-polling\",\"sub\":\"user-42\",\"addr\":\"::1\",\"node\":\"node-a\"}");
}

Test(app_hooks, strings_are_escaped) {
    PresenceEvent e;
    e.channel = "a\"b\\c";
    e.sub = std::string("x\n\x01\"},\"admin\":true", 18) + "\xff";
    e.strategy = herald::config::PushStrategy::sse;
    const std::string j = hook_event_json("unsubscribe", e, "h\"");
    cr_assert_str_eq(j.c_str(),
                     "{\"event\":\"unsubscribe\",\"channel\":\"a\\\"b\\\\c\",\"strategy\":\"sse\","
                     "\"sub\":\"x\\n\\u0001\\\"},\\\"admin\\\":true\\ufffd\",\"addr\":\"\","
                     "\"node\":\"h\\\"\"}",
                     "%s", j.c_str());
}

// An application that accepts connections and never answers: events pile up in delivery, and
// past max_hook_queue each new one is dropped and counted; nothing is sent twice meanwhile.
Test(app_hooks, queue_is_bounded_and_drops_are_counted, .timeout = 10.0) {
    std::error_code ec;
    herald::net::Address a;
    cr_assert(!herald::net::make_address("127.0.0.1", 0, a));
    herald::UniqueFd listener = herald::net::listen_on(a, 16, ec);
    cr_assert(!ec);
    const herald::net::Address bound = herald::net::local_address(listener.get(), ec);
    herald::config::UpstreamUrl url;
    url.host = "127.0.0.1";
    url.port = bound.port();
    url.authority = bound.to_string();
    url.path = "/hook";
    herald::EventLoop loop;
    {
        herald::httpc::Client client(loop, herald::httpc::ClientOptions{});
        herald::app::HookStats stats;
        herald::app::Hooks hooks(loop, client, stats);
        PresenceEvent e;
        e.channel = "c";
        e.strategy = herald::config::PushStrategy::websocket;
        for (std::size_t i = 0; i < herald::app::max_hook_queue + 5; ++i)
            hooks.post(url, hook_event_json("subscribe", e, "n"));
        cr_assert_eq(stats.dropped.load(), 5u);
        cr_assert_eq(stats.sent.load() + stats.failed.load(), 0u);
        loop.run_once(10);
        cr_assert_eq(stats.dropped.load(), 5u);
    }
    cr_assert_eq(loop.watch_count(), 0u, "every connection closed with its client");
}
