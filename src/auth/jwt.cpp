// herald: HS256 JWT verification (RFC 7519 §7.2, RFC 7515 §5.2, RFC 7518 §3.2).
#include "auth/jwt.hpp"

#include <utility>

#include "auth/json_reader.hpp"
#include "core/base64url.hpp"
#include "core/hmac.hpp"

namespace herald::auth {

namespace {

constexpr std::string_view hs256 = "HS256";

// RFC 7515 §4.1.11: a header with "crit" names extensions that must be understood; herald
// understands none, so such a token is refused. "alg" must be present and exactly "HS256".
JwtError check_header(std::string_view json) {
    JsonReader r(json);
    std::string name;
    std::string alg;
    bool have_alg = false;
    while (r.next_member(name)) {
        if (name == "alg") {
            if (have_alg || !r.read_string(alg))
                return JwtError::bad_header;
            have_alg = true;
        } else if (name == "crit" || !r.skip_value()) {
            return JwtError::bad_header;
        }
    }
    if (!r.ok() || !have_alg)
        return JwtError::bad_header;
    return alg == hs256 ? JwtError::none : JwtError::unsupported_alg;
}

// RFC 7519 §2 NumericDate. A fraction moves exp down and nbf up (the stricter side); an
// exponent is refused, as is a date that does not fit.
bool read_date(JsonReader& r, bool round_up, std::optional<std::int64_t>& out) {
    JsonNumber n;
    if (out.has_value() || !r.read_number(n) || n.exponent || n.too_long)
        return false;
    std::int64_t v = n.negative ? -n.integer : n.integer;
    if (n.fraction && round_up != n.negative)
        v += n.negative ? -1 : 1;
    out = v;
    return true;
}

bool valid_patterns(const std::vector<std::string>& patterns) {
    for (const std::string& p : patterns) {
        if (p.empty())
            return false;
        std::size_t star = p.find('*');
        if (star != std::string::npos && star != p.size() - 1)
            return false;
    }
    return true;
}

bool read_patterns(JsonReader& r, bool& seen, std::vector<std::string>& out) {
    if (seen)
        return false;
    seen = true;
    return r.read_string_array(out, jwt_max_channel_patterns) && valid_patterns(out);
}

// Duplicate claim names are refused (RFC 7519 §4 allows refusing them): otherwise two
// readers of the same token could see different claims.
JwtError read_claims(std::string_view json, JwtClaims& claims) {
    claims = JwtClaims{};
    JsonReader r(json);
    std::string name;
    bool have_sub = false, have_channels = false, have_publish = false;
    while (r.next_member(name)) {
        bool ok;
        if (name == "exp")
            ok = read_date(r, false, claims.exp);
        else if (name == "nbf")
            ok = read_date(r, true, claims.nbf);
        else if (name == "sub")
            ok = !std::exchange(have_sub, true) && r.read_string(claims.sub);
        else if (name == "channels")
            ok = read_patterns(r, have_channels, claims.channels);
        else if (name == "publish")
            ok = read_patterns(r, have_publish, claims.publish);
        else
            ok = r.skip_value();
        if (!ok)
            return JwtError::bad_claims;
    }
    return r.ok() ? JwtError::none : JwtError::bad_claims;
}

bool matches_any(const std::vector<std::string>& patterns, std::string_view channel) noexcept {
    for (const std::string& p : patterns)
        if (channel_pattern_matches(p, channel))
            return true;
    return false;
}

} // namespace

const char* to_string(JwtError e) noexcept {
    switch (e) {
    case JwtError::none: return "valid";
    case JwtError::too_long: return "token too long";
    case JwtError::malformed: return "malformed token";
    case JwtError::bad_header: return "bad header";
    case JwtError::unsupported_alg: return "unsupported alg";
    case JwtError::bad_signature: return "bad signature";
    case JwtError::bad_claims: return "bad claims";
    case JwtError::expired: return "expired";
    case JwtError::not_yet_valid: return "not yet valid";
    }
    return "unknown";
}

bool channel_pattern_matches(std::string_view pattern, std::string_view channel) noexcept {
    if (!pattern.empty() && pattern.back() == '*') {
        std::string_view prefix = pattern.substr(0, pattern.size() - 1);
        return prefix.find('*') == std::string_view::npos && channel.starts_with(prefix);
    }
    return pattern.find('*') == std::string_view::npos && pattern == channel;
}

bool JwtClaims::may_subscribe(std::string_view channel) const noexcept {
    return matches_any(channels, channel);
}

bool JwtClaims::may_publish(std::string_view channel) const noexcept {
    return matches_any(publish, channel);
}

std::optional<JwtVerifier> JwtVerifier::create(std::string key, std::int64_t leeway_seconds) {
    if (key.size() < jwt_min_key_bytes || leeway_seconds < 0)
        return std::nullopt;
    return JwtVerifier(std::move(key), leeway_seconds);
}

JwtError JwtVerifier::verify(std::string_view token, std::int64_t now, JwtClaims& claims) const {
    if (token.size() > jwt_max_token_bytes)
        return JwtError::too_long;
    // RFC 7515 §7.1: BASE64URL(header) '.' BASE64URL(payload) '.' BASE64URL(signature)
    const std::size_t dot1 = token.find('.');
    const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
        return JwtError::malformed;
    std::string header, payload, signature;
    if (dot1 == 0 || dot2 == dot1 + 1 || !base64url_decode(token.substr(0, dot1), header) ||
        !base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1), payload) ||
        !base64url_decode(token.substr(dot2 + 1), signature))
        return JwtError::malformed;
    if (JwtError e = check_header(header); e != JwtError::none)
        return e;
    const Sha256::Digest mac = hmac_sha256(key_, token.substr(0, dot2));
    if (!equal_constant_time(signature,
                             {reinterpret_cast<const char*>(mac.data()), mac.size()}))
        return JwtError::bad_signature;
    if (JwtError e = read_claims(payload, claims); e != JwtError::none)
        return e;
    // RFC 7519 §4.1.4: not accepted on or after exp; §4.1.5: not accepted before nbf.
    if (claims.exp && now >= *claims.exp + leeway_)
        return JwtError::expired;
    if (claims.nbf && now + leeway_ < *claims.nbf)
        return JwtError::not_yet_valid;
    return JwtError::none;
}

} // namespace herald::auth
