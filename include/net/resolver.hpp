// Resolver: host names to addresses without blocking an event loop. getaddrinfo(3) blocks
// (for seconds when a name server is away), so it runs on one resolver thread per process,
// started on first use with every signal blocked; each answer is posted back to the loop
// that asked. Numeric hosts never reach the thread. Used for `redis_server` names and the
// names Redis Cluster announces (cluster-preferred-endpoint-type hostname).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "event/event_loop.hpp"
#include "net/socket.hpp"

namespace herald::net {

struct Resolved {
    std::vector<Address> addresses; // in getaddrinfo's order (RFC 6724); empty on failure
    std::string error;              // why there are none (gai_strerror), "" on success
};

namespace detail {
struct ResolveJob;

// Tests only: the resolver thread calls fn instead of getaddrinfo (nullptr: getaddrinfo again),
// so a test can make a lookup slow or give chosen addresses; and the questions waiting for it.
using LookupFn = Resolved (*)(const std::string& host, std::uint16_t port);
void set_lookup_for_tests(LookupFn fn) noexcept;
std::size_t queued_for_tests();
} // namespace detail

// One question in flight. Destroying it (or reset()) on the asking loop's thread guarantees
// that its callback never runs, even when the answer is already on its way.
class ResolveTicket {
public:
    ResolveTicket() noexcept = default;
    explicit ResolveTicket(std::shared_ptr<detail::ResolveJob> job) noexcept;
    ResolveTicket(ResolveTicket&&) noexcept = default;
    ResolveTicket& operator=(ResolveTicket&& o) noexcept;
    ResolveTicket(const ResolveTicket&) = delete;
    ResolveTicket& operator=(const ResolveTicket&) = delete;
    ~ResolveTicket() { reset(); }
    void reset() noexcept;
    explicit operator bool() const noexcept { return job_ != nullptr; }

private:
    std::shared_ptr<detail::ResolveJob> job_;
};

// Resolves host for TCP to port. done runs later on loop's thread (never inside this call),
// unless the ticket is destroyed first. A numeric host is answered without the thread;
// anything else that is not a host name (ascii::is_host_name) gets an error.
[[nodiscard]] ResolveTicket resolve(EventLoop& loop, const std::string& host, std::uint16_t port,
                                    std::function<void(Resolved)> done);

} // namespace herald::net
