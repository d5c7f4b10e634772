// SignalSource over a self-pipe: the portable receiver (BSD, macOS; the kqueue-emulation
// build on Linux uses it too, so it runs in the test suite). An SA_RESTART handler writes
// the signal number into a non-blocking pipe; the loop reads it. The dispositions it
// replaced are restored when the loop ends.
#include "event/signal_source.hpp"

#include <atomic>
#include <cerrno>
#include <utility>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "core/unique_fd.hpp"

namespace herald::detail {
namespace {

// The write end of the one loop that receives signals. Read by the signal handler.
std::atomic<int> g_signal_write_fd{-1};

void on_signal_raised(int signo) {
    const int saved_errno = errno;
    const int fd = g_signal_write_fd.load(std::memory_order_relaxed);
    if (fd >= 0) {
        const unsigned char byte = static_cast<unsigned char>(signo);
        // A full pipe drops the byte: the signal is already pending there.
        ssize_t n = ::write(fd, &byte, 1);
        (void)n;
    }
    errno = saved_errno;
}

std::error_code set_nonblocking_cloexec(int fd) {
    const int fl = ::fcntl(fd, F_GETFL);
    if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
        ::fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        return {errno, std::generic_category()};
    }
    return {};
}

class SignalPipe final : public SignalSource {
public:
    UniqueFd read_end;
    UniqueFd write_end;
    Watch watch;  // after the fds: unwatched before they close
    bool owner = false;
    std::vector<std::pair<int, struct sigaction>> saved;

    ~SignalPipe() override {
        for (const auto& [signo, old] : saved) ::sigaction(signo, &old, nullptr);
        if (owner) g_signal_write_fd.store(-1);
    }

    bool watching() const noexcept override { return static_cast<bool>(watch); }

    void on_ready(const ReadyEvent&) noexcept override {
        unsigned char buf[64];
        for (;;) {
            const ssize_t n = ::read(read_end.get(), buf, sizeof buf);
            if (n <= 0) return;  // EAGAIN: drained
            for (ssize_t i = 0; i < n; ++i) deliver(buf[i]);
        }
    }

private:
    std::error_code start(int signo) override {
        struct sigaction sa {};
        sa.sa_handler = on_signal_raised;
        sa.sa_flags = SA_RESTART;
        ::sigemptyset(&sa.sa_mask);
        struct sigaction old {};
        if (::sigaction(signo, &sa, &old) < 0) return {errno, std::generic_category()};
        saved.emplace_back(signo, old);
        return {};
    }
};

} // namespace

std::unique_ptr<SignalSource> SignalSource::open(EventLoop& loop, std::error_code& ec) {
    int fds[2];
    if (::pipe(fds) < 0) {
        ec.assign(errno, std::generic_category());
        return nullptr;
    }
    auto sp = std::make_unique<SignalPipe>();
    sp->read_end.reset(fds[0]);
    sp->write_end.reset(fds[1]);
    if ((ec = set_nonblocking_cloexec(fds[0])) || (ec = set_nonblocking_cloexec(fds[1])))
        return nullptr;
    int expected = -1;
    if (!g_signal_write_fd.compare_exchange_strong(expected, fds[1])) {
        ec.assign(EBUSY, std::generic_category());
        return nullptr;
    }
    sp->owner = true;  // from here ~SignalPipe releases g_signal_write_fd
    sp->watch = loop.watch(fds[0], Interest::read, *sp, ec);
    if (ec) return nullptr;
    return sp;
}

} // namespace herald::detail
