// Unit tests for src/app/daemon.cpp: the pid file as a lock (a second instance refuses, a file
// nobody holds is stale), its removal, and `herald -s` (signals only a herald that holds the
// lock). Daemonizing and the privilege drop are covered by tests/integration/test_daemon.py.
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

#include <criterion/criterion.h>
#include <unistd.h>

#include "app/daemon.hpp"
#include "config/config.hpp"

using herald::config::Config;
using herald::app::Process;
using herald::app::send_signal;

namespace {

std::atomic<int> g_usr1{0};
void on_usr1(int) { g_usr1.fetch_add(1); }

// A config whose pid file lives in a fresh temp dir, removed (with the dir) at the end. As
// root, `user root` keeps after_bind() from refusing (and from dropping privileges). Declare it
// before any Process, so that it is destroyed after them.
struct TempConfig {
    Config cfg;
    std::string dir;
    TempConfig() {
        char tmpl[] = "/tmp/herald-daemon-test.XXXXXX";
        cr_assert_not_null(::mkdtemp(tmpl));
        dir = tmpl;
        cfg.pid_file = dir + "/herald.pid";
        if (::geteuid() == 0) cfg.user = "root";
    }
    ~TempConfig() {
        ::unlink(cfg.pid_file.c_str());
        ::rmdir(dir.c_str());
    }
    TempConfig(const TempConfig&) = delete;
    TempConfig& operator=(const TempConfig&) = delete;
};

std::string slurp(const std::string& path) {
    std::ifstream f(path);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

} // namespace

Test(daemon, pid_file_holds_our_pid_and_is_removed, .timeout = 2.0) {
    TempConfig t;
    const Config& cfg = t.cfg;
    {
        Process p(cfg);
        p.after_bind();
        cr_assert_eq(std::atoi(slurp(cfg.pid_file).c_str()), ::getpid());
    }
    cr_assert(!exists(cfg.pid_file), "pid file left behind");
}

Test(daemon, second_instance_refuses_while_the_first_runs, .timeout = 2.0) {
    TempConfig t;
    const Config& cfg = t.cfg;
    Process first(cfg);
    first.after_bind();
    Process second(cfg);
    std::string what;
    try {
        second.after_bind();
    } catch (const std::runtime_error& e) {
        what = e.what();
    }
    std::string want = "herald is already running (pid " + std::to_string(::getpid());
    cr_assert(what.find(want) == 0, "got: %s", what.c_str());
    // The refused instance leaves the running one's pid file alone.
    cr_assert_eq(std::atoi(slurp(cfg.pid_file).c_str()), ::getpid());
}

Test(daemon, stale_pid_file_does_not_block_a_start, .timeout = 2.0) {
    TempConfig t;
    const Config& cfg = t.cfg;
    write_file(cfg.pid_file, "1\n");  // a live pid, but nobody holds the lock
    Process p(cfg);
    p.after_bind();
    cr_assert_eq(std::atoi(slurp(cfg.pid_file).c_str()), ::getpid());
}

Test(daemon, signal_reaches_the_lock_holder, .timeout = 2.0) {
    TempConfig t;
    const Config& cfg = t.cfg;
    std::signal(SIGUSR1, on_usr1);
    Process p(cfg);
    p.after_bind();
    cr_assert_eq(send_signal(cfg, "reopen"), 0);
    for (int i = 0; i < 1000 && g_usr1.load() == 0; ++i) ::usleep(1000);
    cr_assert_eq(g_usr1.load(), 1);
}

Test(daemon, signal_errors, .timeout = 2.0) {
    TempConfig t;
    const Config& cfg = t.cfg;
    std::signal(SIGUSR1, on_usr1);
    enum class File : std::uint8_t { none, text, our_pid };
    struct Case {
        const char* name;
        File file;
        const char* content;
        const char* signal;
    };
    static const Case cases[] = {
        {"missing pid file", File::none, "", "reopen"},
        {"empty pid file", File::text, "", "reopen"},
        {"garbage", File::text, "abc\n", "reopen"},
        {"unlocked file naming a live process (us)", File::our_pid, "", "reopen"},
        {"unknown signal name", File::our_pid, "", "bogus"},
    };
    for (const Case& c : cases) {
        ::unlink(cfg.pid_file.c_str());
        if (c.file == File::text) write_file(cfg.pid_file, c.content);
        if (c.file == File::our_pid) write_file(cfg.pid_file, std::to_string(::getpid()) + "\n");
        cr_assert_eq(send_signal(cfg, c.signal), 1, "%s", c.name);
    }
    ::usleep(10000);
    cr_assert_eq(g_usr1.load(), 0, "a stale pid file must never be signalled");
}
