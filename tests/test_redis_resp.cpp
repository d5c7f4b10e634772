// Unit tests for the RESP2/RESP3 reply parser and the command encoder (redis/resp.hpp): every
// case fed whole, byte by byte and split at every offset from guard-paged buffers, with the
// parsed value rendered to text and compared; malformed inputs and every limit rejected.
#include <criterion/criterion.h>

#include <string>
#include <string_view>

#include "redis/resp.hpp"
#include "support/feed.hpp"

using namespace std::literals;
using herald::Buffer;
using herald::ParseStatus;
using herald::redis::ParseResult;
using herald::redis::RespError;
using herald::redis::RespParser;
using herald::redis::RespType;
using herald::redis::RespValue;
using herald::test::FeedMode;
using herald::test::GuardedBuffer;

namespace {

// A value as text: +simple -error :int $bulk _ #t ,double (big !bulkerr =fmt:text
// *[a,b] %{k:v} ~[..] >[..]; attributes as |{k:v} before the value.
std::string render(const RespValue& v) {
    std::string out;
    if (!v.attributes.empty()) {
        out += "|{";
        for (std::size_t i = 0; i < v.attributes.size(); i += 2) {
            if (i)
                out += ",";
            out += render(v.attributes[i]) + ":" + render(v.attributes[i + 1]);
        }
        out += "}";
    }
    auto list = [&](char mark, const char* open, const char* close, bool pairs) {
        out += mark;
        out += open;
        for (std::size_t i = 0; i < v.elements.size(); ++i) {
            if (i)
                out += pairs && i % 2 ? ":" : ",";
            out += render(v.elements[i]);
        }
        out += close;
    };
    switch (v.type) {
    case RespType::simple_string:
        out += "+" + std::string(v.str);
        break;
    case RespType::error:
        out += "-" + std::string(v.str);
        break;
    case RespType::integer:
        out += ":" + std::to_string(v.integer);
        break;
    case RespType::bulk_string:
        out += "$" + std::string(v.str);
        break;
    case RespType::null:
        out += "_";
        break;
    case RespType::boolean:
        out += v.boolean ? "#t" : "#f";
        break;
    case RespType::double_number: {
        char buf[64];
        std::snprintf(buf, sizeof buf, ",%g", v.number);
        out += buf;
        break;
    }
    case RespType::big_number:
        out += "(" + std::string(v.str);
        break;
    case RespType::bulk_error:
        out += "!" + std::string(v.str);
        break;
    case RespType::verbatim:
        out += "=" + std::string(v.format) + ":" + std::string(v.str);
        break;
    case RespType::array:
        list('*', "[", "]", false);
        break;
    case RespType::map:
        list('%', "{", "}", true);
        break;
    case RespType::set:
        list('~', "[", "]", false);
        break;
    case RespType::push:
        list('>', "[", "]", false);
        break;
    }
    return out;
}

constexpr std::size_t whole_input = SIZE_MAX;

struct Case {
    const char* name;
    std::string_view input;
    ParseStatus status;
    std::string_view want; // done: rendered value
    RespError error = RespError::none;
    std::size_t consumed = whole_input; // done: bytes of the reply
};

const std::string deep_ok = [] {
    std::string s;
    for (std::size_t i = 0; i < herald::redis::max_nesting_depth; ++i)
        s += "*1\r\n";
    return s + ":1\r\n";
}();
const std::string too_deep = "*1\r\n" + deep_ok;
const std::string long_line = "+" + std::string(herald::redis::max_line_length + 1, 'x') + "\r\n";
const std::string max_line = "+" + std::string(herald::redis::max_line_length, 'x') + "\r\n";

const Case cases[] = {
    // RESP2
    {"simple string", "+OK\r\n", ParseStatus::done, "+OK"},
    {"empty simple string", "+\r\n", ParseStatus::done, "+"},
    {"error", "-ERR unknown command 'x'\r\n", ParseStatus::done, "-ERR unknown command 'x'"},
    {"integer", ":1000\r\n", ParseStatus::done, ":1000"},
    {"negative integer", ":-42\r\n", ParseStatus::done, ":-42"},
    {"RESP3 integer with plus", ":+7\r\n", ParseStatus::done, ":7"},
    {"int64 max", ":9223372036854775807\r\n", ParseStatus::done, ":9223372036854775807"},
    {"int64 min", ":-9223372036854775808\r\n", ParseStatus::done, ":-9223372036854775808"},
    {"bulk string", "$5\r\nhello\r\n", ParseStatus::done, "$hello"},
    {"bulk with CRLF inside", "$4\r\na\r\nb\r\n", ParseStatus::done, "$a\r\nb"},
    {"empty bulk", "$0\r\n\r\n", ParseStatus::done, "$"},
    {"null bulk", "$-1\r\n", ParseStatus::done, "_"},
    {"array", "*2\r\n$3\r\nGET\r\n:5\r\n", ParseStatus::done, "*[$GET,:5]"},
    {"empty array", "*0\r\n", ParseStatus::done, "*[]"},
    {"null array", "*-1\r\n", ParseStatus::done, "_"},
    {"nested arrays", "*2\r\n*1\r\n+a\r\n*2\r\n:1\r\n*0\r\n", ParseStatus::done,
     "*[*[+a],*[:1,*[]]]"},
    {"array with null element", "*3\r\n$1\r\na\r\n$-1\r\n+b\r\n", ParseStatus::done, "*[$a,_,+b]"},
    {"pub/sub message", "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\nhi!\r\n", ParseStatus::done,
     "*[$message,$ch,$hi!]"},
    {"trailing bytes not consumed", "+OK\r\n+NEXT\r\n", ParseStatus::done, "+OK", RespError::none,
     5},
    {"array then more", "*1\r\n:1\r\n:2\r\n", ParseStatus::done, "*[:1]", RespError::none, 8},
    // RESP3
    {"null", "_\r\n", ParseStatus::done, "_"},
    {"true", "#t\r\n", ParseStatus::done, "#t"},
    {"false", "#f\r\n", ParseStatus::done, "#f"},
    {"double", ",1.5\r\n", ParseStatus::done, ",1.5"},
    {"double exponent", ",-2.5e+3\r\n", ParseStatus::done, ",-2500"},
    {"double integral", ",10\r\n", ParseStatus::done, ",10"},
    {"double plus", ",+0.25\r\n", ParseStatus::done, ",0.25"},
    {"double inf", ",inf\r\n", ParseStatus::done, ",inf"},
    {"double -inf", ",-inf\r\n", ParseStatus::done, ",-inf"},
    {"double nan", ",nan\r\n", ParseStatus::done, ",nan"},
    {"double out of range", ",1e999\r\n", ParseStatus::done, ",inf"},
    {"big number", "(3492890328409238509324850943850943825024385\r\n", ParseStatus::done,
     "(3492890328409238509324850943850943825024385"},
    {"negative big number", "(-12\r\n", ParseStatus::done, "(-12"},
    {"bulk error", "!21\r\nSYNTAX invalid syntax\r\n", ParseStatus::done, "!SYNTAX invalid syntax"},
    {"verbatim", "=15\r\ntxt:Some string\r\n", ParseStatus::done, "=txt:Some string"},
    {"verbatim empty text", "=4\r\nmkd:\r\n", ParseStatus::done, "=mkd:"},
    {"map", "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n", ParseStatus::done,
     "%{+first::1,+second::2}"},
    {"empty map", "%0\r\n", ParseStatus::done, "%{}"},
    {"set", "~3\r\n+a\r\n:1\r\n#f\r\n", ParseStatus::done, "~[+a,:1,#f]"},
    {"push", ">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n", ParseStatus::done,
     ">[$message,$c,$m]"},
    {"attribute before a value", "|1\r\n+ttl\r\n:3600\r\n:42\r\n", ParseStatus::done,
     "|{+ttl::3600}:42"},
    {"attribute inside an array", "*2\r\n|1\r\n+k\r\n+v\r\n*1\r\n:1\r\n:2\r\n", ParseStatus::done,
     "*[|{+k:+v}*[:1],:2]"},
    {"HELLO reply", "%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n", ParseStatus::done,
     "%{$server:$redis,$proto::3}"},
    // Incomplete
    {"empty input", "", ParseStatus::need_more, ""},
    {"type byte only", "+", ParseStatus::need_more, ""},
    {"line without CRLF", "+OK", ParseStatus::need_more, ""},
    {"line without LF", "+OK\r", ParseStatus::need_more, ""},
    {"bulk short", "$5\r\nhel", ParseStatus::need_more, ""},
    {"bulk without CRLF", "$5\r\nhello", ParseStatus::need_more, ""},
    {"array short", "*2\r\n:1\r\n", ParseStatus::need_more, ""},
    {"attribute without its value", "|1\r\n+a\r\n+b\r\n", ParseStatus::need_more, ""},
    // Limits at their edge
    {"deepest nesting allowed", deep_ok, ParseStatus::done,
     [] {
         static std::string s;
         for (std::size_t i = 0; i < herald::redis::max_nesting_depth; ++i)
             s += "*[";
         s += ":1";
         for (std::size_t i = 0; i < herald::redis::max_nesting_depth; ++i)
             s += "]";
         return std::string_view(s);
     }()},
    {"longest line allowed", max_line, ParseStatus::done,
     std::string_view(max_line).substr(0, max_line.size() - 2)},
    // Malformed
    {"unknown type", "?x\r\n", ParseStatus::error, "", RespError::bad_type},
    {"inline command reply", "PONG\r\n", ParseStatus::error, "", RespError::bad_type},
    {"RESP3 streamed chunk", ";4\r\nabcd\r\n", ParseStatus::error, "", RespError::bad_type},
    {"CR without LF", "+OK\rX\n", ParseStatus::error, "", RespError::bad_line},
    {"bare LF in line", "+O\nK\r\n", ParseStatus::error, "", RespError::bad_line},
    {"integer empty", ":\r\n", ParseStatus::error, "", RespError::bad_integer},
    {"integer letters", ":12a\r\n", ParseStatus::error, "", RespError::bad_integer},
    {"integer space", ": 1\r\n", ParseStatus::error, "", RespError::bad_integer},
    {"integer minus only", ":-\r\n", ParseStatus::error, "", RespError::bad_integer},
    {"integer overflow", ":9223372036854775808\r\n", ParseStatus::error, "",
     RespError::bad_integer},
    {"bulk length letters", "$x\r\n", ParseStatus::error, "", RespError::bad_length},
    {"bulk length plus", "$+1\r\na\r\n", ParseStatus::error, "", RespError::bad_length},
    {"bulk length -2", "$-2\r\n", ParseStatus::error, "", RespError::bad_length},
    {"streamed bulk", "$?\r\n", ParseStatus::error, "", RespError::bad_length},
    {"bulk too long for its length", "$2\r\nabc\r\n", ParseStatus::error, "",
     RespError::bad_terminator},
    {"bulk without CR", "$2\r\nab\n\n", ParseStatus::error, "", RespError::bad_terminator},
    {"null bulk error", "!-1\r\n", ParseStatus::error, "", RespError::bad_length},
    {"array count -2", "*-2\r\n", ParseStatus::error, "", RespError::bad_length},
    {"null map", "%-1\r\n", ParseStatus::error, "", RespError::bad_length},
    {"streamed array", "*?\r\n", ParseStatus::error, "", RespError::bad_length},
    {"boolean other", "#x\r\n", ParseStatus::error, "", RespError::bad_boolean},
    {"boolean long", "#tt\r\n", ParseStatus::error, "", RespError::bad_boolean},
    {"null with text", "_x\r\n", ParseStatus::error, "", RespError::bad_null},
    {"double empty", ",\r\n", ParseStatus::error, "", RespError::bad_double},
    {"double letters", ",1.5x\r\n", ParseStatus::error, "", RespError::bad_double},
    {"double dot only", ",.\r\n", ParseStatus::error, "", RespError::bad_double},
    {"double no fraction", ",1.\r\n", ParseStatus::error, "", RespError::bad_double},
    {"double no exponent", ",1e\r\n", ParseStatus::error, "", RespError::bad_double},
    {"double hex", ",0x10\r\n", ParseStatus::error, "", RespError::bad_double},
    {"double infinity word", ",infinity\r\n", ParseStatus::error, "", RespError::bad_double},
    {"big number letters", "(12a\r\n", ParseStatus::error, "", RespError::bad_integer},
    {"big number empty", "(\r\n", ParseStatus::error, "", RespError::bad_integer},
    {"verbatim too short", "=3\r\ntxt\r\n", ParseStatus::error, "", RespError::bad_verbatim},
    {"verbatim without colon", "=5\r\ntxtab\r\n", ParseStatus::error, "", RespError::bad_verbatim},
    {"error inside an array", "*2\r\n:1\r\n:x\r\n", ParseStatus::error, "", RespError::bad_integer},
    {"too deep", too_deep, ParseStatus::error, "", RespError::too_deep},
    {"line too long", long_line, ParseStatus::error, "", RespError::line_too_long},
    {"bulk too big", "$67108865\r\n", ParseStatus::error, "", RespError::too_big},
    {"too many values announced", "*1048577\r\n", ParseStatus::error, "",
     RespError::too_many_values},
    {"map pairs too many", "%1048577\r\n", ParseStatus::error, "", RespError::too_many_values},
};

struct Outcome {
    ParseResult r;
    std::string rendered;
};

bool same(const Outcome& a, const Outcome& b) {
    return a.r.status == b.r.status && a.r.consumed == b.r.consumed && a.r.error == b.r.error &&
           a.rendered == b.rendered;
}

template <class Feeder> Outcome run(Feeder&& feeder) {
    RespParser p;
    Outcome o;
    o.r = feeder([&](std::string_view in) {
        ParseResult r = p.feed(in);
        // The value's views point into this call's bytes: render before the next call.
        if (r.status == ParseStatus::done)
            o.rendered = render(p.value());
        return r;
    });
    return o;
}

void check(const Case& c, const Outcome& o, const char* how, std::size_t cut) {
    cr_assert(o.r.status == c.status, "%s (%s, cut %zu): status %d, want %d (error %s)", c.name,
              how, cut, static_cast<int>(o.r.status), static_cast<int>(c.status),
              to_string(o.r.error));
    cr_assert(o.r.error == c.error, "%s (%s, cut %zu): error %s, want %s", c.name, how, cut,
              to_string(o.r.error), to_string(c.error));
    if (c.status == ParseStatus::done) {
        const std::size_t want = c.consumed == whole_input ? c.input.size() : c.consumed;
        cr_assert(o.r.consumed == want, "%s (%s, cut %zu): consumed %zu, want %zu", c.name, how,
                  cut, o.r.consumed, want);
        cr_assert(o.rendered == c.want, "%s (%s, cut %zu): value %s, want %s", c.name, how, cut,
                  o.rendered.c_str(), std::string(c.want).c_str());
    }
}

} // namespace

Test(redis_resp, cases_whole_bytewise_and_at_every_split, .timeout = 60.0) {
    GuardedBuffer g(1 << 17);
    for (const Case& c : cases) {
        const Outcome whole =
            run([&](auto step) { return feed_whole(g, c.input, FeedMode::accumulate, step); });
        check(c, whole, "whole", c.input.size());
        if (c.input.size() > 4096)
            continue; // the long-line cases: whole only is enough here
        const Outcome bytewise =
            run([&](auto step) { return feed_bytewise(g, c.input, FeedMode::accumulate, step); });
        check(c, bytewise, "byte by byte", 1);
        cr_assert(same(whole, bytewise), "%s: whole and byte by byte differ", c.name);
        for (std::size_t cut = 0; cut <= c.input.size(); ++cut) {
            const Outcome split = run(
                [&](auto step) { return feed_split(g, c.input, cut, FeedMode::accumulate, step); });
            check(c, split, "split", cut);
            cr_assert(same(whole, split), "%s: whole and split at %zu differ", c.name, cut);
        }
    }
}

Test(redis_resp, long_line_fed_in_pieces_is_scanned_once) {
    // The 64 KiB line fed in 1 KiB steps: the same result as whole, and the line limit is
    // reported as soon as the line passes it, before its CRLF arrives.
    GuardedBuffer g(1 << 17);
    RespParser p;
    ParseResult r;
    for (std::size_t n = 1024; n < max_line.size(); n += 1024) {
        r = p.feed(g.place(std::string_view(max_line).substr(0, n)));
        cr_assert(r.status == ParseStatus::need_more);
    }
    r = p.feed(g.place(max_line));
    cr_assert(r.status == ParseStatus::done && r.consumed == max_line.size());
    RespParser q;
    r = q.feed(g.place(std::string_view(long_line).substr(0, long_line.size() - 2)));
    cr_assert(r.status == ParseStatus::error && r.error == RespError::line_too_long);
}

Test(redis_resp, next_feed_after_done_starts_a_new_reply) {
    RespParser p;
    std::string stream = "+OK\r\n*2\r\n:1\r\n$1\r\nx\r\n:3\r\n";
    std::string_view rest = stream;
    const char* want[] = {"+OK", "*[:1,$x]", ":3"};
    for (const char* w : want) {
        ParseResult r = p.feed(rest);
        cr_assert(r.status == ParseStatus::done);
        const std::string got = render(p.value());
        cr_assert(got == w, "%s, want %s", got.c_str(), w);
        rest.remove_prefix(r.consumed);
    }
    cr_assert(rest.empty());
    cr_assert(p.feed(rest).status == ParseStatus::need_more);
}

Test(redis_resp, errors_are_sticky_until_reset) {
    RespParser p;
    ParseResult r = p.feed("?\r\n");
    cr_assert(r.status == ParseStatus::error && r.error == RespError::bad_type);
    r = p.feed("+OK\r\n");
    cr_assert(r.status == ParseStatus::error && r.error == RespError::bad_type);
    p.reset();
    r = p.feed("+OK\r\n");
    cr_assert(r.status == ParseStatus::done && r.consumed == 5);
}

Test(redis_resp, value_count_limit_counts_every_nested_value) {
    // Many small arrays, each under the announced-count limit, together past max_reply_values.
    std::string in = "*2\r\n*1048576\r\n";
    for (std::size_t i = 0; i < herald::redis::max_reply_values; ++i)
        in += "_\r\n";
    RespParser p;
    ParseResult r = p.feed(in);
    cr_assert(r.status == ParseStatus::error && r.error == RespError::too_many_values,
              "status %d error %s", static_cast<int>(r.status), to_string(r.error));
}

Test(redis_resp, encodes_commands_as_arrays_of_bulk_strings) {
    Buffer out;
    herald::redis::encode_command({"SET", "key", ""}, out);
    cr_assert(out.view() == "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$0\r\n\r\n"sv);
    out.clear();
    const std::string binary("a\r\n\0b", 5);
    herald::redis::encode_command({"PUBLISH", binary}, out);
    cr_assert(out.view() == "*2\r\n$7\r\nPUBLISH\r\n$5\r\na\r\n\0b\r\n"sv);
    // The encoding of a command reads back through the parser (an array of bulk strings).
    RespParser p;
    ParseResult r = p.feed(out.view());
    cr_assert(r.status == ParseStatus::done && r.consumed == out.size());
    cr_assert(p.value().elements.size() == 2 && p.value().elements[1].str == binary);
}
