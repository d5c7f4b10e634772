// ASCII helpers: token check, case-insensitive comparison, OWS trimming, list membership,
// decimal numbers.
#include "core/ascii.hpp"

namespace herald::ascii {

bool parse_decimal(std::string_view s, std::uint64_t max, std::uint64_t& out) noexcept {
    if (s.empty())
        return false;
    std::uint64_t v = 0;
    for (char ch : s) {
        if (!is_digit(static_cast<unsigned char>(ch)))
            return false;
        const auto d = static_cast<std::uint64_t>(ch - '0');
        if (d > max || v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    out = v;
    return true;
}

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

bool is_host_name(std::string_view s) noexcept {
    if (s.empty() || s.size() > 253) return false;
    bool last_all_digits = false;
    for (;;) {
        const std::size_t dot = s.find('.');
        const std::string_view label = s.substr(0, dot);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
            return false;
        last_all_digits = true;
        for (const char c : label) {
            const auto u = static_cast<unsigned char>(c);
            if (!is_alpha(u) && !is_digit(u) && c != '-') return false;
            last_all_digits = last_all_digits && is_digit(u);
        }
        if (dot == std::string_view::npos) break;
        s.remove_prefix(dot + 1);
    }
    return !last_all_digits;
}

} // namespace herald::ascii
