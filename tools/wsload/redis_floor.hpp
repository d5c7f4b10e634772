// wsload: the Redis floor (--redis-floor PORT). Part of the single-TU wsload build.
// The least a push server whose nodes share channels through Redis asks of Redis per published
// message: one command from the publishing node and one pub/sub copy to each node. Alongside the
// subscribe mode's own publisher (at the same rate over the same window, on a thread of its
// own, with the same subscribers loading the machine), this sends `PUBLISH floor <SIZE bytes>`
// on one connection to a redis-server that `nodes` other connections follow (standing for the
// nodes' pub/sub links), and waits for the reply and every copy before the next one. Storing
// the message (history, ids) can only add to what Redis spends on it, so redis-server's CPU per
// message here (its PID among --cpu-pid) is the floor of any such design under the same load.
// Blocking sockets on a thread of its own.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "worker_io.hpp"  // mono_ns, Shared

namespace wsload {

class RedisFloor {
public:
    RedisFloor(int port, unsigned nodes, std::size_t size) {
        for (unsigned i = 0; i < nodes && ok_; ++i) {
            const int fd = dial(port);
            subs_.push_back(fd);
            static constexpr char sub[] = "*2\r\n$9\r\nSUBSCRIBE\r\n$5\r\nfloor\r\n";
            static constexpr char subbed[] = "*3\r\n$9\r\nsubscribe\r\n$5\r\nfloor\r\n:1\r\n";
            ok_ = ok_ && send_all(fd, sub) && expect(fd, subbed);
        }
        if (ok_) pub_ = dial(port);
        const std::string payload(size, 'x');
        cmd_ = "*3\r\n$7\r\nPUBLISH\r\n$5\r\nfloor\r\n$" + std::to_string(size) + "\r\n" + payload + "\r\n";
        reply_ = ":" + std::to_string(nodes) + "\r\n";
        copy_ = "*3\r\n$7\r\nmessage\r\n$5\r\nfloor\r\n$" + std::to_string(size) + "\r\n" + payload + "\r\n";
    }
    ~RedisFloor() {
        if (thread_.joinable()) thread_.join();
        for (int fd : subs_) ::close(fd);
        if (pub_ >= 0) ::close(pub_);
    }
    RedisFloor(const RedisFloor&) = delete;
    RedisFloor& operator=(const RedisFloor&) = delete;

    bool ready() const noexcept { return ok_; }

    // Publishes at `rate` from the moment the main thread says go (sh.start_ns) for `seconds`.
    void start(const Shared& sh, double rate, double seconds) {
        thread_ = std::thread([this, &sh, rate, seconds] {
            std::int64_t t0;
            while ((t0 = sh.start_ns.load(std::memory_order_acquire)) == 0) {
                if (sh.stop.load()) return;
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            const auto total = static_cast<std::uint64_t>(rate * seconds + 0.5);
            for (std::uint64_t n = 0; n < total && ok_ && !sh.stop.load(); ++n) {
                const std::int64_t due = t0 + static_cast<std::int64_t>(static_cast<double>(n) * 1e9 / rate);
                const std::int64_t wait = due - mono_ns();
                if (wait > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
                ok_ = send_all(pub_, cmd_) && expect(pub_, reply_);
                for (int fd : subs_) ok_ = ok_ && expect(fd, copy_);
                if (ok_) published_.fetch_add(1);
            }
        });
    }
    void join() {
        if (thread_.joinable()) thread_.join();
    }
    std::uint64_t published() const noexcept { return published_.load(); }
    bool failed() const noexcept { return !ok_; }

private:
    int dial(int port) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            std::fprintf(stderr, "wsload: redis floor: connect to port %d: %s\n", port, std::strerror(errno));
            ok_ = false;
            return fd;
        }
        const int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        const timeval limit{5, 0};  // a redis-server that stops answering ends the floor
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
        return fd;
    }
    static bool send_all(int fd, std::string_view s) {
        while (!s.empty()) {
            const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            s.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }
    // Reads exactly want.size() bytes and checks they are `want` (every reply and copy is
    // known byte for byte).
    bool expect(int fd, std::string_view want) {
        buf_.resize(want.size());
        std::size_t got = 0;
        while (got < want.size()) {
            const ssize_t n = ::recv(fd, buf_.data() + got, want.size() - got, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                std::fprintf(stderr, "wsload: redis floor: %s\n",
                             n == 0 ? "connection closed" : std::strerror(errno));
                return false;
            }
            got += static_cast<std::size_t>(n);
        }
        if (std::memcmp(buf_.data(), want.data(), want.size()) != 0) {
            std::fprintf(stderr, "wsload: redis floor: unexpected reply %.*s\n",
                         static_cast<int>(std::min<std::size_t>(got, 60)), buf_.data());
            return false;
        }
        return true;
    }

    std::vector<int> subs_;
    int pub_ = -1;
    std::string cmd_, reply_, copy_;
    std::vector<char> buf_;
    std::atomic<bool> ok_{true};
    std::atomic<std::uint64_t> published_{0};
    std::thread thread_;
};

} // namespace wsload
