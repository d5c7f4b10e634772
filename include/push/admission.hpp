// Admissions: each worker's live subscribers with what they were admitted with (channel, the
// token's sub and expiry), so that a token's exp ends its subscriber on time and the publisher
// API can end subscribers (revocation) without deleting their channel.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "event/event_loop.hpp"

namespace herald::push {

struct Target;

// RFC 6750 §3 challenges, for every 401/403 a token rule answers.
inline constexpr std::string_view bearer_challenge = "Bearer realm=\"herald\"";
inline constexpr std::string_view bearer_invalid_token =
    "Bearer realm=\"herald\", error=\"invalid_token\"";
inline constexpr std::string_view bearer_insufficient_scope =
    "Bearer realm=\"herald\", error=\"insufficient_scope\"";

enum class AccessEnd : std::uint8_t {
    expired,  // the token's exp (+ leeway) passed
    revoked,  // the publisher API ended it
};

// A long-lived subscriber that can be ended from outside: an SSE or iframe stream, a WebSocket
// channel endpoint, a held long-poll. Called on its worker's loop thread only.
class Revocable {
public:
    // Ends the subscriber now, the strategy's way (close code 4401/4403, a final event, or a
    // 401/403 answer). A second call, or a call after it ended otherwise, does nothing.
    virtual void end_access(AccessEnd why) noexcept = 0;

protected:
    ~Revocable() = default;
};

// Which subscribers a revocation ends.
struct RevokeFilter {
    std::string channel;   // "" = every channel
    std::string sub;       // the token's sub
    bool any_sub = false;  // true: whatever the sub (tokenless subscribers included)

    bool matches(std::string_view subscriber_channel, std::string_view subscriber_sub) const noexcept;
};

// One worker's admitted subscribers. add()/remove() run on the worker's thread; revoke() and
// count_by_sub() may run on any thread (one mutex per worker, so they contend only with this
// worker's subscribes). revoke() ends nothing itself: it marks the matches and posts their end
// to the worker's loop. Must outlive its loop's run (posted tasks point to it).
class AdmissionRegistry {
public:
    using PostFn = std::function<void(std::function<void()>)>;
    explicit AdmissionRegistry(PostFn post) : post_(std::move(post)) {}
    AdmissionRegistry(const AdmissionRegistry&) = delete;
    AdmissionRegistry& operator=(const AdmissionRegistry&) = delete;

    // t (its channel and sub) and r must stay valid until remove(id).
    std::uint64_t add(const Target& t, Revocable& r);
    void remove(std::uint64_t id) noexcept;

    // Marks every subscriber that f matches and is not already being ended, posts their
    // end_access(revoked) to the worker, and returns how many.
    std::size_t revoke(const RevokeFilter& f);

    // Adds this worker's subscribers of channel to by_sub ("" for the tokenless), in order of
    // first appearance, at most max_subs distinct subs.
    void count_by_sub(std::string_view channel,
                      std::vector<std::pair<std::string, std::uint64_t>>& by_sub,
                      std::size_t max_subs) const;

    std::size_t size() const;

private:
    struct Entry {
        const Target* target;
        Revocable* subscriber;
        bool ending;  // revoked: an end is posted
    };
    void end_revoked(const std::vector<std::uint64_t>& ids) noexcept;

    static constexpr std::size_t min_shrink_buckets = 1024;

    const PostFn post_;
    mutable std::mutex mutex_;
    std::unordered_map<std::uint64_t, Entry> entries_;  // guarded by mutex_
    std::uint64_t next_id_ = 1;                          // guarded by mutex_
};

// A timer on loop that calls r.end_access(expired) at expires_at (seconds since the epoch; at
// once when past); no timer for 0 or past Admission::max_expiry_seconds from now.
Timer expiry_timer(EventLoop& loop, std::int64_t expires_at, Revocable& r);

// RAII: a subscriber's registration in its worker's AdmissionRegistry plus, when its token has
// an expiry, one timer on the worker's loop that ends it then (no cost per delivery).
// Declare it after the Target it was made from; destroy it (or reset()) on the loop thread.
class Admission {
public:
    // An expiry further away than this (ten years) arms no timer.
    static constexpr std::int64_t max_expiry_seconds = 10LL * 365 * 86'400;

    Admission() noexcept = default;
    // expires_at (seconds since the epoch, 0 = never) comes from t; a time already past ends
    // the subscriber on the next loop iteration.
    Admission(AdmissionRegistry& registry, EventLoop& loop, const Target& t, Revocable& r);
    Admission(Admission&& o) noexcept;
    Admission& operator=(Admission&& o) noexcept;
    Admission(const Admission&) = delete;
    Admission& operator=(const Admission&) = delete;
    ~Admission() { reset(); }

    void reset() noexcept;

private:
    AdmissionRegistry* registry_ = nullptr;
    std::uint64_t id_ = 0;
    Timer expiry_;
};

} // namespace herald::push
