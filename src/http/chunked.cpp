// Chunked transfer coding (RFC 9112 §7.1): decoder state machine and chunk-size encoder.
#include "http/chunked.hpp"

#include <algorithm>
#include <cassert>

#include "http/char_class.hpp"

namespace herald::http {

using detail::field_vchar;
using detail::hex_digit;
using detail::tchar;

namespace {

constexpr bool is_ws(unsigned char c) noexcept { return c == ' ' || c == '\t'; }

// RFC 9110 §5.6.4: qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text.
constexpr bool is_qdtext(unsigned char c) noexcept {
    return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5B) ||
           (c >= 0x5D && c <= 0x7E) || c >= 0x80;
}

// RFC 9110 §5.6.4: quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ).
constexpr bool is_quoted_pair_char(unsigned char c) noexcept {
    return c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7E) || c >= 0x80;
}

} // namespace

void ChunkedDecoder::reset() noexcept {
    body_size_ = chunk_size_ = 0;
    line_bytes_ = 0;
    state_ = State::size_start;
    result_ = {ParseStatus::need_more, 0, HttpError::none};
}

ParseResult ChunkedDecoder::fail(HttpError e, std::size_t at) noexcept {
    state_ = State::failed;
    result_ = {ParseStatus::error, at, e};
    return result_;
}

// Adds a HEXDIG to chunk-size; false if the body would exceed max_body_size_ (checked per
// digit, so an oversized chunk is refused before its data arrives and the size cannot overflow).
bool ChunkedDecoder::add_size_digit(unsigned char c) noexcept {
    if (chunk_size_ > (max_body_size_ - body_size_) >> 4)
        return false;
    chunk_size_ = chunk_size_ * 16 + static_cast<unsigned>(ascii::hex_value(static_cast<char>(c)));
    return chunk_size_ <= max_body_size_ - body_size_;
}

ParseResult ChunkedDecoder::feed(std::string_view in, std::string_view& data) noexcept {
    data = {};
    if (state_ == State::done || state_ == State::failed)
        return result_;
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    const std::size_t n = in.size();
    for (std::size_t i = 0; i < n; ++i) {
        const unsigned char c = p[i];
        if (state_ == State::data) { // the only state that does not look at bytes
            const std::size_t take =
                static_cast<std::size_t>(std::min<std::uint64_t>(chunk_size_, n - i));
            data = in.substr(i, take);
            chunk_size_ -= take;
            if (chunk_size_ == 0)
                state_ = State::data_cr;
            return {ParseStatus::need_more, i + take, HttpError::none};
        }
        if (state_ < State::data && ++line_bytes_ > max_chunk_line)
            return fail(HttpError::bad_chunk, i);
        if (state_ > State::data_lf && ++line_bytes_ > max_trailer_bytes)
            return fail(HttpError::headers_too_large, i);
        switch (state_) {
        case State::size_start:
            // RFC 9112 §7.1: chunk-size = 1*HEXDIG.
            if (!hex_digit[c])
                return fail(HttpError::bad_chunk, i);
            chunk_size_ = 0;
            if (!add_size_digit(c))
                return fail(HttpError::body_too_large, i);
            state_ = State::size;
            break;
        case State::size:
            if (hex_digit[c]) {
                if (!add_size_digit(c))
                    return fail(HttpError::body_too_large, i);
            } else if (c == ';') {
                state_ = State::ext_name_start;
            } else if (is_ws(c)) {
                state_ = State::size_bws;
            } else if (c == '\r') {
                state_ = State::size_line_lf;
            } else {
                return fail(HttpError::bad_chunk, i);
            }
            break;
        case State::size_bws:
            // RFC 9112 §7.1.1: chunk-ext = *( BWS ";" ... ): whitespace must lead to ";".
            if (c == ';')
                state_ = State::ext_name_start;
            else if (!is_ws(c))
                return fail(HttpError::bad_chunk, i);
            break;
        case State::ext_name_start:
            if (tchar[c])
                state_ = State::ext_name;
            else if (!is_ws(c))
                return fail(HttpError::bad_chunk, i);
            break;
        case State::ext_name:
            // chunk-ext-name = token [ BWS "=" BWS chunk-ext-val ]
            if (c == '=')
                state_ = State::ext_value_start;
            else if (c == ';')
                state_ = State::ext_name_start;
            else if (is_ws(c))
                state_ = State::ext_name_bws;
            else if (c == '\r')
                state_ = State::size_line_lf;
            else if (!tchar[c])
                return fail(HttpError::bad_chunk, i);
            break;
        case State::ext_name_bws:
            if (c == '=')
                state_ = State::ext_value_start;
            else if (c == ';')
                state_ = State::ext_name_start;
            else if (!is_ws(c))
                return fail(HttpError::bad_chunk, i);
            break;
        case State::ext_value_start:
            // chunk-ext-val = token / quoted-string
            if (c == '"')
                state_ = State::ext_value_quoted;
            else if (tchar[c])
                state_ = State::ext_value_token;
            else if (!is_ws(c))
                return fail(HttpError::bad_chunk, i);
            break;
        case State::ext_value_token:
            if (c == ';')
                state_ = State::ext_name_start;
            else if (is_ws(c))
                state_ = State::ext_value_end;
            else if (c == '\r')
                state_ = State::size_line_lf;
            else if (!tchar[c])
                return fail(HttpError::bad_chunk, i);
            break;
        case State::ext_value_quoted:
            if (c == '"')
                state_ = State::ext_value_end;
            else if (c == '\\')
                state_ = State::ext_value_escape;
            else if (!is_qdtext(c))
                return fail(HttpError::bad_chunk, i);
            break;
        case State::ext_value_escape:
            if (!is_quoted_pair_char(c))
                return fail(HttpError::bad_chunk, i);
            state_ = State::ext_value_quoted;
            break;
        case State::ext_value_end:
            if (c == ';')
                state_ = State::ext_name_start;
            else if (c == '\r')
                state_ = State::size_line_lf;
            else if (!is_ws(c))
                return fail(HttpError::bad_chunk, i);
            break;
        case State::size_line_lf:
            if (c != '\n')
                return fail(HttpError::bad_chunk, i);
            // A zero chunk-size is the last-chunk (§7.1); the trailer section follows.
            body_size_ += chunk_size_;
            line_bytes_ = 0;
            state_ = chunk_size_ == 0 ? State::trailer_line_start : State::data;
            break;
        case State::data_cr:
            // RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
            if (c != '\r')
                return fail(HttpError::bad_chunk, i);
            state_ = State::data_lf;
            break;
        case State::data_lf:
            if (c != '\n')
                return fail(HttpError::bad_chunk, i);
            line_bytes_ = 0;
            state_ = State::size_start;
            break;
        case State::trailer_line_start:
            // RFC 9112 §7.1.2: trailer-section = *( field-line CRLF ), then CRLF.
            if (c == '\r')
                state_ = State::end_lf;
            else if (tchar[c])
                state_ = State::trailer_name;
            else
                return fail(HttpError::bad_chunk, i); // includes obs-fold
            break;
        case State::trailer_name:
            if (c == ':')
                state_ = State::trailer_value;
            else if (!tchar[c]) // RFC 9112 §5.1: no whitespace before the colon
                return fail(HttpError::bad_chunk, i);
            break;
        case State::trailer_value:
            if (c == '\r')
                state_ = State::trailer_lf;
            else if (!field_vchar[c] && !is_ws(c))
                return fail(HttpError::bad_chunk, i);
            break;
        case State::trailer_lf:
            if (c != '\n')
                return fail(HttpError::bad_chunk, i);
            state_ = State::trailer_line_start;
            break;
        case State::end_lf:
            if (c != '\n')
                return fail(HttpError::bad_chunk, i);
            state_ = State::done;
            result_ = {ParseStatus::done, i + 1, HttpError::none};
            return result_;
        case State::data:
        case State::done:
        case State::failed:
            assert(false);
            break;
        }
    }
    return {ParseStatus::need_more, n, HttpError::none};
}

std::size_t chunk_header(std::size_t n, char* out) noexcept {
    char tmp[16];
    std::size_t len = 0;
    do {
        tmp[len++] = ascii::lower_hex[n & 0xF];
        n >>= 4;
    } while (n != 0);
    for (std::size_t k = 0; k < len; ++k)
        out[k] = tmp[len - 1 - k];
    out[len] = '\r';
    out[len + 1] = '\n';
    return len + 2;
}

} // namespace herald::http
