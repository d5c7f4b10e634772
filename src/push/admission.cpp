// Admissions: the registry revocation walks, and the per-subscriber expiry timer.
#include "push/admission.hpp"

#include <algorithm>
#include <chrono>

#include "push/strategy.hpp"

namespace herald::push {

bool RevokeFilter::matches(std::string_view subscriber_channel,
                           std::string_view subscriber_sub) const noexcept {
    if (!channel.empty() && channel != subscriber_channel) return false;
    return any_sub || sub == subscriber_sub;
}

std::uint64_t AdmissionRegistry::add(const Target& t, Revocable& r) {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::uint64_t id = next_id_++;
    entries_.emplace(id, Entry{&t, &r, false});
    return id;
}

void AdmissionRegistry::remove(std::uint64_t id) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_.erase(id);
    // A crowd that left gives its bucket array back (erase never shrinks it): rehashed when
    // eight times too large, so the O(n) rehash is paid at most once per eightfold shrink.
    if (entries_.bucket_count() > min_shrink_buckets &&
        entries_.size() * 8 < entries_.bucket_count())
        entries_.rehash(0);
}

std::size_t AdmissionRegistry::size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_.size();
}

std::size_t AdmissionRegistry::revoke(const RevokeFilter& f) {
    std::vector<std::uint64_t> ids;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& [id, e] : entries_) {
            if (e.ending || !f.matches(e.target->channel, e.target->sub)) continue;
            e.ending = true;
            ids.push_back(id);
        }
    }
    const std::size_t n = ids.size();
    if (n != 0) post_([this, ids = std::move(ids)] { end_revoked(ids); });
    return n;
}

// Each id is looked up again: a subscriber that ended meanwhile has left the registry, and
// ending one subscriber may end (and unregister) others, so no pointer is kept across calls.
void AdmissionRegistry::end_revoked(const std::vector<std::uint64_t>& ids) noexcept {
    for (const std::uint64_t id : ids) {
        Revocable* r = nullptr;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            const auto it = entries_.find(id);
            if (it != entries_.end()) r = it->second.subscriber;
        }
        if (r) r->end_access(AccessEnd::revoked);
    }
}

void AdmissionRegistry::count_by_sub(std::string_view channel,
                                     std::vector<std::pair<std::string, std::uint64_t>>& by_sub,
                                     std::size_t max_subs) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& entry : entries_) {
        const std::string& sub = entry.second.target->sub;
        if (entry.second.target->channel != channel) continue;
        const auto it = std::find_if(by_sub.begin(), by_sub.end(),
                                     [&sub](const auto& p) { return p.first == sub; });
        if (it != by_sub.end()) ++it->second;
        else if (by_sub.size() < max_subs) by_sub.emplace_back(sub, 1);
    }
}

Timer expiry_timer(EventLoop& loop, std::int64_t expires_at, Revocable& r) {
    if (expires_at == 0) return {};
    using namespace std::chrono;
    const system_clock::time_point now = system_clock::now();
    // In seconds first: a token's exp may be up to 18 digits, far past what nanoseconds hold.
    const std::int64_t left = expires_at - duration_cast<seconds>(now.time_since_epoch()).count();
    if (left > Admission::max_expiry_seconds) return {};  // beyond any process's life
    Clock::duration delay = Clock::duration::zero();
    if (left > 0)
        delay = duration_cast<Clock::duration>(
            std::max(system_clock::time_point(seconds(expires_at)) - now,
                     system_clock::duration::zero()));
    return loop.add_timer(delay, [&r] { r.end_access(AccessEnd::expired); });
}

Admission::Admission(AdmissionRegistry& registry, EventLoop& loop, const Target& t,
                     Revocable& r)
    : registry_(&registry), id_(registry.add(t, r)),
      expiry_(expiry_timer(loop, t.expires_at, r)) {}

Admission::Admission(Admission&& o) noexcept
    : registry_(o.registry_), id_(o.id_), expiry_(std::move(o.expiry_)) {
    o.registry_ = nullptr;
}

Admission& Admission::operator=(Admission&& o) noexcept {
    if (this != &o) {
        reset();
        registry_ = o.registry_;
        id_ = o.id_;
        expiry_ = std::move(o.expiry_);
        o.registry_ = nullptr;
    }
    return *this;
}

void Admission::reset() noexcept {
    expiry_.cancel();
    if (registry_ == nullptr) return;
    AdmissionRegistry* reg = registry_;
    registry_ = nullptr;
    reg->remove(id_);
}

} // namespace herald::push
