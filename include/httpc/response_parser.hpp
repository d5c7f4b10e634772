// ResponseParser: one HTTP/1.1 response as a client reads it (RFC 9112 §4 status line, §5
// fields, §6.3 message body length): 1xx interim responses skipped, Content-Length, chunked
// (http::ChunkedDecoder) or close-delimited bodies, no body for HEAD, 204 and 304.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/parse_status.hpp"
#include "http/chunked.hpp"

namespace herald::httpc {

enum class ResponseError : std::uint8_t {
    none,
    bad_status_line,   // not "HTTP/1.x DDD reason" (or a 101: this client never upgrades)
    bad_header,        // invalid field name or value, bare CR or LF, obs-fold
    head_too_large,    // head bytes over max_head_bytes or fields over max_header_count
    bad_length,        // invalid or conflicting Content-Length, or it with Transfer-Encoding
    bad_coding,        // a Transfer-Encoding other than chunked
    bad_chunk,         // chunked framing (or its trailer) invalid
    body_too_large,    // over max_body_bytes
    truncated,         // the connection ended before the response did
};
const char* to_string(ResponseError e) noexcept;

struct ResponseLimits {
    std::size_t max_head_bytes = 16 * 1024; // status line and fields, per (interim) head
    std::size_t max_header_count = 100;
    std::size_t max_body_bytes = 64 * 1024; // an auth or hook answer is small
};

struct ResponseResult {
    ParseStatus status;
    std::size_t consumed; // bytes of this call's input used
    ResponseError error;  // none unless status == error
};

// Parses one response; start() prepares the next one on the same connection. Owns copies of
// the head and body (bounded by ResponseLimits), so views it returns live until the next
// start(). Consumes as it goes: each feed() gets the bytes after those already consumed. Pure:
// no sockets, no logging. One per client connection, on its loop thread.
class ResponseParser {
public:
    explicit ResponseParser(const ResponseLimits& limits = {}) noexcept : limits_(limits) {}

    // Prepares for a response to a request with this method (HEAD: no body whatever the head
    // says).
    void start(bool head_request) noexcept;

    // `in` is the input after the bytes already consumed. Returns
    // {done, n, none}: the response ended at in[n-1]; the rest belongs to the next response;
    // {need_more, n, none}: n bytes used (always all of them): call again with more bytes;
    // {error, n, e}: the response is malformed; the connection cannot be reused.
    // done and error are sticky until start().
    [[nodiscard]] ResponseResult feed(std::string_view in) noexcept;

    // The peer closed the connection: completes a close-delimited body ({done, 0, none});
    // anything else unfinished is {error, 0, truncated}.
    [[nodiscard]] ResponseResult finish() noexcept;

    // Valid once feed() returned done (the head once head_done()).
    bool head_done() const noexcept { return state_ >= State::body_start; }
    int status() const noexcept { return status_; }
    // The first field named `name` (case-insensitive), OWS trimmed; "" when absent.
    std::string_view header(std::string_view name) const noexcept;
    std::string_view body() const noexcept { return body_; }
    // The connection may carry another request after this response (HTTP/1.1 without
    // "Connection: close", HTTP/1.0 with "Connection: keep-alive", not close-delimited).
    bool keep_alive() const noexcept { return keep_alive_; }
    // True once any byte of this response arrived (a reused connection that closes before
    // that may be retried on a new one).
    bool started() const noexcept { return started_; }

private:
    enum class State : std::uint8_t {
        version,        // "HTTP/1." and a digit
        status_sp,      // SP after the version
        status_code,    // three digits
        after_code,     // SP (reason follows) or CR
        reason,         // reason-phrase until CR
        line_lf,        // LF ending the status line or a field line
        field_start,    // a field name, or CR of the empty line
        field_name,     // tchar until ':'
        field_ows,      // OWS before the value
        field_value,    // field-vchar, SP, HTAB until CR
        end_lf,         // LF of the empty line
        body_start,     // head parsed: body framing decided
        body_length,    // Content-Length bytes
        body_chunked,
        body_close,     // until the connection closes
        done,
        failed,
    };
    struct Field {
        std::uint32_t name, name_len, value, value_len; // offsets into head_
    };

    ResponseResult fail(ResponseError e, std::size_t at) noexcept;
    // Returns need_more after one head byte, done at the end of a final head, error otherwise.
    ParseStatus head_byte(char ch) noexcept;
    ResponseError end_of_head() noexcept;
    ResponseResult feed_body(std::string_view in, std::size_t used) noexcept;
    void reset_head() noexcept;

    ResponseLimits limits_;
    State state_ = State::version;
    bool head_request_ = false, started_ = false, keep_alive_ = false;
    int minor_ = 1, status_ = 0;
    std::string head_;
    std::vector<Field> fields_;
    std::string body_;
    std::uint64_t left_ = 0; // Content-Length bytes still to read
    http::ChunkedDecoder chunked_{0};
    ResponseResult result_{ParseStatus::need_more, 0, ResponseError::none};
};

} // namespace herald::httpc
