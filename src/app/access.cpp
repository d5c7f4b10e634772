// Signed-token access: token sources, the check, and the 401/403 answers.
#include "app/access.hpp"

#include <chrono>

#include "auth/jwt.hpp"
#include "core/ascii.hpp"
#include "core/log.hpp"
#include "http/session.hpp"
#include "http/target.hpp"
#include "push/admission.hpp"
#include "push/strategy.hpp"

namespace herald::app {
namespace {

// RFC 6750 §3: a request without credentials gets the challenge alone; a bad token
// invalid_token; a token without the channel insufficient_scope (with 403).
constexpr std::string_view challenge_missing = push::bearer_challenge;
constexpr std::string_view challenge_invalid = push::bearer_invalid_token;
constexpr std::string_view challenge_scope = push::bearer_insufficient_scope;

const char* name_of(AccessFor what) noexcept {
    switch (what) {
    case AccessFor::subscribe: return "subscribe";
    case AccessFor::publish: return "publish";
    case AccessFor::multiplex: return "multiplexed websocket";
    }
    return "access";
}

void refuse(http::HttpSession& s, const push::Target& t, AccessFor what, int status,
            std::string_view challenge, const char* why, std::string_view sub) {
    HERALD_INFO("%s of \"%s\" refused for %s: %s (sub \"%s\"): %d", name_of(what), t.channel.c_str(),
                s.client_host().c_str(), why, log::quoted(sub).c_str(), status);
    http::ResponseHead head(status);
    head.header("Content-Type", "text/html").header("WWW-Authenticate", challenge);
    head.header("Cache-Control", "no-store");
    s.add_cors(head);
    s.respond(std::move(head), http::error_page(status));
}

} // namespace

std::optional<std::string_view> cookie_value(std::string_view cookie_header,
                                             std::string_view name) noexcept {
    while (!cookie_header.empty()) {
        const std::size_t semi = cookie_header.find(';');
        const std::string_view pair = ascii::trim_ows(cookie_header.substr(0, semi));
        const std::size_t eq = pair.find('=');
        if (eq != std::string_view::npos && ascii::trim_ows(pair.substr(0, eq)) == name) {
            std::string_view v = ascii::trim_ows(pair.substr(eq + 1));
            if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
            return v;
        }
        if (semi == std::string_view::npos) break;
        cookie_header.remove_prefix(semi + 1);
    }
    return std::nullopt;
}

std::string find_token(std::string_view authorization, std::string_view query,
                       std::string_view cookie_header, std::string_view cookie_name) {
    const std::string_view auth = ascii::trim_ows(authorization);
    if (auth.size() > 7 && ascii::iequals(auth.substr(0, 7), "bearer ")) {
        const std::string_view token = ascii::trim_ows(auth.substr(7));
        if (!token.empty()) return std::string(token);
    }
    if (std::optional<std::string> token = http::query_arg(query, "token"); token && !token->empty())
        return std::move(*token);
    if (!cookie_name.empty())
        if (const auto token = cookie_value(cookie_header, cookie_name); token && !token->empty())
            return std::string(*token);
    return {};
}

bool check_token(http::HttpSession& s, push::Target& t, AccessFor what) {
    const config::JwtConf& conf = s.location().limits.jwt;
    if (conf.key.empty() || (what == AccessFor::publish && !conf.publish)) return true;
    const http::Request& req = s.request();
    const std::string token =
        find_token(req.header("Authorization"), req.query, req.header("Cookie"), conf.cookie);
    if (token.empty()) {
        refuse(s, t, what, 401, challenge_missing, "no token", {});
        return false;
    }
    const std::int64_t leeway =
        std::chrono::duration_cast<std::chrono::seconds>(conf.leeway).count();
    const std::optional<auth::JwtVerifier> verifier = auth::JwtVerifier::create(conf.key, leeway);
    const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    auth::JwtClaims claims;
    const auth::JwtError e = verifier ? verifier->verify(token, now, claims)
                                      : auth::JwtError::bad_signature;
    if (e != auth::JwtError::none) {
        // The signature was good when only the time is wrong: its sub can be trusted in the log.
        const bool signed_ok = e == auth::JwtError::expired || e == auth::JwtError::not_yet_valid;
        refuse(s, t, what, 401, challenge_invalid, auth::to_string(e),
               signed_ok ? std::string_view(claims.sub) : std::string_view());
        return false;
    }
    if (what == AccessFor::multiplex) {
        t.sub = claims.sub;
        t.expires_at = claims.exp ? *claims.exp + leeway : 0;
        HERALD_INFO("multiplexed websocket admitted for %s (sub \"%s\")",
                    s.client_host().c_str(), log::quoted(t.sub).c_str());
        t.claims = std::move(claims);
        return true;
    }
    const bool covered = what == AccessFor::subscribe ? claims.may_subscribe(t.channel)
                                                      : claims.may_publish(t.channel);
    if (!covered) {
        refuse(s, t, what, 403, challenge_scope, "channel not in token", claims.sub);
        return false;
    }
    t.sub = std::move(claims.sub);
    t.expires_at = claims.exp ? *claims.exp + leeway : 0;
    t.may_publish = !conf.publish || claims.may_publish(t.channel);
    HERALD_INFO("%s of \"%s\" admitted for %s (sub \"%s\")", name_of(what), t.channel.c_str(),
                s.client_host().c_str(), log::quoted(t.sub).c_str());
    return true;
}

} // namespace herald::app
