// kqueue(2) emulation for Linux (test-only): lets herald's kqueue backend run the
// reactor test suites on Linux. Semantics are FreeBSD's (sys/kern/kern_event.c), described
// in tests/compat/sys/event.h.
//
// Shape, mirroring the kernel: each knote (ident, filter) is "activated" by an edge and
// sits on the kqueue's active queue; a scan re-evaluates each queued knote's filter (the
// filt_soread/filt_sowrite equivalents below, from poll/ioctl/getsockopt) and drops it if
// false. A level knote that fired goes back to the tail of the queue; EV_CLEAR and
// EV_DISPATCH knotes leave it; EV_ONESHOT knotes are deleted.
//
// The edges come from Linux: every kqueue is an epoll fd (the fd returned to the caller;
// close(2) works on it) containing two edge-triggered inner epolls, one for read-side
// wakeups (EPOLLIN|EPOLLRDHUP) and one for write-side ones (EPOLLOUT), plus an eventfd
// that interrupts a blocked kevent() when another thread activates a knote (NOTE_TRIGGER).
// Two inner epolls rather than one because Linux filters wakeups by the registered mask:
// new data must not activate an EV_CLEAR write knote, and freed buffer space must not
// activate an EV_CLEAR read knote, as on FreeBSD where so_rcv and so_snd have separate
// knote lists.
#include <sys/event.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

namespace {

// What a knote watches, decided when it is added; it picks the filter function.
enum class FdKind : std::uint8_t { socket, pipe, regular, other };

struct Knote {
    uintptr_t ident = 0;
    short filter = 0;
    unsigned short flags = 0;  // as added, minus the action bits (kn_kevent.flags)
    unsigned int sfflags = 0;  // EVFILT_USER: the saved fflags
    std::int64_t sdata = 0;    // EVFILT_USER: the saved data
    void* udata = nullptr;
    FdKind kind = FdKind::other;
    bool disabled = false;
    bool queued = false;     // on the active queue
    bool triggered = false;  // EVFILT_USER
};

// The result of evaluating a knote's filter (kn_data, EV_EOF, kn_fflags).
struct Fired {
    bool fire = false;
    bool eof = false;
    std::int64_t data = 0;
    unsigned int fflags = 0;
};

constexpr std::uint64_t tag_read = 1, tag_write = 2, tag_user = 3;  // main epoll data
constexpr int pump_batch = 64;

bool is_fd_filter(short filter) { return filter == EVFILT_READ || filter == EVFILT_WRITE; }

std::int64_t monotonic_ns() {
    struct timespec ts {};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

FdKind kind_of(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) < 0) return FdKind::other;
    if (S_ISSOCK(st.st_mode)) return FdKind::socket;
    if (S_ISFIFO(st.st_mode)) return FdKind::pipe;
    if (S_ISREG(st.st_mode)) return FdKind::regular;
    return FdKind::other;
}

int int_ioctl(int fd, unsigned long request) {
    int v = 0;
    return ::ioctl(fd, request, &v) < 0 ? 0 : v;
}

int int_sockopt(int fd, int level, int name) {
    int v = 0;
    socklen_t len = sizeof v;
    return ::getsockopt(fd, level, name, &v, &len) < 0 ? 0 : v;
}

short poll_fd(int fd, short events) {
    struct pollfd p {fd, events, 0};
    return ::poll(&p, 1, 0) < 0 ? POLLNVAL : p.revents;
}

// filt_solisten: data = completed connections waiting for accept(). Linux tells for TCP
// (TCP_INFO on a listener aliases tcpi_unacked to the accept queue length).
Fired listen_read(int fd) {
    Fired f;
    struct tcp_info ti {};
    socklen_t len = sizeof ti;
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0) {
        f.data = ti.tcpi_unacked;
    } else {
        f.data = (poll_fd(fd, POLLIN) & POLLIN) != 0 ? 1 : 0;  // AF_UNIX: at least one
    }
    f.fire = f.data > 0;
    return f;
}

// filt_soread / filt_piperead: data = bytes readable; EOF once the writing side is gone.
Fired read_filter(const Knote& kn) {
    const int fd = static_cast<int>(kn.ident);
    Fired f;
    if (kn.kind == FdKind::regular) {  // filt_vfsread: bytes past the offset
        struct stat st {};
        const off_t pos = ::lseek(fd, 0, SEEK_CUR);
        if (::fstat(fd, &st) == 0 && pos >= 0) f.data = st.st_size - pos;
        f.fire = f.data != 0;
        return f;
    }
    if (kn.kind == FdKind::socket && int_sockopt(fd, SOL_SOCKET, SO_ACCEPTCONN) != 0) {
        return listen_read(fd);
    }
    const short rev = poll_fd(fd, POLLIN | POLLRDHUP);
    f.data = int_ioctl(fd, FIONREAD);
    f.eof = (rev & (POLLRDHUP | POLLHUP)) != 0;
    f.fire = f.data > 0 || f.eof || (rev & (POLLIN | POLLERR)) != 0;
    return f;
}

// filt_sowrite / filt_pipewrite: data = space writable; EOF once nothing more can be sent.
Fired write_filter(const Knote& kn) {
    const int fd = static_cast<int>(kn.ident);
    Fired f;
    if (kn.kind == FdKind::regular) {  // filt_vfswrite: always
        f.fire = true;
        return f;
    }
    const short rev = poll_fd(fd, POLLOUT);
    f.eof = (rev & (POLLHUP | POLLERR)) != 0;
    if (kn.kind == FdKind::socket) {
        f.data = int_sockopt(fd, SOL_SOCKET, SO_SNDBUF) - int_ioctl(fd, TIOCOUTQ);
    } else if (kn.kind == FdKind::pipe) {
        const int size = ::fcntl(fd, F_GETPIPE_SZ);
        f.data = size > 0 ? size - int_ioctl(fd, FIONREAD) : 0;
    }
    if (f.data < 0 || (kn.kind == FdKind::pipe && f.eof)) f.data = 0;
    f.fire = f.eof || (rev & POLLOUT) != 0;
    return f;
}

// One emulated kqueue. mutex_ guards everything but the fds, which are fixed.
class KQueue {
public:
    explicit KQueue(int main_ep) : main_(main_ep) {}
    ~KQueue();
    KQueue(const KQueue&) = delete;
    KQueue& operator=(const KQueue&) = delete;

    int init();  // 0 or errno
    bool alive() const;
    int kevent(const struct kevent* changes, int nchanges, struct kevent* events, int nevents,
               const struct timespec* timeout);

private:
    using Key = std::pair<uintptr_t, short>;
    int register_change(const struct kevent& kev);
    int create(const struct kevent& kev);
    void modify(Knote& kn, const struct kevent& kev);
    void touch_user(Knote& kn, const struct kevent& kev);
    int attach(Knote& kn);
    void drop(Knote& kn);
    void enqueue(Knote& kn);
    Knote* find(uintptr_t ident, short filter);
    void pump();
    void pump_inner(int ep, short filter);
    int scan(struct kevent* out, int nevents);
    Fired evaluate(const Knote& kn) const;
    int wait_main(std::unique_lock<std::mutex>& lock, std::int64_t deadline_ns);

    const int main_;  // the kqueue fd itself; closed by the caller, never by us
    int rd_ep_ = -1, wr_ep_ = -1, user_fd_ = -1;
    std::mutex mutex_;
    std::map<Key, std::unique_ptr<Knote>> knotes_;
    std::deque<Knote*> active_;
    int waiters_ = 0;  // threads blocked in epoll_wait(main_)
};

KQueue::~KQueue() {
    for (int fd : {rd_ep_, wr_ep_, user_fd_}) {
        if (fd >= 0) ::close(fd);
    }
}

int KQueue::init() {
    rd_ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    wr_ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    user_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (rd_ep_ < 0 || wr_ep_ < 0 || user_fd_ < 0) return errno;
    const std::pair<int, std::uint64_t> inner[] = {
        {rd_ep_, tag_read}, {wr_ep_, tag_write}, {user_fd_, tag_user}};
    for (const auto& [fd, tag] : inner) {
        struct epoll_event ev {};
        ev.events = EPOLLIN;
        ev.data.u64 = tag;
        if (::epoll_ctl(main_, EPOLL_CTL_ADD, fd, &ev) < 0) return errno;
    }
    return 0;
}

// The caller may have closed the kqueue fd and the number may now be something else:
// only our own epoll still holds our eventfd.
bool KQueue::alive() const {
    struct epoll_event ev {};
    ev.events = EPOLLIN;
    ev.data.u64 = tag_user;
    return ::epoll_ctl(main_, EPOLL_CTL_MOD, user_fd_, &ev) == 0;
}

Knote* KQueue::find(uintptr_t ident, short filter) {
    auto it = knotes_.find(Key{ident, filter});
    return it == knotes_.end() ? nullptr : it->second.get();
}

// knote_enqueue + kqueue_wakeup.
void KQueue::enqueue(Knote& kn) {
    if (kn.queued || kn.disabled) return;
    kn.queued = true;
    active_.push_back(&kn);
    if (waiters_ > 0) {
        const std::uint64_t one = 1;
        ssize_t r = ::write(user_fd_, &one, sizeof one);
        (void)r;
    }
}

int KQueue::attach(Knote& kn) {
    if (!is_fd_filter(kn.filter)) return 0;
    const int fd = static_cast<int>(kn.ident);
    kn.kind = kind_of(fd);
    struct epoll_event ev {};
    ev.events = EPOLLET | (kn.filter == EVFILT_READ ? EPOLLIN | EPOLLRDHUP : EPOLLOUT);
    ev.data.fd = fd;
    const int ep = kn.filter == EVFILT_READ ? rd_ep_ : wr_ep_;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0 || errno == EEXIST) return 0;
    if (errno == EPERM) return 0;  // a regular file: no wakeups, evaluated on every scan
    return errno;
}

void KQueue::drop(Knote& kn) {
    if (is_fd_filter(kn.filter)) {
        struct epoll_event ev {};
        (void)::epoll_ctl(kn.filter == EVFILT_READ ? rd_ep_ : wr_ep_, EPOLL_CTL_DEL,
                          static_cast<int>(kn.ident), &ev);
    }
    if (kn.queued) std::erase(active_, &kn);
    knotes_.erase(Key{kn.ident, kn.filter});
}

// filt_usertouch(EVENT_REGISTER).
void KQueue::touch_user(Knote& kn, const struct kevent& kev) {
    if ((kev.fflags & NOTE_TRIGGER) != 0) kn.triggered = true;
    const unsigned int value = kev.fflags & NOTE_FFLAGSMASK;
    switch (kev.fflags & NOTE_FFCTRLMASK) {
    case NOTE_FFAND: kn.sfflags &= value; break;
    case NOTE_FFOR: kn.sfflags |= value; break;
    case NOTE_FFCOPY: kn.sfflags = value; break;
    default: break;  // NOTE_FFNOP
    }
    kn.sdata = kev.data;
    if ((kev.flags & EV_CLEAR) != 0) kn.triggered = false;
}

int KQueue::create(const struct kevent& kev) {
    auto kn = std::make_unique<Knote>();
    kn->ident = kev.ident;
    kn->filter = kev.filter;
    kn->flags = kev.flags & ~(EV_ADD | EV_DELETE | EV_ENABLE | EV_DISABLE);
    kn->udata = kev.udata;
    kn->disabled = (kev.flags & EV_DISABLE) != 0;
    if (kev.filter == EVFILT_USER) {
        kn->sfflags = kev.fflags & NOTE_FFLAGSMASK;
        kn->sdata = kev.data;
        kn->triggered = (kev.fflags & NOTE_TRIGGER) != 0;
    }
    if (const int error = attach(*kn)) return error;
    Knote& ref = *kn;
    knotes_.emplace(Key{kev.ident, kev.filter}, std::move(kn));
    enqueue(ref);  // the scan evaluates it, as kqueue_register's f_event does
    return 0;
}

// "The user may change some filter values after the initial EV_ADD, but doing so will not
// reset any filter which has already been triggered." udata is replaced by every change.
void KQueue::modify(Knote& kn, const struct kevent& kev) {
    if ((kev.flags & EV_ENABLE) != 0) kn.disabled = false;
    else if ((kev.flags & EV_DISABLE) != 0) kn.disabled = true;
    kn.udata = kev.udata;
    if (kn.filter == EVFILT_USER) touch_user(kn, kev);
    if ((kev.flags & EV_ADD) != 0) (void)attach(kn);  // the fd number may have been reused
    if (kn.disabled && kn.queued) {
        std::erase(active_, &kn);
        kn.queued = false;
    }
    enqueue(kn);
}

// kqueue_register(): 0 or an errno.
int KQueue::register_change(const struct kevent& kev) {
    if (!is_fd_filter(kev.filter) && kev.filter != EVFILT_USER) return EINVAL;
    if (is_fd_filter(kev.filter) &&
        (kev.ident > INT_MAX || ::fcntl(static_cast<int>(kev.ident), F_GETFD) < 0)) {
        return EBADF;
    }
    Knote* kn = find(kev.ident, kev.filter);
    if (kn == nullptr) return (kev.flags & EV_ADD) != 0 ? create(kev) : ENOENT;
    if ((kev.flags & EV_DELETE) != 0) {
        drop(*kn);
        return 0;
    }
    modify(*kn, kev);
    return 0;
}

void KQueue::pump_inner(int ep, short filter) {
    struct epoll_event evs[pump_batch];
    int n;
    do {
        n = ::epoll_wait(ep, evs, pump_batch, 0);
        for (int i = 0; i < n; ++i) {
            Knote* kn = find(static_cast<uintptr_t>(evs[i].data.fd), filter);
            if (kn != nullptr) enqueue(*kn);
        }
    } while (n == pump_batch);
}

// Collects the edges Linux has queued since the last pump into the active queue.
void KQueue::pump() {
    pump_inner(rd_ep_, EVFILT_READ);
    pump_inner(wr_ep_, EVFILT_WRITE);
    std::uint64_t count;
    ssize_t r = ::read(user_fd_, &count, sizeof count);
    (void)r;
}

Fired KQueue::evaluate(const Knote& kn) const {
    if (kn.filter == EVFILT_USER) {
        return Fired{.fire = kn.triggered, .eof = false, .data = kn.sdata, .fflags = kn.sfflags};
    }
    return kn.filter == EVFILT_READ ? read_filter(kn) : write_filter(kn);
}

// kqueue_scan(): one pass over the knotes queued now; returns how many were copied out.
int KQueue::scan(struct kevent* out, int nevents) {
    int copied = 0;
    for (std::size_t pending = active_.size(); pending > 0 && copied < nevents; --pending) {
        Knote& kn = *active_.front();
        active_.pop_front();
        kn.queued = false;
        const Fired f = evaluate(kn);
        if (!f.fire) {
            if (kn.kind == FdKind::regular) enqueue(kn);  // no wakeups will re-queue it
            continue;
        }
        struct kevent& ev = out[copied++];
        EV_SET(&ev, kn.ident, kn.filter, kn.flags | (f.eof ? EV_EOF : 0), f.fflags, f.data,
               kn.udata);
        if ((kn.flags & EV_ONESHOT) != 0) {
            drop(kn);
        } else if ((kn.flags & (EV_CLEAR | EV_DISPATCH)) != 0) {
            if ((kn.flags & EV_DISPATCH) != 0) kn.disabled = true;
            if ((kn.flags & EV_CLEAR) != 0) kn.triggered = false;
        } else {
            enqueue(kn);  // level-triggered: back to the tail, re-evaluated next scan
        }
    }
    return copied;
}

// Blocks on the outer epoll without the lock. Returns 0, or -1 with errno (EINTR).
int KQueue::wait_main(std::unique_lock<std::mutex>& lock, std::int64_t deadline_ns) {
    int ms = -1;
    if (deadline_ns >= 0) {
        const std::int64_t left = deadline_ns - monotonic_ns();
        ms = left <= 0 ? 0 : static_cast<int>(std::min<std::int64_t>((left + 999999) / 1000000,
                                                                     INT_MAX));
    }
    struct epoll_event evs[3];
    ++waiters_;
    lock.unlock();
    const int n = ::epoll_wait(main_, evs, 3, ms);
    const int saved = errno;
    lock.lock();
    --waiters_;
    errno = saved;
    return n < 0 ? -1 : 0;
}

int KQueue::kevent(const struct kevent* changes, int nchanges, struct kevent* events,
                   int nevents, const struct timespec* timeout) {
    std::unique_lock lock(mutex_);
    int errors = 0;
    for (int i = 0; i < nchanges; ++i) {
        struct kevent kev = changes[i];
        if (kev.filter == 0) continue;
        kev.flags &= ~EV_SYSFLAGS;
        const int error = register_change(kev);
        if (error == 0 && (kev.flags & EV_RECEIPT) == 0) continue;
        if (nevents == 0) {  // no room for the receipt: the call fails (or stops) here
            if (error == 0) return 0;
            errno = error;
            return -1;
        }
        kev.flags = EV_ERROR;
        kev.data = error;
        events[errors++] = kev;
        --nevents;
    }
    if (errors > 0) return errors;  // receipts bypass the wait
    if (nevents == 0) return 0;
    std::int64_t deadline = -1;
    if (timeout != nullptr) {
        deadline = monotonic_ns() + std::int64_t{timeout->tv_sec} * 1000000000 + timeout->tv_nsec;
    }
    for (;;) {
        pump();
        if (const int n = scan(events, nevents); n > 0) return n;
        if (deadline >= 0 && monotonic_ns() >= deadline) return 0;
        if (wait_main(lock, deadline) < 0) return -1;
    }
}

// The registry: kqueue fd -> state. A closed kqueue's entry is replaced (and its inner fds
// closed) when kqueue() hands out the same number again.
std::mutex g_registry_mutex;
std::unordered_map<int, std::shared_ptr<KQueue>> g_registry;

std::shared_ptr<KQueue> lookup(int kq) {
    std::lock_guard lock(g_registry_mutex);
    auto it = g_registry.find(kq);
    return it == g_registry.end() ? nullptr : it->second;
}

} // namespace

extern "C" int kqueue(void) {
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return -1;
    std::lock_guard lock(g_registry_mutex);
    g_registry.erase(ep);  // a stale entry: the fd number was closed and reused
    auto kq = std::make_shared<KQueue>(ep);
    if (const int error = kq->init()) {
        kq.reset();
        ::close(ep);
        errno = error;
        return -1;
    }
    g_registry.emplace(ep, std::move(kq));
    return ep;
}

extern "C" int kevent(int kq, const struct kevent* changelist, int nchanges,
                      struct kevent* eventlist, int nevents, const struct timespec* timeout) {
    if (nchanges < 0 || nevents < 0 ||
        (timeout != nullptr && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 ||
                                timeout->tv_nsec >= 1000000000))) {
        errno = EINVAL;
        return -1;
    }
    std::shared_ptr<KQueue> state = lookup(kq);
    if (!state || !state->alive()) {
        errno = EBADF;
        return -1;
    }
    return state->kevent(changelist, nchanges, eventlist, nevents, timeout);
}
