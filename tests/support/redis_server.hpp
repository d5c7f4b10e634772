// Test support: a real redis-server started by a test on a free loopback port, in its own
// temporary directory and process group, with no persistence. Every server started is
// recorded in a process-wide table so that a suite's .fini (kill_redis_servers) stops it even
// when a failed assertion skipped the test's destructors; on Linux the server also gets
// SIGKILL if the test process dies (PR_SET_PDEATHSIG), e.g. on a Criterion timeout.
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace herald::test {

struct SpawnedRedis {
    pid_t pid = 0; // also the process group id
    char dir[64] = {};
};
inline SpawnedRedis spawned_redis[16];

// Kills every server still running and removes its directory. Safe to call twice.
inline void kill_redis_servers() {
    for (SpawnedRedis& s : spawned_redis) {
        if (s.pid > 0) {
            ::kill(-s.pid, SIGKILL);
            ::kill(-s.pid, SIGCONT);
            ::waitpid(s.pid, nullptr, 0);
            s.pid = 0;
        }
        if (s.dir[0] != '\0') {
            for (const char* f : {"/redis.log", "/nodes.conf"})
                ::unlink((std::string(s.dir) + f).c_str());
            ::rmdir(s.dir);
            s.dir[0] = '\0';
        }
    }
}

// A loopback port that was free a moment ago (bound to port 0, read back, closed).
inline std::uint16_t free_loopback_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

// One redis-server. Methods return an empty string on success or what went wrong (the test
// asserts on it). Not copyable; its table entry is cleared by stop().
class RedisServer {
public:
    explicit RedisServer(std::vector<std::string> extra_args = {})
        : extra_(std::move(extra_args)), port_(free_loopback_port()) {
        for (std::size_t i = 0; i < std::size(spawned_redis); ++i)
            if (spawned_redis[i].pid == 0 && spawned_redis[i].dir[0] == '\0') {
                slot_ = i;
                break;
            }
        std::snprintf(spawned_redis[slot_].dir, sizeof spawned_redis[slot_].dir,
                      "/tmp/herald-redis-XXXXXX");
        if (::mkdtemp(spawned_redis[slot_].dir) == nullptr)
            spawned_redis[slot_].dir[0] = '\0';
    }
    ~RedisServer() {
        kill();
        SpawnedRedis& s = spawned_redis[slot_];
        if (s.dir[0] != '\0') {
            ::unlink(log_path().c_str());
            ::unlink((dir() + "/nodes.conf").c_str()); // a cluster node's (cluster-config-file)
            ::rmdir(s.dir);
            s.dir[0] = '\0';
        }
    }
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    std::uint16_t port() const noexcept { return port_; }
    pid_t pid() const noexcept { return spawned_redis[slot_].pid; }
    std::string dir() const { return spawned_redis[slot_].dir; }
    std::string log_path() const { return dir() + "/redis.log"; }
    std::string log() const {
        std::ifstream f(log_path());
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
    }

    // Starts the server (again, on the same port) and waits until it accepts connections.
    std::string start() {
        if (dir().empty())
            return "mkdtemp failed";
        const std::string port = std::to_string(port_);
        std::vector<std::string> args = {"redis-server", "--port",      port,  "--bind",
                                         "127.0.0.1",    "--save",      "",    "--appendonly",
                                         "no",           "--dir",       dir(), "--logfile",
                                         log_path(),     "--daemonize", "no"};
        args.insert(args.end(), extra_.begin(), extra_.end());
        std::vector<char*> argv;
        for (std::string& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        const pid_t parent = ::getpid();
        const pid_t pid = ::fork();
        if (pid < 0)
            return std::string("fork: ") + std::strerror(errno);
        if (pid == 0) {
            ::setpgid(0, 0);
#if defined(__linux__)
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
            if (::getppid() != parent)
                ::_exit(1);
            ::execvp("redis-server", argv.data());
            ::_exit(127);
        }
        ::setpgid(pid, pid);
        spawned_redis[slot_].pid = pid;
        // Ready when a connection is accepted; bounded to 10 s.
        for (int i = 0; i < 1000; ++i) {
            int status = 0;
            if (::waitpid(pid, &status, WNOHANG) == pid) {
                spawned_redis[slot_].pid = 0;
                if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                    return "redis-server not found: install redis-server (tools/deps.sh test)";
                return "redis-server exited at start; log:\n" + log();
            }
            if (accepts())
                return "";
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return "redis-server did not accept connections within 10 s; log:\n" + log();
    }

    // SIGKILL and reap (the port is free again when it returns).
    void kill() {
        SpawnedRedis& s = spawned_redis[slot_];
        if (s.pid <= 0)
            return;
        ::kill(-s.pid, SIGKILL);
        ::kill(-s.pid, SIGCONT);
        ::waitpid(s.pid, nullptr, 0);
        s.pid = 0;
    }
    void pause() {
        if (pid() > 0)
            ::kill(-pid(), SIGSTOP);
    }
    void resume() {
        if (pid() > 0)
            ::kill(-pid(), SIGCONT);
    }

private:
    bool accepts() const {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(port_);
        const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(fd);
        return ok;
    }

    std::vector<std::string> extra_;
    std::uint16_t port_;
    std::size_t slot_ = 0;
};

} // namespace herald::test
