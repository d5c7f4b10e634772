// Poller: the readiness backend interface (epoll or kqueue, chosen by the Makefile).
// Level-triggered. One ReadyEvent per fd per wait(). Only the owning loop's thread may
// call anything here except wake(), which any thread may call. A Poller does not own the
// fds it watches: remove() them before closing them.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <system_error>

namespace herald {

enum class Interest : std::uint8_t { none = 0, read = 1, write = 2, read_write = 3 };

constexpr bool wants_read(Interest i) noexcept { return (static_cast<int>(i) & 1) != 0; }
constexpr bool wants_write(Interest i) noexcept { return (static_cast<int>(i) & 2) != 0; }

// readable/writable are only reported for the interest asked for. hangup means the peer
// shut down (read interest: peer closed or shut its write side; write interest: the
// connection can no longer send) or the socket has an error; a read still drains the
// remaining bytes first.
struct ReadyEvent {
    std::uint64_t token;   // as given to add()/modify()
    bool readable, writable, hangup;
};

class Poller {
public:
    virtual ~Poller() = default;
    // add(): EEXIST if fd is already added, EBADF for a bad fd. modify(): ENOENT if fd was
    // not added. Interest::none keeps fd known but reports nothing for it, not even hangup.
    [[nodiscard]] virtual std::error_code add(int fd, Interest in, std::uint64_t token) = 0;
    [[nodiscard]] virtual std::error_code modify(int fd, Interest in, std::uint64_t token) = 0;
    virtual void remove(int fd) noexcept = 0;  // unknown fds are ignored
    // Waits up to timeout_ms (-1 = no limit). One entry per fd; EINTR or a wake() gives an
    // empty span (the wake-up itself is consumed here, never reported). The span stays valid
    // until the next wait(). Any failure other than EINTR is fatal (logged, then abort).
    virtual std::span<const ReadyEvent> wait(int timeout_ms) = 0;
    // Thread-safe: makes a concurrent or the next wait() return promptly.
    virtual void wake() noexcept = 0;

    // The backend the Makefile linked in (epoll on Linux, kqueue elsewhere). Throws
    // std::system_error if the kernel object cannot be created (startup only).
    static std::unique_ptr<Poller> create();
};

} // namespace herald
