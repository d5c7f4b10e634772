// sd_notify(3) by hand: one datagram on $NOTIFY_SOCKET.
#include "app/notify.hpp"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/unique_fd.hpp"

namespace herald::app {

std::error_code notify_service_manager(std::string_view state) {
    const char* name = std::getenv("NOTIFY_SOCKET"); // NOLINT(concurrency-mt-unsafe): main thread
    if (!name || !*name) return {};
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::size_t len = std::strlen(name);
    if ((name[0] != '/' && name[0] != '@') || len >= sizeof addr.sun_path)
        return std::make_error_code(std::errc::invalid_argument);
    std::memcpy(addr.sun_path, name, len);
    if (name[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace (Linux)
    // An abstract name's length is exact (no terminating NUL); a path's includes it.
    const auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len +
                                                 (name[0] == '@' ? 0 : 1));
    // Closed before this thread could fork: no close-on-exec needed (nor portable here).
    UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM, 0));
    if (!fd) return {errno, std::generic_category()};
    if (::sendto(fd.get(), state.data(), state.size(), 0,
                 reinterpret_cast<const sockaddr*>(&addr), addr_len) < 0)
        return {errno, std::generic_category()};
    return {};
}

std::string reloading_state() {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count();
    return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(us);
}

} // namespace herald::app
