// Incremental UTF-8 validator for WebSocket text messages and close reasons (RFC 6455 §5.6, §8.1;
// well-formed byte sequences per RFC 3629 §4 / Unicode Table 3-7).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace herald::ws {

// A byte-class DFA fed in chunks that may split a code point anywhere (across reads and
// across message fragments). It rejects at the first byte that cannot start or continue a
// well-formed sequence, so overlongs (C0 80, E0 80 80, F0 80 80 80), surrogates (ED A0..BF)
// and code points above U+10FFFF (F4 90.., F5..FF) fail without waiting for the message end.
// Runs of ASCII are skipped 8 bytes at a time. Owns no memory; one byte of state.
class Utf8Validator {
public:
    // Validates the next chunk. Returns false once any byte so far was invalid (sticky until
    // reset()); true if every byte so far can still be part of valid UTF-8.
    bool feed(std::string_view chunk) noexcept;
    // True if the bytes so far are valid and do not end inside a sequence (message end).
    bool complete() const noexcept { return state_ == 0; }
    bool failed() const noexcept;
    void reset() noexcept { state_ = 0; }

private:
    std::uint8_t state_ = 0;
};

// Whole-string check (close reasons, tests).
bool valid_utf8(std::string_view s) noexcept;

} // namespace herald::ws
