// Unit tests for the on_subscribe / on_unsubscribe event body: every string is JSON-escaped,
// so a client-chosen channel or token subject cannot change the event's shape.
#include <criterion/criterion.h>

#include <string>

#include "app/hooks.hpp"

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
