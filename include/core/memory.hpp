// Giving freed heap memory back to the operating system.
#pragma once

#include <cstddef>

namespace herald {

// Returns the free pages of every malloc arena to the kernel (glibc malloc_trim; elsewhere a
// no-op, where the allocator decides on its own). Costs a walk of the arenas' free lists, a
// few milliseconds after thousands of frees: call it when many objects were just released, not
// per object. Any thread.
void release_free_memory() noexcept;

// Fixes the allocator's trim and mmap thresholds (see memory.cpp) so memory freed in worker
// threads' heaps goes back to the kernel. Call once at startup, before any thread starts.
void tune_allocator() noexcept;

// When to call release_free_memory(): after the number of live objects of some kind (here,
// connections) fell to half of its peak since the last release, by at least `min_drop`, or to
// zero from at least `min_drop / 4`. One per owner thread; not thread-safe.
class TrimPolicy {
public:
    explicit TrimPolicy(std::size_t min_drop = 256) noexcept : min_drop_(min_drop) {}
    // Notes the current count; true when memory should be released now.
    bool should_release(std::size_t live) noexcept;

private:
    std::size_t min_drop_;
    std::size_t peak_ = 0;
};

} // namespace herald
