// Push request plumbing shared by the strategies: target resolution, errors, the missed signal.
#include "push/strategy.hpp"

#include <algorithm>

#include "http/session.hpp"
#include "push/broker_wait.hpp"
#include "config/values.hpp"
#include "http/target.hpp"
#include "push/cursor.hpp"
#include "push/encode.hpp"
#include "core/log.hpp"

namespace herald::push {

namespace {

// A channel list's format and per-channel resume points (see resolve_target).
bool resolve_list(http::HttpSession& s, Target& t, Resume native, std::string_view since) {
    for (std::size_t i = 0; i < t.channels.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (channel_hash(t.channels[i]) == channel_hash(t.channels[j])) {
                respond_bad_request(s, "channels \"" + t.channels[j] + "\" and \"" +
                                           t.channels[i] +
                                           "\" of the list have the same cursor hash");
                return false;
            }
    const config::PushStrategy kind = s.location().push;
    if (kind == config::PushStrategy::sse || kind == config::PushStrategy::iframe) {
        if (http::query_arg(s.request().query, "format") == "raw") {
            respond_bad_request(s, "a channel list needs format json (each message says its "
                                   "channel in the envelope)");
            return false;
        }
        t.format = config::PushFormat::json;
    }
    if (native.kind == ResumeKind::latest) {
        t.latest = true;
        t.list_since.assign(t.channels.size(), std::nullopt);
        return true;
    }
    std::string_view text = make_strategy(kind).native_cursor(s);
    if (text.empty()) text = since;
    resolve_list_resume(text, t.channels, t.list_since);
    return true;
}

} // namespace

bool resolve_target(http::HttpSession& s, Target& out, Resume native) {
    const config::LocationConf& loc = s.location();
    const http::Request& req = s.request();
    switch (loc.channel.kind) {
    case config::ChannelRef::Kind::literal: out.channel = loc.channel.value; break;
    case config::ChannelRef::Kind::query_arg:
        out.channel = http::query_arg(req.query, loc.channel.value).value_or("");
        break;
    case config::ChannelRef::Kind::tail: {
        std::string_view p = s.path();
        out.channel = std::string(p.substr(std::min(p.size(), loc.path.size())));
        break;
    }
    case config::ChannelRef::Kind::none: out.channel.clear(); break;
    }
    if (out.channel.find(',') != std::string::npos) {
        std::string why;
        if (!split_channel_list(out.channel, loc.limits.max_channels_per_connection,
                                out.channels, why)) {
            respond_bad_request(s, why);
            return false;
        }
        out.channel.clear();
    } else if (!config::is_valid_channel_name(out.channel)) {
        s.respond_error(400);
        return false;
    }
    out.format = loc.limits.push_format;
    if (auto f = http::query_arg(req.query, "format")) {
        if (*f == "json") out.format = config::PushFormat::json;
        else if (*f == "raw") out.format = config::PushFormat::raw;
        else {
            s.respond_error(400);
            return false;
        }
    }
    std::optional<std::string> since = http::query_arg(req.query, "since");
    if (!out.channels.empty() && !resolve_list(s, out, native, since ? *since : std::string()))
        return false;
    const Resume r = out.channels.empty()
                         ? pick_resume(native, parse_resume_id(since ? *since : std::string_view()))
                         : Resume{};
    switch (r.kind) {
    case ResumeKind::id: out.since = r.at; break;
    case ResumeKind::latest: out.latest = true; break;
    case ResumeKind::none: break;
    }
    if (auto last = http::query_arg(req.query, "last")) {
        out.last = parse_last(*last);
        if (out.last == 0) {
            s.respond_error(400);
            return false;
        }
    }
    return true;
}

bool split_channel_list(std::string_view list, std::uint32_t max, std::vector<std::string>& out,
                        std::string& why) {
    out.clear();
    for (;;) {
        const std::size_t comma = list.find(',');
        const std::string_view name = list.substr(0, comma);
        if (!config::is_valid_channel_name(name)) {
            why = name.empty() ? "a channel list has an empty entry"
                               : "a channel list entry is not a channel name (1-128 of A-Z a-z "
                                 "0-9 _ . : -, not \".\" or \"..\")";
            return false;
        }
        if (std::find(out.begin(), out.end(), name) != out.end()) {
            why = "a channel list names \"" + std::string(name) + "\" twice";
            return false;
        }
        if (out.size() == max) {
            why = "a channel list has more than " + std::to_string(max) +
                  " channels (max_channels_per_connection)";
            return false;
        }
        out.emplace_back(name);
        if (comma == std::string_view::npos) return true;
        list.remove_prefix(comma + 1);
    }
}

void respond_bad_request(http::HttpSession& s, std::string_view why) {
    HERALD_INFO("%s %s from %s: 400: %s", log::quoted(s.request().method_name).c_str(),
                log::quoted(s.request().target).c_str(), s.client_host().c_str(),
                std::string(why).c_str());
    http::ResponseHead head(400);
    head.header("Content-Type", "text/plain; charset=utf-8").header("Cache-Control", "no-store");
    s.add_cors(head);
    std::string body(why);
    body += '\n';
    s.respond(std::move(head), std::move(body));
}

namespace {

void apply_last(PushHost& h, http::HttpSession& s, Target& t, const InfoResult& r) {
    if (r.error == PushError::none && r.info.buffered != 0) {
        const std::uint64_t n = std::min<std::uint64_t>(t.last, r.info.buffered);
        t.since = Cursor{r.info.epoch, r.info.last_id - n, false};
    }
    make_strategy(s.location().push).serve(h, s, t);
}

// ?last=N on a channel list: each channel without a resume point starts before its newest N,
// looked up one channel after the other.
struct ListLast {
    Target t;
    std::size_t next = 0;  // the channel being looked up
};

void next_list_last(PushHost& h, http::HttpSession& s, ListLast& ctx);

void apply_list_last(PushHost& h, http::HttpSession& s, ListLast& ctx, const InfoResult& r) {
    if (r.error == PushError::none && r.info.buffered != 0) {
        const std::uint64_t n = std::min<std::uint64_t>(ctx.t.last, r.info.buffered);
        ctx.t.list_since[ctx.next] = Cursor{r.info.epoch, r.info.last_id - n, false};
    }
    ++ctx.next;
    next_list_last(h, s, ctx);
}

void next_list_last(PushHost& h, http::HttpSession& s, ListLast& ctx) {
    Target& t = ctx.t;
    while (ctx.next < t.channels.size() && t.list_since[ctx.next]) ++ctx.next;
    if (ctx.next == t.channels.size()) {
        make_strategy(s.location().push).serve(h, s, t);
        return;
    }
    const std::string& channel = t.channels[ctx.next];
    await_broker<const InfoResult&>(
        h, s, ctx,
        [&h, &channel](InfoDone done) {
            return h.broker().channel_info_async(h.broker_worker(), channel, std::move(done));
        },
        &apply_list_last);
}

} // namespace

void serve_target(PushHost& h, http::HttpSession& s, Target& t) {
    const Strategy& strategy = make_strategy(s.location().push);
    if (!t.channels.empty() && t.last != 0 && !t.latest) {
        ListLast ctx{t, 0};
        next_list_last(h, s, ctx);
        return;
    }
    if (t.last == 0 || t.since || t.latest || !t.channels.empty()) {
        strategy.serve(h, s, t);
        return;
    }
    await_broker<const InfoResult&>(
        h, s, t,
        [&h, &t](InfoDone done) {
            return h.broker().channel_info_async(h.broker_worker(), t.channel, std::move(done));
        },
        &apply_last);
}

void respond_push_error(http::HttpSession& s, PushError e) {
    switch (e) {
    case PushError::invalid_name:
    case PushError::cross_slot: s.respond_error(400); return;
    case PushError::too_many_subscribers:
    case PushError::too_many_channels: s.respond_error(503); return;
    case PushError::backlog:  // Retry-After: 1
    case PushError::unavailable: s.respond_error(503, false, 1); return;
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

const Strategy& make_strategy(config::PushStrategy s) {
    switch (s) {
    case config::PushStrategy::polling: return polling_strategy();
    case config::PushStrategy::long_polling: return long_polling_strategy();
    case config::PushStrategy::iframe: return iframe_strategy();
    case config::PushStrategy::sse: return sse_strategy();
    default: return websocket_strategy();
    }
}

void adopt_handed(PushHost& h, http::HttpSession& s, const net::LiveState& st) {
    const auto strategy = static_cast<config::PushStrategy>(st.strategy);
    Target t;
    std::string why;
    const bool list = st.channels.find(',') != std::string::npos;
    if (s.location().push != strategy || st.format > static_cast<std::uint8_t>(config::PushFormat::json) ||
        (list && !split_channel_list(st.channels, config::max_channels_per_connection_limit,
                                     t.channels, why))) {
        HERALD_INFO("upgrade: %s connection of %s for \"%s\" not taken: %s", config::to_string(strategy),
                    s.client_host().c_str(), log::quoted(st.channels).c_str(),
                    why.empty() ? "the location serves it otherwise now" : why.c_str());
        s.connection().close();
        return;
    }
    t.handed = st.kind != net::LiveState::Kind::held;  // a held request is served again
    t.format = static_cast<config::PushFormat>(st.format);
    t.sub = st.sub;
    t.expires_at = st.expires_at;
    t.may_publish = st.may_publish;
    t.callback = st.callback;
    if (st.has_claims) {
        auto lines = [](std::string_view text) {
            std::vector<std::string> v;
            for (std::size_t at = 0; at < text.size();) {
                std::size_t end = std::min(text.find('\n', at), text.size());
                v.emplace_back(text.substr(at, end - at));
                at = end + 1;
            }
            return v;
        };
        auth::JwtClaims c;
        c.sub = st.sub;
        if (st.expires_at != 0) c.exp = st.expires_at;
        c.channels = lines(st.claim_channels);
        c.publish = lines(st.claim_publish);
        t.claims = std::move(c);
    }
    if (list) {
        resolve_list_resume(st.position, t.channels, t.list_since);
    } else {
        t.channel = st.channels;
        if (const Resume r = parse_resume_id(st.position); r.kind == ResumeKind::id) t.since = r.at;
    }
    if (strategy == config::PushStrategy::websocket) adopt_websocket(h, s, t, st);
    else make_strategy(strategy).serve(h, s, t);
}

std::string channel_label(const Target& t) {
    if (t.channels.empty()) return t.channel;
    std::string l;
    for (const std::string& c : t.channels) l += (l.empty() ? "" : ",") + c;
    return l;
}

std::string position_text(std::uint64_t epoch, std::uint64_t seq) {
    return epoch == 0 ? std::string("0") : message_id(epoch, seq);
}

} // namespace herald::push
