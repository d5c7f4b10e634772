// Presence: a live subscriber as the application sees it through on_subscribe/on_unsubscribe.
#pragma once

#include "push/host.hpp"

namespace herald::http {
class HttpSession;
}

namespace herald::push {

struct Target;

// RAII: made when a subscriber starts receiving (a stream began, a long-poll is held, a
// WebSocket subscribed), reports the join then; destroying it reports the leave. A subscriber
// that moves in a binary upgrade is one presence across both processes: the old one drops it
// without a leave (release()), the new one takes it without a join (Target::handed). Inactive
// (and free) when the location has neither hook. Move-only; lives in the subscriber object,
// on its worker's thread, and must be destroyed before the PushHost.
class Presence {
public:
    Presence() = default;
    Presence(PushHost& h, const http::HttpSession& s, const Target& t, config::PushStrategy kind);
    // For a subscriber that starts after its request ended (a channel of a multiplexed
    // WebSocket): the location's limits l and the client's address, kept by the caller.
    Presence(PushHost& h, const config::Limits& l, const std::string& addr, const Target& t,
             config::PushStrategy kind);
    Presence(Presence&& o) noexcept : host_(o.host_), event_(std::move(o.event_)) {
        o.host_ = nullptr;
    }
    Presence& operator=(Presence&& o) noexcept;
    Presence(const Presence&) = delete;
    Presence& operator=(const Presence&) = delete;
    ~Presence() { reset(); }
    void reset() noexcept;
    // The subscriber moved to the new process of a binary upgrade: no leave is reported.
    void release() noexcept { host_ = nullptr; }

private:
    PushHost* host_ = nullptr;
    PresenceEvent event_;
};

} // namespace herald::push
