// Socket helpers: listening sockets, accept, options, scatter/gather and sendfile writes.
// src/net/socket.cpp is the one file outside the pollers allowed #ifdefs for OS differences.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "core/unique_fd.hpp"

namespace herald::net {

// A numeric socket address (IPv4 or IPv6).
struct Address {
    // TCP over IPv4 or IPv6 only, so room for a sockaddr_in6 is enough: 28 bytes instead of
    // sockaddr_storage's 128, and every connection keeps its peer's address.
    union Storage {
        sockaddr sa;
        sockaddr_in v4;
        sockaddr_in6 v6;
    } storage{};
    socklen_t length = 0;

    std::string to_string() const;      // "127.0.0.1:8080", "[::1]:8080"
    std::string host_string() const;    // "127.0.0.1", "::1"
    std::uint16_t port() const noexcept;
    // The address as 16 bytes (IPv4 mapped to ::ffff:a.b.c.d) for access rules.
    void to_v6_bytes(std::uint8_t out[16]) const noexcept;
};

// Parses a numeric host ("127.0.0.1", "::1", "0.0.0.0") and port into an Address.
[[nodiscard]] std::error_code make_address(const std::string& host, std::uint16_t port,
                                           Address& out);

// A non-blocking, close-on-exec listening socket with SO_REUSEADDR and SO_REUSEPORT, bound
// and listening with the given backlog.
UniqueFd listen_on(const Address& addr, int backlog, std::error_code& ec);

// The address a socket is bound to.
Address local_address(int fd, std::error_code& ec);

// Accepts one connection, non-blocking and close-on-exec. Returns an invalid fd and sets ec
// (EAGAIN included) on failure; errno is captured right after the call.
UniqueFd accept_connection(int listen_fd, Address& peer, std::error_code& ec);

// Starts a non-blocking, close-on-exec TCP connect to a numeric address. Returns the fd with
// ec clear when the connect succeeded or is in progress (wait for writable, then read
// connect_result()); an invalid fd and ec on failure.
UniqueFd connect_to(const Address& addr, std::error_code& ec);

// The outcome of a non-blocking connect once the socket is writable (SO_ERROR).
std::error_code connect_result(int fd) noexcept;

void set_nodelay(int fd) noexcept;

// Caps the bytes the kernel keeps queued but not yet sent on a connection (TCP_NOTSENT_LOWAT
// where the OS has it: Linux, macOS). Without it, send-buffer autotuning lets a peer that
// stops reading absorb megabytes in the kernel (about 4 MiB on Linux), out of reach of
// output_queue_limit / ws_max_queue: the backlog of a slow reader must pile up in herald's
// own queue, where the limits see it and drop the reader.
void limit_unsent(int fd) noexcept;
inline constexpr int max_unsent_bytes = 64 * 1024;

// Makes SIGPIPE harmless for the whole process (writes to a reset peer return EPIPE).
void ignore_sigpipe() noexcept;

// writev; with more=true the kernel is told more data follows at once (MSG_MORE where
// available), so a response head and its sendfile body leave in full segments.
// Returns bytes written or -1 with errno set.
ssize_t write_vec(int fd, const iovec* iov, int iovcnt, bool more) noexcept;

// sendfile(2) from in_fd at *offset, up to count bytes; advances *offset.
// Returns bytes sent or -1 with errno set (EAGAIN when the socket is full).
ssize_t send_file(int out_fd, int in_fd, off_t* offset, std::size_t count) noexcept;

// File descriptors over a Unix stream socket (SCM_RIGHTS), for handing sockets to another
// process. send_with_fds sends all of `bytes` (at least one byte) with `fds` attached to the
// first of them (the caller keeps its copies); it blocks as the socket does. Returns an error
// with errno captured right after the call.
inline constexpr std::size_t max_passed_fds = 253;  // per call (Linux's SCM_MAX_FD)
[[nodiscard]] std::error_code send_with_fds(int sock, std::string_view bytes,
                                            std::span<const int> fds);
// Reads up to buf.size() bytes; descriptors that arrive with them are appended to `fds`, owned and
// close-on-exec. Returns the bytes read, 0 at end of stream, or -1 with ec set (EAGAIN
// included). Descriptors the kernel had to drop (the message carried more than fit) set
// ec = EMSGSIZE.
ssize_t receive_with_fds(int sock, std::span<char> buf, std::vector<UniqueFd>& fds,
                         std::error_code& ec);

} // namespace herald::net
