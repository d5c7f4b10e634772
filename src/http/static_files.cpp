// Static files: realpath containment check, fstat validators, conditional and range logic.
#include "http/static_files.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ascii.hpp"
#include "http/entity_tag.hpp"
#include "http/request.hpp"
#include "http/response.hpp"

namespace herald::http {

std::string make_etag(std::time_t mtime, std::uint64_t size) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "\"%llx-%llx\"", static_cast<unsigned long long>(mtime),
                  static_cast<unsigned long long>(size));
    return buf;
}

FileCache::Result FileCache::open(const std::string& real_root, std::string_view path,
                                  Clock::time_point now, std::shared_ptr<const FileInfo>& out) {
    std::string full = real_root;
    full.append(path);
    auto it = entries_.find(full);
    if (it != entries_.end() && now - it->second.checked < valid_) {
        out = it->second.info;
        return it->second.result;
    }
    Result r = open_uncached(real_root, full, out);
    if (r == Result::unavailable) return r;  // transient: the next request tries again
    if (it != entries_.end()) {
        it->second = Entry{out, r, now};
        return r;
    }
    make_room(now);
    entries_.emplace(std::move(full), Entry{out, r, now});
    return r;
}

void FileCache::make_room(Clock::time_point now) {
    if (now - swept_ >= valid_) {  // once per validity period: drop what has expired
        swept_ = now;
        std::erase_if(entries_, [&](const auto& e) { return now - e.second.checked >= valid_; });
    }
    std::size_t bound = max_;
    struct rlimit rl;
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        bound = std::min<std::size_t>(bound, static_cast<std::size_t>(rl.rlim_cur) / fd_share);
    if (entries_.size() >= bound) entries_.clear();  // hot entries refill at once
}

namespace {
// What a failed realpath/open means for the client.
FileCache::Result result_of_errno(int err) noexcept {
    switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG: return FileCache::Result::not_found;
    case EMFILE:
    case ENFILE: return FileCache::Result::unavailable;
    default: return FileCache::Result::forbidden;
    }
}
} // namespace

FileCache::Result FileCache::open_uncached(const std::string& real_root, const std::string& full,
                                           std::shared_ptr<const FileInfo>& out) {
    out.reset();
    char resolved[PATH_MAX];
    if (!::realpath(full.c_str(), resolved)) return result_of_errno(errno);
    std::string_view real(resolved);
    // The resolved path must be the root itself or below it: symlinks may not leave the root.
    if (real.substr(0, real_root.size()) != real_root ||
        (real.size() > real_root.size() && real[real_root.size()] != '/' && real_root != "/"))
        return Result::forbidden;
    int fd = ::open(resolved, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return result_of_errno(errno);
    auto file = std::make_shared<net::OpenFile>();
    file->fd = fd;
    struct stat st;
    if (::fstat(fd, &st) != 0) return Result::error;
    if (S_ISDIR(st.st_mode)) return Result::directory;
    if (!S_ISREG(st.st_mode)) return Result::forbidden;
    auto info = std::make_shared<FileInfo>();
    info->file = std::move(file);
    info->size = static_cast<std::uint64_t>(st.st_size);
    info->mtime = st.st_mtime;
    info->etag = make_etag(st.st_mtime, info->size);
    info->last_modified = http_date(st.st_mtime);
    info->path = resolved;
    out = std::move(info);
    return Result::ok;
}

bool etag_list_matches(std::string_view list, std::string_view etag, bool strong) noexcept {
    const std::string_view mine = etag.substr(0, 2) == "W/" ? etag.substr(2) : etag;
    return any_entity_tag(list, [&](std::string_view tag, bool weak) {
        return tag == "*" || (!(strong && weak) && tag == mine);
    });
}

bool precondition_failed(std::string_view if_match, std::string_view if_unmodified_since,
                         std::string_view etag, std::time_t mtime) noexcept {
    if (!if_match.empty()) return !etag_list_matches(if_match, etag, true);
    if (!if_unmodified_since.empty()) {
        std::time_t t = parse_http_date(if_unmodified_since);
        return t >= 0 && mtime > t;
    }
    return false;
}

bool not_modified(std::string_view if_none_match, std::string_view if_modified_since,
                  std::string_view etag, std::time_t mtime) noexcept {
    if (!if_none_match.empty()) return etag_list_matches(if_none_match, etag);
    if (!if_modified_since.empty()) {
        std::time_t t = parse_http_date(if_modified_since);
        return t >= 0 && mtime <= t;
    }
    return false;
}

namespace {
// At most 19 digits (any such number fits).
bool parse_u64(std::string_view s, std::uint64_t& v) noexcept {
    return s.size() <= 19 && ascii::parse_decimal(s, UINT64_MAX, v);
}
} // namespace

ByteRange parse_range(std::string_view h, std::uint64_t size) noexcept {
    ByteRange r;
    if (h.substr(0, 6) != "bytes=") return r;
    h.remove_prefix(6);
    while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
    while (!h.empty() && h.back() == ' ') h.remove_suffix(1);
    if (h.find(',') != std::string_view::npos) return r;  // several ranges: send it all
    std::size_t dash = h.find('-');
    if (dash == std::string_view::npos) return r;
    std::string_view a = h.substr(0, dash), b = h.substr(dash + 1);
    std::uint64_t first = 0, last = 0;
    if (a.empty()) {  // suffix range: last N bytes
        if (!parse_u64(b, last)) return r;
        if (last == 0 || size == 0) return {ByteRange::Kind::unsatisfiable, 0, 0};
        r.first = last >= size ? 0 : size - last;
        r.last = size - 1;
        r.kind = ByteRange::Kind::ok;
        return r;
    }
    if (!parse_u64(a, first)) return r;
    if (b.empty()) {
        last = size ? size - 1 : 0;
    } else if (!parse_u64(b, last) || last < first) {
        return r;
    }
    if (first >= size) return {ByteRange::Kind::unsatisfiable, 0, 0};
    if (last >= size) last = size - 1;
    return {ByteRange::Kind::ok, first, last};
}

} // namespace herald::http
