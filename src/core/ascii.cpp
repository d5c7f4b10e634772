// ASCII helpers: token check, case-insensitive comparison, OWS trimming, list membership.
#include "core/ascii.hpp"

namespace herald::ascii {

bool is_token(std::string_view s) noexcept {
    if (s.empty())
        return false;
    for (char c : s)
        if (!is_tchar(static_cast<unsigned char>(c)))
            return false;
    return true;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

bool has_token(std::string_view list, std::string_view token) noexcept {
    return any_element(list, [token](std::string_view e) { return iequals(e, token); });
}

} // namespace herald::ascii
