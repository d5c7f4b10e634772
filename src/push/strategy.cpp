// Push request plumbing and the dispatch from a location to its strategy.
#include "push/strategy.hpp"

#include <charconv>

#include "app/handlers.hpp"
#include "app/worker.hpp"
#include "http/session.hpp"
#include "http/target.hpp"
#include "push/encode.hpp"

namespace herald::push {
namespace {
bool parse_id(std::string_view s, std::uint64_t& v) {
    if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
    if (s.substr(0, 2) == "W/") return false;
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && p == s.data() + s.size();
}
} // namespace

bool resolve_target(http::HttpSession& s, Target& out, std::string_view native_since) {
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
    if (!is_valid_channel_name(out.channel)) {
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
    std::string_view text = since ? std::string_view(*since) : native_since;
    if (!text.empty()) {
        std::uint64_t id = 0;
        if (!parse_id(text, id)) {
            s.respond_error(400);
            return false;
        }
        out.since = id;
    }
    return true;
}

void respond_push_error(http::HttpSession& s, PushError e) {
    switch (e) {
    case PushError::invalid_name: s.respond_error(400); return;
    case PushError::too_many_subscribers: s.respond_error(503); return;
    default: s.respond_error(404); return;
    }
}

std::string missed_json(std::optional<std::uint64_t> since, std::uint64_t first_id) {
    std::string j = "{\"since\":\"";
    if (since) append_decimal(j, *since);
    j += "\",\"first\":\"";
    if (first_id) append_decimal(j, first_id);
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

// Cross-origin: a browser Origin not in allow_origin -> 403; OPTIONS preflight -> 204.
static bool check_cors(http::HttpSession& s) {
    const Location& loc = s.location();
    const http::Request& req = s.request();
    std::string_view origin = req.header("Origin");
    if (!loc.allow_origin.empty() && !origin.empty()) {
        bool ok = false;
        for (const std::string& o : loc.allow_origin) ok = ok || o == "*" || o == origin;
        if (!ok) {
            s.respond_error(403);
            return false;
        }
    }
    if (req.method == http::Method::options && loc.push != PushStrategy::websocket) {
        if (loc.allow_origin.empty()) {
            s.respond_error(405);
            return false;
        }
        http::ResponseHead head(204);
        s.add_cors(head);
        head.header("Access-Control-Allow-Methods",
                    loc.publish ? "GET, POST, PUT, DELETE, OPTIONS" : "GET, OPTIONS");
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
