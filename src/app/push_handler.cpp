// The push handler: a push location's request, from the CORS check to its strategy.
#include "app/handlers.hpp"

#include "app/access.hpp"
#include "app/worker.hpp"
#include "core/log.hpp"
#include "http/origin.hpp"
#include "http/session.hpp"
#include "push/strategy.hpp"

namespace herald::app {

bool check_cors(http::HttpSession& s) {
    const config::LocationConf& loc = s.location();
    const http::Request& req = s.request();
    if (!http::origin_allowed(req.header("Origin"), loc.allow_origin)) {
        HERALD_INFO("origin \"%.*s\" not in allow_origin of %s: 403",
                    static_cast<int>(req.header("Origin").size()), req.header("Origin").data(),
                    loc.path.c_str());
        s.respond_error(403);
        return false;
    }
    if (req.method == http::Method::options && loc.push != config::PushStrategy::websocket) {
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

namespace {

// The auth_request of each channel of a list after the one before it admitted (next: the
// index to ask about), then the strategy.
void admit_list(Worker& w, http::HttpSession& s, const push::Target& t, std::size_t next) {
    if (next == t.channels.size()) {
        push::Target admitted = t;
        push::serve_target(w, s, admitted);
        return;
    }
    w.auth().admit(s, t.channels[next], config::to_string(s.location().push),
                   [&w, t, next](http::HttpSession& ss) { admit_list(w, ss, t, next + 1); });
}

// A channel list: every channel must be admitted (token, then auth_request); the first refusal
// answers the request.
void serve_list(Worker& w, http::HttpSession& s, push::Target t) {
    if (s.location().push == config::PushStrategy::websocket) {
        push::respond_bad_request(s, "a channel list on a websocket needs multiplex on");
        return;
    }
    for (const std::string& name : t.channels) {
        push::Target one = t;
        one.channel = name;
        if (!check_token(s, one, AccessFor::subscribe)) return;
        t.sub = std::move(one.sub);
        t.expires_at = one.expires_at;
    }
    admit_list(w, s, t, 0);
}

} // namespace

void serve_push(Worker& w, http::HttpSession& s) {
    if (!check_cors(s)) return;
    const push::Strategy& strategy = push::make_strategy(s.location().push);
    const http::Request& req = s.request();
    if (s.location().push != config::PushStrategy::websocket && req.method != http::Method::get &&
        req.method != http::Method::head) {
        s.respond_error(405);
        return;
    }
    push::Target t;
    if (s.location().echo) {  // the echo route has no channel
        strategy.serve(w, s, t);
        return;
    }
    if (s.location().multiplex) {  // channels are named later, by command, and checked then
        if (!check_token(s, t, AccessFor::multiplex)) return;
        w.auth().admit(s, {}, "websocket", [&w, t](http::HttpSession& ss) {
            push::Target admitted = t;
            push::make_strategy(config::PushStrategy::websocket).serve(w, ss, admitted);
        });
        return;
    }
    if (!push::resolve_target(s, t, strategy.native_since(s))) return;
    if (!t.channels.empty()) {
        serve_list(w, s, std::move(t));
        return;
    }
    if (!check_token(s, t, AccessFor::subscribe)) return;
    w.auth().admit(s, t.channel, config::to_string(s.location().push),
                   [&w, t](http::HttpSession& ss) {
                       push::Target admitted = t;
                       push::serve_target(w, ss, admitted);
                   });
}

} // namespace herald::app
