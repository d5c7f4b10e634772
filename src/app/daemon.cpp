// Process management: pid file, daemonizing, privilege drop, -s signals.
#include "app/daemon.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.hpp"

#ifndef HERALD_DEFAULT_CONF
#define HERALD_DEFAULT_CONF "conf/herald.conf"
#endif

namespace herald::app {
namespace {

// The pid in the file, or 0 if missing/unreadable/garbage.
long read_pid(const std::string& path) {
    std::ifstream f(path);
    long pid = 0;
    if (!(f >> pid) || pid <= 0) return 0;
    return pid;
}

bool alive(long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

std::string errno_text() { return std::strerror(errno); }

void daemonize() {
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork() failed (" + errno_text() + ")");
    if (pid > 0) ::_exit(0);  // the parent returns to the shell; the child serves
    if (::setsid() < 0) throw std::runtime_error("setsid() failed (" + errno_text() + ")");
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0) throw std::runtime_error("open(\"/dev/null\") failed (" + errno_text() + ")");
    ::dup2(null, 0);
    ::dup2(null, 1);
    if (log::path() != "stderr") ::dup2(null, 2);  // keep stderr if it is the error log
    if (null > 2) ::close(null);
}

void drop_privileges(const Config& cfg) {
    if (::geteuid() != 0) {
        if (cfg.user) HERALD_INFO("\"user\" is ignored: not started as root");
        return;
    }
    if (!cfg.user)
        throw std::runtime_error(
            "refusing to serve as root: set \"user NAME;\" (or \"user root;\" to allow it)");
    if (*cfg.user == "root") return;
    errno = 0;
    struct passwd* pw = ::getpwnam(cfg.user->c_str());
    if (!pw) throw std::runtime_error("getpwnam(\"" + *cfg.user + "\") failed: no such user");
    gid_t gid = pw->pw_gid;
    if (cfg.group) {
        struct group* gr = ::getgrnam(cfg.group->c_str());
        if (!gr) throw std::runtime_error("getgrnam(\"" + *cfg.group + "\") failed: no such group");
        gid = gr->gr_gid;
    }
    if (::setgroups(1, &gid) != 0 || ::setgid(gid) != 0 || ::setuid(pw->pw_uid) != 0)
        throw std::runtime_error("dropping privileges to \"" + *cfg.user + "\" failed (" +
                                 errno_text() + ")");
    HERALD_INFO("running as user \"%s\"", cfg.user->c_str());
}

} // namespace

const char* default_config_path() noexcept { return HERALD_DEFAULT_CONF; }

void Process::after_bind() {
    pid_path_ = cfg_.pid_file;
    long old = read_pid(pid_path_);
    if (old && old != ::getpid() && alive(old))
        throw std::runtime_error("herald is already running (pid " + std::to_string(old) +
                                 ", pid file \"" + pid_path_ + "\")");
    if (cfg_.daemon) daemonize();
    if (!pid_path_.empty()) {
        std::string tmp = pid_path_ + ".tmp";
        FILE* f = std::fopen(tmp.c_str(), "w");
        if (!f) throw std::runtime_error("open() \"" + tmp + "\" failed (" + errno_text() + ")");
        std::fprintf(f, "%ld\n", static_cast<long>(::getpid()));
        std::fclose(f);
        if (std::rename(tmp.c_str(), pid_path_.c_str()) != 0)
            throw std::runtime_error("rename() to \"" + pid_path_ + "\" failed (" + errno_text() +
                                     ")");
        wrote_pid_ = true;
    }
    drop_privileges(cfg_);
}

Process::~Process() {
    // After dropping privileges the unlink may fail (root-owned /run); systemd cleans /run.
    if (wrote_pid_ && read_pid(pid_path_) == ::getpid()) ::unlink(pid_path_.c_str());
}

int send_signal(const Config& cfg, const std::string& name) {
    int sig = name == "reload" ? SIGHUP
              : name == "stop" ? SIGTERM
              : name == "quit" ? SIGQUIT
              : name == "reopen" ? SIGUSR1
                                 : 0;
    if (!sig) {
        std::fprintf(stderr, "herald: invalid signal \"%s\" (reload|stop|quit|reopen)\n",
                     name.c_str());
        return 1;
    }
    long pid = read_pid(cfg.pid_file);
    if (!pid) {
        std::fprintf(stderr, "herald: open() \"%s\" failed or holds no pid: is herald running?\n",
                     cfg.pid_file.c_str());
        return 1;
    }
    if (::kill(static_cast<pid_t>(pid), sig) != 0) {
        std::fprintf(stderr, "herald: kill(%ld, %s) failed (%s): stale pid file \"%s\"?\n", pid,
                     name.c_str(), errno_text().c_str(), cfg.pid_file.c_str());
        return 1;
    }
    return 0;
}

} // namespace herald::app
