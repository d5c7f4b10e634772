// PushHost: what the push strategies need from the worker thread that serves them. push
// declares it, app::Worker implements it (layers point down: push never includes app).
#pragma once

#include "config/config.hpp"
#include "core/histogram.hpp"
#include "push/channel.hpp"

namespace herald::push {

class AdmissionRegistry;
class Broker;

// Called on the worker's loop thread only; it outlives every subscriber it serves.
class PushHost {
public:
    virtual Broker& broker() noexcept = 0;
    // This worker's id at the broker (the one subscribe() and Subscription use).
    virtual WorkerId broker_worker() const noexcept = 0;
    // Live delivery latency of one strategy on this worker (OutputQueue::stamp_delivery).
    virtual Histogram& latency(config::PushStrategy s) noexcept = 0;
    // This worker's admitted subscribers (expiry and revocation, push/admission.hpp).
    virtual AdmissionRegistry& admissions() noexcept = 0;

protected:
    ~PushHost() = default;
};

} // namespace herald::push
