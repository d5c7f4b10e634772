// The one origin check of the server (`allow_origin`, RFC 6454 origins, Fetch CORS): used by
// every push route, the publisher API, WebSocket upgrades and the CORS response headers.
// Pure; the returned views point into origin or into allow, whichever matched.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace herald::http {

// allow_origin: true if the allow list is empty (no restriction), contains "*", or contains
// origin (ASCII case-insensitive; browsers send lowercase scheme and host). An absent Origin
// ("") is allowed: only browsers send it, and the check protects browser pages.
bool origin_allowed(std::string_view origin, const std::vector<std::string>& allow) noexcept;

// The Access-Control-Allow-Origin value for a request: "*" when the list has "*", origin
// itself when listed, "" when the list is empty, origin is absent or not listed.
std::string_view cors_allow_origin(std::string_view origin,
                                   const std::vector<std::string>& allow) noexcept;

} // namespace herald::http
