// BodyReader: reads one request body after its head (RFC 9112 §6.3): Content-Length bytes, or a
// chunked body (RFC 9112 §7.1) decoded by ChunkedDecoder, up to client_max_body_size.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "http/chunked.hpp"
#include "http/request.hpp"

namespace herald::http {

// Collects the body of one request into a string it owns. Pure: no sockets, no timers. Like the
// ChunkedDecoder it consumes as it goes (each feed() gets the bytes after those already used).
// One per HttpSession, on its connection's thread; start() for each request with a body.
class BodyReader {
public:
    // Begins the body announced by req (chunked, or Content-Length bytes). Returns
    // body_too_large when Content-Length is over max_size (a 413 before any body byte is
    // read), none otherwise; a chunked body is checked against max_size as it arrives.
    [[nodiscard]] HttpError start(const Request& req, std::uint64_t max_size);

    // `in` is the unconsumed input. Returns
    // {done, n, none}: the body ended at in[n-1]; the rest of `in` is the next request;
    // {need_more, n, none}: n bytes were used; call again when more bytes arrive (the n..end
    //   bytes, if any, are an incomplete chunk line and must be passed again);
    // {error, n, e}: bad_chunk, body_too_large or headers_too_large (a chunked body's trailer);
    //   respond with status_of(e) and close. Errors and done are sticky until start().
    [[nodiscard]] ParseResult feed(std::string_view in);

    // The body read so far (all of it once feed() returned done). Valid until the next
    // start() or release().
    std::string_view body() const noexcept { return body_; }
    // Frees the body's memory (after the request, or while a long response runs).
    void release() noexcept { body_ = std::string(); }

private:
    std::string body_;
    std::uint64_t left_ = 0;  // Content-Length bytes still to read
    ChunkedDecoder chunked_{0};
    bool is_chunked_ = false;
};

} // namespace herald::http
