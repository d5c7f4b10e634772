// Incremental, zero-copy HTTP/1.1 request-head parser (RFC 9112 §2-§6, RFC 9110 §5, §7.2,
// §7.6.1, §8.6, §10.1.1). A byte-level state machine; strict by default (see below).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/request.hpp"

namespace herald::http {

struct ParserLimits {
    // Request line including its CRLF and any empty lines before it -> uri_too_long (414).
    std::size_t max_request_line = 8192;
    // Field lines after the request line, including the final CRLF -> headers_too_large (431).
    std::size_t max_header_bytes = 16384;
    // Number of field lines -> headers_too_large (431); values above max_headers are clamped.
    std::size_t max_header_count = 100;
};

// Parses one request head. Owns nothing but its own state and the Request it fills; the
// Request's views point into the `unconsumed` passed to the feed() that returned done and stay
// valid as long as those bytes do (until the connection consumes or moves them).
// One parser per connection, used from that connection's loop thread; reset() between requests.
//
// Strictness (first offending byte -> error; everything else is a 400 unless noted):
//  - request-line = method SP request-target SP HTTP-version CRLF with single SPs (§3);
//    method is a token (any token: routing decides about unknown ones); target bytes are
//    visible ASCII except "#"; the form must suit the method (split_target, bad_target);
//  - HTTP-version "HTTP/" DIGIT "." DIGIT (case-sensitive, §2.3): 1.0 and 1.1 are served,
//    any other well-formed version (0.9, 1.2, 2.0, ...) is version_not_supported (505);
//  - CRLF everywhere: a bare LF or bare CR is rejected (§2.2 allows either; we reject);
//    empty lines (CRLF) before the request line are skipped (§2.2);
//  - field-name is a non-empty token immediately followed by ":" (§5.1: no whitespace);
//    field-value bytes are field-vchar, SP or HTAB (§5.5: no NUL, CTL or DEL);
//    obs-fold and whitespace before the first field line are rejected (§5.2, §2.2);
//  - Host: required in HTTP/1.1 (missing_host), at most once (duplicate_host), value made of
//    host characters (bad_header) (§3.2);
//  - Content-Length: 1*DIGIT, at most once (a repeat, even identical, and a list are
//    bad_content_length: RFC 9110 §8.6 lets us reject them); overflow is bad_content_length;
//  - Transfer-Encoding with Content-Length -> te_and_cl (§6.3 item 3, server may reject);
//    in HTTP/1.0 -> bad_request (§6.1); anything but a single "chunked" coding ->
//    not_implemented (501, §6.1; we implement no other coding);
//  - Expect: "100-continue" sets expect_continue (ignored in HTTP/1.0, RFC 9110 §10.1.1);
//    any other expectation -> expectation_failed (417);
//  - limits: see ParserLimits.
// Checks that need the whole head (missing Host, 501, 417) are made at the final CRLF; the
// others at the byte or field line that breaks them, so a server can answer without waiting.
class RequestParser {
public:
    explicit RequestParser(const ParserLimits& limits = {}) noexcept;

    // `unconsumed` holds every byte from the first byte of this request (including those seen
    // by earlier calls, which may have moved) to the end of what has been read.
    // Returns {done, n, none}: the head is complete, n = its length through the final CRLF
    //   (request() is filled; bytes after n are the body or the next request);
    // {need_more, 0, none}: call again with more bytes;
    // {error, n, e}: the request is invalid (n = offset of the offending byte; respond with
    //   status_of(e) and close). After done or error, feed() returns the same result until
    //   reset().
    [[nodiscard]] ParseResult feed(std::string_view unconsumed) noexcept;

    // The parsed head; complete only after feed() returned done.
    const Request& request() const noexcept { return request_; }
    // The head's bytes were copied from `from` to `to`: the Request's views follow them
    // (Request::rebase), so a body can be read without parsing the head again.
    void rebase(std::string_view from, const char* to) noexcept { request_.rebase(from, to); }

    // Prepares for the next request on the connection (keeps the limits).
    void reset() noexcept;

private:
    enum class State : std::uint8_t {
        before_request_line, // empty lines (CRLF) may precede the request line
        empty_line_lf,       // after the CR of such an empty line
        method,
        target_start, // after the SP following the method
        target,
        version_name, // "HTTP/"
        version_major,
        version_dot,
        version_minor,
        request_line_cr, // after the version
        request_line_lf,
        field_line_start, // a field-name or the CRLF ending the head
        field_name,
        before_field_value, // OWS after ":"
        field_value,
        field_line_lf, // after the CR ending a field line
        head_lf,       // after the CR of the final empty line
        done,
        failed,
    };

    struct Span {
        std::uint32_t offset = 0;
        std::uint32_t length = 0;
    };
    struct FieldSpan {
        Span name;
        Span value;
    };

    ParseResult fail(HttpError e, std::size_t at) noexcept;
    HttpError end_request_line(std::string_view data) noexcept;
    HttpError end_field_line(std::string_view data) noexcept;
    HttpError end_field(std::string_view name, std::string_view value, Span value_span) noexcept;
    HttpError end_head() noexcept;
    void build_request(std::string_view data) noexcept;

    ParserLimits limits_;
    ParseResult result_{ParseStatus::need_more, 0, HttpError::none};
    State state_ = State::before_request_line;
    std::uint32_t pos_ = 0;   // next byte to examine
    std::uint32_t limit_ = 0; // first byte offset past the current section's limit
    HttpError limit_error_ = HttpError::uri_too_long;
    std::uint32_t mark_ = 0;      // start of the current token (method, target, name, value)
    std::uint32_t value_end_ = 0; // end of the field value without trailing OWS
    std::uint32_t headers_start_ = 0;
    Span method_;
    Span target_;
    Span name_;
    Span path_;
    Span query_;
    Span authority_;
    bool path_is_slash_ = false; // absolute-form with an empty path
    std::uint8_t version_major_ = 0;
    std::uint8_t version_minor_ = 0;
    Method method_id_ = Method::other;
    FieldSpan fields_[max_headers];
    std::size_t field_count_ = 0;
    Span host_;
    bool host_seen_ = false;
    bool content_length_seen_ = false;
    std::uint64_t content_length_ = 0;
    std::uint8_t te_count_ = 0; // Transfer-Encoding field lines seen (saturating)
    bool te_chunked_ = false;   // the only coding so far is "chunked"
    bool connection_close_ = false;
    bool connection_keep_alive_ = false;
    bool connection_upgrade_ = false;
    bool expect_continue_ = false;
    bool expect_other_ = false;
    Request request_;
};

} // namespace herald::http
