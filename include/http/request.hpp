// A parsed HTTP/1.1 request head (RFC 9112 §2-§6) and the errors a peer can cause.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/ascii.hpp"
#include "core/limits.hpp"
#include "core/parse_status.hpp"

namespace herald::http {

// Every way a request can be rejected; mapped to a status by status_of().
enum class HttpError : std::uint8_t {
    none,
    bad_request,            // 400 generic syntax error
    bad_header,             // 400 invalid field name/value, space before colon, obs-fold
    bad_content_length,     // 400 invalid or conflicting Content-Length
    te_and_cl,              // 400 Transfer-Encoding together with Content-Length
    bad_chunk,              // 400 bad chunk size / framing
    missing_host,           // 400 HTTP/1.1 without Host
    duplicate_host,         // 400 more than one Host
    bad_target,             // 400 target fails normalisation (climbs above /, %2F, %00 ...)
    uri_too_long,           // 414 request line over large_header_buffer
    headers_too_large,      // 431 header block too big or too many fields
    body_too_large,         // 413 over client_max_body_size
    not_implemented,        // 501 Transfer-Encoding other than chunked
    version_not_supported,  // 505
    expectation_failed,     // 417 Expect other than 100-continue
};

int status_of(HttpError e) noexcept;
const char* reason_of(HttpError e) noexcept;  // short text for logs

// Outcome of one feed() of an HTTP parser (STYLE §6); ParseStatus is core's.
struct ParseResult {
    ParseStatus status;
    std::size_t consumed;  // meaning depends on the parser; see its feed() comment
    HttpError error;       // none unless status == error
};

enum class Method : std::uint8_t { other, get, head, post, put, del, options, connect, trace, patch };

struct Header {
    std::string_view name;   // as sent; compare case-insensitively
    std::string_view value;  // OWS trimmed
};

// A request head. All views point into the caller's read buffer and stay valid until the
// connection consumes those bytes (i.e. until the request is finished or the buffer moves).
struct Request {
    Method method = Method::other;
    std::string_view method_name;
    std::string_view target;          // raw request-target as sent
    // Raw path part of target (before '?'), not decoded; see split_target() in http/target.hpp:
    // origin-form "/a/b"; absolute-form: the path after the authority ("/" if empty, a static
    // string); asterisk-form (OPTIONS only) "*"; authority-form (CONNECT only) "".
    std::string_view path;
    std::string_view query;           // after '?', without it ("" if none)
    int version_minor = 1;            // HTTP/1.x
    Header headers[max_headers];
    std::size_t header_count = 0;

    // Derived from the headers by the parser:
    std::string_view host;            // Host value, or the target's authority (absolute-form)
    bool keep_alive = true;           // per version and Connection header
    bool chunked = false;             // Transfer-Encoding: chunked
    bool has_content_length = false;
    std::uint64_t content_length = 0;
    bool expect_continue = false;     // Expect: 100-continue
    bool upgrade = false;             // Connection contains the token "upgrade"

    // Case-insensitive lookup of the first field with this name; "" if absent.
    std::string_view header(std::string_view name) const noexcept;
    bool has_header(std::string_view name) const noexcept;
    // How many fields have this name (case-insensitive).
    std::size_t header_fields(std::string_view name) const noexcept;
    // True if a body follows the head (chunked, or Content-Length > 0).
    bool has_body() const noexcept { return chunked || content_length > 0; }
    // The head's bytes `from` were copied to `to` (same length): moves every view that points
    // into `from` to the same offset in `to`, so the request stays valid after `from` is gone.
    // Views that point elsewhere (the static "/" of an absolute-form path) are left alone.
    void rebase(std::string_view from, const char* to) noexcept;
};

// The ASCII helpers, also reachable as http::iequals / http::has_token.
using ascii::has_token;
using ascii::iequals;

} // namespace herald::http
