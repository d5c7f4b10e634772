// Giving freed heap memory back to the operating system.
#include "core/memory.hpp"

// Under a sanitizer the heap is the sanitizer's allocator, not glibc's: glibc's malloc_trim()
// would walk arenas glibc never set up (seen: a SEGV in mtrim under ASan when two threads
// trimmed at once), and there is nothing of glibc's to give back or tune.
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define HERALD_GLIBC_MALLOC 1
#include <malloc.h>
#endif

namespace herald {

// glibc returns only the top of the main heap by itself (M_TRIM_THRESHOLD); pages freed in
// the middle of a heap, and in the per-thread arenas the worker threads allocate from, stay
// resident until malloc_trim() madvises them away. The one libc-specific line in herald.
void release_free_memory() noexcept {
#if defined(HERALD_GLIBC_MALLOC)
    ::malloc_trim(0);
#endif
}

// glibc raises its trim threshold to twice the size of the largest mmap()ed block freed so far
// (up to 64 MiB); from then on the free top of every per-thread heap up to that size stays
// resident, and malloc_trim() does not shrink a per-thread heap's top at all. 100,000
// collected channels left 24-38 MiB per worker arena that way. Fixed thresholds end the
// dynamic adjustment: blocks of 4 MiB and more are mmap()ed, and a heap top larger than
// 1 MiB is given back when freed into.
void tune_allocator() noexcept {
#if defined(HERALD_GLIBC_MALLOC)
    // Called once at startup, before any thread starts (core/memory.hpp).
    ::mallopt(M_MMAP_THRESHOLD, 4 << 20); // NOLINT(concurrency-mt-unsafe)
    ::mallopt(M_TRIM_THRESHOLD, 1 << 20); // NOLINT(concurrency-mt-unsafe)
#endif
}

bool TrimPolicy::should_release(std::size_t live) noexcept {
    if (live > peak_) {
        peak_ = live;
        return false;
    }
    const std::size_t drop = peak_ - live;
    const bool release = (drop >= min_drop_ && live <= peak_ / 2) || (live == 0 && drop >= min_drop_ / 4);
    if (release) peak_ = live;
    return release;
}

} // namespace herald
