// The compound cursor of a channel-list request: codec and per-channel resume points.
#include "push/cursor.hpp"

#include <algorithm>

#include "core/ascii.hpp"

namespace herald::push {

namespace {

constexpr std::uint32_t fnv_offset_basis = 2166136261u;
constexpr std::uint32_t fnv_prime = 16777619u;

// Exactly `digits` lowercase hex digits (0 allowed), as written by append_cursor_entry.
bool parse_lower_hex(std::string_view s, std::size_t digits, std::uint64_t& out) noexcept {
    if (s.size() != digits) return false;
    std::uint64_t v = 0;
    for (const char c : s) {
        const int d = ascii::hex_value(c);
        if (d < 0 || (c >= 'A' && c <= 'F')) return false;
        v = v << 4 | static_cast<std::uint64_t>(d);
    }
    out = v;
    return true;
}

// "HASH.EPOCH-SEQ"
bool parse_entry(std::string_view s, CursorEntry& out) noexcept {
    constexpr std::size_t dot = cursor_hash_digits;
    constexpr std::size_t dash = dot + 1 + epoch_digits;
    if (s.size() < dash + 2 || s[dot] != '.' || s[dash] != '-') return false;
    std::uint64_t hash = 0, epoch = 0, seq = 0;
    const std::string_view seq_text = s.substr(dash + 1);
    if (!parse_lower_hex(s.substr(0, dot), cursor_hash_digits, hash) ||
        !parse_lower_hex(s.substr(dot + 1, epoch_digits), epoch_digits, epoch) ||
        (seq_text.size() > 1 && seq_text[0] == '0') ||
        !ascii::parse_decimal(seq_text, UINT64_MAX, seq))
        return false;
    out = CursorEntry{static_cast<std::uint32_t>(hash), epoch, seq};
    return true;
}

} // namespace

std::uint32_t channel_hash(std::string_view name) noexcept {
    std::uint32_t h = fnv_offset_basis;
    for (const char c : name) {
        h ^= static_cast<unsigned char>(c);
        h *= fnv_prime;
    }
    return h;
}

void append_cursor_entry(std::string& cursor, std::string_view name, std::uint64_t epoch,
                         std::uint64_t seq) {
    if (!cursor.empty()) cursor.push_back(',');
    const std::uint32_t h = channel_hash(name);
    for (std::size_t i = cursor_hash_digits; i-- > 0;)
        cursor.push_back(ascii::lower_hex[(h >> (4 * i)) & 0xf]);
    cursor.push_back('.');
    for (std::size_t i = epoch_digits; i-- > 0;)
        cursor.push_back(ascii::lower_hex[(epoch >> (4 * i)) & 0xf]);
    cursor.push_back('-');
    cursor += std::to_string(seq);
}

bool parse_cursor(std::string_view text, std::vector<CursorEntry>& out) {
    out.clear();
    for (;;) {
        const std::size_t comma = text.find(',');
        CursorEntry e;
        if (out.size() == max_cursor_entries || !parse_entry(text.substr(0, comma), e))
            return false;
        const auto same = [&e](const CursorEntry& o) { return o.hash == e.hash; };
        if (std::any_of(out.begin(), out.end(), same)) return false;
        out.push_back(e);
        if (comma == std::string_view::npos) return true;
        text.remove_prefix(comma + 1);
    }
}

void resolve_list_resume(std::string_view text, std::span<const std::string> names,
                         std::vector<std::optional<Cursor>>& out) {
    out.assign(names.size(), std::nullopt);
    if (text.empty()) return;
    if (text == "0") {
        std::fill(out.begin(), out.end(), Cursor{});
        return;
    }
    std::vector<CursorEntry> entries;
    if (!parse_cursor(text, entries)) {
        std::fill(out.begin(), out.end(), Cursor{0, 0, true});
        return;
    }
    for (std::size_t i = 0; i < names.size(); ++i) {
        const std::uint32_t h = channel_hash(names[i]);
        const auto it = std::find_if(entries.begin(), entries.end(),
                                     [h](const CursorEntry& e) { return e.hash == h; });
        if (it == entries.end()) continue;
        out[i] = it->epoch == 0 ? Cursor{0, 0, true} : Cursor{it->epoch, it->seq, false};
    }
}

std::string_view unquote_list_tag(std::string_view value) noexcept {
    value = ascii::trim_ows(value);
    std::string_view v = value;
    if (v.size() >= 2 && v[0] == 'W' && v[1] == '/') v.remove_prefix(2);
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') return v.substr(1, v.size() - 2);
    return value;
}

} // namespace herald::push
