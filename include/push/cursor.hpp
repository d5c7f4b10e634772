// The compound cursor of a request that follows a channel list: one resume point per channel,
// what the client sees as its id (SSE id:, iframe, ETag) and sends back to resume. Pure: no I/O.
//
//     cursor = entry *( "," entry )
//     entry  = HASH "." EPOCH "-" SEQ
//     HASH   = 8 lowercase hex digits: FNV-1a 32-bit of the channel name's bytes
//     EPOCH  = 12 lowercase hex digits (the channel life, push/resume.hpp), SEQ = decimal
//
// SEQ is the last message of that channel the client was given, or the channel's newest id
// when it joined live (0: none in that life). EPOCH 000000000000 names no life: that channel
// resumes as from a foreign cursor (all it buffers and its missed signal). Only [0-9a-f.,-]
// appear: safe in an SSE id: line, an ETag, a query string and a JSON string.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "push/resume.hpp"

namespace herald::push {

inline constexpr std::size_t cursor_hash_digits = 8;
// Entries a cursor may hold: the largest max_channels_per_connection.
inline constexpr std::size_t max_cursor_entries = 255;

struct CursorEntry {
    std::uint32_t hash = 0;
    std::uint64_t epoch = 0;  // 0: no life (see above)
    std::uint64_t seq = 0;
};

// FNV-1a 32-bit (offset basis 2166136261, prime 16777619) of the name's bytes.
std::uint32_t channel_hash(std::string_view name) noexcept;

// Appends the entry of channel `name` ("HASH.EPOCH-SEQ"), after a comma unless cursor is empty.
void append_cursor_entry(std::string& cursor, std::string_view name, std::uint64_t epoch,
                         std::uint64_t seq);

// Parses a whole compound cursor into out (cleared first). False, out unspecified, for
// anything but the grammar above: an empty text or entry, a digit count off, uppercase hex,
// SEQ with a leading zero (other than "0") or past 2^64-1, two entries of one HASH, more than
// max_cursor_entries entries.
[[nodiscard]] bool parse_cursor(std::string_view text, std::vector<CursorEntry>& out);

// The resume point of each channel of a list (out gets one per name, in order) from a
// request's resume text (?since=, Last-Event-ID, or the If-None-Match value, quotes and W/
// taken off by the caller): "" = none for every channel; "0" = from the start of every
// channel; a compound cursor = per channel the entry of its HASH (a channel without one has
// none: live only; an entry of EPOCH 0 is foreign); anything else = foreign for every channel.
void resolve_list_resume(std::string_view text, std::span<const std::string> names,
                         std::vector<std::optional<Cursor>>& out);

// An If-None-Match value for a list: one entity-tag "CURSOR" or W/"CURSOR" (the cursor's
// commas are inside the quotes, so it is not split as a list), optional whitespace around it.
// Returns the text between the quotes, the value itself (trimmed) when it is not quoted.
std::string_view unquote_list_tag(std::string_view value) noexcept;

} // namespace herald::push
