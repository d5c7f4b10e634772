// Error log: leveled, printf-style, thread-safe (each line is one write(2) to an O_APPEND
// fd). The target may be swapped at runtime (reload, USR1 reopen) from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace herald {
// Severity of a log line; the config's error_log level is one of these.
enum class LogLevel : std::uint8_t { debug, info, notice, warn, error };
} // namespace herald

namespace herald::log {

// Current threshold; lines below it are skipped cheaply.
LogLevel level() noexcept;
void set_level(LogLevel lv) noexcept;

// Directs the log to path ("stderr" = standard error). Returns an error (and keeps the old
// target) if the file cannot be opened.
[[nodiscard]] std::error_code open(const std::string& path);
// Reopens the current path (USR1 after logrotate moved the file).
[[nodiscard]] std::error_code reopen();
// The current target as given to open() ("stderr" until a file is opened). Read it on the
// thread that calls open() (the main thread): the string is not guarded against a swap.
const std::string& path() noexcept;

void write(LogLevel lv, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// A value from a client or a token made safe to quote in a log line: at most max_quoted bytes,
// control characters, bytes >= 0x7f and '"' as '?' (so it cannot forge or break a line).
inline constexpr std::size_t max_quoted = 64;
std::string quoted(std::string_view s);

} // namespace herald::log

namespace herald {
inline bool log_enabled(LogLevel lv) noexcept { return lv >= log::level(); }
} // namespace herald

#define HERALD_LOG(lv, ...)                                                                        \
    do {                                                                                           \
        if (::herald::log_enabled(lv)) ::herald::log::write(lv, __VA_ARGS__);                      \
    } while (0)
#define HERALD_DEBUG(...) HERALD_LOG(::herald::LogLevel::debug, __VA_ARGS__)
#define HERALD_INFO(...) HERALD_LOG(::herald::LogLevel::info, __VA_ARGS__)
#define HERALD_NOTICE(...) HERALD_LOG(::herald::LogLevel::notice, __VA_ARGS__)
#define HERALD_WARN(...) HERALD_LOG(::herald::LogLevel::warn, __VA_ARGS__)
#define HERALD_ERROR(...) HERALD_LOG(::herald::LogLevel::error, __VA_ARGS__)
