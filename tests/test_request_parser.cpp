// Unit tests for the HTTP/1.1 request-head parser (RFC 9112 §2-§6): every case is fed whole,
// byte by byte and split at every offset, from guard-paged buffers (tests/support/feed.hpp).
#include <criterion/criterion.h>

#include <csignal>
#include <string>
#include <string_view>
#include <unistd.h>

#include "http/request_parser.hpp"
#include "support/feed.hpp"

using namespace std::literals;
using herald::ParseStatus;
using herald::http::HttpError;
using herald::http::Method;
using herald::http::ParseResult;
using herald::http::ParserLimits;
using herald::http::Request;
using herald::http::RequestParser;
using herald::test::FeedMode;
using herald::test::GuardedBuffer;

namespace {

constexpr std::size_t whole_input = SIZE_MAX;   // Case::consumed: the input's length
constexpr std::size_t last_byte = SIZE_MAX - 1; // the input's last byte (size - 1)

// Small limits so that limit cases stay short enough to split at every offset.
constexpr ParserLimits small{.max_request_line = 32, .max_header_bytes = 64, .max_header_count = 3};

struct Case {
    const char* name;
    std::string_view input;
    ParseStatus status;
    HttpError error = HttpError::none;
    std::size_t consumed = whole_input; // done: head length; error: offending byte
    const ParserLimits* limits = nullptr;
};

// Feeds c three ways and calls check(result, parser, how, cut) after each.
template <class Check> void run_three_ways(const Case& c, Check&& check) {
    const ParserLimits limits = c.limits ? *c.limits : ParserLimits{};
    GuardedBuffer g(c.input.size());
    {
        RequestParser p(limits);
        auto r = feed_whole(g, c.input, FeedMode::accumulate, [&](auto in) { return p.feed(in); });
        check(r, p, "whole", c.input.size());
    }
    {
        RequestParser p(limits);
        auto r =
            feed_bytewise(g, c.input, FeedMode::accumulate, [&](auto in) { return p.feed(in); });
        check(r, p, "bytewise", std::size_t{1});
    }
    for (std::size_t cut = 0; cut <= c.input.size(); ++cut) {
        RequestParser p(limits);
        auto r =
            feed_split(g, c.input, cut, FeedMode::accumulate, [&](auto in) { return p.feed(in); });
        check(r, p, "split", cut);
    }
}

// Checks one case; reports only its first mismatch (the others are usually the same one).
void check_case(const Case& c) {
    const std::size_t want_consumed = c.consumed == whole_input ? c.input.size()
                                      : c.consumed == last_byte ? c.input.size() - 1
                                                                : c.consumed;
    bool failed = false;
    run_three_ways(
        c, [&](const ParseResult& r, const RequestParser&, const char* how, std::size_t cut) {
            if (failed)
                return;
            const bool ok = r.status == c.status && r.error == c.error &&
                            (c.status == ParseStatus::need_more || r.consumed == want_consumed);
            cr_expect(ok, "%s (%s, cut %zu): status %d error %d consumed %zu, want %d %d %zu",
                      c.name, how, cut, int(r.status), int(r.error), r.consumed, int(c.status),
                      int(c.error), want_consumed);
            failed = !ok;
        });
}

std::string repeat(std::string_view s, std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i)
        out += s;
    return out;
}

// ---- inputs built at run time (limits) -------------------------------------------------------
// Request lines of exactly 32 bytes (the small limit) and one byte more.
const std::string line_at_limit = "GET /" + std::string(16, 'a') + " HTTP/1.1\r\n";
const std::string line_over_limit = "GET /" + std::string(17, 'a') + " HTTP/1.1\r\n";
// Field lines of exactly 64 bytes including the final CRLF, and one more.
const std::string fields_at_limit = "Host: a\r\nX: " + std::string(48, 'v') + "\r\n\r\n";
const std::string fields_over_limit = "Host: a\r\nX: " + std::string(49, 'v') + "\r\n\r\n";
const std::string at_limit_line = line_at_limit + "Host: a\r\n\r\n";
const std::string over_limit_line = line_over_limit + "Host: a\r\n\r\n";
const std::string at_limit_fields = "GET / HTTP/1.1\r\n" + fields_at_limit;
const std::string over_limit_fields = "GET / HTTP/1.1\r\n" + fields_over_limit;
const std::string three_fields = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
const std::string four_fields = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
const std::string long_crlfs = repeat("\r\n", 16) + "GET / HTTP/1.1\r\nHost: a\r\n\r\n";

const Case cases[] = {
    // -- accepted ---------------------------------------------------------------------------
    {"simple GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", ParseStatus::done},
    {"leading empty lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", ParseStatus::done},
    {"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", ParseStatus::done},
    {"body follows head", "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET",
     ParseStatus::done, HttpError::none, 48},
    {"pipelined request follows", "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n",
     ParseStatus::done, HttpError::none, 27},
    {"obs-text in value", "GET / HTTP/1.1\r\nHost: a\r\nTest: D\xc3\xbcsseldorf\r\n\r\n",
     ParseStatus::done},
    {"empty value", "GET / HTTP/1.1\r\nHost: a\r\nX:\r\nY: \t \r\n\r\n", ParseStatus::done},
    {"unknown method", "PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n", ParseStatus::done},
    {"Expect ignored in HTTP/1.0", "GET / HTTP/1.0\r\nExpect: something\r\n\r\n",
     ParseStatus::done},
    {"request line at limit", at_limit_line, ParseStatus::done, HttpError::none, whole_input,
     &small},
    {"fields at limit", at_limit_fields, ParseStatus::done, HttpError::none, whole_input, &small},
    {"field count at limit", three_fields, ParseStatus::done, HttpError::none, whole_input, &small},
    {"empty lines count to the line limit", long_crlfs, ParseStatus::error, HttpError::uri_too_long,
     32, &small},
    // -- incomplete ---------------------------------------------------------------------------
    {"empty input", "", ParseStatus::need_more},
    {"head without final CRLF", "GET / HTTP/1.1\r\nHost: a\r\n", ParseStatus::need_more},
    {"only empty lines", "\r\n\r\n", ParseStatus::need_more},
    // -- 400: request line ------------------------------------------------------------------
    {"bad method char", "G(T / HTTP/1.1\r\n", ParseStatus::error, HttpError::bad_request, 1},
    {"space before method", " GET / HTTP/1.1\r\n", ParseStatus::error, HttpError::bad_request, 0},
    {"bare LF before request line", "\nGET / HTTP/1.1\r\n", ParseStatus::error,
     HttpError::bad_request, 0},
    {"two spaces after method", "GET  / HTTP/1.1\r\n", ParseStatus::error, HttpError::bad_target,
     4},
    {"two spaces after target", "GET /  HTTP/1.1\r\n", ParseStatus::error, HttpError::bad_request,
     6},
    {"lower-case HTTP", "GET / http/1.1\r\n", ParseStatus::error, HttpError::bad_request, 6},
    {"HTTP/1", "GET / HTTP/1\r\n", ParseStatus::error, HttpError::bad_request, 12},
    {"HTTP/1.10", "GET / HTTP/1.10\r\n", ParseStatus::error, HttpError::bad_request, 14},
    {"HTTP/01.1", "GET / HTTP/01.1\r\n", ParseStatus::error, HttpError::bad_request, 12},
    {"no version (HTTP/0.9)", "GET /\r\n\r\n", ParseStatus::error, HttpError::bad_target, 5},
    {"space after version", "GET / HTTP/1.1 \r\n", ParseStatus::error, HttpError::bad_request, 14},
    {"bare LF after request line", "GET / HTTP/1.1\nHost: a\n\n", ParseStatus::error,
     HttpError::bad_request, 14},
    {"bare CR after request line", "GET / HTTP/1.1\rHost: a\r\n", ParseStatus::error,
     HttpError::bad_request, 15},
    {"CR in target", "GET /a\rb HTTP/1.1\r\n", ParseStatus::error, HttpError::bad_target, 6},
    {"NUL in target", "GET /a\0b HTTP/1.1\r\n"sv, ParseStatus::error, HttpError::bad_target, 6},
    {"control char in target", "GET /a\x01 HTTP/1.1\r\n", ParseStatus::error, HttpError::bad_target,
     6},
    {"DEL in target", "GET /a\x7f HTTP/1.1\r\n", ParseStatus::error, HttpError::bad_target, 6},
    {"non-ASCII in target", "GET /\xce\xb4 HTTP/1.1\r\n", ParseStatus::error, HttpError::bad_target,
     5},
    {"fragment in target", "GET /a#b HTTP/1.1\r\n", ParseStatus::error, HttpError::bad_target, 6},
    {"asterisk for GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", ParseStatus::error,
     HttpError::bad_target, 15},
    {"authority-form for GET", "GET a.b:80 HTTP/1.1\r\n", ParseStatus::error, HttpError::bad_target,
     20},
    {"origin-form for CONNECT", "CONNECT / HTTP/1.1\r\n", ParseStatus::error, HttpError::bad_target,
     19},
    {"userinfo in absolute-form", "GET http://u@a/ HTTP/1.1\r\n", ParseStatus::error,
     HttpError::bad_target, 25},
    {"ftp absolute-form", "GET ftp://a/ HTTP/1.1\r\n", ParseStatus::error, HttpError::bad_target,
     22},
    // -- 400: field lines -----------------------------------------------------------------
    {"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", ParseStatus::error,
     HttpError::bad_header, 20},
    {"tab before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", ParseStatus::error,
     HttpError::bad_header, 20},
    {"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", ParseStatus::error,
     HttpError::bad_header, 31},
    {"whitespace before first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", ParseStatus::error,
     HttpError::bad_header, 16},
    {"empty field name", "GET / HTTP/1.1\r\n: a\r\n\r\n", ParseStatus::error, HttpError::bad_header,
     16},
    {"bad name char", "GET / HTTP/1.1\r\nFo@: a\r\n\r\n", ParseStatus::error, HttpError::bad_header,
     18},
    {"field line without colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", ParseStatus::error,
     HttpError::bad_header, 20},
    {"NUL in value", "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n"sv, ParseStatus::error,
     HttpError::bad_header, 20},
    {"control char in value", "GET / HTTP/1.1\r\nX: a\x0c\r\n\r\n", ParseStatus::error,
     HttpError::bad_header, 20},
    {"DEL in value", "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", ParseStatus::error,
     HttpError::bad_header, 20},
    {"bare CR in value", "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", ParseStatus::error,
     HttpError::bad_header, 21},
    {"bare LF after value", "GET / HTTP/1.1\r\nX: a\nHost: b\r\n\r\n", ParseStatus::error,
     HttpError::bad_header, 20},
    {"bare LF after empty value", "GET / HTTP/1.1\r\nX:\nHost: b\r\n\r\n", ParseStatus::error,
     HttpError::bad_header, 18},
    {"bare LF ending head", "GET / HTTP/1.1\r\nHost: a\r\n\n", ParseStatus::error,
     HttpError::bad_header, 25},
    {"CR then garbage ending head", "GET / HTTP/1.1\r\nHost: a\r\n\rZGET", ParseStatus::error,
     HttpError::bad_header, 26},
    // -- 400: Host ---------------------------------------------------------------------------
    {"missing Host", "GET / HTTP/1.1\r\nX: a\r\n\r\n", ParseStatus::error, HttpError::missing_host,
     last_byte},
    {"duplicate Host", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", ParseStatus::error,
     HttpError::duplicate_host, 33},
    {"duplicate Host in 1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", ParseStatus::error,
     HttpError::duplicate_host, 33},
    {"Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", ParseStatus::error,
     HttpError::bad_header, 26},
    {"Host with slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", ParseStatus::error,
     HttpError::bad_header, 26},
    // -- 400: Content-Length / Transfer-Encoding (detected at the field line) ---------------
    {"CL empty", "POST / HTTP/1.1\r\nContent-Length:\r\n", ParseStatus::error,
     HttpError::bad_content_length, last_byte},
    {"CL letters", "POST / HTTP/1.1\r\nContent-Length: 1a\r\n", ParseStatus::error,
     HttpError::bad_content_length, last_byte},
    {"CL inner space", "POST / HTTP/1.1\r\nContent-Length: 4 2\r\n", ParseStatus::error,
     HttpError::bad_content_length, last_byte},
    {"CL negative", "POST / HTTP/1.1\r\nContent-Length: -1\r\n", ParseStatus::error,
     HttpError::bad_content_length, last_byte},
    {"CL plus sign", "POST / HTTP/1.1\r\nContent-Length: +1\r\n", ParseStatus::error,
     HttpError::bad_content_length, last_byte},
    {"CL identical list", "POST / HTTP/1.1\r\nContent-Length: 1,1\r\n", ParseStatus::error,
     HttpError::bad_content_length, last_byte},
    {"CL differing list", "POST / HTTP/1.1\r\nContent-Length: 1, 2\r\n", ParseStatus::error,
     HttpError::bad_content_length, last_byte},
    {"CL identical repeat", "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n",
     ParseStatus::error, HttpError::bad_content_length, last_byte},
    {"CL differing repeat", "POST / HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 2\r\n",
     ParseStatus::error, HttpError::bad_content_length, last_byte},
    {"CL overflow", "POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n",
     ParseStatus::error, HttpError::bad_content_length, last_byte},
    {"CL then TE", "POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n",
     ParseStatus::error, HttpError::te_and_cl, last_byte},
    {"TE then CL", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n",
     ParseStatus::error, HttpError::te_and_cl, last_byte},
    {"CL then empty TE", "POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding:\r\n",
     ParseStatus::error, HttpError::te_and_cl, last_byte},
    {"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", ParseStatus::error,
     HttpError::bad_request, last_byte},
    // -- 414 / 431 ----------------------------------------------------------------------------
    {"request line over limit", over_limit_line, ParseStatus::error, HttpError::uri_too_long, 32,
     &small},
    {"fields over limit", over_limit_fields, ParseStatus::error, HttpError::headers_too_large,
     16 + 64, &small},
    {"too many fields", four_fields, ParseStatus::error, HttpError::headers_too_large, 37, &small},
    // -- 501 ------------------------------------------------------------------------------
    {"TE gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", ParseStatus::error,
     HttpError::not_implemented, last_byte},
    {"TE gzip, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
     ParseStatus::error, HttpError::not_implemented, last_byte},
    {"TE chunked, gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
     ParseStatus::error, HttpError::not_implemented, last_byte},
    {"TE chunked twice",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
     "chunked\r\n\r\n",
     ParseStatus::error, HttpError::not_implemented, last_byte},
    {"TE chunkedchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunkedchunked\r\n\r\n",
     ParseStatus::error, HttpError::not_implemented, last_byte},
    // -- 505 (known as soon as the version is) --------------------------------------------
    {"HTTP/2.0", "GET / HTTP/2.0", ParseStatus::error, HttpError::version_not_supported, 13},
    {"HTTP/1.2", "GET / HTTP/1.2\r\n\r\n", ParseStatus::error, HttpError::version_not_supported,
     13},
    {"HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", ParseStatus::error, HttpError::version_not_supported,
     13},
    {"HTTP/5.6", "GET / HTTP/5.6", ParseStatus::error, HttpError::version_not_supported, 13},
    // -- 417 ------------------------------------------------------------------------------
    {"Expect other", "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", ParseStatus::error,
     HttpError::expectation_failed, last_byte},
};

} // namespace

Test(request_parser, same_result_whole_bytewise_and_at_every_split) {
    for (const Case& c : cases)
        check_case(c);
}

Test(request_parser, every_error_maps_to_its_status) {
    struct Row {
        HttpError e;
        int status;
    };
    static const Row rows[] = {
        {HttpError::bad_request, 400},
        {HttpError::bad_header, 400},
        {HttpError::bad_content_length, 400},
        {HttpError::te_and_cl, 400},
        {HttpError::bad_chunk, 400},
        {HttpError::missing_host, 400},
        {HttpError::duplicate_host, 400},
        {HttpError::bad_target, 400},
        {HttpError::uri_too_long, 414},
        {HttpError::headers_too_large, 431},
        {HttpError::body_too_large, 413},
        {HttpError::not_implemented, 501},
        {HttpError::version_not_supported, 505},
        {HttpError::expectation_failed, 417},
    };
    for (const Row& r : rows) {
        cr_assert(herald::http::status_of(r.e) == r.status, "error %d: status %d, want %d",
                  int(r.e), herald::http::status_of(r.e), r.status);
        cr_assert(herald::http::reason_of(r.e)[0] != '\0', "error %d has no reason", int(r.e));
    }
}

// ---- what a parsed head contains -----------------------------------------------------------
namespace {

struct Parsed {
    const char* name;
    std::string_view input;
    Method method = Method::get;
    std::string_view method_name = "GET";
    std::string_view target = "/";
    std::string_view path = "/";
    std::string_view query = "";
    std::string_view host = "a";
    int version_minor = 1;
    bool keep_alive = true;
    bool chunked = false;
    bool has_content_length = false;
    std::uint64_t content_length = 0;
    bool expect_continue = false;
    bool upgrade = false;
    std::size_t header_count = 1;
    std::string_view field = "";       // a field name to look up (case-insensitively) ...
    std::string_view field_value = ""; // ... and its expected value
};

const Parsed parsed[] = {
    {.name = "minimal", .input = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"},
    {.name = "HTTP/1.0 closes by default",
     .input = "GET / HTTP/1.0\r\n\r\n",
     .host = "",
     .version_minor = 0,
     .keep_alive = false,
     .header_count = 0},
    {.name = "HTTP/1.0 keep-alive",
     .input = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
     .host = "",
     .version_minor = 0,
     .keep_alive = true},
    {.name = "close wins over keep-alive",
     .input = "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: x, close\r\n\r\n",
     .keep_alive = false,
     .header_count = 3},
    {.name = "close token with tab",
     .input = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\t\r\n\r\n",
     .keep_alive = false,
     .header_count = 2,
     .field = "connection",
     .field_value = "close"},
    {.name = "not a close token",
     .input = "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n",
     .header_count = 2},
    {.name = "upgrade",
     .input = "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
              "Upgrade: websocket\r\n\r\n",
     .target = "/ws",
     .path = "/ws",
     .upgrade = true,
     .header_count = 3,
     .field = "UPGRADE",
     .field_value = "websocket"},
    {.name = "OWS trimmed",
     .input = "GET / HTTP/1.1\r\nHost:a\r\nX: \t a \t b\t \r\n\r\n",
     .header_count = 2,
     .field = "x",
     .field_value = "a \t b"},
    {.name = "content-length",
     .input = "POST /f?x=1 HTTP/1.1\r\nHost: a\r\nconTENT-length: 003\r\n\r\nabc",
     .method = Method::post,
     .method_name = "POST",
     .target = "/f?x=1",
     .path = "/f",
     .query = "x=1",
     .has_content_length = true,
     .content_length = 3,
     .header_count = 2},
    {.name = "content-length zero",
     .input = "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
     .method = Method::put,
     .method_name = "PUT",
     .has_content_length = true,
     .header_count = 2},
    {.name = "chunked",
     .input = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked \r\n\r\n",
     .method = Method::post,
     .method_name = "POST",
     .chunked = true,
     .header_count = 2},
    {.name = "100-continue",
     .input = "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n",
     .method = Method::put,
     .method_name = "PUT",
     .expect_continue = true,
     .header_count = 2},
    {.name = "100-continue ignored in 1.0",
     .input = "PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n",
     .method = Method::put,
     .method_name = "PUT",
     .host = "",
     .version_minor = 0,
     .keep_alive = false},
    {.name = "query with ? and empty query",
     .input = "GET /a?b=1?c HTTP/1.1\r\nHost: a\r\n\r\n",
     .target = "/a?b=1?c",
     .path = "/a",
     .query = "b=1?c"},
    {.name = "empty query",
     .input = "GET /a? HTTP/1.1\r\nHost: a\r\n\r\n",
     .target = "/a?",
     .path = "/a"},
    {.name = "absolute-form host wins",
     .input = "GET http://Example.com:8080/x/y?q HTTP/1.1\r\nHost: other\r\n\r\n",
     .target = "http://Example.com:8080/x/y?q",
     .path = "/x/y",
     .query = "q",
     .host = "Example.com:8080"},
    {.name = "absolute-form empty path",
     .input = "GET https://h?q=1 HTTP/1.1\r\nHost: h\r\n\r\n",
     .target = "https://h?q=1",
     .path = "/",
     .query = "q=1",
     .host = "h"},
    {.name = "asterisk-form",
     .input = "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
     .method = Method::options,
     .method_name = "OPTIONS",
     .target = "*",
     .path = "*"},
    {.name = "authority-form",
     .input = "CONNECT h.example:443 HTTP/1.1\r\nHost: h.example:443\r\n\r\n",
     .method = Method::connect,
     .method_name = "CONNECT",
     .target = "h.example:443",
     .path = "",
     .host = "h.example:443"},
    {.name = "other methods",
     .input = "M-SEARCH /x HTTP/1.1\r\nHost: a\r\n\r\n",
     .method = Method::other,
     .method_name = "M-SEARCH",
     .target = "/x",
     .path = "/x"},
    {.name = "DELETE",
     .input = "DELETE / HTTP/1.1\r\nHost: a\r\n\r\n",
     .method = Method::del,
     .method_name = "DELETE"},
    {.name = "HEAD",
     .input = "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
     .method = Method::head,
     .method_name = "HEAD"},
    {.name = "method case matters",
     .input = "get / HTTP/1.1\r\nHost: a\r\n\r\n",
     .method = Method::other,
     .method_name = "get"},
    {.name = "IPv6 host", .input = "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", .host = "[::1]:80"},
    {.name = "empty host", .input = "GET / HTTP/1.1\r\nHost:\r\n\r\n", .host = ""},
    {.name = "quotes and braces in target",
     .input = "GET /a\"b{c}|d?e=`^` HTTP/1.1\r\nHost: a\r\n\r\n",
     .target = "/a\"b{c}|d?e=`^`",
     .path = "/a\"b{c}|d",
     .query = "e=`^`"},
};

// Names the fields of r that differ from w ("" if none).
std::string mismatches(const Parsed& w, const Request& r) {
    std::string bad;
    auto check = [&](bool ok, const char* field) {
        if (!ok)
            bad += std::string(bad.empty() ? "" : ", ") + field;
    };
    check(r.method == w.method, "method");
    check(r.method_name == w.method_name, "method_name");
    check(r.target == w.target, "target");
    check(r.path == w.path, "path");
    check(r.query == w.query, "query");
    check(r.host == w.host, "host");
    check(r.version_minor == w.version_minor, "version_minor");
    check(r.keep_alive == w.keep_alive, "keep_alive");
    check(r.chunked == w.chunked, "chunked");
    check(r.has_content_length == w.has_content_length, "has_content_length");
    check(r.content_length == w.content_length, "content_length");
    check(r.expect_continue == w.expect_continue, "expect_continue");
    check(r.upgrade == w.upgrade, "upgrade");
    check(r.header_count == w.header_count, "header_count");
    if (!w.field.empty())
        check(r.has_header(w.field) && r.header(w.field) == w.field_value, "field lookup");
    return bad;
}

} // namespace

Test(request_parser, fills_the_request_the_same_way_at_every_split) {
    for (const Parsed& w : parsed) {
        const Case c{w.name, w.input, ParseStatus::done, HttpError::none,
                     w.input.find("\r\n\r\n") + 4};
        bool failed = false;
        run_three_ways(c, [&](const ParseResult& r, const RequestParser& p, const char* how,
                              std::size_t cut) {
            if (failed)
                return;
            const std::string bad = r.status == ParseStatus::done ? mismatches(w, p.request()) : "";
            const bool ok =
                r.status == ParseStatus::done && r.consumed == c.consumed && bad.empty();
            cr_expect(ok, "%s (%s, cut %zu): status %d error %d consumed %zu; wrong: %s", w.name,
                      how, cut, int(r.status), int(r.error), r.consumed, bad.c_str());
            failed = !ok;
        });
    }
}

// ---- buffers, lifecycle and default limits -------------------------------------------------

Test(request_parser, views_point_into_the_latest_buffer) {
    // The first feed sees a prefix in one place; the second sees the whole head elsewhere.
    const std::string_view head = "GET /moved HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\r\n";
    std::string first(head.substr(0, 25));
    std::string second(head);
    RequestParser p;
    cr_assert(p.feed(first).status == ParseStatus::need_more, "prefix must need more");
    first.assign(first.size(), '#'); // the old bytes are gone
    const ParseResult r = p.feed(second);
    cr_assert(r.status == ParseStatus::done && r.consumed == head.size(), "status %d",
              int(r.status));
    const Request& req = p.request();
    const char* lo = second.data();
    const char* hi = second.data() + second.size();
    cr_assert(req.target.data() >= lo && req.target.data() < hi, "target not in latest buffer");
    cr_assert(req.headers[1].value.data() >= lo && req.headers[1].value.data() < hi,
              "field value not in latest buffer");
    cr_assert(req.target == "/moved" && req.header("x-a") == "b", "wrong views");
}

// A session copies a head once when a body follows and moves the views (no second parse).
Test(request_parser, rebase_moves_every_view_to_the_copy) {
    struct RebaseCase {
        const char* name;
        std::string_view head;
        bool static_path; // absolute-form with an empty path: "/" is a static string
    };
    static const RebaseCase cases[] = {
        {"origin-form", "POST /a/b?x=1 HTTP/1.1\r\nHost: h:80\r\nX-E:\r\nContent-Length: 3\r\n\r\n",
         false},
        {"absolute-form", "GET http://auth.example?q HTTP/1.1\r\nHost: other\r\nA: 1\r\n\r\n", true},
    };
    for (const RebaseCase& c : cases) {
        std::string from(c.head);
        RequestParser p;
        const ParseResult r = p.feed(from);
        cr_assert(r.status == ParseStatus::done, "%s: status %d", c.name, int(r.status));
        const Request before = p.request();
        std::string to(from);
        p.rebase(from, to.data()); // views into `from` now point into `to`; compared below
        const Request& req = p.request();
        const char* lo = to.data();
        const char* hi = to.data() + to.size();
        auto inside = [&](std::string_view v) { return v.data() >= lo && v.data() + v.size() <= hi; };
        cr_expect(inside(req.method_name) && req.method_name == before.method_name, "%s: method",
                  c.name);
        cr_expect(inside(req.target) && req.target == before.target, "%s: target", c.name);
        cr_expect(inside(req.query) && req.query == before.query, "%s: query", c.name);
        cr_expect(inside(req.host) && req.host == before.host, "%s: host", c.name);
        if (c.static_path)
            cr_expect(req.path.data() == before.path.data() && req.path == "/",
                      "%s: the static \"/\" is not moved", c.name);
        else
            cr_expect(inside(req.path) && req.path == before.path, "%s: path", c.name);
        cr_assert_eq(req.header_count, before.header_count, "%s", c.name);
        for (std::size_t i = 0; i < req.header_count; ++i) {
            const herald::http::Header& h = req.headers[i];
            cr_expect(inside(h.name) && h.name == before.headers[i].name, "%s: name %zu", c.name,
                      i);
            cr_expect(inside(h.value) && h.value == before.headers[i].value, "%s: value %zu",
                      c.name, i);
        }
        cr_expect(req.keep_alive == before.keep_alive &&
                      req.content_length == before.content_length,
                  "%s: derived fields are kept", c.name);
    }
}

Test(request_parser, results_are_sticky_until_reset_and_pipelining_works) {
    const std::string buf = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.0\r\n\r\nGET /\x01";
    RequestParser p;
    ParseResult r = p.feed(buf);
    cr_assert(r.status == ParseStatus::done && r.consumed == 28, "first: %d %zu", int(r.status),
              r.consumed);
    cr_assert(p.feed(buf).consumed == 28, "done must be sticky");
    std::string_view rest = std::string_view(buf).substr(r.consumed);
    p.reset();
    r = p.feed(rest);
    cr_assert(r.status == ParseStatus::done && p.request().target == "/2" &&
                  p.request().version_minor == 0 && p.request().header_count == 0,
              "second request");
    rest.remove_prefix(r.consumed);
    p.reset();
    r = p.feed(rest);
    cr_assert(r.status == ParseStatus::error && r.error == HttpError::bad_target, "third: %d %d",
              int(r.status), int(r.error));
    cr_assert(p.feed(rest).error == HttpError::bad_target, "error must be sticky");
}

Test(request_parser, default_limits) {
    const std::string fields = "Host: a\r\n";
    const std::string target = std::string(8192 - 16, 'a'); // "GET /" + target + " HTTP/1.1\r\n"
    const std::string ok_line = "GET /" + target + " HTTP/1.1\r\n" + fields + "\r\n";
    const std::string long_line = "GET /a" + target + " HTTP/1.1\r\n" + fields + "\r\n";
    // 16384 bytes of field lines including the final CRLF.
    const std::string big_value(16384 - 9 - 5 - 2, 'v');
    const std::string ok_fields = "GET / HTTP/1.1\r\n" + fields + "X: " + big_value + "\r\n\r\n";
    const std::string big_fields = "GET / HTTP/1.1\r\n" + fields + "X: v" + big_value + "\r\n\r\n";
    std::string hundred = "GET / HTTP/1.1\r\n" + fields;
    for (int i = 1; i < 100; ++i)
        hundred += "F" + std::to_string(i) + ": x\r\n";
    const std::string too_many = hundred + "Z: 1\r\n\r\n";
    hundred += "\r\n";
    const Case big[] = {
        {"8192-byte request line", ok_line, ParseStatus::done},
        {"8193-byte request line", long_line, ParseStatus::error, HttpError::uri_too_long, 8192},
        {"16384 bytes of fields", ok_fields, ParseStatus::done},
        {"16385 bytes of fields", big_fields, ParseStatus::error, HttpError::headers_too_large,
         16 + 16384},
        {"100 fields", hundred, ParseStatus::done},
        {"101 fields", too_many, ParseStatus::error, HttpError::headers_too_large,
         hundred.size() - 2},
    };
    for (const Case& c : big) {
        GuardedBuffer g(c.input.size());
        for (int way = 0; way < 2; ++way) {
            RequestParser p;
            auto step = [&](std::string_view in) { return p.feed(in); };
            ParseResult r = way == 0 ? feed_whole(g, c.input, FeedMode::accumulate, step)
                                     : feed_bytewise(g, c.input, FeedMode::accumulate, step);
            const std::size_t want = c.consumed == whole_input ? c.input.size() : c.consumed;
            cr_expect(r.status == c.status && r.error == c.error && r.consumed == want,
                      "%s (%s): status %d error %d consumed %zu, want %zu", c.name,
                      way == 0 ? "whole" : "bytewise", int(r.status), int(r.error), r.consumed,
                      want);
        }
    }
}

Test(request_parser, limits_above_the_field_array_are_clamped) {
    std::string req = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (std::size_t i = 1; i < herald::max_headers + 1; ++i)
        req += "F: x\r\n";
    req += "\r\n";
    RequestParser p(ParserLimits{
        .max_request_line = 8192, .max_header_bytes = 1 << 20, .max_header_count = 100000});
    const ParseResult r = p.feed(req);
    cr_assert(r.status == ParseStatus::error && r.error == HttpError::headers_too_large,
              "status %d error %d", int(r.status), int(r.error));
}

// Reading one byte past a placed input must crash: proves the guard page is there.
static void exit_on_segv(int) { _exit(42); }

Test(request_parser, guard_page_catches_over_reads, .exit_code = 42) {
    struct sigaction sa {};
    sa.sa_handler = exit_on_segv;
    sigaction(SIGSEGV, &sa, nullptr);
    GuardedBuffer g(16);
    std::string_view in = g.place("GET /");
    volatile const char* past = in.data() + in.size();
    cr_log_info("read %d", int(*past));
}
