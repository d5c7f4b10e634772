// Hooks: on_subscribe / on_unsubscribe events, POSTed with retries and exponential backoff.
#include "app/hooks.hpp"

#include "core/log.hpp"
#include "push/encode.hpp"

namespace herald::app {
namespace {

void add_field(std::string& out, std::string_view name, std::string_view value) {
    out.append(out.size() > 1 ? ",\"" : "\"").append(name).append("\":\"");
    push::append_json_escaped(out, value);
    out.push_back('"');
}

} // namespace

std::string hook_event_json(std::string_view event, const push::PresenceEvent& e,
                            std::string_view node) {
    std::string j = "{";
    add_field(j, "event", event);
    add_field(j, "channel", e.channel);
    add_field(j, "strategy", config::to_string(e.strategy));
    add_field(j, "sub", e.sub);
    add_field(j, "addr", e.addr);
    add_field(j, "node", node);
    return j + "}";
}

void Hooks::post(const config::UpstreamUrl& url, std::string json) {
    if (events_.size() >= max_hook_queue) {
        stats_.dropped.fetch_add(1, std::memory_order_relaxed);
        if (!dropping_) // once per full spell, not once per event
            HERALD_WARN("on_subscribe/on_unsubscribe http://%s%s: %zu events in delivery, "
                        "dropping new ones",
                        url.authority.c_str(), url.path.c_str(), events_.size());
        dropping_ = true;
        return;
    }
    Event& e = events_.emplace_back();
    e.to.authority = url.authority;
    e.path = url.path;
    e.body = std::move(json);
    if (std::error_code ec = net::make_address(url.host, url.port, e.to.address)) {
        stats_.failed.fetch_add(1, std::memory_order_relaxed);
        events_.pop_back();
        return;
    }
    attempt(std::prev(events_.end()));
}

void Hooks::attempt(Iter it) {
    Event& e = *it;
    if (e.attempts++ > 0) stats_.retried.fetch_add(1, std::memory_order_relaxed);
    httpc::Request r;
    r.method = "POST";
    r.target = e.path;
    r.headers = "Content-Type: application/json\r\n";
    r.body = e.body;
    r.timeout = hook_timeout;
    std::error_code ec;
    e.call = client_.send(e.to, r,
                          [this, it](std::error_code err, const httpc::ResponseParser& resp) {
                              if (err) {
                                  attempt_failed(it, err.message().c_str());
                              } else if (resp.status() < 200 || resp.status() > 299) {
                                  attempt_failed(it, "not a 2xx answer");
                              } else {
                                  stats_.sent.fetch_add(1, std::memory_order_relaxed);
                                  finish(it);
                              }
                          },
                          ec);
    if (ec) attempt_failed(it, ec.message().c_str());
}

void Hooks::attempt_failed(Iter it, const char* why) {
    Event& e = *it;
    if (e.attempts < hook_attempts) {
        const Clock::duration delay = hook_first_retry * (1 << (2 * (e.attempts - 1)));
        e.retry = loop_.add_timer(delay, [this, it] { attempt(it); });
        return;
    }
    stats_.failed.fetch_add(1, std::memory_order_relaxed);
    HERALD_WARN("hook http://%s%s: %s after %d attempts, event dropped: %s",
                e.to.authority.c_str(), e.path.c_str(), why, e.attempts, e.body.c_str());
    finish(it);
}

// The event may be in use by the caller (its timer's or call's callback): erased after the
// current dispatch.
void Hooks::finish(Iter it) {
    loop_.defer([this, it] {
        events_.erase(it);
        dropping_ = false;
    });
}

} // namespace herald::app
