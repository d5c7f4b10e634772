// AccessLog: nginx "combined" lines, buffered per worker and written when the buffer passes
// 32 KiB or once a second (not one write per request). One per worker; loop thread only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/unique_fd.hpp"
#include "event/event_loop.hpp"

namespace herald::http {

class AccessLog {
public:
    explicit AccessLog(EventLoop& loop) : loop_(loop) {}
    ~AccessLog() { flush(); }

    // Opens path for appending ("" = off). Reopening the same path after a rotation creates
    // the new file.
    [[nodiscard]] std::error_code open(const std::string& path);
    bool enabled() const noexcept { return fd_.get() >= 0; }
    // remote "-" "-" [time] "request line" status bytes "referer" "user agent"
    void write(std::string_view remote, std::string_view request_line, int status,
               std::uint64_t bytes, std::string_view referer, std::string_view user_agent);
    void flush() noexcept;

private:
    EventLoop& loop_;
    UniqueFd fd_;
    std::string path_;
    std::string buf_;
    Timer timer_;
};

} // namespace herald::http
