// Test support: feed a parser its input whole, byte by byte, or split at one offset, with
// every piece copied to the very end of a readable mapping followed by a PROT_NONE guard page,
// so that reading one byte past the input crashes the test (model: picohttpparser test.c).
//
// Two calling conventions are supported (STYLE §6):
//  - FeedMode::accumulate: the parser gets every byte from the first one each time
//    (RequestParser, FrameParser); its result's `consumed` counts from the first byte.
//  - FeedMode::consume: the parser gets only the bytes after those it has consumed (the
//    ChunkedDecoder); the helpers keep the rest, and the returned `consumed` is the total.
// `step` is any callable taking a std::string_view and returning a result with `status`
// (an enum with need_more) and `consumed` members, e.g.
//     [&](std::string_view in) { return parser.feed(in); }
// Each call gets a fresh copy of its input at a new address, and the previous copy is
// overwritten with 0xA5 bytes, so a parser that keeps views across calls sees garbage.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cassert>
#include <cstddef>
#include <cstring>
#include <string_view>
#include <utility>

namespace herald::test {

// A readable region whose end touches a PROT_NONE page. Move-only owner of the mapping.
class GuardedBuffer {
public:
    explicit GuardedBuffer(std::size_t capacity = 65536) { map(capacity); }
    ~GuardedBuffer() { unmap(); }
    GuardedBuffer(const GuardedBuffer&) = delete;
    GuardedBuffer& operator=(const GuardedBuffer&) = delete;

    // Copies bytes so that the last one is the last readable byte; returns the copy, valid
    // until the next place(). Grows the mapping if needed.
    std::string_view place(std::string_view bytes) {
        if (bytes.size() > readable_) {
            unmap();
            map(bytes.size());
        }
        std::memset(base_ + readable_ - last_size_, 0xA5, last_size_);
        char* at = base_ + readable_ - bytes.size();
        if (!bytes.empty())
            std::memcpy(at, bytes.data(), bytes.size());
        last_size_ = bytes.size();
        return {at, bytes.size()};
    }

private:
    void map(std::size_t capacity) {
        const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
        readable_ = (capacity + page - 1) / page * page;
        if (readable_ == 0)
            readable_ = page;
        total_ = readable_ + page;
        void* p = mmap(nullptr, total_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        assert(p != MAP_FAILED);
        base_ = static_cast<char*>(p);
        int rc = mprotect(base_ + readable_, page, PROT_NONE);
        assert(rc == 0);
        (void)rc;
        last_size_ = 0;
    }
    void unmap() {
        if (base_ != nullptr)
            munmap(base_, total_);
        base_ = nullptr;
    }

    char* base_ = nullptr;
    std::size_t readable_ = 0;
    std::size_t total_ = 0;
    std::size_t last_size_ = 0;
};

enum class FeedMode { accumulate, consume };

// Feeds `input` in pieces ending at the offsets produced by next_cut(previous_cut) until it
// returns input.size(). Stops at the first result that is not need_more and returns it.
template <class Step, class NextCut>
auto feed_pieces(GuardedBuffer& g, std::string_view input, FeedMode mode, Step&& step,
                 NextCut&& next_cut) {
    using Result = decltype(step(input));
    Result r{};
    std::size_t used = 0; // consume mode: bytes consumed so far
    std::size_t cut = 0;
    bool first = true;
    while (first || cut < input.size()) {
        first = false;
        cut = next_cut(cut);
        if (mode == FeedMode::accumulate) {
            r = step(g.place(input.substr(0, cut)));
            if (r.status != decltype(r.status)::need_more)
                return r;
            continue;
        }
        // consume: call again while the parser makes progress on what it has.
        for (;;) {
            r = step(g.place(input.substr(used, cut - used)));
            used += r.consumed;
            if (r.status != decltype(r.status)::need_more) {
                r.consumed = used;
                return r;
            }
            if (r.consumed == 0 || used == cut)
                break;
        }
    }
    if (mode == FeedMode::consume)
        r.consumed = used;
    return r;
}

// The whole input in one call.
template <class Step>
auto feed_whole(GuardedBuffer& g, std::string_view input, FeedMode mode, Step&& step) {
    return feed_pieces(g, input, mode, std::forward<Step>(step),
                       [&](std::size_t) { return input.size(); });
}

// One more byte per call (an empty input gets one empty call).
template <class Step>
auto feed_bytewise(GuardedBuffer& g, std::string_view input, FeedMode mode, Step&& step) {
    return feed_pieces(g, input, mode, std::forward<Step>(step),
                       [&](std::size_t prev) { return input.empty() ? 0 : prev + 1; });
}

// Two calls: bytes [0, cut), then the rest (cut may be 0 or input.size()).
template <class Step>
auto feed_split(GuardedBuffer& g, std::string_view input, std::size_t cut, FeedMode mode,
                Step&& step) {
    bool first = true;
    return feed_pieces(g, input, mode, std::forward<Step>(step), [&](std::size_t) {
        std::size_t c = first ? cut : input.size();
        first = false;
        return c;
    });
}

} // namespace herald::test
