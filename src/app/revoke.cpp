// Revocation on the publisher API (DELETE ...&sub=U / &subscribers=all) and the per-sub count
// of a channel's subscribers: both walk every worker's AdmissionRegistry (any thread may).
#include <string>
#include <utility>
#include <vector>

#include "app/access.hpp"
#include "app/handlers.hpp"
#include "app/worker.hpp"
#include "core/log.hpp"
#include "http/session.hpp"
#include "http/target.hpp"
#include "push/admission.hpp"
#include "push/encode.hpp"
#include "push/strategy.hpp"

namespace herald::app {

bool is_revocation(const http::Request& req) {
    return req.method == http::Method::del &&
           (http::query_arg(req.query, "sub") || http::query_arg(req.query, "subscribers"));
}

namespace {

// A revocation that passed the access rules: ends the subscribers on every worker.
void answer_revoke(const Worker& w, http::HttpSession& s, const push::RevokeFilter& f,
                   bool every_channel) {
    std::size_t ended = 0;
    for (Worker* each : w.all_workers()) ended += each->admissions().revoke(f);
    const std::string which = every_channel ? "every channel" : "\"" + f.channel + "\"";
    const std::string whose = f.any_sub ? "any sub" : "sub \"" + log::quoted(f.sub) + "\"";
    HERALD_NOTICE("revoked %zu subscribers of %s (%s) for %s", ended, which.c_str(), whose.c_str(),
                  s.client_host().c_str());
    respond_json(s, 200, "{\"ended\":" + std::to_string(ended) + "}");
}

} // namespace

void serve_revoke(Worker& w, http::HttpSession& s) {
    const http::Request& req = s.request();
    const config::LocationConf& loc = s.location();
    const std::optional<std::string> sub = http::query_arg(req.query, "sub");
    const std::optional<std::string> all = http::query_arg(req.query, "subscribers");
    // Every channel: the location names its channel by an argument the request leaves out.
    const bool every_channel = loc.channel.kind == config::ChannelRef::Kind::query_arg &&
                               !http::query_arg(req.query, loc.channel.value);
    if ((all && (*all != "all" || sub)) || (sub && sub->empty()) || (all && every_channel)) {
        s.respond_error(400);
        return;
    }
    push::Target t;
    if (!every_channel && !push::resolve_target(s, t)) return;
    // A list leaves t.channel empty, which a filter takes for every channel.
    if (!t.channels.empty()) {
        push::respond_bad_request(s, "a revocation takes one channel, not a channel list");
        return;
    }
    if (!check_token(s, t, AccessFor::publish)) return;
    push::RevokeFilter f{t.channel, sub.value_or(""), !sub};
    w.auth().admit(s, t.channel, "publish", [&w, f, every_channel](http::HttpSession& ss) {
        answer_revoke(w, ss, f, every_channel);
    });
}

std::string subscribers_by_sub_json(const Worker& w, std::string_view channel) {
    std::vector<std::pair<std::string, std::uint64_t>> by_sub;
    for (Worker* each : w.all_workers())
        each->admissions().count_by_sub(channel, by_sub, max_listed_subs);
    std::string j = "{";
    for (const auto& [name, n] : by_sub) {
        if (j.size() > 1) j += ',';
        j += '"';
        push::append_json_escaped(j, name);
        j += "\":" + std::to_string(n);
    }
    return j + "}";
}

} // namespace herald::app
