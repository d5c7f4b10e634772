// SHA-256 (FIPS 180-4 §6.2), incremental. Written here because OpenSSL is used only for
// SHA-1 (the WebSocket handshake, Redis script names).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace herald {

// One SHA-256 computation: update() any number of times, then final() once. Holds its state
// by value (108 bytes); no allocation. Not thread-safe; any thread may own one.
class Sha256 {
public:
    static constexpr std::size_t digest_size = 32;
    static constexpr std::size_t block_size = 64;
    using Digest = std::array<std::uint8_t, digest_size>;

    Sha256() noexcept { reset(); }
    void reset() noexcept;
    void update(std::string_view bytes) noexcept;
    // Pads, returns the digest and resets, so the object can hash again.
    Digest final() noexcept;

    static Digest hash(std::string_view bytes) noexcept;

private:
    void compress(const std::uint8_t* block) noexcept;

    std::array<std::uint32_t, 8> h_{};
    std::array<std::uint8_t, block_size> block_{};
    std::size_t block_used_ = 0;
    std::uint64_t total_bytes_ = 0;
};

} // namespace herald
