// PushHost: what the push strategies need from the worker thread that serves them. push
// declares it, app::Worker implements it (layers point down: push never includes app).
#pragma once

#include <optional>
#include <string>

#include "config/config.hpp"
#include "core/histogram.hpp"
#include "push/channel.hpp"

namespace herald::push {

class AdmissionRegistry;
class Broker;

// A subscriber that joined or left a channel (the on_subscribe / on_unsubscribe events).
struct PresenceEvent {
    std::string channel;
    std::string sub;  // the token's "sub" ("" without a token)
    std::string addr; // the client's address
    config::PushStrategy strategy = config::PushStrategy::none;
    std::optional<config::UpstreamUrl> on_unsubscribe; // where to tell that it left
};

// Called on the worker's loop thread only; it outlives every subscriber it serves.
class PushHost {
public:
    virtual Broker& broker() noexcept = 0;
    // This worker's id at the broker (the one subscribe() and Subscription use).
    virtual WorkerId broker_worker() const noexcept = 0;
    // Live delivery latency of one strategy on this worker (OutputQueue::stamp_delivery).
    virtual Histogram& latency(config::PushStrategy s) noexcept = 0;
    // A subscriber of a location with limits `l` started receiving (its on_subscribe, if
    // any, is told), or stopped (e.on_unsubscribe is told). Called by Presence only.
    virtual void subscriber_joined(const config::Limits& l, const PresenceEvent& e) noexcept = 0;
    virtual void subscriber_left(const PresenceEvent& e) noexcept = 0;
    // This worker's admitted subscribers (expiry and revocation, push/admission.hpp).
    virtual AdmissionRegistry& admissions() noexcept = 0;

protected:
    ~PushHost() = default;
};

} // namespace herald::push
