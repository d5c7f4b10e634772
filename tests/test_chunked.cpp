// Unit tests for the chunked transfer coding (RFC 9112 §7.1): the decoder fed whole, byte by
// byte and split at every offset from guard-paged buffers, and the chunk-size encoder.
#include <criterion/criterion.h>

#include <string>
#include <string_view>

#include "http/chunked.hpp"
#include "support/feed.hpp"

using namespace std::literals;
using herald::ParseStatus;
using herald::http::ChunkedDecoder;
using herald::http::HttpError;
using herald::http::ParseResult;
using herald::test::FeedMode;
using herald::test::GuardedBuffer;

namespace {

constexpr std::size_t whole_input = SIZE_MAX;
constexpr std::uint64_t default_max = 1 << 20;

struct Case {
    const char* name;
    std::string_view input;
    ParseStatus status;
    HttpError error = HttpError::none;
    std::size_t consumed = whole_input; // done: body length on the wire; error: offending byte
    std::string_view body = "";         // data decoded (done and need_more)
    std::uint64_t max_body = default_max;
};

struct Run {
    ParseResult r;
    std::string body;
};

// Decodes c.input three ways; calls check(run, how, cut) after each. Stops at the first
// mismatch the check reports (it returns false).
template <class Check> void run_three_ways(const Case& c, std::size_t stride, Check&& check) {
    GuardedBuffer g(c.input.size());
    auto one = [&](int way, std::size_t cut) {
        ChunkedDecoder d(c.max_body);
        Run run;
        auto step = [&](std::string_view in) {
            std::string_view data;
            ParseResult r = d.feed(in, data);
            run.body += data;
            return r;
        };
        if (way == 0)
            run.r = feed_whole(g, c.input, FeedMode::consume, step);
        else if (way == 1)
            run.r = feed_bytewise(g, c.input, FeedMode::consume, step);
        else
            run.r = feed_split(g, c.input, cut, FeedMode::consume, step);
        return check(run, way == 0 ? "whole" : way == 1 ? "bytewise" : "split", cut);
    };
    if (!one(0, 0) || !one(1, 0))
        return;
    for (std::size_t cut = 0; cut <= c.input.size(); cut += stride)
        if (!one(2, cut))
            return;
}

void check_case(const Case& c, std::size_t stride = 1) {
    const std::size_t want = c.consumed == whole_input ? c.input.size() : c.consumed;
    run_three_ways(c, stride, [&](const Run& run, const char* how, std::size_t cut) {
        const ParseResult& r = run.r;
        const bool ok = r.status == c.status && r.error == c.error &&
                        (c.status != ParseStatus::done || r.consumed == want) &&
                        (c.status == ParseStatus::error || run.body == c.body);
        cr_expect(ok, "%s (%s, cut %zu): status %d error %d consumed %zu body [%s], want %d %d %zu",
                  c.name, how, cut, int(r.status), int(r.error), r.consumed, run.body.c_str(),
                  int(c.status), int(c.error), want);
        return ok;
    });
}

const std::string long_ext =
    "1;" + std::string(herald::http::max_chunk_line, 'e') + "\r\nx\r\n0\r\n\r\n";
const std::string long_trailer =
    "0\r\nX: " + std::string(herald::http::max_trailer_bytes, 't') + "\r\n\r\n";
const std::string ok_trailer =
    "0\r\nX: " + std::string(herald::http::max_trailer_bytes - 7, 't') + "\r\n\r\n";

const Case cases[] = {
    // -- accepted ---------------------------------------------------------------------------
    {"one chunk", "5\r\nhello\r\n0\r\n\r\n", ParseStatus::done, HttpError::none, whole_input,
     "hello"},
    {"empty body", "0\r\n\r\n", ParseStatus::done},
    {"hex sizes", "a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n", ParseStatus::done,
     HttpError::none, whole_input, "0123456789abcdefghij"},
    {"leading zeros", "005\r\nhello\r\n000\r\n\r\n", ParseStatus::done, HttpError::none,
     whole_input, "hello"},
    {"extensions", "5;a;b=c;d=\"q \\\"x\\\" ;\"\r\nhello\r\n0;last\r\n\r\n", ParseStatus::done,
     HttpError::none, whole_input, "hello"},
    {"BWS in extensions", "5 ;a = b\t;c\r\nhello\r\n0\r\n\r\n", ParseStatus::done, HttpError::none,
     whole_input, "hello"},
    {"trailers", "5\r\nhello\r\n0\r\nVary: *\r\nX-T:\r\n\r\n", ParseStatus::done, HttpError::none,
     whole_input, "hello"},
    {"next request follows", "1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\n", ParseStatus::done,
     HttpError::none, 11, "x"},
    {"binary data", "4\r\n\r\n\0\n\r\n0\r\n\r\n"sv, ParseStatus::done, HttpError::none, whole_input,
     "\r\n\0\n"sv},
    {"body at max", "a\r\n0123456789\r\n0\r\n\r\n", ParseStatus::done, HttpError::none, whole_input,
     "0123456789", 10},
    // -- incomplete ---------------------------------------------------------------------------
    {"nothing yet", "", ParseStatus::need_more},
    {"inside data", "5\r\nhel", ParseStatus::need_more, HttpError::none, whole_input, "hel"},
    {"no final CRLF", "5\r\nhello\r\n0\r\n", ParseStatus::need_more, HttpError::none, whole_input,
     "hello"},
    // -- bad_chunk ------------------------------------------------------------------------------
    {"missing size", "\r\n", ParseStatus::error, HttpError::bad_chunk, 0},
    {"not hex", "x\r\n", ParseStatus::error, HttpError::bad_chunk, 0},
    {"negative", "-1\r\n", ParseStatus::error, HttpError::bad_chunk, 0},
    {"0x prefix", "0x5\r\n", ParseStatus::error, HttpError::bad_chunk, 1},
    {"space after size", "a \r\n0123456789\r\n0\r\n\r\n", ParseStatus::error, HttpError::bad_chunk,
     2},
    {"words after size", "2 erfrferferf\r\naa\r\n", ParseStatus::error, HttpError::bad_chunk, 2},
    {"empty extension", "2;\r\naa\r\n0\r\n\r\n", ParseStatus::error, HttpError::bad_chunk, 2},
    {"extension without name", "2;=x\r\naa\r\n", ParseStatus::error, HttpError::bad_chunk, 2},
    {"extension without value", "2;a=\r\naa\r\n", ParseStatus::error, HttpError::bad_chunk, 4},
    {"name then BWS then end", "2;a \r\naa\r\n", ParseStatus::error, HttpError::bad_chunk, 4},
    {"unterminated quote", "5;a=\"abc\r\nhello\r\n", ParseStatus::error, HttpError::bad_chunk, 8},
    {"bare LF after size", "5\nhello\r\n", ParseStatus::error, HttpError::bad_chunk, 1},
    {"CR CR after size", "5\r\r;ABCD\r\n", ParseStatus::error, HttpError::bad_chunk, 2},
    {"data too long", "5\r\nABCDE0\r\n", ParseStatus::error, HttpError::bad_chunk, 8},
    {"bare LF after data", "5\r\nhello\n0\r\n\r\n", ParseStatus::error, HttpError::bad_chunk, 8},
    {"missing last chunk", "3\r\nfoo\r\n\r\n", ParseStatus::error, HttpError::bad_chunk, 8},
    {"space before trailer colon", "0\r\nX : y\r\n\r\n", ParseStatus::error, HttpError::bad_chunk,
     4},
    {"obs-fold in trailers", "0\r\nX: y\r\n z\r\n\r\n", ParseStatus::error, HttpError::bad_chunk,
     9},
    {"control char in trailer", "0\r\nX: \x01\r\n\r\n", ParseStatus::error, HttpError::bad_chunk,
     6},
    {"bare CR ending body", "0\r\n\r\r", ParseStatus::error, HttpError::bad_chunk, 4},
    // -- limits ---------------------------------------------------------------------------------
    {"first chunk over max", "b\r\n", ParseStatus::error, HttpError::body_too_large, 0, "", 10},
    {"sum over max", "5\r\nhello\r\n6\r\n world\r\n", ParseStatus::error, HttpError::body_too_large,
     10, "", 10},
    {"size overflow", "fffffffffffffffff\r\n", ParseStatus::error, HttpError::body_too_large, 5, "",
     default_max},
};

// Inputs of several KiB: fed whole, bytewise and split every 61 bytes (the every-offset property
// is covered by the short cases; these check the limits).
const Case big_cases[] = {
    {"trailers at limit", ok_trailer, ParseStatus::done},
    {"chunk-size line too long", long_ext, ParseStatus::error, HttpError::bad_chunk,
     herald::http::max_chunk_line},
    {"trailers over limit", long_trailer, ParseStatus::error, HttpError::headers_too_large,
     3 + herald::http::max_trailer_bytes},
};

} // namespace

Test(chunked, limits_whole_bytewise_and_strided_splits) {
    for (const Case& c : big_cases)
        check_case(c, 61);
}

Test(chunked, same_result_whole_bytewise_and_at_every_split) {
    for (const Case& c : cases)
        check_case(c);
}

Test(chunked, reports_errors_at_the_offending_byte) {
    for (const Case& c : cases) {
        if (c.status != ParseStatus::error)
            continue;
        ChunkedDecoder d(c.max_body);
        std::string_view in = c.input;
        std::string_view data;
        std::size_t used = 0;
        ParseResult r;
        do {
            r = d.feed(in.substr(used), data);
            if (r.status == ParseStatus::need_more)
                used += r.consumed;
        } while (r.status == ParseStatus::need_more && used < in.size());
        cr_expect(r.status == ParseStatus::error && used + r.consumed == c.consumed,
                  "%s: error at %zu, want %zu", c.name, used + r.consumed, c.consumed);
        std::string_view again;
        cr_expect(d.feed(in.substr(used), again).error == c.error && again.empty(),
                  "%s: error must be sticky", c.name);
    }
}

Test(chunked, counts_body_bytes_and_resets) {
    ChunkedDecoder d(100);
    std::string_view in = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    std::string body;
    std::string_view data;
    ParseResult r;
    do {
        r = d.feed(in, data);
        body += data;
        in.remove_prefix(r.consumed);
    } while (r.status == ParseStatus::need_more && !in.empty());
    cr_assert(r.status == ParseStatus::done && body == "abcde" && d.body_size() == 5,
              "status %d body %s size %llu", int(r.status), body.c_str(),
              static_cast<unsigned long long>(d.body_size()));
    d.reset();
    cr_assert(d.body_size() == 0, "reset clears the size");
    r = d.feed("0\r\n\r\n", data);
    cr_assert(r.status == ParseStatus::done && r.consumed == 5, "after reset");
}

Test(chunked, chunk_header_encodes_hex_sizes) {
    struct Row {
        std::size_t n;
        std::string_view want;
    };
    static const Row rows[] = {
        {1, "1\r\n"},
        {9, "9\r\n"},
        {10, "a\r\n"},
        {255, "ff\r\n"},
        {4096, "1000\r\n"},
        {0x1234abcd, "1234abcd\r\n"},
        {SIZE_MAX, "ffffffffffffffff\r\n"},
    };
    for (const Row& row : rows) {
        char out[herald::http::max_chunk_header];
        const std::size_t len = herald::http::chunk_header(row.n, out);
        cr_expect(std::string_view(out, len) == row.want, "%zu -> %.*s", row.n, int(len), out);
    }
}

Test(chunked, encoder_output_decodes_at_every_split) {
    std::string wire;
    std::string want;
    for (std::size_t n : {1, 15, 16, 300}) {
        char head[herald::http::max_chunk_header];
        wire.append(head, herald::http::chunk_header(n, head));
        const std::string data(n, static_cast<char>('a' + n % 26));
        wire += data;
        wire += herald::http::chunk_end;
        want += data;
    }
    wire += herald::http::last_chunk;
    const Case c{"round trip", wire, ParseStatus::done, HttpError::none, whole_input, want};
    check_case(c);
}
