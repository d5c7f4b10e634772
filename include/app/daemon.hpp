// Process management: default config path, daemonizing, the pid file, privilege drop, and
// `herald -s SIGNAL`. Main thread only.
#pragma once

#include <string>

#include "config/config.hpp"

namespace herald::app {

// The config used without -c ("conf/herald.conf"; the .deb build sets /etc/herald/herald.conf).
const char* default_config_path() noexcept;

// Owns the pid file for the life of the process. after_bind() runs once the listening sockets
// are bound: refuses to start if the pid file names a live process, daemonizes when
// `daemon on`, writes the pid file, and (as root) drops to `user`. The destructor removes the
// pid file. Throws std::runtime_error with a clear message on failure.
class Process {
public:
    explicit Process(const Config& cfg) : cfg_(cfg) {}
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    void after_bind();

private:
    const Config& cfg_;
    bool wrote_pid_ = false;
    std::string pid_path_;
};

// `herald -s reload|stop|quit|reopen`: HUP/TERM/QUIT/USR1 to the pid in cfg.pid_file.
// Returns the process exit code (0 ok, 1 error with a message on stderr).
int send_signal(const Config& cfg, const std::string& name);

} // namespace herald::app
