// Poller over Linux epoll(7), level-triggered, with an eventfd(2) for wake().
// Model: redis src/ae_epoll.c.
#include "event/poller.hpp"

#include <array>
#include <cerrno>
#include <cstdlib>
#include <vector>

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.hpp"
#include "core/unique_fd.hpp"

namespace herald {
namespace {

constexpr int max_events = 256;  // per wait(); the rest come in the next one

std::error_code last_error() { return {errno, std::generic_category()}; }

// Owns the epoll fd and the wake eventfd; knows, per fd, whether it was added and with
// what interest. Interest::none is not an epoll registration at all, because epoll always
// reports EPOLLHUP/EPOLLERR, which would spin a level-triggered loop that asked for nothing.
class EpollPoller final : public Poller {
public:
    EpollPoller();
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
    };
    static std::uint32_t epoll_mask(Interest in) noexcept;
    FdState* find(int fd) noexcept;
    std::error_code apply(int fd, FdState& st, Interest in, std::uint64_t token);
    void drain_wake() noexcept;

    UniqueFd ep_;
    UniqueFd wake_fd_;
    std::vector<FdState> fds_;  // indexed by fd
    std::array<epoll_event, max_events> events_{};
    std::vector<ReadyEvent> ready_;
};

EpollPoller::EpollPoller()
    : ep_(::epoll_create1(EPOLL_CLOEXEC)), wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (!ep_) throw std::system_error(last_error(), "epoll_create1()");
    if (!wake_fd_) throw std::system_error(last_error(), "eventfd()");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wake_fd_.get();
    if (::epoll_ctl(ep_.get(), EPOLL_CTL_ADD, wake_fd_.get(), &ev) < 0) {
        throw std::system_error(last_error(), "epoll_ctl(ADD, eventfd)");
    }
    ready_.reserve(max_events);
}

// EPOLLRDHUP comes with read interest only: a half-closed peer is news to a reader, but
// would spin a writer that has not asked to read.
std::uint32_t EpollPoller::epoll_mask(Interest in) noexcept {
    std::uint32_t m = 0;
    if (wants_read(in)) m |= EPOLLIN | EPOLLRDHUP;
    if (wants_write(in)) m |= EPOLLOUT;
    return m;
}

EpollPoller::FdState* EpollPoller::find(int fd) noexcept {
    if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return nullptr;
    FdState& st = fds_[static_cast<std::size_t>(fd)];
    return st.added ? &st : nullptr;
}

// Moves fd's epoll registration from st.interest to in: ADD, MOD or DEL as needed.
std::error_code EpollPoller::apply(int fd, FdState& st, Interest in, std::uint64_t token) {
    const bool was_in = st.added && st.interest != Interest::none;
    const bool now_in = in != Interest::none;
    int op = 0;
    if (now_in) op = was_in ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    else if (was_in) op = EPOLL_CTL_DEL;
    if (op != 0) {
        epoll_event ev{};
        ev.events = epoll_mask(in);
        ev.data.fd = fd;
        if (::epoll_ctl(ep_.get(), op, fd, &ev) < 0) return last_error();
    } else if (::fcntl(fd, F_GETFD) < 0) {
        return last_error();  // none -> none: still report a bad fd, as epoll_ctl would
    }
    st.interest = in;
    st.token = token;
    return {};
}

std::error_code EpollPoller::add(int fd, Interest in, std::uint64_t token) {
    if (fd < 0) return {EBADF, std::generic_category()};
    if (find(fd) != nullptr) return {EEXIST, std::generic_category()};
    const auto index = static_cast<std::size_t>(fd);
    if (index >= fds_.size()) fds_.resize(index + 1);
    FdState& st = fds_[index];
    if (auto ec = apply(fd, st, in, token)) return ec;
    st.added = true;
    return {};
}

std::error_code EpollPoller::modify(int fd, Interest in, std::uint64_t token) {
    FdState* st = find(fd);
    if (st == nullptr) return {ENOENT, std::generic_category()};
    return apply(fd, *st, in, token);
}

void EpollPoller::remove(int fd) noexcept {
    FdState* st = find(fd);
    if (st == nullptr) return;
    if (st->interest != Interest::none) {
        epoll_event ev{};
        // Errors are not actionable: a closed fd has already left the epoll set.
        (void)::epoll_ctl(ep_.get(), EPOLL_CTL_DEL, fd, &ev);
    }
    *st = FdState{};
}

void EpollPoller::drain_wake() noexcept {
    std::uint64_t n;
    ssize_t r = ::read(wake_fd_.get(), &n, sizeof n);
    (void)r;  // EAGAIN: another wait() already took it
}

void EpollPoller::wake() noexcept {
    const std::uint64_t one = 1;
    ssize_t r = ::write(wake_fd_.get(), &one, sizeof one);
    (void)r;  // EAGAIN only when the counter is saturated: a wake-up is pending anyway
}

std::span<const ReadyEvent> EpollPoller::wait(int timeout_ms) {
    ready_.clear();
    const int n = ::epoll_wait(ep_.get(), events_.data(), max_events, timeout_ms);
    if (n < 0) {
        if (errno == EINTR) return {};
        HERALD_ERROR("epoll_wait(fd=%d): %s", ep_.get(), last_error().message().c_str());
        std::abort();
    }
    for (int i = 0; i < n; ++i) {
        const epoll_event& e = events_[static_cast<std::size_t>(i)];
        if (e.data.fd == wake_fd_.get()) {
            drain_wake();
            continue;
        }
        const FdState* st = find(e.data.fd);
        if (st == nullptr) continue;
        // On HUP/ERR report the asked-for directions too (as kqueue's filters fire with
        // EV_EOF, and as libuv does): a pipe whose writer left gives EPOLLHUP without EPOLLIN.
        const bool hangup = (e.events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) != 0;
        const bool broken = (e.events & (EPOLLHUP | EPOLLERR)) != 0;
        ready_.push_back(ReadyEvent{
            .token = st->token,
            .readable = (e.events & EPOLLIN) != 0 || (broken && wants_read(st->interest)),
            .writable = (e.events & EPOLLOUT) != 0 || (broken && wants_write(st->interest)),
            .hangup = hangup,
        });
    }
    return ready_;
}

} // namespace

std::unique_ptr<Poller> Poller::create() {
    return std::make_unique<EpollPoller>();
}

} // namespace herald
