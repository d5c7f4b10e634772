// Compile-time caps shared across modules: the config loader refuses values above them and the
// code that sizes fixed arrays by them relies on that.
#pragma once

#include <cstddef>

namespace herald {

// Most header fields a request can carry: the upper bound of the max_headers directive and the
// size of http::Request's header array (the configured 431 limit may be lower).
inline constexpr std::size_t max_headers = 128;

// RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (the config loader
// refuses shorter `auth_jwt` keys; auth::JwtVerifier refuses them too).
inline constexpr std::size_t hs256_min_key_bytes = 32;
// An `auth_jwt "file:PATH"` key file larger than this is a config error.
inline constexpr std::size_t max_key_file_bytes = 4096;

} // namespace herald
