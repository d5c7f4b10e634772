// Poller over kqueue(2) (FreeBSD, macOS): EVFILT_READ/EVFILT_WRITE level-triggered knotes
// per fd, merged into one ReadyEvent per fd per wait(); EVFILT_USER + NOTE_TRIGGER for
// wake(). Model: redis src/ae_kqueue.c. Tested on Linux over the kqueue emulation in tests/compat.
#include "event/poller.hpp"

#include <array>
#include <cerrno>
#include <cstdlib>
#include <vector>

#include <fcntl.h>
#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/log.hpp"
#include "core/unique_fd.hpp"

namespace herald {
namespace {

constexpr int max_events = 256;       // kevents per wait(); the rest come in the next one
constexpr uintptr_t wake_ident = 0;   // EVFILT_USER idents do not collide with fds

std::error_code last_error() { return {errno, std::generic_category()}; }

// Field by field rather than EV_SET: the struct differs between BSDs (ext[], udata type),
// and some EV_SET definitions use C compound literals.
struct kevent change(uintptr_t ident, short filter, unsigned short flags,
                     unsigned int fflags) noexcept {
    struct kevent kev {};
    kev.ident = ident;
    kev.filter = filter;
    kev.flags = flags;
    kev.fflags = fflags;
    return kev;
}

// Owns the kqueue fd. Knows, per fd, its interest and token (udata is not used, so the
// token is 64 bits everywhere) and where this wait()'s ReadyEvent for it is, to merge the
// read and write knotes of one fd.
class KqueuePoller final : public Poller {
public:
    KqueuePoller();
    std::error_code add(int fd, Interest in, std::uint64_t token) override;
    std::error_code modify(int fd, Interest in, std::uint64_t token) override;
    void remove(int fd) noexcept override;
    std::span<const ReadyEvent> wait(int timeout_ms) override;
    void wake() noexcept override;

private:
    struct FdState {
        std::uint64_t token = 0;
        bool added = false;
        Interest interest = Interest::none;
        std::uint32_t batch = 0;  // wait() number that last reported this fd
        std::uint32_t index = 0;  // its position in ready_ for that wait()
    };
    FdState* find(int fd) noexcept;
    std::error_code apply(int fd, FdState& st, Interest in, std::uint64_t token);
    void merge(const struct kevent& kev) noexcept;

    UniqueFd kq_;
    std::vector<FdState> fds_;  // indexed by fd
    std::array<struct kevent, max_events> events_{};
    std::vector<ReadyEvent> ready_;
    std::uint32_t batch_ = 0;
};

KqueuePoller::KqueuePoller() : kq_(::kqueue()) {
    if (!kq_) throw std::system_error(last_error(), "kqueue()");
    // kqueue fds are not inherited by fork(); FD_CLOEXEC still keeps them from exec'd children.
    (void)::fcntl(kq_.get(), F_SETFD, FD_CLOEXEC);
    const struct kevent kev = change(wake_ident, EVFILT_USER, EV_ADD | EV_CLEAR, 0);
    if (::kevent(kq_.get(), &kev, 1, nullptr, 0, nullptr) < 0) {
        throw std::system_error(last_error(), "kevent(EVFILT_USER, EV_ADD)");
    }
    ready_.reserve(max_events);
}

KqueuePoller::FdState* KqueuePoller::find(int fd) noexcept {
    if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return nullptr;
    FdState& st = fds_[static_cast<std::size_t>(fd)];
    return st.added ? &st : nullptr;
}

// Sends only the difference between st.interest and in: EV_ADD for a newly wanted filter,
// EV_DELETE for one no longer wanted. With no change list (none -> none) it still checks
// the fd, so a bad fd fails here as it does with epoll.
std::error_code KqueuePoller::apply(int fd, FdState& st, Interest in, std::uint64_t token) {
    const Interest old = st.added ? st.interest : Interest::none;
    const auto ident = static_cast<uintptr_t>(fd);
    std::array<struct kevent, 2> changes{};
    int n = 0;
    if (wants_read(in) != wants_read(old)) {
        changes[n++] = change(ident, EVFILT_READ, wants_read(in) ? EV_ADD : EV_DELETE, 0);
    }
    if (wants_write(in) != wants_write(old)) {
        changes[n++] = change(ident, EVFILT_WRITE, wants_write(in) ? EV_ADD : EV_DELETE, 0);
    }
    if (n > 0) {
        // No event list: the first failing change makes kevent() fail with its errno.
        if (::kevent(kq_.get(), changes.data(), n, nullptr, 0, nullptr) < 0) return last_error();
    } else if (!st.added && ::fcntl(fd, F_GETFD) < 0) {
        return last_error();
    }
    st.interest = in;
    st.token = token;
    return {};
}

std::error_code KqueuePoller::add(int fd, Interest in, std::uint64_t token) {
    if (fd < 0) return {EBADF, std::generic_category()};
    if (find(fd) != nullptr) return {EEXIST, std::generic_category()};
    const auto index = static_cast<std::size_t>(fd);
    if (index >= fds_.size()) fds_.resize(index + 1);
    FdState& st = fds_[index];
    if (auto ec = apply(fd, st, in, token)) return ec;
    st.added = true;
    return {};
}

std::error_code KqueuePoller::modify(int fd, Interest in, std::uint64_t token) {
    FdState* st = find(fd);
    if (st == nullptr) return {ENOENT, std::generic_category()};
    return apply(fd, *st, in, token);
}

void KqueuePoller::remove(int fd) noexcept {
    FdState* st = find(fd);
    if (st == nullptr) return;
    // Errors are not actionable: closing an fd already removed its knotes.
    (void)apply(fd, *st, Interest::none, st->token);
    *st = FdState{};
}

void KqueuePoller::wake() noexcept {
    const struct kevent kev = change(wake_ident, EVFILT_USER, 0, NOTE_TRIGGER);
    (void)::kevent(kq_.get(), &kev, 1, nullptr, 0, nullptr);
}

// kqueue reports EVFILT_READ and EVFILT_WRITE of one fd as two kevents, in no set order;
// herald's contract is one ReadyEvent per fd. EV_EOF on either filter is a hangup.
void KqueuePoller::merge(const struct kevent& kev) noexcept {
    FdState* st = find(static_cast<int>(kev.ident));
    if (st == nullptr) return;  // removed since; cannot happen within one wait()
    if (st->batch != batch_) {
        st->batch = batch_;
        st->index = static_cast<std::uint32_t>(ready_.size());
        ready_.push_back(ReadyEvent{.token = st->token, .readable = false, .writable = false,
                                    .hangup = false});
    }
    ReadyEvent& r = ready_[st->index];
    if (kev.filter == EVFILT_READ) r.readable = true;
    if (kev.filter == EVFILT_WRITE) r.writable = true;
    if ((kev.flags & (EV_EOF | EV_ERROR)) != 0) r.hangup = true;
}

std::span<const ReadyEvent> KqueuePoller::wait(int timeout_ms) {
    ready_.clear();
    struct timespec ts {};
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = static_cast<long>(timeout_ms % 1000) * 1000000L;
    const int n = ::kevent(kq_.get(), nullptr, 0, events_.data(), max_events,
                           timeout_ms < 0 ? nullptr : &ts);
    if (n < 0) {
        if (errno == EINTR) return {};
        HERALD_ERROR("kevent(fd=%d): %s", kq_.get(), last_error().message().c_str());
        std::abort();
    }
    // cppcheck-suppress knownConditionTrueFalse ; batch_ is a uint32_t that does wrap
    if (++batch_ == 0) {  // wrapped: old stamps could now match
        for (FdState& st : fds_) st.batch = 0;
        batch_ = 1;
    }
    for (int i = 0; i < n; ++i) {
        const struct kevent& kev = events_[static_cast<std::size_t>(i)];
        if (kev.filter == EVFILT_USER) continue;  // wake(): consumed (EV_CLEAR), not reported
        merge(kev);
    }
    return ready_;
}

} // namespace

std::unique_ptr<Poller> Poller::create() {
    return std::make_unique<KqueuePoller>();
}

} // namespace herald
