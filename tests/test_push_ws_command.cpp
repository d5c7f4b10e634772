// The multiplexed WebSocket's commands: what parse_ws_command takes, what it refuses with which
// reason, and what a refusal may echo (the ref and the channel only when each is valid).
// A command is one whole WebSocket message, so there is no byte-by-byte feeding: each case is
// parsed whole, and again with the text at the end of a page followed by a PROT_NONE page.
#include <criterion/criterion.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "push/ws_command.hpp"

using herald::push::parse_ws_command;
using herald::push::WsCommand;
using herald::push::WsOp;

namespace {

// text copied to the end of a readable page with a PROT_NONE page after it: an over-read
// crashes the test.
std::string parse_guarded(std::string_view text, WsCommand& out) {
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const std::size_t pages = (text.size() + page - 1) / page + 1;
    void* map = mmap(nullptr, (pages + 1) * page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert(map != MAP_FAILED);
    char* base = static_cast<char*>(map);
    cr_assert_eq(mprotect(base + pages * page, page, PROT_NONE), 0);
    char* at = base + pages * page - text.size();
    if (!text.empty()) std::memcpy(at, text.data(), text.size());
    std::string why = parse_ws_command(std::string_view(at, text.size()), out);
    munmap(map, (pages + 1) * page);
    return why;
}

WsCommand ok(std::string_view text) {
    WsCommand a, b;
    std::string why = parse_ws_command(text, a);
    cr_assert(why.empty(), "refused %s: %s", std::string(text).c_str(), why.c_str());
    cr_assert(parse_guarded(text, b).empty(), "%s: guarded", std::string(text).c_str());
    return a;
}

struct Refusal {
    const char* name;
    const char* text;
    const char* why;
    const char* ref;      // what the refusal may echo
    const char* channel;
};

const Refusal refusals[] = {
    {"empty", "", "not a JSON object", "", ""},
    {"array", R"(["op","subscribe"])", "not a JSON object", "", ""},
    {"string", R"("subscribe")", "not a JSON object", "", ""},
    {"number", "42", "not a JSON object", "", ""},
    {"truncated", R"({"op":"subscribe","channel":"chat")", "bad JSON", "", ""},
    {"trailing_comma", R"({"op":"subscribe","channel":"chat",})", "bad JSON", "", ""},
    {"garbage_after", R"({"op":"unsubscribe","channel":"chat","ref":"1"} x)", "bad JSON", "", ""},
    {"single_quotes", R"({'op':'subscribe'})", "bad JSON", "", ""},
    {"lone_surrogate", R"({"op":"publish","channel":"c","data":"\ud800"})", "bad JSON", "", ""},
    {"missing_op", R"({"channel":"chat","ref":"r1"})", "missing \"op\"", "r1", "chat"},
    {"op_not_string", R"({"op":1,"channel":"chat"})", "\"op\" must be a string", "", "chat"},
    {"unknown_op", R"({"op":"listen","channel":"chat","ref":"7"})", "unknown op", "7", "chat"},
    {"op_case", R"({"op":"Subscribe","channel":"chat"})", "unknown op", "", "chat"},
    {"missing_channel", R"({"op":"subscribe","ref":"a"})", "missing \"channel\"", "a", ""},
    {"channel_not_string", R"({"op":"subscribe","channel":["a"]})",
     "\"channel\" must be a string", "", ""},
    {"channel_invalid", R"({"op":"subscribe","channel":"a b","ref":"x"})",
     "invalid channel name", "x", ""},
    {"channel_list", R"({"op":"subscribe","channel":"a,b"})", "invalid channel name", "", ""},
    {"channel_dotdot", R"({"op":"subscribe","channel":".."})", "invalid channel name", "", ""},
    {"channel_empty", R"({"op":"subscribe","channel":""})", "invalid channel name", "", ""},
    {"channel_too_long", nullptr, "invalid channel name", "", ""},
    {"ref_bad_char", R"({"op":"subscribe","channel":"chat","ref":"a b"})",
     "\"ref\" must be 1-64 of A-Z a-z 0-9 _ . : -", "", "chat"},
    {"ref_empty", R"({"op":"subscribe","channel":"chat","ref":""})",
     "\"ref\" must be 1-64 of A-Z a-z 0-9 _ . : -", "", "chat"},
    {"ref_number", R"({"op":"subscribe","channel":"chat","ref":3})",
     "\"ref\" must be 1-64 of A-Z a-z 0-9 _ . : -", "", "chat"},
    {"ref_too_long", nullptr, "\"ref\" must be 1-64 of A-Z a-z 0-9 _ . : -", "", "chat"},
    {"twice", R"({"op":"subscribe","channel":"a","channel":"b","ref":"1"})",
     "\"channel\" given twice", "1", "a"},
    {"since_and_last", R"({"op":"subscribe","channel":"c","since":"0","last":3})",
     "\"since\" and \"last\" exclude each other", "", "c"},
    {"since_number", R"({"op":"subscribe","channel":"c","since":5})", "\"since\" must be a string",
     "", "c"},
    {"since_foreign", R"({"op":"subscribe","channel":"c","since":"yesterday"})",
     "\"since\" must be a message id or \"0\"", "", "c"},
    {"since_empty", R"({"op":"subscribe","channel":"c","since":""})",
     "\"since\" must be a message id or \"0\"", "", "c"},
    {"last_zero", R"({"op":"subscribe","channel":"c","last":0})",
     "\"last\" must be an integer from 1 to 1000", "", "c"},
    {"last_big", R"({"op":"subscribe","channel":"c","last":1001})",
     "\"last\" must be an integer from 1 to 1000", "", "c"},
    {"last_negative", R"({"op":"subscribe","channel":"c","last":-1})",
     "\"last\" must be an integer from 1 to 1000", "", "c"},
    // Valid JSON numbers with more integer digits than the reader keeps (found by fuzzing:
    // these read as "bad JSON").
    {"last_huge", R"({"op":"subscribe","channel":"c","last":12345678901234567890})",
     "\"last\" must be an integer from 1 to 1000", "", "c"},
    {"op_huge", R"({"op":3222222211122121112})", "\"op\" must be a string", "", ""},
    {"last_fraction", R"({"op":"subscribe","channel":"c","last":2.5})",
     "\"last\" must be an integer from 1 to 1000", "", "c"},
    {"last_exponent", R"({"op":"subscribe","channel":"c","last":1e2})",
     "\"last\" must be an integer from 1 to 1000", "", "c"},
    {"last_string", R"({"op":"subscribe","channel":"c","last":"10"})",
     "\"last\" must be an integer from 1 to 1000", "", "c"},
    {"data_in_subscribe", R"({"op":"subscribe","channel":"c","data":"x"})",
     "\"data\" is not a member of subscribe", "", "c"},
    {"since_in_unsubscribe", R"({"op":"unsubscribe","channel":"c","since":"0"})",
     "\"since\" is not a member of unsubscribe", "", "c"},
    {"last_in_publish", R"({"op":"publish","channel":"c","data":"x","last":1})",
     "\"last\" is not a member of publish", "", "c"},
    {"publish_no_data", R"({"op":"publish","channel":"c","ref":"p"})", "missing \"data\"", "p",
     "c"},
    {"publish_data_object", R"({"op":"publish","channel":"c","data":{"a":1}})",
     "\"data\" must be a string", "", "c"},
    {"publish_data_null", R"({"op":"publish","channel":"c","data":null})",
     "\"data\" must be a string", "", "c"},
    {"publish_event_bad", R"({"op":"publish","channel":"c","data":"x","event":"a b"})",
     "\"event\" must be 1-64 of A-Z a-z 0-9 _ . : -", "", "c"},
    {"publish_event_reserved", R"({"op":"publish","channel":"c","data":"x","event":"herald-x"})",
     "\"event\" names one of herald's own events (message, binary, herald-*)", "", "c"},
    {"publish_event_number", R"({"op":"publish","channel":"c","data":"x","event":1})",
     "\"event\" must be a string", "", "c"},
};

std::string text_of(const Refusal& r) {
    if (r.text) return r.text;
    if (std::string_view(r.name) == "channel_too_long")
        return R"({"op":"subscribe","channel":")" + std::string(129, 'c') + "\"}";
    return R"({"op":"subscribe","channel":"chat","ref":")" + std::string(65, 'r') + "\"}";
}

} // namespace

Test(push_ws_command, subscribe_forms) {
    WsCommand c = ok(R"({"op":"subscribe","channel":"chat"})");
    cr_expect(c.op == WsOp::subscribe && c.channel == "chat" && c.ref.empty());
    cr_expect(!c.since && c.last == 0);

    c = ok(R"( { "ref" : "1", "since" : "00000000abcd-5", "channel" : "a:b.c", "op" : "subscribe" } )");
    cr_expect(c.channel == "a:b.c" && c.ref == "1");
    cr_assert(c.since.has_value());
    cr_expect(c.since->epoch == 0xabcd && c.since->seq == 5 && !c.since->foreign);

    c = ok(R"({"op":"subscribe","channel":"chat","since":"0"})");
    cr_assert(c.since.has_value());
    cr_expect(c.since->epoch == 0 && c.since->seq == 0 && !c.since->foreign);

    c = ok(R"({"op":"subscribe","channel":"chat","last":10})");
    cr_expect(c.last == 10 && !c.since);
    cr_expect(ok(R"({"op":"subscribe","channel":"c","last":1})").last == 1);
    cr_expect(ok(R"({"op":"subscribe","channel":"c","last":1000})").last == 1000);
}

Test(push_ws_command, unsubscribe_and_publish) {
    WsCommand c = ok(R"({"op":"unsubscribe","channel":"chat","ref":"Z_9.x:-"})");
    cr_expect(c.op == WsOp::unsubscribe && c.channel == "chat" && c.ref == "Z_9.x:-");

    c = ok(R"({"op":"publish","channel":"chat","data":"hi \"you\"\n\u00e9","ref":"3"})");
    cr_expect(c.op == WsOp::publish && c.data == "hi \"you\"\n\xc3\xa9" && c.event.empty());
    c = ok(R"({"op":"publish","channel":"chat","data":"","event":"news.flash"})");
    cr_expect(c.data.empty() && c.event == "news.flash");
    cr_expect(ok(R"({"op":"publish","channel":"c","data":"x","ref":")" + std::string(64, 'r') +
                 "\"}").ref.size() == 64);
}

Test(push_ws_command, skips_unknown_members_of_any_type) {
    WsCommand c = ok(R"({"v":2,"op":"unsubscribe","x":{"deep":[1,{"a":null}]},"channel":"c","y":true})");
    cr_expect(c.op == WsOp::unsubscribe && c.channel == "c");
    // An unknown member given twice is skipped twice; a known one twice is refused.
    ok(R"({"x":1,"x":2,"op":"unsubscribe","channel":"c"})");
}

Test(push_ws_command, refusals_give_their_reason_and_echo_only_what_is_valid) {
    for (const Refusal& r : refusals) {
        const std::string text = text_of(r);
        for (int guarded = 0; guarded < 2; ++guarded) {
            WsCommand c;
            c.ref = "stale";
            c.channel = "stale";
            const std::string why = guarded ? parse_guarded(text, c) : parse_ws_command(text, c);
            cr_expect(why == r.why, "%s%s: reason \"%s\", want \"%s\"", r.name,
                      guarded ? " (guarded)" : "", why.c_str(), r.why);
            cr_expect(c.ref == r.ref, "%s: ref \"%s\", want \"%s\"", r.name, c.ref.c_str(), r.ref);
            cr_expect(c.channel == r.channel, "%s: channel \"%s\", want \"%s\"", r.name,
                      c.channel.c_str(), r.channel);
        }
    }
}

Test(push_ws_command, deep_nesting_in_a_skipped_member_is_bad_json) {
    std::string deep = R"({"op":"unsubscribe","channel":"c","x":)" + std::string(100, '[') +
                       std::string(100, ']') + "}";
    WsCommand c;
    cr_expect(parse_ws_command(deep, c) == "bad JSON");
}
