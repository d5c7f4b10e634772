// Error log implementation: one formatted line, one write(2).
#include "core/log.hpp"

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <mutex>

#include <fcntl.h>
#include <pthread.h>
#include <sys/time.h>
#include <unistd.h>

namespace herald::log {
namespace {

std::atomic<LogLevel> g_level{LogLevel::notice};
std::atomic<int> g_fd{2};
std::mutex g_path_mutex;  // guards g_path and fd swaps (not the write path)
std::string g_path = "stderr";

const char* level_name(LogLevel lv) noexcept {
    switch (lv) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::notice: return "notice";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
    }
    return "?";
}

std::error_code open_fd(const std::string& path, int& fd) {
    if (path == "stderr") {
        fd = 2;
        return {};
    }
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return {errno, std::generic_category()};
    return {};
}

} // namespace

LogLevel level() noexcept { return g_level.load(std::memory_order_relaxed); }
void set_level(LogLevel lv) noexcept { g_level.store(lv, std::memory_order_relaxed); }

std::error_code open(const std::string& path) {
    int fd = -1;
    if (auto ec = open_fd(path, fd)) return ec;
    std::lock_guard lock(g_path_mutex);
    int old = g_fd.exchange(fd);
    // The old fd may still be used by a concurrent write() on another thread for one line;
    // closing it then only loses that line to EBADF, never corrupts memory.
    if (old > 2 && old != fd) ::close(old);
    g_path = path;
    return {};
}

std::error_code reopen() {
    std::string p;
    {
        std::lock_guard lock(g_path_mutex);
        p = g_path;
    }
    return open(p);
}

const std::string& path() noexcept { return g_path; }

void write(LogLevel lv, const char* fmt, ...) {
    char line[2048];
    struct timeval tv;
    ::gettimeofday(&tv, nullptr);
    struct tm tm;
    ::localtime_r(&tv.tv_sec, &tm);
    int n = std::snprintf(line, sizeof line, "%04d/%02d/%02d %02d:%02d:%02d [%s] %d: ",
                          tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                          tm.tm_sec, level_name(lv), static_cast<int>(::getpid()));
    if (n < 0) return;
    va_list ap;
    va_start(ap, fmt);
    int m = std::vsnprintf(line + n, sizeof line - static_cast<std::size_t>(n) - 1, fmt, ap);
    va_end(ap);
    std::size_t len = static_cast<std::size_t>(n) + (m < 0 ? 0 : static_cast<std::size_t>(m));
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = ::write(g_fd.load(std::memory_order_relaxed), line, len);
    (void)w; // nowhere to report a failing error log
}

std::string quoted(std::string_view s) {
    std::string out(s.substr(0, max_quoted));
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f ||
            c == '"')
            c = '?';
    return out;
}

} // namespace herald::log
