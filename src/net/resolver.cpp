// Resolver: one lazily started thread runs getaddrinfo(3) for the loops' questions, in order,
// skipping those whose ticket has gone; answers go back through EventLoop::post().
#include "net/resolver.hpp"

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

#include <netdb.h>

#include "core/ascii.hpp"
#include "core/thread.hpp"

namespace herald::net {
namespace detail {

// Shared by the ticket (asking loop) and the resolver thread. The mutex orders a cancel
// against the post: once reset() returned, no post can start, and a post already made finds
// cancelled set when it runs on the loop (the only thread that sets it).
struct ResolveJob {
    std::mutex mutex;
    bool cancelled = false; // guarded by mutex
    EventLoop* loop;
    std::string host;
    std::uint16_t port;
    std::function<void(Resolved)> done; // guarded by mutex; called and destroyed on the loop

    ResolveJob(EventLoop& l, std::string h, std::uint16_t p, std::function<void(Resolved)> d)
        : loop(&l), host(std::move(h)), port(p), done(std::move(d)) {}

    bool is_cancelled() {
        std::lock_guard lock(mutex);
        return cancelled;
    }
};

} // namespace detail

namespace {

using detail::ResolveJob;

Resolved lookup(const std::string& host, std::uint16_t port) {
    Resolved r;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* list = nullptr;
    const std::string service = std::to_string(port);
    const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
    if (rc != 0) {
        r.error = rc == EAI_SYSTEM ? std::error_code(errno, std::generic_category()).message()
                                   : ::gai_strerror(rc);
        return r;
    }
    for (const addrinfo* a = list; a != nullptr; a = a->ai_next) {
        if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
            a->ai_addrlen > sizeof(Address::Storage))
            continue;
        Address addr;
        std::memcpy(&addr.storage, a->ai_addr, a->ai_addrlen);
        addr.length = a->ai_addrlen;
        r.addresses.push_back(addr);
    }
    ::freeaddrinfo(list);
    if (r.addresses.empty()) r.error = "no IPv4 or IPv6 address";
    return r;
}

std::atomic<detail::LookupFn> g_lookup{nullptr};  // set by tests only

// Answers on the loop unless cancelled (see ResolveJob).
void answer(const std::shared_ptr<ResolveJob>& job, Resolved r) {
    std::lock_guard lock(job->mutex);
    if (job->cancelled) return;
    job->loop->post([job, r = std::move(r)]() mutable {
        std::function<void(Resolved)> done;
        {
            std::lock_guard held(job->mutex);
            if (job->cancelled) return;
            done = std::move(job->done);
        }
        done(std::move(r));
    });
}

class ResolverThread {
public:
    void ask(std::shared_ptr<ResolveJob> job) {
        std::lock_guard lock(mutex_);
        if (!started_) {
            start_thread("herald-resolve", [this] { run(); }).detach();
            started_ = true;
        }
        // Questions given up while the thread was busy go now: the queue holds at most one
        // per live ticket, however long a name server keeps the thread waiting.
        std::erase_if(queue_, [](const std::shared_ptr<ResolveJob>& j) { return j->is_cancelled(); });
        queue_.push_back(std::move(job));
        wake_.notify_one();
    }

    std::size_t queued() {
        std::lock_guard lock(mutex_);
        return queue_.size();
    }

private:
    [[noreturn]] void run() {
        for (;;) {
            std::shared_ptr<ResolveJob> job;
            {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [this] { return !queue_.empty(); });
                job = std::move(queue_.front());
                queue_.pop_front();
            }
            if (job->is_cancelled()) continue;  // asked again since, or given up
            const detail::LookupFn fn = g_lookup.load();
            answer(job, fn ? fn(job->host, job->port) : lookup(job->host, job->port));
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::shared_ptr<ResolveJob>> queue_; // guarded by mutex_
    bool started_ = false;                          // guarded by mutex_
};

// Lives as long as the process: the thread may be inside getaddrinfo at exit.
ResolverThread& resolver_thread() {
    static ResolverThread* const t = new ResolverThread;  // NOLINT(cppcoreguidelines-owning-memory)
    return *t;
}

} // namespace

void detail::set_lookup_for_tests(LookupFn fn) noexcept { g_lookup.store(fn); }

std::size_t detail::queued_for_tests() { return resolver_thread().queued(); }

ResolveTicket::ResolveTicket(std::shared_ptr<detail::ResolveJob> job) noexcept
    : job_(std::move(job)) {}

ResolveTicket& ResolveTicket::operator=(ResolveTicket&& o) noexcept {
    if (this != &o) {
        reset();
        job_ = std::move(o.job_);
    }
    return *this;
}

// The callback is destroyed here, on the asking loop's thread, not wherever the job is
// dropped last (the resolver thread, for a question it skips).
void ResolveTicket::reset() noexcept {
    if (!job_) return;
    std::function<void(Resolved)> done;
    {
        std::lock_guard lock(job_->mutex);
        job_->cancelled = true;
        done = std::move(job_->done);
    }
    job_.reset();
}

ResolveTicket resolve(EventLoop& loop, const std::string& host, std::uint16_t port,
                      std::function<void(Resolved)> done) {
    auto job = std::make_shared<ResolveJob>(loop, host, port, std::move(done));
    Address numeric;
    if (!make_address(host, port, numeric)) {
        Resolved r;
        r.addresses.push_back(numeric);
        answer(job, std::move(r));
    } else if (!ascii::is_host_name(host)) {
        Resolved r;
        r.error = "not a host name or numeric address";
        answer(job, std::move(r));
    } else {
        resolver_thread().ask(job);
    }
    return ResolveTicket(std::move(job));
}

} // namespace herald::net
