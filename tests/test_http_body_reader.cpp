// BodyReader: request bodies (Content-Length and chunked) up to a limit, fed whole, byte by
// byte and split at every offset; 413 before reading an over-long Content-Length.
#include <criterion/criterion.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "http/body_reader.hpp"
#include "http/request.hpp"
#include "support/feed.hpp"

using namespace herald;
using namespace herald::http;

namespace {

struct BodyCase {
    const char* name;
    bool chunked;
    std::uint64_t content_length;  // when not chunked
    std::string_view input;
    ParseStatus status;
    HttpError error = HttpError::none;
    std::size_t consumed = 0;      // done: the body's length on the wire
    std::string_view body = "";    // done and need_more: what was read
    std::uint64_t max = 16;
};

const BodyCase body_cases[] = {
    {"length, exact", false, 5, "hello", ParseStatus::done, HttpError::none, 5, "hello"},
    {"length, next request follows", false, 2, "okGET / HTTP/1.1\r\n", ParseStatus::done,
     HttpError::none, 2, "ok"},
    {"length, short", false, 10, "hello", ParseStatus::need_more, HttpError::none, 5, "hello"},
    {"length at max", false, 16, "0123456789abcdef", ParseStatus::done, HttpError::none, 16,
     "0123456789abcdef"},
    {"chunked", true, 0, "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET", ParseStatus::done,
     HttpError::none, 26, "hello world"},
    {"chunked, unfinished", true, 0, "5\r\nhello\r\n0\r\n", ParseStatus::need_more,
     HttpError::none, 0, "hello"},
    {"chunked over max", true, 0, "a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n",
     ParseStatus::error, HttpError::body_too_large},
    {"bad chunk", true, 0, "x\r\n", ParseStatus::error, HttpError::bad_chunk},
};

Request length_request(std::uint64_t length) {
    Request req;
    req.has_content_length = true;
    req.content_length = length;
    return req;
}

Request body_request(const BodyCase& c) {
    Request req;
    req.chunked = c.chunked;
    req.has_content_length = !c.chunked;
    req.content_length = c.chunked ? 0 : c.content_length;
    return req;
}

} // namespace

Test(body_reader, same_result_whole_bytewise_and_at_every_split, .timeout = 5.0) {
    test::GuardedBuffer g(64);
    for (const BodyCase& c : body_cases) {
        for (int way = 0; way < 3; ++way) {
            for (std::size_t cut = 0; cut <= (way == 2 ? c.input.size() : 0); ++cut) {
                BodyReader b;
                cr_assert(b.start(body_request(c), c.max) == HttpError::none, "%s", c.name);
                auto step = [&](std::string_view in) { return b.feed(in); };
                ParseResult r =
                    way == 0   ? test::feed_whole(g, c.input, test::FeedMode::consume, step)
                    : way == 1 ? test::feed_bytewise(g, c.input, test::FeedMode::consume, step)
                               : test::feed_split(g, c.input, cut, test::FeedMode::consume, step);
                bool ok = r.status == c.status && r.error == c.error &&
                          (c.status != ParseStatus::done || r.consumed == c.consumed) &&
                          (c.status == ParseStatus::error || b.body() == c.body);
                cr_expect(ok, "%s (way %d, cut %zu): status %d error %d consumed %zu body \"%.*s\"",
                          c.name, way, cut, int(r.status), int(r.error), r.consumed,
                          static_cast<int>(b.body().size()), b.body().data());
                if (!ok) return;
            }
        }
    }
}

Test(body_reader, content_length_over_the_limit_is_refused_before_reading, .timeout = 5.0) {
    BodyReader b;
    cr_expect(b.start(length_request(17), 16) == HttpError::body_too_large);
    cr_expect(b.start(length_request(16), 16) == HttpError::none);
    Request req;
    req.chunked = true;
    cr_expect(b.start(req, 0) == HttpError::none, "a chunked body is checked as it arrives");
}

Test(body_reader, start_forgets_the_previous_body, .timeout = 5.0) {
    BodyReader b;
    cr_assert(b.start(length_request(3), 16) == HttpError::none);
    cr_assert(b.feed("abc").status == ParseStatus::done);
    cr_expect(b.body() == "abc");
    cr_assert(b.start(length_request(2), 16) == HttpError::none);
    cr_expect(b.body().empty());
    ParseResult r = b.feed("xyz");
    cr_expect(r.status == ParseStatus::done && r.consumed == 2 && b.body() == "xy");
    b.release();
    cr_expect(b.body().empty());
}
