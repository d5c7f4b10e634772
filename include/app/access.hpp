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
struct Request;
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

// multiplex: a `multiplex on;` WebSocket's upgrade, before any channel is named.
enum class AccessFor : std::uint8_t { subscribe, publish, multiplex };

// The location's auth_jwt rule for t.channel. Admits at once when the location has no key, or
// for publishing when the key was given without `publish`. Otherwise the token must be valid
// (HS256, exp/nbf with the leeway) and its `channels` (subscribe) or `publish` claim must
// cover the channel; "" covers nothing but the pattern "*" (a request for every channel).
// Admitted: t.sub, t.expires_at (exp + leeway; 0 = none) and t.may_publish are filled, true.
// For multiplex no channel is checked: the valid token's claims go to t.claims, and the
// endpoint checks each channel at each subscribe and publish.
// Refused: 401 (no token, or an invalid one) or 403 (the channel is not covered), with
// WWW-Authenticate and the CORS headers, and an info log line with the reason; false.
bool check_token(http::HttpSession& s, push::Target& t, AccessFor what);

class Worker;

// Revocation on a publisher location: a DELETE with `sub=U` or `subscribers=all` in its query
// (a plain DELETE still deletes the channel).
bool is_revocation(const http::Request& req);

// Ends subscribers without deleting their channel, on every worker, and answers 200
// {"ended":N}: `?channel=C&sub=U` those of C whose token sub is U, `?sub=U` (no channel
// argument on a `channel $arg_NAME;` location) those of U on every channel,
// `?channel=C&subscribers=all` every subscriber of C. Each ends as when its token expires, but
// with WebSocket close 4403 "revoked", SSE `event: herald-revoked`, iframe {"ended":"revoked"},
// a held long-poll 403. The location's `auth_jwt ... publish` applies (every channel: the
// publish pattern "*"), then its auth_request. 400 for `subscribers=` other than `all`, an empty sub, both, or
// `subscribers=all` without a channel.
void serve_revoke(Worker& w, http::HttpSession& s);

// A channel's live subscribers by token sub, as a JSON object {"42":2,"":1} ("" = tokenless),
// at most max_listed_subs of them, counted over every worker.
inline constexpr std::size_t max_listed_subs = 100;
std::string subscribers_by_sub_json(const Worker& w, std::string_view channel);

} // namespace herald::app
