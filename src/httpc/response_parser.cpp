// ResponseParser: the status line and fields byte by byte (RFC 9112 §4, §5), then the body by
// the framing rules of RFC 9112 §6.3 as they apply to a response.
#include "httpc/response_parser.hpp"

#include <algorithm>
#include <limits>

#include "core/ascii.hpp"
#include "http/char_class.hpp"

namespace herald::httpc {
namespace {

constexpr std::string_view version_prefix = "HTTP/1.";

bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

} // namespace

const char* to_string(ResponseError e) noexcept {
    switch (e) {
    case ResponseError::none: return "none";
    case ResponseError::bad_status_line: return "bad status line";
    case ResponseError::bad_header: return "bad header";
    case ResponseError::head_too_large: return "head too large";
    case ResponseError::bad_length: return "bad Content-Length";
    case ResponseError::bad_coding: return "unsupported Transfer-Encoding";
    case ResponseError::bad_chunk: return "bad chunked body";
    case ResponseError::body_too_large: return "body too large";
    case ResponseError::truncated: return "connection closed before the response ended";
    }
    return "?";
}

void ResponseParser::start(bool head_request) noexcept {
    head_request_ = head_request;
    started_ = false;
    keep_alive_ = false;
    body_.clear();
    left_ = 0;
    reset_head();
}

void ResponseParser::reset_head() noexcept {
    state_ = State::version;
    minor_ = 1;
    status_ = 0;
    head_.clear();
    fields_.clear();
    result_ = {ParseStatus::need_more, 0, ResponseError::none};
}

ResponseResult ResponseParser::fail(ResponseError e, std::size_t at) noexcept {
    state_ = State::failed;
    result_ = {ParseStatus::error, at, e};
    return result_;
}

std::string_view ResponseParser::header(std::string_view name) const noexcept {
    for (const Field& f : fields_)
        if (ascii::iequals(std::string_view(head_).substr(f.name, f.name_len), name))
            return std::string_view(head_).substr(f.value, f.value_len);
    return {};
}

ResponseResult ResponseParser::feed(std::string_view in) noexcept {
    if (state_ == State::done || state_ == State::failed) return result_;
    if (!in.empty()) started_ = true;
    std::size_t i = 0;
    for (; i < in.size() && state_ < State::body_start; ++i) {
        if (head_.size() >= limits_.max_head_bytes)
            return fail(ResponseError::head_too_large, i);
        head_.push_back(in[i]);
        if (head_byte(in[i]) == ParseStatus::error) return fail(result_.error, i);
    }
    return feed_body(in.substr(i), i);
}

// One byte of the head, already appended to head_ (its offset is head_.size() - 1).
ParseStatus ResponseParser::head_byte(char ch) noexcept {
    const auto c = static_cast<unsigned char>(ch);
    const auto at = static_cast<std::uint32_t>(head_.size() - 1);
    auto bad = [this](ResponseError e) {
        result_.error = e;
        return ParseStatus::error;
    };
    switch (state_) {
    case State::version:
        // RFC 9112 §2.3: HTTP-version = "HTTP" "/" DIGIT "." DIGIT; only 1.x is spoken here.
        if (at < version_prefix.size()) {
            if (ch != version_prefix[at]) return bad(ResponseError::bad_status_line);
        } else {
            if (!ascii::is_digit(c)) return bad(ResponseError::bad_status_line);
            minor_ = ch - '0';
            state_ = State::status_sp;
        }
        break;
    case State::status_sp:
        if (ch != ' ') return bad(ResponseError::bad_status_line);
        state_ = State::status_code;
        break;
    case State::status_code: // RFC 9112 §4: status-code = 3DIGIT
        if (!ascii::is_digit(c)) return bad(ResponseError::bad_status_line);
        status_ = status_ * 10 + (ch - '0');
        if (status_ >= 100) state_ = State::after_code;
        else if (status_ == 0 || at == version_prefix.size() + 4)
            return bad(ResponseError::bad_status_line); // leading zero: not 100..999
        break;
    case State::after_code: // the reason-phrase may be empty, and the SP before it missing
        if (ch == ' ') state_ = State::reason;
        else if (ch == '\r') state_ = State::line_lf;
        else return bad(ResponseError::bad_status_line);
        break;
    case State::reason: // reason-phrase = 1*( HTAB / SP / VCHAR / obs-text )
        if (ch == '\r') state_ = State::line_lf;
        else if (!http::detail::field_vchar[c] && !is_ows(ch)) return bad(ResponseError::bad_status_line);
        break;
    case State::line_lf:
        if (ch != '\n') return bad(ResponseError::bad_header);
        state_ = State::field_start;
        break;
    case State::field_start:
        if (ch == '\r') {
            state_ = State::end_lf;
            break;
        }
        // RFC 9112 §5.2: a line starting with whitespace is obs-fold, refused.
        if (!http::detail::tchar[c]) return bad(ResponseError::bad_header);
        if (fields_.size() >= limits_.max_header_count) return bad(ResponseError::head_too_large);
        fields_.push_back(Field{at, 1, 0, 0});
        state_ = State::field_name;
        break;
    case State::field_name: // RFC 9112 §5.1: no whitespace between field-name and colon
        if (ch == ':') state_ = State::field_ows;
        else if (http::detail::tchar[c]) ++fields_.back().name_len;
        else return bad(ResponseError::bad_header);
        break;
    case State::field_ows:
        if (is_ows(ch)) break;
        fields_.back().value = at;
        if (ch == '\r') {
            state_ = State::line_lf;
            break;
        }
        if (!http::detail::field_vchar[c]) return bad(ResponseError::bad_header);
        fields_.back().value_len = 1;
        state_ = State::field_value;
        break;
    case State::field_value:
        if (ch == '\r') {
            Field& f = fields_.back(); // trailing OWS is not part of the value
            while (f.value_len > 0 && is_ows(head_[f.value + f.value_len - 1])) --f.value_len;
            state_ = State::line_lf;
        } else if (http::detail::field_vchar[c] || is_ows(ch)) {
            ++fields_.back().value_len;
        } else {
            return bad(ResponseError::bad_header);
        }
        break;
    case State::end_lf:
        if (ch != '\n') return bad(ResponseError::bad_header);
        if (ResponseError e = end_of_head(); e != ResponseError::none) return bad(e);
        break;
    default:
        break;
    }
    return ParseStatus::need_more;
}

// RFC 9112 §6.3: how the body of this response is delimited.
ResponseError ResponseParser::end_of_head() noexcept {
    if (status_ == 101) return ResponseError::bad_status_line; // no upgrade was asked for
    if (status_ < 200) { // RFC 9110 §15.2: interim responses precede the final one
        reset_head();
        return ResponseError::none;
    }
    bool close = false, keep = false, chunked = false, has_te = false, has_length = false;
    std::uint64_t length = 0;
    for (const Field& f : fields_) {
        const std::string_view name = std::string_view(head_).substr(f.name, f.name_len);
        const std::string_view value = std::string_view(head_).substr(f.value, f.value_len);
        if (ascii::iequals(name, "Connection")) {
            close = close || ascii::has_token(value, "close");
            keep = keep || ascii::has_token(value, "keep-alive");
        } else if (ascii::iequals(name, "Transfer-Encoding")) {
            if (has_te || !ascii::iequals(ascii::trim_ows(value), "chunked"))
                return ResponseError::bad_coding;
            has_te = chunked = true;
        } else if (ascii::iequals(name, "Content-Length")) {
            std::uint64_t n = 0;
            // RFC 9110 §8.6: Content-Length = 1*DIGIT; a value over 2^63-1 is refused.
            if (!ascii::parse_decimal(value, std::numeric_limits<std::int64_t>::max(), n) ||
                (has_length && n != length))
                return ResponseError::bad_length;
            has_length = true;
            length = n;
        }
    }
    if (has_te && has_length) return ResponseError::bad_length;
    keep_alive_ = minor_ >= 1 ? !close : keep && !close;
    if (head_request_ || status_ == 204 || status_ == 304) {
        state_ = State::done;
    } else if (chunked) {
        chunked_ = http::ChunkedDecoder(limits_.max_body_bytes);
        state_ = State::body_chunked;
    } else if (has_length) {
        if (length > limits_.max_body_bytes) return ResponseError::body_too_large;
        left_ = length;
        state_ = length == 0 ? State::done : State::body_length;
    } else {
        keep_alive_ = false; // the body ends when the connection does
        state_ = State::body_close;
    }
    return ResponseError::none;
}

ResponseResult ResponseParser::feed_body(std::string_view in, std::size_t used) noexcept {
    switch (state_) {
    case State::body_length: {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, in.size()));
        body_.append(in.substr(0, n));
        left_ -= n;
        if (left_ == 0) state_ = State::done;
        used += n;
        break;
    }
    case State::body_chunked: {
        std::size_t off = 0; // the decoder stops after each piece of data: call it again
        while (off < in.size() && state_ == State::body_chunked) {
            std::string_view data;
            http::ParseResult r = chunked_.feed(in.substr(off), data);
            body_.append(data);
            if (r.status == ParseStatus::error)
                return fail(r.error == http::HttpError::body_too_large
                                ? ResponseError::body_too_large
                                : ResponseError::bad_chunk,
                            used + off + r.consumed);
            off += r.consumed;
            if (r.status == ParseStatus::done) state_ = State::done;
            else if (r.consumed == 0) break;
        }
        used += off;
        break;
    }
    case State::body_close:
        if (body_.size() + in.size() > limits_.max_body_bytes)
            return fail(ResponseError::body_too_large, used);
        body_.append(in);
        used += in.size();
        break;
    default:
        break;
    }
    result_ = {state_ == State::done ? ParseStatus::done : ParseStatus::need_more, used,
               ResponseError::none};
    return result_;
}

ResponseResult ResponseParser::finish() noexcept {
    if (state_ == State::body_close) {
        state_ = State::done;
        result_ = {ParseStatus::done, 0, ResponseError::none};
    }
    if (state_ == State::done || state_ == State::failed) return result_;
    return fail(ResponseError::truncated, 0);
}

} // namespace herald::httpc
