// AccessLog: combined format, buffered.
#include "http/access_log.hpp"

#include <cerrno>
#include <cstdio>
#include <ctime>

#include <fcntl.h>
#include <unistd.h>

namespace herald::http {
namespace {
// Escapes quotes, backslashes and non-printable bytes as nginx does (\xHH).
void append_escaped(std::string& out, std::string_view s) {
    if (s.empty()) {
        out += '-';
        return;
    }
    for (unsigned char c : s) {
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f) {
            char buf[5];
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
}
} // namespace

std::error_code AccessLog::open(const std::string& path) {
    flush();
    path_ = path;
    if (path.empty()) {
        fd_.reset();
        return {};
    }
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return {errno, std::generic_category()};
    fd_.reset(fd);
    return {};
}

void AccessLog::write(std::string_view remote, std::string_view request_line, int status,
                      std::uint64_t bytes, std::string_view referer, std::string_view user_agent) {
    if (!enabled()) return;
    thread_local std::time_t cached_at = 0;
    thread_local char when[40];
    std::time_t now = std::time(nullptr);
    if (now != cached_at) {
        struct tm tm;
        ::localtime_r(&now, &tm);
        std::strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S %z", &tm);
        cached_at = now;
    }
    buf_.append(remote).append(" - - [").append(when).append("] \"");
    append_escaped(buf_, request_line);
    char num[48];
    std::snprintf(num, sizeof num, "\" %d %llu \"", status, static_cast<unsigned long long>(bytes));
    buf_.append(num);
    append_escaped(buf_, referer);
    buf_.append("\" \"");
    append_escaped(buf_, user_agent);
    buf_.append("\"\n");
    if (buf_.size() >= 32 * 1024) {
        flush();
    } else if (!timer_.active()) {
        timer_ = loop_.add_timer(std::chrono::seconds(1), [this] { flush(); });
    }
}

void AccessLog::flush() noexcept {
    if (buf_.empty() || fd_.get() < 0) {
        buf_.clear();
        return;
    }
    ssize_t w = ::write(fd_.get(), buf_.data(), buf_.size());
    (void)w;  // a full disk loses access lines, never blocks serving
    buf_.clear();
}

} // namespace herald::http
