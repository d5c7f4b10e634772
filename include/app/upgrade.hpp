// Replacing the running binary without refusing a connection (`herald -s upgrade`, SIGUSR2):
// the old process starts the binary at its own path with its own command line, handing it one
// end of a Unix socket (named by HERALD_UPGRADE_FD), then its listening sockets and its locked
// pid file over it (app/handover.hpp records, SCM_RIGHTS). The new process loads its config,
// takes the sockets, starts serving and confirms; only then does the old one let go. Main
// thread only, on both sides.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <sys/types.h>

#include "core/clock.hpp"
#include "core/unique_fd.hpp"
#include "event/event_loop.hpp"
#include "net/live_state.hpp"
#include "push/broker.hpp"

namespace herald::app {

// How long the new process has to confirm that it serves (config load, taking the sockets,
// starting its workers), and how long the old one gives its records to arrive.
inline constexpr Duration upgrade_confirm_timeout{30'000};
inline constexpr Duration handover_receive_timeout{10'000};

// The absolute path argv[0] names, without resolving symlinks: after a package upgrade the
// path names the new binary while the running one's inode is gone. A relative name is made
// absolute against the working directory, a bare one looked up in PATH as execvp(3) would.
// Empty if it cannot be found. Call at start, before anything changes the working directory.
std::string executable_path(const char* argv0);

// One listen key's sockets as the old process hands them over (it keeps its own copies).
struct ListenSockets {
    std::string key;
    std::vector<int> fds;  // not owned
};

// The old side's records on `sock`: the listeners (at most max_handover_fds sockets per
// record, several records for a key with more), the pid file (pid_fd -1: none), the memory
// broker's channels (a `channel` record, then one `message` record per buffered message;
// a message too large for a record is not sent, nor are the older ones of its channel),
// then `end`. Blocking: the listeners are small (a socketpair took 278 records before it
// would block, measured on Linux with the default wmem_default of 212992); channels may be
// large, and the new process reads them as they come.
[[nodiscard]] std::error_code send_handover(int sock, const std::vector<ListenSockets>& listens,
                                            const std::string& pid_path, int pid_fd,
                                            const std::vector<push::ChannelSnapshot>& channels = {});

// The old side of one upgrade: owns the new process until it confirms or fails. start()
// forks and execs it, then sends the records (blocking; they are small) and watches the socket
// on `loop`. Exactly one callback runs, once: ready(pid) when the new process confirms, or
// failed(why) once a process that exited, closed the socket, sent garbage or missed
// confirm_timeout has been reaped (killed first if needed). The owner may destroy this
// object only after its callback returned (defer it); destroying it earlier kills and reaps
// the new process.
class UpgradeChild final : public IoHandler {
public:
    struct Callbacks {
        std::function<void(pid_t)> ready;
        std::function<void(const std::string&)> failed;
    };
    // Returns nullptr with `error` set when the process could not be started at all.
    static std::unique_ptr<UpgradeChild> start(EventLoop& loop, const std::string& exe,
                                               const std::vector<std::string>& args,
                                               const std::vector<ListenSockets>& listens,
                                               const std::string& pid_path, int pid_fd,
                                               const std::vector<push::ChannelSnapshot>& channels,
                                               Callbacks cb, std::string& error,
                                               Duration confirm_timeout = upgrade_confirm_timeout);
    UpgradeChild(EventLoop& loop, pid_t child, UniqueFd channel, Callbacks cb,
                 Duration confirm_timeout);
    ~UpgradeChild();
    UpgradeChild(const UpgradeChild&) = delete;
    UpgradeChild& operator=(const UpgradeChild&) = delete;

    pid_t pid() const noexcept { return pid_; }
    void on_ready(const ReadyEvent& ev) noexcept override;
    // After ready: the upgrade socket (blocking again), to hand over the live connections
    // (send_connection, then send_end). Invalid if already taken or failed.
    UniqueFd take_channel() noexcept;

private:
    // Stops listening to the process and reaps it (SIGKILL now, or after reap_grace), then
    // reports `why` with how it ended.
    void fail(std::string why, bool kill_now = false) noexcept;
    void reap() noexcept;

    EventLoop& loop_;
    pid_t pid_;
    bool reaped_ = false;
    bool done_ = false;  // a callback ran
    UniqueFd channel_;
    Watch watch_;
    Timer timer_;          // confirm deadline, then the reaping poll
    Clock::time_point kill_at_{};
    std::string in_;       // bytes read, not yet decoded
    std::string why_;      // the failure being reported once reaped
    Callbacks cb_;
};

// A channel as the new process receives it, for push::LocalBroker::adopt().
struct HandedChannel {
    std::string name;
    std::uint64_t epoch = 0;
    std::uint64_t last_id = 0;
    std::vector<std::shared_ptr<push::Message>> messages;  // oldest first, ids contiguous
    std::uint32_t expected = 0;                            // message records still to come
};

// What the new process receives.
struct Handover {
    std::vector<std::pair<std::string, std::vector<UniqueFd>>> listeners;  // in the order sent
    std::string pid_path;
    UniqueFd pid_fd;     // the old process's pid file, locked; invalid if it had none
    long from = 0;       // the old process's pid
    std::vector<HandedChannel> channels;  // the memory broker's, in the order sent
    UniqueFd channel;    // to confirm on
};

// The socket HERALD_UPGRADE_FD names (the variable is then removed, so it is not inherited
// further), or an invalid fd when this process was not started by an upgrade. Throws
// std::runtime_error if the variable does not name an open socket.
UniqueFd take_handover_channel();

// Reads the old process's records until its `end` record (blocking, each read bounded by
// `timeout`). Throws std::runtime_error saying what went wrong.
Handover receive_handover(UniqueFd channel, Duration timeout = handover_receive_timeout);

// Tells the old process that this one serves (the `ready` record). h.channel stays open for
// the live connections that follow (ConnectionReceiver); it is closed if the send failed.
[[nodiscard]] std::error_code confirm_handover(Handover& h);

// ---- Live connections, after `ready` (version 3) ----
// The old side: whether the new process still reads the socket (a version-2 binary closes it
// after `ready`: its connections are then ended the graceful way instead).
bool peer_still_reads(int sock) noexcept;
// One `connection` record with its socket (blocking, bounded by the socket's SO_SNDTIMEO).
[[nodiscard]] std::error_code send_connection(int sock, net::LiveState&& st, int fd);
// The second `end`: every connection was sent.
[[nodiscard]] std::error_code send_end(int sock);

// The new side: reads `connection` records on `loop` (non-blocking) and gives each, with its
// socket, to `taken`; at the `end` record, end of stream or a bad record, calls done(count,
// why) once (why empty after `end`) and closes the socket. Main thread.
class ConnectionReceiver final : public IoHandler {
public:
    using Taken = std::function<void(UniqueFd, net::LiveState&&)>;
    ConnectionReceiver(EventLoop& loop, UniqueFd channel, Taken taken,
                       std::function<void(std::size_t, const std::string&)> done);
    void on_ready(const ReadyEvent& ev) noexcept override;
    bool done() const noexcept { return !channel_; }

private:
    void finish(const std::string& why) noexcept;

    UniqueFd channel_;
    Watch watch_;
    std::string in_;
    std::vector<UniqueFd> arrived_;
    std::size_t count_ = 0;
    Taken taken_;
    std::function<void(std::size_t, const std::string&)> done_;
};

} // namespace herald::app
