// A subscriber's resume point as clients write it: ?since=ID, Last-Event-ID: ID (HTML §9.2.4)
// and If-None-Match: "ID" (an entity-tag list, RFC 9110 §13.1.2). Pure: no allocation, no I/O.
#pragma once

#include <cstdint>
#include <string_view>

namespace herald::push {

enum class ResumeKind : std::uint8_t {
    none,     // no resume point given (absent or empty)
    id,       // resume after the id in `id`
    latest,   // If-None-Match: * : the client has the newest message, whatever its id
    invalid,  // present but not an id (the request gets 400)
};

struct Resume {
    ResumeKind kind = ResumeKind::none;
    std::uint64_t id = 0;
};

// ?since= and Last-Event-ID: a decimal id ("" = none). Surrounding quotes are accepted.
Resume parse_resume_id(std::string_view text) noexcept;

// If-None-Match: a comma list of entity-tags, weak ones included (W/"3" names id 3, weak
// comparison), "*" = latest. Several ids: the client holds each of them, so it resumes after
// the newest one. Tags that are not ids (someone else's validators) are skipped; invalid only
// when no member is usable.
Resume parse_if_none_match(std::string_view list) noexcept;

// The resume point of a request: the transport's own header (Last-Event-ID, If-None-Match)
// wins over ?since=, because a client that reconnects by itself (EventSource) sends the
// newer point in the header and the same URL as at first.
Resume pick_resume(Resume native, Resume query) noexcept;

} // namespace herald::push
