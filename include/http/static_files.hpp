// Static files: a per-worker open-file cache that refuses anything resolving outside the root,
// validators (ETag, Last-Modified), conditional GET (RFC 9110 §13) and single byte ranges
// (RFC 9110 §14). Pure logic plus open/fstat; the session turns results into responses.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>

#include "core/clock.hpp"
#include "net/output_queue.hpp"

namespace herald::http {

struct FileInfo {
    std::shared_ptr<const net::OpenFile> file;  // open read-only; shared with queued bodies
    std::uint64_t size = 0;
    std::time_t mtime = 0;
    std::string etag;           // "\"<mtime hex>-<size hex>\"" as nginx
    std::string last_modified;  // HTTP date
    std::string path;           // resolved real path (for MIME lookup by extension)
};

// Caches open files for `valid` (default 1 s, like nginx's open_file_cache_valid), so a hot
// file costs no open/fstat/realpath per request. Owned by one worker; not thread-safe.
// Bounded so that it can never take the fds connections need: at most `max` entries and at
// most 1/fd_share of the process's fd limit (read at each miss, so a changed limit counts);
// expired entries are swept once per `valid`, and a full cache is emptied.
class FileCache {
public:
    static constexpr std::size_t fd_share = 4;

    explicit FileCache(Clock::duration valid = std::chrono::seconds(1), std::size_t max = 4096)
        : valid_(valid), max_(max) {}

    enum class Result : std::uint8_t { ok, not_found, forbidden, directory, error, unavailable };
    // Resolves root + path (path normalised, starting with '/'). directory: the path names a
    // directory (the caller tries index files). forbidden: unreadable, not a regular file, or
    // resolves (through symlinks) outside real_root. not_found also covers a name longer than
    // the filesystem allows. unavailable: out of fds (EMFILE/ENFILE; not cached), a 503.
    Result open(const std::string& real_root, std::string_view path, Clock::time_point now,
                std::shared_ptr<const FileInfo>& out);
    void clear() noexcept { entries_.clear(); }
    std::size_t size() const noexcept { return entries_.size(); }

private:
    void make_room(Clock::time_point now);

    struct Entry {
        std::shared_ptr<const FileInfo> info;
        Result result;
        Clock::time_point checked;
    };
    Result open_uncached(const std::string& real_root, const std::string& full,
                         std::shared_ptr<const FileInfo>& out);
    Clock::duration valid_;
    std::size_t max_;
    Clock::time_point swept_{};
    std::unordered_map<std::string, Entry> entries_;
};

std::string make_etag(std::time_t mtime, std::uint64_t size);

// True if an If-None-Match list matches etag (weak comparison, "*" matches; RFC 9110 §13.1.2).
// strong: strong comparison (If-Match, §13.1.1): a weak tag in the list never matches.
bool etag_list_matches(std::string_view list, std::string_view etag,
                       bool strong = false) noexcept;

// RFC 9110 §13.2.2 steps 1-2: true -> answer 412. If-Match (strong comparison, "*" matches an
// existing file) is evaluated when present; otherwise If-Unmodified-Since (a date the file was
// modified after fails; an invalid date is ignored).
bool precondition_failed(std::string_view if_match, std::string_view if_unmodified_since,
                         std::string_view etag, std::time_t mtime) noexcept;

// RFC 9110 §13.2.2: If-None-Match wins over If-Modified-Since. True -> answer 304.
bool not_modified(std::string_view if_none_match, std::string_view if_modified_since,
                  std::string_view etag, std::time_t mtime) noexcept;

struct ByteRange {
    enum class Kind : std::uint8_t { none, ok, unsatisfiable };
    Kind kind = Kind::none;
    std::uint64_t first = 0, last = 0;  // inclusive
};
// Parses a Range header for a representation of `size` bytes. Only a single range is served;
// several ranges, other units or bad syntax give Kind::none (RFC 9110 §14.2: ignore).
ByteRange parse_range(std::string_view header, std::uint64_t size) noexcept;

} // namespace herald::http
