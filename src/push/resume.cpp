// Resume points from ?since=, Last-Event-ID and If-None-Match.
#include "push/resume.hpp"

#include <charconv>

namespace herald::push {

namespace {

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool parse_decimal(std::string_view s, std::uint64_t& v) noexcept {
    if (s.empty() || s.front() < '0' || s.front() > '9') return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && p == s.data() + s.size();
}

} // namespace

Resume parse_resume_id(std::string_view text) noexcept {
    if (text.empty()) return {};
    if (text.size() >= 2 && text.front() == '"' && text.back() == '"')
        text = text.substr(1, text.size() - 2);
    Resume r{ResumeKind::invalid, 0};
    if (parse_decimal(text, r.id)) r.kind = ResumeKind::id;
    return r;
}

Resume parse_if_none_match(std::string_view list) noexcept {
    if (trim(list).empty()) return {};
    Resume best{ResumeKind::invalid, 0};
    while (true) {
        const std::size_t comma = list.find(',');
        std::string_view tag = trim(list.substr(0, comma));
        if (tag == "*") return {ResumeKind::latest, 0};
        if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
        std::uint64_t v = 0;
        if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"' &&
            parse_decimal(tag.substr(1, tag.size() - 2), v) &&
            (best.kind != ResumeKind::id || v > best.id))
            best = {ResumeKind::id, v};
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return best;
}

Resume pick_resume(Resume native, Resume query) noexcept {
    return native.kind != ResumeKind::none ? native : query;
}

} // namespace herald::push
