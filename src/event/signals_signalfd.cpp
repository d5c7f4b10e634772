// SignalSource over signalfd(2) (Linux). Each signal asked for is blocked in the calling
// thread, the loop's, before any other thread of the process starts (they inherit the mask:
// EventLoop::on_signal's contract), so the kernel keeps it pending for the process until the
// loop reads it from the fd. No handler runs asynchronously on any thread, and no call on
// another thread is interrupted. The mask is restored when the loop ends; the dispositions
// are never changed.
#include "event/signal_source.hpp"

#include <atomic>
#include <cerrno>

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "core/unique_fd.hpp"

namespace herald::detail {
namespace {

std::atomic<bool> g_taken{false};  // one receiving loop per process

// Made only once g_taken is ours: its destructor restores the mask and gives g_taken back.
class SignalFd final : public SignalSource {
public:
    UniqueFd fd;
    Watch watch;  // after the fd: unwatched before it closes
    sigset_t wanted{};
    sigset_t old_mask{};

    ~SignalFd() override {
        ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
        g_taken.store(false);
    }

    bool watching() const noexcept override { return static_cast<bool>(watch); }

    void on_ready(const ReadyEvent&) noexcept override {
        signalfd_siginfo info[8];
        for (;;) {
            const ssize_t n = ::read(fd.get(), info, sizeof info);
            if (n <= 0) return;  // EAGAIN: drained
            const auto count = static_cast<std::size_t>(n) / sizeof info[0];
            for (std::size_t i = 0; i < count; ++i) deliver(static_cast<int>(info[i].ssi_signo));
        }
    }

private:
    std::error_code start(int signo) override {
        sigset_t one;
        ::sigemptyset(&one);
        if (::sigaddset(&one, signo) < 0) return {errno, std::generic_category()};
        if (int rc = ::pthread_sigmask(SIG_BLOCK, &one, nullptr); rc != 0)
            return {rc, std::generic_category()};
        ::sigaddset(&wanted, signo);
        if (::signalfd(fd.get(), &wanted, 0) < 0) return {errno, std::generic_category()};
        return {};
    }
};

} // namespace

std::unique_ptr<SignalSource> SignalSource::open(EventLoop& loop, std::error_code& ec) {
    bool expected = false;
    if (!g_taken.compare_exchange_strong(expected, true)) {
        ec.assign(EBUSY, std::generic_category());
        return nullptr;
    }
    auto sf = std::make_unique<SignalFd>();
    ::sigemptyset(&sf->wanted);
    ::pthread_sigmask(SIG_BLOCK, nullptr, &sf->old_mask);  // reads the mask: cannot fail
    sf->fd.reset(::signalfd(-1, &sf->wanted, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!sf->fd) {
        ec.assign(errno, std::generic_category());
        return nullptr;
    }
    sf->watch = loop.watch(sf->fd.get(), Interest::read, *sf, ec);
    if (ec) return nullptr;
    return sf;
}

} // namespace herald::detail
