// Message ids ("EPOCH-SEQ") and resume points from ?since=, Last-Event-ID and If-None-Match.
#include "push/resume.hpp"

#include <charconv>

#include "core/ascii.hpp"
#include "http/entity_tag.hpp"

namespace herald::push {

namespace {

// "EPOCH-SEQ" or "0"; false for anything else.
bool parse_id(std::string_view s, Cursor& out) noexcept {
    if (s == "0") {
        out = Cursor{};
        return true;
    }
    std::uint64_t epoch = 0, seq = 0;
    if (s.size() < epoch_digits + 2 || s[epoch_digits] != '-' ||
        !parse_epoch(s.substr(0, epoch_digits), epoch) ||
        !ascii::parse_decimal(s.substr(epoch_digits + 1), UINT64_MAX, seq))
        return false;
    out = Cursor{epoch, seq, false};
    return true;
}

} // namespace

std::uint64_t make_epoch(std::uint64_t random) noexcept {
    const std::uint64_t e = (random ^ (random >> (64 - 4 * epoch_digits))) & epoch_mask;
    return e != 0 ? e : 1;
}

bool parse_epoch(std::string_view text, std::uint64_t& out) noexcept {
    if (text.size() != epoch_digits) return false;
    std::uint64_t epoch = 0;
    for (char c : text) {
        // Only the lowercase spelling append_epoch() writes is an epoch.
        const int d = ascii::hex_value(c);
        if (d < 0 || (c >= 'A' && c <= 'F')) return false;
        epoch = epoch << 4 | static_cast<std::uint64_t>(d);
    }
    if (epoch == 0) return false;
    out = epoch;
    return true;
}

namespace {
// epoch_digits lowercase hex digits at p.
void write_epoch(char* p, std::uint64_t epoch) noexcept {
    for (std::size_t i = epoch_digits; i-- > 0;) *p++ = ascii::lower_hex[(epoch >> (4 * i)) & 0xf];
}
} // namespace

void append_epoch(std::string& out, std::uint64_t epoch) {
    char buf[epoch_digits];
    write_epoch(buf, epoch);
    out.append(buf, epoch_digits);
}

void append_message_id(std::string& out, std::uint64_t epoch, std::uint64_t seq) {
    char buf[epoch_digits + 1 + 20];
    write_epoch(buf, epoch);
    std::size_t n = epoch_digits;
    buf[n++] = '-';
    auto [end, ec] = std::to_chars(buf + n, buf + sizeof buf, seq);
    (void)ec;  // 20 digits always fit
    out.append(buf, static_cast<std::size_t>(end - buf));
}

std::string message_id(std::uint64_t epoch, std::uint64_t seq) {
    std::string s;
    append_message_id(s, epoch, seq);
    return s;
}

std::uint64_t parse_last(std::string_view text) noexcept {
    std::uint64_t n = 0;
    if (!ascii::parse_decimal(text, max_last, n)) return 0;
    return n;
}

Resume parse_resume_id(std::string_view text) noexcept {
    if (text.empty()) return {};
    if (text.size() >= 2 && text.front() == '"' && text.back() == '"')
        text = text.substr(1, text.size() - 2);
    Resume r{ResumeKind::id, Cursor{0, 0, true}};
    if (parse_id(text, r.at)) r.at.foreign = false;
    return r;
}

Resume parse_if_none_match(std::string_view list) noexcept {
    if (ascii::trim_ows(list).empty()) return {};
    Resume best{ResumeKind::id, Cursor{0, 0, true}};
    const bool star = http::any_entity_tag(list, [&](std::string_view tag, bool) {
        if (tag == "*") return true;
        Cursor c;
        if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"' &&
            parse_id(tag.substr(1, tag.size() - 2), c) && (best.at.foreign || c.seq > best.at.seq))
            best.at = c;
        return false;
    });
    if (star) return {ResumeKind::latest, Cursor{}};
    return best;
}

Resume pick_resume(Resume native, Resume query) noexcept {
    return native.kind != ResumeKind::none ? native : query;
}

} // namespace herald::push
