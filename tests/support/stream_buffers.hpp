// Test support for parsers that consume from, and write into, the caller's read buffer (the
// WebSocket FrameParser and Protocol unmask in place). Not feed.hpp: that one hands the parser a
// fresh copy of the original input on every call.
#pragma once

#include <criterion/criterion.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

namespace herald::test {

// The caller's read buffer, with its unconsumed bytes ending right before a PROT_NONE page so
// that any read past them faults. Appending moves the old bytes (as a growing buffer would).
class InPlaceBuffer {
public:
    explicit InPlaceBuffer(std::size_t capacity) {
        page_ = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
        cap_ = (capacity + page_ - 1) / page_ * page_ + page_;
        void* m = mmap(nullptr, cap_ + page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
        cr_assert(m != MAP_FAILED);
        base_ = static_cast<char*>(m);
        cr_assert_eq(mprotect(base_ + cap_, page_, PROT_NONE), 0);
    }
    ~InPlaceBuffer() { munmap(base_, cap_ + page_); }
    InPlaceBuffer(const InPlaceBuffer&) = delete;
    InPlaceBuffer& operator=(const InPlaceBuffer&) = delete;

    void append(std::string_view s) {
        cr_assert(len_ + s.size() <= cap_);
        char* end = base_ + cap_;
        std::memmove(end - len_ - s.size(), end - len_, len_);
        std::memcpy(end - s.size(), s.data(), s.size());
        len_ += s.size();
    }
    void consume(std::size_t n) {  // poisoned, so a parser reading behind its input sees junk
        std::memset(base_ + cap_ - len_, 0xA5, n);
        len_ -= n;
    }
    std::span<char> span() { return {base_ + cap_ - len_, len_}; }

private:
    char* base_ = nullptr;
    std::size_t page_ = 0, cap_ = 0, len_ = 0;
};

// A plain growing buffer, for per-byte feeding of large inputs (InPlaceBuffer is O(n) per append).
class StringBuffer {
public:
    explicit StringBuffer(std::size_t) {}
    void append(std::string_view s) { s_.append(s); }
    void consume(std::size_t n) { s_.erase(0, n); }
    std::span<char> span() { return {s_.data(), s_.size()}; }

private:
    std::string s_;
};

} // namespace herald::test
