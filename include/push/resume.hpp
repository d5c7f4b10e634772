// Message ids as clients see them, and a subscriber's resume point as clients write it:
// ?since=ID, Last-Event-ID: ID (HTML §9.2.4) and If-None-Match: "ID" (an entity-tag list, RFC
// 9110 §13.1.2). Pure: no I/O; the parsers allocate nothing.
//
// A client-visible id is "EPOCH-SEQ": SEQ is the channel's decimal sequence number (1, 2, ...
// strictly increasing within one life of the channel), EPOCH is 12 lowercase hex digits chosen
// at random when that life began (startup, autocreate, re-creation after DELETE or a reload).
// A resume point from another life therefore never names a point in the current one, whoever
// assigned the ids. Only [0-9a-f-] appear: safe as they are in an SSE id: line, an ETag, a
// query string and a JSON string. "0" means "from the start of whatever life is current".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace herald::push {

inline constexpr std::size_t epoch_digits = 12;  // 48 random bits
inline constexpr std::uint64_t epoch_mask = (std::uint64_t{1} << (4 * epoch_digits)) - 1;

// A position in a channel: after message seq of life epoch. epoch 0 stands for the current
// life (what "0" means, and what in-process callers use); foreign: the client named a point
// that is no id at all, so it is after nothing we can place.
struct Cursor {
    std::uint64_t epoch = 0;
    std::uint64_t seq = 0;
    bool foreign = false;
};

// An epoch from 64 random bits: 48 of them, never 0.
std::uint64_t make_epoch(std::uint64_t random) noexcept;

// EPOCH alone: exactly epoch_digits lowercase hex digits, not all zero (how ids and the Redis
// broker's keys write it). parse_epoch() returns false, out unchanged, on anything else.
void append_epoch(std::string& out, std::uint64_t epoch);
[[nodiscard]] bool parse_epoch(std::string_view text, std::uint64_t& out) noexcept;

// Appends "EPOCH-SEQ" (EPOCH as epoch_digits hex digits).
void append_message_id(std::string& out, std::uint64_t epoch, std::uint64_t seq);
std::string message_id(std::uint64_t epoch, std::uint64_t seq);

enum class ResumeKind : std::uint8_t {
    none,     // no resume point given (absent or empty)
    id,       // resume after `at` (at.foreign: not an id; the client gets all + "missed")
    latest,   // If-None-Match: * : the client has the newest message, whatever its id
};

struct Resume {
    ResumeKind kind = ResumeKind::none;
    Cursor at;
};

// ?since= and Last-Event-ID: "EPOCH-SEQ", "0", or anything else (a foreign cursor).
// Surrounding quotes are accepted. "" = none.
Resume parse_resume_id(std::string_view text) noexcept;

// ?last=N: how many of the newest buffered messages a first connect asks for, 1..max_last
// (decimal digits only); 0 for anything else (a 400).
inline constexpr std::uint64_t max_last = 1000;
std::uint64_t parse_last(std::string_view text) noexcept;

// If-None-Match: a comma list of entity-tags, weak ones included (W/"E-3" names id E-3, weak
// comparison), "*" = latest. Several ids: the client holds each of them, so it resumes after
// the one with the highest sequence. Tags that are not ids are skipped; a list of nothing else
// is a foreign cursor.
Resume parse_if_none_match(std::string_view list) noexcept;

// The resume point of a request: the transport's own header (Last-Event-ID, If-None-Match)
// wins over ?since=, because a client that reconnects by itself (EventSource) sends the
// newer point in the header and the same URL as at first.
Resume pick_resume(Resume native, Resume query) noexcept;

} // namespace herald::push
