// Chunked transfer coding (RFC 9112 §7.1): a streaming decoder for request bodies, with chunk
// extensions (§7.1.1) and a trailer section (§7.1.2), and the small encoder pieces used for
// chunked response bodies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/request.hpp"

namespace herald::http {

// A chunk-size line (size, extensions, CRLF) longer than this -> bad_chunk (§7.1.1 invites a
// limit on extensions).
inline constexpr std::size_t max_chunk_line = 4096;
// The trailer section (field lines and the final CRLF) longer than this -> headers_too_large.
inline constexpr std::size_t max_trailer_bytes = 16384;

// Decodes one chunked body. Owns only its state; the data views it returns point into the
// caller's input and live as long as those bytes. Unlike RequestParser, the decoder consumes
// as it goes: each call gets the bytes after those already consumed. One per request body, on
// the connection's thread.
//
// Strictness (all -> bad_chunk unless noted): chunk-size = 1*HEXDIG; chunk-ext =
// *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] ) and nothing else on the
// line; CRLF everywhere (bare LF or CR rejected); chunk data followed by CRLF; trailer field
// lines are token ":" OWS field-vchar... (no obs-fold) and are validated, then discarded
// (§7.1.2 allows discarding); total data over max_body_size -> body_too_large, detected from
// the chunk-size before its data arrives.
class ChunkedDecoder {
public:
    explicit ChunkedDecoder(std::uint64_t max_body_size) noexcept : max_body_size_(max_body_size) {}

    // `in` is the unconsumed input (it starts where the previous call's `consumed` ended).
    // Returns {need_more, n, none}: n bytes of `in` were used; `data` is the chunk data among
    //   them (a view into `in`, possibly empty). Call again with the remaining bytes if
    //   n < in.size() (a call stops after one piece of data), else when more bytes arrive.
    // {done, n, none}: the last chunk and the trailer section ended at in[n-1]; the rest of `in`
    //   is the next request. `data` is empty.
    // {error, n, e}: bad_chunk, body_too_large or headers_too_large; n = offset of the
    //   offending byte. done and error are sticky until reset().
    [[nodiscard]] ParseResult feed(std::string_view in, std::string_view& data) noexcept;

    // Chunk data bytes decoded so far.
    std::uint64_t body_size() const noexcept { return body_size_; }

    void reset() noexcept;

private:
    enum class State : std::uint8_t {
        size_start,     // first HEXDIG of chunk-size
        size,           // more HEXDIG, BWS, ";" or CR
        size_bws,       // BWS after chunk-size: only ";" may follow
        ext_name_start, // after ";" (BWS allowed)
        ext_name,
        ext_name_bws,    // BWS after a name: "=" or ";" must follow
        ext_value_start, // after "=" (BWS allowed)
        ext_value_token,
        ext_value_quoted,
        ext_value_escape, // after "\" in a quoted-string
        ext_value_end,    // after a value: BWS, ";" or CR
        size_line_lf,     // after the CR ending the chunk-size line
        data,
        data_cr,
        data_lf,
        trailer_line_start, // a trailer field-name or the final CRLF
        trailer_name,
        trailer_value,
        trailer_lf,
        end_lf, // after the CR of the final empty line
        done,
        failed,
    };

    ParseResult fail(HttpError e, std::size_t at) noexcept;
    bool add_size_digit(unsigned char c) noexcept;

    std::uint64_t max_body_size_;
    std::uint64_t body_size_ = 0;
    std::uint64_t chunk_size_ = 0; // size of the current chunk; then data bytes left
    std::size_t line_bytes_ = 0;   // bytes of the current chunk-size line or trailer section
    State state_ = State::size_start;
    ParseResult result_{ParseStatus::need_more, 0, HttpError::none};
};

// Longest chunk header chunk_header() writes: 16 hex digits and CRLF.
inline constexpr std::size_t max_chunk_header = 18;
// What follows each chunk's data, and the whole end of a chunked body (no trailers).
inline constexpr std::string_view chunk_end = "\r\n";
inline constexpr std::string_view last_chunk = "0\r\n\r\n";

// Writes the chunk-size line "HEX\r\n" for n data bytes (lower-case hex, no leading zeros)
// into out, which has room for max_chunk_header bytes. Returns the bytes written. Callers send
// data chunks with n > 0 and end the body with last_chunk (n = 0 would write "0\r\n").
std::size_t chunk_header(std::size_t n, char* out) noexcept;

} // namespace herald::http
