// Response heads (RFC 9112 §4, RFC 9110 §6.6): status line and header fields, built into one
// std::string per response; Date cached once a second per thread; small HTML error pages.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace herald::http {

const char* status_text(int status) noexcept;

// "Sun, 06 Nov 1994 08:49:37 GMT" for t.
std::string http_date(std::time_t t);
// Parses an HTTP date: IMF-fixdate, rfc850-date or asctime-date (RFC 9110 §5.6.7), exactly
// (no extra spaces, fields in range); returns -1 if invalid.
std::time_t parse_http_date(std::string_view s) noexcept;
// The current time as an HTTP date; recomputed at most once a second on each thread.
std::string_view http_date_now();

class ResponseHead {
public:
    // version_minor 0 answers an HTTP/1.0 client with an HTTP/1.1 status line all the same
    // (RFC 9110 §6.2), but keep-alive and chunking follow the client's version.
    explicit ResponseHead(int status);
    ResponseHead& header(std::string_view name, std::string_view value);
    ResponseHead& header(std::string_view name, std::uint64_t value);
    ResponseHead& content_length(std::uint64_t n) { return header("Content-Length", n); }
    // Appends Date, Server and Connection and the blank line; returns the bytes.
    std::string finish(bool keep_alive) &&;
    int status() const noexcept { return status_; }

private:
    std::string s_;
    int status_;
};

// A short HTML body for an error status ("<h1>404 Not Found</h1>...").
std::string error_page(int status);

} // namespace herald::http
