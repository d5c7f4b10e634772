// Unit tests for net/socket: numeric addresses (IPv4 and IPv6: text forms, port, the 16-byte
// form used by allow/deny) and a listen/connect/accept round trip over loopback.
#include <criterion/criterion.h>

#include <csignal>
#include <cstring>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/socket.hpp"

using namespace herald;
using namespace herald::net;

namespace {

void expect_str(const std::string& got, const std::string& want) {
    cr_expect(got == want, "got:  %s\nwant: %s", got.c_str(), want.c_str());
}

} // namespace

Test(socket, ipv4_address_forms, .timeout = 10.0) {
    Address a;
    cr_assert(!make_address("192.168.1.20", 8080, a));
    cr_expect_eq(a.length, sizeof(sockaddr_in));
    expect_str(a.host_string(), "192.168.1.20");
    expect_str(a.to_string(), "192.168.1.20:8080");
    cr_expect_eq(a.port(), 8080);
    std::uint8_t b[16];
    a.to_v6_bytes(b);
    const std::uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 20};
    cr_expect(std::memcmp(b, mapped, 16) == 0, "IPv4 maps to ::ffff:a.b.c.d");
}

Test(socket, ipv6_address_forms, .timeout = 10.0) {
    Address a;
    cr_assert(!make_address("2001:db8::1", 443, a));
    cr_expect_eq(a.length, sizeof(sockaddr_in6));
    expect_str(a.host_string(), "2001:db8::1");
    expect_str(a.to_string(), "[2001:db8::1]:443");
    cr_expect_eq(a.port(), 443);
    std::uint8_t b[16];
    a.to_v6_bytes(b);
    const std::uint8_t want[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    cr_expect(std::memcmp(b, want, 16) == 0);
    cr_assert(!make_address("::", 0, a));
    expect_str(a.to_string(), "[::]:0");
}

Test(socket, non_numeric_hosts_are_refused, .timeout = 10.0) {
    Address a;
    for (const char* bad : {"localhost", "", "1.2.3", "256.1.1.1", "[::1]", "::1%lo0x", "1.2.3.4 "})
        cr_expect(make_address(bad, 80, a) == std::errc::invalid_argument, "%s", bad);
}

Test(socket, the_address_fits_a_sockaddr_in6, .timeout = 10.0) {
    // Every connection keeps its peer's Address: no sockaddr_storage (128 bytes) in it.
    cr_expect_leq(sizeof(Address), sizeof(sockaddr_in6) + sizeof(socklen_t));
}

Test(socket, listen_connect_accept_round_trip, .timeout = 10.0) {
    Address any;
    cr_assert(!make_address("127.0.0.1", 0, any));
    std::error_code ec;
    UniqueFd lfd = listen_on(any, 16, ec);
    cr_assert(lfd && !ec, "listen_on: %s", ec.message().c_str());
    Address bound = local_address(lfd.get(), ec);
    cr_assert(!ec);
    cr_expect_neq(bound.port(), 0, "an ephemeral port was chosen");
    expect_str(bound.host_string(), "127.0.0.1");

    Address peer;
    UniqueFd none = accept_connection(lfd.get(), peer, ec);
    cr_expect(!none && ec == std::errc::resource_unavailable_try_again, "non-blocking accept");

    int c = ::socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(c >= 0);
    cr_assert(::connect(c, &bound.storage.sa, bound.length) == 0);
    sockaddr_in mine{};
    socklen_t mine_len = sizeof mine;
    cr_assert(::getsockname(c, reinterpret_cast<sockaddr*>(&mine), &mine_len) == 0);

    UniqueFd s = accept_connection(lfd.get(), peer, ec);
    cr_assert(s && !ec, "accept: %s", ec.message().c_str());
    expect_str(peer.host_string(), "127.0.0.1");
    cr_expect_eq(peer.port(), ntohs(mine.sin_port), "the peer is the client's own address");
    cr_expect_eq(peer.length, sizeof(sockaddr_in));
    ::close(c);
}

// Descriptors sent with a record arrive with its bytes, close-on-exec, and name the same open
// file (a pipe written through the received copy is read from the original).
Test(socket, descriptors_travel_with_their_bytes, .timeout = 10.0) {
    int sv[2], p[2];
    cr_assert_eq(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cr_assert_eq(::pipe(p), 0);
    UniqueFd a(sv[0]), b(sv[1]), rd(p[0]), wr(p[1]);
    const int fds[2] = {wr.get(), rd.get()};
    cr_assert(!send_with_fds(a.get(), "record", fds));
    cr_assert(!send_with_fds(a.get(), "tail", {}));
    cr_assert(send_with_fds(a.get(), "", {}) == std::errc::invalid_argument);
    char buf[64];
    std::vector<UniqueFd> got;
    std::error_code ec;
    std::string in;
    while (in.size() < 10) {
        ssize_t n = receive_with_fds(b.get(), buf, got, ec);
        cr_assert(n > 0 && !ec, "n=%zd %s", n, ec.message().c_str());
        in.append(buf, static_cast<std::size_t>(n));
    }
    cr_assert(in == "recordtail");
    cr_assert_eq(got.size(), 2U);
    cr_assert(::fcntl(got[0].get(), F_GETFD) & FD_CLOEXEC);
    cr_assert_eq(::write(got[0].get(), "x", 1), 1);
    char c = 0;
    cr_assert_eq(::read(rd.get(), &c, 1), 1);
    cr_assert_eq(c, 'x');
    a.reset();
    cr_assert_eq(receive_with_fds(b.get(), buf, got, ec), 0);  // end of stream
}

// A peer that went away is an EPIPE error, not a SIGPIPE that kills the sender: the upgrade's
// records go to a new process that may exit at once (a test runner does not ignore SIGPIPE).
Test(socket, send_with_fds_to_a_closed_peer_is_an_error, .timeout = 10.0) {
    ::signal(SIGPIPE, SIG_DFL);
    int sv[2];
    cr_assert_eq(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ::close(sv[1]);
    const std::error_code ec = herald::net::send_with_fds(sv[0], "record", {});
    cr_assert(ec == std::errc::broken_pipe, "%s", ec.message().c_str());
    ::close(sv[0]);
}
