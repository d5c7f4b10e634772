// permessage-deflate byte counters for /status: what compression saved, in each direction.
// Counted per thread (each thread writes only its own slot, so counting costs two relaxed
// stores on the fan-out path) and summed when read.
#pragma once

#include <cstddef>
#include <cstdint>

namespace herald::ws {

struct DeflateTotals {
    std::uint64_t sent_messages = 0;    // compressed messages written (shared frames count once
                                        // per subscriber they were sent to)
    std::uint64_t sent_plain = 0;       // their payload bytes before compression
    std::uint64_t sent_compressed = 0;  // and after
    std::uint64_t received_messages = 0;    // compressed messages received and inflated
    std::uint64_t received_compressed = 0;  // their payload bytes on the wire
    std::uint64_t received_plain = 0;       // and inflated
};

// On the calling thread's slot.
void count_sent_deflated(std::size_t plain, std::size_t compressed) noexcept;
void count_received_deflated(std::size_t compressed, std::size_t plain) noexcept;

// Any thread: every thread's counts, including threads that have exited.
DeflateTotals deflate_totals();

} // namespace herald::ws
