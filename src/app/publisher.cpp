// The publisher API (`publish;` locations): POST/PUT publish the body (to one channel, or to
// every channel of a list, all or none), GET describes the channel, DELETE closes it (stream
// subscribers end cleanly, held long-polls get 410), or with sub=/subscribers=all ends
// subscribers and keeps it (app/revoke.cpp).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "app/access.hpp"
#include "app/handlers.hpp"
#include "app/worker.hpp"
#include "core/log.hpp"
#include "http/session.hpp"
#include "push/broker_wait.hpp"
#include "push/encode.hpp"
#include "push/message.hpp"
#include "push/strategy.hpp"

namespace herald::app {
namespace {

std::string json_string(std::string_view s) {
    std::string out = "\"";
    push::append_json_escaped(out, s);
    out += '"';
    return out;
}

} // namespace

void respond_json(http::HttpSession& s, int status, std::string body) {
    http::ResponseHead head(status);
    head.header("Content-Type", "application/json").header("Cache-Control", "no-cache");
    s.add_cors(head);
    s.respond(std::move(head), std::move(body) + "\n");
}

namespace {

std::string iso_time(std::chrono::system_clock::time_point t) {
    if (t == std::chrono::system_clock::time_point{}) return "";
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
    const std::time_t secs = static_cast<std::time_t>(ms.count() / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[96];  // room for any int the compiler cannot bound (-Wformat-truncation)
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms.count() % 1000));
    return buf;
}

} // namespace

std::string channel_info_json(const push::ChannelInfo& i) {
    std::string j = "{\"channel\":" + json_string(i.name) + ",\"subscribers\":{";
    for (int k = 1; k <= 5; ++k) {
        j += std::string(k > 1 ? "," : "") + "\"" + to_string(static_cast<config::PushStrategy>(k)) +
             "\":" + std::to_string(i.subscribers[static_cast<std::size_t>(k)]);
    }
    j += "},\"total_subscribers\":" + std::to_string(i.total_subscribers);
    j += ",\"buffered\":" + std::to_string(i.buffered);
    j += ",\"first_id\":\"" + (i.first_id ? push::message_id(i.epoch, i.first_id) : "") + "\"";
    j += ",\"last_id\":\"" + (i.last_id ? push::message_id(i.epoch, i.last_id) : "") + "\"";
    j += ",\"published\":" + std::to_string(i.published);
    j += ",\"delivered\":" + std::to_string(i.delivered);
    j += ",\"dropped\":" + std::to_string(i.dropped);
    j += ",\"last_publish\":\"" + iso_time(i.last_publish) + "\"";
    char rate[32];
    std::snprintf(rate, sizeof rate, "%.3f", i.publish_rate);
    j += std::string(",\"publish_rate\":") + rate + "}";
    return j;
}

namespace {

// The X-Herald-Event of a publish: "" when absent, the name when valid; nullopt after a 400
// (one field, 1..64 bytes of [A-Za-z0-9_.:-], not a name herald uses itself).
// label: the channel or the list, for the log.
std::optional<std::string_view> event_name(http::HttpSession& s, std::string_view label) {
    const http::Request& req = s.request();
    const std::size_t fields = req.header_fields("X-Herald-Event");
    if (fields == 0) return std::string_view();
    const std::string_view name = req.header("X-Herald-Event");
    const char* why = nullptr;
    if (fields > 1) {
        why = "more than one X-Herald-Event field";
    } else {
        switch (push::check_event_name(name)) {
        case push::EventNameCheck::ok: return name;
        case push::EventNameCheck::invalid:
            why = "X-Herald-Event must be 1..64 bytes of A-Z a-z 0-9 _ . : -";
            break;
        case push::EventNameCheck::reserved:
            why = "X-Herald-Event names message, binary and herald-* are reserved";
            break;
        }
    }
    HERALD_INFO("publish to \"%s\" refused for %s: %s (event \"%s\"): 400",
                std::string(label).c_str(), s.client_host().c_str(), why,
                log::quoted(name).c_str());
    http::ResponseHead head(400);
    head.header("Content-Type", "text/plain; charset=utf-8").header("Cache-Control", "no-store");
    s.add_cors(head);
    s.respond(std::move(head), std::string(why) + "\n");
    return std::nullopt;
}

// The broker's store (Redis) is away: a 503 a program can read, with Retry-After. Other
// errors keep the status pages every route answers with.
void respond_publisher_error(http::HttpSession& s, std::string_view channel, push::PushError e) {
    if (e != push::PushError::unavailable) {
        push::respond_push_error(s, e);
        return;
    }
    http::ResponseHead head(503);
    head.header("Content-Type", "application/json").header("Cache-Control", "no-cache");
    head.header("Retry-After", "1");
    s.add_cors(head);
    s.respond(std::move(head), "{\"error\":\"broker unavailable\",\"channel\":" +
                                   json_string(channel) + "}\n");
}

void published(Worker&, http::HttpSession& s, push::Target& t, const push::PublishResult& r) {
    if (r.error != push::PushError::none) {
        respond_publisher_error(s, t.channel, r.error);
        return;
    }
    respond_json(s, 201,
                 "{\"id\":\"" + push::message_id(r.epoch, r.id) + "\",\"channel\":" +
                     json_string(t.channel) + ",\"subscribers\":" + std::to_string(r.subscribers) +
                     "}");
}

// The list as it was given ("a,b,c"), for the log and auth_request's X-Herald-Channel.
std::string joined(const std::vector<std::string>& channels) {
    std::string out;
    for (const std::string& c : channels) out.append(out.empty() ? "" : ",").append(c);
    return out;
}

// A publish to a channel list: 201 with each channel's id in list order, or the refusal of
// the channel that stopped it (nothing was stored), answered as a publish to that channel
// alone would be.
void published_many(Worker&, http::HttpSession& s, push::Target& t,
                    const push::MultiPublishResult& r) {
    if (r.error != push::PushError::none) {
        const std::string& refused = t.channels[std::min(r.refused, t.channels.size() - 1)];
        HERALD_INFO("publish to \"%s\" refused for %s: \"%s\": %s", joined(t.channels).c_str(),
                    s.client_host().c_str(), refused.c_str(), push::to_string(r.error));
        if (r.error == push::PushError::cross_slot) {
            push::respond_bad_request(s, "the channels \"" + t.channels.front() + "\" and \"" +
                                             refused +
                                             "\" lie in different Redis Cluster hash slots: "
                                             "a list is published atomically only within one");
            return;
        }
        respond_publisher_error(s, refused, r.error);
        return;
    }
    std::string body = "{\"ids\":[";
    for (std::size_t i = 0; i < r.results.size() && i < t.channels.size(); ++i) {
        const push::PublishResult& p = r.results[i];
        body += std::string(i ? "," : "") + "{\"id\":\"" + push::message_id(p.epoch, p.id) +
                "\",\"channel\":" + json_string(t.channels[i]) +
                ",\"subscribers\":" + std::to_string(p.subscribers) + "}";
    }
    respond_json(s, 201, body + "]}");
}

void described(Worker& w, http::HttpSession& s, push::Target& t, const push::InfoResult& r) {
    if (r.error != push::PushError::none) {
        respond_publisher_error(s, t.channel, r.error);
        return;
    }
    std::string info = channel_info_json(r.info);
    info.pop_back();  // the closing brace: the subscribers by token sub go in too
    respond_json(s, 200, info + ",\"by_sub\":" + subscribers_by_sub_json(w, t.channel) + "}");
}

void deleted(Worker&, http::HttpSession& s, push::Target& t, push::PushError e) {
    if (e != push::PushError::none) {
        respond_publisher_error(s, t.channel, e);
        return;
    }
    respond_json(s, 200, "{\"channel\":" + json_string(t.channel) + ",\"deleted\":true}");
}

// A publisher request that passed the access rules. The broker may answer later: the request
// waits for it (push/broker_wait.hpp).
void answer_publish(Worker& w, http::HttpSession& s, push::Target& t) {
    const http::Request& req = s.request();
    push::Broker& broker = w.broker();
    const push::WorkerId me = w.broker_worker();
    switch (req.method) {
    case http::Method::post:
    case http::Method::put: {
        const std::optional<std::string_view> event =
            event_name(s, t.channels.empty() ? t.channel : joined(t.channels));
        if (!event) return;
        std::string_view type = req.header("Content-Type");
        if (type.empty()) type = "text/plain";
        if (!t.channels.empty()) {
            push::await_broker<const push::MultiPublishResult&>(
                w, s, t,
                [&](push::MultiPublishDone done) {
                    return broker.publish_many_async(me, t.channels, s.body(), type, *event,
                                                     std::move(done));
                },
                &published_many);
            return;
        }
        push::await_broker<const push::PublishResult&>(
            w, s, t,
            [&](push::PublishDone done) {
                return broker.publish_async(me, t.channel, s.body(), type, *event,
                                            std::move(done));
            },
            &published);
        return;
    }
    case http::Method::get:
    case http::Method::head:
        push::await_broker<const push::InfoResult&>(
            w, s, t,
            [&](push::InfoDone done) {
                return broker.channel_info_async(me, t.channel, std::move(done));
            },
            &described);
        return;
    case http::Method::del:
        push::await_broker<push::PushError>(
            w, s, t,
            [&](push::CloseDone done) {
                return broker.close_channel_async(me, t.channel, std::move(done));
            },
            &deleted);
        return;
    default: {
        http::ResponseHead head(405);
        head.header("Allow", "GET, HEAD, POST, PUT, DELETE").header("Content-Type", "text/html");
        s.respond(std::move(head), http::error_page(405));
        return;
    }
    }
}

} // namespace

void serve_publish(Worker& w, http::HttpSession& s) {
    if (!check_cors(s)) return;  // an unlisted browser origin publishes nothing
    if (is_revocation(s.request())) {  // ends subscribers, keeps the channel
        serve_revoke(w, s);
        return;
    }
    push::Target t;
    if (!push::resolve_target(s, t)) return;
    if (t.channels.empty()) {
        if (!check_token(s, t, AccessFor::publish)) return;
        w.auth().admit(s, t.channel, "publish",
                       [&w, t](http::HttpSession& ss) mutable { answer_publish(w, ss, t); });
        return;
    }
    const http::Method m = s.request().method;
    if (m == http::Method::get || m == http::Method::head || m == http::Method::del) {
        push::respond_bad_request(s, "a channel list can only be published to (POST or PUT); "
                                     "GET and DELETE take one channel");
        return;
    }
    // The token's publish claim must cover every channel of the list; auth_request is asked
    // once, with the list as X-Herald-Channel.
    for (const std::string& c : t.channels) {
        push::Target one;
        one.channel = c;
        if (!check_token(s, one, AccessFor::publish)) return;
    }
    w.auth().admit(s, joined(t.channels), "publish",
                   [&w, t](http::HttpSession& ss) mutable { answer_publish(w, ss, t); });
}

} // namespace herald::app
