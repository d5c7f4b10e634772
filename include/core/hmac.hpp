// HMAC-SHA256 (RFC 2104, with SHA-256 from FIPS 180-4) and a constant-time comparison.
#pragma once

#include <string_view>

#include "core/sha256.hpp"

namespace herald {

// RFC 2104: H((K ^ opad) || H((K ^ ipad) || text)); a key longer than the block is hashed
// first, a shorter one is padded with zeros.
Sha256::Digest hmac_sha256(std::string_view key, std::string_view message) noexcept;

// True when a and b are equal. The time depends only on the lengths, never on where the
// first difference is (for comparing MACs an attacker controls).
bool equal_constant_time(std::string_view a, std::string_view b) noexcept;

} // namespace herald
