// Signed-token access (`auth_jwt`) for push and publish locations: where a request's token is
// found, how it is checked against the channel, and what a refusal answers (RFC 6750 §3).
// Runs between routing and the handler, on the worker thread during dispatch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace herald::http {
class HttpSession;
}
namespace herald::push {
struct Target;
}

namespace herald::app {

// The value of the cookie called name in a Cookie header ("a=1; b=2", RFC 6265 §4.2.1; a
// quoted value loses its quotes), nullopt when absent. The view points into cookie_header.
std::optional<std::string_view> cookie_value(std::string_view cookie_header,
                                             std::string_view name) noexcept;

// The token a request carries, first found of: `Authorization: Bearer T` (scheme in any case,
// RFC 6750 §2.1), the query argument `token` (RFC 6750 §2.3; EventSource and WebSocket cannot
// set headers), the cookie called cookie_name (none when it is ""). "" when there is none.
std::string find_token(std::string_view authorization, std::string_view query,
                       std::string_view cookie_header, std::string_view cookie_name);

enum class AccessFor : std::uint8_t { subscribe, publish };

// The location's auth_jwt rule for t.channel. Admits at once when the location has no key, or
// for publishing when the key was given without `publish`. Otherwise the token must be valid
// (HS256, exp/nbf with the leeway) and its `channels` (subscribe) or `publish` claim must
// cover the channel; "" covers nothing but the pattern "*" (a request for every channel).
// Admitted: t.sub, t.expires_at (exp + leeway; 0 = none) and t.may_publish are filled, true.
// Refused: 401 (no token, or an invalid one) or 403 (the channel is not covered), with
// WWW-Authenticate and the CORS headers, and an info log line with the reason; false.
bool check_token(http::HttpSession& s, push::Target& t, AccessFor what);

// A claim value made safe for a log line: at most 64 bytes, non-printable bytes as '?'.
std::string loggable(std::string_view claim);

} // namespace herald::app
