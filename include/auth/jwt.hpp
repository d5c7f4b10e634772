// JSON Web Tokens signed with HMAC-SHA256 (RFC 7519, RFC 7515 compact serialization,
// RFC 7518 §3.2 "HS256"): verification and the claims herald reads. HS256 only: every other
// "alg" ("none", HS384/512, RS256, ...) is refused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/limits.hpp"

namespace herald::auth {

// Tokens longer than this are refused before any decoding or hashing.
inline constexpr std::size_t jwt_max_token_bytes = 8192;
// RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
inline constexpr std::size_t jwt_min_key_bytes = herald::hs256_min_key_bytes;
// At most this many names in `channels` and in `publish`.
inline constexpr std::size_t jwt_max_channel_patterns = 256;
// Default allowance, in seconds, for clocks that disagree when checking exp and nbf.
inline constexpr std::int64_t jwt_default_leeway_seconds = 30;

enum class JwtError : std::uint8_t {
    none,
    too_long,        // over jwt_max_token_bytes
    malformed,       // not three base64url parts separated by '.'
    bad_header,      // the header is not a JSON object with a string "alg", or has "crit"
    unsupported_alg, // "alg" is not "HS256"
    bad_signature,   // the signature is not the HMAC-SHA256 of header.payload with the key
    bad_claims,      // the payload is not a JSON object or a claim has the wrong type
    expired,         // now >= exp + leeway
    not_yet_valid,   // now + leeway < nbf
};

// For log lines: "expired", "bad signature", ...
const char* to_string(JwtError e) noexcept;

// A channel pattern from a token: an exact channel name, or a prefix followed by one '*' at
// the very end ("user-42", "news.*", "*"). A '*' anywhere else makes the token's claims bad.
bool channel_pattern_matches(std::string_view pattern, std::string_view channel) noexcept;

// The claims of a verified token. Owns its strings.
struct JwtClaims {
    std::optional<std::int64_t> exp; // seconds since the epoch
    std::optional<std::int64_t> nbf;
    std::string sub;
    std::vector<std::string> channels; // patterns this token may subscribe to
    std::vector<std::string> publish;  // patterns this token may publish to

    bool may_subscribe(std::string_view channel) const noexcept;
    bool may_publish(std::string_view channel) const noexcept;
};

// Verifies tokens with one secret key. Immutable after construction, so any thread may
// call verify() on a shared verifier.
class JwtVerifier {
public:
    // Fails (returns nullopt) for keys shorter than jwt_min_key_bytes: a config error.
    static std::optional<JwtVerifier> create(std::string key,
                                             std::int64_t leeway_seconds =
                                                 jwt_default_leeway_seconds);

    // Checks, in order: size, shape, header and alg, signature (constant-time compare),
    // claims, then exp and nbf against now (seconds since the epoch). On none, `claims` holds
    // the token's claims; otherwise it is unspecified.
    JwtError verify(std::string_view token, std::int64_t now, JwtClaims& claims) const;

private:
    JwtVerifier(std::string&& key, std::int64_t leeway_seconds) noexcept
        : key_(std::move(key)), leeway_(leeway_seconds) {}

    std::string key_;
    std::int64_t leeway_;
};

} // namespace herald::auth
