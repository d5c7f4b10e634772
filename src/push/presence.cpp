// Presence: the join and leave reports of one subscriber.
#include "push/presence.hpp"

#include "http/session.hpp"
#include "push/strategy.hpp"

namespace herald::push {

Presence::Presence(PushHost& h, const http::HttpSession& s, const Target& t,
                   config::PushStrategy kind)
    : Presence(h, s.location().limits, s.client_host(), t, kind) {}

Presence::Presence(PushHost& h, const config::Limits& l, const std::string& addr, const Target& t,
                   config::PushStrategy kind) {
    if (!l.on_subscribe && !l.on_unsubscribe) return;
    event_.channel = t.channel;
    event_.sub = t.sub;
    event_.addr = addr;
    event_.strategy = kind;
    event_.on_unsubscribe = l.on_unsubscribe;
    if (!t.handed) h.subscriber_joined(l, event_);
    if (event_.on_unsubscribe) host_ = &h;
}

Presence& Presence::operator=(Presence&& o) noexcept {
    if (this != &o) {
        reset();
        host_ = o.host_;
        event_ = std::move(o.event_);
        o.host_ = nullptr;
    }
    return *this;
}

void Presence::reset() noexcept {
    if (host_ == nullptr) return;
    PushHost* h = host_;
    host_ = nullptr;
    h->subscriber_left(event_);
}

} // namespace herald::push
