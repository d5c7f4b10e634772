// HTTP/1.1 request-head state machine (RFC 9112 §2-§6). Offsets while the head is incomplete,
// views once it is done (the caller's buffer may move between feeds). Rules: request_parser.hpp.
#include "http/request_parser.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <limits>

#include "http/char_class.hpp"
#include "http/target.hpp"

namespace herald::http {
namespace {

using detail::field_vchar;
using detail::target_char;
using detail::tchar;

constexpr std::uint32_t u32(std::size_t v) noexcept { return static_cast<std::uint32_t>(v); }

std::string_view view(std::string_view data, std::uint32_t offset, std::uint32_t length) noexcept {
    return data.substr(offset, length);
}

Method method_of(std::string_view m) noexcept {
    // RFC 9110 §9.1: method names are case-sensitive.
    static constexpr struct {
        std::string_view name;
        Method id;
    } known[] = {
        {"GET", Method::get},         {"HEAD", Method::head},   {"POST", Method::post},
        {"PUT", Method::put},         {"DELETE", Method::del},  {"OPTIONS", Method::options},
        {"CONNECT", Method::connect}, {"TRACE", Method::trace}, {"PATCH", Method::patch},
    };
    for (const auto& k : known)
        if (k.name == m)
            return k.id;
    return Method::other;
}

// RFC 9110 §8.6: Content-Length = 1*DIGIT. Returns false if empty, not all digits, or > 2^63-1.
bool parse_content_length(std::string_view v, std::uint64_t& out) noexcept {
    return ascii::parse_decimal(v, std::numeric_limits<std::int64_t>::max(), out);
}

bool all_host_chars(std::string_view v) noexcept {
    return std::all_of(v.begin(), v.end(),
                       [](char c) { return detail::host_char[static_cast<unsigned char>(c)]; });
}

} // namespace

RequestParser::RequestParser(const ParserLimits& limits) noexcept : limits_(limits) {
    limits_.max_header_count = std::min(limits_.max_header_count, max_headers);
    // Offsets are 32-bit: keep the whole head well below 4 GiB.
    limits_.max_request_line = std::min<std::size_t>(limits_.max_request_line, 1u << 30);
    limits_.max_header_bytes = std::min<std::size_t>(limits_.max_header_bytes, 1u << 30);
    reset();
}

void RequestParser::reset() noexcept {
    request_.method = Method::other;
    request_.method_name = request_.target = request_.path = request_.query = {};
    request_.host = {};
    request_.version_minor = 1;
    request_.keep_alive = true;
    request_.chunked = request_.has_content_length = false;
    request_.content_length = 0;
    request_.expect_continue = request_.upgrade = false;
    request_.header_count = 0; // the header array itself is left as is: it is large
    result_ = {ParseStatus::need_more, 0, HttpError::none};
    state_ = State::before_request_line;
    pos_ = mark_ = value_end_ = headers_start_ = 0;
    limit_ = u32(limits_.max_request_line);
    limit_error_ = HttpError::uri_too_long;
    method_ = target_ = name_ = path_ = query_ = authority_ = host_ = Span{};
    path_is_slash_ = false;
    version_major_ = version_minor_ = 0;
    method_id_ = Method::other;
    field_count_ = 0;
    host_seen_ = content_length_seen_ = false;
    content_length_ = 0;
    te_count_ = 0;
    te_chunked_ = false;
    connection_close_ = connection_keep_alive_ = connection_upgrade_ = false;
    expect_continue_ = expect_other_ = false;
}

ParseResult RequestParser::fail(HttpError e, std::size_t at) noexcept {
    state_ = State::failed;
    result_ = {ParseStatus::error, at, e};
    return result_;
}

ParseResult RequestParser::feed(std::string_view unconsumed) noexcept {
    if (state_ == State::done || state_ == State::failed)
        return result_;
    assert(unconsumed.size() >= pos_);
    const auto* p = reinterpret_cast<const unsigned char*>(unconsumed.data());
    const std::size_t n = unconsumed.size();
    for (std::size_t i = pos_; i < n; ++i) {
        if (i >= limit_)
            return fail(limit_error_, i);
        const unsigned char c = p[i];
        switch (state_) {
        case State::before_request_line:
            // RFC 9112 §2.2: ignore at least one empty line (CRLF) before the request-line.
            if (c == '\r') {
                state_ = State::empty_line_lf;
            } else if (tchar[c]) {
                mark_ = u32(i);
                state_ = State::method;
            } else {
                return fail(HttpError::bad_request, i);
            }
            break;
        case State::empty_line_lf:
            if (c != '\n')
                return fail(HttpError::bad_request, i);
            state_ = State::before_request_line;
            break;
        case State::method:
            // RFC 9110 §9.1: method = token; RFC 9112 §3: followed by exactly one SP.
            if (c == ' ') {
                method_ = {mark_, u32(i) - mark_};
                state_ = State::target_start;
            } else if (!tchar[c]) {
                return fail(HttpError::bad_request, i);
            }
            break;
        case State::target_start:
            if (!target_char[c]) // includes a second SP
                return fail(HttpError::bad_target, i);
            mark_ = u32(i);
            state_ = State::target;
            break;
        case State::target: {
            // RFC 9112 §3.2: the target ends at the SP before the version; no CTL/SP/non-ASCII.
            const std::size_t end = std::min<std::size_t>(n, limit_);
            std::size_t j = i;
            while (j < end && target_char[p[j]])
                ++j;
            if (j != i) {
                i = j - 1;
                break;
            }
            if (c != ' ')
                return fail(HttpError::bad_target, i);
            target_ = {mark_, u32(i) - mark_};
            mark_ = u32(i + 1);
            state_ = State::version_name;
            break;
        }
        case State::version_name:
            // RFC 9112 §2.3: HTTP-name = %s"HTTP" (case-sensitive).
            if (c != static_cast<unsigned char>("HTTP/"[i - mark_]))
                return fail(HttpError::bad_request, i);
            if (i - mark_ == 4)
                state_ = State::version_major;
            break;
        case State::version_major:
            if (!detail::is_digit(c))
                return fail(HttpError::bad_request, i);
            version_major_ = static_cast<std::uint8_t>(c - '0');
            state_ = State::version_dot;
            break;
        case State::version_dot:
            if (c != '.')
                return fail(HttpError::bad_request, i);
            state_ = State::version_minor;
            break;
        case State::version_minor:
            if (!detail::is_digit(c))
                return fail(HttpError::bad_request, i);
            version_minor_ = static_cast<std::uint8_t>(c - '0');
            // RFC 9110 §15.6.6: 505 for a version we do not serve; known without the CRLF.
            if (version_major_ != 1 || version_minor_ > 1)
                return fail(HttpError::version_not_supported, i);
            state_ = State::request_line_cr;
            break;
        case State::request_line_cr:
            if (c != '\r')
                return fail(HttpError::bad_request, i);
            state_ = State::request_line_lf;
            break;
        case State::request_line_lf: {
            if (c != '\n') // RFC 9112 §2.2: a bare CR is invalid
                return fail(HttpError::bad_request, i);
            if (HttpError e = end_request_line(unconsumed); e != HttpError::none)
                return fail(e, i);
            headers_start_ = u32(i + 1);
            limit_ = u32(std::min<std::size_t>(i + 1 + limits_.max_header_bytes, UINT32_MAX));
            limit_error_ = HttpError::headers_too_large;
            state_ = State::field_line_start;
            break;
        }
        case State::field_line_start:
            if (c == '\r') {
                state_ = State::head_lf;
            } else if (tchar[c]) {
                if (field_count_ == limits_.max_header_count)
                    return fail(HttpError::headers_too_large, i);
                mark_ = u32(i);
                state_ = State::field_name;
            } else {
                // RFC 9112 §5.2: obs-fold (SP/HTAB at line start) is rejected; §2.2: so is
                // whitespace between the start-line and the first field line.
                return fail(HttpError::bad_header, i);
            }
            break;
        case State::field_name: {
            // RFC 9110 §5.1: field-name = token.
            const std::size_t end = std::min<std::size_t>(n, limit_);
            std::size_t j = i;
            while (j < end && tchar[p[j]])
                ++j;
            if (j != i) {
                i = j - 1;
                break;
            }
            // RFC 9112 §5.1: no whitespace between field-name and colon.
            if (c != ':')
                return fail(HttpError::bad_header, i);
            name_ = {mark_, u32(i) - mark_};
            state_ = State::before_field_value;
            break;
        }
        case State::before_field_value:
            // RFC 9112 §5.1: field-line = field-name ":" OWS field-value OWS.
            if (c == ' ' || c == '\t')
                break;
            mark_ = value_end_ = u32(i);
            if (c == '\r') {
                state_ = State::field_line_lf;
            } else if (field_vchar[c]) {
                value_end_ = u32(i + 1);
                state_ = State::field_value;
            } else {
                return fail(HttpError::bad_header, i);
            }
            break;
        case State::field_value: {
            // RFC 9110 §5.5: field-vchar with SP/HTAB between; no NUL, CTL, DEL, bare CR/LF.
            const std::size_t end = std::min<std::size_t>(n, limit_);
            std::size_t j = i;
            while (j < end && field_vchar[p[j]])
                ++j;
            if (j != i) {
                value_end_ = u32(j);
                i = j - 1;
                break;
            }
            if (c == '\r')
                state_ = State::field_line_lf;
            else if (c != ' ' && c != '\t')
                return fail(HttpError::bad_header, i);
            break;
        }
        case State::field_line_lf:
            if (c != '\n') // RFC 9112 §2.2: a bare CR is invalid
                return fail(HttpError::bad_header, i);
            if (HttpError e = end_field_line(unconsumed); e != HttpError::none)
                return fail(e, i);
            state_ = State::field_line_start;
            break;
        case State::head_lf:
            if (c != '\n')
                return fail(HttpError::bad_header, i);
            if (HttpError e = end_head(); e != HttpError::none)
                return fail(e, i);
            build_request(unconsumed);
            state_ = State::done;
            result_ = {ParseStatus::done, i + 1, HttpError::none};
            return result_;
        case State::done:
        case State::failed:
            assert(false);
            break;
        }
    }
    pos_ = u32(n);
    return {ParseStatus::need_more, 0, HttpError::none};
}

HttpError RequestParser::end_request_line(std::string_view data) noexcept {
    method_id_ = method_of(view(data, method_.offset, method_.length));
    const std::string_view target = view(data, target_.offset, target_.length);
    TargetParts parts;
    if (HttpError e = split_target(target, method_id_, parts); e != HttpError::none)
        return e;
    auto span_of = [&](std::string_view v) {
        return v.empty() ? Span{} : Span{u32(v.data() - data.data()), u32(v.size())};
    };
    if (parts.form == TargetForm::absolute) { // an empty path reads as "/" (a static string)
        const std::size_t after = parts.authority.data() + parts.authority.size() - target.data();
        path_is_slash_ = after == target.size() || target[after] == '?';
    }
    path_ = path_is_slash_ ? Span{} : span_of(parts.path);
    query_ = span_of(parts.query);
    authority_ = parts.form == TargetForm::absolute ? span_of(parts.authority) : Span{};
    return HttpError::none;
}

HttpError RequestParser::end_field_line(std::string_view data) noexcept {
    const Span value{mark_, value_end_ - mark_};
    fields_[field_count_++] = {name_, value};
    return end_field(view(data, name_.offset, name_.length), view(data, value.offset, value.length),
                     value);
}

// Semantics of the fields that frame the message or the connection, checked per field line so
// that a server can reject before the head is complete.
HttpError RequestParser::end_field(std::string_view name, std::string_view value,
                                   Span value_span) noexcept {
    switch (name.size()) {
    case 4:
        if (!ascii::iequals(name, "host"))
            break;
        // RFC 9112 §3.2: 400 for more than one Host or an invalid Host value.
        if (host_seen_)
            return HttpError::duplicate_host;
        if (!all_host_chars(value))
            return HttpError::bad_header;
        host_seen_ = true;
        host_ = value_span;
        break;
    case 14:
        if (!ascii::iequals(name, "content-length"))
            break;
        // RFC 9110 §8.6: a repeated or list-valued Content-Length may be rejected; we do.
        if (content_length_seen_ || !parse_content_length(value, content_length_))
            return HttpError::bad_content_length;
        content_length_seen_ = true;
        if (te_count_ != 0) // RFC 9112 §6.3 item 3
            return HttpError::te_and_cl;
        break;
    case 17:
        if (!ascii::iequals(name, "transfer-encoding"))
            break;
        te_chunked_ = te_count_ == 0 && ascii::iequals(value, "chunked");
        te_count_ = static_cast<std::uint8_t>(std::min(te_count_ + 1, 2));
        if (content_length_seen_) // RFC 9112 §6.3 item 3
            return HttpError::te_and_cl;
        break;
    case 10:
        if (!ascii::iequals(name, "connection"))
            break;
        // RFC 9110 §7.6.1: Connection = #connection-option; RFC 9112 §9.3 persistence.
        connection_close_ = connection_close_ || ascii::has_token(value, "close");
        connection_keep_alive_ = connection_keep_alive_ || ascii::has_token(value, "keep-alive");
        connection_upgrade_ = connection_upgrade_ || ascii::has_token(value, "upgrade");
        break;
    case 6:
        if (!ascii::iequals(name, "expect"))
            break;
        // RFC 9110 §10.1.1: Expect = #expectation; only 100-continue is defined.
        if (ascii::iequals(value, "100-continue"))
            expect_continue_ = true;
        else
            expect_other_ = true;
        break;
    default:
        break;
    }
    return HttpError::none;
}

HttpError RequestParser::end_head() noexcept {
    if (version_minor_ == 1 && !host_seen_) // RFC 9112 §3.2
        return HttpError::missing_host;
    if (te_count_ != 0) {
        // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
        if (version_minor_ == 0)
            return HttpError::bad_request;
        // RFC 9112 §6.1: 501 for a transfer coding we do not implement (all but chunked).
        if (te_count_ != 1 || !te_chunked_)
            return HttpError::not_implemented;
    }
    // RFC 9110 §10.1.1: Expect is ignored in HTTP/1.0; otherwise 417 for unknown ones.
    if (expect_other_ && version_minor_ == 1)
        return HttpError::expectation_failed;
    return HttpError::none;
}

void RequestParser::build_request(std::string_view data) noexcept {
    Request& r = request_;
    r.method = method_id_;
    r.method_name = view(data, method_.offset, method_.length);
    r.target = view(data, target_.offset, target_.length);
    r.path = path_is_slash_ ? std::string_view("/") : view(data, path_.offset, path_.length);
    r.query = view(data, query_.offset, query_.length);
    r.version_minor = version_minor_;
    for (std::size_t k = 0; k < field_count_; ++k)
        r.headers[k] = {view(data, fields_[k].name.offset, fields_[k].name.length),
                        view(data, fields_[k].value.offset, fields_[k].value.length)};
    r.header_count = field_count_;
    r.host = authority_.length != 0 ? view(data, authority_.offset, authority_.length)
                                    : view(data, host_.offset, host_.length);
    // RFC 9112 §9.3: 1.1 persists unless "close"; 1.0 only with "keep-alive".
    r.keep_alive = !connection_close_ && (version_minor_ == 1 || connection_keep_alive_);
    r.chunked = te_chunked_;
    r.has_content_length = content_length_seen_;
    r.content_length = content_length_;
    r.expect_continue = expect_continue_ && version_minor_ == 1;
    r.upgrade = connection_upgrade_;
}

} // namespace herald::http
