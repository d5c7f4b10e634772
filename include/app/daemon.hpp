// Process management: default config path, daemonizing, the pid file, privilege drop, and
// `herald -s SIGNAL`. Main thread only.
#pragma once

#include <string>
#include <system_error>

#include "config/config.hpp"
#include "core/unique_fd.hpp"

namespace herald::app {

// The config used without -c ("conf/herald.conf"; the .deb build sets /etc/herald/herald.conf).
const char* default_config_path() noexcept;

// Owns the pid file for the life of the process. The pid file is also a lock: the running
// herald holds flock(LOCK_EX) on it, so a second instance, and `herald -s`, can tell a live pid
// file from a stale one even when the file could not be removed (after a privilege drop the
// process may not unlink in a root-owned /run).
//
// after_bind() runs once the listening sockets are bound and the logs are open, before any
// thread is started: it checks `user`, locks the pid file (refusing to start if a running
// herald holds it), daemonizes when `daemon on` (the shell's process exits only once the
// daemon is ready, with status 1 if it failed), writes the pid, drops to `user`, and in daemon
// mode points stdin/stdout (and stderr unless it is the error log) at /dev/null. Throws
// std::runtime_error with a clear message on failure. The destructor removes the pid file, or
// empties it when it cannot, unless the file names another process (an upgrade's new one).
class Process {
public:
    explicit Process(const config::Config& cfg) : cfg_(cfg), pid_path_(cfg.pid_file) {}
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    void after_bind();
    // after_bind() for the new process of an upgrade: it takes the old one's pid file, still
    // locked (pid_fd invalid: there was none), and neither locks, writes nor daemonizes (the
    // old process was already detached, and names this one in the file when it lets go).
    void after_handover(UniqueFd pid_fd, const std::string& pid_path);
    // The old process of an upgrade lets go: the pid file names `pid` from now on, written over
    // the old content in one write and then cut to its length, so a reader sees one pid or the
    // other, never an empty file. The lock stays with the file, which both processes share.
    [[nodiscard]] std::error_code hand_over(long pid);
    // The pid file as an upgrade hands it over: its path and locked descriptor (-1: none).
    const std::string& pid_path() const noexcept { return pid_path_; }
    int pid_fd() const noexcept { return pid_fd_.get(); }

private:
    void lock_pid_file();
    void write_pid();

    const config::Config& cfg_;
    std::string pid_path_;   // cfg.pid_file, or the one an upgrade handed over
    UniqueFd pid_fd_;        // open and flock()ed while we run; -1 when `pid` is unset
    UniqueFd ready_fd_;      // daemon mode: write end of the pipe the shell's process waits on
};

// The start-up checks that need no socket (`herald -t` runs them too): as root, a `user` line
// must be present and name an existing user (and group). Throws std::runtime_error with the
// same message a start would give.
void check_identity(const config::Config& cfg);

// `herald -s reload|stop|quit|reopen|upgrade`: HUP/TERM/QUIT/USR1/USR2 to the pid in
// cfg.pid_file.
// Returns the process exit code (0 ok, 1 error with a message on stderr: no pid file, a stale
// one, or kill() failing).
int send_signal(const config::Config& cfg, const std::string& name);

} // namespace herald::app
