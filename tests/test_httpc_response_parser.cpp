// Unit tests for the HTTP client's response parser (RFC 9112 §4-§6): every case fed whole,
// byte by byte and split at every offset from guard-paged buffers, all three giving the same
// status, error, body and keep-alive verdict.
#include <criterion/criterion.h>

#include <string>
#include <string_view>

#include "httpc/response_parser.hpp"
#include "support/feed.hpp"

using namespace std::literals;
using herald::ParseStatus;
using herald::httpc::ResponseError;
using herald::httpc::ResponseLimits;
using herald::httpc::ResponseParser;
using herald::httpc::ResponseResult;
using herald::test::FeedMode;
using herald::test::GuardedBuffer;

namespace {

constexpr std::size_t any = SIZE_MAX;

struct Case {
    const char* name;
    std::string_view input;
    ParseStatus status;
    ResponseError error = ResponseError::none;
    int code = 0;              // status code when done
    std::string_view body = "";
    bool keep_alive = false;
    std::size_t consumed = any; // done: bytes of the response (the rest is the next one)
    bool head_request = false;
    bool finish = false;        // the peer closes after the input: finish() decides
    ResponseLimits limits = {};
};

constexpr ResponseLimits tiny{.max_head_bytes = 40, .max_header_count = 2, .max_body_bytes = 8};

const Case cases[] = {
    {"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", ParseStatus::done,
     ResponseError::none, 200, "hello", true},
    {"next response left", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 2",
     ParseStatus::done, ResponseError::none, 200, "ok", true, 40},
    {"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n3\r\n, w"
                "\r\n0\r\nT: v\r\n\r\n",
     ParseStatus::done, ResponseError::none, 200, "hello, w", true},
    {"interim responses skipped", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nLink: x\r\n"
                                  "\r\nHTTP/1.1 204 No Content\r\n\r\n",
     ParseStatus::done, ResponseError::none, 204, "", true},
    {"204 has no body", "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n", ParseStatus::done,
     ResponseError::none, 204, "", true},
    {"304 has no body", "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n",
     ParseStatus::done, ResponseError::none, 304, "", true},
    {"HEAD has no body", "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n", ParseStatus::done,
     ResponseError::none, 200, "", true, any, true},
    {"close-delimited", "HTTP/1.1 403 Forbidden\r\nX: y\r\n\r\nno way", ParseStatus::done,
     ResponseError::none, 403, "no way", false, 0, false, true},
    {"close-delimited, not closed yet", "HTTP/1.1 200 OK\r\n\r\nabc", ParseStatus::need_more,
     ResponseError::none, 200, "abc"},
    {"truncated length body", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc",
     ParseStatus::error, ResponseError::truncated, 0, "", false, any, false, true},
    {"truncated head", "HTTP/1.1 200 OK\r\nContent-Le", ParseStatus::error,
     ResponseError::truncated, 0, "", false, any, false, true},
    {"HTTP/1.0 closes", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", ParseStatus::done,
     ResponseError::none, 200, "", false},
    {"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nconnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
     ParseStatus::done, ResponseError::none, 200, "", true},
    {"Connection: close", "HTTP/1.1 200 OK\r\nConnection: x, close\r\nContent-Length: 1\r\n\r\n!",
     ParseStatus::done, ResponseError::none, 200, "!", false},
    {"no reason phrase", "HTTP/1.1 401\r\nContent-Length: 0\r\n\r\n", ParseStatus::done,
     ResponseError::none, 401, "", true},
    {"empty reason phrase", "HTTP/1.1 503 \r\nContent-Length: 0\r\n\r\n", ParseStatus::done,
     ResponseError::none, 503, "", true},
    {"same length twice", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
     ParseStatus::done, ResponseError::none, 200, "x", true},
    {"HTTP/2", "HTTP/2 200 OK\r\n\r\n", ParseStatus::error, ResponseError::bad_status_line},
    {"two-digit status", "HTTP/1.1 20 OK\r\n\r\n", ParseStatus::error,
     ResponseError::bad_status_line},
    {"leading zero status", "HTTP/1.1 099 OK\r\n\r\n", ParseStatus::error,
     ResponseError::bad_status_line},
    {"four-digit status", "HTTP/1.1 2000 OK\r\n\r\n", ParseStatus::error,
     ResponseError::bad_status_line},
    {"101 not asked for", "HTTP/1.1 101 Switching Protocols\r\n\r\n", ParseStatus::error,
     ResponseError::bad_status_line},
    {"control char in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", ParseStatus::error,
     ResponseError::bad_status_line},
    {"space before colon", "HTTP/1.1 200 OK\r\nX : y\r\n\r\n", ParseStatus::error,
     ResponseError::bad_header},
    {"obs-fold", "HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n", ParseStatus::error,
     ResponseError::bad_header},
    {"bare LF", "HTTP/1.1 200 OK\r\nX: y\nZ: 1\r\n\r\n", ParseStatus::error, ResponseError::bad_header},
    {"bare CR in value", "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", ParseStatus::error,
     ResponseError::bad_header},
    {"NUL in value", "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n"sv, ParseStatus::error,
     ResponseError::bad_header},
    {"length and chunked", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked"
                           "\r\n\r\n",
     ParseStatus::error, ResponseError::bad_length},
    {"conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
     ParseStatus::error, ResponseError::bad_length},
    {"length not a number", "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", ParseStatus::error,
     ResponseError::bad_length},
    {"length with leading zeros", "HTTP/1.1 200 OK\r\nContent-Length: 0000000000000000003\r\n"
                                  "\r\nabc",
     ParseStatus::done, ResponseError::none, 200, "abc", true},
    {"huge length", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
     ParseStatus::error, ResponseError::bad_length},
    {"gzip coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
     ParseStatus::error, ResponseError::bad_coding},
    {"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", ParseStatus::error,
     ResponseError::bad_chunk},
    {"length over the limit", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", ParseStatus::error,
     ResponseError::body_too_large, 0, "", false, any, false, false, tiny},
    {"chunks over the limit", "HTTP/1.1 200\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n",
     ParseStatus::error, ResponseError::body_too_large, 0, "", false, any, false, false,
     {.max_head_bytes = 100, .max_header_count = 2, .max_body_bytes = 8}},
    {"close-delimited over the limit", "HTTP/1.1 200\r\n\r\n123456789", ParseStatus::error,
     ResponseError::body_too_large, 0, "", false, any, false, false, tiny},
    {"head over the limit", "HTTP/1.1 200 OK\r\nX-Long-Header: 0123456789012345\r\n\r\n",
     ParseStatus::error, ResponseError::head_too_large, 0, "", false, any, false, false, tiny},
    {"too many fields", "HTTP/1.1 200\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", ParseStatus::error,
     ResponseError::head_too_large, 0, "", false, any, false, false,
     {.max_head_bytes = 100, .max_header_count = 2, .max_body_bytes = 8}},
};

struct Run {
    ResponseResult r;
    int code;
    std::string body;
    bool keep_alive;
};

Run run(const Case& c, int way, std::size_t cut, GuardedBuffer& g) {
    ResponseParser p(c.limits);
    p.start(c.head_request);
    auto step = [&](std::string_view in) { return p.feed(in); };
    Run out{};
    if (way == 0) out.r = feed_whole(g, c.input, FeedMode::consume, step);
    else if (way == 1) out.r = feed_bytewise(g, c.input, FeedMode::consume, step);
    else out.r = feed_split(g, c.input, cut, FeedMode::consume, step);
    if (c.finish && out.r.status == ParseStatus::need_more) {
        std::size_t used = out.r.consumed;
        out.r = p.finish();
        out.r.consumed = used;
    }
    if (out.r.status == ParseStatus::done || p.head_done()) {
        out.code = p.status();
        out.body = std::string(p.body());
        out.keep_alive = p.keep_alive();
    }
    return out;
}

void check(const Case& c, const Run& r, const char* how, std::size_t cut) {
    cr_assert(r.r.status == c.status, "%s (%s, cut %zu): status %d", c.name, how, cut,
              static_cast<int>(r.r.status));
    cr_assert(r.r.error == c.error, "%s (%s, cut %zu): error %s", c.name, how, cut,
              herald::httpc::to_string(r.r.error));
    if (c.status == ParseStatus::error) return;
    cr_assert_eq(r.code, c.code, "%s (%s, cut %zu): code %d", c.name, how, cut, r.code);
    cr_assert(r.body == c.body, "%s (%s, cut %zu): body \"%s\"", c.name, how, cut, r.body.c_str());
    if (c.status != ParseStatus::done) return;
    cr_assert_eq(r.keep_alive, c.keep_alive, "%s (%s, cut %zu): keep-alive", c.name, how, cut);
    const std::size_t want = c.consumed == any ? c.input.size() : c.consumed;
    if (!c.finish)
        cr_assert_eq(r.r.consumed, want, "%s (%s, cut %zu): consumed %zu", c.name, how, cut,
                     r.r.consumed);
}

} // namespace

Test(httpc_response_parser, whole_and_byte_by_byte, .timeout = 5.0) {
    for (const Case& c : cases) {
        GuardedBuffer g(c.input.size());
        check(c, run(c, 0, 0, g), "whole", 0);
        check(c, run(c, 1, 0, g), "bytewise", 0);
    }
}

Test(httpc_response_parser, same_result_at_every_split, .timeout = 10.0) {
    for (const Case& c : cases) {
        GuardedBuffer g(c.input.size());
        for (std::size_t cut = 0; cut <= c.input.size(); ++cut) check(c, run(c, 2, cut, g), "split", cut);
    }
}

Test(httpc_response_parser, headers_by_name_trimmed) {
    ResponseParser p;
    p.start(false);
    ResponseResult r = p.feed("HTTP/1.1 401 Unauthorized\r\nwww-authenticate:  Bearer realm=\"x\" "
                              "\t\r\nX-Empty:\r\nContent-Length: 0\r\n\r\n");
    cr_assert(r.status == ParseStatus::done);
    cr_assert(p.header("WWW-Authenticate") == "Bearer realm=\"x\"");
    cr_assert(p.header("x-empty").empty());
    cr_assert(p.header("Missing").empty());
}

Test(httpc_response_parser, errors_and_done_are_sticky_until_start) {
    ResponseParser p;
    p.start(false);
    cr_assert(p.feed("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx").status == ParseStatus::done);
    cr_assert(p.feed("garbage").status == ParseStatus::done);
    p.start(false);
    cr_assert_not(p.started());
    cr_assert(p.feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").status == ParseStatus::done);
    cr_assert(p.body().empty());
    p.start(false);
    cr_assert(p.feed("SMTP").status == ParseStatus::error);
    cr_assert(p.feed("HTTP/1.1 200 OK\r\n\r\n").status == ParseStatus::error);
    cr_assert(p.finish().status == ParseStatus::error);
}
