// auth_request: ask the application whether a request may go on, suspending it meanwhile.
#include "app/auth_request.hpp"

#include <algorithm>
#include <memory>

#include "core/log.hpp"
#include "http/session.hpp"

namespace herald::app {
namespace {

// The suspended request's Responder: owns the pending call, so a client that disconnects
// (cancel) or a graceful stop drops the answer before it can reach a dead session.
class AuthWait final : public http::Responder {
public:
    explicit AuthWait(http::HttpSession& s) : s_(s) {}
    httpc::Call call;

    void cancel() noexcept override { call.reset(); }
    void on_shutdown() noexcept override {
        call.reset();
        s_.resume([](http::HttpSession& s) { s.respond_error(503, true); });
    }

private:
    http::HttpSession& s_;
};

void add_header(std::string& out, std::string_view name, std::string_view value) {
    out.append(name).append(": ").append(value).append("\r\n");
}

// The headers sent to the application. Values that came from the client were validated by
// the request parser (field-vchar, no CR or LF), channel names by is_valid_channel_name.
std::string forwarded_headers(http::HttpSession& s, std::string_view channel,
                              std::string_view strategy) {
    const http::Request& req = s.request();
    std::string h;
    for (std::string_view name : {"Cookie", "Authorization", "Origin"})
        if (std::string_view v = req.header(name); !v.empty()) add_header(h, name, v);
    add_header(h, "X-Original-URI", req.target);
    add_header(h, "X-Original-Method", req.method_name);
    add_header(h, "X-Herald-Channel", channel);
    add_header(h, "X-Herald-Strategy", strategy);
    add_header(h, "X-Real-IP", s.client_host());
    return h;
}

} // namespace

bool AuthRequests::asks(const http::HttpSession& s) noexcept {
    return s.location().limits.auth_request.has_value();
}

void AuthRequests::ask(http::HttpSession& s, std::string_view channel, std::string_view strategy,
                       std::function<void(http::HttpSession&)> next) {
    const config::Limits& l = s.location().limits;
    const config::UpstreamUrl& url = *l.auth_request;
    const http::Request& req = s.request();
    std::string key;
    if (l.auth_request_cache.count() > 0) {
        key.append(url.authority).append(url.path).append("\n").append(req.header("Cookie"));
        key.append("\n").append(req.header("Authorization")).append("\n").append(channel);
        if (const AuthCache::Answer* a = cache_.find(key, loop_.now())) {
            stats_.cache_hits.fetch_add(1, std::memory_order_relaxed);
            decide(s, a->status, a->www_authenticate, next);
            return;
        }
    }
    httpc::Endpoint to;
    to.authority = url.authority;
    std::error_code ec = net::make_address(url.host, url.port, to.address);
    httpc::Request r;
    r.target = url.path;
    r.headers = forwarded_headers(s, channel, strategy);
    r.timeout = l.auth_request_timeout;
    auto wait = std::make_unique<AuthWait>(s);
    const Clock::duration ttl = l.auth_request_cache;
    auto on_answer = [this, &s, next = std::move(next), key = std::move(key), ttl,
                      where = url.authority + url.path](std::error_code e,
                                                        const httpc::ResponseParser& resp) {
        int status = 503;
        std::string www;
        if (e) {
            stats_.failed.fetch_add(1, std::memory_order_relaxed);
            if (e == httpc::ClientErrc::timeout)
                stats_.timeouts.fetch_add(1, std::memory_order_relaxed);
            HERALD_WARN("auth_request http://%s: %s, client %s: 503", where.c_str(),
                        e.message().c_str(), s.client_host().c_str());
            status = 0;
        } else {
            status = resp.status();
            www.assign(resp.header("WWW-Authenticate"));
            if (!key.empty() && ((status >= 200 && status < 300) || status == 401 || status == 403))
                cache_.remember(key, status, www, loop_.now(), ttl);
        }
        s.resume([&](http::HttpSession& ss) {
            if (status == 0) ss.respond_error(503);
            else decide(ss, status, www, next);
        });
    };
    if (!ec) wait->call = client_.send(to, r, std::move(on_answer), ec);
    if (ec) {
        stats_.failed.fetch_add(1, std::memory_order_relaxed);
        HERALD_WARN("auth_request http://%s%s: %s: 503", url.authority.c_str(), url.path.c_str(),
                    ec.message().c_str());
        s.respond_error(503);
        return;
    }
    stats_.sent.fetch_add(1, std::memory_order_relaxed);
    s.suspend(std::move(wait));
}

void AuthRequests::decide(http::HttpSession& s, int status, const std::string& www_authenticate,
                          const std::function<void(http::HttpSession&)>& next) {
    if (status >= 200 && status < 300) {
        stats_.admitted.fetch_add(1, std::memory_order_relaxed);
        next(s);
        return;
    }
    if (status != 401 && status != 403) {
        stats_.failed.fetch_add(1, std::memory_order_relaxed);
        HERALD_WARN("auth_request for \"%.*s\": the application answered %d: 503",
                    static_cast<int>(s.path().size()), s.path().data(), status);
        s.respond_error(503);
        return;
    }
    stats_.refused.fetch_add(1, std::memory_order_relaxed);
    HERALD_INFO("auth_request refused \"%.*s\" to %s: %d", static_cast<int>(s.path().size()),
                s.path().data(), s.client_host().c_str(), status);
    http::ResponseHead head(status);
    head.header("Content-Type", "text/html");
    if (status == 401 && !www_authenticate.empty())
        head.header("WWW-Authenticate", www_authenticate);
    s.add_cors(head);
    s.respond(std::move(head), http::error_page(status));
}

const AuthCache::Answer* AuthCache::find(const std::string& key, Clock::time_point now) const {
    auto it = answers_.find(key);
    return it != answers_.end() && it->second.until > now ? &it->second : nullptr;
}

void AuthCache::remember(std::string key, int status, const std::string& www_authenticate,
                         Clock::time_point now, Clock::duration ttl) {
    if (answers_.size() >= capacity_ && !answers_.contains(key)) {
        std::erase_if(answers_, [now](const auto& kv) { return kv.second.until <= now; });
        if (answers_.size() >= capacity_)
            answers_.erase(std::min_element(answers_.begin(), answers_.end(),
                                            [](const auto& a, const auto& b) {
                                                return a.second.seq < b.second.seq;
                                            }));
    }
    answers_[std::move(key)] = Answer{status, www_authenticate, now + ttl, ++seq_};
}

} // namespace herald::app
