// herald: HMAC-SHA256 per RFC 2104 §2.
#include "core/hmac.hpp"

#include <array>
#include <cstdint>

namespace herald {

Sha256::Digest hmac_sha256(std::string_view key, std::string_view message) noexcept {
    std::array<std::uint8_t, Sha256::block_size> k0{};
    if (key.size() > Sha256::block_size) {
        const Sha256::Digest kd = Sha256::hash(key);
        std::copy(kd.begin(), kd.end(), k0.begin());
    } else {
        for (std::size_t i = 0; i < key.size(); ++i)
            k0[i] = static_cast<std::uint8_t>(key[i]);
    }
    std::array<char, Sha256::block_size> pad{};
    for (std::size_t i = 0; i < pad.size(); ++i)
        pad[i] = static_cast<char>(k0[i] ^ 0x36);
    Sha256 inner;
    inner.update({pad.data(), pad.size()});
    inner.update(message);
    const Sha256::Digest inner_digest = inner.final();
    for (std::size_t i = 0; i < pad.size(); ++i)
        pad[i] = static_cast<char>(k0[i] ^ 0x5c);
    Sha256 outer;
    outer.update({pad.data(), pad.size()});
    outer.update({reinterpret_cast<const char*>(inner_digest.data()), inner_digest.size()});
    return outer.final();
}

bool equal_constant_time(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size())
        return false;
    unsigned diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
        diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
    return diff == 0;
}

} // namespace herald
