// Push request plumbing and the dispatch from a location to its strategy.
#include "push/strategy.hpp"

#include "app/handlers.hpp"
#include "app/worker.hpp"
#include "core/log.hpp"
#include "http/origin.hpp"
#include "http/session.hpp"
#include "config/values.hpp"
#include "http/target.hpp"
#include "push/encode.hpp"

namespace herald::push {

bool resolve_target(http::HttpSession& s, Target& out, Resume native) {
    const Location& loc = s.location();
    const http::Request& req = s.request();
    switch (loc.channel.kind) {
    case ChannelRef::Kind::literal: out.channel = loc.channel.value; break;
    case ChannelRef::Kind::query_arg:
        out.channel = http::query_arg(req.query, loc.channel.value).value_or("");
        break;
    case ChannelRef::Kind::tail: {
        std::string_view p = s.path();
        out.channel = std::string(p.substr(std::min(p.size(), loc.path.size())));
        break;
    }
    case ChannelRef::Kind::none: out.channel.clear(); break;
    }
    if (!config::is_valid_channel_name(out.channel)) {
        s.respond_error(400);
        return false;
    }
    out.format = loc.limits.push_format;
    if (auto f = http::query_arg(req.query, "format")) {
        if (*f == "json") out.format = PushFormat::json;
        else if (*f == "raw") out.format = PushFormat::raw;
        else {
            s.respond_error(400);
            return false;
        }
    }
    std::optional<std::string> since = http::query_arg(req.query, "since");
    const Resume r = pick_resume(native, parse_resume_id(since ? *since : std::string_view()));
    switch (r.kind) {
    case ResumeKind::id: out.since = r.at; break;
    case ResumeKind::latest: out.latest = true; break;
    case ResumeKind::none: break;
    }
    return true;
}

void respond_push_error(http::HttpSession& s, PushError e) {
    switch (e) {
    case PushError::invalid_name: s.respond_error(400); return;
    case PushError::too_many_subscribers:
    case PushError::too_many_channels: s.respond_error(503); return;
    default: s.respond_error(404); return;
    }
}

std::string missed_json(const std::optional<Cursor>& since, const History& h) {
    std::string j = "{\"since\":\"";
    if (since && !since->foreign) {
        if (since->epoch == 0) append_decimal(j, since->seq);
        else append_message_id(j, since->epoch, since->seq);
    }
    j += "\",\"first\":\"";
    if (h.first_id) append_message_id(j, h.epoch, h.first_id);
    j += "\"}";
    return j;
}

const Strategy& make_strategy(PushStrategy s) {
    switch (s) {
    case PushStrategy::polling: return polling_strategy();
    case PushStrategy::long_polling: return long_polling_strategy();
    case PushStrategy::iframe: return iframe_strategy();
    case PushStrategy::sse: return sse_strategy();
    default: return websocket_strategy();
    }
}

} // namespace herald::push

namespace herald::app {

bool check_cors(http::HttpSession& s) {
    const Location& loc = s.location();
    const http::Request& req = s.request();
    if (!http::origin_allowed(req.header("Origin"), loc.allow_origin)) {
        HERALD_INFO("origin \"%.*s\" not in allow_origin of %s: 403",
                    static_cast<int>(req.header("Origin").size()), req.header("Origin").data(),
                    loc.path.c_str());
        s.respond_error(403);
        return false;
    }
    if (req.method == http::Method::options && loc.push != PushStrategy::websocket) {
        if (loc.allow_origin.empty()) {
            s.respond_error(405);
            return false;
        }
        http::ResponseHead head(204);
        s.add_cors(head);
        head.header("Access-Control-Allow-Methods",
                    loc.publish ? "GET, HEAD, POST, PUT, DELETE, OPTIONS" : "GET, HEAD, OPTIONS");
        head.header("Access-Control-Allow-Headers",
                    "Content-Type, Last-Event-ID, If-None-Match, Cache-Control");
        head.header("Access-Control-Max-Age", "600");
        s.respond(std::move(head), {});
        return false;
    }
    return true;
}

void serve_push(http::HttpSession& s) {
    if (!check_cors(s)) return;
    const push::Strategy& strategy = push::make_strategy(s.location().push);
    const http::Request& req = s.request();
    if (s.location().push != PushStrategy::websocket && req.method != http::Method::get &&
        req.method != http::Method::head) {
        s.respond_error(405);
        return;
    }
    push::Target t;
    if (s.location().echo) {  // the echo route has no channel
        strategy.serve(s, t);
        return;
    }
    if (!push::resolve_target(s, t, strategy.native_since(s))) return;
    strategy.serve(s, t);
}

} // namespace herald::app
