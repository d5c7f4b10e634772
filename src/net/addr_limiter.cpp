// AddrLimiter: per-address requests in progress and token buckets, bounded, shared by threads.
#include "net/addr_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace herald::net {

AddrLimiter::Lease::Lease(Lease&& o) noexcept : owner_(o.owner_), key_(o.key_) {
    o.owner_ = nullptr;
}

AddrLimiter::Lease& AddrLimiter::Lease::operator=(Lease&& o) noexcept {
    if (this != &o) {
        release();
        owner_ = o.owner_;
        key_ = o.key_;
        o.owner_ = nullptr;
    }
    return *this;
}

void AddrLimiter::Lease::release() noexcept {
    if (!owner_) return;
    owner_->release(key_);
    owner_ = nullptr;
}

void AddrLimiter::refill(Entry& e, Clock::time_point now) noexcept {
    if (now <= e.stamp) return;
    const double elapsed = std::chrono::duration<double>(now - e.stamp).count();
    e.tokens = std::min(e.capacity, e.tokens + elapsed * e.rate);
    e.stamp = now;
}

bool AddrLimiter::idle(const Entry& e, Clock::time_point now) noexcept {
    if (e.in_progress != 0) return false;
    if (e.rate == 0) return true;
    Entry copy = e;
    refill(copy, now);
    return copy.tokens >= copy.capacity;
}

void AddrLimiter::sweep(Clock::time_point now) {
    last_sweep_ = now;
    std::erase_if(table_, [now](const auto& kv) { return idle(kv.second, now); });
}

AddrLimiter::Key AddrLimiter::key_of(std::uint32_t zone, const Addr& addr) noexcept {
    Key key{};
    std::memcpy(key.data(), &zone, sizeof zone);
    std::copy(addr.begin(), addr.end(), key.begin() + 4);
    return key;
}

// A new address's entry: nothing in progress, a full bucket.
AddrLimiter::Entry AddrLimiter::fresh_entry(const AddrLimits& limits, Clock::time_point now) noexcept {
    Entry e;
    e.stamp = now;
    e.rate = limits.rate;
    e.capacity = static_cast<double>(limits.burst) + 1;
    e.tokens = e.capacity;
    return e;
}

AddrLimiter::Result AddrLimiter::admit(std::uint32_t zone, const Addr& addr,
                                       const AddrLimits& limits, Clock::time_point now,
                                       Lease& lease) {
    const Key key = key_of(zone, addr);
    lease.release();  // before the lock: releasing takes it
    std::lock_guard<std::mutex> lock(mu_);
    if (now - last_sweep_ >= sweep_interval) sweep(now);
    auto it = table_.find(key);
    if (it == table_.end()) {
        if (table_.size() >= max_entries_ && now - last_sweep_ >= full_sweep_gap) sweep(now);
        if (table_.size() >= max_entries_) {
            rejected_full.fetch_add(1, std::memory_order_relaxed);
            return {Verdict::table_full, 1};
        }
        it = table_.emplace(key, fresh_entry(limits, now)).first;
    }
    Entry& e = it->second;
    if (limits.conn != 0 && e.in_progress >= limits.conn) {
        rejected_conn.fetch_add(1, std::memory_order_relaxed);
        return {Verdict::over_conn, 0};
    }
    if (limits.rate != 0) {
        refill(e, now);
        e.rate = limits.rate;  // a reload may have changed them
        e.capacity = static_cast<double>(limits.burst) + 1;
        e.tokens = std::min(e.tokens, e.capacity);
        if (e.tokens < 1) {
            rejected_rate.fetch_add(1, std::memory_order_relaxed);
            double wait = (1 - e.tokens) / e.rate;
            return {Verdict::over_rate, std::max(1, static_cast<int>(std::ceil(wait)))};
        }
        e.tokens -= 1;
    } else {
        e.rate = 0;
    }
    if (limits.conn != 0) {
        ++e.in_progress;
        lease.owner_ = this;
        lease.key_ = key;
    } else if (idle(e, now)) {
        table_.erase(it);
    }
    return {};
}

void AddrLimiter::carry(std::uint32_t zone, const Addr& addr, const AddrLimits& limits,
                        Clock::time_point now, Lease& lease) {
    lease.release();
    if (limits.conn == 0) return;
    const Key key = key_of(zone, addr);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = table_.find(key);
    if (it == table_.end()) {
        if (table_.size() >= max_entries_) return;
        it = table_.emplace(key, fresh_entry(limits, now)).first;
    }
    ++it->second.in_progress;
    lease.owner_ = this;
    lease.key_ = key;
}

void AddrLimiter::release(const Key& key) noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = table_.find(key);
    if (it == table_.end()) return;
    Entry& e = it->second;
    if (e.in_progress > 0) --e.in_progress;
    if (e.in_progress == 0 && e.rate == 0) table_.erase(it);
}

std::size_t AddrLimiter::size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return table_.size();
}

} // namespace herald::net
