// Buffer: a growable byte buffer with a consumed prefix (read side) and free tail (write side).
// Owns its storage. Views returned by data()/span() are valid until the next write, consume(),
// reserve() or release(): growing the buffer moves it.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>

namespace herald {

class Buffer {
public:
    Buffer() noexcept = default;
    Buffer(Buffer&&) noexcept = default;
    Buffer& operator=(Buffer&&) noexcept = default;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;

    std::size_t size() const noexcept { return end_ - begin_; }
    bool empty() const noexcept { return begin_ == end_; }
    std::size_t capacity() const noexcept { return cap_; }
    char* data() noexcept { return mem_.get() + begin_; }
    const char* data() const noexcept { return mem_.get() + begin_; }
    std::string_view view() const noexcept { return {data(), size()}; }
    std::span<char> span() noexcept { return {data(), size()}; }

    // Drops n bytes from the front. Resets to the start when it empties (no memmove).
    void consume(std::size_t n) noexcept {
        begin_ += n;
        if (begin_ >= end_) begin_ = end_ = 0;
    }
    // Ensures at least n writable bytes after the data; compacts or grows.
    void reserve(std::size_t n);
    // Writable tail (after reserve()); commit(k) marks k of them as data.
    char* tail() noexcept { return mem_.get() + end_; }
    std::size_t tail_room() const noexcept { return cap_ - end_; }
    void commit(std::size_t n) noexcept { end_ += n; }
    void append(std::string_view s) {
        reserve(s.size());
        if (!s.empty()) std::memcpy(tail(), s.data(), s.size());
        commit(s.size());
    }
    void clear() noexcept { begin_ = end_ = 0; }
    // Frees the storage (idle connections keep no read buffer). Requires empty().
    void release() noexcept {
        mem_.reset();
        cap_ = begin_ = end_ = 0;
    }

private:
    std::unique_ptr<char[]> mem_;
    std::size_t cap_ = 0, begin_ = 0, end_ = 0;
};

} // namespace herald
