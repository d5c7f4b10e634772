// Request-target handling (RFC 9112 §3.2, RFC 3986 §2.1, §5.2.4): splitting the four target
// forms, percent-decoding and normalising paths, and reading query-string arguments.
//
// Rules (what is rejected, always with HttpError::bad_target -> 400):
//  - Forms (split_target): origin-form "/path?query" for every method; asterisk-form "*" only
//    for OPTIONS; authority-form "host:port" only (and always) for CONNECT; absolute-form
//    "http://authority/path?query" (scheme http or https, case-insensitive) with a non-empty
//    authority and no userinfo (RFC 9110 §4.2.4: userinfo is an error). Anything else fails.
//  - Paths (normalize_path), after splitting off the query:
//      * must start with "/";
//      * every "%" must start a valid escape "%HH";
//      * an encoded "/" (%2F, %2f) is rejected: it would change segment boundaries;
//      * %00, any other decoded control character (0x01-0x1F, 0x7F) and raw control
//        characters, SP or "#" are rejected;
//      * dot-segments are removed after decoding (so "%2e%2e" counts as ".."), as in
//        RFC 3986 §5.2.4, except that a ".." that would climb above "/" is rejected instead of
//        being dropped;
//      * empty segments are merged ("//a///b" -> "/a/b"), as nginx's merge_slashes does, so
//        that location matching and file lookup see one spelling of a path;
//      * a trailing "/" is kept ("/a/" stays "/a/", "/a/." and "/a/b/.." give "/a/").
//    Decoded bytes >= 0x80 are kept (UTF-8 file names). The result never contains "//",
//    "/./" or "/../" segments, NUL or control characters.
//  - Query arguments (query_arg): "&"-separated "name=value" pairs; names and values are
//    percent-decoded with "+" as space; malformed escapes are kept literally.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/request.hpp"

namespace herald::http {

enum class TargetForm : std::uint8_t { origin, absolute, authority, asterisk };

// Parts of a request-target; the views point into the target passed to split_target(), except
// the absolute-form empty path, which is the static string "/".
struct TargetParts {
    TargetForm form = TargetForm::origin;
    std::string_view authority; // absolute-form and authority-form; "" otherwise
    std::string_view path;      // "/..." (origin, absolute), "*" (asterisk), "" (authority)
    std::string_view query;     // after "?", without it; "" if none
};

// Splits a raw request-target by form and checks the form is allowed for the method.
// Expects the bytes the request parser admits (visible ASCII, no "#"). Returns none and fills
// parts, or bad_target. Does not decode.
HttpError split_target(std::string_view target, Method method, TargetParts& parts) noexcept;

// Percent-decodes and normalises a raw path (per the rules above) into out, which is
// overwritten (its capacity is reused: no allocation once it is as long as the path).
// Returns none, or bad_target with out unspecified.
HttpError normalize_path(std::string_view path, std::string& out);

// The percent-decoded value of the first argument called name in a query string ("a=1&b=x+y"),
// "" for a bare "name" or "name=", nullopt if absent. name is compared after decoding the
// query's names, exactly (case-sensitive).
std::optional<std::string> query_arg(std::string_view query, std::string_view name);

// What append_masked_target() writes in place of a hidden value.
inline constexpr std::string_view masked_value = "***";

// Appends target to out with the value of every query argument called name (compared after
// decoding, exactly as query_arg() finds it) replaced by masked_value: a secret passed in the
// URL (?token=) stays out of the access log. A target without such an argument is copied as is.
void append_masked_target(std::string& out, std::string_view target, std::string_view name);

} // namespace herald::http
