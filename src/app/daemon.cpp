// Process management: pid file (and its lock), daemonizing, privilege drop, -s signals.
// References: daemon(7) for the detach sequence, setuid(2)/setgroups(2) for the drop order.
#include "app/daemon.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.hpp"

#ifndef HERALD_DEFAULT_CONF
#define HERALD_DEFAULT_CONF "conf/herald.conf"
#endif

namespace herald::app {
namespace {

// Main thread only (startup, -s signals): strerror() is not thread-safe everywhere.
std::string errno_text() { return std::strerror(errno); } // NOLINT(concurrency-mt-unsafe)

// The pid in an open pid file, or 0 if it is empty or garbage.
long read_pid(int fd) {
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return 0;
    char* end = nullptr;
    long pid = std::strtol(buf, &end, 10);
    if (end == buf || pid <= 0 || (*end != '\n' && *end != '\0')) return 0;
    return pid;
}

struct Identity {
    uid_t uid = 0;
    gid_t gid = 0;
    bool drop = false;  // false: stay as we are (not root, or explicit `user root`)
};

// Resolves `user NAME [GROUP]` before anything irreversible happens, so that a typo is
// reported on the terminal rather than by a daemon that already detached.
Identity resolve_identity(const config::Config& cfg) {
    Identity id;
    if (::geteuid() != 0) {
        if (cfg.user) HERALD_INFO("\"user\" is ignored: not started as root");
        return id;
    }
    if (!cfg.user)
        throw std::runtime_error(
            "refusing to serve as root: set \"user NAME;\" (or \"user root;\" to allow it)");
    if (*cfg.user == "root" && !cfg.group) return id;
    // getpwnam/getgrnam are not thread-safe: this runs at startup, before the workers exist.
    struct passwd* pw = ::getpwnam(cfg.user->c_str()); // NOLINT(concurrency-mt-unsafe)
    if (!pw) throw std::runtime_error("getpwnam(\"" + *cfg.user + "\") failed: no such user");
    id.uid = pw->pw_uid;
    id.gid = pw->pw_gid;
    if (cfg.group) {
        struct group* gr = ::getgrnam(cfg.group->c_str()); // NOLINT(concurrency-mt-unsafe)
        if (!gr) throw std::runtime_error("getgrnam(\"" + *cfg.group + "\") failed: no such group");
        id.gid = gr->gr_gid;
    }
    id.drop = true;
    return id;
}

} // namespace

void check_identity(const config::Config& cfg) { (void)resolve_identity(cfg); }

namespace {

// Supplementary groups first, then the group, then the user: after setuid() the others
// would no longer be permitted.
void drop_privileges(const config::Config& cfg, const Identity& id) {
    if (!id.drop) return;
    if (::setgroups(1, &id.gid) != 0 || ::setgid(id.gid) != 0 || ::setuid(id.uid) != 0)
        throw std::runtime_error("dropping privileges to \"" + *cfg.user + "\" failed (" +
                                 errno_text() + ")");
    if (id.uid != 0 && ::setuid(0) == 0)
        throw std::runtime_error("dropping privileges: setuid(0) still succeeds");
    HERALD_INFO("running as user \"%s\"", cfg.user->c_str());
}

// fork + setsid. The shell's process stays until the child reports (one byte on a pipe) that
// it is ready; it then exits 0, or 1 if the pipe closed without that byte (the child failed and
// printed why on the still-shared stderr). Returns the write end in the child.
UniqueFd daemonize() {
    int p[2];
    if (::pipe(p) != 0) throw std::runtime_error("pipe() failed (" + errno_text() + ")");
    UniqueFd rd(p[0]), wr(p[1]);
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork() failed (" + errno_text() + ")");
    if (pid > 0) {
        wr.reset();
        char c = 0;
        ssize_t n;
        do n = ::read(rd.get(), &c, 1);
        while (n < 0 && errno == EINTR);
        ::_exit(n == 1 ? 0 : 1);
    }
    rd.reset();
    if (::fcntl(wr.get(), F_SETFD, FD_CLOEXEC) != 0 || ::setsid() < 0)
        throw std::runtime_error("setsid() failed (" + errno_text() + ")");
    return wr;
}

void detach_stdio() {
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0) {
        HERALD_ERROR("open(\"/dev/null\") failed: %s", errno_text().c_str());
        return;
    }
    ::dup2(null, 0);
    ::dup2(null, 1);
    if (log::path() != "stderr") ::dup2(null, 2);  // keep stderr if it is the error log
    if (null > 2) ::close(null);
}

} // namespace

const char* default_config_path() noexcept { return HERALD_DEFAULT_CONF; }

// The lock is taken before daemonizing so that "already running" reaches the terminal; an
// flock() belongs to the open file description, which the daemon child inherits.
void Process::lock_pid_file() {
    const std::string& path = pid_path_;
    pid_fd_.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!pid_fd_)
        throw std::runtime_error("open() pid file \"" + path + "\" failed (" + errno_text() + ")");
    if (::flock(pid_fd_.get(), LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        long old = read_pid(pid_fd_.get());
        pid_fd_.reset();
        if (err == EWOULDBLOCK)
            throw std::runtime_error("herald is already running (pid " + std::to_string(old) +
                                     ", pid file \"" + path + "\")");
        throw std::runtime_error("flock() pid file \"" + path + "\" failed (" +
                                 std::strerror(err) + ")"); // NOLINT(concurrency-mt-unsafe)
    }
}

// Our own pid, written the way an upgrade names the new process (hand_over): one write over the
// old content, then cut to its length.
void Process::write_pid() {
    if (auto ec = hand_over(::getpid()))
        throw std::runtime_error("write() pid file \"" + pid_path_ + "\" failed (" +
                                 ec.message() + ")");
}

void Process::after_handover(UniqueFd pid_fd, const std::string& pid_path) {
    Identity id = resolve_identity(cfg_);
    if (pid_fd) {
        if (pid_path != cfg_.pid_file)
            HERALD_WARN("pid changes take effect on restart only (keeping \"%s\")",
                        pid_path.c_str());
        pid_path_ = pid_path;
        pid_fd_ = std::move(pid_fd);
    } else if (!cfg_.pid_file.empty()) {
        lock_pid_file();  // the old process had none: this one starts its own
        write_pid();
    }
    drop_privileges(cfg_, id);
    if (cfg_.daemon) detach_stdio();
}

std::error_code Process::hand_over(long pid) {
    if (!pid_fd_) return {};
    char buf[32];
    int n = std::snprintf(buf, sizeof buf, "%ld\n", pid);
    if (::pwrite(pid_fd_.get(), buf, n, 0) != n || ::ftruncate(pid_fd_.get(), n) != 0)
        return {errno, std::generic_category()};
    return {};
}

void Process::after_bind() {
    Identity id = resolve_identity(cfg_);
    if (!cfg_.pid_file.empty()) lock_pid_file();
    if (cfg_.daemon) ready_fd_ = daemonize();
    if (pid_fd_) write_pid();
    drop_privileges(cfg_, id);
    if (ready_fd_) {
        detach_stdio();
        char ok = 1;
        if (::write(ready_fd_.get(), &ok, 1) != 1)
            HERALD_WARN("write(ready pipe) failed: %s", errno_text().c_str());
        ready_fd_.reset();
    }
}

Process::~Process() {
    if (!pid_fd_) return;
    // After a privilege drop the unlink may fail (root-owned /run): then leave an empty file,
    // which nobody holds locked, so `herald -s` and the next start know it is stale. The fd
    // was opened before the drop, so it is still writable.
    if (read_pid(pid_fd_.get()) == ::getpid() && ::unlink(pid_path_.c_str()) != 0) {
        int r = ::ftruncate(pid_fd_.get(), 0);
        (void)r;  // nothing left to do if even that fails
    }
}

int send_signal(const config::Config& cfg, const std::string& name) {
    int sig = name == "reload" ? SIGHUP
              : name == "stop" ? SIGTERM
              : name == "quit" ? SIGQUIT
              : name == "reopen" ? SIGUSR1
              : name == "upgrade" ? SIGUSR2
                                  : 0;
    if (!sig) {
        std::fprintf(stderr, "herald: invalid signal \"%s\" (reload|stop|quit|reopen|upgrade)\n",
                     name.c_str());
        return 1;
    }
    const char* path = cfg.pid_file.c_str();
    UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
    if (!fd) {
        std::fprintf(stderr, "herald: open() pid file \"%s\" failed (%s): is herald running?\n",
                     path, errno_text().c_str());
        return 1;
    }
    long pid = read_pid(fd.get());
    // A pid file that nobody holds locked was left by a herald that is gone.
    if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) {
        std::string what = pid ? " (pid " + std::to_string(pid) + ")" : std::string(" (no pid in it)");
        std::fprintf(stderr, "herald: stale pid file \"%s\"%s: herald is not running\n", path,
                     what.c_str());
        return 1;
    }
    if (pid == 0) {
        std::fprintf(stderr, "herald: pid file \"%s\" holds no pid yet: herald is starting\n",
                     path);
        return 1;
    }
    if (::kill(static_cast<pid_t>(pid), sig) != 0) {
        std::fprintf(stderr, "herald: kill(%ld, %s) failed (%s)\n", pid, name.c_str(),
                     errno_text().c_str());
        return 1;
    }
    return 0;
}

} // namespace herald::app
