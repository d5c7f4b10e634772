// AddrLimiter: per-client-address limits shared by every worker thread: requests in progress
// (`limit_conn_per_addr`) and a token bucket of new requests (`limit_rate_per_addr N/s
// burst=M`). Owned by main, which outlives the workers; any thread may call it.
//
// Design: one table behind one mutex, taken when a request starts and when it ends, and only on
// servers that set a limit (an address's counts must be exact whichever worker accepted its
// connections; splitting a limit across per-thread tables would refuse a client whose
// connections the kernel happened to put on one thread). Keys are (zone, address): a zone is a
// server, so each server counts on its own.
//
// Memory is bounded: at most max_entries addresses. An entry goes as soon as it is idle (nothing
// in progress and its bucket full again); idle entries are swept every sweep_interval, and at
// most every full_sweep_gap when the table is full. A new address that finds the table full of
// live entries is refused (fail closed: the caller answers 503) and counted: failing open would
// let anyone with many addresses switch the limits off for everybody.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <unordered_map>

#include "core/clock.hpp"

namespace herald::net {

// A server's limits; 0 = off.
struct AddrLimits {
    std::uint32_t conn = 0;   // requests in progress per address
    std::uint32_t rate = 0;   // new requests per second per address
    std::uint32_t burst = 0;  // requests above the rate accepted at once (bucket = burst + 1)
};

class AddrLimiter {
public:
    using Addr = std::array<std::uint8_t, 16>;  // IPv4 as IPv4-mapped IPv6
    static constexpr std::size_t default_max_entries = 100'000;
    static constexpr Clock::duration sweep_interval = std::chrono::seconds(10);
    static constexpr Clock::duration full_sweep_gap = std::chrono::milliseconds(100);

    // One request in progress, counted while the Lease lives. Move-only; an empty Lease
    // (default) holds nothing.
    class Lease {
    public:
        Lease() = default;
        Lease(Lease&& o) noexcept;
        Lease& operator=(Lease&& o) noexcept;
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease() { release(); }
        void release() noexcept;
        bool held() const noexcept { return owner_ != nullptr; }

    private:
        friend class AddrLimiter;
        AddrLimiter* owner_ = nullptr;
        std::array<std::uint8_t, 20> key_{};
    };

    enum class Verdict : std::uint8_t { admitted, over_conn, over_rate, table_full };
    struct Result {
        Verdict verdict = Verdict::admitted;
        int retry_after = 0;  // seconds (over_rate: until a token is back; table_full: 1)
    };

    explicit AddrLimiter(std::size_t max_entries = default_max_entries)
        : max_entries_(max_entries) {}
    AddrLimiter(const AddrLimiter&) = delete;
    AddrLimiter& operator=(const AddrLimiter&) = delete;

    // A request from addr on zone starts at now. Admitted: takes a token (rate) and, with a
    // conn limit, fills lease (held until the request ends). Otherwise nothing is taken and the
    // refusal is counted. now comes from the caller's loop: threads' clocks may differ by a
    // little, and time never runs backwards for a bucket.
    Result admit(std::uint32_t zone, const Addr& addr, const AddrLimits& limits,
                 Clock::time_point now, Lease& lease);

    // A request admitted by the process that handed its connection over (a binary upgrade)
    // goes on here: with a conn limit it counts as in progress until lease is released, with
    // no token taken and no refusal (it was admitted once). Not counted when the table is full
    // of other addresses.
    void carry(std::uint32_t zone, const Addr& addr, const AddrLimits& limits,
               Clock::time_point now, Lease& lease);
    std::size_t size() const;  // addresses tracked now

    // Refusals since start (relaxed; read by /status).
    std::atomic<std::uint64_t> rejected_conn{0};
    std::atomic<std::uint64_t> rejected_rate{0};
    std::atomic<std::uint64_t> rejected_full{0};

private:
    using Key = std::array<std::uint8_t, 20>;
    struct KeyHash {
        std::size_t operator()(const Key& k) const noexcept {
            return std::hash<std::string_view>{}(
                std::string_view(reinterpret_cast<const char*>(k.data()), k.size()));
        }
    };
    struct Entry {
        std::uint32_t in_progress = 0;
        std::uint32_t rate = 0;       // the bucket's parameters when last used
        double capacity = 0;
        double tokens = 0;
        Clock::time_point stamp{};    // tokens were counted at this time
    };

    static void refill(Entry& e, Clock::time_point now) noexcept;
    static Key key_of(std::uint32_t zone, const Addr& addr) noexcept;
    static Entry fresh_entry(const AddrLimits& limits, Clock::time_point now) noexcept;
    static bool idle(const Entry& e, Clock::time_point now) noexcept;
    void sweep(Clock::time_point now);
    void release(const Key& key) noexcept;

    mutable std::mutex mu_;
    std::unordered_map<Key, Entry, KeyHash> table_;  // guarded by mu_
    std::size_t max_entries_;
    Clock::time_point last_sweep_{};                 // guarded by mu_
};

} // namespace herald::net
