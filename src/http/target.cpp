// Request-target forms (RFC 9112 §3.2), path decoding and dot-segment removal (RFC 3986 §2.1,
// §5.2.4), query arguments (application/x-www-form-urlencoded style). Rules: http/target.hpp.
#include "http/target.hpp"

#include "http/char_class.hpp"

namespace herald::http {
namespace {

using ascii::hex_value;
using detail::hex_digit;

bool all_host_chars(std::string_view s) noexcept {
    for (char c : s)
        if (!detail::host_char[static_cast<unsigned char>(c)])
            return false;
    return true;
}

// RFC 9112 §3.2.3: authority-form = uri-host ":" port; port = *DIGIT (we require one digit).
bool is_authority_form(std::string_view t) noexcept {
    std::size_t colon = t.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == t.size())
        return false;
    for (std::size_t i = colon + 1; i < t.size(); ++i)
        if (!detail::is_digit(static_cast<unsigned char>(t[i])))
            return false;
    return all_host_chars(t.substr(0, colon));
}

void split_path_query(std::string_view s, TargetParts& parts) noexcept {
    std::size_t q = s.find('?');
    parts.path = s.substr(0, q);
    parts.query = q == std::string_view::npos ? std::string_view{} : s.substr(q + 1);
}

// RFC 9112 §3.2.2 absolute-form = absolute-URI; we serve http and https URIs only.
HttpError split_absolute(std::string_view t, TargetParts& parts) noexcept {
    std::size_t sep = t.find("://");
    if (sep == std::string_view::npos)
        return HttpError::bad_target;
    std::string_view scheme = t.substr(0, sep);
    if (!ascii::iequals(scheme, "http") && !ascii::iequals(scheme, "https"))
        return HttpError::bad_target;
    std::string_view rest = t.substr(sep + 3);
    std::size_t end = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, end);
    // RFC 9110 §4.2.4: userinfo in an http(s) URI is an error; §4.2.1: the host is required.
    if (authority.empty() || authority.find('@') != std::string_view::npos ||
        !all_host_chars(authority))
        return HttpError::bad_target;
    parts.form = TargetForm::absolute;
    parts.authority = authority;
    split_path_query(end == std::string_view::npos ? std::string_view{} : rest.substr(end), parts);
    if (parts.path.empty())
        parts.path = "/";
    return HttpError::none;
}

// Appends the decoded bytes of one raw segment (up to "/" or the end) to out.
// Returns the index in path just past the segment, or npos on a forbidden byte or escape.
std::size_t decode_segment(std::string_view path, std::size_t i, std::string& out) {
    const std::size_t n = path.size();
    for (; i < n && path[i] != '/'; ++i) {
        auto c = static_cast<unsigned char>(path[i]);
        if (c == '%') {
            if (i + 2 >= n || !hex_digit[static_cast<unsigned char>(path[i + 1])] ||
                !hex_digit[static_cast<unsigned char>(path[i + 2])])
                return std::string_view::npos;
            c = static_cast<unsigned char>(hex_value(static_cast<unsigned char>(path[i + 1])) * 16 +
                                           hex_value(static_cast<unsigned char>(path[i + 2])));
            if (c == '/') // %2F would create a segment boundary the client did not send
                return std::string_view::npos;
            i += 2;
        } else if (c == ' ' || c == '#' || c == '?') {
            return std::string_view::npos;
        }
        if (c < 0x20 || c == 0x7F) // includes %00
            return std::string_view::npos;
        out.push_back(static_cast<char>(c));
    }
    return i;
}

std::string form_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < s.size() &&
                   hex_digit[static_cast<unsigned char>(s[i + 1])] &&
                   hex_digit[static_cast<unsigned char>(s[i + 2])]) {
            c = static_cast<char>(hex_value(static_cast<unsigned char>(s[i + 1])) * 16 +
                                  hex_value(static_cast<unsigned char>(s[i + 2])));
            i += 2;
        }
        out.push_back(c);
    }
    return out;
}

} // namespace

HttpError split_target(std::string_view target, Method method, TargetParts& parts) noexcept {
    parts = TargetParts{};
    if (method == Method::connect) { // RFC 9112 §3.2.3: CONNECT uses authority-form only
        if (!is_authority_form(target))
            return HttpError::bad_target;
        parts.form = TargetForm::authority;
        parts.authority = target;
        return HttpError::none;
    }
    if (target.empty())
        return HttpError::bad_target;
    if (target[0] == '/') { // RFC 9112 §3.2.1 origin-form = absolute-path [ "?" query ]
        split_path_query(target, parts);
        return HttpError::none;
    }
    if (target == "*") { // RFC 9112 §3.2.4: asterisk-form only for a server-wide OPTIONS
        if (method != Method::options)
            return HttpError::bad_target;
        parts.form = TargetForm::asterisk;
        parts.path = target;
        return HttpError::none;
    }
    return split_absolute(target, parts);
}

// One pass: each raw segment is decoded onto the end of out, then judged. out always holds
// "/" followed by whole segments each ending in "/", plus the segment being judged; since %2F
// is rejected, every "/" in out is a separator, so ".." can find its parent with rfind.
HttpError normalize_path(std::string_view path, std::string& out) {
    out.clear();
    if (path.empty() || path[0] != '/')
        return HttpError::bad_target;
    out.reserve(path.size());
    out.push_back('/');
    std::size_t i = 1;
    for (;;) {
        const std::size_t seg_start = out.size();
        i = decode_segment(path, i, out);
        if (i == std::string_view::npos)
            return HttpError::bad_target;
        const bool last = i == path.size();
        std::string_view seg(out.data() + seg_start, out.size() - seg_start);
        if (seg == "..") {
            if (seg_start == 1) // would climb above "/": reject rather than clamp
                return HttpError::bad_target;
            out.resize(out.rfind('/', seg_start - 2) + 1);
        } else if (seg == ".") {
            out.resize(seg_start);
        } else if (!seg.empty() && !last) {
            out.push_back('/');
        }
        if (last)
            return HttpError::none;
        ++i; // the "/" ending this segment
    }
}

std::optional<std::string> query_arg(std::string_view query, std::string_view name) {
    while (true) {
        std::size_t amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        std::size_t eq = pair.find('=');
        std::string_view key = pair.substr(0, eq);
        if (!pair.empty() && form_decode(key) == name)
            return form_decode(eq == std::string_view::npos ? std::string_view{}
                                                            : pair.substr(eq + 1));
        if (amp == std::string_view::npos)
            return std::nullopt;
        query.remove_prefix(amp + 1);
    }
}

void append_masked_target(std::string& out, std::string_view target, std::string_view name) {
    const std::size_t q = target.find('?');
    if (q == std::string_view::npos) {
        out.append(target);
        return;
    }
    out.append(target.substr(0, q + 1));
    std::string_view query = target.substr(q + 1);
    while (true) {
        const std::size_t amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        const std::size_t eq = pair.find('=');
        if (eq != std::string_view::npos && form_decode(pair.substr(0, eq)) == name)
            out.append(pair.substr(0, eq + 1)).append(masked_value);
        else
            out.append(pair);
        if (amp == std::string_view::npos) return;
        out += '&';
        query.remove_prefix(amp + 1);
    }
}

} // namespace herald::http
