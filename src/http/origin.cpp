// allow_origin matching (RFC 6454 §7, ASCII case-insensitive as §6.2 serializes lowercase).
#include "http/origin.hpp"

#include "http/request.hpp"

namespace herald::http {

bool origin_allowed(std::string_view origin, const std::vector<std::string>& allow) noexcept {
    if (allow.empty() || origin.empty()) return true;
    for (const std::string& a : allow)
        if (a == "*" || iequals(a, origin)) return true;
    return false;
}

std::string_view cors_allow_origin(std::string_view origin,
                                   const std::vector<std::string>& allow) noexcept {
    if (origin.empty()) return {};
    for (const std::string& a : allow) {
        if (a == "*") return a;
        if (iequals(a, origin)) return origin;
    }
    return {};
}

} // namespace herald::http
