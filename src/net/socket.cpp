// Socket helpers. The #ifdefs here wrap the small OS differences (accept4, MSG_MORE,
// sendfile, SIGPIPE, TCP_NOTSENT_LOWAT, MSG_CMSG_CLOEXEC) so the rest of herald is portable POSIX.
#include "net/socket.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/sendfile.h>
#endif

namespace herald::net {
namespace {
std::error_code last_error() { return {errno, std::generic_category()}; }
} // namespace

std::string Address::host_string() const {
    char buf[INET6_ADDRSTRLEN] = "?";
    if (storage.sa.sa_family == AF_INET) {
        ::inet_ntop(AF_INET, &storage.v4.sin_addr, buf, sizeof buf);
    } else if (storage.sa.sa_family == AF_INET6) {
        ::inet_ntop(AF_INET6, &storage.v6.sin6_addr, buf, sizeof buf);
    }
    return buf;
}

std::uint16_t Address::port() const noexcept {
    if (storage.sa.sa_family == AF_INET)
        return ntohs(storage.v4.sin_port);
    if (storage.sa.sa_family == AF_INET6)
        return ntohs(storage.v6.sin6_port);
    return 0;
}

std::string Address::to_string() const {
    std::string host = host_string();
    if (storage.sa.sa_family == AF_INET6) host = "[" + host + "]";
    return host + ":" + std::to_string(port());
}

void Address::to_v6_bytes(std::uint8_t out[16]) const noexcept {
    std::memset(out, 0, 16);
    if (storage.sa.sa_family == AF_INET) {
        out[10] = out[11] = 0xff;
        std::memcpy(out + 12, &storage.v4.sin_addr, 4);
    } else if (storage.sa.sa_family == AF_INET6) {
        std::memcpy(out, &storage.v6.sin6_addr, 16);
    }
}

std::error_code make_address(const std::string& host, std::uint16_t port, Address& out) {
    out = Address{};
    sockaddr_in* v4 = &out.storage.v4;
    if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        out.length = sizeof(sockaddr_in);
        return {};
    }
    sockaddr_in6* v6 = &out.storage.v6;
    if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        out.length = sizeof(sockaddr_in6);
        return {};
    }
    return std::make_error_code(std::errc::invalid_argument);
}

UniqueFd listen_on(const Address& addr, int backlog, std::error_code& ec) {
    UniqueFd fd(::socket(addr.storage.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        ec = last_error();
        return {};
    }
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (addr.storage.sa.sa_family == AF_INET6)
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (::bind(fd.get(), &addr.storage.sa, addr.length) != 0 ||
        ::listen(fd.get(), backlog) != 0) {
        ec = last_error();
        return {};
    }
    ec.clear();
    return fd;
}

Address local_address(int fd, std::error_code& ec) {
    Address a;
    a.length = sizeof a.storage;
    if (::getsockname(fd, &a.storage.sa, &a.length) != 0)
        ec = last_error();
    return a;
}

UniqueFd accept_connection(int listen_fd, Address& peer, std::error_code& ec) {
    peer.length = sizeof peer.storage;
#if defined(__linux__) || defined(__FreeBSD__)
    int fd = ::accept4(listen_fd, &peer.storage.sa, &peer.length,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        ec = last_error();
        return {};
    }
#else
    int fd = ::accept(listen_fd, &peer.storage.sa, &peer.length);
    if (fd < 0) {
        ec = last_error();
        return {};
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
    ec.clear();
    return UniqueFd(fd);
}

UniqueFd connect_to(const Address& addr, std::error_code& ec) {
    UniqueFd fd(::socket(addr.storage.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        ec = last_error();
        return {};
    }
    if (::connect(fd.get(), &addr.storage.sa, addr.length) != 0 && errno != EINPROGRESS) {
        ec = last_error();
        return {};
    }
    ec.clear();
    return fd;
}

std::error_code connect_result(int fd) noexcept {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return last_error();
    return {err, std::generic_category()};
}

void set_nodelay(int fd) noexcept {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void limit_unsent(int fd) noexcept {
#if defined(TCP_NOTSENT_LOWAT)
    int bytes = max_unsent_bytes;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &bytes, sizeof bytes);
#else
    (void)fd;
#endif
}

void ignore_sigpipe() noexcept { ::signal(SIGPIPE, SIG_IGN); }

ssize_t write_vec(int fd, const iovec* iov, int iovcnt, bool more) noexcept {
    int flags = 0;
#if defined(MSG_NOSIGNAL)
    flags |= MSG_NOSIGNAL;
#endif
#if defined(MSG_MORE)
    if (more) flags |= MSG_MORE;
#else
    (void)more;
#endif
    // One buffer (a run of replies appended into one chunk): send(2), without the msghdr.
    if (iovcnt == 1) return ::send(fd, iov[0].iov_base, iov[0].iov_len, flags);
    msghdr msg{};
    msg.msg_iov = const_cast<iovec*>(iov);
    msg.msg_iovlen = static_cast<decltype(msg.msg_iovlen)>(iovcnt);
    return ::sendmsg(fd, &msg, flags);
}

ssize_t send_file(int out_fd, int in_fd, off_t* offset, std::size_t count) noexcept {
#if defined(__linux__)
    return ::sendfile(out_fd, in_fd, offset, count);
#elif defined(__FreeBSD__)
    off_t sent = 0;
    int rc = ::sendfile(in_fd, out_fd, *offset, count, nullptr, &sent, 0);
    *offset += sent;
    if (rc != 0 && sent == 0) return -1;
    return sent;
#elif defined(__APPLE__)
    off_t len = static_cast<off_t>(count);
    int rc = ::sendfile(in_fd, out_fd, *offset, &len, nullptr, 0);
    *offset += len;
    if (rc != 0 && len == 0) return -1;
    return len;
#else
    char buf[16384];
    ssize_t n = ::pread(in_fd, buf, count < sizeof buf ? count : sizeof buf, *offset);
    if (n <= 0) return n;
    ssize_t w = ::write(out_fd, buf, static_cast<std::size_t>(n));
    if (w > 0) *offset += w;
    return w;
#endif
}

namespace {

// Room for the most descriptors one message may carry.
union FdControl {
    cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(int) * max_passed_fds)];
};

} // namespace

std::error_code send_with_fds(int sock, std::string_view bytes, std::span<const int> fds) {
    if (bytes.empty() || fds.size() > max_passed_fds)
        return std::make_error_code(std::errc::invalid_argument);
    FdControl control{};
    iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (!fds.empty()) {
        msg.msg_control = control.bytes;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    // A peer that is gone is an error (EPIPE), never SIGPIPE, also where SIGPIPE is not ignored.
    int flags = 0;
#if defined(MSG_NOSIGNAL)
    flags |= MSG_NOSIGNAL;
#endif
    ssize_t n;
    do n = ::sendmsg(sock, &msg, flags);
    while (n < 0 && errno == EINTR);
    if (n < 0) return {errno, std::generic_category()};
    // The descriptors went with the first byte; the rest, if the socket took only part of it.
    for (auto done = static_cast<std::size_t>(n); done < bytes.size();) {
        ssize_t m = ::send(sock, bytes.data() + done, bytes.size() - done, flags);
        if (m < 0 && errno == EINTR) continue;
        if (m < 0) return {errno, std::generic_category()};
        done += static_cast<std::size_t>(m);
    }
    return {};
}

ssize_t receive_with_fds(int sock, std::span<char> buf, std::vector<UniqueFd>& fds,
                         std::error_code& ec) {
    FdControl control{};
    iovec iov{buf.data(), buf.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes;
    msg.msg_controllen = sizeof control.bytes;
#if defined(MSG_CMSG_CLOEXEC)
    const int flags = MSG_CMSG_CLOEXEC;
#else
    const int flags = 0;
#endif
    ssize_t n;
    do n = ::recvmsg(sock, &msg, flags);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        ec.assign(errno, std::generic_category());
        return -1;
    }
    ec.clear();
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
#if !defined(MSG_CMSG_CLOEXEC)
            ::fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
            fds.emplace_back(fd);
        }
    }
    if (msg.msg_flags & MSG_CTRUNC) ec = std::make_error_code(std::errc::message_size);
    return n;
}

} // namespace herald::net
